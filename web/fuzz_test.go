package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/mfa"
	"github.com/clientportal/portal/portaltest"
	"github.com/clientportal/portal/sqlstore/storetest"
)

// The fuzz targets here drive the real handler over HTTP with what an
// anonymous visitor or a signed-in user can send: JSON bodies, form bodies
// and cookies. Starting a portal costs a migration, so each target starts
// one and every input runs against it; fuzzPortal.at hands each input an env
// bound to that input's *testing.T. Requests go through env.send, which
// neither keeps cookies nor follows redirects, so each input stands alone.

// fuzzPortal is one portal shared by every input of a fuzz target.
type fuzzPortal struct {
	e *env // e.t is nil: use at(t)
	// plain has no second factor; twoFA has an authenticator app.
	plain, twoFA string
	// hash is testPassword hashed, put back before each input in case an
	// input changed a password.
	hash string
}

const (
	fuzzPlainEmail = "fuzz@example.com"
	fuzzTwoFAEmail = "fuzz2fa@example.com"
)

// newFuzzPortal mirrors newEnvDSN for a testing.F: the server and database
// live until the fuzz target ends, not the first input. The database is
// PostgreSQL when the PostgreSQL suites run (it refuses text SQLite
// stores), SQLite otherwise.
func newFuzzPortal(f *testing.F) *fuzzPortal {
	f.Helper()
	e := &env{clock: portaltest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)), logs: &portaltest.SyncBuffer{}}
	dialects := storetest.Dialects()
	e.dsn = storetest.DSN(f, dialects[len(dialects)-1])
	e.keys = mustKeys(f)
	startEnv(f, e)

	ctx := context.Background()
	p := &fuzzPortal{e: e}
	plain, err := e.web.CreateUser(ctx, fuzzPlainEmail, "Fuzz User", testPassword, portal.RoleOwner)
	if err != nil {
		f.Fatal(err)
	}
	twoFA, err := e.web.CreateUser(ctx, fuzzTwoFAEmail, "Fuzz TwoFA", testPassword, portal.RoleOwner)
	if err != nil {
		f.Fatal(err)
	}
	p.plain, p.twoFA, p.hash = plain.ID, twoFA.ID, plain.PasswordHash

	// An authenticator app and backup codes, as confirmTOTP would store them.
	now := e.clock.Now().Unix()
	m := &portal.Method{ID: portal.NewID(), UserID: twoFA.ID, Type: portal.MethodTOTP, Name: "Authenticator app", CreatedAt: now}
	if _, m.Secret, err = e.web.TOTP.NewSecret(twoFA.ID, twoFA.Email); err != nil {
		f.Fatal(err)
	}
	if err := e.db.CreateMethod(ctx, m); err != nil {
		f.Fatal(err)
	}
	_, set, err := e.web.Backup.NewSet(ctx, twoFA.ID, now)
	if err != nil {
		f.Fatal(err)
	}
	if _, err := e.db.ConfirmMethod(ctx, m, set, now, "", nil); err != nil {
		f.Fatal(err)
	}
	return p
}

