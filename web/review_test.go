package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/sqlstore/storetest"
	"github.com/clientportal/portal/web"
)

// The findings of the outside security review, each an attack that worked
// before its fix. The README's "Security testing" table lists them.

// cookieNamed returns the value of one of c's cookies, or "".
func (c *client) cookieNamed(name string) string {
	u, _ := url.Parse(c.e.ts.URL)
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// setCookieNamed gives c a cookie (a stolen one, say).
func (c *client) setCookieNamed(name, v string) {
	u, _ := url.Parse(c.e.ts.URL)
	c.http.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: v, Path: "/"}})
}

// rememberedLogin signs email in with a code, ticking "remember this
// browser", and returns the remember cookie.
func (e *env) rememberedLogin(email, secret string) string {
	e.t.Helper()
	c := e.passwordStep(email)
	e.clock.Add(30 * time.Second)
	if r := c.api("POST", "/api/v1/login/2fa", map[string]any{"method": "totp", "code": codeAt(e.t, secret, e.clock.Now()), "remember_browser": true}); r.StatusCode != 200 {
		e.t.Fatalf("remembered login: %d %s", r.StatusCode, r.Body)
	}
	v := c.cookieNamed("portal_remember")
	if v == "" {
		e.t.Fatal("no remember cookie")
	}
	return v
}

// TestReviewRememberedBrowserIsNotSudo (finding 1): the password and a
// stolen remember cookie sign in without a code, but change nothing that
// needs recent authentication: no new backup codes, no authenticator of
// the attacker's, no email change, no staff reset.
func TestReviewRememberedBrowserIsNotSudo(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		victimID, secret, _ := e.userWith2FA("victim@example.com")
		stolen := e.rememberedLogin("victim@example.com", secret)

		attacker := e.client()
		attacker.setCookieNamed("portal_remember", stolen)
		r := attacker.api("POST", "/api/v1/login", map[string]string{"email": "victim@example.com", "password": testPassword})
		if r.json()["status"] != "authenticated" {
			t.Fatalf("remembered sign-in: %s", r.Body)
		}
		for _, try := range []struct {
			method, path string
			body         any
		}{
			{"POST", "/api/v1/me/2fa/backup_codes", nil},
			{"POST", "/api/v1/me/2fa/totp", nil},
			{"POST", "/api/v1/me/email", map[string]string{"email": "attacker@example.net"}},
			{"POST", "/api/v1/me/2fa/email", nil},
		} {
			if r := attacker.api(try.method, try.path, try.body); r.StatusCode != 403 || r.errCode() != "reauth_required" {
				t.Errorf("%s %s through a remembered browser: %d %s", try.method, try.path, r.StatusCode, r.Body)
			}
		}
		// The browser form is sent to re-authenticate.
		if r := attacker.form("/account/2fa/totp", url.Values{}); r.StatusCode != 303 || !strings.HasPrefix(r.Header.Get("Location"), "/account/reauth") {
			t.Errorf("TOTP set-up form through a remembered browser: %d %s", r.StatusCode, r.Header.Get("Location"))
		}
		// Staff too: password and a stolen cookie reset nobody's 2FA.
		e.staff("ops@example.com")
		staffStolen := e.rememberedLogin("ops@example.com", e.staffSecret["ops@example.com"])
		sa := e.client()
		sa.setCookieNamed("portal_remember", staffStolen)
		if r := sa.api("POST", "/api/v1/login", map[string]string{"email": "ops@example.com", "password": testPassword}); r.json()["status"] != "authenticated" {
			t.Fatalf("staff remembered sign-in: %s", r.Body)
		}
		if r := sa.api("POST", "/api/v1/admin/users/"+victimID+"/2fa/reset", map[string]string{"reason": "attacker"}); r.StatusCode != 403 || r.errCode() != "reauth_required" {
			t.Errorf("staff reset through a remembered browser: %d %s", r.StatusCode, r.Body)
		}
		if tf, _ := attacker.get("/api/v1/me").json()["twofa"].(map[string]any); tf["enabled"] != true || tf["backup_codes_remaining"] != float64(10) {
			t.Fatalf("the victim's 2FA changed (or the session ended): %v", tf)
		}
		// With password and code, the owner can.
		e.clock.Add(30 * time.Second)
		if r := attacker.api("POST", "/api/v1/reauth", map[string]string{"password": testPassword, "method": "totp", "code": codeAt(t, secret, e.clock.Now())}); r.StatusCode != 200 {
			t.Fatalf("reauth: %d %s", r.StatusCode, r.Body)
		}
		if r := attacker.api("POST", "/api/v1/me/2fa/backup_codes", nil); r.StatusCode != 200 {
			t.Fatalf("after reauth: %d %s", r.StatusCode, r.Body)
		}
	})
}

