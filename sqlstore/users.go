package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/clientportal/portal"
)

var _ portal.UserStore = (*DB)(nil)

const userColumns = `u.id, u.account_id, u.email, u.name, u.role, u.password_hash, u.disabled, u.email_verified_at, u.created_at, u.last_login_at, u.preferred_method, u.auth_epoch, u.locale`

func scanUser(row interface{ Scan(...any) error }, u *portal.User) error {
	return row.Scan(userFields(u)...)
}

// userFields are the scan targets of userColumns.
func userFields(u *portal.User) []any {
	return []any{&u.ID, &u.AccountID, &u.Email, &u.Name, &u.Role, &u.PasswordHash, &u.Disabled, &u.EmailVerifiedAt, &u.CreatedAt, &u.LastLoginAt, &u.PreferredMethod, &u.AuthEpoch, &u.Locale}
}

// CreateUser stores u, and acct first when given.
func (db *DB) CreateUser(ctx context.Context, u *portal.User, acct *portal.Account) error {
	return db.tx(ctx, func(tx *sql.Tx) error { return createUser(ctx, tx, u, acct) })
}

// CreateUserWithToken consumes a one-time token (a set-up link or an
// invitation) and creates the user in the same transaction: the token works
// once, and only if the user was created.
func (db *DB) CreateUserWithToken(ctx context.Context, u *portal.User, acct *portal.Account, kind, tokenID string, now int64) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		t, err := consumeToken(ctx, tx, kind, tokenID, now)
		if err != nil {
			return err
		}
		if err := createUser(ctx, tx, u, acct); err != nil {
			return err
		}
		if kind == portal.TokenInvite {
			// The used invitation names who joined through it: securing
			// the account removes that user, whatever address they have
			// moved to since (undoMembers).
			return noteJoined(ctx, tx, t, u.ID)
		}
		return nil
	})
}

// noteJoined records in a used invitation the id of the user it made.
func noteJoined(ctx context.Context, tx *sql.Tx, t *portal.Token, userID string) error {
	d := map[string]any{}
	json.Unmarshal([]byte(t.Data), &d)
	d["user_id"] = userID
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE tokens SET data = $1 WHERE id = $2 AND kind = $3`, string(b), t.ID, portal.TokenInvite)
	return err
}

// CreateFirstAdmin consumes a set-up token and creates u, an administrator,
// in one transaction that first takes the staff lock and counts the staff:
// once anyone is staff, every set-up link is dead, however old, and two
// set-ups racing each other (or `users create --admin`) make one first
// administrator.
func (db *DB) CreateFirstAdmin(ctx context.Context, u *portal.User, tokenID string, now int64) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if err := noStaffYet(ctx, tx); err != nil {
			return err
		}
		if _, err := consumeToken(ctx, tx, portal.TokenSetup, tokenID, now); err != nil {
			return err
		}
		return createUser(ctx, tx, u, nil)
	})
}

// noStaffYet takes the staff lock and refuses (ErrStaffExists) when
// anyone is staff already.
func noStaffYet(ctx context.Context, tx *sql.Tx) error {
	if err := lockStaff(ctx, tx); err != nil {
		return err
	}
	if n, err := countStaff(ctx, tx); err != nil {
		return err
	} else if n > 0 {
		return portal.ErrStaffExists
	}
	return nil
}

// lockStaff serializes the transactions that create staff or hand out a
// set-up link: each first writes the same settings row, so on PostgreSQL
// (READ COMMITTED) a second one waits for the first to commit, and its
// next statement counts the staff the first created. SQLite runs one write
// transaction at a time anyway.
func lockStaff(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES ('staff_lock', '') ON CONFLICT (key) DO UPDATE SET value = excluded.value`)
	if err != nil {
		return fmt.Errorf("staff lock: %w", err)
	}
	return nil
}

func countStaff(ctx context.Context, q execer) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE role = $1`, portal.RoleAdmin).Scan(&n)
	return n, err
}

func createUser(ctx context.Context, tx *sql.Tx, u *portal.User, acct *portal.Account) error {
	if u.Role == portal.RoleAdmin {
		// With staff, no set-up link may create another first
		// administrator: take the lock the set-up waits on, and delete
		// the links.
		if err := lockStaff(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE kind = $1`, portal.TokenSetup); err != nil {
			return fmt.Errorf("delete set-up links: %w", err)
		}
	}
	if acct != nil {
		if _, err := tx.ExecContext(ctx, `INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3)`,
			acct.ID, acct.Name, acct.CreatedAt); err != nil {
			return fmt.Errorf("create account: %w", err)
		}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO users (id, account_id, email, email_key, name, role, password_hash, disabled, email_verified_at, created_at, last_login_at, locale)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		u.ID, u.AccountID, u.Email, strings.ToLower(u.Email), u.Name, u.Role, u.PasswordHash, bool2int(u.Disabled), u.EmailVerifiedAt, u.CreatedAt, u.LastLoginAt, u.Locale)
	if isUnique(err) {
		return portal.Errorf(portal.ECONFLICT, "An account with this email address already exists.")
	} else if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	return nil
}

