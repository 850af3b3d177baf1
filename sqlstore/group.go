package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

var errClosed = errors.New("database is closed")

// Group commit for SQLite's hot writes. SQLite has one writer, and most of
// a small transaction's cost is its commit: every page it changed goes to
// the log, and the pages every login touches (the newest events, the IP's
// counter) are the same for all of them. The writes of a login (taking
// attempts, consuming a TOTP step, the login step) are therefore queued to
// one goroutine that runs whatever is waiting in one transaction, each
// caller's work under its own savepoint, and answers every caller after the
// commit. A caller learns of success only once its work is durable, and a
// failure rolls back that caller's work alone. PostgreSQL, with real
// concurrent writers, runs each in its own transaction.

// groupMax bounds a batch, so one commit's latency stays small.
const groupMax = 64

// groupWrite is one caller's work.
type groupWrite struct {
	ctx  context.Context
	fn   func(ctx context.Context, tx *sql.Tx) error
	done chan error
}

// group runs fn in a write transaction, batched with others on SQLite. fn
// gets a context without cancellation: a request that goes away must not
// interrupt a transaction that holds other requests' work.
func (db *DB) group(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if db.writes == nil {
		return db.tx(ctx, func(tx *sql.Tx) error { return fn(ctx, tx) })
	}
	w := &groupWrite{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case db.writes <- w:
	case <-ctx.Done():
		return ctx.Err()
	case <-db.stop:
		return errClosed
	}
	return <-w.done
}

// writer runs the queued writes until stop is closed.
func (db *DB) writer() {
	defer close(db.writerDone)
	batch := make([]*groupWrite, 0, groupMax)
	for {
		select {
		case w := <-db.writes:
			batch = append(batch[:0], w)
		case <-db.stop:
			return
		}
	gather:
		for len(batch) < groupMax {
			select {
			case w := <-db.writes:
				batch = append(batch, w)
			default:
				break gather
			}
		}
		db.commitGroup(batch)
	}
}

// commitGroup runs a batch in one transaction and answers each caller.
func (db *DB) commitGroup(batch []*groupWrite) {
	ctx := context.Background()
	errs := make([]error, len(batch))
	tx, err := db.rw.BeginTx(ctx, nil)
	if err != nil {
		for _, w := range batch {
			w.done <- err
		}
		return
	}
	ok := 0
	for i, w := range batch {
		if errs[i] = w.ctx.Err(); errs[i] != nil {
			continue // the caller is gone: nothing of theirs is written
		}
		if _, err := tx.ExecContext(ctx, `SAVEPOINT w`); err != nil {
			errs[i] = err
			continue
		}
		if errs[i] = runWrite(w, tx); errs[i] != nil {
			tx.ExecContext(ctx, `ROLLBACK TO w`)
		} else {
			ok++
		}
		tx.ExecContext(ctx, `RELEASE w`)
	}
	if ok == 0 {
		err = tx.Rollback()
	} else {
		err = tx.Commit()
		db.commits.Add(1)
	}
	for i, w := range batch {
		if errs[i] == nil {
			errs[i] = err
		}
		w.done <- errs[i]
	}
}

// runWrite runs one caller's work; a panic in it fails that caller alone
// (as net/http would recover a handler's), not the writer and the process.
func runWrite(w *groupWrite, tx *sql.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("write panicked: %v", p)
		}
	}()
	return w.fn(context.WithoutCancel(w.ctx), tx)
}
