package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/clientportal/portal"
)

var _ portal.AppStore = (*DB)(nil)

func joinList(l []string) string { return strings.Join(l, "\n") }

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

const appColumns = `id, name, logo_url, secret_hash, redirect_uris, post_logout_uris, public, skip_consent, requires_2fa, scopes, grant_types, signing_alg, created_at`

func scanApp(row interface{ Scan(...any) error }) (*portal.App, error) {
	var a portal.App
	var redirects, logouts, scopes, grants string
	var public, skip, req int
	if err := row.Scan(&a.ID, &a.Name, &a.LogoURL, &a.SecretHash, &redirects, &logouts, &public, &skip, &req, &scopes, &grants, &a.SigningAlg, &a.CreatedAt); err != nil {
		return nil, err
	}
	a.RedirectURIs, a.PostLogoutURIs, a.Scopes, a.GrantTypes = splitList(redirects), splitList(logouts), splitList(scopes), splitList(grants)
	a.Public, a.SkipConsent, a.Requires2FA = public == 1, skip == 1, req == 1
	return &a, nil
}

func appArgs(a *portal.App) []any {
	return []any{a.ID, a.Name, a.LogoURL, a.SecretHash, joinList(a.RedirectURIs), joinList(a.PostLogoutURIs), boolInt(a.Public), boolInt(a.SkipConsent),
		boolInt(a.Requires2FA), joinList(a.Scopes), joinList(a.GrantTypes), a.SigningAlg, a.CreatedAt}
}

// CreateApp stores a new app.
func (db *DB) CreateApp(ctx context.Context, a *portal.App) error {
	_, err := db.rw.ExecContext(ctx, `INSERT INTO oidc_apps (`+appColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`, appArgs(a)...)
	if isUnique(err) {
		return portal.Errorf(portal.ECONFLICT, "An app with this client ID exists already.")
	}
	return err
}

// UpdateApp replaces an app's settings (its id and creation time stay).
func (db *DB) UpdateApp(ctx context.Context, a *portal.App) error {
	return db.exec1(ctx, `UPDATE oidc_apps SET name = $2, logo_url = $3, secret_hash = $4, redirect_uris = $5, post_logout_uris = $6, public = $7,
		skip_consent = $8, requires_2fa = $9, scopes = $10, grant_types = $11, signing_alg = $12 WHERE id = $1`, appArgs(a)[:12]...)
}

// DeleteApp removes an app, its requests, tokens and consents.
func (db *DB) DeleteApp(ctx context.Context, id string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{`DELETE FROM oidc_tokens WHERE app_id = $1`, `DELETE FROM oidc_consents WHERE app_id = $1`, `DELETE FROM oidc_requests WHERE app_id = $1`} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM oidc_apps WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return portal.ErrNotFound
		}
		return nil
	})
}

// AppByID finds an app.
func (db *DB) AppByID(ctx context.Context, id string) (*portal.App, error) {
	a, err := scanApp(db.ro.QueryRowContext(ctx, `SELECT `+appColumns+` FROM oidc_apps WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err)
	}
	return a, nil
}

// Apps lists every app by name.
func (db *DB) Apps(ctx context.Context) ([]*portal.App, error) {
	rows, err := db.ro.QueryContext(ctx, `SELECT `+appColumns+` FROM oidc_apps ORDER BY name, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*portal.App
	for rows.Next() {
		a, err := scanApp(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

const requestColumns = `id, app_id, data, user_id, auth_time, amr, done, session_id, code_used_at, created_at, expires_at`

func scanRequest(row interface{ Scan(...any) error }) (*portal.AuthRequest, error) {
	var r portal.AuthRequest
	var data string
	var done int
	if err := row.Scan(&r.ID, &r.AppID, &data, &r.UserID, &r.AuthTime, &r.AMR, &done, &r.SessionID, &r.CodeUsedAt, &r.CreatedAt, &r.ExpiresAt); err != nil {
		return nil, err
	}
	r.Data, r.Done = []byte(data), done == 1
	return &r, nil
}

// CreateAuthRequest stores a new authorization request.
func (db *DB) CreateAuthRequest(ctx context.Context, r *portal.AuthRequest) error {
	_, err := db.rw.ExecContext(ctx, `INSERT INTO oidc_requests (id, app_id, data, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		r.ID, r.AppID, string(r.Data), r.CreatedAt, r.ExpiresAt)
	return err
}

// AuthRequestByID finds an unexpired request whose code was not used.
func (db *DB) AuthRequestByID(ctx context.Context, id string, now int64) (*portal.AuthRequest, error) {
	r, err := scanRequest(db.ro.QueryRowContext(ctx, `SELECT `+requestColumns+` FROM oidc_requests WHERE id = $1 AND expires_at > $2 AND code_used_at = 0`, id, now))
	if err != nil {
		return nil, notFound(err)
	}
	return r, nil
}

// exec1Group is exec1 in the group commit.
func (db *DB) exec1Group(ctx context.Context, query string, args ...any) error {
	return db.group(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return portal.ErrNotFound
		}
		return nil
	})
}

