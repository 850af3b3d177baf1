package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/clientportal/portal"
)

var _ portal.MethodStore = (*DB)(nil)

const methodColumns = `id, user_id, type, name, secret, data, confirmed_at, last_step, created_at, last_used_at`

func scanMethod(row scanner) (*portal.Method, error) {
	var m portal.Method
	err := row.Scan(&m.ID, &m.UserID, &m.Type, &m.Name, &m.Secret, &m.Data, &m.ConfirmedAt, &m.LastStep, &m.CreatedAt, &m.LastUsedAt)
	return &m, err
}

// CreateMethod stores a (usually pending) method.
func (db *DB) CreateMethod(ctx context.Context, m *portal.Method) error {
	_, err := db.rw.ExecContext(ctx, `INSERT INTO methods (`+methodColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		m.ID, m.UserID, m.Type, m.Name, m.Secret, m.Data, m.ConfirmedAt, m.LastStep, m.CreatedAt, m.LastUsedAt)
	if err != nil {
		return fmt.Errorf("create method: %w", err)
	}
	return nil
}

// UserMethods lists a user's methods, confirmed first, oldest first.
func (db *DB) UserMethods(ctx context.Context, userID string) ([]*portal.Method, error) {
	return queryAll(ctx, db, scanMethod, `SELECT `+methodColumns+` FROM methods WHERE user_id = $1
		ORDER BY CASE WHEN confirmed_at > 0 THEN 0 ELSE 1 END, created_at, id`, userID)
}

// ConfirmMethod confirms a pending method; with set, it also stores the
// first backup codes and the preferred method, all in one transaction.
//
// When it turns 2FA on, every other session of the user ends: a session
// that signed in with the password alone must not outlive the change.
func (db *DB) ConfirmMethod(ctx context.Context, m *portal.Method, set *portal.BackupSet, at int64, keepSession string, record func(enabledNow bool) *portal.Record) (bool, error) {
	var enabledNow bool
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if err := lockUser(ctx, tx, m.UserID); err != nil {
			return err
		}
		if err := liveSession(ctx, tx, keepSession); err != nil {
			return err
		}
		var before int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM methods WHERE user_id = $1 AND confirmed_at > 0`, m.UserID).Scan(&before); err != nil {
			return err
		}
		if err := registeredOnce(ctx, tx, m); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE methods SET confirmed_at = $1, last_step = $2, name = $3, data = $4 WHERE id = $5 AND user_id = $6 AND confirmed_at = 0`,
			at, m.LastStep, m.Name, m.Data, m.ID, m.UserID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return portal.Errorf(portal.ECONFLICT, "This set-up was already finished or has expired. Start again.")
		}
		enabledNow = before == 0
		if set != nil && enabledNow {
			if err := replaceBackupSet(ctx, tx, set); err != nil {
				return err
			}
		}
		if enabledNow {
			if err := newEpoch(ctx, tx, m.UserID, keepSession); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET preferred_method = $1 WHERE id = $2 AND preferred_method = ''`, m.Type, m.UserID); err != nil {
			return err
		}
		if err := refreshTwoFactor(ctx, tx, m.UserID); err != nil {
			return err
		}
		if record != nil {
			return writeRecord(ctx, tx, record(enabledNow))
		}
		return nil
	})
	m.ConfirmedAt = at
	return enabledNow, err
}

// DeleteMethod removes one method of a user. If it was the preferred type
// and no other method of that type is left, another confirmed type becomes
// preferred. The user's last confirmed method is refused (ErrLastMethod):
// that is turning 2FA off, which has its own checks. The count and the
// delete are one decision under the user's row lock, so two removals at
// once of a user's last two methods cannot both succeed. Removing a
// passkey (a complete sign-in on its own) moves the credential epoch on:
// every session but the one in rec ends.
func (db *DB) DeleteMethod(ctx context.Context, userID, id string, rec *portal.Record) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if err := lockUser(ctx, tx, userID); err != nil {
			return err
		}
		if err := liveSession(ctx, tx, recSession(rec)); err != nil {
			return err
		}
		var confirmed, others int64
		var typ string
		err := tx.QueryRowContext(ctx, `SELECT m.confirmed_at, m.type,
			(SELECT COUNT(*) FROM methods o WHERE o.user_id = m.user_id AND o.confirmed_at > 0 AND o.id <> m.id)
			FROM methods m WHERE m.id = $1 AND m.user_id = $2`, id, userID).Scan(&confirmed, &typ, &others)
		if err != nil {
			return notFound(err)
		}
		if confirmed > 0 && others == 0 {
			return portal.ErrLastMethod
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM methods WHERE id = $1 AND user_id = $2`, id, userID); err != nil {
			return err
		}
		if typ == portal.MethodPasskey && confirmed > 0 {
			// A passkey signs in on its own, as the password does: the
			// sessions (and apps) it may have signed in end with it, as
			// they do when the password changes. The removing session
			// stays.
			if err := newEpoch(ctx, tx, userID, recSession(rec)); err != nil {
				return err
			}
		}
		if err := choosePreferred(ctx, tx, userID); err != nil {
			return err
		}
		if err := refreshTwoFactor(ctx, tx, userID); err != nil {
			return err
		}
		return writeRecord(ctx, tx, rec)
	})
}

