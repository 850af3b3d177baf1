package web_test

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/sqlstore/storetest"
	"github.com/clientportal/portal/web"
)

// bearer is a client that sends token and no cookie.
func (e *env) bearer(token string) *client {
	c := e.client()
	c.hdr.Set("Authorization", "Bearer "+token)
	return c
}

// newToken makes an API token through the console's API.
func newToken(t *testing.T, staff *client, name string, hours int, scopes ...string) string {
	t.Helper()
	r := staff.api("POST", "/api/v1/admin/tokens", map[string]any{"name": name, "scopes": scopes, "expires_in_hours": hours})
	if r.StatusCode != 201 {
		t.Fatalf("create token: %d %s", r.StatusCode, r.Body)
	}
	token, _ := r.json()["token"].(string)
	if !strings.HasPrefix(token, portal.APITokenPrefix) || len(token) != 47 {
		t.Fatalf("token %q", token)
	}
	return token
}

// TestAPITokens: a users:read token lists users and is refused (403) on a
// write, on customer routes and on the routes that manage tokens; a write
// scope works and is recorded with the token's name; expired, revoked and
// unknown tokens get 401; the value is in no log and not in the database.
func TestAPITokens(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		staff := e.staff("ops@example.com")
		victim, _, _ := e.userWith2FA("ada@example.com")

		reader := newToken(t, staff, "Billing", 1, portal.ScopeUsersRead)
		rc := e.bearer(reader)
		if r := rc.api("GET", "/api/v1/admin/users?twofa=activated", nil); r.StatusCode != 200 || !strings.Contains(r.Body, "ada@example.com") {
			t.Fatalf("list users with users:read: %d %s", r.StatusCode, r.Body)
		}
		for _, c := range []struct{ method, path string }{
			{"POST", "/api/v1/admin/users/" + victim + "/2fa/reset"},
			{"GET", "/api/v1/admin/events"},
			{"GET", "/api/v1/me"},
			{"POST", "/api/v1/me/2fa/backup_codes"},
			{"GET", "/api/v1/admin/tokens"},
			{"POST", "/api/v1/admin/tokens"},
		} {
			if r := rc.api(c.method, c.path, map[string]string{"reason": "x", "name": "y"}); r.StatusCode != 403 {
				t.Errorf("%s %s with a users:read token: %d %s", c.method, c.path, r.StatusCode, r.Body)
			}
		}

		// A write scope works and each use is a security event naming it.
		resetter := newToken(t, staff, "Support desk", 0, portal.ScopeTwoFactorReset, portal.ScopeEventsRead)
		if r := e.bearer(resetter).api("POST", "/api/v1/admin/users/"+victim+"/2fa/reset", map[string]string{"reason": "Lost phone, ticket 42"}); r.StatusCode != 204 {
			t.Fatalf("reset with 2fa:reset: %d %s", r.StatusCode, r.Body)
		}
		if r := e.bearer(resetter).api("GET", "/api/v1/admin/events", nil); !strings.Contains(r.Body, portal.EventAPITokenUsed) || !strings.Contains(r.Body, "Support desk") {
			t.Fatalf("the token's write was not recorded: %s", r.Body)
		}

		// Expired, revoked, unknown, malformed: 401.
		e.clock.Add(2 * time.Hour)
		if r := rc.api("GET", "/api/v1/admin/users", nil); r.StatusCode != 401 {
			t.Fatalf("an expired token: %d %s", r.StatusCode, r.Body)
		}
		// (Two hours on, the staff member signs in again.)
		staff = e.staffLogin("ops@example.com")
		var id string
		for _, tok := range staffTokens(t, e, staff) {
			if tok["name"] == "Support desk" {
				id = tok["id"].(string)
			}
		}
		if r := staff.api("DELETE", "/api/v1/admin/tokens/"+id, nil); r.StatusCode != 204 {
			t.Fatalf("revoke: %d %s", r.StatusCode, r.Body)
		}
		for _, tok := range []string{resetter, portal.APITokenPrefix + strings.Repeat("A", 43), "not-a-token", resetter + "x"} {
			if r := e.bearer(tok).api("GET", "/api/v1/admin/events", nil); r.StatusCode != 401 {
				t.Errorf("token %q: %d %s", tok, r.StatusCode, r.Body)
			}
		}
		if r := staff.api("DELETE", "/api/v1/admin/tokens/"+id, nil); r.StatusCode != 404 {
			t.Fatalf("revoked twice: %d", r.StatusCode)
		}

		// The console: create shows the value once; the list never does.
		r := staff.form("/admin/tokens", url.Values{"name": {"Desk"}, "scopes": {portal.ScopeUsersRead}, "expires_days": {"30"}})
		shown := regexp.MustCompile(`<code id="new-token" class="secret">(cpt_[A-Za-z0-9_-]{43})</code>`).FindStringSubmatch(r.Body)
		if r.StatusCode != 200 || shown == nil || r.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("console create: %d %s", r.StatusCode, r.Body)
		}
		if r := e.bearer(shown[1]).api("GET", "/api/v1/admin/users", nil); r.StatusCode != 200 {
			t.Fatalf("the console's token: %d %s", r.StatusCode, r.Body)
		}
		if r := staff.get("/admin/tokens"); r.StatusCode != 200 || strings.Contains(r.Body, shown[1]) || !strings.Contains(r.Body, "Desk") || !strings.Contains(r.Body, "Revoked") {
			t.Fatalf("the token list: %d", r.StatusCode)
		}
		if r := staff.form("/admin/tokens", url.Values{"name": {"x"}, "scopes": {"root"}}); r.StatusCode != 400 || !strings.Contains(r.Body, "Unknown scope") {
			t.Fatalf("an unknown scope: %d", r.StatusCode)
		}

		// Secrets: the values are in no log and not in the database.
		logs := e.logText()
		dump := storetest.Dump(t, e.dsn)
		for _, tok := range []string{reader, resetter, shown[1]} {
			secret := strings.TrimPrefix(tok, portal.APITokenPrefix)
			if strings.Contains(logs, secret) || strings.Contains(dump, secret) {
				t.Fatal("an API token's value is in the logs or the database")
			}
		}
	})
}

