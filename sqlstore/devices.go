package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"

	"github.com/clientportal/portal"
)

var _ portal.DeviceStore = (*DB)(nil)

// KnownDevice reports whether a sign-in of the user completed on the
// browser whose cookie hashes to hash.
func (db *DB) KnownDevice(ctx context.Context, userID, hash string) (bool, error) {
	var one int
	err := db.ro.QueryRowContext(ctx, `SELECT 1 FROM known_devices WHERE user_id = $1 AND device_hash = $2`, userID, hash).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// recordDeviceStmt records a sign-in's browser in the login step's own
// transaction (no commit of its own); it changes a row only for a browser
// new to the user.
func recordDeviceStmt(userID, hash string, at int64) statement {
	return statement{`INSERT INTO known_devices (user_id, device_hash, created_at, last_seen_at) VALUES ($1, $2, $3, $3)
		ON CONFLICT (user_id, device_hash) DO NOTHING`, []any{userID, hash, at}}
}

// otherDevicesStmt finds another browser of the user's than hash: it
// follows recordDeviceStmt in a login step, whose page it reads again.
func otherDevicesStmt(userID, hash string) statement {
	return statement{`SELECT 1 FROM known_devices WHERE user_id = $1 AND device_hash <> $2 LIMIT 1`, []any{userID, hash}}
}

// SecureAccount ends everything a "secure my account" link's user is
// signed in with, and uses the link, in one transaction.
func (db *DB) SecureAccount(ctx context.Context, tokenHash string, now int64) (*portal.Token, error) {
	var t *portal.Token
	err := db.tx(ctx, func(tx *sql.Tx) (err error) {
		if t, err = consumeToken(ctx, tx, portal.TokenSecure, tokenHash, now); err != nil {
			return err
		}
		if err := lockUser(ctx, tx, t.UserID); err != nil {
			return err
		}
		// Every reported sign-in still open is answered at once, from the
		// oldest: an intruder's later sign-in (with a passkey the first
		// one added) must not be the one that decides what goes.
		since := t.CreatedAt
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MIN(created_at), $3) FROM tokens WHERE user_id = $1 AND kind = $2 AND used_at = 0 AND expires_at > $4`,
			t.UserID, portal.TokenSecure, since, now).Scan(&since); err != nil {
			return err
		}
		since = min(since, t.CreatedAt)
		if _, err := tx.ExecContext(ctx, `UPDATE tokens SET used_at = $3 WHERE user_id = $1 AND kind = $2 AND used_at = 0`, t.UserID, portal.TokenSecure, now); err != nil {
			return err
		}
		if err := newEpoch(ctx, tx, t.UserID, ""); err != nil {
			return err
		}
		if err := undoSince(ctx, tx, t.UserID, since, now); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM browsers WHERE user_id = $1`, t.UserID)
		return err
	})
	return t, err
}

