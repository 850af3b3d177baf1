package web_test

import (
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
