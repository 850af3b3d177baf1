package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/clientportal/portal"
)

const apiTokenColumns = `id, name, hash, scopes, created_by, created_at, expires_at, last_used_at, revoked_at`

func scanAPIToken(row scanner) (*portal.APIToken, error) {
	var t portal.APIToken
	var scopes string
	err := row.Scan(&t.ID, &t.Name, &t.Hash, &scopes, &t.CreatedBy, &t.CreatedAt, &t.ExpiresAt, &t.LastUsedAt, &t.RevokedAt)
	t.Scopes = strings.Fields(scopes)
	return &t, err
}

// CreateAPIToken stores a new token (its hash only).
func (db *DB) CreateAPIToken(ctx context.Context, t *portal.APIToken) error {
	_, err := db.rw.ExecContext(ctx, `INSERT INTO api_tokens (`+apiTokenColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		t.ID, t.Name, t.Hash, strings.Join(t.Scopes, " "), t.CreatedBy, t.CreatedAt, t.ExpiresAt, t.LastUsedAt, t.RevokedAt)
	return err
}

// APITokenByHash finds a token by its hash.
func (db *DB) APITokenByHash(ctx context.Context, hash string) (*portal.APIToken, error) {
	t, err := scanAPIToken(db.ro.QueryRowContext(ctx, `SELECT `+apiTokenColumns+` FROM api_tokens WHERE hash = $1`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, portal.ErrNotFound
	}
	return t, err
}

// APITokens lists every token, newest first.
func (db *DB) APITokens(ctx context.Context) ([]*portal.APIToken, error) {
	return queryAll(ctx, db, scanAPIToken, `SELECT `+apiTokenColumns+` FROM api_tokens ORDER BY created_at DESC, id`)
}

// RevokeAPIToken ends a token that still works.
func (db *DB) RevokeAPIToken(ctx context.Context, id string, at int64) error {
	return db.exec1(ctx, `UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at = 0`, at, id)
}

// TouchAPIToken records a use, writing at most once a minute.
func (db *DB) TouchAPIToken(ctx context.Context, id string, at int64) error {
	_, err := db.rw.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = $1 WHERE id = $2 AND last_used_at < $3`, at, id, at-60)
	return err
}
