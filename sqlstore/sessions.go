package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/clientportal/portal"
)

var _ portal.SessionStore = (*DB)(nil)

// CreateSession stores s at its user's current credential epoch (for
// tools and tests; sign-ins write theirs with StepLogin).
func (db *DB) CreateSession(ctx context.Context, s *portal.Session) error {
	_, err := db.rw.ExecContext(ctx, `INSERT INTO sessions (id, user_id, level, created_at, last_seen_at, reauth_at, user_agent, ip, auth_epoch)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8, auth_epoch FROM users WHERE id = $2`,
		s.ID, s.UserID, s.Level, s.CreatedAt, s.LastSeenAt, s.ReauthAt, s.UserAgent, s.IP)
	return err
}

func createSessionStmt(s *portal.Session) statement {
	// The epoch is the user's, and only if it is still the one the session
	// was signed in with: otherwise it is NULL and the insert fails
	// (errStale), in the step's own transaction on either database.
	return statement{`INSERT INTO sessions (id, user_id, level, created_at, last_seen_at, reauth_at, user_agent, ip, auth_epoch, amr)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, (SELECT auth_epoch FROM users WHERE id = $2 AND auth_epoch = $9), $10)`,
		[]any{s.ID, s.UserID, s.Level, s.CreatedAt, s.LastSeenAt, s.ReauthAt, s.UserAgent, s.IP, s.AuthEpoch, s.AMR}}
}

// StepLogin writes a login step in one transaction (one commit where
// separate calls would make eight).
func (db *DB) StepLogin(ctx context.Context, st *portal.LoginStep) (*portal.StepOutcome, error) {
	if db.Dialect == Postgres {
		return db.stepLoginPipelined(ctx, st)
	}
	var out *portal.StepOutcome
	err := db.group(ctx, func(ctx context.Context, tx *sql.Tx) error {
		out = &portal.StepOutcome{}
		if st.Use != nil {
			return useStep(ctx, tx, st, out)
		}
		if len(st.Take) > 0 {
			// Refused (errRefused), the whole step is rolled back.
			var err error
			if out.Taken, err = takeAttempts(ctx, tx, st.At, st.Take); err != nil {
				return err
			}
		}
		return stepLogin(ctx, tx, st, out)
	})
	if errors.Is(err, errRefused) {
		return out, nil
	} else if errors.Is(err, errStale) {
		return &portal.StepOutcome{Stale: true}, nil
	} else if err != nil {
		return nil, fmt.Errorf("login step: %w", err)
	}
	return out, nil
}

// useStep is a login step that uses a TOTP step, in a SQLite write
// transaction. Such a transaction holds SQLite's one write lock from its
// start (BEGIN IMMEDIATE), so checking the counters and then writing is as
// exact as taking attempts, and a success (the common case) writes no
// counter at all: attempts are only taken when the step was used already.
func useStep(ctx context.Context, tx *sql.Tx, st *portal.LoginStep, out *portal.StepOutcome) error {
	var exists []bool
	if len(st.Take) > 0 {
		refusal, ex, err := checkAttempts(ctx, tx, st.At, st.Take)
		if err != nil {
			return err
		} else if refusal != nil {
			out.Taken = refusal
			return errRefused
		}
		exists = ex
	}
	used, err := consumeStep(ctx, tx, st.Use.MethodID, st.Use.Step, st.At.Unix())
	if err != nil {
		return err
	} else if !used {
		out.Replayed = true
		if len(st.Take) > 0 {
			out.Taken, err = takeAttempts(ctx, tx, st.At, st.Take)
		}
		return err
	}
	if len(st.Take) > 0 {
		out.Taken = &portal.Taken{OK: true}
	}
	for i, a := range st.Take {
		out.Taken.Counts = append(out.Taken.Counts, 0)
		// A success clears the consecutive counters; one that is not
		// there (the usual case) needs no statement.
		if a.Policy.Window == 0 && exists[i] {
			if err := resetAttempts(ctx, tx, a.Policy, a.Key); err != nil {
				return err
			}
		}
	}
	return stepLogin(ctx, tx, st, out)
}

