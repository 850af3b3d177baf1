package web_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/sqlstore/storetest"
)

// forgot asks for a reset link for email and returns it ("" when none was
// sent).
func (e *env) forgot(email string) string {
	e.t.Helper()
	before := e.box.LinkCount(email)
	r := e.client().api("POST", "/api/v1/password/forgot", map[string]string{"email": email})
	if r.StatusCode != 202 || strings.TrimSpace(r.Body) != "{}" {
		e.t.Fatalf("forgot %s: %d %s", email, r.StatusCode, r.Body)
	}
	e.web.Wait() // the link is made after the answer
	if e.box.LinkCount(email) == before {
		return ""
	}
	return e.box.LastLink(email)
}

// TestPasswordReset: a forgotten password is reset with a single-use,
// one-hour emailed link; every session, remembered browser and pending
// email change ends; the user is told and signs in with the new password.
func TestPasswordReset(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		id := e.register("p@example.com")
		old := e.login("p@example.com")
		change := old.api("POST", "/api/v1/me/email", map[string]string{"email": "elsewhere@example.com"})
		if change.StatusCode != 202 {
			t.Fatalf("email change: %d", change.StatusCode)
		}
		changeLink := e.box.LastLink("elsewhere@example.com")

		// Unknown and known addresses answer alike; only the known one gets mail.
		if l := e.forgot("nobody@example.com"); l != "" {
			t.Fatal("a link went to an unknown address")
		}
		first := e.forgot("p@example.com")
		if !strings.Contains(first, "/password/reset?token=") || len(tokenOf(first)) != 43 {
			t.Fatalf("reset link: %q", first)
		}
		// A newer link kills the older one.
		e.clock.Add(time.Minute)
		link := e.forgot("p@example.com")
		reset := func(link, pw string, extra map[string]string) *response {
			body := map[string]string{"token": tokenOf(link), "password": pw}
			for k, v := range extra {
				body[k] = v
			}
			return e.client().api("POST", "/api/v1/password/reset", body)
		}
		if r := reset(first, "a brand new passphrase", nil); r.StatusCode != 404 {
			t.Fatalf("superseded link: %d %s", r.StatusCode, r.Body)
		}
		if r := reset(link, "password", nil); r.StatusCode != 400 {
			t.Fatalf("a common password: %d %s", r.StatusCode, r.Body)
		}
		if r := reset(link, "a brand new passphrase", nil); r.StatusCode != 204 {
			t.Fatalf("reset: %d %s", r.StatusCode, r.Body)
		}
		if r := reset(link, "another new passphrase", nil); r.StatusCode != 404 || !strings.Contains(r.Body, "Ask for a new link") {
			t.Fatalf("the link used twice: %d %s", r.StatusCode, r.Body)
		}
		if r := old.get("/api/v1/me"); r.StatusCode != 401 {
			t.Fatalf("a session from before the reset: %d", r.StatusCode)
		}
		if r := e.client().api("POST", "/api/v1/verify-email", map[string]string{"token": tokenOf(changeLink)}); r.StatusCode < 400 || r.StatusCode >= 500 {
			t.Fatalf("an email change from before the reset: %d", r.StatusCode)
		}
		if r := e.client().api("POST", "/api/v1/login", map[string]string{"email": "p@example.com", "password": testPassword}); r.StatusCode != 401 {
			t.Fatalf("the old password: %d", r.StatusCode)
		}
		if r := e.client().api("POST", "/api/v1/login", map[string]string{"email": "p@example.com", "password": "a brand new passphrase"}); r.StatusCode != 200 {
			t.Fatalf("the new password: %d %s", r.StatusCode, r.Body)
		}
		if k := strings.Join(e.mail.Kinds(id), ","); !strings.Contains(k, portal.EventPasswordChanged) {
			t.Fatalf("not told: %s", k)
		}
		// A link lasts an hour.
		late := e.forgot("p@example.com")
		e.clock.Add(61 * time.Minute)
		if r := reset(late, "yet another passphrase", nil); r.StatusCode != 404 {
			t.Fatalf("a link after an hour: %d", r.StatusCode)
		}
		// Garbage tokens.
		for _, tok := range []string{"", "x", strings.Repeat("a", 43), "\x00"} {
			if r := e.client().api("POST", "/api/v1/password/reset", map[string]string{"token": tok, "password": "a brand new passphrase"}); r.StatusCode != 404 && r.StatusCode != 400 {
				t.Fatalf("token %q: %d %s", tok, r.StatusCode, r.Body)
			}
		}
	})
}

