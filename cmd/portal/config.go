package main

import (
	"errors"
	"fmt"
	"github.com/clientportal/portal/i18n"
	"io/fs"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/mail"
	"github.com/clientportal/portal/mfa"
	"github.com/clientportal/portal/sqlstore"
	"github.com/clientportal/portal/web"
	"github.com/clientportal/portal/whatsapp"
	"github.com/clientportal/portal/yubico"
)

// Config is the operator's configuration (SPEC §12), read from PORTAL_*
// environment variables.
type Config struct {
	Addr string
	// PprofAddr, when set, serves Go's profiler (net/http/pprof) on a
	// separate listener; it must be a loopback address.
	PprofAddr string
	// MetricsAddr, when set, serves the Prometheus metrics (user counts,
	// 2FA adoption) on a separate listener; unset, they are not served.
	MetricsAddr string
	BaseURL     *url.URL
	DataDir     string
	DatabaseURL string
	// SQLiteSynchronous is sqlstore.SyncFull (the default: every
	// acknowledged change is on disk) or SyncNormal.
	SQLiteSynchronous string
	Registration      bool
	// DefaultLanguage is PORTAL_DEFAULT_LANGUAGE; Catalog the messages
	// with the operator's overrides from DATA_DIR/i18n.
	DefaultLanguage string
	Catalog         *i18n.Catalog
	// WebhookAllowPrivate lets webhooks go to internal addresses.
	WebhookAllowPrivate bool
	// WebhookPoll is how often each replica looks for webhooks to send;
	// WebhookSettle how old an event must be before it is sent.
	WebhookPoll, WebhookSettle time.Duration
	TrustedProxies             []netip.Prefix
	Sessions                   portal.SessionPolicy
	// SecretKeys is PORTAL_SECRET_KEYS; empty means the generated key file
	// in the data directory (SQLite only).
	SecretKeys *mfa.Keyring
	// Name is the portal's name as authenticator apps show it.
	Name string
	// Brand is the name, logo, colour and links on every page and email.
	Brand portal.Brand
	// SMTPURL is empty for the development mailbox.
	SMTPURL  string
	MailFrom string
	// WhatsApp is nil unless the Cloud API credentials are set.
	WhatsApp *whatsapp.Config
	// Yubico is nil unless validation API credentials are set.
	Yubico *yubico.Config
	// OIDC holds the OpenID Connect provider's token lifetimes.
	OIDC struct{ AccessTokenTTL, RefreshTokenTTL time.Duration }
	// HTTP holds the server's protections against slow and oversized
	// clients.
	HTTP HTTPLimits
}

// HTTPLimits are the HTTP server's timeouts and size limits.
type HTTPLimits struct {
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	MaxHeaderBytes                                            int
	MaxBodyBytes                                              int64
}

// configError names the variable that stopped start-up.
type configError struct{ name, msg string }

func (e *configError) Error() string { return e.name + ": " + e.msg }

