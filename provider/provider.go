// Package provider makes the portal an OpenID Connect provider: the
// operator's other apps sign their users in through the portal's own
// sign-in and two-factor pages. The protocol is zitadel/oidc's op package;
// this package is its storage on the portal's stores, and the signing keys.
package provider

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/mfa"
)

// Store is what the provider keeps and reads.
type Store interface {
	portal.AppStore
	portal.UserStore
	portal.EventStore
	portal.LimitStore
	// UserMethods tells whether a user has 2FA, for apps that require it.
	UserMethods(ctx context.Context, userID string) ([]*portal.Method, error)
	// The staff's and the account owner's 2FA requirements.
	portal.PolicyStore
	Ping(ctx context.Context) error
}

// Scopes an app may ask for.
const (
	ScopeAccount = "account" // the account id and the user's role in it
)

// AllScopes are the scopes the provider knows.
var AllScopes = []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopeOfflineAccess, ScopeAccount}

// ACR values: the sign-in used two factors, or the password alone.
const (
	ACRMFA      = "urn:clientportal:acr:mfa"
	ACRPassword = "urn:clientportal:acr:pwd"
)

// LoginPath is where /authorize sends the browser: the portal's page that
// signs the user in (or finds them signed in), asks for consent and
// completes the request.
const LoginPath = "/oidc/login"

// Config is the provider's part of the operator's configuration.
type Config struct {
	Issuer          string // PORTAL_BASE_URL
	AccessTokenTTL  time.Duration
	RefreshTokenTTL time.Duration
	IDTokenTTL      time.Duration
	// Insecure allows an http issuer (development and tests).
	Insecure bool
}

// Provider is the OpenID provider; it serves the protocol's endpoints.
type Provider struct {
	OP      *op.Provider
	storage *storage
}

// New builds the provider. keys seal the signing keys and the ids access
// tokens carry, the same on every replica.
func New(cfg Config, st Store, keys *mfa.Keyring, clock portal.Clock, logger *slog.Logger) (*Provider, error) {
	if cfg.AccessTokenTTL == 0 {
		cfg.AccessTokenTTL = 15 * time.Minute
	}
	if cfg.RefreshTokenTTL == 0 {
		cfg.RefreshTokenTTL = 30 * 24 * time.Hour
	}
	if cfg.IDTokenTTL == 0 {
		cfg.IDTokenTTL = time.Hour
	}
	s := &storage{cfg: cfg, db: st, keys: &signingKeys{db: st, keyring: keys, clock: clock}, clock: clock, logger: logger}
	opCfg := &op.Config{
		CryptoKey:                sha256.Sum256([]byte(keys.MAC("oidc access token ids"))),
		CryptoKeyId:              "portal",
		DefaultLogoutRedirectURI: "/login",
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		SupportedScopes:          AllScopes,
	}
	opts := []op.Option{op.WithLogger(logger.WithGroup("oidc")), op.WithCrypto(keyringCrypto{keys})}
	if cfg.Insecure {
		opts = append(opts, op.WithAllowInsecure())
	}
	o, err := op.NewProvider(opCfg, s, op.StaticIssuer(cfg.Issuer), opts...)
	if err != nil {
		return nil, err
	}
	return &Provider{OP: o, storage: s}, nil
}

// keyringCrypto seals the token id an access token carries with
// PORTAL_SECRET_KEYS (AES-256-GCM): sealed with the first key, opened with
// any, so putting a new key first leaves live access tokens working.
type keyringCrypto struct{ keys *mfa.Keyring }

const accessTokenAD = "oidc-access-token"

func (c keyringCrypto) Encrypt(s string) (string, error) {
	return c.keys.Seal(accessTokenAD, []byte(s)), nil
}

func (c keyringCrypto) Decrypt(s string) (string, error) {
	b, err := c.keys.Open(accessTokenAD, s)
	return string(b), err
}

// Paths are the protocol's endpoints, for the portal's router.
var Paths = []string{"/.well-known/openid-configuration", "/authorize", "/authorize/callback", "/oauth/token",
	"/oauth/introspect", "/userinfo", "/revoke", "/end_session", "/keys"}

type limitKey struct{}