// TestReviewPasswordChangeNeedsCurrent (finding 2): right after signing in
// (sudo mode), a password change with an empty or wrong current password
// is refused, in the API and in the form; nothing changes.
func TestReviewPasswordChangeNeedsCurrent(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		e.register("p@example.com")
		c := e.login("p@example.com")
		for _, cur := range []string{"", "not my password"} {
			r := c.api("POST", "/api/v1/me/password", map[string]string{"current_password": cur, "new_password": "attacker chosen passphrase"})
			if r.StatusCode != 400 && r.StatusCode != 401 {
				t.Errorf("API, current %q: %d %s", cur, r.StatusCode, r.Body)
			}
			f := c.form("/account/password", url.Values{"current_password": {cur}, "new_password": {"attacker chosen passphrase"}, "new_password_confirm": {"attacker chosen passphrase"}})
			if f.StatusCode < 400 || f.StatusCode >= 500 || !strings.Contains(f.Body, "current password") {
				t.Errorf("form, current %q: %d", cur, f.StatusCode)
			}
		}
		if r := e.client().api("POST", "/api/v1/login", map[string]string{"email": "p@example.com", "password": "attacker chosen passphrase"}); r.StatusCode != 401 {
			t.Fatalf("the password changed: %d", r.StatusCode)
		}
		if r := c.api("POST", "/api/v1/me/password", map[string]string{"current_password": testPassword, "new_password": "owner chosen passphrase"}); r.StatusCode != 204 {
			t.Fatalf("with the current password: %d %s", r.StatusCode, r.Body)
		}
	})
}

// TestReviewLastMethodRace (finding 3): parallel removals of a user's last
// two methods, on two instances: exactly one succeeds, 2FA stays on with
// one method and its backup codes, every try.
func TestReviewLastMethodRace(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		ts := targets(e, dialect)
		const tries = 20
		for try := range tries {
			e.clock.Add(time.Hour) // a new hour for the network's quotas
			email := "race" + string(rune('a'+try)) + "@example.com"
			_, secret, _ := e.userWith2FA(email)
			c := e.passwordStep(email)
			e.clock.Add(30 * time.Second)
			if r := c.api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": codeAt(t, secret, e.clock.Now())}); r.StatusCode != 200 {
				t.Fatal(r.Body)
			}
			e.addEmailMethod(c, email)
			var ids []string
			for _, m := range c.get("/api/v1/me").json()["twofa"].(map[string]any)["methods"].([]any) {
				ids = append(ids, m.(map[string]any)["id"].(string))
			}
			if len(ids) != 2 {
				t.Fatalf("methods: %v", ids)
			}
			statuses := make([]int, 2)
			var wg sync.WaitGroup
			for i := range 2 {
				wg.Go(func() {
					o := *c
					o.e = ts[i%len(ts)]
					statuses[i] = o.api("DELETE", "/api/v1/me/2fa/methods/"+ids[i], nil).StatusCode
				})
			}
			wg.Wait()
			ok := 0
			for _, s := range statuses {
				if s == 204 {
					ok++
				} else if s != 409 {
					t.Fatalf("try %d: statuses %v", try, statuses)
				}
			}
			tf := c.get("/api/v1/me").json()["twofa"].(map[string]any)
			if ok != 1 || tf["enabled"] != true || len(tf["methods"].([]any)) != 1 || tf["backup_codes_remaining"] != float64(10) {
				t.Fatalf("try %d: statuses %v, 2FA now %v", try, statuses, tf)
			}
		}
	})
}

// addEmailMethod enrols email codes for a signed-in, recently
// authenticated client whose address is verified.
func (e *env) addEmailMethod(c *client, email string) {
	e.t.Helper()
	u := mustUser(e.t, e, email)
	if err := e.db.VerifyEmail(e.t.Context(), u.ID, email, e.clock.Now().Unix()); err != nil {
		e.t.Fatal(err)
	}
	if r := c.api("POST", "/api/v1/me/2fa/email", nil); r.StatusCode != 202 {
		e.t.Fatalf("email begin: %d %s", r.StatusCode, r.Body)
	}
	if r := c.api("POST", "/api/v1/me/2fa/email/confirm", map[string]string{"code": e.box.LastCode(email)}); r.StatusCode != 200 {
		e.t.Fatalf("email confirm: %d %s", r.StatusCode, r.Body)
	}
}