func staffTokens(t *testing.T, e *env, staff *client) []map[string]any {
	t.Helper()
	r := staff.api("GET", "/api/v1/admin/tokens", nil)
	if r.StatusCode != 200 {
		t.Fatalf("list tokens: %d %s", r.StatusCode, r.Body)
	}
	var out []map[string]any
	for _, x := range r.json()["tokens"].([]any) {
		out = append(out, x.(map[string]any))
	}
	return out
}

// TestImportAPI: a users:write token imports a CSV body (a dry run writes
// nothing), reports bad lines by number, and refuses an unreadable file
// with a 400.
func TestImportAPI(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		staff := e.staff("ops@example.com")
		c := e.bearer(newToken(t, staff, "Billing", 0, portal.ScopeUsersWrite))
		body := "email,name,account\nnew@example.com,New,N1\nbad,Bad,\n"
		post := func(path, body string) *response {
			return c.do("POST", path, strings.NewReader(body), "text/csv", nil)
		}
		for _, dry := range []string{"1", "true", "TRUE"} {
			r := post("/api/v1/admin/users/import?dry_run="+dry, body)
			if r.StatusCode != 200 || r.json()["created"] != 1.0 || r.json()["dry_run"] != true || !strings.Contains(r.Body, `"line 3: `) {
				t.Fatalf("dry run %s: %d %s", dry, r.StatusCode, r.Body)
			}
		}
		// A dry run the portal does not understand imports nothing.
		for _, dry := range []string{"yes", "on", "2"} {
			if r := post("/api/v1/admin/users/import?dry_run="+dry, body); r.StatusCode != 400 || !strings.Contains(r.Body, "dry_run") {
				t.Fatalf("dry_run=%s: %d %s", dry, r.StatusCode, r.Body)
			}
		}
		if _, err := e.db.UserByEmail(t.Context(), "new@example.com"); err == nil {
			t.Fatal("a dry run wrote a user")
		}
		if r := post("/api/v1/admin/users/import", body); r.StatusCode != 200 || r.json()["created"] != 1.0 {
			t.Fatalf("import: %d %s", r.StatusCode, r.Body)
		}
		if _, err := e.db.UserByEmail(t.Context(), "new@example.com"); err != nil {
			t.Fatal("the import wrote no user")
		}
		for _, bad := range []string{"", "name,phone\nx,y\n", "{\"email\": 5}\n" + strings.Repeat("x", 2)} {
			if r := post("/api/v1/admin/users/import", bad); r.StatusCode >= 500 || (r.StatusCode == 200 && len(r.json()["problems"].([]any)) == 0) {
				t.Errorf("body %q: %d %s", bad, r.StatusCode, r.Body)
			}
		}
		if r := e.bearer(newToken(t, staff, "Reader", 0, portal.ScopeUsersRead)).do("POST", "/api/v1/admin/users/import", strings.NewReader(body), "text/csv", nil); r.StatusCode != 403 {
			t.Fatalf("a users:read token imported: %d", r.StatusCode)
		}

		// A file larger than other requests may be (here 300 KiB), but
		// only for staff or a token.
		var big strings.Builder
		big.WriteString("email,name\n")
		for i := 0; big.Len() < 300<<10; i++ {
			fmt.Fprintf(&big, "bulk%d@example.com,Bulk %d\n", i, i)
		}
		if r := e.client().do("POST", "/api/v1/admin/users/import", strings.NewReader(big.String()), "text/csv", nil); r.StatusCode != 401 {
			t.Fatalf("an anonymous import: %d", r.StatusCode)
		}
		if r := post("/api/v1/admin/users/import", big.String()); r.StatusCode != 200 || r.json()["created"].(float64) < 5000 {
			t.Fatalf("a 300 KiB file: %d %.200s", r.StatusCode, r.Body)
		}
		if r := post("/api/v1/admin/users/import", strings.Repeat("x", web.ImportMaxBody+1)); r.StatusCode != 413 {
			t.Fatalf("a file over the import limit: %d", r.StatusCode)
		}
	})
}

