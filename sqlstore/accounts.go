package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/clientportal/portal"
)

var _ portal.AccountStore = (*DB)(nil)

// AccountByID finds an account.
func (db *DB) AccountByID(ctx context.Context, id string) (*portal.Account, error) {
	var a portal.Account
	err := db.ro.QueryRowContext(ctx, `SELECT id, name, created_at, require_2fa FROM accounts WHERE id = $1`, id).Scan(&a.ID, &a.Name, &a.CreatedAt, &a.Require2FA)
	if err != nil {
		return nil, notFound(err)
	}
	return &a, nil
}

// SetAccountRequire2FA sets the owner's 2FA requirement.
func (db *DB) SetAccountRequire2FA(ctx context.Context, id string, on bool, keep string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE accounts SET require_2fa = $1 WHERE id = $2`, bool2int(on), id)
		if err != nil {
			return err
		} else if n, _ := res.RowsAffected(); n != 1 {
			return portal.ErrNotFound
		}
		if !on {
			return nil
		}
		return db.requireSetup(ctx, tx, keep, `account_id = $4`, id)
	})
}

// requireSetup drops the signed-in sessions but keep of users without 2FA
// who match cond (on $4 and on) to LevelSetup: a requirement switched on
// applies at once, not at their next sign-in.
func (db *DB) requireSetup(ctx context.Context, tx *sql.Tx, keep, cond string, args ...any) error {
	// On PostgreSQL, sessions being written now are waited for, so the
	// update sees them; a sign-in that writes its session later reads the
	// requirement after its write (web's startWithout2FA) and sees this
	// one. (SQLite's writes are serial.)
	if db.Dialect == Postgres {
		if _, err := tx.ExecContext(ctx, `LOCK TABLE sessions IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `UPDATE sessions SET level = $1 WHERE level = $2 AND id <> $3
		AND user_id IN (SELECT id FROM users WHERE twofa = 0 AND `+cond+`)`, append([]any{portal.LevelSetup, portal.LevelFull, keep}, args...)...)
	return err
}

// Members lists an account's users with their confirmed method types.
func (db *DB) Members(ctx context.Context, accountID string) ([]*portal.Member, error) {
	rows, err := db.ro.QueryContext(ctx, `SELECT `+userColumns+`, COALESCE(m.type, '') FROM users u
		LEFT JOIN (SELECT DISTINCT user_id, type FROM methods WHERE confirmed_at > 0) m ON m.user_id = u.id
		WHERE u.account_id = $1 ORDER BY u.created_at, u.id, m.type`, accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*portal.Member
	for rows.Next() {
		var u portal.User
		var typ string
		if err := rows.Scan(append(userFields(&u), &typ)...); err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].User.ID != u.ID {
			out = append(out, &portal.Member{User: &u})
		}
		if typ != "" {
			m := out[len(out)-1]
			m.Methods = append(m.Methods, typ)
		}
	}
	return out, rows.Err()
}