// UserByID finds a user by id.
func (db *DB) UserByID(ctx context.Context, id string) (*portal.User, error) {
	var u portal.User
	err := scanUser(db.ro.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = $1`, id), &u)
	if err != nil {
		return nil, notFound(err)
	}
	return &u, nil
}

// UserByEmail finds a user by email, ignoring case.
func (db *DB) UserByEmail(ctx context.Context, email string) (*portal.User, error) {
	var u portal.User
	err := scanUser(db.ro.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u WHERE u.email_key = $1`, strings.ToLower(email)), &u)
	if err != nil {
		return nil, notFound(err)
	}
	return &u, nil
}

// UpdatePasswordHash replaces a user's password hash.
func (db *DB) UpdatePasswordHash(ctx context.Context, userID, hash string) error {
	return db.exec1(ctx, `UPDATE users SET password_hash = $1 WHERE id = $2`, hash, userID)
}

// ChangePassword sets a new password hash and, in the same transaction,
// ends every session of the user but keepSession, forgets their remembered
// browsers, revokes pending email-change links and writes rec.
func (db *DB) ChangePassword(ctx context.Context, userID, hash, keepSession string, rec *portal.Record) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if err := lockUser(ctx, tx, userID); err != nil {
			return err
		}
		if err := liveSession(ctx, tx, keepSession); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $1 WHERE id = $2`, hash, userID)
		if err != nil {
			return err
		} else if n, _ := res.RowsAffected(); n != 1 {
			return portal.ErrNotFound
		}
		if err := newEpoch(ctx, tx, userID, keepSession); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM browsers WHERE user_id = $1`,
			// A new password is the remedy of a compromised account: what
			// a session that held the old one could have left to keep a way
			// in goes (an email change, invitations into the account), and
			// so does a reset link asked for before it.
			`DELETE FROM tokens WHERE user_id = $1 AND kind IN ('change_email', 'invite', 'reset') AND used_at = 0`,
		} {
			if _, err := tx.ExecContext(ctx, q, userID); err != nil {
				return err
			}
		}
		return writeRecord(ctx, tx, rec)
	})
}

// ResetPassword uses a password-reset link (see portal.UserStore). rec
// renders the record knowing the user.
func (db *DB) ResetPassword(ctx context.Context, tokenID, hash string, at int64, rec func(u *portal.User) (*portal.Record, error)) (*portal.User, error) {
	var u portal.User
	err := db.tx(ctx, func(tx *sql.Tx) error {
		t, err := consumeToken(ctx, tx, portal.TokenReset, tokenID, at)
		if err != nil {
			return err
		}
		if err := lockUser(ctx, tx, t.UserID); err != nil {
			return err
		}
		if err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = $1`, t.UserID), &u); err != nil {
			return notFound(err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $1 WHERE id = $2`, hash, u.ID); err != nil {
			return err
		}
		if err := newEpoch(ctx, tx, u.ID, ""); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM browsers WHERE user_id = $1`,
			// As a password change does (ChangePassword).
			`DELETE FROM tokens WHERE user_id = $1 AND kind IN ('change_email', 'invite', 'reset') AND used_at = 0`,
		} {
			if _, err := tx.ExecContext(ctx, q, u.ID); err != nil {
				return err
			}
		}
		r, err := rec(&u)
		if err != nil {
			return err
		}
		return writeRecord(ctx, tx, r)
	})
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// newEpoch moves the user's credential epoch on, in tx: every session
// but keepSession ends (and one still being signed in will be dead on
// arrival); keepSession moves with it; every token apps hold for the user
// ends.
func newEpoch(ctx context.Context, tx *sql.Tx, userID, keepSession string) error {
	if _, err := tx.ExecContext(ctx, `UPDATE users SET auth_epoch = auth_epoch + 1 WHERE id = $1`, userID); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE sessions SET auth_epoch = (SELECT auth_epoch FROM users WHERE id = $1) WHERE id = $2`, userID, keepSession); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1 AND id <> $2`, userID, keepSession); err != nil {
		return err
	}
	// Apps signed in with the old credentials sign in again.
	_, err := tx.ExecContext(ctx, `DELETE FROM oidc_tokens WHERE user_id = $1`, userID)
	return err
}

// errSessionEnded refuses a change whose session ended while it ran.
var errSessionEnded = portal.Errorf(portal.EUNAUTHORIZED, "Your session ended while this change was being made (your password or two-factor settings changed). Sign in again.")

// liveSession refuses (errSessionEnded) unless session ("" for none) is
// still there, at its user's current credential epoch. Call it after
// taking the lock of the user whose credentials could change.
func liveSession(ctx context.Context, tx *sql.Tx, session string) error {
	if session == "" {
		return nil
	}
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1 AND s.auth_epoch = u.auth_epoch`, session).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return errSessionEnded
	}
	return err
}