// TestReviewEmailChangeLinkRevoked (finding 6): a pending email-change
// link dies when the owner changes the password, turns 2FA off, is reset
// by staff, or asks for a newer change; and a link is refused once the
// account's address changed since it was sent.
func TestReviewEmailChangeLinkRevoked(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		use := func(link string) *response {
			u, _ := url.Parse(link)
			return e.client().api("POST", "/api/v1/verify-email", map[string]string{"token": u.Query().Get("token")})
		}
		request := func(c *client, to string) string {
			if r := c.api("POST", "/api/v1/me/email", map[string]string{"email": to}); r.StatusCode != 202 {
				t.Fatalf("change to %s: %d %s", to, r.StatusCode, r.Body)
			}
			return e.box.LastLink(to)
		}

		// A password change.
		e.register("a@example.com")
		a := e.login("a@example.com")
		link := request(a, "thief-a@example.net")
		if r := a.api("POST", "/api/v1/me/password", map[string]string{"current_password": testPassword, "new_password": "a fresh new passphrase"}); r.StatusCode != 204 {
			t.Fatal(r.Body)
		}
		if r := use(link); r.StatusCode < 400 || r.StatusCode >= 500 {
			t.Errorf("change link after a password change: %d %s", r.StatusCode, r.Body)
		}

		// A newer request.
		e.register("b@example.com")
		b := e.login("b@example.com")
		old := request(b, "thief-b@example.net")
		newer := request(b, "mine-b@example.com")
		if r := use(old); r.StatusCode < 400 || r.StatusCode >= 500 {
			t.Errorf("superseded change link: %d %s", r.StatusCode, r.Body)
		}
		if r := use(newer); r.StatusCode != 204 {
			t.Fatalf("newest change link: %d %s", r.StatusCode, r.Body)
		}

		// Turning 2FA off, and a staff reset.
		_, secret, _ := e.userWith2FA("c@example.com")
		c := e.passwordStep("c@example.com")
		e.clock.Add(30 * time.Second)
		c.api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": codeAt(t, secret, e.clock.Now())})
		link = request(c, "thief-c@example.net")
		e.clock.Add(30 * time.Second)
		if r := c.api("DELETE", "/api/v1/me/2fa", map[string]string{"password": testPassword, "method": "totp", "code": codeAt(t, secret, e.clock.Now())}); r.StatusCode != 204 {
			t.Fatal(r.Body)
		}
		if r := use(link); r.StatusCode < 400 || r.StatusCode >= 500 {
			t.Errorf("change link after 2FA off: %d %s", r.StatusCode, r.Body)
		}
		dID, dsecret, _ := e.userWith2FA("d@example.com")
		d := e.passwordStep("d@example.com")
		e.clock.Add(30 * time.Second)
		d.api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": codeAt(t, dsecret, e.clock.Now())})
		link = request(d, "thief-d@example.net")
		if err := e.web.ResetTwoFactor(t.Context(), dID, "", "verified by phone"); err != nil {
			t.Fatal(err)
		}
		if r := use(link); r.StatusCode < 400 || r.StatusCode >= 500 {
			t.Errorf("change link after a staff reset: %d %s", r.StatusCode, r.Body)
		}

		// A link sent before the address changed another way.
		e.register("f@example.com")
		f := e.login("f@example.com")
		link = request(f, "first-f@example.com")
		fu := mustUser(t, e, "f@example.com")
		// The address moves by another link (made beside the first).
		other := &portal.Token{ID: portal.HashToken("another link"), Kind: portal.TokenChangeEmail, UserID: fu.ID,
			Data: portal.EmailChange{To: "second-f@example.com", From: fu.Email}.Encode(), CreatedAt: e.clock.Now().Unix(), ExpiresAt: e.clock.Now().Add(time.Hour).Unix()}
		if err := e.db.CreateToken(t.Context(), other); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.db.ChangeEmail(t.Context(), other.ID, e.clock.Now().Unix()); err != nil {
			t.Fatal(err)
		}
		if r := use(link); r.StatusCode < 400 || r.StatusCode >= 500 {
			t.Errorf("change link from before the address changed: %d %s", r.StatusCode, r.Body)
		}
		if got := mustUser(t, e, "second-f@example.com"); got.ID != fu.ID {
			t.Fatalf("account moved: %v", got)
		}
		for _, thief := range []string{"thief-a@example.net", "thief-b@example.net", "thief-c@example.net", "thief-d@example.net", "first-f@example.com"} {
			if _, err := e.db.UserByEmail(t.Context(), thief); err == nil {
				t.Errorf("an account moved to %s", thief)
			}
		}
	})
}

