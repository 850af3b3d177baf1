package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"math/rand/v2"
	"strings"

	"github.com/clientportal/portal"
)

// CreateWebhook stores an endpoint.
func (db *DB) CreateWebhook(ctx context.Context, e *portal.WebhookEndpoint) error {
	_, err := db.rw.ExecContext(ctx, `INSERT INTO webhook_endpoints (id, url, secret, types, start_after, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		e.ID, e.URL, e.Secret, strings.Join(e.Types, " "), e.Start, e.CreatedAt)
	return err
}

// Webhooks lists the endpoints, oldest first.
func (db *DB) Webhooks(ctx context.Context) ([]*portal.WebhookEndpoint, error) {
	return queryAll(ctx, db, func(row scanner) (*portal.WebhookEndpoint, error) {
		var e portal.WebhookEndpoint
		var types string
		err := row.Scan(&e.ID, &e.URL, &e.Secret, &types, &e.Start, &e.CreatedAt)
		e.Types = strings.Fields(types)
		return &e, err
	}, `SELECT id, url, secret, types, start_after, created_at FROM webhook_endpoints ORDER BY created_at, id`)
}

// DeleteWebhook removes an endpoint and its deliveries.
func (db *DB) DeleteWebhook(ctx context.Context, id string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		// The endpoint first: QueueWebhooks locks its row, so deliveries
		// it queues meanwhile are committed before the next statement
		// reads them, or find the endpoint gone.
		res, err := tx.ExecContext(ctx, `DELETE FROM webhook_endpoints WHERE id = $1`, id)
		if err != nil {
			return err
		} else if n, _ := res.RowsAffected(); n == 0 {
			return portal.ErrNotFound
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE endpoint_id = $1`, id)
		return err
	})
}

// WebhookCursor is the last event id dispatched ("" before the first).
func (db *DB) WebhookCursor(ctx context.Context) (string, error) {
	var v string
	err := db.ro.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = 'webhook_cursor'`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// QueueWebhooks adds deliveries (a repeat of an endpoint's event is
// ignored, so replicas dispatching the same events queue each once) and
// moves the cursor forward.
func (db *DB) QueueWebhooks(ctx context.Context, ds []*portal.WebhookDelivery, cursor string) error {
	lock := `SELECT 1 FROM webhook_endpoints WHERE id = $1`
	if db.Dialect == Postgres {
		lock += ` FOR SHARE`
	}
	return db.tx(ctx, func(tx *sql.Tx) error {
		// Only for endpoints that still exist (one deleted since the
		// worker read the list gets nothing), under a lock that a
		// deletion waits for (see DeleteWebhook).
		live := map[string]bool{}
		for _, d := range ds {
			ok, seen := live[d.EndpointID]
			if !seen {
				var one int
				err := tx.QueryRowContext(ctx, lock, d.EndpointID).Scan(&one)
				if err != nil && !errors.Is(err, sql.ErrNoRows) {
					return err
				}
				ok = err == nil
				live[d.EndpointID] = ok
			}
			if !ok {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (id, endpoint_id, event_id, type, payload, created_at, next_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (endpoint_id, event_id) DO NOTHING`,
				d.ID, d.EndpointID, d.EventID, d.Type, d.Payload, d.CreatedAt, d.NextAt); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES ('webhook_cursor', $1)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value WHERE settings.value < excluded.value`, cursor)
		return err
	})
}

const deliveryColumns = `id, endpoint_id, event_id, type, payload, created_at, next_at, attempts, delivered_at, failed_at, last_status, last_error`

func scanDelivery(row scanner) (*portal.WebhookDelivery, error) {
	var d portal.WebhookDelivery
	err := row.Scan(&d.ID, &d.EndpointID, &d.EventID, &d.Type, &d.Payload, &d.CreatedAt, &d.NextAt, &d.Attempts, &d.DeliveredAt, &d.FailedAt, &d.LastStatus, &d.LastError)
	return &d, err
}

// ClaimWebhooks leases due deliveries to one worker, as ClaimOutbox does:
// the oldest, at most perEndpoint of each endpoint's, so that one endpoint's
// backlog does not keep the others' deliveries waiting. Endpoints are taken
// from a random one on, for when more have deliveries due than one claim
// takes; each endpoint's are found through its own part of an index, so a
// backlog costs a claim nothing.
func (db *DB) ClaimWebhooks(ctx context.Context, worker string, n, perEndpoint int, now, leaseUntil int64) ([]*portal.WebhookDelivery, error) {
	// The rows are found by id (+ keeps SQLite from reading every due
	// delivery through the other index to check the outer condition),
	// which is checked again, whole, on a row another replica changed
	// meanwhile: claimed, or tried and put back for later. On PostgreSQL
	// rows another claim holds are skipped, not waited for: claims that
	// take endpoints in different orders cannot wait for each other.
	skip := ""
	if db.Dialect == Postgres {
		skip = ` FOR UPDATE SKIP LOCKED`
	}
	claim := `UPDATE webhook_deliveries SET locked_by = $1, locked_until = $2
		WHERE +delivered_at = 0 AND +failed_at = 0 AND +next_at <= $3 AND +locked_until <= $3
		AND id IN (SELECT id FROM webhook_deliveries WHERE endpoint_id = $4 AND delivered_at = 0 AND failed_at = 0
			AND next_at <= $3 AND locked_until <= $3 ORDER BY next_at, id LIMIT $5` + skip + `)`
	var out []*portal.WebhookDelivery
	err := db.tx(ctx, func(tx *sql.Tx) error {
		out = nil
		var eps []string
		rows, err := tx.QueryContext(ctx, `SELECT id FROM webhook_endpoints ORDER BY id`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			eps = append(eps, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		claimed := 0
		start := 0
		if len(eps) > 0 {
			start = rand.IntN(len(eps))
		}
		for i := range eps {
			if claimed >= n {
				break
			}
			res, err := tx.ExecContext(ctx, claim, worker, leaseUntil, now, eps[(start+i)%len(eps)], min(perEndpoint, n-claimed))
			if err != nil {
				return err
			}
			k, _ := res.RowsAffected()
			claimed += int(k)
		}
		rows, err = tx.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries
			WHERE locked_by = $1 AND locked_until = $2 AND delivered_at = 0 AND failed_at = 0 ORDER BY next_at, id`, worker, leaseUntil)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			d, err := scanDelivery(rows)
			if err != nil {
				return err
			}
			out = append(out, d)
		}
		return rows.Err()
	})
	return out, err
}