// undoSince takes away what a session signed in at since could have left
// behind to keep its way in once it has ended: an address an email change
// confirmed since took (the old one comes back), the users who joined
// through invitations sent since, second-factor methods added since (a
// passkey signs in alone) and backup codes made since (it saw them; with no
// method left, 2FA is off and every backup code goes), pending email
// changes, invitations sent since, API tokens made since, and recovery
// requests opened since (every open one when no method is left).
func undoSince(ctx context.Context, tx *sql.Tx, userID string, since, now int64) error {
	if err := undoEmailChange(ctx, tx, userID, since, now); err != nil {
		return err
	}
	if err := undoMembers(ctx, tx, userID, since); err != nil {
		return err
	}
	for _, q := range []string{
		`DELETE FROM methods WHERE user_id = $1 AND created_at >= $2`,
		`DELETE FROM backup_codes WHERE user_id = $1 AND (set_id IN (SELECT id FROM backup_sets WHERE user_id = $1 AND created_at >= $2)
			OR NOT EXISTS (SELECT 1 FROM methods WHERE user_id = $1 AND confirmed_at > 0))`,
		`DELETE FROM backup_sets WHERE user_id = $1 AND (created_at >= $2 OR NOT EXISTS (SELECT 1 FROM methods WHERE user_id = $1 AND confirmed_at > 0))`,
		`DELETE FROM tokens WHERE user_id = $1 AND used_at = 0 AND (kind = 'change_email' OR (kind = 'invite' AND created_at >= $2))`,
	} {
		if _, err := tx.ExecContext(ctx, q, userID, since); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = $3 WHERE created_by = $1 AND created_at >= $2 AND revoked_at = 0`, userID, since, now); err != nil {
		return err
	}
	// A recovery request opened since goes (it is the intruder's to have
	// made), and with no method left every open one does, as when 2FA is
	// turned off: an older approval must not remove what the owner sets
	// up next.
	if _, err := tx.ExecContext(ctx, `UPDATE recovery_requests SET status = $1, closed_at = $2 WHERE user_id = $3 AND status IN ($4, $5)
		AND (created_at >= $6 OR NOT EXISTS (SELECT 1 FROM methods WHERE user_id = $3 AND confirmed_at > 0))`,
		portal.RecoveryCancelled, now, userID, portal.RecoveryApproved, portal.RecoveryPending, since); err != nil {
		return err
	}
	if err := choosePreferred(ctx, tx, userID); err != nil {
		return err
	}
	return refreshTwoFactor(ctx, tx, userID)
}

// undoEmailChange puts back the address the account had at since when a
// change was confirmed after it (the intruder's own mailbox, where a
// password reset would go). The owner has just proved that mailbox: the
// alert's link went there. An address someone else has taken since stays
// taken.
func undoEmailChange(ctx context.Context, tx *sql.Tx, userID string, since, now int64) error {
	var data string
	err := tx.QueryRowContext(ctx, `SELECT data FROM tokens WHERE user_id = $1 AND kind = $2 AND used_at > 0 AND created_at >= $3
		ORDER BY used_at, created_at LIMIT 1`, userID, portal.TokenChangeEmail, since).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	} else if err != nil {
		return err
	}
	change, err := portal.ParseEmailChange(data)
	if err != nil {
		return nil
	}
	key := strings.ToLower(change.From)
	var other int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE email_key = $1 AND id <> $2`, key, userID).Scan(&other); err != nil || other > 0 {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE users SET email = $1, email_key = $2, email_verified_at = $3 WHERE id = $4`, change.From, key, now, userID); err != nil {
		return err
	}
	// A reset or unlock link the intruder had sent to their address dies
	// with it (a password change does not end reset links).
	_, err = tx.ExecContext(ctx, `DELETE FROM tokens WHERE user_id = $1 AND kind IN ('reset', 'unlock_2fa', 'verify_email') AND used_at = 0`, userID)
	return err
}

// undoMembers removes the users who joined the owner's account through
// invitations sent since since.
func undoMembers(ctx context.Context, tx *sql.Tx, userID string, since int64) error {
	rows, err := tx.QueryContext(ctx, `SELECT data FROM tokens WHERE user_id = $1 AND kind = $2 AND used_at > 0 AND created_at >= $3`,
		userID, portal.TokenInvite, since)
	if err != nil {
		return err
	}
	// A used invitation names the user it made (noteJoined): that user
	// goes, whatever address they have moved to since. Older ones name
	// only the address invited.
	var ids, keys []string
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			rows.Close()
			return err
		}
		var inv struct {
			Email  string `json:"email"`
			UserID string `json:"user_id"`
		}
		if json.Unmarshal([]byte(data), &inv) != nil {
			continue
		}
		if inv.UserID != "" {
			ids = append(ids, inv.UserID)
		} else if inv.Email != "" {
			keys = append(keys, strings.ToLower(inv.Email))
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	const member = ` AND role = $2 AND created_at >= $3 AND id <> $4
		AND account_id = (SELECT account_id FROM users WHERE id = $4) AND account_id <> ''`
	for cond, vals := range map[string][]string{`id = $1`: ids, `email_key = $1`: keys} {
		joined := cond + member
		for _, v := range vals {
			// As DeleteUser: the app tokens first (they do not cascade).
			for _, q := range []string{`DELETE FROM oidc_tokens WHERE user_id IN (SELECT id FROM users WHERE ` + joined + `)`, `DELETE FROM users WHERE ` + joined} {
				if _, err := tx.ExecContext(ctx, q, v, portal.RoleMember, since, userID); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// AlertPref returns a user's choice about new sign-in alerts.
func (db *DB) AlertPref(ctx context.Context, userID string) (on, set bool, err error) {
	var v int
	err = db.ro.QueryRowContext(ctx, `SELECT new_device FROM alert_prefs WHERE user_id = $1`, userID).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return false, false, nil
	}
	return v == 1, err == nil, err
}

// SetAlertPref stores a user's choice about new sign-in alerts.
func (db *DB) SetAlertPref(ctx context.Context, userID string, on bool) error {
	_, err := db.rw.ExecContext(ctx, `INSERT INTO alert_prefs (user_id, new_device) VALUES ($1, $2)
		ON CONFLICT (user_id) DO UPDATE SET new_device = excluded.new_device`, userID, bool2int(on))
	return err
}