// TestReviewEnablingEndsOtherSessions (finding 12): a session signed in
// with the password alone does not survive the user turning 2FA on.
func TestReviewEnablingEndsOtherSessions(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		e.register("s@example.com")
		old := e.login("s@example.com")
		c := e.login("s@example.com")
		e.enableTOTP(c)
		if r := old.get("/api/v1/me"); r.StatusCode != 401 {
			t.Fatalf("a password-only session survived 2FA turning on: %d", r.StatusCode)
		}
		if r := c.get("/api/v1/me"); r.StatusCode != 200 {
			t.Fatalf("the session that turned it on: %d", r.StatusCode)
		}
		// And the page says so.
		e.register("s2@example.com")
		c2 := e.login("s2@example.com")
		r := c2.form("/account/2fa/totp", url.Values{})
		if r.StatusCode != 303 {
			t.Fatalf("begin: %d", r.StatusCode)
		}
		page := c2.get("/account/2fa/totp").Body
		secret := strings.ReplaceAll(between(page, `id="secret">`, `<`), " ", "")
		if secret == "" {
			t.Fatal("no secret on the set-up page")
		}
		done := c2.form("/account/2fa/totp/confirm", url.Values{"code": {codeAt(t, secret, e.clock.Now())}})
		if done.StatusCode != 303 || done.Header.Get("Location") != "/account/2fa/backup-codes" {
			t.Fatalf("confirm: %d %s", done.StatusCode, done.Header.Get("Location"))
		}
		if page := c2.get("/account/2fa/backup-codes"); !strings.Contains(page.Body, "signed out everywhere else") {
			t.Fatalf("the backup-codes page does not say other sessions ended: %d", page.StatusCode)
		}
		// Shown once: a reload has nothing to show.
		if again := c2.get("/account/2fa/backup-codes"); again.StatusCode != 303 {
			t.Fatalf("the codes page shown twice: %d", again.StatusCode)
		}
	})
}

// between is the text of s between the first from and the next to.
func between(s, from, to string) string {
	_, rest, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, to)
	return v
}

// TestReviewSecondFactorFreeze (finding 7): with the password known, wrong
// codes wait longer and longer, up to a day, the owner is told at each new
// level, and after 50 in a row second-factor sign-in is frozen: even the
// right code is refused, whatever the wait, until the owner uses a backup
// code or the emailed unlock link.
func TestReviewSecondFactorFreeze(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		id, secret, backup := e.userWith2FA("v@example.com")
		p := portal.SecondFactorUserLimit
		// guess sends one wrong code on a fresh login (sessions expire while
		// the attacker waits) once the current wait is over.
		guess := func() *response {
			e.clock.Add(p.MaxDelay + time.Minute)
			c := e.passwordStep("v@example.com")
			return c.api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": wrongCode(t, secret, e.clock.Now())})
		}
		for n := 1; n < p.Freeze; n++ {
			if r := guess(); r.StatusCode != 401 {
				t.Fatalf("wrong code %d: %d %s", n, r.StatusCode, r.Body)
			}
		}
		// The wait grew to a day: straight after a failure the next try waits.
		c := e.passwordStep("v@example.com")
		r := c.api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": wrongCode(t, secret, e.clock.Now())})
		if r.StatusCode != 429 || r.Header.Get("Retry-After") != "86400" {
			t.Fatalf("right after wrong code %d: %d Retry-After %q", p.Freeze-1, r.StatusCode, r.Header.Get("Retry-After"))
		}
		if r := guess(); r.StatusCode != 401 {
			t.Fatalf("wrong code %d: %d %s", p.Freeze, r.StatusCode, r.Body)
		}
		// Frozen: the right code is refused, however long one waits.
		for range 3 {
			e.clock.Add(3 * 24 * time.Hour)
			c := e.passwordStep("v@example.com")
			r := c.api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": codeAt(t, secret, e.clock.Now())})
			if r.StatusCode != 429 || !strings.Contains(r.Body, "frozen") {
				t.Fatalf("right code on a frozen account: %d %s", r.StatusCode, r.Body)
			}
		}
		var locked, frozen int
		for _, k := range e.mail.Kinds(id) {
			switch k {
			case portal.EventSecondFactorLocked:
				locked++
			case portal.EventSecondFactorFrozen:
				frozen++
			}
		}
		if locked != 4 || frozen != 1 {
			t.Fatalf("notices: %d at new levels (want 4: 30 s, 15 min, 1 h, 1 day) and %d frozen (want 1)", locked, frozen)
		}
		// A backup code still works, and ends the freeze.
		c = e.passwordStep("v@example.com")
		if r := c.api("POST", "/api/v1/login/2fa", map[string]string{"method": "backup_code", "code": backup[0]}); r.StatusCode != 200 {
			t.Fatalf("backup code on a frozen account: %d %s", r.StatusCode, r.Body)
		}
		e.clock.Add(30 * time.Second)
		c = e.passwordStep("v@example.com")
		if r := c.api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": codeAt(t, secret, e.clock.Now())}); r.StatusCode != 200 {
			t.Fatalf("after the backup code: %d %s", r.StatusCode, r.Body)
		}

		// The emailed unlock link ends a freeze too, once.
		_, secret2, _ := e.userWith2FA("w@example.com")
		for n := 1; n <= p.Freeze; n++ {
			e.clock.Add(p.MaxDelay + time.Minute)
			c := e.passwordStep("w@example.com")
			if r := c.api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": wrongCode(t, secret2, e.clock.Now())}); r.StatusCode != 401 {
				t.Fatalf("w: wrong code %d: %d", n, r.StatusCode)
			}
		}
		link := e.box.LastLink("w@example.com")
		if !strings.Contains(link, "/unlock?token=") {
			t.Fatalf("no unlock link emailed: %q", link)
		}
		if r := e.client().get(strings.TrimPrefix(link, e.ts.URL)); r.StatusCode != 200 || !strings.Contains(r.Body, "Unlock") {
			t.Fatalf("unlock page: %d", r.StatusCode)
		}
		if r := e.client().api("POST", "/api/v1/unlock", map[string]string{"token": tokenOf(link)}); r.StatusCode != 204 {
			t.Fatalf("unlock: %d %s", r.StatusCode, r.Body)
		}
		if r := e.client().api("POST", "/api/v1/unlock", map[string]string{"token": tokenOf(link)}); r.StatusCode != 404 {
			t.Fatalf("unlock link twice: %d %s", r.StatusCode, r.Body)
		}
		e.clock.Add(30 * time.Second)
		c = e.passwordStep("w@example.com")
		if r := c.api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": codeAt(t, secret2, e.clock.Now())}); r.StatusCode != 200 {
			t.Fatalf("after unlocking: %d %s", r.StatusCode, r.Body)
		}
	})
}