// TestAdminAPIForBilling: with a token a billing system creates a customer
// (the invitation lets them choose a password and sign in), looks them up
// by address, disables them (their session ends, sign-in is refused) and
// enables them again, and follows the event log forward with a cursor.
func TestAdminAPIForBilling(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		staff := e.staff("ops@example.com")
		bill := e.bearer(newToken(t, staff, "Billing", 0, portal.ScopeUsersRead, portal.ScopeUsersWrite, portal.ScopeEventsRead))

		r := bill.api("POST", "/api/v1/admin/users", map[string]any{"email": "New.Customer@example.com", "name": "New Customer", "account_name": "NC Ltd", "invite": true})
		if r.StatusCode != 201 || r.json()["invited"] != true || r.json()["role"] != "owner" {
			t.Fatalf("create: %d %s", r.StatusCode, r.Body)
		}
		id := r.json()["id"].(string)
		if r := bill.api("POST", "/api/v1/admin/users", map[string]any{"email": "new.customer@example.com", "name": "Again"}); r.StatusCode != 409 {
			t.Fatalf("the same address again: %d %s", r.StatusCode, r.Body)
		}
		link := e.box.LastLink("New.Customer@example.com")
		if !strings.Contains(link, "/password/reset?token=") {
			t.Fatalf("no invitation link: %q", link)
		}
		if r := e.client().api("POST", "/api/v1/password/reset", map[string]string{"token": tokenOf(link), "password": "a customer's own password"}); r.StatusCode != 204 {
			t.Fatalf("choose a password: %d %s", r.StatusCode, r.Body)
		}
		customer := e.client()
		if r := customer.api("POST", "/api/v1/login", map[string]string{"email": "new.customer@example.com", "password": "a customer's own password"}); r.StatusCode != 200 {
			t.Fatalf("sign in: %d %s", r.StatusCode, r.Body)
		}

		if r := bill.api("GET", "/api/v1/admin/users/lookup?email=NEW.CUSTOMER%40example.com", nil); r.StatusCode != 200 || r.json()["id"] != id ||
			r.json()["twofa"].(map[string]any)["enabled"] != false {
			t.Fatalf("lookup: %d %s", r.StatusCode, r.Body)
		}
		if r := bill.api("GET", "/api/v1/admin/users/lookup?email=nobody%40example.com", nil); r.StatusCode != 404 {
			t.Fatalf("lookup of nobody: %d", r.StatusCode)
		}

		if r := bill.api("POST", "/api/v1/admin/users/"+id+"/disable", map[string]string{"reason": "Unpaid invoice 1042"}); r.StatusCode != 204 {
			t.Fatalf("disable: %d %s", r.StatusCode, r.Body)
		}
		if r := customer.api("GET", "/api/v1/me", nil); r.StatusCode != 401 {
			t.Fatalf("a disabled customer's session: %d", r.StatusCode)
		}
		if r := e.client().api("POST", "/api/v1/login", map[string]string{"email": "new.customer@example.com", "password": "a customer's own password"}); r.StatusCode != 401 {
			t.Fatalf("a disabled customer signed in: %d", r.StatusCode)
		}
		if r := bill.api("POST", "/api/v1/admin/users/"+id+"/disable", nil); r.StatusCode != 409 {
			t.Fatalf("disabled twice: %d %s", r.StatusCode, r.Body)
		}
		if r := bill.api("POST", "/api/v1/admin/users/"+id+"/enable", nil); r.StatusCode != 204 {
			t.Fatalf("enable: %d %s", r.StatusCode, r.Body)
		}
		if r := e.client().api("POST", "/api/v1/login", map[string]string{"email": "new.customer@example.com", "password": "a customer's own password"}); r.StatusCode != 200 {
			t.Fatalf("sign in after enabling: %d", r.StatusCode)
		}
		staffUser, _ := e.db.UserByEmail(t.Context(), "ops@example.com")
		if r := bill.api("POST", "/api/v1/admin/users/"+staffUser.ID+"/disable", nil); r.StatusCode != 403 {
			t.Fatalf("staff disabled through the API: %d", r.StatusCode)
		}

		// Following the log: nothing newer than 5 seconds, then in order.
		r = bill.api("GET", "/api/v1/admin/events?after=", nil)
		if n := len(r.json()["events"].([]any)); r.StatusCode != 200 || n != 0 {
			t.Fatalf("events younger than 5 s: %d, %d", r.StatusCode, n)
		}
		e.web.SetEventSettle(0) // as if 5 seconds had passed
		var types []string
		cursor := ""
		for {
			r := bill.api("GET", "/api/v1/admin/events?after="+cursor, nil)
			evs := r.json()["events"].([]any)
			if len(evs) == 0 {
				break
			}
			for _, ev := range evs {
				types = append(types, ev.(map[string]any)["type"].(string))
			}
			cursor = r.json()["next_after"].(string)
		}
		joined := strings.Join(types, " ")
		if !strings.Contains(joined, portal.EventUserCreated) || strings.Index(joined, portal.EventUserDisabled) > strings.Index(joined, portal.EventUserEnabled) {
			t.Fatalf("events in order: %s", joined)
		}
		if r := bill.api("GET", "/api/v1/admin/events?after=not-a-cursor", nil); r.StatusCode != 400 {
			t.Fatalf("a bad cursor: %d", r.StatusCode)
		}
	})
}