// WithLimitRecord returns a context in which a client refused by its
// failed-authentication limit is recorded: *retry becomes how long it must
// wait (the protocol library answers every client error alike; the portal
// answers this one 429 with Retry-After).
func WithLimitRecord(ctx context.Context) (_ context.Context, retry *time.Duration) {
	retry = new(time.Duration)
	ctx = context.WithValue(ctx, algKey{}, new(algNote))
	return context.WithValue(ctx, limitKey{}, retry), retry
}

// algNote carries the signing algorithm of the app a token request is
// from, from the storage call that finds the app to the one that picks the
// key (the protocol library asks for "the" signing key, not the app's).
type algNote struct {
	mu  sync.Mutex
	alg jose.SignatureAlgorithm
}

type algKey struct{}

// noteAlg records app's ID token algorithm for this request.
func noteAlg(ctx context.Context, app *portal.App) {
	if n, ok := ctx.Value(algKey{}).(*algNote); ok && app != nil {
		n.mu.Lock()
		n.alg = jose.SignatureAlgorithm(app.SigningAlg)
		n.mu.Unlock()
	}
}

// requestAlg is the algorithm noted for this request: RS256 for an app that
// asked for it, ES256 otherwise.
func requestAlg(ctx context.Context) jose.SignatureAlgorithm {
	if n, ok := ctx.Value(algKey{}).(*algNote); ok {
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.alg == jose.RS256 {
			return jose.RS256
		}
	}
	return jose.ES256
}

// SetClientIP tells the provider how to find the client's network (the
// key its limits count on) in a request's context.
func (p *Provider) SetClientIP(f func(ctx context.Context) string) { p.storage.clientIP = f }

// CallbackURL is where the browser goes once a request is complete: the
// provider then issues the code to the app.
func (p *Provider) CallbackURL(ctx context.Context, requestID string) string {
	return op.AuthCallbackURL(p.OP)(ctx, requestID)
}

// Request is an authorization request as the login page needs it.
type Request struct {
	*portal.AuthRequest
	OIDC *oidc.AuthRequest
	App  *portal.App
}

// Request finds a pending authorization request.
func (p *Provider) Request(ctx context.Context, id string) (*Request, error) {
	r, err := p.storage.db.AuthRequestByID(ctx, id, p.storage.clock.Now().Unix())
	if err != nil {
		return nil, err
	}
	var o oidc.AuthRequest
	if err := json.Unmarshal(r.Data, &o); err != nil {
		return nil, err
	}
	app, err := p.storage.db.AppByID(ctx, r.AppID)
	if err != nil {
		return nil, err
	}
	if err := stillAllowed(app, &o); err != nil {
		return nil, err
	}
	return &Request{AuthRequest: r, OIDC: &o, App: app}, nil
}

// stillAllowed holds a stored request to its app's settings as they are
// now: staff may have removed the redirect URI it was made with (then it
// gets nothing) or scopes it asked for (then it gets the rest).
func stillAllowed(app *portal.App, o *oidc.AuthRequest) error {
	if !slices.Contains(app.RedirectURIs, o.RedirectURI) {
		return portal.ErrNotFound
	}
	o.Scopes = allowedScopes(app, o.Scopes)
	return nil
}

// allowedScopes keeps the scopes app is registered for now; openid always.
func allowedScopes(app *portal.App, scopes []string) []string {
	var out []string
	for _, sc := range scopes {
		if sc == oidc.ScopeOpenID || slices.Contains(app.Scopes, sc) {
			out = append(out, sc)
		}
	}
	return out
}

// Fail sends the browser back to the app with an OAuth error (for
// prompt=none that cannot be answered, or a user who said no).
func (p *Provider) Fail(w http.ResponseWriter, r *http.Request, req *Request, err error) {
	op.AuthRequestError(w, r, req.OIDC, err, p.OP)
}

// hashToken is how tokens and codes are stored: hex SHA-256.
func hashToken(t string) string { return portal.HashToken(t) }

// HashSecret is how client secrets are stored.
func HashSecret(secret string) string { return hashToken(secret) }

