package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/clientportal/portal"
)

var _ portal.DeviceStore = (*DB)(nil)

// KnownDevices counts the browsers a user has signed in on.
func (db *DB) KnownDevices(ctx context.Context, userID string) (int, error) {
	var n int
	err := db.ro.QueryRowContext(ctx, `SELECT COUNT(*) FROM known_devices WHERE user_id = $1`, userID).Scan(&n)
	return n, err
}

// recordDeviceStmt records a sign-in's browser in the login step's own
// transaction (no commit of its own); it changes a row only for a browser
// new to the user.
func recordDeviceStmt(userID, hash string, at int64) statement {
	return statement{`INSERT INTO known_devices (user_id, device_hash, created_at, last_seen_at) VALUES ($1, $2, $3, $3)
		ON CONFLICT (user_id, device_hash) DO NOTHING`, []any{userID, hash, at}}
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
		if err := newEpoch(ctx, tx, t.UserID, ""); err != nil {
			return err
		}
		if err := undoSince(ctx, tx, t.UserID, t.CreatedAt, now); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM browsers WHERE user_id = $1`, t.UserID)
		return err
	})
	return t, err
}

// undoSince takes away what a session signed in at since could have left
// behind to keep its way in once it has ended: second-factor methods added
// since (a passkey signs in alone) and backup codes made since (it saw
// them; with no method left, 2FA is off and every backup code goes),
// pending email changes, invitations sent since, and API tokens made since.
func undoSince(ctx context.Context, tx *sql.Tx, userID string, since, now int64) error {
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
	if err := choosePreferred(ctx, tx, userID); err != nil {
		return err
	}
	return refreshTwoFactor(ctx, tx, userID)
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