// DeleteUser removes a user and, by cascade, everything of theirs.
func (db *DB) DeleteUser(ctx context.Context, id string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM oidc_tokens WHERE user_id = $1`, id); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return portal.ErrNotFound
		}
		return nil
	})
}

// CreateInvitation stores an invitation token.
func (db *DB) CreateInvitation(ctx context.Context, t *portal.Token) error {
	return db.CreateToken(ctx, t)
}

// ReplaceInvitation swaps a pending invitation's link for t (its data
// copied from the old one).
func (db *DB) ReplaceInvitation(ctx context.Context, accountID, oldID string, t *portal.Token, now int64) (*portal.Token, error) {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var data, userID string
		err := tx.QueryRowContext(ctx, `DELETE FROM tokens WHERE id = $1 AND kind = $2 AND account_id = $3 AND used_at = 0 AND expires_at > $4
			RETURNING data, user_id`, oldID, portal.TokenInvite, accountID, now).Scan(&data, &userID)
		if err != nil {
			return notFound(err)
		}
		t.Kind, t.AccountID, t.Data, t.UserID = portal.TokenInvite, accountID, data, userID
		_, err = tx.ExecContext(ctx, `INSERT INTO tokens (id, kind, user_id, account_id, data, created_at, expires_at, used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 0)`,
			t.ID, t.Kind, t.UserID, t.AccountID, t.Data, t.CreatedAt, t.ExpiresAt)
		return err
	})
	return t, err
}

// RevokeInvitation deletes a pending invitation of the account.
func (db *DB) RevokeInvitation(ctx context.Context, accountID, id string) error {
	return db.exec1(ctx, `DELETE FROM tokens WHERE id = $1 AND kind = $2 AND account_id = $3 AND used_at = 0`, id, portal.TokenInvite, accountID)
}

// Invitations lists an account's pending invitations.
func (db *DB) Invitations(ctx context.Context, accountID string, now int64) ([]*portal.Invitation, error) {
	rows, err := db.ro.QueryContext(ctx, `SELECT id, data, created_at, expires_at FROM tokens
		WHERE account_id = $1 AND kind = $2 AND used_at = 0 AND expires_at > $3 ORDER BY created_at, id`, accountID, portal.TokenInvite, now)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*portal.Invitation
	for rows.Next() {
		var inv portal.Invitation
		var data string
		if err := rows.Scan(&inv.ID, &data, &inv.CreatedAt, &inv.ExpiresAt); err != nil {
			return nil, err
		}
		var d struct{ Email, Name string }
		json.Unmarshal([]byte(data), &d)
		inv.Email, inv.Name = d.Email, d.Name
		out = append(out, &inv)
	}
	return out, rows.Err()
}

// Settings reads the staff settings, with defaults for what was never set.
func (db *DB) Settings(ctx context.Context) (*portal.Settings, error) {
	s := portal.DefaultSettings
	rows, err := db.ro.QueryContext(ctx, `SELECT key, value FROM settings`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		switch k {
		case "twofa_policy":
			s.TwoFactorPolicy = v
		case "remember_browsers":
			s.RememberBrowsers = v == "1"
		case "new_device_alerts":
			s.NewDeviceAlerts = v == "1"
		case "recovery_wait":
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				s.RecoveryWait = time.Duration(n) * time.Second
			}
		}
	}
	return &s, rows.Err()
}

// SaveSettings stores the staff settings.
func (db *DB) SaveSettings(ctx context.Context, s *portal.Settings, keep string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		for k, v := range map[string]string{
			"twofa_policy": s.TwoFactorPolicy, "remember_browsers": strconv.Itoa(bool2int(s.RememberBrowsers)),
			"recovery_wait": strconv.FormatInt(int64(s.RecoveryWait/time.Second), 10), "new_device_alerts": strconv.Itoa(bool2int(s.NewDeviceAlerts)),
		} {
			if _, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, k, v); err != nil {
				return err
			}
		}
		switch s.TwoFactorPolicy {
		case portal.PolicyEveryone:
			return db.requireSetup(ctx, tx, keep, `1 = 1`)
		case portal.PolicyStaff:
			return db.requireSetup(ctx, tx, keep, `role = $4`, portal.RoleAdmin)
		}
		return nil
	})
}

const browserColumns = `id, user_id, token_hash, user_agent, ip, created_at, last_used_at, expires_at`

func scanBrowser(row scanner) (*portal.Browser, error) {
	var b portal.Browser
	err := row.Scan(&b.ID, &b.UserID, &b.TokenHash, &b.UserAgent, &b.IP, &b.CreatedAt, &b.LastUsedAt, &b.ExpiresAt)
	return &b, err
}

// CreateBrowser remembers a browser. With b.Session, under the user's lock
// and only while that session is live at the user's credential epoch: the
// changes that forget remembered browsers take the same lock.
func (db *DB) CreateBrowser(ctx context.Context, b *portal.Browser) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if err := lockUser(ctx, tx, b.UserID); err != nil {
			return err
		}
		if err := liveSession(ctx, tx, b.Session); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO browsers (`+browserColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			b.ID, b.UserID, b.TokenHash, b.UserAgent, b.IP, b.CreatedAt, b.LastUsedAt, b.ExpiresAt)
		return err
	})
}

// BrowserByToken finds a live remembered browser of a user.
func (db *DB) BrowserByToken(ctx context.Context, userID, hash string, now int64) (*portal.Browser, error) {
	b, err := scanBrowser(db.ro.QueryRowContext(ctx, `SELECT `+browserColumns+` FROM browsers WHERE token_hash = $1 AND user_id = $2 AND expires_at > $3`, hash, userID, now))
	if err != nil {
		return nil, notFound(err)
	}
	return b, nil
}

// TouchBrowser records a use.
func (db *DB) TouchBrowser(ctx context.Context, id string, at int64) error {
	_, err := db.rw.ExecContext(ctx, `UPDATE browsers SET last_used_at = $1 WHERE id = $2`, at, id)
	return err
}

// UserBrowsers lists a user's live remembered browsers, most recent first.
func (db *DB) UserBrowsers(ctx context.Context, userID string, now int64) ([]*portal.Browser, error) {
	return queryAll(ctx, db, scanBrowser, `SELECT `+browserColumns+` FROM browsers WHERE user_id = $1 AND expires_at > $2 ORDER BY last_used_at DESC, id`, userID, now)
}

// DeleteBrowser revokes one remembered browser.
func (db *DB) DeleteBrowser(ctx context.Context, userID, id string) error {
	return db.exec1(ctx, `DELETE FROM browsers WHERE id = $1 AND user_id = $2`, id, userID)
}

