package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/clientportal/portal"
)

var _ portal.SessionStore = (*DB)(nil)

// CreateSession stores s.
func (db *DB) CreateSession(ctx context.Context, s *portal.Session) error {
	return createSession(ctx, db.rw, s)
}

func createSession(ctx context.Context, q execer, s *portal.Session) error {
	st := createSessionStmt(s)
	_, err := q.ExecContext(ctx, st.sql, st.args...)
	return err
}

func createSessionStmt(s *portal.Session) statement {
	return statement{`INSERT INTO sessions (id, user_id, level, created_at, last_seen_at, reauth_at, user_agent, ip)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		[]any{s.ID, s.UserID, s.Level, s.CreatedAt, s.LastSeenAt, s.ReauthAt, s.UserAgent, s.IP}}
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
	if len(st.Take) > 0 {
		ok, refused, retry, err := checkAttempts(ctx, tx, st.At, st.Take)
		if err != nil {
			return err
		} else if !ok {
			out.Taken = &portal.Taken{Refused: refused, Retry: retry}
			return errRefused
		}
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
	for _, a := range st.Take {
		out.Taken.Counts = append(out.Taken.Counts, 0)
		if a.Policy.Window == 0 {
			if err := resetAttempts(ctx, tx, a.Policy, a.Key); err != nil {
				return err
			}
		}
	}
	return stepLogin(ctx, tx, st, out)
}

// settleStmts are the writes of a login step after its attempts and code
// use; cancel is the index of the statement cancelling recoveries (-1).
func settleStmts(st *portal.LoginStep) (stmts []statement, cancel int) {
	for _, a := range st.Release {
		stmts = append(stmts, releaseStmt(a.Policy, a.Key, st.At))
	}
	for _, a := range st.Reset {
		stmts = append(stmts, resetStmt(a.Policy, a.Key))
	}
	if st.Ends != "" {
		stmts = append(stmts, statement{`DELETE FROM sessions WHERE id = $1`, []any{st.Ends}})
	}
	if st.Session != nil {
		stmts = append(stmts, createSessionStmt(st.Session))
	}
	if st.Complete {
		stmts = append(stmts, statement{`UPDATE users SET last_login_at = $1 WHERE id = $2`, []any{st.At.Unix(), st.Session.UserID}})
	}
	cancel = -1
	if st.CancelRecoveries {
		cancel = len(stmts)
		stmts = append(stmts, cancelRecoveriesStmt(st.Session.UserID, st.At.Unix()))
	}
	if st.Event != nil {
		stmts = append(stmts, addEventStmt(st.Event))
	}
	return stmts, cancel
}

// stepLogin writes the settling part of a login step.
func stepLogin(ctx context.Context, tx *sql.Tx, st *portal.LoginStep, out *portal.StepOutcome) error {
	stmts, cancel := settleStmts(st)
	for i, s := range stmts {
		res, err := tx.ExecContext(ctx, s.sql, s.args...)
		if err != nil {
			return err
		}
		if i == cancel {
			n, _ := res.RowsAffected()
			out.Cancelled = int(n)
		}
	}
	return nil
}

// SessionByID returns a session with its user, in one round trip.
func (db *DB) SessionByID(ctx context.Context, id string) (*portal.Session, *portal.User, error) {
	var s portal.Session
	var u portal.User
	err := db.ro.QueryRowContext(ctx, `SELECT s.id, s.user_id, s.level, s.created_at, s.last_seen_at, s.reauth_at, s.user_agent, s.ip, `+userColumns+`
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1`, id).Scan(
		&s.ID, &s.UserID, &s.Level, &s.CreatedAt, &s.LastSeenAt, &s.ReauthAt, &s.UserAgent, &s.IP,
		&u.ID, &u.AccountID, &u.Email, &u.Name, &u.Role, &u.PasswordHash, &u.Disabled, &u.EmailVerifiedAt, &u.CreatedAt, &u.LastLoginAt, &u.PreferredMethod)
	if err != nil {
		return nil, nil, notFound(err)
	}
	return &s, &u, nil
}

// TouchSession records activity, for the idle timeout.
func (db *DB) TouchSession(ctx context.Context, id string, at int64) error {
	_, err := db.rw.ExecContext(ctx, `UPDATE sessions SET last_seen_at = $1 WHERE id = $2`, at, id)
	return err
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
	res, err := db.rw.ExecContext(ctx, `DELETE FROM sessions WHERE last_seen_at < $1 OR created_at < $2`, idleBefore, createdBefore)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
