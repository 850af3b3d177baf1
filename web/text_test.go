package web_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/sqlstore/storetest"
	"github.com/clientportal/portal/web"
)

// hostile is one kind of bad text, as raw bytes (forms, query strings,
// paths) and as the inside of a JSON string.
type hostile struct{ name, raw, json string }

// hostileText is text no field accepts: PostgreSQL refuses NUL and bytes
// that are not UTF-8, and control characters have no place in a name.
var hostileText = []hostile{
	{"NUL", "a\x00b", `a\u0000b`},
	{"invalid UTF-8", "a\xff\xfeb", "a\xff\xfeb"},
	// A UTF-16 surrogate encoded as if it were a character (CESU-8).
	{"surrogate bytes", "a\xed\xa0\x80b", "a\xed\xa0\x80b"},
	{"escape character", "a\x1b[2Jb", `a\u001b[2Jb`},
	{"C1 control", "a\u009bb", `a\u009bb`},
}

// escapedSurrogate is a lone surrogate as a JSON escape, which Go's decoder
// silently turns into U+FFFD.
var escapedSurrogate = hostile{"escaped lone surrogate", "", `a\ud800b`}

// lineBreak is refused in one-line fields and accepted in free text.
var lineBreak = hostile{"line break", "a\nb", `a\nb`}

// hostileNumbers are numbers, dates and cursors far outside any range.
var hostileNumbers = []string{"1" + strings.Repeat("0", 39), "99999-01-01", "9999-12-31", "-1", "1e999", "\x00", "%ff"}

// textRoute is a route that stores or searches text, with how to send one
// value in one field and how to see that nothing was stored.
type textRoute struct {
	name string
	// form is true for an HTML form (answered with a page), false for JSON.
	form bool
	// multiline fields accept line breaks and tabs.
	multiline bool
	send      func(v hostile) *response
	// unchanged fails the test if the request stored anything.
	unchanged func(t *testing.T)
}

