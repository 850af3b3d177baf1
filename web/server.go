// Package web serves the portal over HTTP: the server-rendered pages, the
// JSON API under /api/v1 and the operations endpoints.
package web

import (
	"context"
	"github.com/clientportal/portal/i18n"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/mfa"
	"github.com/clientportal/portal/password"
	"github.com/clientportal/portal/provider"
)

// Store is everything the web layer keeps in the database.
type Store interface {
	portal.UserStore
	portal.SessionStore
	portal.EventStore
	portal.LimitStore
	portal.TokenStore
	portal.MethodStore
	portal.CodeStore
	portal.AccountStore
	portal.AdminStore
	portal.EventLog
	portal.AppStore
	portal.DeviceStore
	portal.APITokenStore
	ImportUsers(ctx context.Context, rows []*portal.ImportedUser) ([]error, error)
	SetDisabled(ctx context.Context, userID string, disabled bool, rec *portal.Record) error
	portal.WebhookStore
	Ping(ctx context.Context) error
}

// Config is what the web layer needs to know from the operator.
type Config struct {
	// Brand is the portal's name (PORTAL_NAME; "Client Portal" when
	// empty), logo, colour and footer links, on every page.
	Brand portal.Brand
	// Logo is the logo file from the data directory, served at
	// /brand/logo (nil: none).
	Logo           *Logo
	BaseURL        *url.URL
	Registration   bool // self-registration open
	Sessions       portal.SessionPolicy
	TrustedProxies []netip.Prefix
	// MaxBody caps request bodies (DefaultMaxBody when zero).
	MaxBody int64
	// WebhookAllowPrivate lets webhook endpoints be internal addresses
	// (PORTAL_WEBHOOK_ALLOW_PRIVATE).
	WebhookAllowPrivate bool
	// Catalog is the message catalogue with the operator's overrides (nil:
	// the built-in one); DefaultLanguage the language for a visitor whose
	// browser asks for none of the portal's (PORTAL_DEFAULT_LANGUAGE; ""
	// is English).
	Catalog         *i18n.Catalog
	DefaultLanguage string
}

// Deps are the services the web layer uses, wired in main.
type Deps struct {
	Store    Store
	Hasher   *password.Hasher
	Clock    portal.Clock
	Logger   *slog.Logger
	Notifier portal.Notifier
	// TOTP, Backup and Email are also in Factors; enrolment needs them by
	// name. Email may be nil (the method is then not offered).
	TOTP      *mfa.TOTP
	Backup    *mfa.Backup
	Email     *mfa.Email
	WhatsApp  *mfa.WhatsApp  // nil unless the Cloud API is configured
	WebAuthn  *mfa.WebAuthn  // nil disables security keys
	YubicoOTP *mfa.YubicoOTP // nil unless validation credentials are set
	Factors   *mfa.Registry
	// Links sends one-time links (address verification, email change).
	Links LinkMailer
	// Keys sign device cookies (nil: no device cookies; every client's
	// failed passwords count on the account's shared counter).
	Keys *mfa.Keyring
	// AccessLog takes the request log (nil: through Logger, slower).
	AccessLog *AccessLog
	// Provider makes the portal an OpenID Connect provider (nil: not).
	Provider *provider.Provider
	// Alerts sends new sign-in alerts (nil: none are sent).
	Alerts AlertMailer
}

// AlertMailer queues a new sign-in alert in the language lang: what
// happened (intro), a link
// for "Yes, this was me" and one to secure the account, working for ttl.
type AlertMailer interface {
	SendSignInAlert(ctx context.Context, to, name, lang string, subject, intro i18n.Msg, mine, secure string, ttl time.Duration) error
}

// LinkMailer queues an email carrying a one-time link that works for ttl,
// in the language lang (an i18n code).
type LinkMailer interface {
	SendLink(ctx context.Context, to, name, lang string, letter portal.Letter, link string, ttl time.Duration) error
}

// Server is the HTTP side of the portal. Build it with New.
type Server struct {
	Config
	Deps

	metrics *metrics
	// settleOverride replaces the event log's settle time (tests).
	settleOverride atomic.Pointer[time.Duration]
	statsCache     statsCache
	// bg counts work that goes on after its request was answered.
	bg      sync.WaitGroup
	routes  []Route
	handler http.Handler
	// The brand's stylesheet, its URL and the Content-Security-Policy
	// (which allows a remote logo's origin).
	brandCSS, brandCSSURL, csp string
}