// choosePreferred keeps the user's preferred method type while they still
// have one of it, else takes their oldest confirmed one (none: empty).
func choosePreferred(ctx context.Context, tx *sql.Tx, userID string) error {
	_, err := tx.ExecContext(ctx, `UPDATE users SET preferred_method = COALESCE(
		(SELECT m.type FROM methods m WHERE m.user_id = users.id AND m.confirmed_at > 0 AND m.type = users.preferred_method LIMIT 1),
		(SELECT m.type FROM methods m WHERE m.user_id = users.id AND m.confirmed_at > 0 ORDER BY m.created_at LIMIT 1), '')
		WHERE id = $1`, userID)
	return err
}

// DeletePendingMethods removes unconfirmed methods of one type.
func (db *DB) DeletePendingMethods(ctx context.Context, userID, typ string) error {
	_, err := db.rw.ExecContext(ctx, `DELETE FROM methods WHERE user_id = $1 AND type = $2 AND confirmed_at = 0`, userID, typ)
	return err
}

// registeredOnce refuses to confirm a hardware key the user has confirmed
// already: a YubiKey (its public id), or a WebAuthn credential (its id) as
// a security key or as a passkey. Two enrolments at once are decided here,
// under the user's lock; excludeCredentials is only a hint to the client,
// fixed when each ceremony began.
func registeredOnce(ctx context.Context, tx *sql.Tx, m *portal.Method) error {
	kinds, refusal := []string{portal.MethodYubicoOTP, portal.MethodYubicoOTP}, errKeyTwice
	switch m.Type {
	case portal.MethodYubicoOTP:
	case portal.MethodWebAuthn, portal.MethodPasskey:
		kinds, refusal = []string{portal.MethodWebAuthn, portal.MethodPasskey}, errCredentialTwice
	default:
		return nil
	}
	if m.Data == "" {
		return nil
	}
	var same int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM methods WHERE user_id = $1 AND type IN ($2, $3) AND data = $4 AND confirmed_at > 0 AND id <> $5`,
		m.UserID, kinds[0], kinds[1], m.Data, m.ID).Scan(&same); err != nil {
		return err
	}
	if same > 0 {
		return refusal
	}
	return nil
}

var (
	errKeyTwice        = portal.Errorf(portal.ECONFLICT, "This YubiKey is already registered.")
	errCredentialTwice = portal.Errorf(portal.ECONFLICT, "The security key could not be registered. Try again.")
)

// DeletePendingMethod removes one method while it is still unconfirmed:
// the check and the delete are one statement, so a method confirmed after
// the caller listed it as pending stays.
func (db *DB) DeletePendingMethod(ctx context.Context, userID, id string) error {
	return db.exec1(ctx, `DELETE FROM methods WHERE id = $1 AND user_id = $2 AND confirmed_at = 0`, id, userID)
}

// ConsumeStep is the atomic replay guard: the step must be later than any
// accepted before.
func (db *DB) ConsumeStep(ctx context.Context, methodID string, step, at int64) (bool, error) {
	var used bool
	err := db.group(ctx, func(ctx context.Context, tx *sql.Tx) (err error) {
		used, err = consumeStep(ctx, tx, methodID, step, at)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("consume step: %w", err)
	}
	return used, nil
}

func consumeStep(ctx context.Context, tx *sql.Tx, methodID string, step, at int64) (bool, error) {
	st := consumeStmt(methodID, step, at)
	res, err := tx.ExecContext(ctx, st.sql, st.args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// consumeStmt uses up a TOTP step: one row changed, or none when this step
// (or a later one) was used already.
func consumeStmt(methodID string, step, at int64) statement {
	return statement{`UPDATE methods SET last_step = $1, last_used_at = $2 WHERE id = $3 AND last_step < $1 AND confirmed_at > 0`, []any{step, at, methodID}}
}

// TouchMethod records a use.
func (db *DB) TouchMethod(ctx context.Context, methodID string, at int64) error {
	_, err := db.rw.ExecContext(ctx, `UPDATE methods SET last_used_at = $1 WHERE id = $2`, at, methodID)
	return err
}

// SetPreferredMethod sets the method type offered first; the user must
// have a confirmed method of that type.
func (db *DB) SetPreferredMethod(ctx context.Context, userID, typ string) error {
	res, err := db.rw.ExecContext(ctx, `UPDATE users SET preferred_method = $1 WHERE id = $2
		AND EXISTS (SELECT 1 FROM methods m WHERE m.user_id = $2 AND m.type = $1 AND m.confirmed_at > 0)`, typ, userID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return portal.Errorf(portal.EINVALID, "You have no confirmed method of that kind.")
	}
	return nil
}

// ReplaceBackupSet makes set the user's only backup codes.
func (db *DB) ReplaceBackupSet(ctx context.Context, set *portal.BackupSet, rec *portal.Record) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if err := lockUser(ctx, tx, set.UserID); err != nil {
			return err
		}
		if err := liveSession(ctx, tx, recSession(rec)); err != nil {
			return err
		}
		// Backup codes come with 2FA: a set for a user whose last method
		// went meanwhile would outlive it.
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM methods WHERE user_id = $1 AND confirmed_at > 0`, set.UserID).Scan(&n); err != nil {
			return err
		} else if n == 0 {
			return portal.Errorf(portal.ECONFLICT, "Turn on two-factor authentication first; backup codes come with it.")
		}
		if err := replaceBackupSet(ctx, tx, set); err != nil {
			return err
		}
		return writeRecord(ctx, tx, rec)
	})
}