// CompleteAuthRequest records the sign-in that answers a request.
func (db *DB) CompleteAuthRequest(ctx context.Context, id, userID string, authTime int64, amr, sessionID string) error {
	return db.exec1Group(ctx, `UPDATE oidc_requests SET user_id = $2, auth_time = $3, amr = $4, session_id = $5, done = 1 WHERE id = $1 AND done = 0 AND code_used_at = 0`,
		id, userID, authTime, amr, sessionID)
}

// SetAuthCode binds a code's hash to a completed request; the code works
// until expiresAt.
func (db *DB) SetAuthCode(ctx context.Context, id, codeHash string, expiresAt int64) error {
	return db.exec1Group(ctx, `UPDATE oidc_requests SET code_hash = $2, expires_at = $3 WHERE id = $1 AND done = 1 AND code_hash IS NULL`, id, codeHash, expiresAt)
}

// AuthRequestByCode finds a code's request. One redeemed already (a
// replay) deletes every token issued from it (RFC 6749 §4.1.2).
func (db *DB) AuthRequestByCode(ctx context.Context, codeHash string, now int64) (*portal.AuthRequest, error) {
	r, err := scanRequest(db.ro.QueryRowContext(ctx, `SELECT `+requestColumns+` FROM oidc_requests WHERE code_hash = $1 AND done = 1 AND expires_at > $2`, codeHash, now))
	if err != nil {
		return nil, notFound(err)
	}
	if r.CodeUsedAt == 0 {
		return r, nil
	}
	if err := db.RevokeGrant(ctx, r.ID); err != nil {
		return nil, err
	}
	return r, portal.ErrCodeReused
}

const tokenColumns = `hash, kind, grant_id, app_id, user_id, scopes, amr, auth_time, created_at, expires_at, used_at`

func scanToken(row interface{ Scan(...any) error }) (*portal.AppToken, error) {
	var t portal.AppToken
	var scopes string
	if err := row.Scan(&t.Hash, &t.Kind, &t.GrantID, &t.AppID, &t.UserID, &scopes, &t.AMR, &t.AuthTime, &t.CreatedAt, &t.ExpiresAt, &t.UsedAt); err != nil {
		return nil, err
	}
	t.Scopes = strings.Fields(scopes)
	return &t, nil
}

