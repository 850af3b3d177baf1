package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/mail"
	"github.com/clientportal/portal/mail/mailtest"
	"github.com/clientportal/portal/mfa"
	"github.com/clientportal/portal/password"
	"github.com/clientportal/portal/portaltest"
	"github.com/clientportal/portal/sqlstore"
	"github.com/clientportal/portal/sqlstore/storetest"
	"github.com/clientportal/portal/web"
)

// cheap hashing keeps tests fast; the flood and timing tests use the real cost.
var cheap = password.Params{Memory: 1024, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}

// env is one running portal over a fresh database.
type env struct {
	t     *testing.T
	dsn   string
	db    *sqlstore.DB
	web   *web.Server
	ts    *httptest.Server
	clock *portaltest.Clock
	logs  *portaltest.SyncBuffer
	keys  *mfa.Keyring
	mail  *portaltest.Notifier
	box   *portaltest.Mailbox
	// staffSecret holds staff users' TOTP secrets, by email.
	staffSecret map[string]string
	// opts are the options it was started with (a replica gets them too).
	opts []option
}

type option func(*web.Config, *web.Deps)

func withWhatsAppClient(c mfa.WhatsAppSender) option {
	return func(_ *web.Config, d *web.Deps) { d.WhatsApp = &mfa.WhatsApp{Codes: d.Email.Codes, Client: c} }
}

func withHasher(h *password.Hasher) option {
	return func(_ *web.Config, d *web.Deps) { d.Hasher = h; d.Backup.Hasher = h }
}

func withConfig(f func(*web.Config)) option {
	return func(c *web.Config, _ *web.Deps) { f(c) }
}

// realMail is the mail path main wires: links and notices sealed by a
// mail.Mailer into the outbox in the database, delivered by a mail.Worker
// over SMTP to an in-process server. (Codes still go to the recording
// Mailbox: they are sent at once and never stored.)
type realMail struct {
	srv    *mailtest.Server
	worker *mail.Worker
}

func withRealMail(rm *realMail) option {
	return func(c *web.Config, d *web.Deps) {
		db := d.Store.(*sqlstore.DB)
		smtp, err := mail.NewSMTP(rm.srv.URL(), "Test Portal <no-reply@example.com>")
		if err != nil {
			panic(err)
		}
		m := &mail.Mailer{Sender: smtp, Outbox: db, Keys: d.TOTP.Keys, Clock: d.Clock, BaseURL: c.BaseURL.String(), Brand: portal.Brand{Name: "Test Portal"}}
		d.Notifier, d.Links = m, m
		rm.worker = &mail.Worker{Store: db, Sender: smtp, Keys: d.TOTP.Keys, Clock: d.Clock, Logger: d.Logger, ID: "test-worker"}
	}
}

// deliver runs the outbox worker once and waits until the server has
// every message sent so far.
func (rm *realMail) deliver(tb testing.TB) {
	tb.Helper()
	if _, err := rm.worker.RunOnce(context.Background()); err != nil {
		tb.Fatal(err)
	}
	if n, _ := rm.worker.Store.OutboxPending(context.Background()); n != 0 {
		tb.Fatalf("%d messages still pending after delivery", n)
	}
}

// link returns the one-time link of the newest message to addr.
func (rm *realMail) link(tb testing.TB, addr string) string {
	tb.Helper()
	msgs := rm.srv.Messages()
	for i := len(msgs) - 1; i >= 0; i-- {
		if len(msgs[i].To) == 1 && msgs[i].To[0] == addr {
			if l := linkRE.FindString(msgs[i].Text); l != "" {
				return l
			}
		}
	}
	tb.Fatalf("no link was mailed to %s", addr)
	return ""
}

var linkRE = regexp.MustCompile(`https?://\S+\?token=\S+`)

func newEnv(t *testing.T, dialect string, opts ...option) *env {
	t.Helper()
	return newEnvDSN(t, storetest.DSN(t, dialect), portaltest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)), nil, opts...)
}

// newEnvDSN starts a portal on an existing database; with keys and clock of
// another env it is a second replica of the same portal.
func newEnvDSN(t *testing.T, dsn string, clock *portaltest.Clock, keys *mfa.Keyring, opts ...option) *env {
	t.Helper()
	e := &env{t: t, dsn: dsn, clock: clock, logs: &portaltest.SyncBuffer{}, keys: keys, opts: opts}
	startEnv(t, e, opts...)
	return e
}

// startEnv opens e's database and starts its portal, wired as main wires it
// (with cheap hashing and recording mail), until tb ends.
func startEnv(tb testing.TB, e *env, opts ...option) {
	tb.Helper()
	e.db = storetest.MustOpenDSN(tb, e.dsn)
	e.ts = httptest.NewUnstartedServer(nil)
	base, _ := url.Parse("http://" + e.ts.Listener.Addr().String())
	cfg := web.Config{BaseURL: base, Registration: true}
	hasher := password.NewHasher(cheap, 0)
	if e.keys == nil {
		e.keys, _ = mfa.ParseKeyring(mfa.NewKeySpec("test"))
	}
	e.mail = &portaltest.Notifier{}
	e.box = &portaltest.Mailbox{}
	d := web.Deps{
		Store: e.db, Hasher: hasher, Clock: e.clock, Logger: slog.New(slog.NewJSONHandler(e.logs, nil)), Notifier: e.mail, Links: e.box, Keys: e.keys, AccessLog: web.NewAccessLog(e.logs),
		TOTP: &mfa.TOTP{Store: e.db, Keys: e.keys, Issuer: "Test Portal"}, Backup: &mfa.Backup{Store: e.db, Hasher: hasher},
		Email: &mfa.Email{Codes: &mfa.Codes{Store: e.db, Keys: e.keys, Policy: portal.DefaultCodePolicy}, Mailer: e.box},
	}
	for _, o := range opts {
		o(&cfg, &d)
	}
	e.web = web.New(cfg, d)
	e.ts.Config.Handler = e.web
	e.ts.Start()
	tb.Cleanup(e.ts.Close)
	tb.Cleanup(e.web.Wait) // before the database closes
	tb.Cleanup(func() { d.AccessLog.Close() })
}

