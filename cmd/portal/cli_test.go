package main_test

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	cp "github.com/clientportal/portal"
	main "github.com/clientportal/portal/cmd/portal"
	"github.com/clientportal/portal/mail/mailtest"
	"github.com/clientportal/portal/portaltest"
	"github.com/clientportal/portal/sqlstore"
	"github.com/clientportal/portal/sqlstore/storetest"
)

// apiClient talks JSON to a running portal with its own cookies.
type apiClient struct {
	t    *testing.T
	base string
	http *http.Client
}

func newAPIClient(t *testing.T, base string) *apiClient {
	jar, _ := cookiejar.New(nil)
	return &apiClient{t: t, base: base, http: &http.Client{Jar: jar}}
}

func (c *apiClient) call(method, path, body string) (int, map[string]any) {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

// runCommand runs one portal command against dataDir and returns stdout.
func runCommand(t *testing.T, env map[string]string, clock *portaltest.Clock, args ...string) string {
	t.Helper()
	m := main.NewMain()
	m.Getenv = func(k string) string { return env[k] }
	var out portaltest.SyncBuffer
	m.Stdout, m.Stderr = &out, &portaltest.SyncBuffer{}
	m.Params = &cheap
	if clock != nil {
		m.Clock = clock
	}
	if err := m.ParseFlags(context.Background(), args); err != nil {
		t.Fatal(err)
	}
	err := m.Run(context.Background())
	m.Close()
	if err != nil {
		t.Fatalf("portal %s: %v", strings.Join(args, " "), err)
	}
	return out.String()
}

// enable2FA registers a user and turns TOTP on through the API; it returns
// the authenticator.
func enable2FA(t *testing.T, p *portal, clock *portaltest.Clock, email string) authenticator {
	c := newAPIClient(t, p.URL)
	if st, m := c.call("POST", "/api/v1/register", `{"email":"`+email+`","password":"a long enough pass","name":"U"}`); st != 201 {
		t.Fatalf("register: %d %v", st, m)
	}
	c.call("POST", "/api/v1/login", `{"email":"`+email+`","password":"a long enough pass"}`)
	_, m := c.call("POST", "/api/v1/me/2fa/totp", "")
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(m["secret"].(string))
	if err != nil {
		t.Fatal(err)
	}
	app := authenticator{key: key}
	if st, m := c.call("POST", "/api/v1/me/2fa/totp/confirm", `{"code":"`+app.code(clock.Now())+`"}`); st != 200 {
		t.Fatalf("confirm: %d %v", st, m)
	}
	return app
}

// loginStatus is the status of the password step for email.
func loginStatus(t *testing.T, base, email string) string {
	_, m := newAPIClient(t, base).call("POST", "/api/v1/login", `{"email":"`+email+`","password":"a long enough pass"}`)
	s, _ := m["status"].(string)
	return s
}

// TestUsersReset2FA: staff reset a user's 2FA from the command line; the
// user's sessions end and the next login needs only the password.
func TestUsersReset2FA(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		clock := portaltest.NewClock(time.Now())
		env := map[string]string{"PORTAL_DATA_DIR": t.TempDir(), "PORTAL_DATABASE_URL": storetest.DSN(t, dialect),
			"PORTAL_SECRET_KEYS": testKeys}
		p := runPortalClock(t, clock, env)
		enable2FA(t, p, clock, "lost@example.com")
		if s := loginStatus(t, p.URL, "lost@example.com"); s != "2fa_required" {
			t.Fatalf("before reset: %q", s)
		}
		out := runCommand(t, env, clock, "users", "reset-2fa", "--email", "LOST@example.com", "--reason", "verified by phone, ticket 4711")
		if !strings.Contains(out, "reset for lost@example.com") {
			t.Fatalf("reset said %q", out)
		}
		if s := loginStatus(t, p.URL, "lost@example.com"); s != "authenticated" {
			t.Fatalf("after reset: %q", s)
		}
		// The user was told, with the reason.
		mails, _ := filepath.Glob(filepath.Join(env["PORTAL_DATA_DIR"], "mail", "*.eml"))
		found := false
		for _, f := range mails {
			b, _ := os.ReadFile(f)
			found = found || strings.Contains(string(b), "ticket 4711")
		}
		if !found {
			t.Fatal("no notification with the reason")
		}
	})
}

