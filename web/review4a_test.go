package web_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/clientportal/portal"

	"github.com/clientportal/portal/sqlstore/storetest"
)

// resetWith sets a new password with a reset link, without a code.
func (e *env) resetWith(link, pw string) *response {
	e.t.Helper()
	return e.client().api("POST", "/api/v1/password/reset", map[string]string{"token": tokenOf(link), "password": pw})
}

// changeEmail moves a signed-in (recently authenticated) client's account
// to addr through the emailed link.
func (e *env) changeEmail(c *client, addr string) {
	e.t.Helper()
	if r := c.api("POST", "/api/v1/me/email", map[string]string{"email": addr}); r.StatusCode != 202 {
		e.t.Fatalf("email change: %d %s", r.StatusCode, r.Body)
	}
	if r := e.client().api("POST", "/api/v1/verify-email", map[string]string{"token": tokenOf(e.box.LastLink(addr))}); r.StatusCode != 204 {
		e.t.Fatalf("confirm the change: %d %s", r.StatusCode, r.Body)
	}
}

// recoveriesLeave2FA runs the recoveries due a day from now and checks
// that email's sign-in still asks for a code (what says fails otherwise).
func (e *env) recoveriesLeave2FA(email, what string) {
	e.t.Helper()
	e.clock.Add(24 * time.Hour)
	if _, err := e.web.ApplyDueRecoveries(e.t.Context()); err != nil {
		e.t.Fatal(err)
	}
	if r := e.client().api("POST", "/api/v1/login", map[string]string{"email": email, "password": testPassword}); r.json()["status"] != "2fa_required" {
		e.t.Errorf("%s: sign-in now %s", what, r.Body)
	}
}

// TestReview4AStaleSecureLinkTakesAccountBack: the owner signs in on a new
// browser (an alert with "No, secure my account", good for 7 days, goes to
// the address of the day), then leaves that mailbox for a new one and turns
// 2FA on. Whoever still reads the old mailbox follows the week-old link:
// the account moves back to the old mailbox, the owner's new authenticator
// is deleted (2FA off), and nobody at the account's real address is told.
// A forgotten-password link to the old mailbox then takes the account with
// no second factor: the mailbox the owner gave up is a full takeover. The
// link now also needs the account's password.
func TestReview4AStaleSecureLinkTakesAccountBack(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e, alerts := alertsEnv(t, dialect)
		id := e.register("ada@old.example")
		e.login("ada@old.example")
		e.web.Wait()
		e.clock.Add(time.Minute)
		owner := e.login("ada@old.example") // a second browser: an alert to the old mailbox
		e.web.Wait()
		stale := alerts.LastLink("ada@old.example")
		if stale == "" {
			t.Fatal("no alert")
		}
		e.clock.Add(time.Minute)
		e.changeEmail(owner, "ada@new.example")
		e.clock.Add(time.Minute)
		e.enableTOTP(owner)

		// Days later, from the old mailbox, without the owner's password.
		e.clock.Add(3 * 24 * time.Hour)
		e.web.Wait()
		for _, pw := range []string{"", "a guess", testPassword[:len(testPassword)-1]} {
			if r := e.client().form("/secure", url.Values{"token": {tokenOf(stale)}, "password": {pw}}); r.StatusCode != 400 && r.StatusCode != 401 {
				t.Errorf("the old mailbox's link with the password %q: %d, want 400 or 401", pw, r.StatusCode)
			}
		}

		u, err := e.db.UserByID(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if u.Email != "ada@new.example" {
			t.Errorf("a link mailed to the address the account gave up moved the account back to it: now %q", u.Email)
		}
		tf, err := e.db.UserMethods(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		confirmed := 0
		for _, m := range tf {
			if m.Confirmed() {
				confirmed++
			}
		}
		if confirmed == 0 {
			t.Errorf("the owner's own authenticator, set up after the reported sign-in, was deleted: 2FA is off")
		}
		if link := e.forgot("ada@old.example"); link != "" {
			if r := e.resetWith(link, "the intruder's own passphrase"); r.StatusCode == 204 {
				t.Errorf("the old mailbox alone reset the password without a second factor: the account is taken")
			}
		}
	})
}

// TestReview4AResetLinkOutlivesAddress: a password-reset link mailed to
// the account's address keeps working after the account moved to another
// address (the owner left a mailbox they no longer trust), and after the
// owner then changed the password. Whoever reads the old mailbox within the
// hour sets the password; the email-change notice told them the new
// address to sign in with.
func TestReview4AResetLinkOutlivesAddress(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		e.register("bob@old.example")
		owner := e.login("bob@old.example")
		link := e.forgot("bob@old.example") // asked by whoever reads the old mailbox
		if link == "" {
			t.Fatal("no reset link")
		}
		e.clock.Add(time.Minute)
		e.changeEmail(owner, "bob@new.example")
		if r := owner.api("POST", "/api/v1/me/password", map[string]string{"current_password": testPassword, "new_password": "the owner's brand new passphrase"}); r.StatusCode != 204 {
			t.Fatalf("password change: %d %s", r.StatusCode, r.Body)
		}
		e.clock.Add(10 * time.Minute)
		if r := e.resetWith(link, "the old mailbox's passphrase"); r.StatusCode == 204 {
			t.Errorf("a reset link mailed to the address the account left still set the password")
			if r := e.client().api("POST", "/api/v1/login", map[string]string{"email": "bob@new.example", "password": "the old mailbox's passphrase"}); r.StatusCode == 200 {
				t.Errorf("and signs in to the account")
			}
		}
	})
}