// wrongCode is a six-digit code that is none of the accepted ones at at.
func wrongCode(t *testing.T, secret string, at time.Time) string {
	for n := 0; ; n++ {
		c := fmt.Sprintf("%06d", (n*7919+12345)%1000000)
		if c != codeAt(t, secret, at) && c != codeAt(t, secret, at.Add(-30*time.Second)) && c != codeAt(t, secret, at.Add(30*time.Second)) {
			return c
		}
	}
}

// TestReviewPasswordLockoutDoS (finding 8): a stranger's wrong passwords
// lock the account's shared counter, not a browser that signed in to it
// before; that browser's own failures still lock it.
func TestReviewPasswordLockoutDoS(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		e.register("o@example.com")
		owner := e.login("o@example.com")
		owner.api("POST", "/api/v1/logout", nil)

		stranger := e.client()
		for range 12 {
			stranger.api("POST", "/api/v1/login", map[string]string{"email": "o@example.com", "password": "guess guess guess"})
		}
		if r := stranger.api("POST", "/api/v1/login", map[string]string{"email": "o@example.com", "password": testPassword}); r.StatusCode != 429 {
			t.Fatalf("the stranger is not locked: %d %s", r.StatusCode, r.Body)
		}
		if r := owner.api("POST", "/api/v1/login", map[string]string{"email": "o@example.com", "password": testPassword}); r.StatusCode != 200 {
			t.Fatalf("the owner's browser was locked out by the stranger: %d %s", r.StatusCode, r.Body)
		}
		// A device cookie of another account gives no counter of its own.
		e.register("x@example.com")
		x := e.login("x@example.com")
		if r := x.api("POST", "/api/v1/login", map[string]string{"email": "o@example.com", "password": testPassword}); r.StatusCode != 429 {
			t.Fatalf("another account's device cookie skipped the lock: %d", r.StatusCode)
		}
		// The owner's browser has a limit of its own.
		owner.api("POST", "/api/v1/logout", nil)
		for range 10 {
			owner.api("POST", "/api/v1/login", map[string]string{"email": "o@example.com", "password": "my typo my typo"})
		}
		if r := owner.api("POST", "/api/v1/login", map[string]string{"email": "o@example.com", "password": testPassword}); r.StatusCode != 429 {
			t.Fatalf("the device's own failures: %d", r.StatusCode)
		}
	})
}

// TestReviewIPv6Network (finding 13): per-client limits count an IPv6
// client by its /64, so moving to another address of the same network
// buys nothing.
func TestReviewIPv6Network(t *testing.T) {
	e := newEnv(t, "sqlite", withConfig(trustLocalProxy))
	statuses := map[int]int{}
	for i := range portal.PasswordIPLimit.Threshold + 5 {
		c := e.client().fromIP(fmt.Sprintf("2001:db8:1:2:%x::1", i+1))
		r := c.api("POST", "/api/v1/login", map[string]string{"email": fmt.Sprintf("u%d@example.com", i), "password": "wrong password"})
		statuses[r.StatusCode]++
	}
	if statuses[401] != portal.PasswordIPLimit.Threshold || statuses[429] != 5 {
		t.Fatalf("one /64, many addresses: %v", statuses)
	}
	if r := e.client().fromIP("2001:db8:1:3::1").api("POST", "/api/v1/login", map[string]string{"email": "n@example.com", "password": "wrong password"}); r.StatusCode != 401 {
		t.Fatalf("another /64 was limited: %d", r.StatusCode)
	}
}