// TestKeysRotate: rotation re-seals every secret with a new key and codes
// keep working.
func TestKeysRotate(t *testing.T) {
	clock := portaltest.NewClock(time.Now().Truncate(30 * time.Second))
	dir := t.TempDir()
	env := map[string]string{"PORTAL_DATA_DIR": dir}
	p := runPortalClock(t, clock, env)
	app := enable2FA(t, p, clock, "rot@example.com")
	p.Close()
	before, _ := os.ReadFile(filepath.Join(dir, "secret.keys"))

	clock.Add(time.Minute)
	out := runCommand(t, env, clock, "keys", "rotate")
	if !strings.Contains(out, "re-encrypted 1 secrets") {
		t.Fatalf("rotate said %q", out)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "secret.keys"))
	if !strings.HasSuffix(strings.TrimSpace(string(after)), strings.TrimSpace(string(before))) || len(after) <= len(before) {
		t.Fatalf("key file not extended with a new first key:\n%s\n%s", before, after)
	}
	if again := runCommand(t, env, clock, "keys", "rotate"); !strings.Contains(again, "re-encrypted 1 secrets") {
		t.Fatalf("second rotation: %q", again)
	}

	p2 := runPortalClock(t, clock, env)
	c := newAPIClient(t, p2.URL)
	c.call("POST", "/api/v1/login", `{"email":"rot@example.com","password":"a long enough pass"}`)
	if st, m := c.call("POST", "/api/v1/login/2fa", `{"method":"totp","code":"`+app.code(clock.Now())+`"}`); st != 200 {
		t.Fatalf("code after rotation: %d %v", st, m)
	}
}

// TestKeysRotatePendingMail: mail waiting in the outbox (sealed, the mail
// server down) is re-sealed by `portal keys rotate`, so it is still
// delivered once the old key is dropped.
func TestKeysRotatePendingMail(t *testing.T) {
	srv := mailtest.NewServer(t)
	srv.Stop()
	clock := portaltest.NewClock(time.Now().Truncate(30 * time.Second))
	dir := t.TempDir()
	env := map[string]string{"PORTAL_DATA_DIR": dir, "PORTAL_SMTP_URL": srv.URL()}
	p := runPortalClock(t, clock, env)
	enable2FA(t, p, clock, "rot@example.com")
	p.Close()

	clock.Add(time.Minute) // past the first retry
	out := runCommand(t, env, clock, "keys", "rotate")
	m := regexp.MustCompile(`re-encrypted (\d+) pending emails`).FindStringSubmatch(out)
	if m == nil || m[1] == "0" {
		t.Fatalf("rotate said %q; want the pending emails re-encrypted", out)
	}
	pending, _ := strconv.Atoi(m[1])
	t.Logf("rotate: %s", out)
	// Drop every key but the new first one.
	path := filepath.Join(dir, "secret.keys")
	keys, _ := os.ReadFile(path)
	first, _, _ := strings.Cut(strings.TrimSpace(string(keys)), ",")
	if err := os.WriteFile(path, []byte(first+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	srv.Start()
	runPortalClock(t, clock, env)
	// Every one arrives (mailTo fails the test after 20 s otherwise).
	mailTo(t, srv, "rot@example.com", pending)
}

func TestSecretKeysRequiredWithPostgres(t *testing.T) {
	_, err := main.LoadConfig(func(k string) string {
		if k == "PORTAL_DATABASE_URL" {
			return "postgres://x@127.0.0.1/db"
		}
		return ""
	})
	if err == nil || !strings.HasPrefix(err.Error(), "PORTAL_SECRET_KEYS:") {
		t.Fatalf("err = %v", err)
	}
}

// TestVersionAndHelp: `portal version` and `--version` print the version,
// commit and Go version; help for every command exits 0 (a command with
// flags of its own prints them); an unknown command exits 1 with the usage.
func TestVersionAndHelp(t *testing.T) {
	bin := buildPortal(t)
	dir := t.TempDir()
	run := func(args ...string) (string, int) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "PORTAL_DATA_DIR="+dir)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	line := regexp.MustCompile(`^portal \S+ \(commit \S+, go1\.\d+(\.\d+)?\)\n$`)
	for _, args := range [][]string{{"version"}, {"--version"}} {
		if out, code := run(args...); code != 0 || !line.MatchString(out) {
			t.Errorf("portal %v: exit %d, %q", args, code, out)
		}
	}
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}, {"serve", "--help"}, {"migrate", "--help"}, {"keys", "rotate", "--help"},
		{"users", "--help"}, {"apps", "list", "--help"}} {
		if out, code := run(args...); code != 0 || !strings.Contains(out, "Usage:") || !strings.Contains(out, "portal version") {
			t.Errorf("portal %v: exit %d, %q", args, code, out)
		}
	}
	for _, args := range [][]string{{"bench", "--help"}, {"users", "create", "--help"}, {"users", "reset-2fa", "-h"}, {"apps", "create", "--help"},
		{"argon2-rate", "--help"}, {"dev-whatsapp", "--help"}} {
		if out, code := run(args...); code != 0 || !strings.Contains(out, "-") || strings.Contains(out, "help requested") {
			t.Errorf("portal %v: exit %d, %q", args, code, out)
		}
	}
	if out, code := run("nonsense"); code != 1 || !strings.Contains(out, `unknown command "nonsense"`) || !strings.Contains(out, "Usage:") {
		t.Errorf("an unknown command: exit %d, %q", code, out)
	}
}