// CountStaff counts admin users.
func (db *DB) CountStaff(ctx context.Context) (int, error) {
	return countStaff(ctx, db.ro)
}

// exec1 runs a statement that must change exactly one row.
func (db *DB) exec1(ctx context.Context, query string, args ...any) error {
	res, err := db.rw.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return portal.ErrNotFound
	}
	return nil
}

// VerifyEmail marks an address verified, if the user still has it.
func (db *DB) VerifyEmail(ctx context.Context, userID, email string, at int64) error {
	return db.exec1(ctx, `UPDATE users SET email_verified_at = $1 WHERE id = $2 AND email_key = $3`, at, userID, strings.ToLower(email))
}

// ChangeEmail uses an email-change link: the link is consumed, and the
// account moves to the new address only if it still has the address the
// link was sent from; other pending address links of the user die.
func (db *DB) ChangeEmail(ctx context.Context, tokenID string, at int64) (*portal.User, portal.EmailChange, error) {
	var before *portal.User
	var change portal.EmailChange
	err := db.tx(ctx, func(tx *sql.Tx) error {
		t, err := consumeToken(ctx, tx, portal.TokenChangeEmail, tokenID, at)
		if err != nil {
			return portal.Errorf(portal.ENOTFOUND, "This link is invalid, expired or already used. Ask for a new one on the Security page.")
		}
		if change, err = portal.ParseEmailChange(t.Data); err != nil {
			return err
		}
		var u portal.User
		if err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = $1`, t.UserID), &u); err != nil {
			return notFound(err)
		}
		if !strings.EqualFold(u.Email, change.From) {
			return portal.Errorf(portal.ECONFLICT, "This link was sent before your address changed, so it no longer works. Ask for a new one on the Security page.")
		}
		before = &u
		_, err = tx.ExecContext(ctx, `UPDATE users SET email = $1, email_key = $2, email_verified_at = $3 WHERE id = $4 AND email_key = $5`,
			change.To, strings.ToLower(change.To), at, u.ID, strings.ToLower(change.From))
		if isUnique(err) {
			return portal.Errorf(portal.ECONFLICT, "Another account already uses this email address.")
		} else if err != nil {
			return err
		}
		// The links that went to the old address die with it: a
		// password reset or an unlock link must not outlive the owner's
		// leaving a mailbox.
		_, err = tx.ExecContext(ctx, `DELETE FROM tokens WHERE user_id = $1 AND kind IN ('change_email', 'verify_email', 'reset', 'unlock_2fa') AND used_at = 0`, u.ID)
		return err
	})
	return before, change, err
}

// SetDisabled disables or enables a user with its record, in one
// transaction. Disabling moves the credential epoch on (every session,
// device cookie and app token ends) and forgets remembered browsers.
func (db *DB) SetDisabled(ctx context.Context, userID string, disabled bool, rec *portal.Record) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if err := lockUser(ctx, tx, userID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE users SET disabled = $1 WHERE id = $2 AND disabled <> $1`, bool2int(disabled), userID)
		if err != nil {
			return err
		} else if n, _ := res.RowsAffected(); n != 1 {
			return portal.ErrNotFound
		}
		if disabled {
			if err := newEpoch(ctx, tx, userID, ""); err != nil {
				return err
			}
			// Links sent before (a password reset, a welcome link, an
			// address change) die with it.
			for _, q := range []string{`DELETE FROM browsers WHERE user_id = $1`, `DELETE FROM tokens WHERE user_id = $1 AND used_at = 0`} {
				if _, err := tx.ExecContext(ctx, q, userID); err != nil {
					return err
				}
			}
		}
		return writeRecord(ctx, tx, rec)
	})
}

// SetLocale stores the language the user chose ("" = none).
func (db *DB) SetLocale(ctx context.Context, userID, locale string) error {
	res, err := db.rw.ExecContext(ctx, `UPDATE users SET locale = $1 WHERE id = $2`, locale, userID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return portal.ErrNotFound
	}
	return nil
}