// TestReview4AIntruderResetLinkOutlivesSecuring: an intruder (password
// only) moves the account to their mailbox and asks for a password-reset
// link there. The owner follows "No, secure my account": the address comes
// back, every session ends; the owner signs in and changes the password.
// The intruder's reset link, mailed to an address the account no longer
// has, still sets the password.
func TestReview4AIntruderResetLinkOutlivesSecuring(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e, alerts := alertsEnv(t, dialect)
		e.register("ada@example.com")
		e.login("ada@example.com")
		e.web.Wait()
		intruder := e.login("ada@example.com") // a new browser: an alert
		e.changeEmail(intruder, "mallory@evil.example")
		link := e.forgot("mallory@evil.example")
		if link == "" {
			t.Fatal("no reset link for the intruder")
		}
		e.clock.Add(5 * time.Minute)
		e.secureFromAlert(alerts, "ada@example.com")
		owner := e.login("ada@example.com")
		if r := owner.api("POST", "/api/v1/me/password", map[string]string{"current_password": testPassword, "new_password": "the owner's brand new passphrase"}); r.StatusCode != 204 {
			t.Fatalf("password change: %d %s", r.StatusCode, r.Body)
		}
		if r := e.resetWith(link, "mallory's passphrase again"); r.StatusCode == 204 {
			t.Errorf("the intruder's reset link, mailed to their address before the owner secured the account, still set the password")
		}
	})
}

// TestReview4AApprovedRecoveryOutlivesStaffReset: a recovery request is
// approved (the reset waits 24 hours); meanwhile staff reset the user's
// 2FA at once, and the user sets up a new authenticator (with only the
// password, as a user without 2FA does). The old approval is still
// waiting: a day later it deletes the new authenticator, and the account
// is back to the password alone. A reset must close the open requests it
// makes pointless.
func TestReview4AApprovedRecoveryOutlivesStaffReset(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		id, _, _ := e.userWith2FA("lost@example.com")
		admin := e.staff("ops@example.com")
		e.client().api("POST", "/api/v1/recovery", map[string]string{"email": "lost@example.com", "message": "lost my phone"})
		e.web.Wait()
		reqs := admin.get("/api/v1/admin/recovery?status=pending").json()["requests"].([]any)
		if len(reqs) != 1 {
			t.Fatalf("pending: %v", reqs)
		}
		if r := admin.api("POST", "/api/v1/admin/recovery/"+reqs[0].(map[string]any)["id"].(string)+"/approve", nil); r.StatusCode != 200 {
			t.Fatalf("approve: %d %s", r.StatusCode, r.Body)
		}
		e.clock.Add(time.Hour)
		admin = e.staffLogin("ops@example.com")
		if r := admin.api("POST", "/api/v1/admin/users/"+id+"/2fa/reset", map[string]string{"reason": "verified by phone, reset now"}); r.StatusCode != 204 {
			t.Fatalf("staff reset: %d %s", r.StatusCode, r.Body)
		}
		user := e.login("lost@example.com")
		e.enableTOTP(user) // the new phone
		e.recoveriesLeave2FA("lost@example.com", "the authenticator set up after the staff reset was removed by the older approval")
	})
}

// TestReview4ASecuringTellsTheAccount: securing the account from an
// alert's link ends every session, can put back an older address and
// delete methods (turning 2FA off), yet the user was told nothing: not at
// the address the account had, not at the one it has now. SPEC §4: every
// change (method removed, 2FA disabled) is notified by email.
func TestReview4ASecuringTellsTheAccount(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e, alerts := alertsEnv(t, dialect)
		id := e.register("ada@old.example")
		e.login("ada@old.example")
		e.web.Wait()
		e.clock.Add(time.Minute)
		c := e.login("ada@old.example")
		e.web.Wait()
		e.clock.Add(time.Minute)
		e.changeEmail(c, "ada@new.example")
		e.enableTOTP(c)
		e.clock.Add(time.Hour)
		e.secureFromAlert(alerts, "ada@old.example")
		told := map[string]bool{}
		for _, a := range e.mail.Addresses(id, portal.EventAccountSecured) {
			told[a] = true
		}
		for _, a := range []string{"ada@new.example", "ada@old.example"} {
			if !told[a] {
				t.Errorf("%s was not told that the account was secured (address put back, 2FA off): told %v", a, told)
			}
		}
	})
}