// TestPasswordResetNeedsSecondFactor: a user with 2FA gives a code too;
// without one the answer names the methods; a wrong code counts on the
// shared limit; a backup code works; an email-code user gets a code sent
// for the reset.
func TestPasswordResetNeedsSecondFactor(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		_, secret, backup := e.userWith2FA("t@example.com")
		browser := e.rememberedLogin("t@example.com", secret)
		link := e.forgot("t@example.com")
		reset := func(extra map[string]string) *response {
			body := map[string]string{"token": tokenOf(link), "password": "a brand new passphrase"}
			for k, v := range extra {
				body[k] = v
			}
			return e.client().api("POST", "/api/v1/password/reset", body)
		}
		r := reset(nil)
		if r.StatusCode != 401 || r.errCode() != "2fa_required" || fmt.Sprint(r.json()["methods"]) != "[totp backup_code]" {
			t.Fatalf("without a code: %d %s", r.StatusCode, r.Body)
		}
		if r := reset(map[string]string{"method": "totp", "code": wrongCode(t, secret, e.clock.Now())}); r.StatusCode != 401 || r.errCode() != "invalid_code" {
			t.Fatalf("a wrong code: %d %s", r.StatusCode, r.Body)
		}
		if r := reset(map[string]string{"method": "backup_code", "code": backup[0]}); r.StatusCode != 204 {
			t.Fatalf("with a backup code: %d %s", r.StatusCode, r.Body)
		}
		// The remembered browser was forgotten: the new password still asks for a code.
		c := e.client()
		c.setCookieNamed("portal_remember", browser)
		if r := c.api("POST", "/api/v1/login", map[string]string{"email": "t@example.com", "password": "a brand new passphrase"}); r.json()["status"] != "2fa_required" {
			t.Fatalf("after the reset, a remembered browser: %s", r.Body)
		}

		// Email codes.
		e.userWithEmail2FA("m@example.com")
		link = e.forgot("m@example.com")
		send := e.client().api("POST", "/api/v1/password/reset/send", map[string]string{"token": tokenOf(link), "method": "email"})
		if send.StatusCode != 202 {
			t.Fatalf("send a reset code: %d %s", send.StatusCode, send.Body)
		}
		if r := e.client().api("POST", "/api/v1/password/reset", map[string]string{"token": tokenOf(link), "password": "a brand new passphrase",
			"method": "email", "code": e.box.LastCode("m@example.com")}); r.StatusCode != 204 {
			t.Fatalf("reset with an email code: %d %s", r.StatusCode, r.Body)
		}
	})
}

// TestForgotQuota: reset emails are limited per address from each network
// and per network; a stranger elsewhere cannot use up the owner's.
func TestForgotQuota(t *testing.T) {
	e := newEnv(t, "sqlite", withConfig(trustLocalProxy))
	e.register("q@example.com")
	before := e.box.LinkCount("q@example.com") // the verification link
	statuses := map[int]int{}
	for range portal.ForgotAddressLimit.Threshold + 2 {
		statuses[e.client().fromIP("198.51.100.1").api("POST", "/api/v1/password/forgot", map[string]string{"email": "q@example.com"}).StatusCode]++
	}
	if statuses[202] != portal.ForgotAddressLimit.Threshold || statuses[429] != 2 {
		t.Fatalf("one address from one network: %v", statuses)
	}
	if r := e.client().fromIP("203.0.113.9").api("POST", "/api/v1/password/forgot", map[string]string{"email": "q@example.com"}); r.StatusCode != 202 {
		t.Fatalf("the owner's network: %d", r.StatusCode)
	}
	e.web.Wait()
	if n := e.box.LinkCount("q@example.com") - before; n != portal.ForgotAddressLimit.Threshold+1 {
		t.Fatalf("%d links sent", n)
	}
}