// storage is op.Storage on the portal's stores.
type storage struct {
	cfg    Config
	db     Store
	keys   *signingKeys
	clock  portal.Clock
	logger *slog.Logger
	// clientIP finds the client's network in a request's context.
	clientIP func(ctx context.Context) string
}

var (
	_ op.Storage                  = (*storage)(nil)
	_ op.ClientCredentialsStorage = (*storage)(nil)
)

func (s *storage) now() time.Time { return s.clock.Now() }

// authRequest is op.AuthRequest on a stored request.
type authRequest struct {
	r *portal.AuthRequest
	o *oidc.AuthRequest
}

func (a *authRequest) GetID() string    { return a.r.ID }
func (a *authRequest) GetACR() string   { return acr(a.r.AMR) }
func (a *authRequest) GetAMR() []string { return strings.Fields(a.r.AMR) }
func (a *authRequest) GetAudience() []string {
	return []string{a.r.AppID}
}
func (a *authRequest) GetAuthTime() time.Time { return time.Unix(a.r.AuthTime, 0) }
func (a *authRequest) GetClientID() string    { return a.r.AppID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if a.o.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.o.CodeChallenge, Method: a.o.CodeChallengeMethod}
}
func (a *authRequest) GetNonce() string                   { return a.o.Nonce }
func (a *authRequest) GetRedirectURI() string             { return a.o.RedirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType { return a.o.ResponseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode { return a.o.ResponseMode }
func (a *authRequest) GetScopes() []string                { return a.o.Scopes }
func (a *authRequest) GetState() string                   { return a.o.State }
func (a *authRequest) GetSubject() string                 { return a.r.UserID }
func (a *authRequest) Done() bool                         { return a.r.Done }

func acr(amr string) string {
	if slices.Contains(strings.Fields(amr), "mfa") {
		return ACRMFA
	}
	return ACRPassword
}

// requestLifetime is how long a sign-in through the portal may take.
const requestLifetime = 30 * time.Minute

// codeLifetime is how long an authorization code works.
const codeLifetime = 60 * time.Second

// maxRequestValue bounds each value an app passes to /authorize that the
// portal stores (state, nonce, login_hint, the PKCE challenge…; the ID
// token hint gets four times as much), and maxRequestData the whole
// request as stored.
const (
	maxRequestValue = 1024
	maxRequestData  = 8192
)

func (s *storage) CreateAuthRequest(ctx context.Context, o *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	// An ID token given back as a hint is longer than the rest (an RS256
	// signature alone is 342 characters): it gets 4 KiB.
	if len(o.IDTokenHint) > 4*maxRequestValue {
		return nil, oidc.ErrInvalidRequest().WithDescription("id_token_hint is too long")
	}
	values := []string{o.State, o.Nonce, o.LoginHint, o.CodeChallenge, o.RedirectURI, string(o.ResponseMode), string(o.Display), o.ClientID, string(o.ResponseType)}
	values = append(values, o.Scopes...)
	values = append(values, o.Prompt...)
	values = append(values, o.ACRValues...)
	for _, l := range o.UILocales {
		values = append(values, l.String())
	}
	for _, v := range values {
		if len(v) > maxRequestValue {
			return nil, oidc.ErrInvalidRequest().WithDescription("a parameter is too long")
		}
	}
	if len(o.Scopes) > 20 || len(o.Prompt) > 4 || len(o.UILocales) > 10 || len(o.ACRValues) > 10 {
		return nil, oidc.ErrInvalidRequest().WithDescription("too many values")
	}
	ip := ""
	if s.clientIP != nil {
		ip = s.clientIP(ctx)
	}
	if ok, _, _, err := s.db.TakeAttempt(ctx, portal.AuthorizeIPLimit, ip, s.now()); err != nil {
		return nil, oidc.ErrServerError()
	} else if !ok {
		return nil, &oidc.Error{ErrorType: "temporarily_unavailable", Description: "too many sign-in requests from this network; try again later"}
	}
	app, err := s.db.AppByID(ctx, o.ClientID)
	if err != nil {
		return nil, oidc.ErrInvalidClient().WithDescription("unknown client")
	}
	// PKCE: S256 only, and required for apps that cannot keep a secret.
	switch {
	case o.CodeChallenge != "" && o.CodeChallengeMethod != oidc.CodeChallengeMethodS256:
		return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256")
	case app.Public && o.CodeChallenge == "":
		return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge (PKCE with S256) is required for this client")
	}
	// Only the scopes the app was registered for; openid always.
	o.Scopes = allowedScopes(app, o.Scopes)
	if o.ResponseType != oidc.ResponseTypeCode {
		return nil, oidc.ErrInvalidRequest().WithDescription("only the authorization code flow is supported")
	}
	data, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	if len(data) > maxRequestData {
		return nil, oidc.ErrInvalidRequest().WithDescription("the request is too long")
	}
	now := s.now()
	r := &portal.AuthRequest{ID: portal.NewID(), AppID: app.ID, Data: data, CreatedAt: now.Unix(), ExpiresAt: now.Add(requestLifetime).Unix()}
	if err := s.db.CreateAuthRequest(ctx, r); err != nil {
		return nil, err
	}
	return &authRequest{r: r, o: o}, nil
}

// load reads a stored request, held to its app's current settings.
func (s *storage) load(ctx context.Context, r *portal.AuthRequest) (*authRequest, error) {
	var o oidc.AuthRequest
	if err := json.Unmarshal(r.Data, &o); err != nil {
		return nil, err
	}
	app, err := s.db.AppByID(ctx, r.AppID)
	if err != nil {
		return nil, err
	}
	if err := stillAllowed(app, &o); err != nil {
		return nil, err
	}
	return &authRequest{r: r, o: &o}, nil
}

func (s *storage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	r, err := s.db.AuthRequestByID(ctx, id, s.now().Unix())
	if err != nil {
		return nil, oidc.ErrInvalidRequest().WithDescription("the sign-in request expired or was used; start again")
	}
	a, err := s.load(ctx, r)
	if err != nil {
		return nil, oidc.ErrInvalidRequest().WithDescription("the app's settings changed since this sign-in started; start again from the app")
	}
	return a, nil
}

// AuthRequestByCode redeems a code, once: a second use revokes every token
// the first one got.
func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	r, err := s.db.AuthRequestByCode(ctx, hashToken(code), s.now().Unix())
	if errors.Is(err, portal.ErrCodeReused) {
		s.logger.Warn("authorization code used twice: its grant is revoked", "app", r.AppID)
		s.event(ctx, r.UserID, portal.EventAppTokenReused, r.AppID)
		return nil, oidc.ErrInvalidGrant().WithDescription("the code was used already")
	} else if err != nil {
		return nil, oidc.ErrInvalidGrant().WithDescription("the code is invalid or expired")
	}
	a, err := s.load(ctx, r)
	if err != nil {
		return nil, oidc.ErrInvalidGrant().WithDescription("the app's settings changed since this code was issued; sign in again")
	}
	return a, nil
}

// SaveAuthCode binds the code to its request; a request issues one code
// (the callback opened twice answers the app with invalid_request).
func (s *storage) SaveAuthCode(ctx context.Context, id, code string) error {
	err := s.db.SetAuthCode(ctx, id, hashToken(code), s.now().Add(codeLifetime).Unix())
	if errors.Is(err, portal.ErrNotFound) {
		return oidc.ErrInvalidRequest().WithDescription("this sign-in already issued its code; start again from the app")
	}
	return err
}

// DeleteAuthRequest: a redeemed request stays (marked) until it expires, so
// that a second use of its code is recognised.
func (s *storage) DeleteAuthRequest(context.Context, string) error { return nil }

// grantOf is the grant a token request belongs to and what it carries.
func (s *storage) grantOf(request op.TokenRequest) (grant, appID, amr string, authTime int64) {
	switch r := request.(type) {
	case *authRequest:
		return r.r.ID, r.r.AppID, r.r.AMR, r.r.AuthTime
	case *refreshRequest:
		return r.t.GrantID, r.t.AppID, r.t.AMR, r.t.AuthTime
	case *clientRequest:
		return portal.NewID(), r.appID, "", 0
	}
	return portal.NewID(), "", "", 0
}

func (s *storage) accessToken(request op.TokenRequest) (string, *portal.AppToken) {
	grant, app, amr, authTime := s.grantOf(request)
	id := hex.EncodeToString(portal.RandomToken(32))
	now := s.now()
	sub := request.GetSubject()
	if _, ok := request.(*clientRequest); ok {
		sub = ""
	}
	return id, &portal.AppToken{Hash: hashToken(id), Kind: portal.TokenAccess, GrantID: grant, AppID: app, UserID: sub, Scopes: request.GetScopes(),
		AMR: amr, AuthTime: authTime, CreatedAt: now.Unix(), ExpiresAt: now.Add(s.cfg.AccessTokenTTL).Unix()}
}

// redeems is the request whose code a token request uses ("" for a
// refresh or client credentials).
func redeems(request op.TokenRequest) string {
	if r, ok := request.(*authRequest); ok {
		return r.r.ID
	}
	return ""
}

func (s *storage) CreateAccessToken(ctx context.Context, request op.TokenRequest) (string, time.Time, error) {
	id, t := s.accessToken(request)
	if err := s.db.CreateTokens(ctx, redeems(request), "", s.now().Unix(), t); err != nil {
		return "", time.Time{}, s.tokenError(ctx, t, err)
	}
	s.issued(ctx, request, t)
	return id, time.Unix(t.ExpiresAt, 0), nil
}

func (s *storage) CreateAccessAndRefreshTokens(ctx context.Context, request op.TokenRequest, current string) (string, string, time.Time, error) {
	id, access := s.accessToken(request)
	refresh, _ := portal.NewSecretToken()
	rt := *access
	rt.Hash, rt.Kind, rt.ExpiresAt = hashToken(refresh), portal.TokenRefresh, s.now().Add(s.cfg.RefreshTokenTTL).Unix()
	rotate := ""
	if current != "" {
		rotate = hashToken(current)
	}
	if err := s.db.CreateTokens(ctx, redeems(request), rotate, s.now().Unix(), access, &rt); err != nil {
		return "", "", time.Time{}, s.tokenError(ctx, access, err)
	}
	if current == "" {
		s.issued(ctx, request, access)
	}
	return id, refresh, time.Unix(access.ExpiresAt, 0), nil
}

// tokenError turns a refused issue into the protocol's answer; a reused
// code or refresh token is a security event for the user. A code whose
// sign-in has ended since it was issued gives nothing.
func (s *storage) tokenError(ctx context.Context, t *portal.AppToken, err error) error {
	if errors.Is(err, portal.ErrCodeReused) || errors.Is(err, portal.ErrTokenReused) {
		s.event(ctx, t.UserID, portal.EventAppTokenReused, t.AppID)
		return oidc.ErrInvalidGrant().WithDescription("the grant was revoked")
	}
	if errors.Is(err, portal.ErrNotFound) {
		return oidc.ErrInvalidGrant().WithDescription("the sign-in behind this code has ended (the password or two-factor settings changed, or the user signed out); sign in again")
	}
	return err
}

// issued records a new grant (a code redeemed) as a security event.
func (s *storage) issued(ctx context.Context, request op.TokenRequest, t *portal.AppToken) {
	if _, ok := request.(*authRequest); ok && t.UserID != "" {
		s.event(ctx, t.UserID, portal.EventAppAuthorized, t.AppID)
	}
}

func (s *storage) event(ctx context.Context, userID, typ, appID string) {
	if userID == "" {
		return
	}
	detail := appID
	if app, err := s.db.AppByID(ctx, appID); err == nil {
		detail = app.Name
	}
	// The store gives the id: a time-ordered one (portal.NewEventID), as
	// the event feed and the webhook dispatcher read events in id order.
	e := &portal.Event{UserID: userID, Type: typ, Detail: detail, CreatedAt: s.now().Unix()}
	if err := s.db.AddEvent(ctx, e); err != nil {
		s.logger.Error("record app event", "type", typ, "err", err)
	}
}

// refreshRequest is op.RefreshTokenRequest on a stored refresh token.
type refreshRequest struct {
	t      *portal.AppToken
	scopes []string
}

func (r *refreshRequest) GetAMR() []string             { return strings.Fields(r.t.AMR) }
func (r *refreshRequest) GetAudience() []string        { return []string{r.t.AppID} }
func (r *refreshRequest) GetAuthTime() time.Time       { return time.Unix(r.t.AuthTime, 0) }
func (r *refreshRequest) GetClientID() string          { return r.t.AppID }
func (r *refreshRequest) GetScopes() []string          { return r.scopes }
func (r *refreshRequest) GetSubject() string           { return r.t.UserID }
func (r *refreshRequest) SetCurrentScopes(sc []string) { r.scopes = sc }

func (s *storage) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	t, err := s.db.UseRefreshToken(ctx, hashToken(token), s.now().Unix())
	if errors.Is(err, portal.ErrTokenReused) {
		s.logger.Warn("refresh token used twice: its grant is revoked", "app", t.AppID)
		s.event(ctx, t.UserID, portal.EventAppTokenReused, t.AppID)
		return nil, op.ErrInvalidRefreshToken
	} else if err != nil {
		return nil, op.ErrInvalidRefreshToken
	}
	u, err := s.db.UserByID(ctx, t.UserID)
	if err != nil || u.Disabled {
		return nil, op.ErrInvalidRefreshToken
	}
	// Only what the app is registered for now: scopes staff removed since
	// the grant go, and without offline_access it refreshes no more.
	app, err := s.db.AppByID(ctx, t.AppID)
	if err != nil || !slices.Contains(app.Scopes, oidc.ScopeOfflineAccess) {
		return nil, op.ErrInvalidRefreshToken
	}
	t.Scopes = allowedScopes(app, t.Scopes)
	// An app that requires 2FA now, or a policy that requires it of the
	// user now (staff's or the account owner's; either may have been
	// turned on since the grant), refreshes only for a user who has it, as
	// the user's portal sessions reach only the set-up pages.
	need := app.Requires2FA
	if !need {
		if need, err = portal.RequiresTwoFactor(ctx, s.db, u); err != nil {
			return nil, op.ErrInvalidRefreshToken
		}
	}
	if need {
		methods, err := s.db.UserMethods(ctx, t.UserID)
		if err != nil || !slices.ContainsFunc(methods, (*portal.Method).Confirmed) {
			return nil, op.ErrInvalidRefreshToken
		}
	}
	return &refreshRequest{t: t, scopes: t.Scopes}, nil
}

