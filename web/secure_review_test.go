package web_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/clientportal/portal/portaltest"
	"github.com/clientportal/portal/sqlstore/storetest"
	"github.com/clientportal/portal/web"
)

// alertsEnv is an environment whose new sign-in alerts land in a mailbox.
func alertsEnv(t *testing.T, dialect string, opts ...option) (*env, *portaltest.Mailbox) {
	alerts := &portaltest.Mailbox{}
	e := newEnv(t, dialect, append(opts, func(_ *web.Config, d *web.Deps) { d.Alerts = alerts })...)
	return e, alerts
}

// secureFromAlert follows "No, secure my account" of the newest alert,
// with the owner's password.
func (e *env) secureFromAlert(alerts *portaltest.Mailbox, addr string) {
	e.t.Helper()
	e.web.Wait()
	link := alerts.LastLink(addr)
	if link == "" {
		e.t.Fatalf("no alert went to %s", addr)
	}
	if r := e.client().form("/secure", url.Values{"token": {tokenOf(link)}, "password": {testPassword}}); r.StatusCode != 200 || !strings.Contains(r.Body, "Your account is secured") {
		e.t.Fatalf("secure: %d %s", r.StatusCode, r.Body)
	}
}

// intruderWithPasskey makes ada@example.com with TOTP, then signs in as an
// intruder with the password and a phished code (a new browser: an alert)
// and adds a passkey. It returns the owner's TOTP secret and backup codes,
// the intruder's client and the passkey.
func intruderWithPasskey(t *testing.T, e *env) (secret string, backup []string, intruder *client, k *softKey) {
	t.Helper()
	id, secret, backup := e.userWith2FA("ada@example.com")
	e.web.Wait()
	intruder = e.passwordStep("ada@example.com")
	if r := intruder.api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": codeAt(t, secret, e.clock.Now())}); r.StatusCode != 200 {
		t.Fatalf("intruder's code: %d %s", r.StatusCode, r.Body)
	}
	k = newSoftKey(t)
	e.enrolPasskey(t, intruder, k, id, "Mine now")
	return secret, backup, intruder, k
}

