package sqlstore

import (
	"context"
	"database/sql"
	"math"
	"time"

	"github.com/clientportal/portal"
)

var _ portal.EventStore = (*DB)(nil)

// AddEvent records a security event.
func (db *DB) AddEvent(ctx context.Context, e *portal.Event) error {
	// In the group commit: an event on its own would cost a flush of its
	// own (synchronous=full).
	return db.group(ctx, func(ctx context.Context, tx *sql.Tx) error { return addEvent(ctx, tx, e) })
}

func addEvent(ctx context.Context, q execer, e *portal.Event) error {
	st := addEventStmt(e)
	_, err := q.ExecContext(ctx, st.sql, st.args...)
	return err
}

func addEventStmt(e *portal.Event) statement {
	if e.ID == "" {
		// Time-ordered ids keep events of the same second in order.
		e.ID = portal.NewEventID(time.Now())
	}
	return statement{`INSERT INTO events (id, user_id, actor_id, type, ip, user_agent, detail, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		[]any{e.ID, e.UserID, e.ActorID, e.Type, e.IP, e.UserAgent, e.Detail, e.CreatedAt}}
}

// UserEvents lists a user's newest events first.
func (db *DB) UserEvents(ctx context.Context, userID string, limit int) ([]*portal.Event, error) {
	return queryAll(ctx, db, scanEvent, `SELECT `+eventColumns+` FROM events WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`, userID, limit)
}

const eventColumns = `id, user_id, actor_id, type, ip, user_agent, detail, created_at`

func scanEvent(row scanner) (*portal.Event, error) {
	var e portal.Event
	err := row.Scan(&e.ID, &e.UserID, &e.ActorID, &e.Type, &e.IP, &e.UserAgent, &e.Detail, &e.CreatedAt)
	return &e, err
}

var _ portal.EventLog = (*DB)(nil)

// Events lists events newest first with optional filters; ids are
// time-ordered, so the keyset is the id alone.
func (db *DB) Events(ctx context.Context, f portal.EventFilter) ([]*portal.Event, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	// The time bounds are always compared with created_at, never with a
	// literal 0 first: PostgreSQL would then take them for 32-bit integers
	// and fail on a date after 2038.
	if f.Until == 0 {
		f.Until = math.MaxInt64
	}
	if f.Forward {
		return queryAll(ctx, db, scanEvent, `SELECT `+eventColumns+` FROM events
			WHERE ($1 = '' OR user_id = $1) AND ($2 = '' OR type = $2) AND created_at >= $3 AND created_at < $4
			AND ($5 = '' OR id < $5) AND id > $7
			ORDER BY id LIMIT $6`, f.UserID, f.Type, f.Since, f.Until, f.Before, f.Limit, f.After)
	}
	return queryAll(ctx, db, scanEvent, `SELECT `+eventColumns+` FROM events
		WHERE ($1 = '' OR user_id = $1) AND ($2 = '' OR type = $2) AND created_at >= $3 AND created_at < $4
		AND ($5 = '' OR id < $5)
		ORDER BY id DESC LIMIT $6`, f.UserID, f.Type, f.Since, f.Until, f.Before, f.Limit)
}