// LoadConfig reads the configuration from getenv. A bad value returns an
// error naming the variable.
func LoadConfig(getenv func(string) string) (*Config, error) {
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	c := &Config{Sessions: portal.DefaultSessionPolicy}

	c.Addr = get("PORTAL_ADDR", "127.0.0.1:8080")
	if !isHostPort(c.Addr) {
		return nil, &configError{"PORTAL_ADDR", fmt.Sprintf("%q is not host:port (for example 127.0.0.1:8080 or :8080)", c.Addr)}
	}

	if c.PprofAddr = get("PORTAL_PPROF_ADDR", ""); c.PprofAddr != "" {
		ap, err := netip.ParseAddrPort(c.PprofAddr)
		if err != nil || !ap.Addr().IsLoopback() {
			return nil, &configError{"PORTAL_PPROF_ADDR", fmt.Sprintf("%q is not a loopback host:port (for example 127.0.0.1:6060): the profiler must not be reachable from outside", c.PprofAddr)}
		}
	}

	if c.MetricsAddr = get("PORTAL_METRICS_ADDR", ""); c.MetricsAddr != "" {
		if !isHostPort(c.MetricsAddr) {
			return nil, &configError{"PORTAL_METRICS_ADDR", fmt.Sprintf("%q is not host:port (for example 127.0.0.1:9090 or :9090)", c.MetricsAddr)}
		}
		if c.MetricsAddr == c.Addr {
			return nil, &configError{"PORTAL_METRICS_ADDR", fmt.Sprintf("%q is PORTAL_ADDR: the metrics need a listener of their own", c.MetricsAddr)}
		}
	}

	raw := get("PORTAL_BASE_URL", "http://localhost:8080")
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, &configError{"PORTAL_BASE_URL", fmt.Sprintf("%q is not an http:// or https:// URL like https://portal.example.com", raw)}
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	c.BaseURL = u

	c.DataDir = get("PORTAL_DATA_DIR", "./data")
	c.DatabaseURL = get("PORTAL_DATABASE_URL", "sqlite:"+filepath.Join(c.DataDir, "portal.db"))
	if !strings.HasPrefix(c.DatabaseURL, "sqlite:") && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		return nil, &configError{"PORTAL_DATABASE_URL", "must be sqlite:PATH or postgres://…"}
	}
	switch c.SQLiteSynchronous = strings.ToLower(get("PORTAL_SQLITE_SYNCHRONOUS", sqlstore.SyncFull)); c.SQLiteSynchronous {
	case sqlstore.SyncFull, sqlstore.SyncNormal:
	default:
		return nil, &configError{"PORTAL_SQLITE_SYNCHRONOUS", fmt.Sprintf("%q is not full or normal", c.SQLiteSynchronous)}
	}

	if v := get("PORTAL_SECRET_KEYS", ""); v != "" {
		k, err := mfa.ParseKeyring(v)
		if err != nil {
			return nil, &configError{"PORTAL_SECRET_KEYS", err.Error()}
		}
		c.SecretKeys = k
	} else if !strings.HasPrefix(c.DatabaseURL, "sqlite:") {
		return nil, &configError{"PORTAL_SECRET_KEYS", "required with PostgreSQL (comma-separated id:base64key entries of 32-byte keys; every replica needs the same)"}
	}

	c.Name = get("PORTAL_NAME", "Client Portal")
	if len(c.Name) > 64 || strings.ContainsAny(c.Name, ":\r\n") {
		return nil, &configError{"PORTAL_NAME", "must be at most 64 characters without colons or line breaks"}
	}

	c.Brand = portal.Brand{Name: c.Name}
	if c.Brand.Color, err = portal.ParseColor(get("PORTAL_BRAND_COLOR", portal.DefaultBrandColor)); err != nil {
		return nil, &configError{"PORTAL_BRAND_COLOR", err.Error()}
	}
	for _, l := range []struct {
		name   string
		dst    *string
		mailto bool
	}{{"PORTAL_LOGO_URL", &c.Brand.LogoURL, false}, {"PORTAL_SUPPORT_URL", &c.Brand.SupportURL, true},
		{"PORTAL_PRIVACY_URL", &c.Brand.PrivacyURL, false}, {"PORTAL_TERMS_URL", &c.Brand.TermsURL, false}} {
		v := get(l.name, "")
		if v == "" {
			continue
		}
		if !linkURL(v, l.mailto) {
			want := "an http:// or https:// URL"
			if l.mailto {
				want += " or a mailto: address"
			}
			return nil, &configError{l.name, fmt.Sprintf("%q is not %s", v, want)}
		}
		*l.dst = v
	}

	c.MailFrom = get("PORTAL_MAIL_FROM", c.Name+" <no-reply@localhost>")
	if err := mail.ParseFrom(c.MailFrom); err != nil {
		return nil, &configError{"PORTAL_MAIL_FROM", fmt.Sprintf("%q is not an address like Client Portal <no-reply@example.com>", c.MailFrom)}
	}
	if c.SMTPURL = get("PORTAL_SMTP_URL", ""); c.SMTPURL != "" {
		if _, err := mail.NewSMTP(c.SMTPURL, c.MailFrom); err != nil {
			return nil, &configError{"PORTAL_SMTP_URL", err.Error()}
		}
	}

	waID, waToken := get("PORTAL_WHATSAPP_PHONE_NUMBER_ID", ""), get("PORTAL_WHATSAPP_ACCESS_TOKEN", "")
	switch {
	case waID != "" && waToken != "":
		api := get("PORTAL_WHATSAPP_API_URL", "https://graph.facebook.com/v21.0")
		if u, err := url.Parse(api); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, &configError{"PORTAL_WHATSAPP_API_URL", fmt.Sprintf("%q is not an http(s) URL", api)}
		}
		for _, ch := range waID {
			if ch < '0' || ch > '9' {
				return nil, &configError{"PORTAL_WHATSAPP_PHONE_NUMBER_ID", "must be the numeric phone number id from the WhatsApp Manager"}
			}
		}
		c.WhatsApp = &whatsapp.Config{BaseURL: strings.TrimSuffix(api, "/"), PhoneNumberID: waID, AccessToken: waToken,
			Template: get("PORTAL_WHATSAPP_TEMPLATE", "login_code"), Language: get("PORTAL_WHATSAPP_LANGUAGE", "en_US"), Timeout: 10 * time.Second}
	case waID != "":
		return nil, &configError{"PORTAL_WHATSAPP_ACCESS_TOKEN", "required when PORTAL_WHATSAPP_PHONE_NUMBER_ID is set"}
	case waToken != "":
		return nil, &configError{"PORTAL_WHATSAPP_PHONE_NUMBER_ID", "required when PORTAL_WHATSAPP_ACCESS_TOKEN is set"}
	}

	ykID, ykKey := get("PORTAL_YUBICO_CLIENT_ID", ""), get("PORTAL_YUBICO_SECRET_KEY", "")
	switch {
	case ykID != "" && ykKey != "":
		var urls []string
		for _, u := range strings.Split(get("PORTAL_YUBICO_API_URLS", "https://api.yubico.com/wsapi/2.0/verify"), ",") {
			if u = strings.TrimSpace(u); u != "" {
				urls = append(urls, u)
			}
		}
		c.Yubico = &yubico.Config{ClientID: ykID, SecretKey: ykKey, URLs: urls, Timeout: 5 * time.Second}
		if _, err := yubico.New(*c.Yubico); err != nil {
			name := "PORTAL_YUBICO_API_URLS"
			switch {
			case strings.Contains(err.Error(), "client id"):
				name = "PORTAL_YUBICO_CLIENT_ID"
			case strings.Contains(err.Error(), "key"):
				name = "PORTAL_YUBICO_SECRET_KEY"
			}
			return nil, &configError{name, err.Error()}
		}
	case ykID != "":
		return nil, &configError{"PORTAL_YUBICO_SECRET_KEY", "required when PORTAL_YUBICO_CLIENT_ID is set"}
	case ykKey != "":
		return nil, &configError{"PORTAL_YUBICO_CLIENT_ID", "required when PORTAL_YUBICO_SECRET_KEY is set"}
	}

	// The language for visitors whose browser asks for none of ours, and
	// the operator's message overrides (DATA_DIR/i18n/CODE.json).
	c.DefaultLanguage = get("PORTAL_DEFAULT_LANGUAGE", "en")
	if _, ok := i18n.Builtin().Get(c.DefaultLanguage); !ok {
		codes := make([]string, len(i18n.Languages))
		for i, l := range i18n.Languages {
			codes[i] = l.Code
		}
		return nil, &configError{"PORTAL_DEFAULT_LANGUAGE", fmt.Sprintf("%q is not one of the portal's languages (%s)", c.DefaultLanguage, strings.Join(codes, ", "))}
	}
	c.Catalog, err = i18n.Load(filepath.Join(c.DataDir, "i18n"))
	if err != nil {
		return nil, &configError{"PORTAL_DATA_DIR", "message overrides: " + err.Error()}
	}

	switch reg := get("PORTAL_REGISTRATION", "open"); reg {
	case "open":
		c.Registration = true
	case "closed":
	default:
		return nil, &configError{"PORTAL_REGISTRATION", fmt.Sprintf("%q must be open or closed", reg)}
	}

	switch v := get("PORTAL_WEBHOOK_ALLOW_PRIVATE", ""); v {
	case "", "0", "false":
	case "1", "true":
		c.WebhookAllowPrivate = true
	default:
		return nil, &configError{"PORTAL_WEBHOOK_ALLOW_PRIVATE", fmt.Sprintf("%q must be 1 or 0", v)}
	}

	if v := get("PORTAL_TRUSTED_PROXIES", ""); v != "" {
		for _, s := range strings.Split(v, ",") {
			s = strings.TrimSpace(s)
			p, err := netip.ParsePrefix(s)
			if err != nil {
				a, aerr := netip.ParseAddr(s)
				if aerr != nil {
					return nil, &configError{"PORTAL_TRUSTED_PROXIES", fmt.Sprintf("%q is not a CIDR like 10.0.0.0/8", s)}
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			c.TrustedProxies = append(c.TrustedProxies, p.Masked())
		}
	}

	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{{"PORTAL_SESSION_IDLE_TIMEOUT", &c.Sessions.Idle}, {"PORTAL_SESSION_ABSOLUTE_TIMEOUT", &c.Sessions.Absolute}} {
		if v := get(d.name, ""); v != "" {
			t, err := time.ParseDuration(v)
			if err != nil || t < time.Minute {
				return nil, &configError{d.name, fmt.Sprintf("%q must be a duration of at least 1m, like 1h or 24h", v)}
			}
			*d.dst = t
		}
	}

	for _, d := range []struct {
		name     string
		dst      *time.Duration
		min, max time.Duration
	}{{"PORTAL_OIDC_ACCESS_TOKEN_TTL", &c.OIDC.AccessTokenTTL, time.Minute, 24 * time.Hour},
		{"PORTAL_OIDC_REFRESH_TOKEN_TTL", &c.OIDC.RefreshTokenTTL, time.Hour, 365 * 24 * time.Hour},
		{"PORTAL_WEBHOOK_POLL", &c.WebhookPoll, 10 * time.Millisecond, time.Minute},
		{"PORTAL_WEBHOOK_SETTLE", &c.WebhookSettle, time.Nanosecond, time.Minute}} {
		if v := get(d.name, ""); v != "" {
			t, err := time.ParseDuration(v)
			if err != nil || t < d.min || t > d.max {
				return nil, &configError{d.name, fmt.Sprintf("%q must be a duration from %s to %s, like 15m or 720h", v, d.min, d.max)}
			}
			*d.dst = t
		}
	}

	c.HTTP = HTTPLimits{ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second,
		IdleTimeout: 120 * time.Second, MaxHeaderBytes: 32 << 10, MaxBodyBytes: 64 << 10}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{{"PORTAL_HTTP_READ_HEADER_TIMEOUT", &c.HTTP.ReadHeaderTimeout}, {"PORTAL_HTTP_READ_TIMEOUT", &c.HTTP.ReadTimeout},
		{"PORTAL_HTTP_WRITE_TIMEOUT", &c.HTTP.WriteTimeout}, {"PORTAL_HTTP_IDLE_TIMEOUT", &c.HTTP.IdleTimeout}} {
		if v := get(d.name, ""); v != "" {
			t, err := time.ParseDuration(v)
			if err != nil || t < 100*time.Millisecond || t > time.Hour {
				return nil, &configError{d.name, fmt.Sprintf("%q must be a duration between 100ms and 1h, like 10s", v)}
			}
			*d.dst = t
		}
	}
	for _, d := range []struct {
		name     string
		dst      *int64
		min, max int64
	}{{"PORTAL_HTTP_MAX_HEADER_BYTES", nil, 4 << 10, 1 << 20}, {"PORTAL_HTTP_MAX_BODY_BYTES", &c.HTTP.MaxBodyBytes, 4 << 10, 16 << 20}} {
		v := get(d.name, "")
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < d.min || n > d.max {
			return nil, &configError{d.name, fmt.Sprintf("%q must be a number of bytes from %d to %d", v, d.min, d.max)}
		}
		if d.dst != nil {
			*d.dst = n
		} else {
			c.HTTP.MaxHeaderBytes = int(n)
		}
	}
	return c, nil
}

// linkURL accepts the absolute http(s) URLs (and, where mailto is true,
// mailto: addresses) that pages and emails link to.
func linkURL(s string, mailto bool) bool {
	u, err := url.Parse(s)
	if err != nil || len(s) > 2000 || strings.ContainsAny(s, "\"<> \t\r\n") {
		return false
	}
	if mailto && u.Scheme == "mailto" {
		return u.Opaque != ""
	}
	return (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.User == nil
}

// logoFiles are the names a logo may have in the data directory, with the
// type it is served as.
var logoFiles = []struct{ name, typ string }{
	{"logo.svg", "image/svg+xml"}, {"logo.png", "image/png"}, {"logo.webp", "image/webp"}, {"logo.jpg", "image/jpeg"},
}

// loadLogo reads the logo file from the data directory when PORTAL_LOGO_URL
// is not set; the pages then show it from /brand/logo.
func loadLogo(b portal.Brand, dataDir string) (portal.Brand, *web.Logo, error) {
	if b.LogoURL != "" {
		return b, nil, nil
	}
	for _, f := range logoFiles {
		path := filepath.Join(dataDir, f.name)
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return b, nil, fmt.Errorf("logo: %w", err)
		}
		if len(data) > 512<<10 {
			return b, nil, fmt.Errorf("logo: %s is %d KiB; a logo must be at most 512 KiB", path, len(data)>>10)
		}
		b.LogoURL = "/brand/logo"
		return b, &web.Logo{Type: f.typ, Data: data}, nil
	}
	return b, nil, nil
}

// isHostPort accepts the listen addresses the portal takes: ip:port, :port
// or localhost:port.
func isHostPort(s string) bool {
	if _, err := netip.ParseAddrPort(s); err == nil {
		return true
	}
	host, port, found := strings.Cut(s, ":")
	if !found || (host != "" && host != "localhost") {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 0 && n <= 65535
}