// TestSecureUndoesWhatTheIntruderLeft: "No, secure my account" ends the
// reported sign-in's session, and with it what that session could have
// left to keep a way in: a passkey it added (which signs in alone, even
// after the owner's new password), an email change to the intruder's
// mailbox, an invitation of the intruder's address, an API token. Before,
// each of them outlived the remedy.
func TestSecureUndoesWhatTheIntruderLeft(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Run("passkey and backup codes", func(t *testing.T) {
			e, alerts := alertsEnv(t, dialect, withWebAuthn)
			secret, backup, intruder, k := intruderWithPasskey(t, e)
			r := intruder.api("POST", "/api/v1/me/2fa/backup_codes", nil)
			if r.StatusCode != 200 {
				t.Fatalf("intruder's backup codes: %d %s", r.StatusCode, r.Body)
			}
			seen := r.json()["backup_codes"].([]any)[0].(string)
			e.clock.Add(time.Minute)
			e.secureFromAlert(alerts, "ada@example.com")
			if r := passkeySignIn(t, e.client(), k); r.StatusCode == 200 {
				t.Errorf("the intruder's passkey still signs in after securing the account")
			}
			for name, code := range map[string]string{"a backup code the intruder made": seen, "one of the owner's older codes": backup[0]} {
				c := e.passwordStep("ada@example.com")
				if r := c.api("POST", "/api/v1/login/2fa", map[string]string{"method": "backup_code", "code": code}); r.StatusCode == 200 {
					t.Errorf("%s signs in after securing the account", name)
				}
			}
			// The owner's authenticator still works.
			e.clock.Add(30 * time.Second)
			c := e.passwordStep("ada@example.com")
			if r := c.api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": codeAt(t, secret, e.clock.Now())}); r.StatusCode != 200 {
				t.Errorf("the owner's own authenticator after securing: %d %s", r.StatusCode, r.Body)
			}
		})
		t.Run("email change, invitation", func(t *testing.T) {
			e, alerts := alertsEnv(t, dialect)
			e.register("ada@example.com")
			e.login("ada@example.com")
			e.web.Wait()
			intruder := e.login("ada@example.com") // a new browser: an alert
			if r := intruder.api("POST", "/api/v1/me/email", map[string]string{"email": "mallory@evil.example"}); r.StatusCode != 202 {
				t.Fatalf("email change: %d %s", r.StatusCode, r.Body)
			}
			change := e.box.LastLink("mallory@evil.example")
			if r := intruder.api("POST", "/api/v1/account/users", map[string]string{"email": "mole@evil.example", "name": "Mole"}); r.StatusCode != 201 {
				t.Fatalf("invite: %d %s", r.StatusCode, r.Body)
			}
			invite := e.box.LastLink("mole@evil.example")
			e.clock.Add(time.Hour)
			e.secureFromAlert(alerts, "ada@example.com")
			if r := e.client().api("POST", "/api/v1/verify-email", map[string]string{"token": tokenOf(change)}); r.StatusCode == 204 {
				t.Error("the intruder's email-change link moved the account after securing it")
			}
			if r := e.client().api("POST", "/api/v1/invitations/accept", map[string]string{"token": tokenOf(invite), "name": "Mole", "password": "the mole's own passphrase"}); r.StatusCode == 201 {
				t.Error("the intruder's invitation made a user of the account after securing it")
			}
		})
		t.Run("confirmed email change, accepted invitation", func(t *testing.T) {
			e, alerts := alertsEnv(t, dialect)
			e.register("ada@example.com")
			e.login("ada@example.com")
			e.web.Wait()
			intruder := e.login("ada@example.com")
			if r := intruder.api("POST", "/api/v1/me/email", map[string]string{"email": "mallory@evil.example"}); r.StatusCode != 202 {
				t.Fatalf("email change: %d %s", r.StatusCode, r.Body)
			}
			if r := e.client().api("POST", "/api/v1/verify-email", map[string]string{"token": tokenOf(e.box.LastLink("mallory@evil.example"))}); r.StatusCode != 204 {
				t.Fatalf("the intruder confirms the change: %d %s", r.StatusCode, r.Body)
			}
			if r := intruder.api("POST", "/api/v1/account/users", map[string]string{"email": "mole@evil.example", "name": "Mole"}); r.StatusCode != 201 {
				t.Fatalf("invite: %d %s", r.StatusCode, r.Body)
			}
			if r := e.client().api("POST", "/api/v1/invitations/accept", map[string]string{"token": tokenOf(e.box.LastLink("mole@evil.example")), "name": "Mole", "password": "the mole's own passphrase"}); r.StatusCode != 201 {
				t.Fatalf("accept: %d %s", r.StatusCode, r.Body)
			}
			e.clock.Add(time.Hour)
			e.secureFromAlert(alerts, "ada@example.com")
			if u := mustUser(t, e, "ada@example.com"); u.Email != "ada@example.com" {
				t.Errorf("the account's address after securing: %q; want the one it had at the reported sign-in", u.Email)
			}
			if link := e.forgot("mallory@evil.example"); link != "" {
				t.Error("a password reset still goes to the intruder's mailbox")
			}
			if r := e.client().api("POST", "/api/v1/login", map[string]string{"email": "mole@evil.example", "password": "the mole's own passphrase"}); r.StatusCode == 200 {
				t.Error("the user the intruder invited still signs in to the account")
			}
		})
		t.Run("a later alert from the intruder's passkey", func(t *testing.T) {
			e, alerts := alertsEnv(t, dialect, withWebAuthn)
			_, _, _, k := intruderWithPasskey(t, e)
			e.web.Wait()
			first := alerts.LastLink("ada@example.com")
			e.clock.Add(time.Minute)
			if r := passkeySignIn(t, e.client(), k); r.StatusCode != 200 {
				t.Fatalf("passkey sign-in: %d %s", r.StatusCode, r.Body)
			}
			e.web.Wait()
			if alerts.LastLink("ada@example.com") == first {
				t.Fatal("no second alert")
			}
			e.clock.Add(time.Minute)
			e.secureFromAlert(alerts, "ada@example.com") // the newest
			if r := passkeySignIn(t, e.client(), k); r.StatusCode == 200 {
				t.Error("the passkey added by the first reported sign-in still signs in after securing from the newest alert")
			}
			if r := e.client().form("/secure", url.Values{"token": {tokenOf(first)}}); r.StatusCode != 404 {
				t.Errorf("the older alert's link after securing: %d; want it used up", r.StatusCode)
			}
		})
		t.Run("API token", func(t *testing.T) {
			e, alerts := alertsEnv(t, dialect)
			e.staff("ops@example.com")
			e.web.Wait()
			e.clock.Add(time.Minute)
			intruder := e.staffLogin("ops@example.com")
			token := newToken(t, intruder, "backup job", 0, "users:read")
			e.clock.Add(time.Hour)
			e.secureFromAlert(alerts, "ops@example.com")
			if r := e.bearer(token).api("GET", "/api/v1/admin/users", nil); r.StatusCode != 401 {
				t.Errorf("an API token made by the reported sign-in after securing the account: %d", r.StatusCode)
			}
		})
	})
}

// TestAlertNamesOnlyKnownBrowsers: whoever signs in writes the
// User-Agent; the alert meant to warn about them, and the session list,
// name only browsers and systems the parser recognises, so an intruder
// cannot put their own words ("ignore this alert, call …") there.
func TestAlertNamesOnlyKnownBrowsers(t *testing.T) {
	e, alerts := alertsEnv(t, "sqlite")
	e.register("ada@example.com")
	e.login("ada@example.com")
	e.web.Wait()
	const words = "Ignore-this-alert-call-555-0100"
	for _, ua := range []string{words + "/1.0", "Mozilla/5.0 (" + words + "; Ignore this alert) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"} {
		intruder := e.client()
		intruder.hdr.Set("User-Agent", ua)
		if r := intruder.api("POST", "/api/v1/login", map[string]string{"email": "ada@example.com", "password": testPassword}); r.StatusCode != 200 {
			t.Fatalf("login: %d %s", r.StatusCode, r.Body)
		}
		e.web.Wait()
		intro := alerts.LastIntro("ada@example.com")
		// "555-0100", not "555": the session ids in the list are random hex.
		if strings.Contains(intro, "Ignore") || strings.Contains(intro, "555-0100") {
			t.Errorf("the sign-in's own words are in the alert: %q", intro)
		}
		if r := intruder.get("/api/v1/me/sessions"); strings.Contains(r.Body, "Ignore") || strings.Contains(r.Body, "555-0100") {
			t.Errorf("the sign-in's own words are in the session list: %s", r.Body)
		}
	}
	// A real browser is still named.
	c := e.client()
	c.hdr.Set("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36")
	c.api("POST", "/api/v1/login", map[string]string{"email": "ada@example.com", "password": testPassword})
	e.web.Wait()
	if intro := alerts.LastIntro("ada@example.com"); !strings.Contains(intro, "Chrome 120") || !strings.Contains(intro, "Windows 10") {
		t.Errorf("a real browser's alert: %q; want Chrome 120 on Windows 10", intro)
	}
}