// session is the session making the change ("" for none).
func recSession(rec *portal.Record) string {
	if rec == nil {
		return ""
	}
	return rec.Session
}

// writeRecord writes a change's audit event and notice in its transaction.
func writeRecord(ctx context.Context, tx *sql.Tx, rec *portal.Record) error {
	if rec == nil {
		return nil
	}
	if rec.Event != nil {
		if err := addEvent(ctx, tx, rec.Event); err != nil {
			return err
		}
	}
	if rec.Notice != nil {
		return enqueue(ctx, tx, rec.Notice)
	}
	return nil
}

func replaceBackupSet(ctx context.Context, tx *sql.Tx, set *portal.BackupSet) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM backup_codes WHERE user_id = $1`, set.UserID); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM backup_sets WHERE user_id = $1`, set.UserID); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO backup_sets (user_id, id, params, created_at) VALUES ($1, $2, $3, $4)`,
		set.UserID, set.ID, set.Params, set.CreatedAt); err != nil {
		return err
	}
	for _, h := range set.Hashes {
		if _, err := tx.ExecContext(ctx, `INSERT INTO backup_codes (set_id, user_id, hash, used_at) VALUES ($1, $2, $3, 0)`, set.ID, set.UserID, h); err != nil {
			return err
		}
	}
	return nil
}

// BackupParams returns the set's hashing parameters and how many codes are
// unused.
func (db *DB) BackupParams(ctx context.Context, userID string) (string, int, error) {
	var params string
	var left int
	err := db.ro.QueryRowContext(ctx, `SELECT s.params, (SELECT COUNT(*) FROM backup_codes c WHERE c.user_id = s.user_id AND c.used_at = 0)
		FROM backup_sets s WHERE s.user_id = $1`, userID).Scan(&params, &left)
	if err != nil {
		return "", 0, notFound(err)
	}
	return params, left, nil
}

// ConsumeBackupCode uses a code exactly once.
func (db *DB) ConsumeBackupCode(ctx context.Context, userID, hash string, at int64) (bool, error) {
	res, err := db.rw.ExecContext(ctx, `UPDATE backup_codes SET used_at = $1 WHERE user_id = $2 AND hash = $3 AND used_at = 0`, at, userID, hash)
	if err != nil {
		return false, fmt.Errorf("consume backup code: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// DisableTwoFactor removes all 2FA state of a user in one transaction and
// ends their other sessions.
func (db *DB) DisableTwoFactor(ctx context.Context, userID, keepSession string, rec *portal.Record) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if err := lockUser(ctx, tx, userID); err != nil {
			return err
		}
		if err := liveSession(ctx, tx, keepSession); err != nil {
			return err
		}
		at := time.Now().Unix()
		if rec != nil && rec.Event != nil {
			at = rec.Event.CreatedAt
		}
		if err := disableTwoFactor(ctx, tx, userID, keepSession, at); err != nil {
			return err
		}
		return writeRecord(ctx, tx, rec)
	})
}

// ResetTwoFactor is a reset by staff: 2FA is disabled, every session ends,
// and the audit event, the user's notice and the recovery request it
// completes are written in the same transaction, so a crash leaves either
// none of it or all of it.
func (db *DB) ResetTwoFactor(ctx context.Context, r *portal.Reset) (bool, error) {
	done := false
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if r.Recovery != "" {
			ok, err := completeRecovery(ctx, tx, r.Recovery, r.At)
			if err != nil || !ok {
				return err
			}
		}
		if err := disableTwoFactor(ctx, tx, r.UserID, "", r.At); err != nil {
			return err
		}
		if err := writeRecord(ctx, tx, &portal.Record{Event: r.Event, Notice: r.Notice}); err != nil {
			return err
		}
		done = true
		return nil
	})
	return done, err
}

func disableTwoFactor(ctx context.Context, tx *sql.Tx, userID, keepSession string, at int64) error {
	if err := lockUser(ctx, tx, userID); err != nil {
		return err
	}
	// With 2FA gone, an open recovery request has nothing left to remove
	// but what the user sets up next: it is cancelled (the one a reset
	// completes is closed already).
	cancel := cancelRecoveriesStmt(userID, at)
	if _, err := tx.ExecContext(ctx, cancel.sql, cancel.args...); err != nil {
		return err
	}
	for _, q := range []string{
		`DELETE FROM methods WHERE user_id = $1`,
		`DELETE FROM backup_codes WHERE user_id = $1`,
		`DELETE FROM backup_sets WHERE user_id = $1`,
		`UPDATE users SET preferred_method = '' WHERE id = $1`,
		`DELETE FROM browsers WHERE user_id = $1`,
		// A pending email change or invitation into the account must not
		// survive the remedy of a compromised account.
		`DELETE FROM tokens WHERE user_id = $1 AND kind IN ('change_email', 'invite') AND used_at = 0`,
	} {
		if _, err := tx.ExecContext(ctx, q, userID); err != nil {
			return err
		}
	}
	if err := refreshTwoFactor(ctx, tx, userID); err != nil {
		return err
	}
	// A frozen second-factor limit must not greet the user's next set-up.
	if err := resetAttempts(ctx, tx, portal.SecondFactorUserLimit, userID); err != nil {
		return err
	}
	return newEpoch(ctx, tx, userID, keepSession)
}

// SealedSecrets lists every method with a sealed secret.
func (db *DB) SealedSecrets(ctx context.Context) ([]*portal.Method, error) {
	return queryAll(ctx, db, scanMethod, `SELECT `+methodColumns+` FROM methods WHERE secret <> '' ORDER BY id`)
}

// ReplaceSecret swaps a sealed secret, only if it has not changed meanwhile.
func (db *DB) ReplaceSecret(ctx context.Context, methodID, old, new string) error {
	err := db.exec1(ctx, `UPDATE methods SET secret = $1 WHERE id = $2 AND secret = $3`, new, methodID, old)
	if errors.Is(err, portal.ErrNotFound) {
		return portal.Errorf(portal.ECONFLICT, "method %s changed during rotation", methodID)
	}
	return err
}

// UpdateStep moves a counter if it is still old.
func (db *DB) UpdateStep(ctx context.Context, methodID string, old, new, at int64) (bool, error) {
	res, err := db.rw.ExecContext(ctx, `UPDATE methods SET last_step = $1, last_used_at = $2 WHERE id = $3 AND last_step = $4`, new, at, methodID, old)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// RenameMethod changes a method's label.
func (db *DB) RenameMethod(ctx context.Context, userID, id, name string) error {
	return db.exec1(ctx, `UPDATE methods SET name = $1 WHERE id = $2 AND user_id = $3 AND confirmed_at > 0`, name, id, userID)
}