// TerminateSession (RP-initiated logout) records the user the request's ID
// token hint names, as the library verified it, and ends the tokens the app
// holds for that user only when the user is the one signed in to the portal
// in this browser: an ID token is no secret (apps keep them in front ends,
// and expired ones count as hints), so holding one must not end the user's
// tokens. The portal's own session ends in the web layer on the same test.
func (s *storage) TerminateSession(ctx context.Context, userID, clientID string) error {
	if userID == "" || clientID == "" {
		return nil
	}
	rec, _ := ctx.Value(logoutKey{}).(*logoutRecord)
	if rec == nil {
		return nil
	}
	rec.verified = userID
	if userID != rec.signedIn {
		return nil
	}
	return s.db.RevokeAppTokens(ctx, userID, clientID)
}

type logoutKey struct{}

type logoutRecord struct{ signedIn, verified string }

// WithLogoutRecord returns a context for RP-initiated logout in a browser
// signed in as signedIn ("" for none), and a function that tells, after
// it, the verified subject of the request's ID token hint ("" when there
// was none). The app's tokens end only when the two are the same user.
func WithLogoutRecord(ctx context.Context, signedIn string) (_ context.Context, verified func() string) {
	rec := &logoutRecord{signedIn: signedIn}
	return context.WithValue(ctx, logoutKey{}, rec), func() string { return rec.verified }
}

