package web_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/clientportal/portal/portaltest"
	"github.com/clientportal/portal/web"
)

// TestNewSignInAlerts: the first sign-in of an account sends no alert; a
// sign-in from another browser sends exactly one, and that browser's next
// sign-in none; "No, secure my account" ends every session, works once,
// and an alert a user turned off is not sent.
func TestNewSignInAlerts(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			alerts := &portaltest.Mailbox{}
			e := newEnv(t, dialect, func(_ *web.Config, d *web.Deps) { d.Alerts = alerts })
			e.register("ada@example.com")
			signIn := func(c *client) {
				t.Helper()
				if r := c.api("POST", "/api/v1/login", map[string]string{"email": "ada@example.com", "password": testPassword}); r.StatusCode != 200 {
					t.Fatalf("login: %d %s", r.StatusCode, r.Body)
				}
				e.web.Wait()
			}
			laptop := e.client()
			signIn(laptop)
			signIn(laptop)
			if n := alerts.LinkCount("ada@example.com"); n != 0 {
				t.Fatalf("%d alerts for the first browser", n)
			}
			phone := e.client()
			signIn(phone)
			if n := alerts.LinkCount("ada@example.com"); n != 1 {
				t.Fatalf("%d alerts for a new browser, want 1", n)
			}
			signIn(phone)
			if n := alerts.LinkCount("ada@example.com"); n != 1 {
				t.Fatalf("the same browser again sent an alert (%d)", n)
			}

			link := alerts.LastLink("ada@example.com")
			u, _ := url.Parse(link)
			token := u.Query().Get("token")

			// "Yes, this was me" thanks and changes nothing, even opened
			// twice (as a mail scanner would): sessions live on and the
			// other answer still works.
			mine := alerts.LastMine("ada@example.com")
			if !strings.HasPrefix(mine, link) || mine == link {
				t.Fatalf("the two links of the alert: %q and %q", mine, link)
			}
			for i := 0; i < 2; i++ {
				if r := e.client().get(strings.TrimPrefix(mine, e.ts.URL)); r.StatusCode != 200 || !strings.Contains(r.Body, "Thanks for confirming") || !strings.Contains(r.Body, "It was not me") {
					t.Fatalf("this was me: %d %s", r.StatusCode, r.Body)
				}
			}
			if st := phone.api("GET", "/api/v1/me", nil).StatusCode; st != 200 {
				t.Fatalf("\"this was me\" ended the session: %d", st)
			}
			if r := e.client().get("/secure?token=" + url.QueryEscape(token)); r.StatusCode != 200 || !strings.Contains(r.Body, "Sign out everywhere") {
				t.Fatalf("secure page: %d", r.StatusCode)
			}
			// The link alone (whoever reads the mailbox) changes nothing.
			for _, pw := range []string{"", "not the password"} {
				if r := e.client().form("/secure", url.Values{"token": {token}, "password": {pw}}); r.StatusCode < 400 || r.StatusCode >= 500 || !strings.Contains(r.Body, "password") {
					t.Fatalf("secure without the password %q: %d %s", pw, r.StatusCode, r.Body)
				}
			}
			if st := phone.api("GET", "/api/v1/me", nil).StatusCode; st != 200 {
				t.Fatalf("the link without the password ended a session: %d", st)
			}
			if r := e.client().form("/secure", url.Values{"token": {token}, "password": {testPassword}}); r.StatusCode != 200 || !strings.Contains(r.Body, "Your account is secured") {
				t.Fatalf("secure: %d %s", r.StatusCode, r.Body)
			}
			for _, c := range []*client{laptop, phone} {
				if st := c.api("GET", "/api/v1/me", nil).StatusCode; st != 401 {
					t.Fatalf("a session survived securing the account: %d", st)
				}
			}
			if r := e.client().form("/secure", url.Values{"token": {token}, "password": {testPassword}}); r.StatusCode != 404 || !strings.Contains(r.Body, "used already") {
				t.Fatalf("the link used twice: %d", r.StatusCode)
			}

			// Turned off: a new browser sends nothing.
			signIn(laptop)
			if r := laptop.form("/account/alerts", url.Values{}); r.StatusCode != 200 && r.StatusCode != 303 {
				t.Fatalf("turn off: %d", r.StatusCode)
			}
			before := alerts.LinkCount("ada@example.com")
			signIn(e.client())
			if n := alerts.LinkCount("ada@example.com"); n != before {
				t.Fatal("an alert the user turned off was sent")
			}

			// Staff turn the default off: a user who has not chosen gets none.
			staff := e.staff("ops@example.com")
			if r := staff.api("PUT", "/api/v1/admin/settings", map[string]any{"twofa_policy": "staff", "remember_browsers": true,
				"recovery_wait_hours": 24, "new_device_alerts": false}); r.StatusCode != 204 {
				t.Fatalf("settings: %d %s", r.StatusCode, r.Body)
			}
			e.register("bo@example.com")
			e.login("bo@example.com")
			e.login("bo@example.com")
			e.web.Wait()
			if n := alerts.LinkCount("bo@example.com"); n != 0 {
				t.Fatalf("%d alerts with the default off", n)
			}
		})
	}
}
