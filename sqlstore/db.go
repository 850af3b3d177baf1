// Package sqlstore implements every portal store on database/sql, with one set
// of queries for SQLite (modernc.org/sqlite, pure Go) and PostgreSQL (pgx).
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/clientportal/portal"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Dialects.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// DB is the portal's database. SQLite gets a single-connection writer pool
// (SQLite allows one writer; queuing in Go is cheaper than busy retries) and a
// separate reader pool; PostgreSQL uses one pool for both.
type DB struct {
	Dialect string
	rw      *sql.DB
	ro      *sql.DB
	// SQLite: writes is the group-commit queue (see group.go); stop ends
	// the writer and the checkpointer, which close their done channels.
	writes                    chan *groupWrite
	stop, stopped, writerDone chan struct{}
	closeOnce                 sync.Once
	// stopCheckpoints ends the checkpointer alone (StopCheckpoints).
	stopCheckpoints     chan struct{}
	stopCheckpointsOnce sync.Once
	// commits and checkpoints count SQLite's write commits and the
	// checkpoints that copied the log (each flushes to disk when
	// synchronous is full), for the metrics.
	commits, checkpoints atomic.Int64
}

// Flushes reports the SQLite commits and log checkpoints so far. With
// synchronous=full each commit flushes the log to disk and each
// checkpoint the database file; with normal only checkpoints flush.
func (db *DB) Flushes() (commits, checkpoints int64) {
	return db.commits.Load(), db.checkpoints.Load()
}

// Options tune how a database is opened.
type Options struct {
	// Synchronous is SQLite's flushing: SyncFull (the default) writes the
	// log to disk before a commit returns, so every change the portal
	// acknowledged survives a power cut; SyncNormal flushes only at
	// checkpoints, which survives a crash of the process but can lose
	// the last changes when the machine loses power.
	Synchronous string
}

// SQLite's synchronous settings the portal offers.
const (
	SyncFull   = "full"
	SyncNormal = "normal"
)

// Open opens the database named by dsn: "sqlite:PATH" or "postgres://…",
// with the default options. It does not migrate; call Migrate.
func Open(dsn string) (*DB, error) { return OpenWith(dsn, Options{}) }

// OpenWith opens the database named by dsn with opts.
func OpenWith(dsn string, opts Options) (*DB, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		return openSQLite(strings.TrimPrefix(dsn, "sqlite:"), opts)
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		db.SetMaxOpenConns(32)
		db.SetMaxIdleConns(32)
		return &DB{Dialect: Postgres, rw: db, ro: db}, nil
	}
	return nil, fmt.Errorf("unsupported database URL (want sqlite:PATH or postgres://…)")
}

func openSQLite(path string, opts Options) (*DB, error) {
	if path == "" {
		return nil, fmt.Errorf("sqlite: empty path")
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create database directory: %w", err)
		}
	}
	// Only the portal's user may read the database: create the file 0600
	// before SQLite does (it would use 0644), and SQLite gives the -wal
	// and -shm files the database file's mode. An existing file keeps its
	// mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create database file: %w", err)
	}
	f.Close()
	// WAL lets readers run beside the writer. synchronous=FULL flushes
	// the log at every commit (one flush per group of writes, see group.go)
	// so an acknowledged change survives a power cut; NORMAL only at
	// checkpoints.
	sync := "FULL"
	switch opts.Synchronous {
	case "", SyncFull:
	case SyncNormal:
		sync = "NORMAL"
	default:
		return nil, fmt.Errorf("sqlite: synchronous must be %s or %s, not %q", SyncFull, SyncNormal, opts.Synchronous)
	}
	// Savepoint journals (every write in a group commit has its savepoint)
	// stay in memory: in a temporary file they cost a write call for each
	// page a write first changed, a tenth of the CPU of a second step.
	// (Measured and left at SQLite's defaults: a memory map of the file and
	// a 16-32 MiB writer page cache each cost CPU here, 0.5 → 0.7-1.1 ms
	// per second step: faults on the map, and the bigger cache's upkeep,
	// while the pages a login touches are random leaves of tables of a
	// million rows that no cache of that size holds.)
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(" + sync + ")", "busy_timeout(10000)", "foreign_keys(1)", "temp_store(MEMORY)"} {
		q.Add("_pragma", p)
	}
	if sync == "FULL" {
		// Each commit's log writes in one call (walvfs.go).
		if err := registerWALVFS(); err != nil {
			return nil, err
		}
		q.Set("vfs", walVFSName)
	}
	base := "file:" + path + "?" + q.Encode()
	drv := &sqlite.Driver{}
	// The writer does not checkpoint at commit (SQLite's default every
	// 1,000 pages): copying the log into the database is done beside it,
	// so the one writer only ever appends to the log.
	rw := sql.OpenDB(&sqliteConnector{dsn: base + "&_txlock=immediate&_pragma=wal_autocheckpoint(0)", drv: drv})
	rw.SetMaxOpenConns(1)
	ro := sql.OpenDB(&sqliteConnector{dsn: base, drv: drv})
	ro.SetMaxOpenConns(8)
	ro.SetMaxIdleConns(8)
	db := &DB{Dialect: SQLite, rw: rw, ro: ro, writes: make(chan *groupWrite),
		stop: make(chan struct{}), stopped: make(chan struct{}), writerDone: make(chan struct{}), stopCheckpoints: make(chan struct{})}
	go db.checkpoint()
	go db.writer()
	return db, nil
}