func (s *storage) RevokeToken(ctx context.Context, token, userID, clientID string) *oidc.Error {
	t, err := s.db.TokenByHash(ctx, hashToken(token), s.now().Unix())
	if err != nil {
		// Unknown or an access token's id given instead: nothing to do
		// (RFC 7009: answer 200 either way).
		if err := s.db.RevokeToken(ctx, hashToken(token)); err != nil && !errors.Is(err, portal.ErrNotFound) {
			return oidc.ErrServerError()
		}
		return nil
	}
	if t.AppID != clientID {
		return oidc.ErrInvalidClient().WithDescription("the token belongs to another client")
	}
	if err := s.db.RevokeToken(ctx, t.Hash); err != nil && !errors.Is(err, portal.ErrNotFound) {
		return oidc.ErrServerError()
	}
	return nil
}

func (s *storage) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	t, err := s.db.TokenByHash(ctx, hashToken(token), s.now().Unix())
	if err != nil || t.Kind != portal.TokenRefresh || t.AppID != clientID {
		return "", "", op.ErrInvalidRefreshToken
	}
	return t.UserID, token, nil
}

func (s *storage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	return s.keys.current(ctx, requestAlg(ctx))
}

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.ES256, jose.RS256}, nil
}

func (s *storage) KeySet(ctx context.Context) ([]op.Key, error) {
	return s.keys.published(ctx)
}