// CreateTokens stores tokens of one grant; with rotate, only if that
// refresh token was not used already (else the grant is revoked).
func (db *DB) CreateTokens(ctx context.Context, redeem, rotate string, now int64, tokens ...*portal.AppToken) error {
	if len(tokens) == 0 {
		return nil
	}
	grant, user := tokens[0].GrantID, tokens[0].UserID
	var reused, codeReused bool
	// On SQLite in the group commit: concurrent exchanges share a commit.
	err := db.group(ctx, func(ctx context.Context, tx *sql.Tx) error {
		reused, codeReused = false, false
		if user != "" && db.Dialect == Postgres {
			// A change of the user's credentials (newEpoch) deletes
			// their tokens: it waits for this issue, or this issue
			// sees its end. (SQLite's writes are serial.)
			if _, err := tx.ExecContext(ctx, `SELECT 1 FROM users WHERE id = $1 FOR UPDATE`, user); err != nil {
				return err
			}
		}
		if redeem != "" {
			// One conditional update: of any number of parallel
			// redemptions, on one instance or several, one wins.
			res, err := tx.ExecContext(ctx, `UPDATE oidc_requests SET code_used_at = $2 WHERE id = $1 AND code_used_at = 0 AND done = 1 AND expires_at > $2`, redeem, now)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				codeReused = true
				_, err := tx.ExecContext(ctx, `DELETE FROM oidc_tokens WHERE grant_id = $1`, redeem)
				return err
			}
			// The sign-in behind the code must still stand: a password
			// or 2FA change, a reset or a sign-out since it ended it.
			var one int
			err = tx.QueryRowContext(ctx, `SELECT 1 FROM oidc_requests r JOIN sessions s ON s.id = r.session_id JOIN users u ON u.id = s.user_id
				WHERE r.id = $1 AND s.auth_epoch = u.auth_epoch AND u.disabled = 0`, redeem).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return portal.ErrNotFound
			} else if err != nil {
				return err
			}
		}
		if rotate != "" {
			res, err := tx.ExecContext(ctx, `UPDATE oidc_tokens SET used_at = $2 WHERE hash = $1 AND kind = 'refresh' AND used_at = 0 AND expires_at > $2`, rotate, now)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				reused = true
				_, err := tx.ExecContext(ctx, `DELETE FROM oidc_tokens WHERE grant_id = $1`, grant)
				return err
			}
		}
		for _, t := range tokens {
			if _, err := tx.ExecContext(ctx, `INSERT INTO oidc_tokens (`+tokenColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0)`,
				t.Hash, t.Kind, t.GrantID, t.AppID, t.UserID, strings.Join(t.Scopes, " "), t.AMR, t.AuthTime, t.CreatedAt, t.ExpiresAt); err != nil {
				return err
			}
		}
		return nil
	})
	switch {
	case err != nil:
		return err
	case codeReused:
		return portal.ErrCodeReused
	case reused:
		return portal.ErrTokenReused
	}
	return nil
}

// TokenByHash finds a live token.
func (db *DB) TokenByHash(ctx context.Context, hash string, now int64) (*portal.AppToken, error) {
	t, err := scanToken(db.ro.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM oidc_tokens WHERE hash = $1 AND used_at = 0 AND expires_at > $2`, hash, now))
	if err != nil {
		return nil, notFound(err)
	}
	return t, nil
}

// UseRefreshToken finds a refresh token to exchange; one that was used
// already (a stolen copy, or the thief's) revokes its whole grant.
func (db *DB) UseRefreshToken(ctx context.Context, hash string, now int64) (*portal.AppToken, error) {
	t, err := scanToken(db.ro.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM oidc_tokens WHERE hash = $1 AND kind = 'refresh' AND expires_at > $2`, hash, now))
	if err != nil {
		return nil, notFound(err)
	}
	if t.UsedAt != 0 {
		if err := db.RevokeGrant(ctx, t.GrantID); err != nil {
			return nil, err
		}
		return t, portal.ErrTokenReused
	}
	return t, nil
}

// RevokeToken deletes one token; a refresh token takes its grant along.
func (db *DB) RevokeToken(ctx context.Context, hash string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		var kind, grant string
		if err := tx.QueryRowContext(ctx, `SELECT kind, grant_id FROM oidc_tokens WHERE hash = $1`, hash).Scan(&kind, &grant); err != nil {
			return notFound(err)
		}
		if kind == portal.TokenRefresh {
			_, err := tx.ExecContext(ctx, `DELETE FROM oidc_tokens WHERE grant_id = $1`, grant)
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM oidc_tokens WHERE hash = $1`, hash)
		return err
	})
}

// RevokeGrant deletes every token issued from one authorization.
func (db *DB) RevokeGrant(ctx context.Context, grantID string) error {
	_, err := db.rw.ExecContext(ctx, `DELETE FROM oidc_tokens WHERE grant_id = $1`, grantID)
	return err
}

// RevokeAppTokens deletes the tokens an app holds for a user. It takes the
// user's lock first, as CreateTokens does on PostgreSQL: a refresh rotating
// at that moment commits before the DELETE reads (its new pair goes too) or
// finds its old token gone. Without it the DELETE's snapshot missed the new
// pair while it waited for the old token's row.
func (db *DB) RevokeAppTokens(ctx context.Context, userID, appID string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if err := lockUser(ctx, tx, userID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM oidc_tokens WHERE user_id = $1 AND app_id = $2`, userID, appID)
		return err
	})
}

// RevokeAppAccess withdraws a user's consent, the app's tokens and the
// sign-ins of the user at the app whose code is not redeemed yet (under the
// user's lock, see RevokeAppTokens, which a redemption takes too): an app
// holding back a code must not get tokens with it after the removal.
func (db *DB) RevokeAppAccess(ctx context.Context, userID, appID string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if err := lockUser(ctx, tx, userID); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM oidc_consents WHERE user_id = $1 AND app_id = $2`,
			`DELETE FROM oidc_tokens WHERE user_id = $1 AND app_id = $2`,
			`DELETE FROM oidc_requests WHERE user_id = $1 AND app_id = $2 AND code_used_at = 0`,
		} {
			if _, err := tx.ExecContext(ctx, q, userID, appID); err != nil {
				return err
			}
		}
		return nil
	})
}