// TestHostileText: NUL, bytes that are not UTF-8, surrogates and control
// characters in every field, query parameter and path id that reaches the
// database are a 400 (invalid_request naming the field, or the form shown
// again with the message), never a 500, and nothing is stored; so are
// numbers, dates and cursors out of any range.
func TestHostileText(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		admin := e.staff("ops@example.com")
		e.register("owner@example.com")
		owner := e.login("owner@example.com")
		e.enableTOTP(owner)
		methodID := owner.get("/api/v1/me").json()["twofa"].(map[string]any)["methods"].([]any)[0].(map[string]any)["id"].(string)
		lostID, _, _ := e.userWith2FA("lost@example.com")
		e.userWith2FA("lost2@example.com")
		if r := e.client().api("POST", "/api/v1/recovery", map[string]string{"email": "lost@example.com", "message": "phone me"}); r.StatusCode != 202 {
			t.Fatalf("recovery: %d %s", r.StatusCode, r.Body)
		}
		e.web.Wait() // requests are handled after the answer
		reqID := admin.get("/api/v1/admin/recovery?status=pending").json()["requests"].([]any)[0].(map[string]any)["id"].(string)
		if r := owner.api("POST", "/api/v1/account/users", map[string]string{"email": "mia@example.com", "name": "Mia"}); r.StatusCode != 201 {
			t.Fatalf("invite: %d %s", r.StatusCode, r.Body)
		}
		link, _ := url.Parse(e.box.LastLink("mia@example.com"))
		inviteToken := link.Query().Get("token")

		jsonBody := func(fields string, v hostile) string { return strings.ReplaceAll(fields, "BAD", v.json) }
		formBody := func(vals url.Values, field string, v hostile) string {
			vals.Set(field, v.raw)
			return vals.Encode()
		}
		noUser := func(addr string) func(t *testing.T) {
			return func(t *testing.T) {
				if _, err := e.db.UserByEmail(t.Context(), addr); portal.ErrorCode(err) != portal.ENOTFOUND {
					t.Errorf("%s was created (%v)", addr, err)
				}
			}
		}
		methodName := func(t *testing.T) {
			if got := owner.get("/api/v1/me").json()["twofa"].(map[string]any)["methods"].([]any)[0].(map[string]any)["name"]; got != "Authenticator app" {
				t.Errorf("method renamed to %q", got)
			}
		}
		oneInvitation := func(t *testing.T) {
			if inv := owner.get("/api/v1/account/users").json()["invitations"].([]any); len(inv) != 1 {
				t.Errorf("invitations: %v", inv)
			}
		}
		noRecovery := func(t *testing.T) {
			for _, q := range admin.get("/api/v1/admin/recovery").json()["requests"].([]any) {
				if q.(map[string]any)["email"] == "lost2@example.com" {
					t.Errorf("recovery request stored: %v", q)
				}
			}
		}
		stillPending := func(t *testing.T) {
			for _, q := range admin.get("/api/v1/admin/recovery").json()["requests"].([]any) {
				if q := q.(map[string]any); q["id"] == reqID && (q["status"] != portal.RecoveryPending || q["note"] != "") {
					t.Errorf("request decided: %v", q)
				}
			}
		}
		still2FA := func(t *testing.T) {
			for _, u := range admin.get("/api/v1/admin/users?q=lost%40").json()["users"].([]any) {
				if u := u.(map[string]any); u["id"] == lostID && u["twofa"].(map[string]any)["enabled"] != true {
					t.Errorf("2FA was reset: %v", u)
				}
			}
		}
		policyUnchanged := func(t *testing.T) {
			if set, err := e.db.Settings(t.Context()); err != nil || set.TwoFactorPolicy != portal.PolicyStaff {
				t.Errorf("settings: %+v %v", set, err)
			}
		}

		routes := []textRoute{
			{name: "API register name", unchanged: noUser("new@example.com"), send: func(v hostile) *response {
				return e.client().api("POST", "/api/v1/register", jsonBody(`{"email":"new@example.com","password":"`+testPassword+`","name":"BAD"}`, v))
			}},
			{name: "API register email", unchanged: noUser("new@example.com"), send: func(v hostile) *response {
				return e.client().api("POST", "/api/v1/register", jsonBody(`{"email":"neBADw@example.com","password":"`+testPassword+`","name":"New"}`, v))
			}},
			{name: "API login email", unchanged: func(*testing.T) {}, send: func(v hostile) *response {
				return e.client().api("POST", "/api/v1/login", jsonBody(`{"email":"ownBADer@example.com","password":"`+testPassword+`"}`, v))
			}},
			{name: "API method rename", unchanged: methodName, send: func(v hostile) *response {
				return owner.api("PATCH", "/api/v1/me/2fa/methods/"+methodID, jsonBody(`{"name":"BAD"}`, v))
			}},
			{name: "API invitation name", unchanged: oneInvitation, send: func(v hostile) *response {
				return owner.api("POST", "/api/v1/account/users", jsonBody(`{"email":"max@example.com","name":"BAD"}`, v))
			}},
			{name: "API invitation accept name", unchanged: noUser("mia@example.com"), send: func(v hostile) *response {
				return e.client().api("POST", "/api/v1/invitations/accept", jsonBody(`{"token":"`+inviteToken+`","name":"BAD","password":"`+testPassword+`"}`, v))
			}},
			{name: "API recovery message", multiline: true, unchanged: noRecovery, send: func(v hostile) *response {
				return e.client().api("POST", "/api/v1/recovery", jsonBody(`{"email":"lost2@example.com","message":"BAD"}`, v))
			}},
			{name: "API staff reset reason", multiline: true, unchanged: still2FA, send: func(v hostile) *response {
				return admin.api("POST", "/api/v1/admin/users/"+lostID+"/2fa/reset", jsonBody(`{"reason":"BAD"}`, v))
			}},
			{name: "API recovery deny note", multiline: true, unchanged: stillPending, send: func(v hostile) *response {
				return admin.api("POST", "/api/v1/admin/recovery/"+reqID+"/deny", jsonBody(`{"note":"BAD"}`, v))
			}},
			{name: "API settings policy", unchanged: policyUnchanged, send: func(v hostile) *response {
				return admin.api("PUT", "/api/v1/admin/settings", jsonBody(`{"twofa_policy":"BAD","remember_browsers":true,"recovery_wait_hours":24}`, v))
			}},
			{name: "API new password", unchanged: func(*testing.T) {}, send: func(v hostile) *response {
				return owner.api("POST", "/api/v1/me/password", jsonBody(`{"new_password":"a long BAD passphrase"}`, v))
			}},
			{name: "form register name", form: true, unchanged: noUser("new@example.com"), send: func(v hostile) *response {
				return e.client().form("/register", url.Values{"email": {"new@example.com"}, "name": {v.raw}, "password": {testPassword}, "password_confirm": {testPassword}})
			}},
			{name: "form login email", form: true, unchanged: func(*testing.T) {}, send: func(v hostile) *response {
				return e.client().form("/login", url.Values{"email": {"own" + v.raw + "er@example.com"}, "password": {testPassword}})
			}},
			{name: "form method rename", form: true, unchanged: methodName, send: func(v hostile) *response {
				return owner.do("POST", "/account/2fa/methods/"+methodID+"/rename", strings.NewReader(formBody(url.Values{}, "name", v)), "application/x-www-form-urlencoded", nil)
			}},
			{name: "form invitation name", form: true, unchanged: oneInvitation, send: func(v hostile) *response {
				return owner.form("/account/users/invite", url.Values{"email": {"max@example.com"}, "name": {v.raw}})
			}},
			{name: "form invitation accept name", form: true, unchanged: noUser("mia@example.com"), send: func(v hostile) *response {
				return e.client().form("/invite", url.Values{"token": {inviteToken}, "name": {v.raw}, "password": {testPassword}, "password_confirm": {testPassword}})
			}},
			{name: "form recovery message", form: true, multiline: true, unchanged: noRecovery, send: func(v hostile) *response {
				return e.client().form("/recover", url.Values{"email": {"lost2@example.com"}, "message": {v.raw}})
			}},
			{name: "form staff reset reason", form: true, multiline: true, unchanged: still2FA, send: func(v hostile) *response {
				return admin.form("/admin/users/"+lostID+"/2fa/reset", url.Values{"reason": {v.raw}})
			}},
			{name: "form recovery deny note", form: true, multiline: true, unchanged: stillPending, send: func(v hostile) *response {
				return admin.form("/admin/recovery/"+reqID+"/deny", url.Values{"note": {v.raw}})
			}},
			{name: "form settings policy", form: true, unchanged: policyUnchanged, send: func(v hostile) *response {
				return admin.form("/admin/settings", url.Values{"policy": {v.raw}, "recovery_wait_hours": {"24"}})
			}},
			{name: "form new password", form: true, unchanged: func(*testing.T) {}, send: func(v hostile) *response {
				return owner.form("/account/password", url.Values{"new_password": {"a long " + v.raw + " passphrase"}, "new_password_confirm": {"a long " + v.raw + " passphrase"}})
			}},
		}
		for _, rt := range routes {
			values := append([]hostile{}, hostileText...)
			if !rt.form {
				values = append(values, escapedSurrogate)
			}
			if !rt.multiline && !strings.Contains(rt.name, "password") {
				values = append(values, lineBreak)
			}
			for _, v := range values {
				r := rt.send(v)
				what := rt.name + " with " + v.name
				switch {
				case r.StatusCode != 400:
					t.Errorf("%s: %d %.200s", what, r.StatusCode, r.Body)
				case rt.form && (!strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") || !strings.Contains(r.Body, `id="form-error"`)):
					// The form is shown again with the message.
					t.Errorf("%s: not the form with its message: %s %.300s", what, r.Header.Get("Content-Type"), r.Body)
				case !rt.form && (r.errCode() != "invalid_request" || r.json()["error"].(map[string]any)["message"] == ""):
					t.Errorf("%s: %s", what, r.Body)
				}
				rt.unchanged(t)
			}
		}

		// Free text keeps its line breaks.
		if r := e.client().api("POST", "/api/v1/recovery", map[string]string{"email": "lost2@example.com", "message": "Lost my phone.\r\nCall me:\t+41 44 668 18 00"}); r.StatusCode != 202 {
			t.Errorf("multi-line message: %d %s", r.StatusCode, r.Body)
		}

		// Query strings: filters, searches, cursors, numbers and dates.
		type query struct {
			c    *client
			path string
			keys []string // text parameters
			nums []string // number, date and cursor parameters
		}
		for _, q := range []query{
			{admin, "/api/v1/admin/users", []string{"q", "method", "role", "account", "twofa", "cursor"}, []string{"limit", "cursor"}},
			{admin, "/admin/users", []string{"q", "method", "role", "account", "twofa", "cursor"}, []string{"limit", "cursor"}},
			{admin, "/admin/users/export.csv", []string{"q", "account"}, []string{"cursor"}},
			{admin, "/api/v1/admin/events", []string{"user", "type", "before"}, []string{"since", "until", "before"}},
			{admin, "/admin/events", []string{"user", "type", "before"}, []string{"since", "until", "before"}},
			{admin, "/api/v1/admin/recovery", []string{"status"}, []string{"limit"}},
			{owner, "/api/v1/me/events", nil, []string{"limit"}},
			{owner, "/api/v1/account/users", []string{"twofa"}, nil},
			{owner, "/account/users", []string{"twofa"}, nil},
		} {
			check := func(raw string, wellFormedOK bool) {
				r := q.c.get(q.path + "?" + raw)
				what := "GET " + q.path + "?" + raw
				switch {
				case r.StatusCode == 200 && wellFormedOK:
				case r.StatusCode != 400:
					t.Errorf("%s: %d %.300s", what, r.StatusCode, r.Body)
				case strings.HasPrefix(q.path, "/api/") && r.errCode() != "invalid_request":
					t.Errorf("%s: %s", what, r.Body)
				}
			}
			for _, k := range q.keys {
				for _, v := range append(hostileText, lineBreak) {
					check(k+"="+url.QueryEscape(v.raw), false)
				}
			}
			for _, k := range q.nums {
				for _, v := range hostileNumbers {
					if v != "%ff" {
						v = url.QueryEscape(v)
					}
					// A far date may be a valid filter that finds nothing.
					check(k+"="+v, v == "9999-12-31")
				}
			}
		}

		// Dates after 2038 are dates (PostgreSQL took the bounds for 32-bit
		// integers), and so are dates before 1970.
		for _, q := range []string{"since=2040-01-01", "until=2040-01-01T00:00:00Z", "since=1969-12-31&until=9999-12-31"} {
			if r := admin.get("/api/v1/admin/events?" + q); r.StatusCode != 200 {
				t.Errorf("events %s: %d %.200s", q, r.StatusCode, r.Body)
			}
		}

		// Path ids: every route with one, as a user allowed to reach it.
		for _, rt := range e.web.Routes() {
			if !strings.Contains(rt.Path, "{id}") {
				continue
			}
			c := admin
			if rt.Access == web.User {
				c = owner
			}
			for _, v := range append(hostileText, lineBreak) {
				path := strings.ReplaceAll(rt.Path, "{id}", url.PathEscape(v.raw))
				var r *response
				if strings.HasPrefix(rt.Path, "/api/") {
					r = c.do(rt.Method, path, strings.NewReader(`{"name":"Key","reason":"checked","note":"checked"}`), "application/json", nil)
				} else {
					r = c.do(rt.Method, path, strings.NewReader("name=Key&reason=checked&note=checked"), "application/x-www-form-urlencoded", nil)
				}
				if r.StatusCode != 400 || strings.HasPrefix(rt.Path, "/api/") && r.errCode() != "invalid_request" {
					t.Errorf("%s %s with %s: %d %.300s", rt.Method, rt.Path, v.name, r.StatusCode, r.Body)
				}
			}
		}
		methodName(t)
		still2FA(t)
		stillPending(t)

		// Every script, emoji (sent raw or as an escaped surrogate pair) and
		// U+FFFD sent as such are text.
		for body, want := range map[string]string{
			`{"name":"Jürgen's key 李雷"}`:  "Jürgen's key 李雷",
			`{"name":"Key 🔑"}`:            "Key 🔑",
			`{"name":"Key \ud83d\udd11"}`: "Key 🔑",
			`{"name":"Key \ufffd"}`:       "Key \ufffd",
			"{\"name\":\"Key \uFFFD\"}":   "Key \uFFFD",
		} {
			if r := owner.api("PATCH", "/api/v1/me/2fa/methods/"+methodID, body); r.StatusCode != 204 {
				t.Errorf("rename to %s: %d %s", body, r.StatusCode, r.Body)
			} else if got := owner.get("/api/v1/me").json()["twofa"].(map[string]any)["methods"].([]any)[0].(map[string]any)["name"]; got != want {
				t.Errorf("rename to %s: %q", body, got)
			}
		}
	})
}