// settleStmts are the writes of a login step after its attempts and code
// use; cancel is the index of the statement cancelling recoveries,
// session that of the new session and device that of the browser's record
// (-1 for none), which the query for the user's other browsers follows.
func settleStmts(st *portal.LoginStep) (stmts []statement, cancel, session, device int) {
	for _, a := range st.Release {
		stmts = append(stmts, releaseStmt(a.Policy, a.Key, st.At))
	}
	for _, a := range st.Reset {
		stmts = append(stmts, resetStmt(a.Policy, a.Key))
	}
	if st.Ends != "" {
		stmts = append(stmts, statement{`DELETE FROM sessions WHERE id = $1`, []any{st.Ends}})
	}
	session = -1
	if st.Session != nil {
		session = len(stmts)
		stmts = append(stmts, createSessionStmt(st.Session))
	}
	if st.Complete {
		stmts = append(stmts, statement{`UPDATE users SET last_login_at = $1 WHERE id = $2`, []any{st.At.Unix(), st.Session.UserID}})
	}
	cancel = -1
	if st.CancelRecoveries {
		cancel = len(stmts)
		user := st.User
		if st.Session != nil {
			user = st.Session.UserID
		}
		stmts = append(stmts, cancelRecoveriesStmt(user, st.At.Unix()))
	}
	if st.Event != nil {
		stmts = append(stmts, addEventStmt(st.Event))
	}
	device = -1
	if st.Device != "" && st.Session != nil && st.Complete {
		device = len(stmts)
		stmts = append(stmts, recordDeviceStmt(st.Session.UserID, st.Device, st.At.Unix()), otherDevicesStmt(st.Session.UserID, st.Device))
	}
	return stmts, cancel, session, device
}

// errStale rolls back a login step whose session would be of an earlier
// credential epoch than its user's.
var errStale = errors.New("credentials changed during the sign-in")

// staleSession tells whether err, from the statement inserting a step's
// session, says the user's credential epoch moved on (a NOT NULL failure).
func staleSession(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_NOTNULL
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23502"
}

// stepLogin writes the settling part of a login step.
func stepLogin(ctx context.Context, tx *sql.Tx, st *portal.LoginStep, out *portal.StepOutcome) error {
	stmts, cancel, session, device := settleStmts(st)
	for i, s := range stmts {
		if device >= 0 && i == device+1 {
			var one int
			err := tx.QueryRowContext(ctx, s.sql, s.args...).Scan(&one)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			out.OtherDevices = err == nil
			continue
		}
		res, err := tx.ExecContext(ctx, s.sql, s.args...)
		if i == session && staleSession(err) {
			return errStale
		} else if err != nil {
			return err
		}
		if i == cancel {
			n, _ := res.RowsAffected()
			out.Cancelled = int(n)
		}
		if i == device {
			n, _ := res.RowsAffected()
			out.NewDevice = n == 1
		}
	}
	return nil
}

// SessionByID returns a session with its user, in one round trip.
func (db *DB) SessionByID(ctx context.Context, id string) (*portal.Session, *portal.User, error) {
	var s portal.Session
	var u portal.User
	err := db.ro.QueryRowContext(ctx, `SELECT s.id, s.user_id, s.level, s.created_at, s.last_seen_at, s.reauth_at, s.user_agent, s.ip, s.auth_epoch, s.amr, `+userColumns+`
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1`, id).Scan(
		append([]any{&s.ID, &s.UserID, &s.Level, &s.CreatedAt, &s.LastSeenAt, &s.ReauthAt, &s.UserAgent, &s.IP, &s.AuthEpoch, &s.AMR}, userFields(&u)...)...)
	if err != nil {
		return nil, nil, notFound(err)
	}
	if s.AuthEpoch != u.AuthEpoch {
		// Signed in with credentials the user has changed since.
		return nil, nil, portal.ErrNotFound
	}
	return &s, &u, nil
}

