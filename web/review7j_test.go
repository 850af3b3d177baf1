package web_test

import (
	"github.com/clientportal/portal"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/clientportal/portal/sqlstore/storetest"
)

// TestReview7JDeviceCookieOutlivesItsYear: the README promises a device
// cookie "signed for that account (HMAC with the portal's keys, one
// year)". Only the browser's Max-Age kept the year: the signed value held
// no time, so a copied (or never-expired) cookie still bought its own
// counter of guesses, past a stranger's lock, a year and a day later.
func TestReview7JDeviceCookieOutlivesItsYear(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		e.register("o@example.com")
		old := e.login("o@example.com")
		old.api("POST", "/api/v1/logout", nil)
		if old.cookieNamed("portal_device") == "" {
			t.Fatal("no device cookie after signing in")
		}

		e.clock.Add(365*24*time.Hour + time.Second)
		stranger := e.client()
		for range 12 {
			stranger.api("POST", "/api/v1/login", map[string]string{"email": "o@example.com", "password": "guess guess guess"})
		}
		if r := stranger.api("POST", "/api/v1/login", map[string]string{"email": "o@example.com", "password": testPassword}); r.StatusCode != 429 {
			t.Fatalf("the stranger is not locked: %d %s", r.StatusCode, r.Body)
		}
		// A year and a second on, the cookie is worth nothing: its sign-in
		// counts on the shared counter, which is locked.
		if r := old.api("POST", "/api/v1/login", map[string]string{"email": "o@example.com", "password": testPassword}); r.StatusCode != 429 {
			t.Fatalf("a device cookie a year and a second old still has a counter of its own: %d %s", r.StatusCode, r.Body)
		}
	})
}

// TestReview7JLinksAndCookiesEndOnTime: the lifetimes the README gives
// hold to the second: "No, secure my account" (7 days), a remembered
// browser (30 days), the first administrator's set-up link (24 hours).
func TestReview7JLinksAndCookiesEndOnTime(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Run("secure link", func(t *testing.T) {
			e, alerts := alertsEnv(t, dialect)
			e.register("ada@example.com")
			e.login("ada@example.com")
			e.web.Wait()
			e.login("ada@example.com") // a second browser: an alert
			e.web.Wait()
			link := alerts.LastLink("ada@example.com")
			if link == "" {
				t.Fatal("no alert")
			}
			e.clock.Add(7*24*time.Hour + time.Second)
			r := e.client().form("/secure", url.Values{"token": {tokenOf(link)}, "password": {testPassword}})
			if r.StatusCode != 404 || strings.Contains(r.Body, "Your account is secured") {
				t.Fatalf("a secure link 7 days and 1 s old: %d", r.StatusCode)
			}
		})
		t.Run("remembered browser", func(t *testing.T) {
			e := newEnv(t, dialect)
			_, secret, _ := e.userWith2FA("rb@example.com")
			cookie := e.rememberedLogin("rb@example.com", secret)
			e.clock.Add(30*24*time.Hour - time.Minute)
			c := e.client()
			c.setCookieNamed("portal_remember", cookie)
			if r := c.api("POST", "/api/v1/login", map[string]string{"email": "rb@example.com", "password": testPassword}); r.json()["status"] != "authenticated" {
				t.Fatalf("remembered browser before 30 days: %s", r.Body)
			}
			e.clock.Add(time.Minute + time.Second)
			c = e.client()
			c.setCookieNamed("portal_remember", cookie)
			if r := c.api("POST", "/api/v1/login", map[string]string{"email": "rb@example.com", "password": testPassword}); r.json()["status"] != "2fa_required" {
				t.Fatalf("remembered browser 30 days and 1 s on: %s", r.Body)
			}
		})
		t.Run("set-up link", func(t *testing.T) {
			e := newEnv(t, dialect)
			token := e.setupLink()
			e.clock.Add(24*time.Hour + time.Second)
			if r := e.client().postSetup(token, "admin@example.com"); r.StatusCode < 400 {
				t.Fatalf("a set-up link 24 h and 1 s old: %d", r.StatusCode)
			}
			if _, err := e.db.UserByEmail(t.Context(), "admin@example.com"); err == nil {
				t.Fatal("an expired set-up link made an administrator")
			}
		})
	})
}

// TestReview7JTokensNeverChangeStaff: "A token never changes staff: their
// 2FA reset, their recovery, disabling them ... are refused with 403" —
// the recovery and the disabling, which TestTokensNeverChangeStaff does
// not try.
func TestReview7JTokensNeverChangeStaff(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		staff := e.staff("ops@example.com")
		e.staff("boss@example.com")
		boss := mustUser(t, e, "boss@example.com")
		tok := e.bearer(newToken(t, staff, "Desk", 0, portal.ScopeUsersWrite, portal.ScopeTwoFactorReset, portal.ScopeUsersRead))

		if r := tok.api("POST", "/api/v1/admin/users/"+boss.ID+"/disable", map[string]string{"reason": "x"}); r.StatusCode != 403 {
			t.Fatalf("a token disabled staff: %d %s", r.StatusCode, r.Body)
		}
		e.client().api("POST", "/api/v1/recovery", map[string]string{"email": "boss@example.com", "message": "lost it"})
		e.web.Wait()
		r := tok.api("GET", "/api/v1/admin/recovery?status=pending", nil)
		reqs, _ := r.json()["requests"].([]any)
		if r.StatusCode != 200 || len(reqs) != 1 {
			t.Fatalf("recovery list: %d %s", r.StatusCode, r.Body)
		}
		id := reqs[0].(map[string]any)["id"].(string)
		if r := tok.api("POST", "/api/v1/admin/recovery/"+id+"/approve", map[string]string{"note": "ok"}); r.StatusCode != 403 {
			t.Fatalf("a token approved staff recovery: %d %s", r.StatusCode, r.Body)
		}
		if u := mustUser(t, e, "boss@example.com"); u.Disabled {
			t.Fatal("staff disabled")
		}
	})
}
