package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/clientportal/portal"
)

var _ portal.UserStore = (*DB)(nil)

const userColumns = `u.id, u.account_id, u.email, u.name, u.role, u.password_hash, u.disabled, u.email_verified_at, u.created_at, u.last_login_at, u.preferred_method`

func scanUser(row interface{ Scan(...any) error }, u *portal.User) error {
	return row.Scan(&u.ID, &u.AccountID, &u.Email, &u.Name, &u.Role, &u.PasswordHash, &u.Disabled, &u.EmailVerifiedAt, &u.CreatedAt, &u.LastLoginAt, &u.PreferredMethod)
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
		if _, err := consumeToken(ctx, tx, kind, tokenID, now); err != nil {
			return err
		}
		return createUser(ctx, tx, u, acct)
	})
}

func createUser(ctx context.Context, tx *sql.Tx, u *portal.User, acct *portal.Account) error {
	if acct != nil {
		if _, err := tx.ExecContext(ctx, `INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3)`,
			acct.ID, acct.Name, acct.CreatedAt); err != nil {
			return fmt.Errorf("create account: %w", err)
		}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO users (id, account_id, email, email_key, name, role, password_hash, disabled, email_verified_at, created_at, last_login_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		u.ID, u.AccountID, u.Email, strings.ToLower(u.Email), u.Name, u.Role, u.PasswordHash, bool2int(u.Disabled), u.EmailVerifiedAt, u.CreatedAt, u.LastLoginAt)
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

// CountStaff counts admin users.
func (db *DB) CountStaff(ctx context.Context) (int, error) {
	var n int
	err := db.ro.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE role = $1`, portal.RoleAdmin).Scan(&n)
	return n, err
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

// ChangeEmail moves a user to a new (verified) address.
func (db *DB) ChangeEmail(ctx context.Context, userID, email string, at int64) (*portal.User, error) {
	var before *portal.User
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var u portal.User
		if err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = $1`, userID), &u); err != nil {
			return notFound(err)
		}
		before = &u
		_, err := tx.ExecContext(ctx, `UPDATE users SET email = $1, email_key = $2, email_verified_at = $3 WHERE id = $4`, email, strings.ToLower(email), at, userID)
		if isUnique(err) {
			return portal.Errorf(portal.ECONFLICT, "Another account already uses this email address.")
		}
		return err
	})
	return before, err
}
