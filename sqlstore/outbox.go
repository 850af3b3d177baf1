package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/clientportal/portal"
)

var _ portal.OutboxStore = (*DB)(nil)

// Enqueue stores a message for delivery.
func (db *DB) Enqueue(ctx context.Context, m *portal.OutboxMessage) error {
	return enqueue(ctx, db.rw, m)
}

func enqueue(ctx context.Context, q execer, m *portal.OutboxMessage) error {
	if m.ID == "" {
		m.ID = portal.NewID()
	}
	_, err := q.ExecContext(ctx, `INSERT INTO outbox (id, to_addr, subject, body_text, body_html, sealed, attempts, created_at, next_at)
		VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8)`, m.ID, m.To, m.Subject, m.Text, m.HTML, bool2int(m.Sealed), m.CreatedAt, m.NextAt)
	return err
}

// ClaimOutbox leases due messages to one worker. The lease conditions are
// repeated on the outer UPDATE so that on PostgreSQL a concurrent claim
// re-checks them after waiting for the row lock and skips what another
// worker just took.
func (db *DB) ClaimOutbox(ctx context.Context, worker string, n int, now, leaseUntil int64) ([]*portal.OutboxMessage, error) {
	var out []*portal.OutboxMessage
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE outbox SET locked_by = $1, locked_until = $2
			WHERE sent_at = 0 AND next_at <= $3 AND locked_until <= $3
			AND id IN (SELECT id FROM outbox WHERE sent_at = 0 AND next_at <= $3 AND locked_until <= $3 ORDER BY created_at, id LIMIT $4)`,
			worker, leaseUntil, now, n); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+outboxColumns+`
			FROM outbox WHERE locked_by = $1 AND locked_until = $2 AND sent_at = 0 ORDER BY created_at, id`, worker, leaseUntil)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			m, err := scanOutbox(rows)
			if err != nil {
				return err
			}
			out = append(out, m)
		}
		return rows.Err()
	})
	return out, err
}

const outboxColumns = `id, to_addr, subject, body_text, body_html, sealed, attempts, created_at, next_at`

func scanOutbox(row scanner) (*portal.OutboxMessage, error) {
	var m portal.OutboxMessage
	var sealed int
	err := row.Scan(&m.ID, &m.To, &m.Subject, &m.Text, &m.HTML, &sealed, &m.Attempts, &m.CreatedAt, &m.NextAt)
	m.Sealed = sealed == 1
	return &m, err
}

// MarkSent records a delivery and blanks the bodies: a copy of the
// database taken later holds no link, not even sealed.
func (db *DB) MarkSent(ctx context.Context, id, worker string, at int64) error {
	_, err := db.rw.ExecContext(ctx, `UPDATE outbox SET sent_at = $1, locked_until = 0, last_error = '', body_text = '', body_html = ''
		WHERE id = $2 AND locked_by = $3`, at, id, worker)
	return err
}

// PurgeOutbox deletes the rows of messages delivered before sentBefore.
func (db *DB) PurgeOutbox(ctx context.Context, sentBefore int64) (int, error) {
	n, err := db.deleteInBatches(ctx, `DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE sent_at > 0 AND sent_at < $1 LIMIT 500)`, sentBefore)
	return int(n), err
}

// PendingSealed lists the undelivered messages with sealed bodies, for
// `portal keys rotate`.
func (db *DB) PendingSealed(ctx context.Context) ([]*portal.OutboxMessage, error) {
	return queryAll(ctx, db, scanOutbox, `SELECT `+outboxColumns+` FROM outbox WHERE sent_at = 0 AND sealed = 1 ORDER BY created_at, id`)
}

// ResealOutbox replaces a pending message's sealed bodies, only if they
// have not changed and it was not delivered meanwhile.
func (db *DB) ResealOutbox(ctx context.Context, id, oldText, text, html string) error {
	err := db.exec1(ctx, `UPDATE outbox SET body_text = $1, body_html = $2 WHERE id = $3 AND body_text = $4 AND sent_at = 0`, text, html, id, oldText)
	if errors.Is(err, portal.ErrNotFound) {
		return portal.Errorf(portal.ECONFLICT, "outbox message %s was sent or changed during rotation", id)
	}
	return err
}

// RenewOutbox extends a lease the worker still holds.
func (db *DB) RenewOutbox(ctx context.Context, id, worker string, now, until int64) (bool, error) {
	err := db.exec1(ctx, `UPDATE outbox SET locked_until = $1 WHERE id = $2 AND locked_by = $3 AND locked_until > $4 AND sent_at = 0`, until, id, worker, now)
	if errors.Is(err, portal.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// ReleaseOutbox ends the worker's leases of messages it did not try.
func (db *DB) ReleaseOutbox(ctx context.Context, worker string, ids []string) error {
	for _, id := range ids {
		if _, err := db.rw.ExecContext(ctx, `UPDATE outbox SET locked_until = 0 WHERE id = $1 AND locked_by = $2 AND sent_at = 0`, id, worker); err != nil {
			return err
		}
	}
	return nil
}

// MarkFailed schedules a retry.
func (db *DB) MarkFailed(ctx context.Context, id, worker, errText string, next int64) error {
	_, err := db.rw.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1, next_at = $1, locked_until = 0, last_error = $2 WHERE id = $3 AND locked_by = $4`,
		next, portal.CleanText(errText, 500), id, worker) // a mail server's words, cut on a character
	return err
}

// OutboxPending counts undelivered messages.
func (db *DB) OutboxPending(ctx context.Context) (int, error) {
	var n int
	err := db.ro.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox WHERE sent_at = 0`).Scan(&n)
	return n, err
}
