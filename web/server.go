// Package web serves the portal over HTTP: the server-rendered pages, the
// JSON API under /api/v1 and the operations endpoints.
package web

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/mfa"
	"github.com/clientportal/portal/password"
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
	Ping(ctx context.Context) error
}

// Config is what the web layer needs to know from the operator.
type Config struct {
	BaseURL        *url.URL
	Registration   bool // self-registration open
	Sessions       portal.SessionPolicy
	TrustedProxies []netip.Prefix
	// MaxBody caps request bodies (DefaultMaxBody when zero).
	MaxBody int64
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
}

// LinkMailer queues an email carrying a one-time link.
type LinkMailer interface {
	SendLink(ctx context.Context, to, name, subject, intro, button, link string) error
}

// Server is the HTTP side of the portal. Build it with New.
type Server struct {
	Config
	Deps

	metrics    *metrics
	statsCache statsCache
	routes     []Route
	handler    http.Handler
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
	if d.Factors == nil {
		fs := []mfa.Factor{d.TOTP}
		if d.Email != nil {
			fs = append(fs, d.Email)
		}
		if d.WhatsApp != nil {
			fs = append(fs, d.WhatsApp)
		}
		if d.WebAuthn != nil {
			fs = append(fs, d.WebAuthn)
		}
		if d.YubicoOTP != nil {
			fs = append(fs, d.YubicoOTP)
		}
		d.Factors = mfa.NewRegistry(append(fs, d.Backup)...)
	}
	s := &Server{Config: cfg, Deps: d}
	s.metrics = newMetrics(d.Hasher)
	s.metrics.registry.MustRegister(newAdoptionCollector(s))
	s.routes = s.routeTable()

	mux := http.NewServeMux()
	for _, rt := range s.routes {
		mux.Handle(rt.Method+" "+rt.Path, s.guard(rt))
	}
	mux.Handle("GET /static/", http.StripPrefix("/static/", staticHandler()))
	mux.Handle("/", s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		return portal.Errorf(portal.ENOTFOUND, "There is no page at this address.")
	}))

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		return portal.Errorf(portal.EFORBIDDEN, "This request came from another site and was refused.")
	}))
	s.handler = s.observe(s.limitBody(s.loadSession(cop.Handler(mux))))
	return s
}

// Routes returns the routing table.
func (s *Server) Routes() []Route { return s.routes }

// ServeHTTP serves a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func (s *Server) routeTable() []Route {
	return []Route{
		// Operations.
		{"GET", "/healthz", Public, s.handleHealthz},
		{"GET", "/readyz", Public, s.handleReadyz},
		{"GET", "/metrics", Public, s.handleMetrics},

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
		{"GET", "/account/reauth", User, s.handleReauthPage},
		{"POST", "/account/reauth", User, s.handleReauthForm},
		{"GET", "/login/2fa", Pending, s.handleSecondStepPage},
		{"POST", "/login/2fa", Pending, s.handleSecondStepForm},
		{"GET", "/account/2fa", Setup, s.handleTwoFactorStart},
		{"POST", "/account/2fa/totp", Setup, s.handleTOTPBegin},
		{"GET", "/account/2fa/totp", Setup, s.handleTOTPPage},
		{"POST", "/account/2fa/totp/confirm", Setup, s.handleTOTPConfirm},
		{"POST", "/account/2fa/backup_codes", User, s.handleBackupRegenerate},
		{"POST", "/account/2fa/preferred", User, s.handlePreferredForm},
		{"POST", "/account/2fa/methods/{id}/delete", User, s.handleMethodDelete},
		{"POST", "/account/2fa/disable", User, s.handleDisableForm},
		{"POST", "/login/2fa/send", Pending, s.handleSendCodeForm},
		{"POST", "/account/2fa/email", Setup, s.handleEmailBegin},
		{"POST", "/account/2fa/email/confirm", Setup, s.handleEmailConfirm},
		{"GET", "/verify-email", Public, s.handleVerifyEmailPage},
		{"POST", "/verify-email", Public, s.handleVerifyEmailForm},
		{"POST", "/account/email", User, s.handleChangeEmailForm},
		{"POST", "/account/email/verify", Setup, s.handleResendVerification},
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
		{"POST", "/admin/settings", Staff, s.handleAdminSettingsForm},
		{"GET", "/invite", Public, s.handleInvitePage},
		{"POST", "/invite", Public, s.handleInviteAccept},

		// JSON API.
		{"POST", "/api/v1/register", Public, s.apiRegister},
		{"POST", "/api/v1/login", Public, s.apiLogin},
		{"POST", "/api/v1/logout", Pending, s.apiLogout},
		{"POST", "/api/v1/reauth", User, s.apiReauth},
		{"GET", "/api/v1/me", User, s.apiMe},
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
		{"POST", "/api/v1/me/2fa/yubico_otp", Setup, s.apiYubicoEnrol},
		{"PATCH", "/api/v1/me/2fa/methods/{id}", User, s.apiMethodRename},
		{"GET", "/api/v1/me/browsers", User, s.apiBrowsers},
		{"DELETE", "/api/v1/me/browsers/{id}", User, s.apiBrowserRevoke},
		{"POST", "/api/v1/recovery", Public, s.apiRecovery},
		{"GET", "/api/v1/account/users", User, s.apiMembers},
		{"POST", "/api/v1/account/users", User, s.apiInvite},
		{"DELETE", "/api/v1/account/users/{id}", User, s.apiMemberRemove},
		{"PUT", "/api/v1/account/policy", User, s.apiPolicy},
		{"POST", "/api/v1/invitations/accept", Public, s.apiInviteAccept},
		{"GET", "/api/v1/admin/users", Staff, s.apiAdminUsers},
		{"POST", "/api/v1/admin/users/{id}/2fa/reset", Staff, s.apiAdminReset},
		{"GET", "/api/v1/admin/events", Staff, s.apiAdminEvents},
		{"GET", "/api/v1/admin/stats", Staff, s.apiAdminStats},
		{"PUT", "/api/v1/admin/settings", Staff, s.apiAdminSettings},
		{"GET", "/api/v1/admin/recovery", Staff, s.apiRecoveries},
		{"POST", "/api/v1/admin/recovery/{id}/approve", Staff, s.apiRecoveryApprove},
		{"POST", "/api/v1/admin/recovery/{id}/deny", Staff, s.apiRecoveryDeny},
	}
}

// guard enforces a route's access level before its handler runs.
func (s *Server) guard(rt Route) http.Handler {
	return s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		st := state(r)
		st.route = rt.Method + " " + rt.Path
		if rt.Access == Public {
			return rt.handler(w, r)
		}
		if st.session == nil {
			if isAPI(r) || r.Method != http.MethodGet {
				return portal.Errorf(portal.EUNAUTHORIZED, "You are not signed in.")
			}
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
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
		return rt.handler(w, r)
	})
}

// now is the server's clock.
func (s *Server) now() time.Time { return s.Clock.Now() }
