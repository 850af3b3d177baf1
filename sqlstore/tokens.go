package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/clientportal/portal"
)

var _ portal.TokenStore = (*DB)(nil)

// CreateToken stores a one-time token (by hash).
func (db *DB) CreateToken(ctx context.Context, t *portal.Token) error {
	_, err := db.rw.ExecContext(ctx, `INSERT INTO tokens (id, kind, user_id, account_id, data, created_at, expires_at, used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 0)`,
		t.ID, t.Kind, t.UserID, t.AccountID, t.Data, t.CreatedAt, t.ExpiresAt)
	return err
}

// ReplaceToken stores t after deleting the user's unused tokens of its
// kind, in one transaction; with session, only while that session lives.
func (db *DB) ReplaceToken(ctx context.Context, t *portal.Token, session string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if session != "" {
			if err := lockUser(ctx, tx, t.UserID); err != nil {
				return err
			}
			if err := liveSession(ctx, tx, session); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE user_id = $1 AND kind = $2 AND used_at = 0`, t.UserID, t.Kind); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO tokens (id, kind, user_id, account_id, data, created_at, expires_at, used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 0)`,
			t.ID, t.Kind, t.UserID, t.AccountID, t.Data, t.CreatedAt, t.ExpiresAt)
		return err
	})
}

// CreateSetupToken stores a set-up link's token in place of every older
// one, unless staff exist (portal.ErrStaffExists); the check and the
// replacement hold the staff lock, as creating staff does.
func (db *DB) CreateSetupToken(ctx context.Context, t *portal.Token) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if err := noStaffYet(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE kind = $1`, portal.TokenSetup); err != nil {
			return fmt.Errorf("delete older set-up links: %w", err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO tokens (id, kind, user_id, account_id, data, created_at, expires_at, used_at) VALUES ($1, $2, '', '', '', $3, $4, 0)`,
			t.ID, portal.TokenSetup, t.CreatedAt, t.ExpiresAt)
		return err
	})
}

// TokenByID finds an unused, unexpired token.
func (db *DB) TokenByID(ctx context.Context, kind, id string, now int64) (*portal.Token, error) {
	var t portal.Token
	err := db.ro.QueryRowContext(ctx, `SELECT id, kind, user_id, account_id, data, created_at, expires_at, used_at FROM tokens
		WHERE id = $1 AND kind = $2 AND used_at = 0 AND expires_at > $3`, id, kind, now).
		Scan(&t.ID, &t.Kind, &t.UserID, &t.AccountID, &t.Data, &t.CreatedAt, &t.ExpiresAt, &t.UsedAt)
	if err != nil {
		return nil, notFound(err)
	}
	return &t, nil
}

// ConsumeToken marks a token used, exactly once.
func (db *DB) ConsumeToken(ctx context.Context, kind, id string, now int64) (*portal.Token, error) {
	var t *portal.Token
	err := db.tx(ctx, func(tx *sql.Tx) (err error) {
		t, err = consumeToken(ctx, tx, kind, id, now)
		return err
	})
	return t, err
}

func consumeToken(ctx context.Context, tx *sql.Tx, kind, id string, now int64) (*portal.Token, error) {
	var t portal.Token
	err := tx.QueryRowContext(ctx, `UPDATE tokens SET used_at = $1 WHERE id = $2 AND kind = $3 AND used_at = 0 AND expires_at > $1
		RETURNING id, kind, user_id, account_id, data, created_at, expires_at, used_at`, now, id, kind).
		Scan(&t.ID, &t.Kind, &t.UserID, &t.AccountID, &t.Data, &t.CreatedAt, &t.ExpiresAt, &t.UsedAt)
	if err != nil {
		return nil, fmt.Errorf("consume token: %w", notFound(err))
	}
	return &t, nil
}

// DeleteToken removes a token.
func (db *DB) DeleteToken(ctx context.Context, kind, id string) error {
	_, err := db.rw.ExecContext(ctx, `DELETE FROM tokens WHERE id = $1 AND kind = $2`, id, kind)
	return err
}
