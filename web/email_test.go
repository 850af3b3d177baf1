package web_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/sqlstore/storetest"
)

// verifyEmail follows the verification link sent to addr.
func (e *env) verifyEmail(addr string) {
	e.t.Helper()
	link := e.box.LastLink(addr)
	u, err := url.Parse(link)
	if err != nil || link == "" {
		e.t.Fatalf("no link for %s", addr)
	}
	if r := e.client().api("POST", "/api/v1/verify-email", map[string]string{"token": u.Query().Get("token")}); r.StatusCode != 204 {
		e.t.Fatalf("verify %s: %d %s", addr, r.StatusCode, r.Body)
	}
}

// userWithEmail2FA registers a user with email as their only method.
func (e *env) userWithEmail2FA(addr string) string {
	e.t.Helper()
	id := e.register(addr)
	e.verifyEmail(addr)
	c := e.login(addr)
	if r := c.api("POST", "/api/v1/me/2fa/email", nil); r.StatusCode != 202 {
		e.t.Fatalf("begin email: %d %s", r.StatusCode, r.Body)
	}
	if r := c.api("POST", "/api/v1/me/2fa/email/confirm", map[string]string{"code": e.box.LastCode(addr)}); r.StatusCode != 200 || len(r.json()["backup_codes"].([]any)) != 10 {
		e.t.Fatalf("confirm email: %d %s", r.StatusCode, r.Body)
	}
	e.clock.Add(61 * time.Second)
	return id
}

func (c *client) sendCode() *response {
	return c.api("POST", "/api/v1/login/2fa/send", map[string]string{"method": "email"})
}

func (c *client) emailCode(code string) *response {
	return c.api("POST", "/api/v1/login/2fa", map[string]string{"method": "email", "code": code})
}

func TestEmailCodeLogin(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		e.userWithEmail2FA("eve@example.com")
		p := e.client()
		r := p.api("POST", "/api/v1/login", map[string]string{"email": "eve@example.com", "password": testPassword})
		if r.json()["preferred"] != "email" {
			t.Fatalf("password step: %s", r.Body)
		}
		r = p.sendCode()
		m := r.json()
		if r.StatusCode != 202 || m["destination"] != "e***@example.com" || m["expires_in"] != float64(600) || m["resend_after"] != float64(60) || m["method"] != "email" {
			t.Fatalf("send: %d %s", r.StatusCode, r.Body)
		}
		if strings.Contains(r.Body, e.box.LastCode("eve@example.com")) {
			t.Fatal("the code is in the response")
		}
		if r := p.emailCode(e.box.LastCode("eve@example.com")); r.StatusCode != 200 {
			t.Fatalf("verify: %d %s", r.StatusCode, r.Body)
		}
	})
}

// TestEmailCodeRules: SPEC §6 with a frozen clock.
func TestEmailCodeRules(t *testing.T) {
	const addr = "rules@example.com"
	t.Run("expiry", func(t *testing.T) {
		e := newEnv(t, "sqlite")
		e.userWithEmail2FA(addr)
		p := e.passwordStep(addr)
		p.sendCode()
		e.clock.Add(9*time.Minute + 59*time.Second)
		if r := p.emailCode(e.box.LastCode(addr)); r.StatusCode != 200 {
			t.Fatalf("at 9:59: %d %s", r.StatusCode, r.Body)
		}
		e.clock.Add(61 * time.Second)
		p = e.passwordStep(addr)
		p.sendCode()
		e.clock.Add(10*time.Minute + time.Second)
		if r := p.emailCode(e.box.LastCode(addr)); r.StatusCode != 401 {
			t.Fatalf("at 10:01: %d %s", r.StatusCode, r.Body)
		}
	})
	t.Run("single use", func(t *testing.T) {
		e := newEnv(t, "sqlite")
		e.userWithEmail2FA(addr)
		p := e.passwordStep(addr)
		p.sendCode()
		code := e.box.LastCode(addr)
		if r := p.emailCode(code); r.StatusCode != 200 {
			t.Fatal(r.Body)
		}
		// The same code in the same login attempt cannot be used again: the
		// attempt is over, so try it where it was bound.
		q := e.passwordStep(addr)
		if r := q.emailCode(code); r.StatusCode != 401 {
			t.Fatalf("reuse: %d", r.StatusCode)
		}
	})
	t.Run("sixth guess", func(t *testing.T) {
		e := newEnv(t, "sqlite")
		e.userWithEmail2FA(addr)
		p := e.passwordStep(addr)
		p.sendCode()
		code := e.box.LastCode(addr)
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		for i := 0; i < 5; i++ {
			if r := p.emailCode(wrong); r.StatusCode != 401 {
				t.Fatalf("guess %d: %d", i+1, r.StatusCode)
			}
		}
		e.clock.Add(31 * time.Second) // past the account's 30 s delay
		if r := p.emailCode(code); r.StatusCode != 401 || !strings.Contains(r.Body, "no longer works") {
			t.Fatalf("right code after 5 wrong guesses: %d %s", r.StatusCode, r.Body)
		}
	})
	t.Run("resend delay", func(t *testing.T) {
		e := newEnv(t, "sqlite")
		e.userWithEmail2FA(addr)
		p := e.passwordStep(addr)
		if r := p.sendCode(); r.StatusCode != 202 {
			t.Fatal(r.Body)
		}
		e.clock.Add(59 * time.Second)
		r := p.sendCode()
		if r.StatusCode != 429 || r.Header.Get("Retry-After") != "1" {
			t.Fatalf("resend at 59 s: %d Retry-After=%q %s", r.StatusCode, r.Header.Get("Retry-After"), r.Body)
		}
		e.clock.Add(time.Second)
		first := e.box.LastCode(addr)
		if r := p.sendCode(); r.StatusCode != 202 {
			t.Fatalf("resend at 60 s: %d", r.StatusCode)
		}
		// The new code killed the old one.
		if first != e.box.LastCode(addr) {
			if r := p.emailCode(first); r.StatusCode != 401 {
				t.Fatalf("old code after a resend: %d", r.StatusCode)
			}
		}
	})
	t.Run("hourly limit", func(t *testing.T) {
		e := newEnv(t, "sqlite")
		e.userWithEmail2FA(addr)
		e.clock.Add(time.Hour) // the enrolment code is out of the window
		p := e.passwordStep(addr)
		for i := 0; i < 10; i++ {
			if r := p.sendCode(); r.StatusCode != 202 {
				t.Fatalf("code %d: %d %s", i+1, r.StatusCode, r.Body)
			}
			e.clock.Add(61 * time.Second)
		}
		r := p.sendCode()
		if r.StatusCode != 429 || r.Header.Get("Retry-After") == "" {
			t.Fatalf("11th code in an hour: %d %s", r.StatusCode, r.Body)
		}
	})
	t.Run("bound to the attempt", func(t *testing.T) {
		e := newEnv(t, "sqlite")
		e.userWithEmail2FA(addr)
		a := e.passwordStep(addr)
		b := e.passwordStep(addr)
		a.sendCode()
		if r := b.emailCode(e.box.LastCode(addr)); r.StatusCode != 401 {
			t.Fatalf("code of attempt A completed attempt B: %d", r.StatusCode)
		}
		if r := a.emailCode(e.box.LastCode(addr)); r.StatusCode != 200 {
			t.Fatalf("attempt A: %d %s", r.StatusCode, r.Body)
		}
	})
}