// TestTokensCommands: `portal tokens create` prints the token alone on one
// line; it works as a Bearer token on the admin API within its scopes;
// list never shows it; revoke ends it.
func TestTokensCommands(t *testing.T) {
	clock := portaltest.NewClock(time.Now())
	env := map[string]string{"PORTAL_DATA_DIR": t.TempDir()}
	out := runCommand(t, env, clock, "tokens", "create", "--name", "Billing", "--scopes", "users:read, events:read", "--expires", "720h")
	if !regexp.MustCompile(`^cpt_[A-Za-z0-9_-]{43}\n$`).MatchString(out) {
		t.Fatalf("tokens create printed %q", out)
	}
	token := strings.TrimSpace(out)
	list := runCommand(t, env, clock, "tokens", "list")
	if !strings.Contains(list, "Billing") || !strings.Contains(list, "users:read,events:read") || strings.Contains(list, token[4:]) {
		t.Fatalf("tokens list: %q", list)
	}
	p := runPortalClock(t, clock, env)
	call := func(method, path string) int { return bearerStatus(t, method, p.URL+path, token, `{"reason":"x"}`) }
	if st := call("GET", "/api/v1/admin/users"); st != 200 {
		t.Fatalf("the token on the admin API: %d", st)
	}
	if st := call("POST", "/api/v1/admin/users/x/2fa/reset"); st != 403 {
		t.Fatalf("a write without its scope: %d", st)
	}
	id := strings.Fields(list)[0]
	if out := runCommand(t, env, clock, "tokens", "revoke", id); !strings.Contains(out, "revoked") {
		t.Fatalf("tokens revoke: %q", out)
	}
	if st := call("GET", "/api/v1/admin/users"); st != 401 {
		t.Fatalf("a revoked token: %d", st)
	}
}