// TestReviewMessageQuotas (finding 10): what a signed-in stranger can make
// the portal send is bounded per destination, per account and per
// network; WhatsApp enrolment needs a verified address.
func TestReviewMessageQuotas(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, withConfig(trustLocalProxy))
		limit := func(r *response, what string, n int) int {
			if r.StatusCode == 429 && r.Header.Get("Retry-After") != "" {
				return 1
			} else if r.StatusCode >= 300 && r.StatusCode != 303 {
				t.Fatalf("%s %d: %d %s", what, n, r.StatusCode, r.Body)
			}
			return 0
		}
		// 30 verification emails to one address.
		e.register("unverified@example.com")
		c := e.login("unverified@example.com")
		refused := 0
		for n := range 30 {
			refused += limit(c.api("POST", "/api/v1/me/email/verify", nil), "verification", n)
		}
		if got := e.box.LinkCount("unverified@example.com"); got != 1+portal.SendDestLimit.Threshold || refused != 30-portal.SendDestLimit.Threshold {
			t.Errorf("verification links: %d sent (with the registration's), %d refused", got, refused)
		}
		// 30 invitations, to 30 addresses or to one.
		owner := e.customer("owner@example.com")
		refused = 0
		for n := range 30 {
			refused += limit(owner.api("POST", "/api/v1/account/users", map[string]string{"email": fmt.Sprintf("inv%d@example.net", n), "name": "Invitee"}), "invitation", n)
		}
		if refused != 30-portal.SendUserLimit.Threshold {
			t.Errorf("invitations from one account: %d of 30 refused", refused)
		}
		e.clock.Add(time.Hour)
		owner2 := e.customer("owner2@example.com")
		owner3 := e.customer("owner3@example.com")
		for n := range 10 {
			o := owner2
			if n%2 == 1 {
				o = owner3
			}
			o.api("POST", "/api/v1/account/users", map[string]string{"email": "victim@example.net", "name": "Invitee"})
		}
		if got := e.box.LinkCount("victim@example.net"); got > portal.SendDestLimit.Threshold {
			t.Errorf("invitations to one address from two accounts: %d", got)
		}
		// 15 email-change links.
		e.clock.Add(time.Hour)
		ch := e.customer("changer@example.com")
		for range 15 {
			ch.api("POST", "/api/v1/me/email", map[string]string{"email": "target@example.net"})
		}
		if got := e.box.LinkCount("target@example.net"); got > portal.SendDestLimit.Threshold {
			t.Errorf("email-change links to one address: %d", got)
		}
		// Throw-away accounts from one network: enrolment codes are capped.
		e.clock.Add(time.Hour)
		sent := 0
		for n := range portal.SendIPLimit.Threshold + 5 {
			a := e.customer(fmt.Sprintf("throwaway%d@example.net", n)).fromIP("198.51.100.9")
			if r := a.api("POST", "/api/v1/me/2fa/email", nil); r.StatusCode == 202 {
				sent++
			} else if r.StatusCode != 429 {
				t.Fatalf("enrolment code %d: %d %s", n, r.StatusCode, r.Body)
			}
		}
		if sent != portal.SendIPLimit.Threshold {
			t.Errorf("enrolment codes from one network: %d sent", sent)
		}
	})
}

// TestReviewWhatsAppNeedsVerifiedEmail (finding 10): a throw-away account
// with no verified address sends no paid WhatsApp message.
func TestReviewWhatsAppNeedsVerifiedEmail(t *testing.T) {
	e, srv := waEnv(t, "sqlite")
	e.register("throwaway@example.net")
	c := e.login("throwaway@example.net")
	if r := c.api("POST", "/api/v1/me/2fa/whatsapp", map[string]string{"phone": phone}); r.StatusCode != 409 || !strings.Contains(r.Body, "Verify your email") {
		t.Fatalf("WhatsApp enrolment without a verified address: %d %s", r.StatusCode, r.Body)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("%d WhatsApp messages sent", n)
	}
}