func (s *storage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	app, err := s.db.AppByID(ctx, id)
	if err != nil {
		return nil, oidc.ErrInvalidClient().WithDescription("unknown client")
	}
	noteAlg(ctx, app)
	return &client{app: app, idTTL: s.cfg.IDTokenTTL}, nil
}

// AuthorizeClientIDSecret checks a confidential app's secret. Failures
// count per app and network (portal.ClientAuthLimit); a right secret is
// never refused, since 256 random bits are not guessed.
func (s *storage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	if portal.CheckText("client_id", id, portal.SingleLine) != nil || len(id) > 200 {
		return oidc.ErrInvalidClient().WithDescription("client authentication failed")
	}
	app, err := s.db.AppByID(ctx, id)
	if err == nil && !app.Public && app.SecretHash != "" &&
		subtle.ConstantTimeCompare([]byte(HashSecret(secret)), []byte(app.SecretHash)) == 1 {
		noteAlg(ctx, app)
		return nil
	}
	ip := ""
	if s.clientIP != nil {
		ip = s.clientIP(ctx)
	}
	key := id
	if len(key) > 64 {
		key = key[:64]
	}
	ok, retry, _, lerr := s.db.TakeAttempt(ctx, portal.ClientAuthLimit, key+"|"+ip, s.now())
	if lerr != nil {
		return oidc.ErrServerError()
	}
	if !ok {
		if r, found := ctx.Value(limitKey{}).(*time.Duration); found {
			*r = retry
		}
		return oidc.ErrInvalidClient().WithDescription("too many failed client authentications from this network; try again in %d seconds", int(retry.Seconds())+1)
	}
	return oidc.ErrInvalidClient().WithDescription("client authentication failed")
}