// DeleteUserBrowsers revokes all of a user's remembered browsers.
func (db *DB) DeleteUserBrowsers(ctx context.Context, userID string) error {
	_, err := db.rw.ExecContext(ctx, `DELETE FROM browsers WHERE user_id = $1`, userID)
	return err
}

const recoveryColumns = `r.id, r.user_id, u.email, u.name, r.message, r.status, r.created_at, r.decided_at, r.decided_by, r.note, r.effective_at, r.closed_at`

func scanRecovery(row scanner) (*portal.RecoveryRequest, error) {
	var r portal.RecoveryRequest
	err := row.Scan(&r.ID, &r.UserID, &r.Email, &r.Name, &r.Message, &r.Status, &r.CreatedAt, &r.DecidedAt, &r.DecidedBy, &r.Note, &r.EffectiveAt, &r.ClosedAt)
	return &r, err
}

// CreateRecovery opens a request unless one is already open.
func (db *DB) CreateRecovery(ctx context.Context, r *portal.RecoveryRequest) (bool, error) {
	created := false
	err := db.tx(ctx, func(tx *sql.Tx) error {
		// Serialise per user (see IssueCode).
		if _, err := tx.ExecContext(ctx, `UPDATE users SET id = id WHERE id = $1`, r.UserID); err != nil {
			return err
		}
		var open int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM recovery_requests WHERE user_id = $1 AND status IN ($2, $3)`,
			r.UserID, portal.RecoveryPending, portal.RecoveryApproved).Scan(&open); err != nil {
			return err
		}
		if open > 0 {
			return nil
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO recovery_requests (id, user_id, message, status, created_at) VALUES ($1, $2, $3, $4, $5)`,
			r.ID, r.UserID, r.Message, portal.RecoveryPending, r.CreatedAt)
		created = err == nil
		return err
	})
	return created, err
}

// RecoveryByID finds a request.
func (db *DB) RecoveryByID(ctx context.Context, id string) (*portal.RecoveryRequest, error) {
	r, err := scanRecovery(db.ro.QueryRowContext(ctx, `SELECT `+recoveryColumns+` FROM recovery_requests r JOIN users u ON u.id = r.user_id WHERE r.id = $1`, id))
	if err != nil {
		return nil, notFound(err)
	}
	return r, nil
}

// Recoveries lists requests in a state ("" for all), newest first.
func (db *DB) Recoveries(ctx context.Context, status string, limit int) ([]*portal.RecoveryRequest, error) {
	return queryAll(ctx, db, scanRecovery, `SELECT `+recoveryColumns+` FROM recovery_requests r JOIN users u ON u.id = r.user_id
		WHERE ($1 = '' OR r.status = $1) ORDER BY r.created_at DESC, r.id DESC LIMIT $2`, status, limit)
}

// DecideRecovery approves or denies a pending request, once.
func (db *DB) DecideRecovery(ctx context.Context, id, status, by, note string, at, effectiveAt int64) error {
	closed := int64(0)
	if status == portal.RecoveryDenied {
		closed = at
	}
	err := db.exec1(ctx, `UPDATE recovery_requests SET status = $1, decided_by = $2, note = $3, decided_at = $4, effective_at = $5, closed_at = $6
		WHERE id = $7 AND status = $8`, status, by, note, at, effectiveAt, closed, id, portal.RecoveryPending)
	if errors.Is(err, portal.ErrNotFound) {
		return portal.Errorf(portal.ECONFLICT, "This request was already decided.")
	}
	return err
}

// cancelRecoveriesStmt cancels a user's pending and approved recovery
// requests (they signed in with a second factor after all).
func cancelRecoveriesStmt(userID string, at int64) statement {
	return statement{`UPDATE recovery_requests SET status = $1, closed_at = $2 WHERE user_id = $3 AND status IN ($4, $5)`,
		[]any{portal.RecoveryCancelled, at, userID, portal.RecoveryApproved, portal.RecoveryPending}}
}

// DueRecoveries lists approved requests whose waiting period is over.
func (db *DB) DueRecoveries(ctx context.Context, now int64) ([]*portal.RecoveryRequest, error) {
	return queryAll(ctx, db, scanRecovery, `SELECT `+recoveryColumns+` FROM recovery_requests r JOIN users u ON u.id = r.user_id
		WHERE r.status = $1 AND r.effective_at <= $2 ORDER BY r.effective_at`, portal.RecoveryApproved, now)
}

// completeRecovery closes an approved request whose wait is over; false
// when it was not (cancelled, or done by another replica).
func completeRecovery(ctx context.Context, q execer, id string, at int64) (bool, error) {
	res, err := q.ExecContext(ctx, `UPDATE recovery_requests SET status = $1, closed_at = $2 WHERE id = $3 AND status = $4 AND effective_at <= $2`,
		portal.RecoveryCompleted, at, id, portal.RecoveryApproved)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}
