package main_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	main "github.com/clientportal/portal/cmd/portal"
	"github.com/clientportal/portal/password"
	"github.com/clientportal/portal/portaltest"
	"github.com/clientportal/portal/sqlstore/storetest"
)

// testKeys is a fixed PORTAL_SECRET_KEYS for PostgreSQL runs.
const testKeys = "k1:QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="

// cheap argon2 parameters keep end-to-end tests quick.
var cheap = password.Params{Memory: 1024, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}

// portal is a running portal process (in-process) for end-to-end tests.
type portal struct {
	*main.Main
	URL    string
	Stdout *portaltest.SyncBuffer
	Logs   *portaltest.SyncBuffer
}

// runPortal starts `portal serve` on 127.0.0.1:0 with env on top of a fresh
// data directory, and stops it at cleanup.
func runPortal(t *testing.T, env map[string]string, args ...string) *portal {
	t.Helper()
	return runPortalClock(t, nil, env, args...)
}

// runPortalClock is runPortal with a frozen clock (nil: the real one).
func runPortalClock(t *testing.T, clock *portaltest.Clock, env map[string]string, args ...string) *portal {
	t.Helper()
	dir := t.TempDir()
	// A port picked now lets links in emails point at the real address.
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	vars := map[string]string{"PORTAL_ADDR": addr, "PORTAL_BASE_URL": "http://localhost:" + port, "PORTAL_DATA_DIR": dir}
	for k, v := range env {
		vars[k] = v
	}
	m := main.NewMain()
	m.Getenv = func(k string) string { return vars[k] }
	p := &portal{Main: m, Stdout: &portaltest.SyncBuffer{}, Logs: &portaltest.SyncBuffer{}}
	m.Stdout, m.Stderr = p.Stdout, p.Logs
	m.Params = &cheap
	if clock != nil {
		m.Clock = clock
	}
	if err := m.ParseFlags(context.Background(), args); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	p.URL = m.Config.BaseURL.String()
	return p
}

func TestLoadConfig(t *testing.T) {
	for _, tc := range []struct{ name, value, want string }{
		{"PORTAL_BASE_URL", "ftp://x", "PORTAL_BASE_URL"},
		{"PORTAL_BASE_URL", "localhost:8080", "PORTAL_BASE_URL"},
		{"PORTAL_REGISTRATION", "maybe", "PORTAL_REGISTRATION"},
		{"PORTAL_ADDR", "nonsense", "PORTAL_ADDR"},
		{"PORTAL_DATABASE_URL", "mysql://x", "PORTAL_DATABASE_URL"},
		{"PORTAL_TRUSTED_PROXIES", "10.0.0.0/8,banana", "PORTAL_TRUSTED_PROXIES"},
		{"PORTAL_SESSION_IDLE_TIMEOUT", "soon", "PORTAL_SESSION_IDLE_TIMEOUT"},
		{"PORTAL_HTTP_READ_TIMEOUT", "1ms", "PORTAL_HTTP_READ_TIMEOUT"},
		{"PORTAL_HTTP_MAX_BODY_BYTES", "lots", "PORTAL_HTTP_MAX_BODY_BYTES"},
		{"PORTAL_HTTP_MAX_HEADER_BYTES", "99999999", "PORTAL_HTTP_MAX_HEADER_BYTES"},
		{"PORTAL_MAIL_FROM", "not an address", "PORTAL_MAIL_FROM"},
		{"PORTAL_SMTP_URL", "ftp://mail", "PORTAL_SMTP_URL"},
		{"PORTAL_WHATSAPP_PHONE_NUMBER_ID", "123", "PORTAL_WHATSAPP_ACCESS_TOKEN"},
		{"PORTAL_YUBICO_CLIENT_ID", "42", "PORTAL_YUBICO_SECRET_KEY"},
		{"PORTAL_SECRET_KEYS", "k1:short", "PORTAL_SECRET_KEYS"},
		{"PORTAL_PPROF_ADDR", "0.0.0.0:6060", "PORTAL_PPROF_ADDR"},
		{"PORTAL_PPROF_ADDR", "profiler", "PORTAL_PPROF_ADDR"},
		{"PORTAL_SQLITE_SYNCHRONOUS", "off", "PORTAL_SQLITE_SYNCHRONOUS"},
		{"PORTAL_METRICS_ADDR", "metrics", "PORTAL_METRICS_ADDR"},
		{"PORTAL_BRAND_COLOR", "teal", "PORTAL_BRAND_COLOR"},
		{"PORTAL_BRAND_COLOR", "#00aa77;}body{", "PORTAL_BRAND_COLOR"},
		{"PORTAL_LOGO_URL", "javascript:alert(1)", "PORTAL_LOGO_URL"},
		{"PORTAL_SUPPORT_URL", "help desk", "PORTAL_SUPPORT_URL"},
		{"PORTAL_PRIVACY_URL", "mailto:privacy@example.com", "PORTAL_PRIVACY_URL"},
		{"PORTAL_TERMS_URL", "https://exa mple.com/terms", "PORTAL_TERMS_URL"},
		{"PORTAL_OIDC_ACCESS_TOKEN_TTL", "forever", "PORTAL_OIDC_ACCESS_TOKEN_TTL"},
		{"PORTAL_OIDC_REFRESH_TOKEN_TTL", "1s", "PORTAL_OIDC_REFRESH_TOKEN_TTL"},
		{"PORTAL_METRICS_ADDR", "example.com:9090", "PORTAL_METRICS_ADDR"},
		{"PORTAL_METRICS_ADDR", "127.0.0.1:8080", "PORTAL_METRICS_ADDR"}, // PORTAL_ADDR's default
	} {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			_, err := main.LoadConfig(func(k string) string {
				if k == tc.name {
					return tc.value
				}
				return ""
			})
			if err == nil || !strings.HasPrefix(err.Error(), tc.want+":") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v, want one line naming %s", err, tc.want)
			}
		})
	}
	c, err := main.LoadConfig(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:8080" || c.BaseURL.String() != "http://localhost:8080" || !c.Registration || c.DatabaseURL != "sqlite:"+filepath.Join("data", "portal.db") || c.SQLiteSynchronous != "full" {
		t.Fatalf("defaults: %+v", c)
	}
	brand := map[string]string{"PORTAL_NAME": "Acme Hosting", "PORTAL_BRAND_COLOR": "#0A7", "PORTAL_SUPPORT_URL": "mailto:help@acme.example",
		"PORTAL_LOGO_URL": "https://cdn.acme.example/logo.svg", "PORTAL_OIDC_ACCESS_TOKEN_TTL": "5m"}
	if c, err = main.LoadConfig(func(k string) string { return brand[k] }); err != nil {
		t.Fatal(err)
	}
	if c.Brand.Name != "Acme Hosting" || c.Brand.Color != "#00aa77" || c.Brand.SupportURL != "mailto:help@acme.example" ||
		c.Brand.LogoURL != "https://cdn.acme.example/logo.svg" || c.OIDC.AccessTokenTTL != 5*time.Minute {
		t.Fatalf("brand: %+v %+v", c.Brand, c.OIDC)
	}
}