// TestEmailDown: when the mail server fails, nothing claims a code was
// sent, other methods are offered, and the user may try again at once.
func TestEmailDown(t *testing.T) {
	e := newEnv(t, "sqlite")
	e.userWithEmail2FA("down@example.com")
	p := e.passwordStep("down@example.com")
	e.box.Down = true
	r := p.sendCode()
	if r.StatusCode != 503 || !strings.Contains(r.Body, "could not send the email") || strings.Contains(r.Body, "sent") && !strings.Contains(r.Body, "could not send") {
		t.Fatalf("send with mail down: %d %s", r.StatusCode, r.Body)
	}
	if !strings.Contains(e.logText(), "connection refused") {
		t.Fatal("the operator's log lacks the cause")
	}
	page := p.form("/login/2fa/send", url.Values{"method": {"email"}})
	if page.StatusCode != 503 || strings.Contains(page.Body, "We sent a code") || !strings.Contains(page.Body, "Use a backup code") {
		t.Fatalf("page with mail down: %d", page.StatusCode)
	}
	e.box.Down = false
	if r := p.sendCode(); r.StatusCode != 202 {
		t.Fatalf("after the server is back: %d %s", r.StatusCode, r.Body)
	}
}

func TestEmailEnrolNeedsVerifiedAddress(t *testing.T) {
	e := newEnv(t, "sqlite")
	e.register("nv@example.com")
	c := e.login("nv@example.com")
	if r := c.api("POST", "/api/v1/me/2fa/email", nil); r.StatusCode != 409 || !strings.Contains(r.Body, "Verify your email") {
		t.Fatalf("unverified: %d %s", r.StatusCode, r.Body)
	}
	e.verifyEmail("nv@example.com")
	if r := c.api("POST", "/api/v1/me/2fa/email", nil); r.StatusCode != 202 {
		t.Fatalf("verified: %d %s", r.StatusCode, r.Body)
	}
	if r := c.api("POST", "/api/v1/me/2fa/email/confirm", map[string]string{"code": "12345"}); r.StatusCode != 400 {
		t.Fatalf("malformed enrolment code: %d", r.StatusCode)
	}
}

func TestChangeEmail(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		id := e.register("old@example.com")
		e.register("taken@example.com")
		c := e.login("old@example.com")
		if r := c.api("POST", "/api/v1/me/email", map[string]string{"email": "Taken@example.com"}); r.StatusCode != 409 {
			t.Fatalf("taken address: %d", r.StatusCode)
		}
		e.clock.Add(11 * time.Minute)
		if r := c.api("POST", "/api/v1/me/email", map[string]string{"email": "new@example.com"}); r.StatusCode != 403 {
			t.Fatalf("without recent auth: %d", r.StatusCode)
		}
		c.api("POST", "/api/v1/reauth", map[string]string{"password": testPassword})
		if r := c.api("POST", "/api/v1/me/email", map[string]string{"email": "new@example.com"}); r.StatusCode != 202 {
			t.Fatalf("change: %d %s", r.StatusCode, r.Body)
		}
		e.verifyEmail("new@example.com")
		me := c.get("/api/v1/me").json()
		if me["email"] != "new@example.com" {
			t.Fatalf("email after change: %v", me["email"])
		}
		kinds := e.mail.Kinds(id)
		n := 0
		for _, k := range kinds {
			if k == portal.EventEmailChanged {
				n++
			}
		}
		if n != 2 {
			t.Fatalf("want the old and the new address told, got %v", kinds)
		}
		if r := e.client().api("POST", "/api/v1/login", map[string]string{"email": "new@example.com", "password": testPassword}); r.StatusCode != 200 {
			t.Fatalf("login with the new address: %d", r.StatusCode)
		}
	})
}