// checkpoint copies the write-ahead log into the database file every
// second, without blocking the writer or readers (PASSIVE), and truncates
// the log once it is all copied so it does not grow on disk. The truncation
// holds up the writer while it copies what came since and flushes the
// database file. Copying that rest on the writer's connection instead, so
// that the log is reused from its start, made p99 worse and gained nothing
// measurable (docs/performance-log.md).
func (db *DB) checkpoint() {
	defer close(db.stopped)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-db.stop:
			return
		case <-db.stopCheckpoints:
			return
		case <-t.C:
		}
		var busy, logged, done int
		if err := db.ro.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logged, &done); err == nil && logged > 0 {
			db.checkpoints.Add(1)
			if logged == done {
				db.ro.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
			}
		}
	}
}

// StopCheckpoints copies the log into the database file one last time and
// ends this handle's checkpoints, for a process that keeps the database open
// beside the portal serving it (portal bench): its checkpointer would
// otherwise copy the log in the portal's place, and its TRUNCATE would hold
// up the portal's writer. The writer and readers go on.
func (db *DB) StopCheckpoints(ctx context.Context) error {
	if db.stopCheckpoints == nil {
		return nil // PostgreSQL
	}
	db.stopCheckpointsOnce.Do(func() { close(db.stopCheckpoints) })
	<-db.stopped
	_, err := db.ro.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

// Migrate applies the embedded migrations that have not run yet.
func (db *DB) Migrate(ctx context.Context) error {
	dialect := goose.DialectSQLite3
	if db.Dialect == Postgres {
		dialect = goose.DialectPostgres
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(dialect, db.rw, sub, goose.WithGoMigrations(clusteredMigration(db.Dialect), eventIDsMigration(db.Dialect), fillfactorMigration(db.Dialect)))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// Ping checks that the database answers (readiness).
func (db *DB) Ping(ctx context.Context) error {
	if err := db.rw.PingContext(ctx); err != nil {
		return err
	}
	var one int
	return db.ro.QueryRowContext(ctx, `SELECT 1`).Scan(&one)
}

// Close closes both pools.
func (db *DB) Close() error {
	if db.stop != nil {
		db.closeOnce.Do(func() {
			close(db.stop)
			<-db.stopped
			<-db.writerDone
		})
	}
	err := db.rw.Close()
	if db.ro != db.rw {
		err = errors.Join(err, db.ro.Close())
	}
	return err
}

// tx runs fn in a write transaction, committing when fn returns nil.
func (db *DB) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.rw.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	err = tx.Commit()
	if err == nil && db.Dialect == SQLite {
		db.commits.Add(1)
	}
	return err
}

// isUnique reports whether err is a unique-constraint violation.
func isUnique(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// notFound turns sql.ErrNoRows into portal.ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return portal.ErrNotFound
	}
	return err
}

// bool2int stores a flag as 0 or 1.
func bool2int(b bool) int {
	if b {
		return 1
	}
	return 0
}

// execer is a pool or a transaction, for helpers that run in either.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// scanner is a row or rows.
type scanner interface{ Scan(dest ...any) error }

// queryAll runs a query on the reader pool and scans every row with scan.
func queryAll[T any](ctx context.Context, db *DB, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.ro.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// BackupTo writes a consistent copy of a SQLite database to a new file,
// while others keep reading and writing (VACUUM INTO).
func (db *DB) BackupTo(ctx context.Context, file string) error {
	if db.Dialect != SQLite {
		return errors.New("only SQLite databases are backed up this way")
	}
	// The copy holds what the database does: only the portal's user may
	// read it, as the database itself (SQLite would create it 0644).
	// VACUUM INTO writes into an empty file that exists.
	f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	f.Close()
	if _, err := db.rw.ExecContext(ctx, `VACUUM INTO $1`, file); err != nil {
		os.Remove(file)
		return err
	}
	return os.Chmod(file, 0o600)
}