// userinfo fills the claims the scopes allow.
func (s *storage) userinfo(ctx context.Context, info *oidc.UserInfo, userID string, scopes []string) error {
	u, err := s.db.UserByID(ctx, userID)
	if err != nil || u.Disabled {
		return oidc.ErrInvalidRequest().WithDescription("the user no longer exists")
	}
	info.Subject = u.ID
	for _, sc := range scopes {
		switch sc {
		case oidc.ScopeEmail:
			info.Email, info.EmailVerified = u.Email, oidc.Bool(u.EmailVerifiedAt != 0)
			if u.EmailVerifiedAt == 0 {
				// Said, not left out: the library drops a false value,
				// and relying parties such as oauth2-proxy take an
				// address without email_verified for a verified one.
				info.AppendClaims("email_verified", false)
			}
		case oidc.ScopeProfile:
			info.Name = u.Name
		case ScopeAccount:
			info.AppendClaims("account_id", u.AccountID)
			info.AppendClaims("account_role", u.Role)
		}
	}
	return nil
}

func (s *storage) SetUserinfoFromScopes(ctx context.Context, info *oidc.UserInfo, userID, _ string, scopes []string) error {
	return s.userinfo(ctx, info, userID, scopes)
}

func (s *storage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, subject, _ string) error {
	t, err := s.db.TokenByHash(ctx, hashToken(tokenID), s.now().Unix())
	if err != nil || t.Kind != portal.TokenAccess || t.UserID != subject {
		return oidc.ErrInvalidRequest().WithDescription("the access token is invalid or expired")
	}
	return s.userinfo(ctx, info, t.UserID, t.Scopes)
}