// Access says who may reach a route.
type Access int

// Access levels, from the most open.
const (
	// Public routes need no session and never show user data.
	Public Access = iota
	// Pending routes accept a session at level "password": the second-factor
	// step, recovery and logout.
	Pending
	// Setup routes enrol a second factor: a full session, or one at level
	// "setup" (policy requires 2FA and the user has none yet).
	Setup
	// User routes need a fully authenticated session.
	User
	// Staff routes need a fully authenticated admin.
	Staff
)

// Route is one entry of the routing table. The table is exported so tests
// can walk every route (for example to prove that a half-logged-in session
// reaches none of them).
type Route struct {
	Method  string
	Path    string
	Access  Access
	handler func(w http.ResponseWriter, r *http.Request) error
}

// New wires a Server and its routes.
func New(cfg Config, d Deps) *Server {
	if d.Clock == nil {
		d.Clock = portal.SystemClock{}
	}
	if cfg.Sessions == (portal.SessionPolicy{}) {
		cfg.Sessions = portal.DefaultSessionPolicy
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.Brand.Name == "" {
		cfg.Brand.Name = "Client Portal"
	}
	if cfg.Brand.Color == "" {
		cfg.Brand.Color = portal.DefaultBrandColor
	}
	if cfg.Logo != nil && cfg.Brand.LogoURL == "" {
		cfg.Brand.LogoURL = "/brand/logo"
	}
	if d.Factors == nil {
		fs := []mfa.Factor{d.TOTP}
		if d.Email != nil {
			fs = append(fs, d.Email)
		}
		if d.WhatsApp != nil {
			fs = append(fs, d.WhatsApp)
		}
		if d.WebAuthn != nil {
			fs = append(fs, d.WebAuthn, mfa.Passkey{WebAuthn: d.WebAuthn})
		}
		if d.YubicoOTP != nil {
			fs = append(fs, d.YubicoOTP)
		}
		d.Factors = mfa.NewRegistry(append(fs, d.Backup)...)
	}
	s := &Server{Config: cfg, Deps: d}
	if d.Provider != nil {
		d.Provider.SetClientIP(func(ctx context.Context) string {
			if st, ok := ctx.Value(stateKey{}).(*reqState); ok {
				return st.ipKey
			}
			return ""
		})
	}
	s.brandAssets()
	s.metrics = newMetrics(d.Hasher)
	s.metrics.registry.MustRegister(newAdoptionCollector(s))
	s.routes = s.routeTable()

	mux := http.NewServeMux()
	for _, rt := range s.routes {
		mux.Handle(rt.Method+" "+rt.Path, s.guard(rt))
	}
	mux.Handle("GET /static/", http.StripPrefix("/static/", staticHandler()))
	mux.HandleFunc("GET /static/brand.css", s.handleBrandCSS)
	mux.HandleFunc("GET /brand/logo", s.handleLogo)
	cop := http.NewCrossOriginProtection()
	if s.Provider != nil {
		h := s.oidcHandler()
		for _, p := range provider.Paths {
			mux.Handle(p, h)
		}
		// Apps call these from their own origins (a browser app's token
		// request is cross-site by design); they authenticate by client
		// credentials, PKCE or bearer token, never by the session cookie.
		for _, p := range []string{"/oauth/token", "/oauth/introspect", "/revoke", "/userinfo", "/end_session"} {
			cop.AddInsecureBypassPattern(p)
		}
	}
	mux.Handle("/", s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		return portal.Errorf(portal.ENOTFOUND, "There is no page at this address.")
	}))

	cop.SetDenyHandler(s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		return portal.Errorf(portal.EFORBIDDEN, "This request came from another site and was refused.")
	}))
	s.handler = s.observe(s.limitBody(s.loadSession(s.rememberLang(cop.Handler(mux)))))
	return s
}

// background runs fn after the request is answered (with the request's
// values, without its cancellation); Wait waits for it.
func (s *Server) background(r *http.Request, fn func(ctx context.Context)) {
	ctx := context.WithoutCancel(r.Context())
	s.bg.Go(func() { fn(ctx) })
}

