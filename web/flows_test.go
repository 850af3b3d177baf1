package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/clientportal/portal/sqlstore/storetest"
)

// TestCodeMessages: a reused TOTP code, a code replaced by a newer one and
// a lock each say what happened; a code that was used does not make the
// next sign-in wait for a new one.
func TestCodeMessages(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		_, secret, _ := e.userWith2FA("t@example.com")
		code := codeAt(t, secret, e.clock.Now())
		if r := e.passwordStep("t@example.com").api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": code}); r.StatusCode != 200 {
			t.Fatalf("first use: %d %s", r.StatusCode, r.Body)
		}
		if r := e.passwordStep("t@example.com").api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": code}); r.StatusCode != 401 || !strings.Contains(r.Body, "already used") {
			t.Fatalf("the same code again: %d %s", r.StatusCode, r.Body)
		}

		// Email codes: used at enrolment, no wait at the next sign-in; an
		// older code after a newer one says so.
		e.userWithEmail2FA("m@example.com")
		p := e.passwordStep("m@example.com")
		if r := p.sendCode(); r.StatusCode != 202 {
			t.Fatalf("a sign-in code right after the enrolment code was used: %d %s", r.StatusCode, r.Body)
		}
		first := e.box.LastCode("m@example.com")
		if r := p.sendCode(); r.StatusCode != 429 || !strings.Contains(r.Body, "seconds") {
			t.Fatalf("a second code while one is outstanding: %d %s", r.StatusCode, r.Body)
		}
		e.clock.Add(61 * time.Second)
		if r := p.sendCode(); r.StatusCode != 202 {
			t.Fatalf("a new code after the pause: %d %s", r.StatusCode, r.Body)
		}
		// (One time in a million the two codes are the same digits.)
		if first != e.box.LastCode("m@example.com") {
			if r := p.api("POST", "/api/v1/login/2fa", map[string]string{"method": "email", "code": first}); r.StatusCode != 401 || !strings.Contains(r.Body, "newer") {
				t.Fatalf("a replaced code: %d %s", r.StatusCode, r.Body)
			}
		}
		if r := p.api("POST", "/api/v1/login/2fa", map[string]string{"method": "email", "code": e.box.LastCode("m@example.com")}); r.StatusCode != 200 {
			t.Fatalf("the newest code: %d %s", r.StatusCode, r.Body)
		}
	})
}

// TestCodesForReauth: a user whose only method is email codes asks for a
// code to confirm it's you, and for one to turn 2FA off.
func TestCodesForReauth(t *testing.T) {
	e := newEnv(t, "sqlite")
	e.userWithEmail2FA("m@example.com")
	p := e.passwordStep("m@example.com")
	p.sendCode()
	if r := p.api("POST", "/api/v1/login/2fa", map[string]string{"method": "email", "code": e.box.LastCode("m@example.com")}); r.StatusCode != 200 {
		t.Fatal(r.Body)
	}
	e.clock.Add(11 * time.Minute)
	if r := p.api("POST", "/api/v1/me/2fa/send", map[string]string{"method": "email"}); r.StatusCode != 202 {
		t.Fatalf("a code to confirm it's you: %d %s", r.StatusCode, r.Body)
	}
	if r := p.api("POST", "/api/v1/reauth", map[string]string{"password": testPassword, "method": "email", "code": e.box.LastCode("m@example.com")}); r.StatusCode != 200 {
		t.Fatalf("reauth with an emailed code: %d %s", r.StatusCode, r.Body)
	}
	e.clock.Add(61 * time.Second)
	p.api("POST", "/api/v1/me/2fa/send", map[string]string{"method": "email"})
	if r := p.api("DELETE", "/api/v1/me/2fa", map[string]string{"password": testPassword, "method": "email", "code": e.box.LastCode("m@example.com")}); r.StatusCode != 204 {
		t.Fatalf("2FA off with an emailed code: %d %s", r.StatusCode, r.Body)
	}
}

// TestRequiredTwoFactorStays: staff (under the default policy) and users
// of an account that requires 2FA cannot turn it off or remove their last
// method; the answer says why.
func TestRequiredTwoFactorStays(t *testing.T) {
	e := newEnv(t, "sqlite")
	admin := e.staff("ops@example.com")
	secret := e.staffSecret["ops@example.com"]
	e.clock.Add(30 * time.Second)
	if r := admin.api("DELETE", "/api/v1/me/2fa", map[string]string{"password": testPassword, "method": "totp", "code": codeAt(t, secret, e.clock.Now())}); r.StatusCode != 409 || !strings.Contains(r.Body, "required for staff") {
		t.Fatalf("staff turning 2FA off: %d %s", r.StatusCode, r.Body)
	}
	id := admin.get("/api/v1/me").json()["twofa"].(map[string]any)["methods"].([]any)[0].(map[string]any)["id"].(string)
	if r := admin.api("DELETE", "/api/v1/me/2fa/methods/"+id, nil); r.StatusCode != 409 || !strings.Contains(r.Body, "required") {
		t.Fatalf("staff removing their only method: %d %s", r.StatusCode, r.Body)
	}
	if page := admin.get("/account/security"); !strings.Contains(page.Body, `id="required-2fa"`) || strings.Contains(page.Body, `id="open-disable"`) {
		t.Fatal("the Security page offers to turn off required 2FA")
	}
}

// TestInvitationResendAndRevoke: an owner sends a pending invitation again
// (a new link; the old one dies) and withdraws it (no link works).
func TestInvitationResendAndRevoke(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		owner := e.customer("owner@example.com")
		if r := owner.api("POST", "/api/v1/account/users", map[string]string{"email": "mia@example.com", "name": "Mia"}); r.StatusCode != 201 {
			t.Fatal(r.Body)
		}
		first := e.box.LastLink("mia@example.com")
		invs := owner.get("/api/v1/account/users").json()["invitations"].([]any)
		id := invs[0].(map[string]any)["id"].(string)
		if r := owner.api("POST", "/api/v1/account/invitations/"+id+"/resend", nil); r.StatusCode != 202 {
			t.Fatalf("resend: %d %s", r.StatusCode, r.Body)
		}
		second := e.box.LastLink("mia@example.com")
		accept := func(link string) *response {
			return e.client().api("POST", "/api/v1/invitations/accept", map[string]string{"token": tokenOf(link), "name": "Mia", "password": testPassword})
		}
		if first == second || accept(first).StatusCode != 404 {
			t.Fatal("the first link still works after a resend")
		}
		id = owner.get("/api/v1/account/users").json()["invitations"].([]any)[0].(map[string]any)["id"].(string)
		other := e.customer("other@example.com")
		if r := other.api("DELETE", "/api/v1/account/invitations/"+id, nil); r.StatusCode != 404 {
			t.Fatalf("another owner withdrew it: %d", r.StatusCode)
		}
		if r := owner.api("DELETE", "/api/v1/account/invitations/"+id, nil); r.StatusCode != 204 {
			t.Fatalf("withdraw: %d %s", r.StatusCode, r.Body)
		}
		if accept(second).StatusCode != 404 {
			t.Fatal("a withdrawn invitation's link works")
		}
		if n := len(owner.get("/api/v1/account/users").json()["invitations"].([]any)); n != 0 {
			t.Fatalf("%d invitations still listed", n)
		}
	})
}
