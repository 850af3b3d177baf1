package sqlstore

import (
	"context"
	"database/sql"

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
	_, err := q.ExecContext(ctx, `INSERT INTO outbox (id, to_addr, subject, body_text, body_html, attempts, created_at, next_at)
		VALUES ($1, $2, $3, $4, $5, 0, $6, $7)`, m.ID, m.To, m.Subject, m.Text, m.HTML, m.CreatedAt, m.NextAt)
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
		rows, err := tx.QueryContext(ctx, `SELECT id, to_addr, subject, body_text, body_html, attempts, created_at, next_at
			FROM outbox WHERE locked_by = $1 AND locked_until = $2 AND sent_at = 0 ORDER BY created_at, id`, worker, leaseUntil)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var m portal.OutboxMessage
			if err := rows.Scan(&m.ID, &m.To, &m.Subject, &m.Text, &m.HTML, &m.Attempts, &m.CreatedAt, &m.NextAt); err != nil {
				return err
			}
			out = append(out, &m)
		}
		return rows.Err()
	})
	return out, err
}

// MarkSent records a delivery.
func (db *DB) MarkSent(ctx context.Context, id, worker string, at int64) error {
	_, err := db.rw.ExecContext(ctx, `UPDATE outbox SET sent_at = $1, locked_until = 0, last_error = '' WHERE id = $2 AND locked_by = $3`, at, id, worker)
	return err
}

// MarkFailed schedules a retry.
func (db *DB) MarkFailed(ctx context.Context, id, worker, errText string, next int64) error {
	_, err := db.rw.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1, next_at = $1, locked_until = 0, last_error = $2 WHERE id = $3 AND locked_by = $4`,
		next, truncate(errText, 500), id, worker)
	return err
}

// OutboxPending counts undelivered messages.
func (db *DB) OutboxPending(ctx context.Context) (int, error) {
	var n int
	err := db.ro.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox WHERE sent_at = 0`).Scan(&n)
	return n, err
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