// Wait waits for the work started in the background by requests already
// answered (recovery requests): call it after the HTTP server has shut
// down and before the database closes.
func (s *Server) Wait() { s.bg.Wait() }

// Routes returns the routing table.
func (s *Server) Routes() []Route { return s.routes }

// ServeHTTP serves a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func (s *Server) routeTable() []Route {
	return []Route{
		// Operations.
		{"GET", "/healthz", Public, s.handleHealthz},
		{"GET", "/readyz", Public, s.handleReadyz},

		// Pages.
		{"GET", "/{$}", Public, s.handleHome},
		{"GET", "/register", Public, s.handleRegisterPage},
		{"POST", "/register", Public, s.handleRegisterForm},
		{"GET", "/login", Public, s.handleLoginPage},
		{"POST", "/login", Public, s.handleLoginForm},
		{"POST", "/logout", Pending, s.handleLogoutForm},
		{"GET", "/setup", Public, s.handleSetupPage},
		{"POST", "/setup", Public, s.handleSetupForm},
		{"GET", "/dashboard", User, s.handleDashboard},
		{"GET", "/account/security", User, s.handleSecurityPage},
		{"POST", "/account/password", User, s.handlePasswordForm},
		{"GET", "/account/reauth", Setup, s.handleReauthPage},
		{"POST", "/account/reauth", Setup, s.handleReauthForm},
		{"POST", "/account/reauth/send", User, s.handleReauthSend},
		{"GET", "/login/2fa", Pending, s.handleSecondStepPage},
		{"POST", "/login/2fa", Pending, s.handleSecondStepForm},
		{"GET", "/account/2fa", Setup, s.handleTwoFactorStart},
		{"POST", "/account/2fa/totp", Setup, s.handleTOTPBegin},
		{"GET", "/account/2fa/totp", Setup, s.handleTOTPPage},
		{"POST", "/account/2fa/totp/confirm", Setup, s.handleTOTPConfirm},
		{"POST", "/account/2fa/backup_codes", User, s.handleBackupRegenerate},
		{"GET", "/account/2fa/backup-codes", User, s.handleBackupCodesPage},
		{"POST", "/account/2fa/preferred", User, s.handlePreferredForm},
		{"POST", "/account/2fa/methods/{id}/delete", User, s.handleMethodDelete},
		{"POST", "/account/2fa/disable", User, s.handleDisableForm},
		{"POST", "/account/2fa/disable/send", User, s.handleDisableSend},
		{"POST", "/login/2fa/send", Pending, s.handleSendCodeForm},
		{"GET", "/account/2fa/email", Setup, s.handleEmailSetupPage},
		{"POST", "/account/2fa/email", Setup, s.handleEmailBegin},
		{"POST", "/account/2fa/email/confirm", Setup, s.handleEmailConfirm},
		{"GET", "/verify-email", Public, s.handleVerifyEmailPage},
		{"POST", "/verify-email", Public, s.handleVerifyEmailForm},
		{"POST", "/account/email", User, s.handleChangeEmailForm},
		{"POST", "/account/email/verify", Setup, s.handleResendVerification},
		{"GET", "/account/2fa/whatsapp", Setup, s.handleWhatsAppSetupPage},
		{"POST", "/account/2fa/whatsapp", Setup, s.handleWhatsAppBegin},
		{"POST", "/account/2fa/whatsapp/confirm", Setup, s.handleWhatsAppConfirm},
		{"POST", "/account/2fa/yubico_otp", Setup, s.handleYubicoEnrol},
		{"POST", "/account/2fa/methods/{id}/rename", User, s.handleMethodRename},
		{"POST", "/account/browsers/{id}/revoke", User, s.handleBrowserRevoke},
		{"GET", "/recover", Public, s.handleRecoverPage},
		{"POST", "/recover", Public, s.handleRecoverForm},
		{"GET", "/account/users", User, s.handleMembersPage},
		{"POST", "/account/users/invite", User, s.handleInviteForm},
		{"POST", "/account/users/{id}/remove", User, s.handleMemberRemove},
		{"POST", "/account/users/invitations/{id}/resend", User, s.handleInvitationResend},
		{"POST", "/account/users/invitations/{id}/revoke", User, s.handleInvitationRevoke},
		{"POST", "/account/policy", User, s.handlePolicyForm},
		{"GET", "/admin/users", Staff, s.handleAdminUsers},
		{"GET", "/admin/users/export.csv", Staff, s.handleAdminExport},
		{"GET", "/admin/users/{id}", Staff, s.handleAdminUser},
		{"POST", "/admin/users/{id}/2fa/reset", Staff, s.handleAdminReset},
		{"GET", "/admin/recovery", Staff, s.handleAdminRecovery},
		{"POST", "/admin/recovery/{id}/approve", Staff, s.handleAdminRecoveryDecide},
		{"POST", "/admin/recovery/{id}/deny", Staff, s.handleAdminRecoveryDecide},
		{"GET", "/admin/events", Staff, s.handleAdminEvents},
		{"GET", "/admin/stats", Staff, s.handleAdminStats},
		{"GET", "/admin/settings", Staff, s.handleAdminSettings},
		{"GET", "/admin/apps", Staff, s.handleAdminApps},
		{"POST", "/admin/apps", Staff, s.handleAdminAppsForm},
		{"GET", "/admin/apps/{id}", Staff, s.handleAdminAppEdit},
		{"POST", "/admin/apps/{id}/delete", Staff, s.handleAdminAppDelete},
		{"GET", "/admin/tokens", Staff, s.handleAdminTokens},
		{"POST", "/admin/tokens", Staff, s.handleAdminTokensForm},
		{"POST", "/admin/tokens/{id}/revoke", Staff, s.handleAdminTokenRevoke},
		{"GET", "/admin/webhooks", Staff, s.handleAdminWebhooks},
		{"POST", "/admin/webhooks", Staff, s.handleAdminWebhooksForm},
		{"POST", "/admin/webhooks/{id}/delete", Staff, s.handleAdminWebhookDelete},
		{"POST", "/admin/webhooks/deliveries/{id}/resend", Staff, s.handleAdminWebhookResend},
		{"GET", "/api/v1/admin/webhooks", Staff, s.apiAdminWebhooks},
		{"POST", "/api/v1/admin/webhooks", Staff, s.apiAdminWebhookCreate},
		{"DELETE", "/api/v1/admin/webhooks/{id}", Staff, s.apiAdminWebhookDelete},
		{"GET", "/api/v1/admin/webhooks/{id}/deliveries", Staff, s.apiAdminWebhookDeliveries},
		{"POST", "/api/v1/admin/webhooks/deliveries/{id}/resend", Staff, s.apiAdminWebhookResend},
		{"GET", "/api/v1/admin/tokens", Staff, s.apiAdminTokens},
		{"POST", "/api/v1/admin/tokens", Staff, s.apiAdminTokenCreate},
		{"DELETE", "/api/v1/admin/tokens/{id}", Staff, s.apiAdminTokenRevoke},
		{"GET", "/api/v1/admin/apps", Staff, s.apiAdminApps},
		{"POST", "/api/v1/admin/apps", Staff, s.apiAdminAppCreate},
		{"DELETE", "/api/v1/admin/apps/{id}", Staff, s.apiAdminAppDelete},
		{"POST", "/admin/settings", Staff, s.handleAdminSettingsForm},
		{"GET", "/password/forgot", Public, s.handleForgotPage},
		{"POST", "/password/forgot", Public, s.handleForgotForm},
		{"GET", "/password/reset", Public, s.handleResetPage},
		{"POST", "/password/reset", Public, s.handleResetForm},
		{"POST", "/password/reset/send", Public, s.handleResetSendForm},
		{"GET", "/unlock", Public, s.handleUnlockPage},
		{"POST", "/unlock", Public, s.handleUnlockForm},
		{"GET", "/invite", Public, s.handleInvitePage},
		{"GET", "/oidc/login", Public, s.handleOIDCLogin}, // provider.LoginPath
		{"POST", "/oidc/consent", User, s.handleOIDCConsent},
		{"POST", "/account/apps/{id}/revoke", User, s.handleRevokeApp},
		{"POST", "/account/sessions/{id}/end", User, s.handleEndSession},
		{"POST", "/account/sessions/end-others", User, s.handleEndOtherSessions},
		{"POST", "/account/alerts", User, s.handleAlertPref},
		{"GET", "/secure", Public, s.handleSecurePage},
		{"POST", "/secure", Public, s.handleSecureForm},
		{"GET", "/api/v1/me/sessions", User, s.apiSessions},
		{"DELETE", "/api/v1/me/sessions/{id}", User, s.apiEndSession},
		{"DELETE", "/api/v1/me/sessions", User, s.apiEndOtherSessions},
		{"POST", "/admin/users/{id}/sessions/end", Staff, s.handleAdminEndSessions},
		{"POST", "/invite", Public, s.handleInviteAccept},

		// JSON API.
		{"POST", "/api/v1/register", Public, s.apiRegister},
		{"POST", "/api/v1/login", Public, s.apiLogin},
		{"POST", "/api/v1/logout", Pending, s.apiLogout},
		{"POST", "/api/v1/reauth", Setup, s.apiReauth},
		{"POST", "/api/v1/me/2fa/send", User, s.apiSendCode},
		{"GET", "/api/v1/me", User, s.apiMe},
		{"PUT", "/api/v1/me/locale", User, s.apiSetLocale},
		{"POST", "/api/v1/me/password", User, s.apiChangePassword},
		{"POST", "/api/v1/login/2fa", Pending, s.apiSecondStep},
		{"POST", "/api/v1/me/2fa/totp", Setup, s.apiTOTPBegin},
		{"POST", "/api/v1/me/2fa/totp/confirm", Setup, s.apiTOTPConfirm},
		{"PUT", "/api/v1/me/2fa/preferred", User, s.apiPreferred},
		{"DELETE", "/api/v1/me/2fa/methods/{id}", User, s.apiMethodDelete},
		{"DELETE", "/api/v1/me/2fa", User, s.apiDisable},
		{"POST", "/api/v1/me/2fa/backup_codes", User, s.apiBackupRegenerate},
		{"GET", "/api/v1/me/events", User, s.apiEvents},
		{"POST", "/api/v1/login/2fa/send", Pending, s.apiSendCode},
		{"POST", "/api/v1/me/2fa/email", Setup, s.apiEmailBegin},
		{"POST", "/api/v1/me/2fa/email/confirm", Setup, s.apiEmailConfirm},
		{"POST", "/api/v1/me/email", User, s.apiChangeEmail},
		{"POST", "/api/v1/me/email/verify", Setup, s.apiResendVerification},
		{"POST", "/api/v1/verify-email", Public, s.apiVerifyEmail},
		{"POST", "/api/v1/me/2fa/whatsapp", Setup, s.apiWhatsAppBegin},
		{"POST", "/api/v1/me/2fa/whatsapp/confirm", Setup, s.apiWhatsAppConfirm},
		{"POST", "/api/v1/me/2fa/webauthn/begin", Setup, s.apiWebAuthnRegisterBegin},
		{"POST", "/api/v1/me/2fa/webauthn/finish", Setup, s.apiWebAuthnRegisterFinish},
		{"POST", "/api/v1/login/2fa/webauthn/begin", Pending, s.apiWebAuthnLoginBegin},
		{"POST", "/api/v1/login/2fa/webauthn/finish", Pending, s.apiWebAuthnLoginFinish},
		{"POST", "/api/v1/me/2fa/passkey/begin", Setup, s.apiPasskeyRegisterBegin},
		{"POST", "/api/v1/me/2fa/passkey/finish", Setup, s.apiPasskeyRegisterFinish},
		{"POST", "/api/v1/login/passkey/begin", Public, s.apiPasskeyLoginBegin},
		{"POST", "/api/v1/login/passkey/finish", Public, s.apiPasskeyLoginFinish},
		{"POST", "/api/v1/me/2fa/yubico_otp", Setup, s.apiYubicoEnrol},
		{"PATCH", "/api/v1/me/2fa/methods/{id}", User, s.apiMethodRename},
		{"GET", "/api/v1/me/browsers", User, s.apiBrowsers},
		{"DELETE", "/api/v1/me/browsers/{id}", User, s.apiBrowserRevoke},
		{"POST", "/api/v1/recovery", Public, s.apiRecovery},
		{"GET", "/api/v1/account/users", User, s.apiMembers},
		{"POST", "/api/v1/account/users", User, s.apiInvite},
		{"DELETE", "/api/v1/account/users/{id}", User, s.apiMemberRemove},
		{"POST", "/api/v1/account/invitations/{id}/resend", User, s.apiInvitationResend},
		{"DELETE", "/api/v1/account/invitations/{id}", User, s.apiInvitationRevoke},
		{"PUT", "/api/v1/account/policy", User, s.apiPolicy},
		{"POST", "/api/v1/invitations/accept", Public, s.apiInviteAccept},
		{"POST", "/api/v1/unlock", Public, s.apiUnlock},
		{"POST", "/api/v1/password/forgot", Public, s.apiForgot},
		{"POST", "/api/v1/password/reset", Public, s.apiReset},
		{"POST", "/api/v1/password/reset/send", Public, s.apiResetSend},
		{"GET", "/api/v1/admin/users", Staff, s.apiAdminUsers},
		{"POST", "/api/v1/admin/users/{id}/2fa/reset", Staff, s.apiAdminReset},
		{"POST", "/api/v1/admin/users/import", Staff, s.apiAdminImport},
		{"POST", "/api/v1/admin/users", Staff, s.apiAdminUserCreate},
		{"GET", "/api/v1/admin/users/lookup", Staff, s.apiAdminUserLookup},
		{"POST", "/api/v1/admin/users/{id}/disable", Staff, s.apiAdminUserDisable},
		{"POST", "/api/v1/admin/users/{id}/enable", Staff, s.apiAdminUserEnable},
		{"GET", "/api/v1/admin/events", Staff, s.apiAdminEvents},
		{"GET", "/api/v1/admin/stats", Staff, s.apiAdminStats},
		{"PUT", "/api/v1/admin/settings", Staff, s.apiAdminSettings},
		{"GET", "/api/v1/admin/recovery", Staff, s.apiRecoveries},
		{"POST", "/api/v1/admin/recovery/{id}/approve", Staff, s.apiRecoveryApprove},
		{"POST", "/api/v1/admin/recovery/{id}/deny", Staff, s.apiRecoveryDeny},
	}
}

