package sqlstore

import (
	"context"
	sqldriver "database/sql/driver"
	"strings"

	"modernc.org/sqlite"
)

// sqliteConnector opens SQLite connections that keep their statements
// prepared. Parsing and planning a statement costs SQLite more than running
// most of ours, and the hot paths run the same few dozen statements
// thousands of times a second. (pgx caches prepared statements per
// connection itself.) Caching at the connection, below database/sql, works
// the same in and out of transactions.
type sqliteConnector struct {
	dsn string
	drv *sqlite.Driver
}

// Connect implements sqldriver.Connector.
func (c *sqliteConnector) Connect(context.Context) (sqldriver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return &cachedConn{inner: conn, stmts: map[string]sqldriver.Stmt{}, busy: map[string]bool{}}, nil
}

// Driver implements sqldriver.Connector.
func (c *sqliteConnector) Driver() sqldriver.Driver { return c.drv }

// maxStmts bounds a connection's cache; the portal has a few hundred
// distinct statements, so more would mean queries built with literals.
const maxStmts = 1000

// cachedConn is a SQLite connection with a prepared-statement cache. Like
// every sqldriver.Conn it is used by one goroutine at a time; busy marks a
// statement whose rows are still open, so a nested use of the same query
// runs unprepared instead of resetting it.
type cachedConn struct {
	inner sqldriver.Conn
	stmts map[string]sqldriver.Stmt
	busy  map[string]bool
}

var (
	_ sqldriver.ExecerContext      = (*cachedConn)(nil)
	_ sqldriver.QueryerContext     = (*cachedConn)(nil)
	_ sqldriver.ConnBeginTx        = (*cachedConn)(nil)
	_ sqldriver.ConnPrepareContext = (*cachedConn)(nil)
	_ sqldriver.Pinger             = (*cachedConn)(nil)
	_ sqldriver.SessionResetter    = (*cachedConn)(nil)
	_ sqldriver.Validator          = (*cachedConn)(nil)
)

// stmt returns q prepared on this connection, or nil to run it unprepared:
// long statements (bulk inserts with literal values), several statements
// in one string (migrations) and a full cache are not kept.
func (c *cachedConn) stmt(ctx context.Context, q string) (sqldriver.Stmt, error) {
	if st, ok := c.stmts[q]; ok {
		if c.busy[q] {
			return nil, nil
		}
		return st, nil
	}
	if len(q) > 4096 || strings.Contains(strings.TrimRight(q, " \t\n;"), ";") || len(c.stmts) >= maxStmts {
		return nil, nil
	}
	st, err := c.inner.(sqldriver.ConnPrepareContext).PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	c.stmts[q] = st
	return st, nil
}

// ExecContext implements sqldriver.ExecerContext.
func (c *cachedConn) ExecContext(ctx context.Context, q string, args []sqldriver.NamedValue) (sqldriver.Result, error) {
	st, err := c.stmt(ctx, q)
	if err != nil {
		return nil, err
	} else if st == nil {
		return c.inner.(sqldriver.ExecerContext).ExecContext(ctx, q, args)
	}
	return st.(sqldriver.StmtExecContext).ExecContext(ctx, args)
}

// QueryContext implements sqldriver.QueryerContext.
func (c *cachedConn) QueryContext(ctx context.Context, q string, args []sqldriver.NamedValue) (sqldriver.Rows, error) {
	st, err := c.stmt(ctx, q)
	if err != nil {
		return nil, err
	} else if st == nil {
		return c.inner.(sqldriver.QueryerContext).QueryContext(ctx, q, args)
	}
	rows, err := st.(sqldriver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	c.busy[q] = true
	return &cachedRows{Rows: rows, done: func() { delete(c.busy, q) }}, nil
}

// PrepareContext implements sqldriver.ConnPrepareContext (explicit Prepare
// calls get their own statement, closed by their caller).
func (c *cachedConn) PrepareContext(ctx context.Context, q string) (sqldriver.Stmt, error) {
	return c.inner.(sqldriver.ConnPrepareContext).PrepareContext(ctx, q)
}

// Prepare implements sqldriver.Conn.
func (c *cachedConn) Prepare(q string) (sqldriver.Stmt, error) { return c.inner.Prepare(q) }

// Begin implements sqldriver.Conn.
func (c *cachedConn) Begin() (sqldriver.Tx, error) {
	return c.BeginTx(context.Background(), sqldriver.TxOptions{})
}

// BeginTx implements sqldriver.ConnBeginTx.
func (c *cachedConn) BeginTx(ctx context.Context, opts sqldriver.TxOptions) (sqldriver.Tx, error) {
	return c.inner.(sqldriver.ConnBeginTx).BeginTx(ctx, opts)
}

// Ping implements sqldriver.Pinger.
func (c *cachedConn) Ping(ctx context.Context) error { return c.inner.(sqldriver.Pinger).Ping(ctx) }

// ResetSession implements sqldriver.SessionResetter.
func (c *cachedConn) ResetSession(ctx context.Context) error {
	return c.inner.(sqldriver.SessionResetter).ResetSession(ctx)
}

// IsValid implements sqldriver.Validator.
func (c *cachedConn) IsValid() bool { return c.inner.(sqldriver.Validator).IsValid() }

// Close finalizes the cached statements and closes the connection.
func (c *cachedConn) Close() error {
	for q, st := range c.stmts {
		st.Close()
		delete(c.stmts, q)
	}
	return c.inner.Close()
}

// cachedRows frees its statement for reuse when closed (the driver resets
// a prepared statement's rows on Close rather than finalizing it).
type cachedRows struct {
	sqldriver.Rows
	done func()
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	if r.done != nil {
		r.done()
		r.done = nil
	}
	return err
}