// logText is everything logged so far, the request log included.
func (e *env) logText() string {
	if e.web.AccessLog != nil {
		e.web.AccessLog.Flush()
	}
	return e.logs.String()
}

// client is a browser-like HTTP client with its own cookie jar.
type client struct {
	e    *env
	http *http.Client
	hdr  http.Header
}

func (e *env) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{e: e, hdr: http.Header{}, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// response is a finished request.
type response struct {
	*http.Response
	Body string
}

// json decodes the body.
func (r *response) json() map[string]any {
	var m map[string]any
	json.Unmarshal([]byte(r.Body), &m)
	return m
}

// errCode is the code of a JSON error body.
func (r *response) errCode() string {
	if e, ok := r.json()["error"].(map[string]any); ok {
		code, _ := e["code"].(string)
		return code
	}
	return ""
}

func (c *client) do(method, path string, body io.Reader, ctype string, hdr http.Header) *response {
	c.e.t.Helper()
	req, err := http.NewRequest(method, c.e.ts.URL+path, body)
	if err != nil {
		c.e.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range c.hdr {
		req.Header[k] = v
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return &response{Response: resp, Body: string(b)}
}

// api sends a JSON body (v may be a raw string) to an API path.
func (c *client) api(method, path string, v any) *response {
	c.e.t.Helper()
	var body io.Reader
	switch v := v.(type) {
	case nil:
	case string:
		body = strings.NewReader(v)
	default:
		b, _ := json.Marshal(v)
		body = bytes.NewReader(b)
	}
	return c.do(method, path, body, "application/json", nil)
}

func (c *client) get(path string) *response {
	c.e.t.Helper()
	return c.do("GET", path, nil, "", nil)
}

func (c *client) form(path string, vals url.Values) *response {
	c.e.t.Helper()
	return c.do("POST", path, strings.NewReader(vals.Encode()), "application/x-www-form-urlencoded", nil)
}

// cookie returns the session cookie's value, or "".
func (c *client) cookie() string {
	u, _ := url.Parse(c.e.ts.URL)
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == "portal_session" {
			return ck.Value
		}
	}
	return ""
}

// setCookie replaces the session cookie (to replay an old token).
func (c *client) setCookie(v string) {
	u, _ := url.Parse(c.e.ts.URL)
	c.http.Jar.SetCookies(u, []*http.Cookie{{Name: "portal_session", Value: v, Path: "/"}})
}

const testPassword = "correct horse battery staple"

// register creates an owner through the API and returns the user id.
func (e *env) register(email string) string {
	e.t.Helper()
	r := e.client().api("POST", "/api/v1/register", map[string]string{"email": email, "password": testPassword, "name": "Test User"})
	if r.StatusCode != 201 {
		e.t.Fatalf("register %s: %d %s", email, r.StatusCode, r.Body)
	}
	return r.json()["user"].(map[string]any)["id"].(string)
}

// customer makes a user with a verified address straight in the store
// (no request, so no network's quota) and signs a client in.
func (e *env) customer(email string) *client {
	e.t.Helper()
	u, err := e.web.CreateUser(e.t.Context(), email, "Customer", testPassword, portal.RoleOwner)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.db.VerifyEmail(e.t.Context(), u.ID, u.Email, e.clock.Now().Unix()); err != nil {
		e.t.Fatal(err)
	}
	return e.login(email)
}

// verify follows the verification link last emailed to email.
func (e *env) verify(email string) {
	e.t.Helper()
	if r := e.client().api("POST", "/api/v1/verify-email", map[string]string{"token": tokenOf(e.box.LastLink(email))}); r.StatusCode != 204 {
		e.t.Fatalf("verify %s: %d %s", email, r.StatusCode, r.Body)
	}
}

// login signs a new client in and checks it succeeded.
func (e *env) login(email string) *client {
	e.t.Helper()
	c := e.client()
	r := c.api("POST", "/api/v1/login", map[string]string{"email": email, "password": testPassword})
	if r.StatusCode != 200 {
		e.t.Fatalf("login %s: %d %s", email, r.StatusCode, r.Body)
	}
	return c
}

// sessionAt stores a session for userID at level and returns a client
// holding its token.
func (e *env) sessionAt(userID, level string) *client {
	e.t.Helper()
	token, hash := portal.NewSecretToken()
	now := e.clock.Now().Unix()
	if err := e.db.CreateSession(context.Background(), &portal.Session{ID: hash, UserID: userID, Level: level, CreatedAt: now, LastSeenAt: now}); err != nil {
		e.t.Fatal(err)
	}
	c := e.client()
	c.setCookie(token)
	return c
}

// metrics scrapes the metrics handler main serves on its own listener.
func (e *env) metrics() string {
	w := httptest.NewRecorder()
	e.web.MetricsHandler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	return w.Body.String()
}

func mustPrefixes(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range s {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}