// TestTokensNeverChangeStaff: a users:write token cannot import staff nor
// join a customer's existing account by naming it; a 2fa:reset token
// cannot reset staff 2FA; a link sent before a customer was disabled no
// longer works.
func TestTokensNeverChangeStaff(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		staff := e.staff("ops@example.com")
		bill := e.bearer(newToken(t, staff, "Billing", 0, portal.ScopeUsersWrite, portal.ScopeTwoFactorReset))
		post := func(body string) *response {
			return bill.do("POST", "/api/v1/admin/users/import", strings.NewReader(body), "text/csv", nil)
		}
		r := post("email,name,role\nevil@attacker.example,Evil,admin\n")
		if r.StatusCode != 200 || r.json()["created"] != 0.0 || !strings.Contains(r.Body, "staff are imported only") {
			t.Fatalf("staff through the API: %d %s", r.StatusCode, r.Body)
		}
		victim := e.customer("victim@bigcorp.example")
		_ = victim
		// The file names the victim owner of X: X is not created (the
		// victim exists), and the rows that would share it are refused,
		// not put into the victim's account or a new one.
		r = post("email,role,account\nvictim@bigcorp.example,owner,X\nevil@attacker.example,owner,X\nmole@attacker.example,member,X\n")
		if !strings.Contains(r.Body, `line 3: account \"X\" has its owner on line 2`) || !strings.Contains(r.Body, "line 4: no new owner") {
			t.Fatalf("rows sharing the victim's account: %s", r.Body)
		}
		for _, addr := range []string{"evil@attacker.example", "mole@attacker.example"} {
			if u, err := e.db.UserByEmail(t.Context(), addr); err == nil {
				t.Fatalf("%s was imported (account %s): %s", addr, u.AccountID, r.Body)
			}
		}
		if r := post("email,role,account\nspy@attacker.example,member,X\n"); !strings.Contains(r.Body, "line 2: no new owner") {
			t.Fatalf("a member joined an existing account: %s", r.Body)
		}

		boss, _ := e.db.UserByEmail(t.Context(), "ops@example.com")
		if r := bill.api("POST", "/api/v1/admin/users/"+boss.ID+"/2fa/reset", map[string]string{"reason": "ticket"}); r.StatusCode != 403 {
			t.Fatalf("a token reset staff 2FA: %d %s", r.StatusCode, r.Body)
		}

		c := bill.api("POST", "/api/v1/admin/users", map[string]any{"email": "late@example.com", "name": "Late", "invite": true})
		link := e.box.LastLink("late@example.com")
		if r := bill.api("POST", "/api/v1/admin/users/"+c.json()["id"].(string)+"/disable", nil); r.StatusCode != 204 {
			t.Fatalf("disable: %d", r.StatusCode)
		}
		if r := e.client().api("POST", "/api/v1/password/reset", map[string]string{"token": tokenOf(link), "password": "a brand new long password"}); r.StatusCode == 204 {
			t.Fatal("a link sent before disabling set a password")
		}
	})
}

