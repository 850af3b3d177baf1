package portal

import (
	"context"
	"encoding/base64"
	"strings"
)

// API tokens let the operator's systems (billing, support desk) call the
// admin API without a browser: "cpt_" and 256 random bits, so secret
// scanners recognise one; shown once, stored as a SHA-256 hash.
type APIToken struct {
	ID        string
	Name      string
	Hash      string
	Scopes    []string
	CreatedBy string // the staff member who made it; "" from the command line
	CreatedAt int64
	// ExpiresAt is when it stops working (0: never).
	ExpiresAt  int64
	LastUsedAt int64
	RevokedAt  int64
}

// APITokenPrefix starts every API token.
const APITokenPrefix = "cpt_"

// The scopes an API token may hold. A write scope's every use is a
// security event naming the token.
const (
	ScopeUsersRead      = "users:read"
	ScopeUsersWrite     = "users:write"
	ScopeEventsRead     = "events:read"
	ScopeTwoFactorReset = "2fa:reset"
	ScopeSettingsWrite  = "settings:write"
	ScopeAppsRead       = "apps:read"
	ScopeAppsWrite      = "apps:write"
	ScopeWebhooksRead   = "webhooks:read"
	ScopeWebhooksWrite  = "webhooks:write"
)

// Scopes lists every scope, reads first.
var Scopes = []string{ScopeUsersRead, ScopeEventsRead, ScopeAppsRead, ScopeUsersWrite, ScopeTwoFactorReset, ScopeSettingsWrite, ScopeAppsWrite, ScopeWebhooksRead, ScopeWebhooksWrite}

// WriteScope reports whether scope changes something.
func WriteScope(scope string) bool { return !strings.HasSuffix(scope, ":read") }

// NewAPIToken returns a new token and the hash to store.
func NewAPIToken() (token, hash string) {
	token = APITokenPrefix + base64.RawURLEncoding.EncodeToString(RandomToken(32))
	return token, HashToken(token)
}

// Active reports whether t works at now.
func (t *APIToken) Active(now int64) bool {
	return t.RevokedAt == 0 && (t.ExpiresAt == 0 || now < t.ExpiresAt)
}

// Has reports whether t holds scope.
func (t *APIToken) Has(scope string) bool {
	for _, s := range t.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

// APITokenStore keeps API tokens.
type APITokenStore interface {
	CreateAPIToken(ctx context.Context, t *APIToken) error
	// APITokenByHash finds a token by the hash of its value (revoked and
	// expired ones too; the caller checks Active).
	APITokenByHash(ctx context.Context, hash string) (*APIToken, error)
	APITokens(ctx context.Context) ([]*APIToken, error)
	// RevokeAPIToken ends a token; ErrNotFound when there is none to end.
	RevokeAPIToken(ctx context.Context, id string, at int64) error
	// TouchAPIToken records a use, at most once a minute.
	TouchAPIToken(ctx context.Context, id string, at int64) error
}