// guard enforces a route's access level before its handler runs, then
// refuses a path or query string holding text no field accepts (checkURL).
func (s *Server) guard(rt Route) http.Handler {
	serve := func(w http.ResponseWriter, r *http.Request) error {
		if err := checkURL(r); err != nil {
			return err
		}
		return rt.handler(w, r)
	}
	return s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		st := state(r)
		st.route = rt.Method + " " + rt.Path
		if bearer, ok := bearerToken(r); ok && rt.Access != Public {
			if err := s.tokenAuth(r, rt, bearer); err != nil {
				return err
			}
			return serve(w, r)
		}
		if rt.Access == Public {
			return serve(w, r)
		}
		if st.session == nil {
			if isAPI(r) {
				return portal.Errorf(portal.EUNAUTHORIZED, "You are not signed in.")
			}
			// A page, or a form whose session expired meanwhile: sign in,
			// then back to the page (for a form, the page it was on).
			back := r.URL.RequestURI()
			if r.Method != http.MethodGet {
				back = refererPath(r)
			}
			s.setFlash(w, "signin_again")
			http.Redirect(w, r, "/login"+nextQuery(safeNext(back)), http.StatusSeeOther)
			return nil
		}
		switch lvl := st.session.Level; {
		case rt.Access > Pending && lvl == portal.LevelPassword:
			// Half-logged-in: only the second-factor step is reachable.
			if isAPI(r) || r.Method != http.MethodGet {
				return portal.Errorf(portal.EUNAUTHORIZED, "Finish signing in with your second factor first.")
			}
			http.Redirect(w, r, "/login/2fa", http.StatusSeeOther)
			return nil
		case rt.Access > Setup && lvl == portal.LevelSetup:
			// Policy requires 2FA: nothing but setting it up.
			if isAPI(r) || r.Method != http.MethodGet {
				return portal.Errorf(portal.ESETUPREQUIRED, "Set up two-factor authentication first: it is required for your account.")
			}
			http.Redirect(w, r, "/account/2fa", http.StatusSeeOther)
			return nil
		}
		if rt.Access == Staff && !st.user.IsStaff() {
			return portal.Errorf(portal.EFORBIDDEN, "This page is for staff only.")
		}
		return serve(w, r)
	})
}

// now is the server's clock.
func (s *Server) now() time.Time { return s.Clock.Now() }