// TestAdminBadInput: the admin API, as staff in sudo mode (where its
// handlers read their bodies), answers garbage with a 4xx, on PostgreSQL
// too (which refuses NUL and bytes that are not UTF-8).
func TestAdminBadInput(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		staff := e.staff("ops@example.com")
		victim := e.register("v@example.com")
		bodies := []string{everyField(`a\u0000b`), everyField("a\xff\xfeb"), everyField(`a\ud800b`),
			`{"types":["user.created\u0000"],"scopes":["users:read\u0000"],"url":"https://example.com/\u0000"}`,
			"{\"types\":[\"\xff\"],\"scopes\":[\"\xff\"],\"url\":\"https://ex\xffample.com/x\",\"expires_in_hours\":99999999999}",
			`{"url":"https://example.com/` + strings.Repeat("a", 5000) + `","types":["user.created"]}`,
			"email,name\n\xff@example.com,\x00\n", `[1,2]`, ``}
		for _, rt := range e.web.Routes() {
			if !strings.HasPrefix(rt.Path, "/api/v1/admin/") || rt.Method == "GET" {
				continue
			}
			path := strings.ReplaceAll(rt.Path, "{id}", victim)
			for _, body := range bodies {
				r := staff.do(rt.Method, path, strings.NewReader(body), "application/json", nil)
				if r.StatusCode >= 500 {
					t.Errorf("%s %s %.60q: %d %s", rt.Method, rt.Path, body, r.StatusCode, r.Body)
				}
			}
		}
	})
}

// slowBody sends first, then waits until ready is closed (or a second has
// passed) before sending rest: a client whose body arrives slowly.
type slowBody struct {
	parts [][]byte
	wait  func()
}

func (b *slowBody) Read(p []byte) (int, error) {
	if len(b.parts) == 0 {
		return 0, io.EOF
	}
	if len(b.parts) == 1 && b.wait != nil {
		b.wait()
		b.wait = nil
	}
	n := copy(p, b.parts[0])
	b.parts = b.parts[1:]
	return n, nil
}

// TestReview7TokenRevokedMidRequest (a seventh review): a request with an
// API token whose body was still arriving when the token was revoked went
// on to reset a user's 2FA. The token is now checked once the body is in.
func TestReview7TokenRevokedMidRequest(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		staff := e.staff("ops@example.com")
		victim, _, _ := e.userWith2FA("ada@example.com")
		token := newToken(t, staff, "Helpdesk", 1, portal.ScopeTwoFactorReset)
		tok, err := e.db.APITokenByHash(t.Context(), portal.HashToken(token))
		if err != nil {
			t.Fatal(err)
		}
		body := &slowBody{parts: [][]byte{[]byte(`{"reason":`), []byte(`"ticket 9"}`)}, wait: func() {
			// Revoke once the server has looked at the token (it
			// records the use), or after a second if it waits for the
			// body first.
			for range 100 {
				if t, err := e.db.APITokenByHash(context.Background(), tok.Hash); err == nil && t.LastUsedAt > 0 {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err := e.db.RevokeAPIToken(context.Background(), tok.ID, e.clock.Now().Unix()); err != nil {
				t.Error(err)
			}
		}}
		r := e.bearer(token).do("POST", "/api/v1/admin/users/"+victim+"/2fa/reset", body, "application/json", nil)
		if r.StatusCode != 401 {
			t.Errorf("a 2FA reset whose body came after the token was revoked: %d %s", r.StatusCode, r.Body)
		}
		if ms, _ := e.db.UserMethods(t.Context(), victim); len(ms) == 0 {
			t.Error("the victim's 2FA was reset by a revoked token")
		}
	})
}