// TestReviewRegistrationQuota (finding 11): one network can create (or
// probe for taken addresses) a bounded number of accounts an hour.
func TestReviewRegistrationQuota(t *testing.T) {
	e := newEnv(t, "sqlite")
	statuses := map[int]int{}
	for n := range portal.RegisterIPLimit.Threshold + 5 {
		r := e.client().api("POST", "/api/v1/register", map[string]string{"email": fmt.Sprintf("probe%d@example.com", n%3), "password": testPassword, "name": "Probe"})
		statuses[r.StatusCode]++
	}
	if statuses[429] != 5 || statuses[201] != 3 {
		t.Fatalf("registrations from one network: %v", statuses)
	}
}

// gatedStore holds UserByEmail, once held, until the gate opens.
type gatedStore struct {
	web.Store
	held atomic.Bool
	gate chan struct{}
}

func (g *gatedStore) UserByEmail(ctx context.Context, email string) (*portal.User, error) {
	if g.held.Load() {
		<-g.gate
	}
	return g.Store.UserByEmail(ctx, email)
}

// TestReviewRecovery (finding 11): recovery requests are limited per
// network and per address, and the answer never waits for the address to
// be looked up: a real 2FA user and an unknown address answer alike, in
// the same time (the lookup is held back here, and both still answer).
func TestReviewRecovery(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		gated := &gatedStore{gate: make(chan struct{})}
		e := newEnv(t, dialect, withConfig(trustLocalProxy), func(_ *web.Config, d *web.Deps) { gated.Store = d.Store; d.Store = gated })
		e.userWith2FA("lost@example.com")
		gated.held.Store(true)
		gate := gated.gate

		answers := map[string]string{}
		for _, who := range []string{"lost@example.com", "nobody@example.com"} {
			done := make(chan *response, 1)
			go func() {
				done <- e.client().fromIP("198.51.100.1").api("POST", "/api/v1/recovery", map[string]string{"email": who, "message": "lost my phone"})
			}()
			select {
			case r := <-done:
				answers[who] = fmt.Sprint(r.StatusCode, r.Body)
			case <-time.After(10 * time.Second):
				close(gate)
				t.Fatalf("the answer for %s waited for the address to be looked up", who)
			}
		}
		close(gate)
		e.web.Wait()
		if answers["lost@example.com"] != answers["nobody@example.com"] || !strings.HasPrefix(answers["nobody@example.com"], "202") {
			t.Fatalf("answers differ: %q / %q", answers["lost@example.com"], answers["nobody@example.com"])
		}
		if reqs, _ := e.db.Recoveries(t.Context(), portal.RecoveryPending, 10); len(reqs) != 1 {
			t.Fatalf("requests opened: %d", len(reqs))
		}
		// Per network.
		statuses := map[int]int{}
		for n := range portal.RecoveryIPLimit.Threshold + 3 {
			r := e.client().fromIP("198.51.100.2").api("POST", "/api/v1/recovery", map[string]string{"email": fmt.Sprintf("x%d@example.com", n)})
			statuses[r.StatusCode]++
		}
		if statuses[202] != portal.RecoveryIPLimit.Threshold || statuses[429] != 3 {
			t.Fatalf("recovery requests from one network: %v", statuses)
		}
		// Per address from one network; a stranger using up theirs on other
		// networks leaves the owner's network its own.
		statuses = map[int]int{}
		for range portal.RecoveryAddressLimit.Threshold + 3 {
			r := e.client().fromIP("203.0.113.1").api("POST", "/api/v1/recovery", map[string]string{"email": "lost@example.com"})
			statuses[r.StatusCode]++
		}
		if statuses[202] != portal.RecoveryAddressLimit.Threshold || statuses[429] != 3 {
			t.Fatalf("recovery requests for one address from one network: %v", statuses)
		}
		if r := e.client().fromIP("192.0.2.200").api("POST", "/api/v1/recovery", map[string]string{"email": "lost@example.com"}); r.StatusCode != 202 {
			t.Fatalf("the owner's network after a stranger used up theirs: %d %s", r.StatusCode, r.Body)
		}
		e.web.Wait()
	})
}

