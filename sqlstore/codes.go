package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/clientportal/portal/i18n"
	"time"

	"github.com/clientportal/portal"
)

var _ portal.CodeStore = (*DB)(nil)

// IssueCode checks the resend delay and hourly limits and stores the code in
// one transaction (on SQLite in the group commit, under its own savepoint).
// The no-op update of the user row takes its row lock on PostgreSQL (SQLite
// write transactions here are exclusive), so parallel requests on any
// replica are decided one at a time.
func (db *DB) IssueCode(ctx context.Context, c *portal.Code, p portal.CodePolicy) error {
	return db.group(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE users SET id = id WHERE id = $1`, c.UserID); err != nil {
			return fmt.Errorf("lock user: %w", err)
		}
		hourAgo := c.CreatedAt - 3600
		var n int
		var oldest sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), MIN(created_at) FROM codes WHERE user_id = $1 AND channel = $2 AND created_at > $3`,
			c.UserID, c.Channel, hourAgo).Scan(&n, &oldest); err != nil {
			return err
		}
		// The pause is between codes for the same purpose while one is
		// still outstanding: a code that was used (an enrolment confirmed,
		// a sign-in done) does not make the next one wait. A code killed
		// by a newer one of another purpose still does: else alternating
		// purposes would send one code after another without a pause.
		var last sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT MAX(created_at) FROM codes WHERE user_id = $1 AND channel = $2 AND purpose = $3 AND used_at = 0
			AND (expires_at > $4 OR created_at > $5)`,
			c.UserID, c.Channel, c.Purpose, c.CreatedAt, c.CreatedAt-int64(p.Resend/time.Second)).Scan(&last); err != nil {
			return err
		}
		if last.Valid && c.CreatedAt-last.Int64 < int64(p.Resend/time.Second) {
			wait := time.Duration(last.Int64+int64(p.Resend/time.Second)-c.CreatedAt) * time.Second
			return portal.RateLimited(wait, "A code was sent a moment ago. You can ask for a new one in {{.Wait}}.", "Wait", seconds(wait/time.Second))
		}
		if n >= p.PerHour {
			wait := time.Duration(oldest.Int64+3600-c.CreatedAt) * time.Second
			return portal.RateLimited(wait, "You asked for too many codes. Try again in {{.Wait}} or use another method.", "Wait", i18n.Duration(wait))
		}
		if p.PerHourDest > 0 {
			// Lock the destination too: several accounts may target one number.
			if _, err := tx.ExecContext(ctx, `INSERT INTO limits (key, n, window_start, locked_until) VALUES ($1, 0, 0, 0)
				ON CONFLICT (key) DO UPDATE SET n = limits.n`, "codedest:"+c.Channel+":"+c.Destination); err != nil {
				return fmt.Errorf("lock destination: %w", err)
			}
			// Per purpose: strangers starting enrolments for someone's
			// number must not use up the sign-in codes of its owner.
			var d int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM codes WHERE destination = $1 AND channel = $2 AND purpose = $3 AND created_at > $4`,
				c.Destination, c.Channel, c.Purpose, hourAgo).Scan(&d); err != nil {
				return err
			}
			if d >= p.PerHourDest {
				return portal.RateLimited(time.Hour, "Too many codes were sent to this number. Try again later or use another method.")
			}
		}
		// A new code kills every earlier one of the channel.
		if _, err := tx.ExecContext(ctx, `UPDATE codes SET expires_at = $1 WHERE user_id = $2 AND channel = $3 AND used_at = 0 AND expires_at > $1`,
			c.CreatedAt, c.UserID, c.Channel); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO codes (id, user_id, channel, purpose, binding, destination, hash, attempts, created_at, expires_at, used_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9, 0)`,
			c.ID, c.UserID, c.Channel, c.Purpose, c.Binding, c.Destination, c.Hash, c.CreatedAt, c.ExpiresAt)
		return err
	})
}

// DeleteCode removes an undelivered code.
func (db *DB) DeleteCode(ctx context.Context, id string) error {
	_, err := db.rw.ExecContext(ctx, `DELETE FROM codes WHERE id = $1`, id)
	return err
}

// LiveCode returns the newest usable code for a binding.
func (db *DB) LiveCode(ctx context.Context, userID, channel, purpose, binding string, now int64) (*portal.Code, error) {
	var c portal.Code
	err := db.rw.QueryRowContext(ctx, `SELECT id, user_id, channel, purpose, binding, destination, hash, attempts, created_at, expires_at, used_at
		FROM codes WHERE user_id = $1 AND channel = $2 AND purpose = $3 AND binding = $4 AND used_at = 0 AND expires_at > $5
		ORDER BY created_at DESC LIMIT 1`, userID, channel, purpose, binding, now).
		Scan(&c.ID, &c.UserID, &c.Channel, &c.Purpose, &c.Binding, &c.Destination, &c.Hash, &c.Attempts, &c.CreatedAt, &c.ExpiresAt, &c.UsedAt)
	if err != nil {
		return nil, notFound(err)
	}
	return &c, nil
}

// UseCode consumes a live code exactly once.
func (db *DB) UseCode(ctx context.Context, id string, now int64, maxGuesses int) (bool, error) {
	res, err := db.rw.ExecContext(ctx, `UPDATE codes SET used_at = $1 WHERE id = $2 AND used_at = 0 AND expires_at > $1 AND attempts < $3`, now, id, maxGuesses)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// SupersededCodes lists a binding's unused codes created since since that
// are no longer live (a newer code killed them, or they expired).
func (db *DB) SupersededCodes(ctx context.Context, userID, channel, purpose, binding string, since, now int64) ([]*portal.Code, error) {
	return queryAll(ctx, db, func(row scanner) (*portal.Code, error) {
		var c portal.Code
		err := row.Scan(&c.ID, &c.Hash, &c.CreatedAt, &c.ExpiresAt)
		return &c, err
	}, `SELECT id, hash, created_at, expires_at FROM codes WHERE user_id = $1 AND channel = $2 AND purpose = $3 AND binding = $4
		AND used_at = 0 AND expires_at <= $5 AND created_at > $6 ORDER BY created_at DESC LIMIT 10`, userID, channel, purpose, binding, now, since)
}

// FailCode counts a wrong guess.
func (db *DB) FailCode(ctx context.Context, id string) (int, error) {
	var n int
	err := db.rw.QueryRowContext(ctx, `UPDATE codes SET attempts = attempts + 1 WHERE id = $1 RETURNING attempts`, id).Scan(&n)
	return n, err
}

// seconds is the pause before a new code, said in seconds ("60 seconds",
// not "1 minute"): it is never longer than a minute or two.
type seconds int

// Localize says s in l's language.
func (s seconds) Localize(l *i18n.Localizer) string { return l.N("{{.Count}} seconds", int(s)) }