// TestReview7ImportJSONSurrogate (a seventh review): a JSON Lines import
// took a name holding a lone surrogate, or bytes that are not UTF-8, as
// U+FFFD; the API's own user creation refuses them. Now the line is a
// problem and nothing of it is written.
func TestReview7ImportJSONSurrogate(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		staff := e.staff("ops@example.com")
		c := e.bearer(newToken(t, staff, "Billing", 0, portal.ScopeUsersWrite))
		body := `{"email":"sur1@example.com","name":"x\ud800y","account":"S1"}` + "\n" +
			"{\"email\":\"sur2@example.com\",\"name\":\"x\xffy\",\"account\":\"S2\"}\n" +
			`{"email":"fine@example.com","name":"Fine","account":"S3"}` + "\n"
		r := c.do("POST", "/api/v1/admin/users/import", strings.NewReader(body), "application/x-ndjson", nil)
		if r.StatusCode != 200 || r.json()["created"] != 1.0 || !strings.Contains(r.Body, "line 1: ") || !strings.Contains(r.Body, "line 2: ") {
			t.Errorf("import: %d %s", r.StatusCode, r.Body)
		}
		for _, addr := range []string{"sur1@example.com", "sur2@example.com"} {
			if u, err := e.db.UserByEmail(t.Context(), addr); err == nil {
				t.Errorf("%s imported with the name %q", addr, u.Name)
			}
		}
	})
}

// countingBody is a request body of max bytes that counts what was read.
type countingBody struct {
	n, max int64
	read   *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	if b.n >= b.max {
		return 0, io.EOF
	}
	k := min(int64(len(p)), b.max-b.n)
	for i := range p[:k] {
		p[i] = 'x'
	}
	b.n += k
	b.read.Add(k)
	return int(k), nil
}

// TestReview7UnknownTokenReadsNoBody (a review of the fixes): reading the
// body before checking the token let anyone with a made-up token have the
// server read and hold an import's 16 MiB; and a made-up token with a
// large body got 413 instead of 401.
func TestReview7UnknownTokenReadsNoBody(t *testing.T) {
	e := newEnv(t, "sqlite")
	c := e.bearer("cpt_made_up_by_anyone")
	var read atomic.Int64
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r := c.do("POST", "/api/v1/admin/users/import", &countingBody{max: web.ImportMaxBody, read: &read}, "text/csv", nil)
	runtime.ReadMemStats(&after)
	// The client side counts what the kernel took from it too; what the
	// portal allocated tells whether it held the body.
	if alloc := after.TotalAlloc - before.TotalAlloc; r.StatusCode != 401 || alloc > web.ImportMaxBody/2 {
		t.Errorf("a made-up token: %d, with %d MiB allocated for a %d MiB body", r.StatusCode, alloc>>20, web.ImportMaxBody>>20)
	}
	read.Store(0)
	if r := c.do("POST", "/api/v1/admin/users", &countingBody{max: 200 << 10, read: &read}, "application/json", nil); r.StatusCode != 401 {
		t.Errorf("a made-up token with a large body: %d %s, want 401", r.StatusCode, r.Body)
	}
	// A real token without the scope, and one whose maker is no longer
	// staff (a second review of the fixes): refused before the body too.
	staff := e.staff("ops@example.com")
	reader := e.bearer(newToken(t, staff, "Reader", 1, portal.ScopeEventsRead))
	for name, c := range map[string]*client{"without the scope": reader} {
		runtime.GC()
		runtime.ReadMemStats(&before)
		r := c.do("POST", "/api/v1/admin/users/import", &countingBody{max: web.ImportMaxBody, read: &read}, "text/csv", nil)
		runtime.ReadMemStats(&after)
		if alloc := after.TotalAlloc - before.TotalAlloc; r.StatusCode != 403 || alloc > web.ImportMaxBody/2 {
			t.Errorf("a token %s: %d, with %d MiB allocated for a %d MiB body", name, r.StatusCode, alloc>>20, web.ImportMaxBody>>20)
		}
	}
}
