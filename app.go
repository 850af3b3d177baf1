package portal

import "context"

// App is an application that signs its users in through the portal (an
// OpenID Connect client): the operator's billing, control panel, support
// desk.
type App struct {
	ID      string // the client_id
	Name    string
	LogoURL string
	// SecretHash is the hex SHA-256 of the client secret; empty for a
	// public client (a browser or mobile app, which must use PKCE).
	SecretHash     string
	RedirectURIs   []string
	PostLogoutURIs []string
	Public         bool
	// SkipConsent marks a first-party app: its users are not asked to
	// allow it.
	SkipConsent bool
	// Requires2FA sends a user without two-factor authentication to set
	// it up before the app gets a token.
	Requires2FA bool
	Scopes      []string
	GrantTypes  []string
	// SigningAlg signs the app's ID tokens: ES256, or RS256 for old apps.
	SigningAlg string
	CreatedAt  int64
}

// AuthRequest is an authorization request from /authorize until its code
// is redeemed.
type AuthRequest struct {
	ID    string
	AppID string
	// Data is the request as the provider library parsed it (JSON).
	Data     []byte
	UserID   string
	AuthTime int64
	AMR      string // RFC 8176 values, space-separated
	Done     bool
	// SessionID is the session that completed the request: only that
	// browser collects the code.
	SessionID string
	// CodeUsedAt is when its code was redeemed (0: not yet).
	CodeUsedAt int64
	CreatedAt  int64
	ExpiresAt  int64
}

// Token kinds.
const (
	TokenAccess  = "access"
	TokenRefresh = "refresh"
)

// AppToken is an access or refresh token an app holds, stored by the hash
// of its secret. Tokens from one authorization share GrantID.
type AppToken struct {
	Hash      string
	Kind      string
	GrantID   string
	AppID     string
	UserID    string // empty for client credentials
	Scopes    []string
	AMR       string
	AuthTime  int64
	CreatedAt int64
	ExpiresAt int64
	UsedAt    int64
}

// SigningKey is an ID token signing key; the private key is sealed.
type SigningKey struct {
	ID        string
	Alg       string
	Sealed    string
	CreatedAt int64
	RetiredAt int64
}

// AppAccess is an app a user allowed (or still holds tokens of).
type AppAccess struct {
	App       *App
	Scopes    []string
	GrantedAt int64
}

// AppStore keeps apps, authorization requests, tokens, consents and the
// signing keys of the OpenID Connect provider.
type AppStore interface {
	CreateApp(ctx context.Context, a *App) error
	UpdateApp(ctx context.Context, a *App) error
	// DeleteApp removes an app with every token and consent it had.
	DeleteApp(ctx context.Context, id string) error
	AppByID(ctx context.Context, id string) (*App, error)
	Apps(ctx context.Context) ([]*App, error)

	CreateAuthRequest(ctx context.Context, r *AuthRequest) error
	AuthRequestByID(ctx context.Context, id string, now int64) (*AuthRequest, error)
	// CompleteAuthRequest records who signed in, how and when, and in
	// which session.
	CompleteAuthRequest(ctx context.Context, id, userID string, authTime int64, amr, sessionID string) error
	// SetAuthCode binds the hash of a code to a completed request; the
	// code works until expiresAt.
	SetAuthCode(ctx context.Context, id, codeHash string, expiresAt int64) error
	// AuthRequestByCode finds the request of an unexpired code. A code
	// that was redeemed already answers ErrCodeReused (with the request's
	// id, user and app) after every token of its grant (GrantID = the
	// request's id) was deleted; an unknown or expired one ErrNotFound.
	AuthRequestByCode(ctx context.Context, codeHash string, now int64) (*AuthRequest, error)

	// CreateTokens stores tokens of one grant, in one transaction that
	// also uses what they were issued for, exactly once: with redeem, the
	// code of that request; with rotate, the refresh token of that hash.
	// One used already stores nothing and deletes the grant's tokens
	// (ErrCodeReused, ErrTokenReused).
	CreateTokens(ctx context.Context, redeem, rotate string, now int64, tokens ...*AppToken) error
	// TokenByHash finds a live token (unexpired, unused).
	TokenByHash(ctx context.Context, hash string, now int64) (*AppToken, error)
	// UseRefreshToken finds a refresh token; a used one revokes its grant
	// and answers ErrTokenReused (with the token, to say whose it was).
	UseRefreshToken(ctx context.Context, hash string, now int64) (*AppToken, error)
	RevokeToken(ctx context.Context, hash string) error
	RevokeGrant(ctx context.Context, grantID string) error
	// RevokeAppTokens deletes every token an app holds for a user (the
	// user signed out of the app); consent stays.
	RevokeAppTokens(ctx context.Context, userID, appID string) error
	// RevokeAppAccess withdraws a user's consent to an app and every token
	// the app holds for the user.
	RevokeAppAccess(ctx context.Context, userID, appID string) error
	SaveConsent(ctx context.Context, userID, appID string, scopes []string, now int64) error
	Consent(ctx context.Context, userID, appID string) ([]string, error)
	// UserApps lists the apps a user allowed or that hold live tokens.
	UserApps(ctx context.Context, userID string, now int64) ([]*AppAccess, error)

	SigningKeys(ctx context.Context) ([]*SigningKey, error)
	// AddSigningKey stores k and retires the previous current key at now.
	AddSigningKey(ctx context.Context, k *SigningKey, now int64) error
	// ResealSigningKey replaces a key's sealed form if it is still old
	// (for portal keys rotate).
	ResealSigningKey(ctx context.Context, id, old, new string) error
	// PruneOIDC deletes requests, tokens and retired keys past use.
	PruneOIDC(ctx context.Context, now, retiredBefore int64) error
}

// Errors of the AppStore.
var (
	ErrCodeReused  = &Error{Code: EINVALID, Message: "This authorization code was used already."}
	ErrTokenReused = &Error{Code: EINVALID, Message: "This refresh token was used already."}
)