// TestMetricsListener: the metrics (user counts, 2FA adoption) are served
// only on PORTAL_METRICS_ADDR; the portal's own listener answers 404, and
// without the variable they are served nowhere.
func TestMetricsListener(t *testing.T) {
	p := runPortal(t, map[string]string{"PORTAL_METRICS_ADDR": "127.0.0.1:0"})
	status := func(url string) (int, string) {
		t.Helper()
		r, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return r.StatusCode, string(b)
	}
	if st, body := status(p.URL + "/metrics"); st != 404 || strings.Contains(body, "portal_users") {
		t.Fatalf("/metrics on the portal's listener: %d, want 404", st)
	}
	if p.MetricsAddr == "" {
		t.Fatal("no metrics listener")
	}
	if st, body := status("http://" + p.MetricsAddr + "/metrics"); st != 200 || !strings.Contains(body, "portal_password_hash_limit") {
		t.Fatalf("/metrics on the metrics listener: %d %s", st, body)
	}
	if q := runPortal(t, nil); q.MetricsAddr != "" {
		t.Fatalf("metrics served on %s without PORTAL_METRICS_ADDR", q.MetricsAddr)
	}
}

// TestSetupLinkAndUsersCreate: the first start prints a one-time link for the
// first administrator; `users create` makes users from the command line.
func TestSetupLinkAndUsersCreate(t *testing.T) {
	p := runPortal(t, nil)
	out := p.Stdout.String()
	if !strings.Contains(out, "/setup?token=") {
		t.Fatalf("no setup link printed: %q", out)
	}
	if strings.Contains(p.Logs.String(), "token=") {
		t.Fatal("the setup token went to the log")
	}
	dir := p.Config.DataDir
	p.Close()

	m := main.NewMain()
	vars := map[string]string{"PORTAL_DATA_DIR": dir}
	m.Getenv = func(k string) string { return vars[k] }
	var stdout portaltest.SyncBuffer
	m.Stdout, m.Stderr, m.Stdin = &stdout, &portaltest.SyncBuffer{}, strings.NewReader("a long admin passphrase\n")
	m.Params = &cheap
	if err := m.ParseFlags(context.Background(), []string{"users", "create", "--email", "ops@example.com", "--name", "Ops", "--admin", "--password-stdin"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	m.Close()
	if !strings.Contains(stdout.String(), "created admin ops@example.com") {
		t.Fatalf("users create said %q", stdout.String())
	}
	// With a staff user, the next start prints no link.
	p2 := runPortal(t, map[string]string{"PORTAL_DATA_DIR": dir})
	if strings.Contains(p2.Stdout.String(), "setup?token=") {
		t.Fatal("setup link printed although an admin exists")
	}
	// The link printed before `users create --admin` is dead.
	link := regexp.MustCompile(`/setup\?token=(\S+)`).FindStringSubmatch(out)
	if link == nil {
		t.Fatalf("no token in %q", out)
	}
	token, _ := url.QueryUnescape(link[1])
	r, err := http.PostForm(p2.URL+"/setup", url.Values{"token": {token}, "email": {"late@example.com"}, "name": {"Late"}, "password": {"a long admin passphrase"}})
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 404 {
		t.Fatalf("old set-up link after users create --admin: %d, want 404", r.StatusCode)
	}
	if n, _ := p2.DB.CountStaff(context.Background()); n != 1 {
		t.Fatalf("staff = %d, want 1", n)
	}
}

func TestMigrateCommand(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		m := main.NewMain()
		vars := map[string]string{"PORTAL_DATA_DIR": t.TempDir(), "PORTAL_DATABASE_URL": storetest.DSN(t, dialect), "PORTAL_SECRET_KEYS": testKeys}
		m.Getenv = func(k string) string { return vars[k] }
		var out portaltest.SyncBuffer
		m.Stdout, m.Stderr = &out, &portaltest.SyncBuffer{}
		if err := m.ParseFlags(context.Background(), []string{"migrate"}); err != nil {
			t.Fatal(err)
		}
		if err := m.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		m.Close()
		if !strings.Contains(out.String(), "migrations applied") {
			t.Fatalf("migrate said %q", out.String())
		}
	})
}