// SaveConsent remembers what a user allowed an app.
func (db *DB) SaveConsent(ctx context.Context, userID, appID string, scopes []string, now int64) error {
	_, err := db.rw.ExecContext(ctx, `INSERT INTO oidc_consents (user_id, app_id, scopes, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id, app_id) DO UPDATE SET scopes = excluded.scopes, created_at = excluded.created_at`, userID, appID, strings.Join(scopes, " "), now)
	return err
}

// Consent returns the scopes a user allowed an app (nil: none).
func (db *DB) Consent(ctx context.Context, userID, appID string) ([]string, error) {
	var scopes string
	err := db.ro.QueryRowContext(ctx, `SELECT scopes FROM oidc_consents WHERE user_id = $1 AND app_id = $2`, userID, appID).Scan(&scopes)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return strings.Fields(scopes), err
}

// UserApps lists the apps a user allowed or that hold live tokens.
func (db *DB) UserApps(ctx context.Context, userID string, now int64) ([]*portal.AppAccess, error) {
	rows, err := db.ro.QueryContext(ctx, `SELECT a.id, MAX(x.scopes), MIN(x.at) FROM (
			SELECT app_id, scopes, created_at AS at FROM oidc_consents WHERE user_id = $1
			UNION ALL SELECT app_id, scopes, created_at AS at FROM oidc_tokens WHERE user_id = $1 AND used_at = 0 AND expires_at > $2
		) x JOIN oidc_apps a ON a.id = x.app_id GROUP BY a.id ORDER BY a.id`, userID, now)
	if err != nil {
		return nil, fmt.Errorf("user apps: %w", err)
	}
	type row struct {
		id, scopes string
		at         int64
	}
	var found []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.scopes, &r.at); err != nil {
			rows.Close()
			return nil, err
		}
		found = append(found, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []*portal.AppAccess
	for _, r := range found {
		a, err := db.AppByID(ctx, r.id)
		if err != nil {
			return nil, err
		}
		out = append(out, &portal.AppAccess{App: a, Scopes: strings.Fields(r.scopes), GrantedAt: r.at})
	}
	return out, nil
}

// SigningKeys lists the signing keys, the current (newest unretired) first.
func (db *DB) SigningKeys(ctx context.Context) ([]*portal.SigningKey, error) {
	rows, err := db.ro.QueryContext(ctx, `SELECT id, alg, sealed, created_at, retired_at FROM oidc_keys ORDER BY retired_at, created_at DESC, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*portal.SigningKey
	for rows.Next() {
		var k portal.SigningKey
		if err := rows.Scan(&k.ID, &k.Alg, &k.Sealed, &k.CreatedAt, &k.RetiredAt); err != nil {
			return nil, err
		}
		out = append(out, &k)
	}
	return out, rows.Err()
}

// AddSigningKey stores a new current key of its algorithm, retiring the
// one it replaces.
func (db *DB) AddSigningKey(ctx context.Context, k *portal.SigningKey, now int64) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE oidc_keys SET retired_at = $1 WHERE alg = $2 AND retired_at = 0`, now, k.Alg); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO oidc_keys (id, alg, sealed, created_at, retired_at) VALUES ($1, $2, $3, $4, 0)`, k.ID, k.Alg, k.Sealed, k.CreatedAt)
		return err
	})
}

// ResealSigningKey replaces a signing key's sealed form if it is still old.
func (db *DB) ResealSigningKey(ctx context.Context, id, old, new string) error {
	return db.exec1(ctx, `UPDATE oidc_keys SET sealed = $3 WHERE id = $1 AND sealed = $2`, id, old, new)
}

// PruneOIDC deletes expired requests and tokens and keys retired before
// retiredBefore.
func (db *DB) PruneOIDC(ctx context.Context, now, retiredBefore int64) error {
	for _, q := range []struct {
		sql string
		at  int64
	}{{`DELETE FROM oidc_requests WHERE expires_at < $1`, now - 3600}, {`DELETE FROM oidc_tokens WHERE expires_at < $1`, now},
		{`DELETE FROM oidc_keys WHERE retired_at > 0 AND retired_at < $1`, retiredBefore}} {
		if _, err := db.rw.ExecContext(ctx, q.sql, q.at); err != nil {
			return err
		}
	}
	return nil
}