// rawRequest sends one request over a fresh connection exactly as written,
// for header bytes Go's client refuses to send.
func rawRequest(t *testing.T, addr, req string) (*http.Response, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	bufio.NewReader(resp.Body).WriteTo(&b)
	return resp, b.String()
}

// TestHostileUserAgent: the User-Agent is stored with the session, the
// login event and a remembered browser. Bytes that are not UTF-8, control
// characters, and a long header cut in the middle of a character must not
// turn a correct login into a 500 (PostgreSQL refuses such text): the
// stored copy is cleaned, and what is stored is valid text.
func TestHostileUserAgent(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		id := e.register("ua@example.com")
		for name, ua := range map[string]string{
			"invalid UTF-8":         "Mozilla/5.0 \xff\xfe (X11)",
			"surrogate bytes":       "Mozilla/5.0 \xed\xa0\x80",
			"tab":                   "Mozilla/5.0\t(X11; Linux x86_64)",
			"cut mid-character":     strings.Repeat("€", 100), // 300 bytes; byte 256 is inside a "€"
			"long invalid":          strings.Repeat("\xe2\x82", 200),
			"C1 control":            "Mozilla/5.0 \u0085 Firefox/140.0",
			"only invalid":          "\xff",
			"long ASCII then multi": strings.Repeat("a", 255) + "é",
		} {
			c := e.client()
			r := c.do("POST", "/api/v1/login", strings.NewReader(`{"email":"ua@example.com","password":"`+testPassword+`"}`), "application/json", http.Header{"User-Agent": {ua}})
			if r.StatusCode != 200 || r.json()["status"] != "authenticated" {
				t.Errorf("login with User-Agent %s: %d %s", name, r.StatusCode, r.Body)
				continue
			}
			if r := c.get("/api/v1/me"); r.StatusCode != 200 {
				t.Errorf("%s: the session does not work: %d", name, r.StatusCode)
			}
		}
		// NUL and other control bytes in a header are refused by Go's HTTP
		// server itself, before the portal sees the request.
		body := `{"email":"ua@example.com","password":"` + testPassword + `"}`
		resp, got := rawRequest(t, e.ts.Listener.Addr().String(), "POST /api/v1/login HTTP/1.1\r\nHost: x\r\nUser-Agent: Mozilla\x00/5.0\r\n"+
			"Content-Type: application/json\r\nContent-Length: "+fmt.Sprint(len(body))+"\r\nConnection: close\r\n\r\n"+body)
		if resp.StatusCode >= 500 || resp.StatusCode == 200 {
			t.Errorf("login with a NUL in the User-Agent: %d %s", resp.StatusCode, got)
		}
		// What was stored is valid text, cut on a character boundary.
		evs, err := e.db.UserEvents(t.Context(), id, 50)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if !utf8.ValidString(ev.UserAgent) || strings.ContainsFunc(ev.UserAgent, unicode.IsControl) || len(ev.UserAgent) > 256 {
				t.Errorf("stored User-Agent %q", ev.UserAgent)
			}
		}
	})
}