// RenewWebhook extends a lease the worker still holds, as RenewOutbox does.
func (db *DB) RenewWebhook(ctx context.Context, id, worker string, now, until int64) (bool, error) {
	err := db.exec1(ctx, `UPDATE webhook_deliveries SET locked_until = $1 WHERE id = $2 AND locked_by = $3 AND locked_until > $4
		AND delivered_at = 0 AND failed_at = 0`, until, id, worker, now)
	if errors.Is(err, portal.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// FinishWebhook records an attempt, only by the worker holding the lease.
func (db *DB) FinishWebhook(ctx context.Context, d *portal.WebhookDelivery, worker string) error {
	_, err := db.rw.ExecContext(ctx, `UPDATE webhook_deliveries SET attempts = $1, next_at = $2, delivered_at = $3, failed_at = $4,
		last_status = $5, last_error = $6, locked_until = 0 WHERE id = $7 AND locked_by = $8`,
		d.Attempts, d.NextAt, d.DeliveredAt, d.FailedAt, d.LastStatus, portal.CleanText(d.LastError, 300), d.ID, worker)
	return err
}

// WebhookDeliveries lists an endpoint's newest deliveries.
func (db *DB) WebhookDeliveries(ctx context.Context, endpointID string, limit int) ([]*portal.WebhookDelivery, error) {
	return queryAll(ctx, db, scanDelivery, `SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE endpoint_id = $1
		ORDER BY created_at DESC, id DESC LIMIT $2`, endpointID, limit)
}

// ResendWebhook makes a delivery due again from now.
func (db *DB) ResendWebhook(ctx context.Context, id string, now int64) error {
	return db.exec1(ctx, `UPDATE webhook_deliveries SET next_at = $1, created_at = $1, attempts = 0, delivered_at = 0, failed_at = 0,
		locked_until = 0, last_error = '' WHERE id = $2`, now, id)
}