// TestReviewRemedyEndsLinks (a later outside review): the remedies of a
// compromised account withdraw what a session that held the password could
// have left to keep a way in. An invitation into the account, sent from
// the intruder's session, no longer works after the owner changes the
// password or resets it by link, turns 2FA off, or is reset by staff; a password-reset link
// asked for before a password change no longer sets a password after it.
func TestReviewRemedyEndsLinks(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		admin := e.staff("ops@example.com")
		invite := func(c *client, to string) string {
			if r := c.api("POST", "/api/v1/account/users", map[string]string{"email": to, "name": "Guest"}); r.StatusCode != 201 {
				t.Fatalf("invite %s: %d %s", to, r.StatusCode, r.Body)
			}
			return e.box.LastLink(to)
		}
		accept := func(link string) *response {
			return e.client().api("POST", "/api/v1/invitations/accept", map[string]string{"token": tokenOf(link), "name": "Guest", "password": "a guest's own passphrase"})
		}
		refused := func(what string, r *response) {
			t.Helper()
			if r.StatusCode < 400 || r.StatusCode >= 500 {
				t.Errorf("%s: %d %s, want a 4xx", what, r.StatusCode, r.Body)
			}
		}

		// A password change: the intruder's invitation and an older
		// reset link die; an invitation sent after it works.
		e.register("a@example.com")
		reset := e.forgot("a@example.com")
		intruder := e.login("a@example.com")
		link := invite(intruder, "thief-a@example.net")
		owner := e.login("a@example.com")
		if r := owner.api("POST", "/api/v1/me/password", map[string]string{"current_password": testPassword, "new_password": "the owner's new passphrase"}); r.StatusCode != 204 {
			t.Fatalf("password change: %d %s", r.StatusCode, r.Body)
		}
		refused("invitation after a password change", accept(link))
		refused("reset link asked for before a password change", e.client().api("POST", "/api/v1/password/reset", map[string]string{"token": tokenOf(reset), "password": "the intruder's passphrase"}))
		if r := e.client().api("POST", "/api/v1/login", map[string]string{"email": "a@example.com", "password": "the owner's new passphrase"}); r.StatusCode != 200 {
			t.Errorf("the owner's new password: %d %s", r.StatusCode, r.Body)
		}
		if r := accept(invite(owner, "colleague-a@example.com")); r.StatusCode != 201 {
			t.Errorf("an invitation sent after the change: %d %s", r.StatusCode, r.Body)
		}

		// A reset by link (the intruder had changed the password).
		e.register("r@example.com")
		intruder = e.login("r@example.com")
		link = invite(intruder, "thief-r@example.net")
		if r := e.client().api("POST", "/api/v1/password/reset", map[string]string{"token": tokenOf(e.forgot("r@example.com")), "password": "the owner's reset passphrase"}); r.StatusCode != 204 {
			t.Fatalf("reset: %d %s", r.StatusCode, r.Body)
		}
		refused("invitation after a password reset", accept(link))

		// Turning 2FA off, and a staff reset.
		for _, remedy := range []string{"2fa-off", "staff-reset"} {
			email := remedy + "@example.com"
			id, secret, _ := e.userWith2FA(email)
			signIn := func() *client {
				c := e.passwordStep(email)
				e.clock.Add(30 * time.Second)
				if r := c.api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": codeAt(t, secret, e.clock.Now())}); r.StatusCode != 200 {
					t.Fatalf("%s: second step: %d %s", remedy, r.StatusCode, r.Body)
				}
				return c
			}
			link := invite(signIn(), "thief-"+email)
			if remedy == "2fa-off" {
				owner := signIn()
				e.clock.Add(30 * time.Second)
				if r := owner.api("DELETE", "/api/v1/me/2fa", map[string]string{"password": testPassword, "method": "totp", "code": codeAt(t, secret, e.clock.Now())}); r.StatusCode != 204 {
					t.Fatalf("2FA off: %d %s", r.StatusCode, r.Body)
				}
			} else if r := admin.api("POST", "/api/v1/admin/users/"+id+"/2fa/reset", map[string]string{"reason": "account taken over, ticket 7"}); r.StatusCode != 204 {
				t.Fatalf("staff reset: %d %s", r.StatusCode, r.Body)
			}
			refused("invitation after "+remedy, accept(link))
		}
	})
}

// TestReviewSetupSessionListed (a later outside review): a session that
// policy holds at setting up 2FA can still set up the user's 2FA, so
// "Where you're signed in" lists it, and it can be ended from there.
func TestReviewSetupSessionListed(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		e.register("h@example.com")
		owner := e.login("h@example.com")
		other := e.login("h@example.com")
		if r := owner.api("PUT", "/api/v1/account/policy", map[string]any{"require_2fa": true}); r.StatusCode != 204 {
			t.Fatalf("policy: %d %s", r.StatusCode, r.Body)
		}
		list := owner.get("/api/v1/me/sessions").json()["sessions"].([]any)
		if len(list) != 2 {
			t.Fatalf("%d sessions listed after 2FA became required, want 2: %v", len(list), list)
		}
		var id string
		for _, x := range list {
			if m := x.(map[string]any); m["current"] != true {
				id, _ = m["id"].(string)
			}
		}
		if r := owner.api("DELETE", "/api/v1/me/sessions/"+id, nil); r.StatusCode != 204 {
			t.Fatalf("end the other session: %d %s", r.StatusCode, r.Body)
		}
		if r := other.api("POST", "/api/v1/me/2fa/totp", nil); r.StatusCode != 401 {
			t.Errorf("the ended session starts an authenticator set-up: %d %s", r.StatusCode, r.Body)
		}
	})
}