func mustKeys(tb testing.TB) *mfa.Keyring {
	tb.Helper()
	k, err := mfa.ParseKeyring(mfa.NewKeySpec("test"))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// at returns the portal's env for one input. Inputs share the database, so
// at moves the clock past every attempt window and lockout (the per-IP
// password limit would otherwise answer 429 to everything after the first
// 50 failures), restores the password an input may have changed, and
// closes the recovery request an input may have opened (while one is open,
// the next is not stored, and its message would go untested).
func (p *fuzzPortal) at(t *testing.T, fresh bool) *env {
	e := *p.e
	e.t = t
	if fresh {
		ctx := context.Background()
		e.clock.Add(16 * time.Minute)
		if err := e.db.UpdatePasswordHash(ctx, p.plain, p.hash); err != nil {
			t.Fatal(err)
		}
		open, err := e.db.Recoveries(ctx, portal.RecoveryPending, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range open {
			if err := e.db.DecideRecovery(ctx, q.ID, portal.RecoveryDenied, p.plain, "fuzz", e.clock.Now().Unix(), 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	return &e
}

// session stores a session for userID at level, in sudo mode when recent,
// and returns its token.
func (p *fuzzPortal) session(tb testing.TB, userID, level string, recent bool) string {
	tb.Helper()
	token, hash := portal.NewSecretToken()
	now := p.e.clock.Now().Unix()
	s := &portal.Session{ID: hash, UserID: userID, Level: level, CreatedAt: now, LastSeenAt: now}
	if recent {
		s.ReauthAt = now
	}
	if err := p.e.db.CreateSession(context.Background(), s); err != nil {
		tb.Fatal(err)
	}
	return token
}

// stampedSession stores a session for userID at level under a stamped
// cookie, as a sign-in makes it, and returns the cookie's value.
func (p *fuzzPortal) stampedSession(tb testing.TB, userID, level string) string {
	tb.Helper()
	token, id := portal.NewSessionToken(p.e.clock.Now())
	now := p.e.clock.Now().Unix()
	if err := p.e.db.CreateSession(context.Background(), &portal.Session{ID: id, UserID: userID, Level: level, CreatedAt: now, LastSeenAt: now}); err != nil {
		tb.Fatal(err)
	}
	return token
}

// send makes one request with exactly the given headers, no cookie jar and
// no redirect handling: Go's client refuses to follow a Location it cannot
// parse, and that Location is what FuzzFormBodies checks. cookie, when set,
// is the session token sent as portal_session.
func (e *env) send(method, path string, body []byte, ctype, cookie string, hdr http.Header) *response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.ts.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: "portal_session", Value: cookie})
	}
	resp, err := e.ts.Client().Transport.RoundTrip(req)
	if err != nil {
		// The server is local: a failure here is an answer that is not
		// valid HTTP, such as a control character in a header.
		e.fail("%s %s with %s: %v", method, path, quote(body), err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return &response{Response: resp, Body: string(b)}
}

// fail reports a bad answer with the end of the server log, where an
// internal error says what went wrong.
func (e *env) fail(format string, args ...any) {
	e.t.Helper()
	logs := e.logText()
	if len(logs) > 4000 {
		logs = logs[len(logs)-4000:]
	}
	e.t.Fatalf(format+"\nserver log (end):\n%s", append(args, logs)...)
}

// checkJSONError checks that a 4xx answer is the API's error format.
func (e *env) checkJSONError(what string, r *response) {
	e.t.Helper()
	var body struct {
		Error *struct {
			Code    *string `json:"code"`
			Message *string `json:"message"`
		} `json:"error"`
	}
	dec := json.NewDecoder(strings.NewReader(r.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || body.Error == nil || body.Error.Code == nil || body.Error.Message == nil ||
		*body.Error.Code == "" || *body.Error.Message == "" {
		e.fail("%s: %d answer is not {\"error\":{\"code\":…,\"message\":…}}: %v %q", what, r.StatusCode, err, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		e.fail("%s: %d error with Content-Type %q", what, r.StatusCode, ct)
	}
}

// jsonBodyRoutes are the API routes that read a JSON body and are reached
// before, during or right after signing in, and the public one that
// stores free text.
var jsonBodyRoutes = []string{
	"/api/v1/register", "/api/v1/login", "/api/v1/login/2fa", "/api/v1/reauth", "/api/v1/me/password", "/api/v1/login/2fa/send",
	"/api/v1/recovery",
}

// FuzzJSONBodies: whatever bytes arrive as a JSON body, from a stranger or
// from a user at any stage of signing in, the answer is never a server
// error, and every refusal is the documented JSON error.
func FuzzJSONBodies(f *testing.F) {
	for _, s := range []string{
		`{"email":"` + fuzzPlainEmail + `","password":"` + testPassword + `"}`,
		`{"email":"` + fuzzTwoFAEmail + `","password":"` + testPassword + `"}`,
		`{"email":"new@example.com","password":"` + testPassword + `","name":"New User"}`,
		`{"email":"FUZZ@EXAMPLE.COM","password":"wrong password here"}`,
		`{"method":"totp","code":"123456"}`,
		`{"method":"backup_code","code":"ABCD-EFGH-JKMN-PQRS"}`,
		`{"method":"email"}`,
		`{"method":"whatsapp","code":"12 34 56"}`,
		`{"password":"` + testPassword + `","method":"totp","code":"000000"}`,
		`{"current_password":"` + testPassword + `","new_password":"another long passphrase"}`,
		`{"current_password":"","new_password":"x"}`,
		`{"remember_browser":true,"method":"totp","code":"123456"}`,
		`{"email":5,"password":true,"name":[],"code":{},"method":null}`,
		`{"email":"a@example.com",`, `{} {}`, `[]`, `null`, `""`, `0`, ``, `{`, `{"a":{"b":{"c":[[[[[[]]]]]]}}}`,
		"{\"email\":\"\xff\xfe@example.com\",\"password\":\"\xff\"}", `{"email":"a\u0000b@example.com","name":"\ud800"}`,
		`{"email":"` + strings.Repeat("a", 300) + `@example.com","password":"` + strings.Repeat("p", 2000) + `"}`,
		`{"code":1e999}`, `{"code":"` + strings.Repeat(`\"`, 100) + `"}`, `{"EMAIL":"fuzz@example.com","Password":"x"}`,
		`{"email":"fuzz@example.com","email":"fuzz2fa@example.com","password":"x"}`,
		`{"email":"` + fuzzTwoFAEmail + `","message":"a\u0000b"}`, "{\"email\":\"" + fuzzTwoFAEmail + "\",\"message\":\"\xff\xfe\"}",
		`{"email":"` + fuzzTwoFAEmail + `","message":"Lost my phone.\r\nCall me."}`,
		`{"email":"new@example.com","password":"` + testPassword + `","name":"a\ud800b"}`,
		`{"email":"new@example.com","password":"` + testPassword + `\u0000","name":"New \u001b[2J"}`,
	} {
		f.Add([]byte(s))
	}
	p := newFuzzPortal(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		e := p.at(t, true)
		callers := []struct{ name, token string }{
			{"anonymous", ""},
			{"signed in", p.session(t, p.plain, portal.LevelFull, true)},
			{"half signed in", p.session(t, p.twoFA, portal.LevelPassword, false)},
			{"signed in with 2FA", p.session(t, p.twoFA, portal.LevelFull, false)},
		}
		for _, path := range jsonBodyRoutes {
			for _, c := range callers {
				r := e.send("POST", path, body, "application/json", c.token, nil)
				what := "POST " + path + " as " + c.name + " with " + quote(body)
				switch {
				case r.StatusCode >= 500:
					e.fail("%s: %d %s", what, r.StatusCode, r.Body)
				case r.StatusCode >= 400:
					e.checkJSONError(what, r)
				}
			}
		}
	})
}

// quote shows an input in a failure message, shortened.
func quote(b []byte) string {
	if len(b) > 300 {
		return strconv.Quote(string(b[:300])) + "…"
	}
	return strconv.Quote(string(b))
}

// validHeaderValue reports whether Go's client will send v as a header
// value (no control characters but tab).
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// FuzzSessionCookie: no cookie value or Cookie header signs anyone in
// unless the portal_session cookie the server reads is exactly a live
// token. The literal TOKEN in an input stands for the live token, so the
// fuzzer can try near misses: truncated, extended, doubled, quoted, padded.
func FuzzSessionCookie(f *testing.F) {
	for _, s := range []struct{ value, header string }{
		{"TOKEN", "portal_session=TOKEN"},
		{"TOKENA", "portal_session=TOKEN "},
		{"OKEN", "portal_session=\"TOKEN\""},
		{" TOKEN", "portal_session=x; portal_session=TOKEN"},
		{"TOKEN\t", "portal_session=TOKEN; portal_session=x"},
		{strings.Repeat("A", 43), "Portal_Session=TOKEN"},
		{strings.Repeat("%", 43), "portal_session =TOKEN"},
		{"", "__Host-portal_session=TOKEN"},
		{"\xff\xfe", "portal_session=TOKEN;;;;"},
		{strings.Repeat("a", 4096), "; ; =; portal_session"},
		{"=====", "a=b, portal_session=TOKEN"},
		{"TOKENTOKEN", "portal_session=" + strings.Repeat("x", 43)},
		{"STAMPED", "portal_session=STAMPED"},
		{"6b49d200.STAMPED", "portal_session=STAMPEDA"},
		{"STAMPED", "portal_session=" + strings.Repeat("0", 8) + "." + strings.Repeat("x", 43)},
	} {
		f.Add(s.value, s.header)
	}
	p := newFuzzPortal(f)
	token := p.session(f, p.plain, portal.LevelFull, false)
	// A stamped cookie, as sign-ins make them, of the same user; TOKEN is
	// one made before stamps.
	stamped := p.stampedSession(f, p.plain, portal.LevelFull)
	f.Fuzz(func(t *testing.T, value, header string) {
		e := p.at(t, false)
		for _, h := range []string{"portal_session=" + value, header} {
			h = strings.ReplaceAll(strings.ReplaceAll(h, "STAMPED", stamped), "TOKEN", token)
			if !validHeaderValue(h) {
				continue
			}
			// What the server's own parser makes of the header decides
			// whether signing in is right.
			probe := &http.Request{Header: http.Header{"Cookie": {strings.Trim(h, " \t")}}}
			ck, err := probe.Cookie("portal_session")
			want := err == nil && (ck.Value == token || ck.Value == stamped)
			hdr := http.Header{"Cookie": {h}}

			r := e.send("GET", "/api/v1/me", nil, "", "", hdr)
			what := "GET /api/v1/me with Cookie: " + quote([]byte(h))
			switch {
			case r.StatusCode >= 500:
				e.fail("%s: %d %s", what, r.StatusCode, r.Body)
			case want && (r.StatusCode != 200 || r.json()["id"] != p.plain):
				e.fail("%s: the live token did not sign in: %d %s", what, r.StatusCode, r.Body)
			case !want && r.StatusCode < 400:
				e.fail("%s: signed in without the token: %d %s", what, r.StatusCode, r.Body)
			case !want:
				e.checkJSONError(what, r)
			}

			r = e.send("GET", "/dashboard", nil, "", "", hdr)
			what = "GET /dashboard with Cookie: " + quote([]byte(h))
			switch {
			case r.StatusCode >= 500:
				e.fail("%s: %d", what, r.StatusCode)
			case want && r.StatusCode != 200:
				e.fail("%s: the live token did not sign in: %d", what, r.StatusCode)
			case !want && (r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login")):
				e.fail("%s: %d to %q, want a redirect to /login", what, r.StatusCode, r.Header.Get("Location"))
			}
		}
	})
}

// sameSite reports whether a browser that follows loc stays on this site.
// Browsers parse Location with the WHATWG URL parser: it strips leading
// and trailing control characters and spaces, drops every tab and newline,
// and reads a backslash as a slash, so "/\t/evil.example" is
// "//evil.example", another host.
func sameSite(loc, origin string) bool {
	if strings.HasPrefix(loc, origin+"/") {
		return true
	}
	s := strings.TrimFunc(loc, func(r rune) bool { return r <= ' ' })
	s = strings.Map(func(r rune) rune {
		switch r {
		case '\t', '\n', '\r':
			return -1
		case '\\':
			return '/'
		}
		return r
	}, s)
	return strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//")
}

// FuzzFormBodies: whatever a browser form posts to sign in, register or
// ask for recovery, the answer is never a server error, and a redirect
// never leaves the site (the next parameter is attacker-chosen in a
// phishing link).
func FuzzFormBodies(f *testing.F) {
	for _, s := range []string{
		"email=fuzz%40example.com&password=correct+horse+battery+staple",
		"email=fuzz%40example.com&password=correct+horse+battery+staple&next=%2Faccount%2Fsecurity",
		"email=fuzz%40example.com&password=correct+horse+battery+staple&next=%2F%2Fevil.example",
		"email=fuzz%40example.com&password=correct+horse+battery+staple&next=%2F%5Cevil.example",
		"email=fuzz%40example.com&password=correct+horse+battery+staple&next=https%3A%2F%2Fevil.example",
		"email=fuzz2fa%40example.com&password=correct+horse+battery+staple&next=%2Fdashboard%3Fa%3Db",
		"email=new%40example.com&name=New+User&password=correct+horse+battery+staple&password_confirm=correct+horse+battery+staple",
		"email=new%40example.com&name=New+User&password=a&password_confirm=b",
		"email=fuzz%40example.com&password=wrong",
		"email=&password=", "", "=", "&&&", "%zz=1", "email=%ff%fe&password=%00", "email=a&email=b&password=c&password=d",
		"email=" + strings.Repeat("a", 2000) + "%40example.com&password=" + strings.Repeat("p", 2000),
		"name=%3Cscript%3Ealert(1)%3C%2Fscript%3E&email=x%40example.com&password=correct+horse+battery+staple&password_confirm=correct+horse+battery+staple",
		"email=fuzz@example.com;password=correct+horse+battery+staple",
		"email=fuzz2fa%40example.com&message=a%00b", "email=fuzz2fa%40example.com&message=%ff%fe",
		"email=fuzz2fa%40example.com&message=Lost+my+phone.%0D%0ACall+me.",
		"email=new%40example.com&name=%ed%a0%80&password=correct+horse+battery+staple&password_confirm=correct+horse+battery+staple",
	} {
		f.Add(s)
	}
	p := newFuzzPortal(f)
	f.Fuzz(func(t *testing.T, body string) {
		e := p.at(t, true)
		signedIn := p.session(t, p.plain, portal.LevelFull, false)
		for _, path := range []string{"/login", "/register", "/recover"} {
			for _, token := range []string{"", signedIn} {
				r := e.send("POST", path, []byte(body), "application/x-www-form-urlencoded", token, nil)
				what := "POST " + path + " with " + quote([]byte(body))
				if r.StatusCode >= 500 {
					e.fail("%s: %d %s", what, r.StatusCode, r.Body)
				}
				if loc := r.Header.Get("Location"); r.StatusCode/100 == 3 && !sameSite(loc, e.ts.URL) {
					e.fail("%s: %d redirects off the site to %q", what, r.StatusCode, loc)
				}
			}
		}
	})
}