// TestHealthcheckAndBackup: `portal healthcheck` passes against a running
// portal and fails against a closed port; `portal backup FILE` copies the
// live SQLite database (the copy opens and holds the users) and refuses an
// existing file and PostgreSQL.
func TestHealthcheckAndBackup(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"PORTAL_DATA_DIR": dir}
	p := runPortal(t, env)
	if st, m := newAPIClient(t, p.URL).call("POST", "/api/v1/register", `{"email":"kept@example.com","password":"a long enough pass","name":"Kept"}`); st != 201 {
		t.Fatalf("register: %d %v", st, m)
	}
	run := func(env map[string]string, args ...string) (string, error) {
		m := main.NewMain()
		m.Getenv = func(k string) string { return env[k] }
		var out portaltest.SyncBuffer
		m.Stdout, m.Stderr = &out, io.Discard
		if err := m.ParseFlags(context.Background(), args); err != nil {
			t.Fatal(err)
		}
		err := m.Run(context.Background())
		m.Close()
		return out.String(), err
	}
	if out, err := run(map[string]string{"PORTAL_ADDR": p.Addr}, "healthcheck"); err != nil || out != "ok\n" {
		t.Fatalf("healthcheck of a running portal: %q %v", out, err)
	}
	if _, err := run(map[string]string{"PORTAL_ADDR": freeAddr(t)}, "healthcheck", "--timeout", "2s"); err == nil {
		t.Fatal("healthcheck passed with nothing listening")
	}

	file := filepath.Join(t.TempDir(), "backup.db")
	if out, err := run(env, "backup", file); err != nil || !strings.Contains(out, "backed up to") {
		t.Fatalf("backup: %q %v", out, err)
	}
	copyDB, err := sqlstore.Open("sqlite:" + file)
	if err != nil {
		t.Fatal(err)
	}
	defer copyDB.Close()
	if u, err := copyDB.UserByEmail(context.Background(), "kept@example.com"); err != nil || u.Name != "Kept" {
		t.Fatalf("the backup lacks the user: %v", err)
	}
	if _, err := run(env, "backup", file); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Fatalf("a backup over an existing file: %v", err)
	}
	if os.Getenv(storetest.PostgresEnv) != "" {
		dsn := storetest.DSN(t, "postgres")
		if _, err := run(map[string]string{"PORTAL_DATABASE_URL": dsn, "PORTAL_SECRET_KEYS": testKeys}, "backup", filepath.Join(t.TempDir(), "pg.db")); err == nil || !strings.Contains(err.Error(), "pg_dump") {
			t.Fatalf("backup of PostgreSQL: %v", err)
		}
	}
}

// TestUsersDisableStaff: someone leaving the staff is disabled on the
// server's command line (the console and the API never disable staff):
// their sign-in and the API tokens they made in the console stop, and
// enabling them again lets them sign in but brings no token back.
func TestUsersDisableStaff(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		clock := portaltest.NewClock(time.Now())
		env := map[string]string{"PORTAL_DATA_DIR": t.TempDir(), "PORTAL_DATABASE_URL": storetest.DSN(t, dialect),
			"PORTAL_SECRET_KEYS": testKeys}
		p := runPortalClock(t, clock, env)
		ctx := context.Background()
		staff, err := p.Server.CreateUser(ctx, "ops@example.com", "Ops", "a long enough pass", cp.RoleAdmin)
		if err != nil {
			t.Fatal(err)
		}
		token, hash := cp.NewAPIToken()
		if err := p.DB.CreateAPIToken(ctx, &cp.APIToken{ID: cp.NewID(), Name: "Billing", Hash: hash,
			Scopes: []string{cp.ScopeUsersRead}, CreatedBy: staff.ID, CreatedAt: clock.Now().Unix()}); err != nil {
			t.Fatal(err)
		}
		list := func() int { return bearerStatus(t, "GET", p.URL+"/api/v1/admin/users", token, "") }
		if st := list(); st != 200 {
			t.Fatalf("the staff member's token before: %d", st)
		}
		if s := loginStatus(t, p.URL, "ops@example.com"); s == "" {
			t.Fatal("the staff member cannot sign in before")
		}
		out := runCommand(t, env, clock, "users", "disable", "--email", "OPS@example.com", "--reason", "left the company")
		if !strings.Contains(out, "admin ops@example.com disabled") || !strings.Contains(out, "1 API tokens they made revoked") {
			t.Fatalf("disable said %q", out)
		}
		if st := list(); st != 401 {
			t.Fatalf("the token of a disabled staff member: %d, want 401", st)
		}
		if out := runCommand(t, env, clock, "users", "disable", "--email", "ops@example.com", "--reason", "again"); !strings.Contains(out, "was disabled already") {
			t.Fatalf("disable again said %q", out)
		}
		if s := loginStatus(t, p.URL, "ops@example.com"); s != "" {
			t.Fatalf("a disabled staff member signs in: %q", s)
		}
		if out := runCommand(t, env, clock, "users", "enable", "--email", "ops@example.com"); !strings.Contains(out, "admin ops@example.com enabled") {
			t.Fatalf("enable said %q", out)
		}
		if s := loginStatus(t, p.URL, "ops@example.com"); s == "" {
			t.Fatal("enabled again, the staff member cannot sign in")
		}
		if st := list(); st != 401 {
			t.Fatalf("enabling the staff member again brought their token back: %d", st)
		}
	})
}

// bearerStatus sends a request with an API token and returns its status.
func bearerStatus(t *testing.T, method, url, token, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