// SetSessionAMR records how a session was proved.
func (db *DB) SetSessionAMR(ctx context.Context, id, amr string) error {
	_, err := db.rw.ExecContext(ctx, `UPDATE sessions SET amr = $2 WHERE id = $1`, id, amr)
	return err
}

// UserSessions lists a user's live signed-in sessions, newest first: those
// signed in, and those that policy holds at setting up 2FA, which can
// change it.
func (db *DB) UserSessions(ctx context.Context, userID string, idleAfter, createdAfter int64) ([]*portal.Session, error) {
	rows, err := db.ro.QueryContext(ctx, `SELECT id, user_id, level, created_at, last_seen_at, reauth_at, user_agent, ip, auth_epoch, amr FROM sessions
		WHERE user_id = $1 AND level IN ($2, $5) AND last_seen_at > $3 AND created_at > $4 ORDER BY created_at DESC, id LIMIT 200`, userID, portal.LevelFull, idleAfter, createdAfter, portal.LevelSetup)
	if err != nil {
		return nil, fmt.Errorf("user sessions: %w", err)
	}
	defer rows.Close()
	var out []*portal.Session
	for rows.Next() {
		var s portal.Session
		if err := rows.Scan(&s.ID, &s.UserID, &s.Level, &s.CreatedAt, &s.LastSeenAt, &s.ReauthAt, &s.UserAgent, &s.IP, &s.AuthEpoch, &s.AMR); err != nil {
			return nil, err
		}
		out = append(out, &s)
	}
	return out, rows.Err()
}

// DeleteUserSession ends one session of a user.
func (db *DB) DeleteUserSession(ctx context.Context, userID, id string) error {
	return db.exec1(ctx, `DELETE FROM sessions WHERE id = $1 AND user_id = $2`, id, userID)
}

// TouchSession records activity, for the idle timeout; on SQLite in the
// group commit of whatever else is being written.
func (db *DB) TouchSession(ctx context.Context, id string, at int64) error {
	return db.group(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND last_seen_at < $1`, at, id)
		return err
	})
}

// SetSessionReauth starts sudo mode on a session.
func (db *DB) SetSessionReauth(ctx context.Context, id string, at int64) error {
	return db.exec1(ctx, `UPDATE sessions SET reauth_at = $1 WHERE id = $2`, at, id)
}

// DeleteSession ends one session.
func (db *DB) DeleteSession(ctx context.Context, id string) error {
	_, err := db.rw.ExecContext(ctx, `DELETE FROM sessions WHERE id = $1`, id)
	return err
}

// DeleteUserSessions ends all of a user's sessions but keepID.
func (db *DB) DeleteUserSessions(ctx context.Context, userID, keepID string) error {
	_, err := db.rw.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1 AND id <> $2`, userID, keepID)
	return err
}

// DeleteExpiredSessions removes sessions past their idle or absolute timeout.
func (db *DB) DeleteExpiredSessions(ctx context.Context, idleBefore, createdBefore int64) (int64, error) {
	// Each condition on its own index (an OR would read the whole table).
	idle, err := db.deleteInBatches(ctx, `DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE last_seen_at < $1 LIMIT 500)`, idleBefore)
	if err != nil {
		return idle, err
	}
	old, err := db.deleteInBatches(ctx, `DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE created_at < $1 LIMIT 500)`, createdBefore)
	return idle + old, err
}

// deleteInBatches runs a DELETE of at most 500 rows until it deletes
// fewer, each batch its own short transaction, with a pause between
// batches: a sweep of a backlog never holds SQLite's one writer (or
// PostgreSQL's locks) for long, so sign-ins, and other processes such as
// the command line, go on beside it.
func (db *DB) deleteInBatches(ctx context.Context, query string, args ...any) (int64, error) {
	var total int64
	for batch := 0; ; batch++ {
		if batch > 0 {
			select {
			case <-ctx.Done():
				return total, ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
		var n int64
		err := db.group(ctx, func(ctx context.Context, tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, query, args...)
			if err == nil {
				n, err = res.RowsAffected()
			}
			return err
		})
		total += n
		if err != nil || n < 500 {
			return total, err
		}
	}
}
