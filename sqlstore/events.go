package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/clientportal/portal"
)

var _ portal.EventStore = (*DB)(nil)

// AddEvent records a security event.
func (db *DB) AddEvent(ctx context.Context, e *portal.Event) error {
	if e.ID == "" {
		// Time-ordered ids keep events of the same second in order.
		e.ID = fmt.Sprintf("%016x", time.Now().UnixNano()) + portal.NewID()[:10]
	}
	_, err := db.rw.ExecContext(ctx, `INSERT INTO events (id, user_id, actor_id, type, ip, user_agent, detail, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		e.ID, e.UserID, e.ActorID, e.Type, e.IP, e.UserAgent, e.Detail, e.CreatedAt)
	return err
}

// UserEvents lists a user's newest events first.
func (db *DB) UserEvents(ctx context.Context, userID string, limit int) ([]*portal.Event, error) {
	rows, err := db.ro.QueryContext(ctx, `SELECT id, user_id, actor_id, type, ip, user_agent, detail, created_at
		FROM events WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`, userID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*portal.Event
	for rows.Next() {
		var e portal.Event
		if err := rows.Scan(&e.ID, &e.UserID, &e.ActorID, &e.Type, &e.IP, &e.UserAgent, &e.Detail, &e.CreatedAt); err != nil {
			return nil, err
		}
		out = append(out, &e)
	}
	return out, rows.Err()
}