func (s *storage) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	t, err := s.db.TokenByHash(ctx, hashToken(tokenID), s.now().Unix())
	if err != nil || t.AppID != clientID {
		return oidc.ErrInvalidRequest().WithDescription("inactive token")
	}
	resp.Active = true
	resp.Scope = t.Scopes
	resp.ClientID = t.AppID
	resp.Expiration = oidc.FromTime(time.Unix(t.ExpiresAt, 0))
	resp.IssuedAt = oidc.FromTime(time.Unix(t.CreatedAt, 0))
	if t.UserID != "" {
		// A token of a user who was removed or disabled is inactive.
		info := new(oidc.UserInfo)
		if err := s.userinfo(ctx, info, t.UserID, t.Scopes); err != nil {
			return oidc.ErrInvalidRequest().WithDescription("inactive token")
		}
		resp.SetUserInfo(info)
	}
	return nil
}

func (s *storage) GetPrivateClaimsFromScopes(ctx context.Context, userID, _ string, scopes []string) (map[string]any, error) {
	if !slices.Contains(scopes, ScopeAccount) {
		return nil, nil
	}
	u, err := s.db.UserByID(ctx, userID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"account_id": u.AccountID, "account_role": u.Role}, nil
}

func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, oidc.ErrUnauthorizedClient().WithDescription("JWT profile grants are not supported")
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, oidc.ErrUnauthorizedClient().WithDescription("JWT profile grants are not supported")
}

func (s *storage) Health(ctx context.Context) error { return s.db.Ping(ctx) }

// clientRequest is a client credentials grant's token request.
type clientRequest struct {
	appID  string
	scopes []string
}

func (c *clientRequest) GetSubject() string    { return c.appID }
func (c *clientRequest) GetAudience() []string { return []string{c.appID} }
func (c *clientRequest) GetScopes() []string   { return c.scopes }

func (s *storage) ClientCredentials(ctx context.Context, id, secret string) (op.Client, error) {
	if err := s.AuthorizeClientIDSecret(ctx, id, secret); err != nil {
		return nil, err
	}
	return s.GetClientByClientID(ctx, id)
}

func (s *storage) ClientCredentialsTokenRequest(ctx context.Context, id string, scopes []string) (op.TokenRequest, error) {
	app, err := s.db.AppByID(ctx, id)
	if err != nil || !slices.Contains(app.GrantTypes, string(oidc.GrantTypeClientCredentials)) {
		return nil, oidc.ErrUnauthorizedClient().WithDescription("this client may not use client credentials")
	}
	var allowed []string
	for _, sc := range scopes {
		if slices.Contains(app.Scopes, sc) && sc != oidc.ScopeOpenID && sc != oidc.ScopeOfflineAccess {
			allowed = append(allowed, sc)
		}
	}
	return &clientRequest{appID: id, scopes: allowed}, nil
}

// client is op.Client on an app.
type client struct {
	app   *portal.App
	idTTL time.Duration
}

func (c *client) GetID() string                    { return c.app.ID }
func (c *client) RedirectURIs() []string           { return c.app.RedirectURIs }
func (c *client) PostLogoutRedirectURIs() []string { return c.app.PostLogoutURIs }
func (c *client) ApplicationType() op.ApplicationType {
	if c.app.Public {
		return op.ApplicationTypeUserAgent
	}
	return op.ApplicationTypeWeb
}
func (c *client) AuthMethod() oidc.AuthMethod {
	if c.app.Public {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}
func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *client) GrantTypes() []oidc.GrantType {
	var out []oidc.GrantType
	for _, g := range c.app.GrantTypes {
		out = append(out, oidc.GrantType(g))
	}
	return out
}
func (c *client) LoginURL(id string) string {
	return LoginPath + "?id=" + url.QueryEscape(id)
}
func (c *client) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }
func (c *client) IDTokenLifetime() time.Duration      { return c.idTTL }

// DevMode allows http://localhost and 127.0.0.1 redirect URIs, which
// registration already limits to those (see CheckRedirectURI).
func (c *client) DevMode() bool { return true }
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) IsScopeAllowed(scope string) bool     { return slices.Contains(c.app.Scopes, scope) }
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *client) ClockSkew() time.Duration             { return 0 }
