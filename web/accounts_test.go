package web_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/mail/mailtest"
	"github.com/clientportal/portal/sqlstore/storetest"
	"github.com/clientportal/portal/web"
)

// inviteMember has the owner client invite addr and accepts the invitation
// with a fresh client, returning it and the accept response.
func (e *env) inviteMember(owner *client, addr string) (*client, *response) {
	e.t.Helper()
	e.clock.Add(time.Second) // members list oldest first
	if r := owner.api("POST", "/api/v1/account/users", map[string]string{"email": addr, "name": "Member"}); r.StatusCode != 201 {
		e.t.Fatalf("invite: %d %s", r.StatusCode, r.Body)
	}
	u, _ := url.Parse(e.box.LastLink(addr))
	m := e.client()
	r := m.api("POST", "/api/v1/invitations/accept", map[string]string{"token": u.Query().Get("token"), "name": "Mia Member", "password": testPassword})
	if r.StatusCode != 201 {
		e.t.Fatalf("accept: %d %s", r.StatusCode, r.Body)
	}
	return m, r
}

func TestMembersAndFilter(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		e.register("owner@example.com")
		owner := e.login("owner@example.com")
		m1, r := e.inviteMember(owner, "m1@example.com")
		if r.json()["status"] != "authenticated" {
			t.Fatalf("accept: %s", r.Body)
		}
		e.inviteMember(owner, "m2@example.com")
		e.enableTOTP(m1)

		// The link works once.
		e.clock.Add(time.Second)
		if r := owner.api("POST", "/api/v1/account/users", map[string]string{"email": "m3@example.com", "name": "Three"}); r.StatusCode != 201 {
			t.Fatal(r.Body)
		}
		u, _ := url.Parse(e.box.LastLink("m3@example.com"))
		tok := u.Query().Get("token")
		ok := 0
		for i := 0; i < 3; i++ {
			if e.client().api("POST", "/api/v1/invitations/accept", map[string]string{"token": tok, "name": "X", "password": testPassword}).StatusCode == 201 {
				ok++
			}
		}
		if ok != 1 {
			t.Fatalf("invitation used %d times", ok)
		}
		// It expires.
		owner.api("POST", "/api/v1/account/users", map[string]string{"email": "late@example.com", "name": "Late"})
		u, _ = url.Parse(e.box.LastLink("late@example.com"))
		e.clock.Add(8 * 24 * time.Hour)
		if r := e.client().api("POST", "/api/v1/invitations/accept", map[string]string{"token": u.Query().Get("token"), "name": "L", "password": testPassword}); r.StatusCode != 404 {
			t.Fatalf("expired invitation: %d", r.StatusCode)
		}
		owner = e.login("owner@example.com")

		list := func(q string) []string {
			r := owner.get("/api/v1/account/users" + q)
			if r.StatusCode != 200 {
				t.Fatalf("list %s: %d %s", q, r.StatusCode, r.Body)
			}
			var emails []string
			for _, u := range r.json()["users"].([]any) {
				emails = append(emails, u.(map[string]any)["email"].(string))
			}
			return emails
		}
		if got := fmt.Sprint(list("")); got != "[owner@example.com m1@example.com m2@example.com m3@example.com]" {
			t.Fatalf("all: %s", got)
		}
		if got := fmt.Sprint(list("?twofa=activated")); got != "[m1@example.com]" {
			t.Fatalf("activated: %s", got)
		}
		if got := fmt.Sprint(list("?twofa=not_activated")); got != "[owner@example.com m2@example.com m3@example.com]" {
			t.Fatalf("not activated: %s", got)
		}
		if r := owner.get("/api/v1/account/users?twofa=maybe"); r.StatusCode != 400 {
			t.Fatalf("bad filter: %d", r.StatusCode)
		}
		page := owner.get("/account/users?twofa=activated")
		if !strings.Contains(page.Body, "m1@example.com") || strings.Contains(page.Body, "m2@example.com") || !strings.Contains(page.Body, "Activated") {
			t.Fatal("page filter")
		}
		// Only the owner manages users.
		if r := e.login("m2@example.com").get("/api/v1/account/users"); r.StatusCode != 403 {
			t.Fatalf("member lists users: %d", r.StatusCode)
		}
		// Removing a member ends their access.
		members, _ := e.db.Members(t.Context(), mustUser(t, e, "owner@example.com").AccountID)
		var m2ID string
		for _, m := range members {
			if m.User.Email == "m2@example.com" {
				m2ID = m.User.ID
			}
		}
		if r := owner.api("DELETE", "/api/v1/account/users/"+m2ID, nil); r.StatusCode != 204 {
			t.Fatalf("remove: %d %s", r.StatusCode, r.Body)
		}
		if r := e.client().api("POST", "/api/v1/login", map[string]string{"email": "m2@example.com", "password": testPassword}); r.StatusCode != 401 {
			t.Fatalf("removed member signs in: %d", r.StatusCode)
		}
	})
}

func mustUser(t *testing.T, e *env, email string) *portal.User {
	u, err := e.db.UserByEmail(t.Context(), email)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestPolicyForcesSetup: with the owner's requirement on, a new member goes
// straight to setup after the password and reaches nothing else.
func TestPolicyForcesSetup(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		e.register("boss@example.com")
		owner := e.login("boss@example.com")
		if r := owner.api("PUT", "/api/v1/account/policy", map[string]any{"require_2fa": true}); r.StatusCode != 204 {
			t.Fatalf("policy: %d %s", r.StatusCode, r.Body)
		}
		m, r := e.inviteMember(owner, "new@example.com")
		if r.json()["status"] != "2fa_setup_required" {
			t.Fatalf("accept: %s", r.Body)
		}
		for _, rt := range e.web.Routes() {
			if rt.Access != web.User && rt.Access != web.Staff {
				continue
			}
			path := strings.ReplaceAll(strings.ReplaceAll(rt.Path, "{$}", ""), "{id}", "x")
			resp := m.do(rt.Method, path, strings.NewReader("{}"), "application/json", nil)
			switch {
			case resp.StatusCode == 403 && (resp.errCode() == "2fa_setup_required" || !strings.HasPrefix(rt.Path, "/api/")):
			case resp.StatusCode == 303 && resp.Header.Get("Location") == "/account/2fa":
			default:
				t.Errorf("%s %s during forced setup: %d %s", rt.Method, rt.Path, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
		if page := m.get("/account/2fa"); page.StatusCode != 200 || !strings.Contains(page.Body, "required for your account") {
			t.Fatalf("setup page: %d", page.StatusCode)
		}
		// Setting up TOTP completes the login.
		e.enableTOTP(m)
		if r := m.get("/api/v1/me"); r.StatusCode != 200 {
			t.Fatalf("after setup: %d", r.StatusCode)
		}
		// The password step of a user without 2FA now says so.
		e.register("solo@example.com")
		e.db.SaveSettings(t.Context(), &portal.Settings{TwoFactorPolicy: portal.PolicyEveryone, RememberBrowsers: true, RecoveryWait: 24 * time.Hour}, "")
		if r := e.client().api("POST", "/api/v1/login", map[string]string{"email": "solo@example.com", "password": testPassword}); r.json()["status"] != "2fa_setup_required" {
			t.Fatalf("policy everyone: %s", r.Body)
		}
	})
}

// TestRememberedBrowser: a remembered browser skips the second factor (never
// the password) until it is revoked or the password changes.
func TestRememberedBrowser(t *testing.T) {
	e := newEnv(t, "sqlite")
	_, secret, _ := e.userWith2FA("r@example.com")
	c := e.passwordStep("r@example.com")
	if r := c.api("POST", "/api/v1/login/2fa", map[string]any{"method": "totp", "code": codeAt(t, secret, e.clock.Now()), "remember_browser": true}); r.StatusCode != 200 {
		t.Fatal(r.Body)
	}
	signIn := func(pw string) string {
		return fmt.Sprint(c.api("POST", "/api/v1/login", map[string]string{"email": "r@example.com", "password": pw}).json()["status"])
	}
	if s := signIn(testPassword); s != "authenticated" {
		t.Fatalf("remembered browser: %s", s)
	}
	if s := signIn("wrong password"); s == "authenticated" {
		t.Fatal("a remembered browser skipped the password")
	}
	if other := e.passwordStep("r@example.com"); other == nil {
		t.Fatal("another browser skipped 2FA")
	}
	bs := c.get("/api/v1/me/browsers").json()["browsers"].([]any)
	if len(bs) != 1 {
		t.Fatalf("browsers: %v", bs)
	}
	if r := c.api("DELETE", "/api/v1/me/browsers/"+bs[0].(map[string]any)["id"].(string), nil); r.StatusCode != 204 {
		t.Fatalf("revoke: %d", r.StatusCode)
	}
	if s := signIn(testPassword); s != "2fa_required" {
		t.Fatalf("after revocation: %s", s)
	}
	// Remember again, then change the password: forgotten.
	e.clock.Add(30 * time.Second)
	c.api("POST", "/api/v1/login/2fa", map[string]any{"method": "totp", "code": codeAt(t, secret, e.clock.Now()), "remember_browser": true})
	if s := signIn(testPassword); s != "authenticated" {
		t.Fatalf("remembered again: %s", s)
	}
	e.clock.Add(30 * time.Second)
	c.api("POST", "/api/v1/reauth", map[string]string{"password": testPassword, "method": "totp", "code": codeAt(t, secret, e.clock.Now())})
	if r := c.api("POST", "/api/v1/me/password", map[string]string{"current_password": testPassword, "new_password": "a different passphrase"}); r.StatusCode != 204 {
		t.Fatalf("password change: %d %s", r.StatusCode, r.Body)
	}
	if s := signIn("a different passphrase"); s != "2fa_required" {
		t.Fatalf("after a password change: %s", s)
	}
	// Staff can turn the feature off.
	e.db.SaveSettings(t.Context(), &portal.Settings{TwoFactorPolicy: portal.PolicyStaff, RememberBrowsers: false, RecoveryWait: 24 * time.Hour}, "")
	nc := e.client()
	nc.api("POST", "/api/v1/login", map[string]string{"email": "r@example.com", "password": "a different passphrase"})
	if page := nc.get("/login/2fa"); !strings.Contains(page.Body, "Verify") || strings.Contains(page.Body, "Don&#39;t ask again") || strings.Contains(page.Body, "ask again") {
		t.Fatal("remember option offered while turned off")
	}
}

// staff makes an admin with 2FA and returns a full, recently authenticated
// client.
func (e *env) staff(email string) *client {
	e.t.Helper()
	if _, err := e.web.CreateUser(e.t.Context(), email, "Staff", testPassword, portal.RoleAdmin); err != nil {
		e.t.Fatal(err)
	}
	c := e.client()
	r := c.api("POST", "/api/v1/login", map[string]string{"email": email, "password": testPassword})
	if r.json()["status"] != "2fa_setup_required" {
		e.t.Fatalf("staff login: %s", r.Body)
	}
	secret, _ := e.enableTOTP(c)
	if e.staffSecret == nil {
		e.staffSecret = map[string]string{}
	}
	e.staffSecret[email] = secret
	return c
}

// TestRecovery: a request approved by staff takes effect only after the
// waiting period; the user is told at each step; signing in with 2FA
// meanwhile cancels it.
func TestRecovery(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		id, secret, _ := e.userWith2FA("lost@example.com")
		admin := e.staff("ops@example.com")

		anon := e.client()
		a := anon.api("POST", "/api/v1/recovery", map[string]string{"email": "lost@example.com", "message": "call me"})
		b := anon.api("POST", "/api/v1/recovery", map[string]string{"email": "nobody@example.com"})
		if a.StatusCode != 202 || b.StatusCode != 202 || a.Body != b.Body {
			t.Fatalf("answers differ: %d %s / %d %s", a.StatusCode, a.Body, b.StatusCode, b.Body)
		}
		e.web.Wait() // requests are handled after the answer
		reqs := admin.get("/api/v1/admin/recovery?status=pending").json()["requests"].([]any)
		if len(reqs) != 1 {
			t.Fatalf("pending: %v", reqs)
		}
		reqID := reqs[0].(map[string]any)["id"].(string)
		if r := admin.api("POST", "/api/v1/admin/recovery/"+reqID+"/approve", nil); r.StatusCode != 200 {
			t.Fatalf("approve: %d %s", r.StatusCode, r.Body)
		}
		// 23 h 59 min later: nothing has happened yet.
		e.clock.Add(24*time.Hour - time.Minute)
		if n, _ := e.web.ApplyDueRecoveries(t.Context()); n != 0 {
			t.Fatal("reset before the waiting period")
		}
		if r := e.client().api("POST", "/api/v1/login", map[string]string{"email": "lost@example.com", "password": testPassword}); r.json()["status"] != "2fa_required" {
			t.Fatal("2FA gone early")
		}
		e.clock.Add(2 * time.Minute)
		if n, _ := e.web.ApplyDueRecoveries(t.Context()); n != 1 {
			t.Fatal("no reset after the waiting period")
		}
		if r := e.client().api("POST", "/api/v1/login", map[string]string{"email": "lost@example.com", "password": testPassword}); r.json()["status"] != "authenticated" {
			t.Fatalf("after the reset: %s", r.Body)
		}
		kinds := strings.Join(e.mail.Kinds(id), ",")
		for _, k := range []string{portal.EventRecoveryRequested, portal.EventRecoveryApproved, portal.EventAdminReset} {
			if !strings.Contains(kinds, k) {
				t.Errorf("not told of %s (%s)", k, kinds)
			}
		}

		// Second user: signing in with 2FA during the waiting period cancels.
		id2, secret2, _ := e.userWith2FA("safe@example.com")
		_ = secret
		anon.api("POST", "/api/v1/recovery", map[string]string{"email": "safe@example.com"})
		e.web.Wait()
		admin = e.staffLogin("ops@example.com")
		reqs = admin.get("/api/v1/admin/recovery?status=pending").json()["requests"].([]any)
		admin.api("POST", "/api/v1/admin/recovery/"+reqs[0].(map[string]any)["id"].(string)+"/approve", nil)
		e.clock.Add(time.Hour)
		p := e.passwordStep("safe@example.com")
		if r := p.api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": codeAt(t, secret2, e.clock.Now())}); r.StatusCode != 200 {
			t.Fatal(r.Body)
		}
		e.clock.Add(24 * time.Hour)
		if n, _ := e.web.ApplyDueRecoveries(t.Context()); n != 0 {
			t.Fatal("a cancelled reset happened")
		}
		if !strings.Contains(strings.Join(e.mail.Kinds(id2), ","), portal.EventRecoveryCancelled) {
			t.Fatal("not told of the cancellation")
		}
		// Deny needs a note; members cannot decide.
		anon.api("POST", "/api/v1/recovery", map[string]string{"email": "safe@example.com"})
		e.web.Wait()
		admin = e.staffLogin("ops@example.com")
		reqs = admin.get("/api/v1/admin/recovery?status=pending").json()["requests"].([]any)
		rid := reqs[0].(map[string]any)["id"].(string)
		e.register("cust@example.com")
		if r := e.login("cust@example.com").api("POST", "/api/v1/admin/recovery/"+rid+"/deny", map[string]string{"note": "x"}); r.StatusCode != 403 {
			t.Fatalf("a customer decided: %d", r.StatusCode)
		}
		if r := admin.api("POST", "/api/v1/admin/recovery/"+rid+"/deny", nil); r.StatusCode != 400 {
			t.Fatalf("deny without a note: %d", r.StatusCode)
		}
		if r := admin.api("POST", "/api/v1/admin/recovery/"+rid+"/deny", map[string]string{"note": "We could not verify you."}); r.StatusCode != 200 {
			t.Fatalf("deny: %d %s", r.StatusCode, r.Body)
		}
		if !strings.Contains(strings.Join(e.mail.Kinds(id2), ","), portal.EventRecoveryDenied) {
			t.Fatal("not told of the denial")
		}
	})
}

// staffLogin signs the staff user in again with their stored TOTP secret.
func (e *env) staffLogin(email string) *client {
	e.t.Helper()
	c := e.passwordStep(email)
	e.clock.Add(30 * time.Second)
	if r := c.api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": codeAt(e.t, e.staffSecret[email], e.clock.Now())}); r.StatusCode != 200 {
		e.t.Fatalf("staff 2FA: %s", r.Body)
	}
	return c
}

// TestInvitationEmail: an invitation's subject is fixed and carries nothing
// the owner typed (a hostile account name cannot write the subject line a
// mail client shows), the name stays escaped in the body, and every link
// email states the link's real lifetime: 7 days for an invitation, 24 hours
// for an address link.
func TestInvitationEmail(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		rm := &realMail{srv: mailtest.NewServer(t)}
		e := newEnv(t, dialect, withRealMail(rm))
		const hostile = `Your bank: act now <a href="http://evil.example/">verify</a>`
		if r := e.client().api("POST", "/api/v1/register", map[string]string{"email": "owner@example.com", "password": testPassword, "name": hostile}); r.StatusCode != 201 {
			t.Fatalf("register: %d %s", r.StatusCode, r.Body)
		}
		owner := e.login("owner@example.com")
		if r := owner.api("POST", "/api/v1/account/users", map[string]string{"email": "inv@example.com", "name": "Inv"}); r.StatusCode != 201 {
			t.Fatalf("invite: %d %s", r.StatusCode, r.Body)
		}
		rm.deliver(t)
		mails := map[string]mailtest.Received{}
		for _, m := range rm.srv.Messages() {
			mails[m.To[0]] = m
		}
		inv, verify := mails["inv@example.com"], mails["owner@example.com"]
		if inv.Subject != "You're invited to Client Portal" {
			t.Errorf("invitation subject %q, want the fixed one", inv.Subject)
		}
		for _, part := range []string{"bank", "act now", "evil", "verify"} {
			if strings.Contains(strings.ToLower(inv.Subject), part) {
				t.Errorf("invitation subject %q carries the owner's %q", inv.Subject, part)
			}
		}
		if strings.Contains(inv.HTML, `<a href="http://evil.example/">`) {
			t.Error("the owner's name reached the HTML body unescaped")
		}
		if !strings.Contains(inv.Text, "expires in 7 days") || !strings.Contains(inv.HTML, "expires in 7 days") {
			t.Errorf("the invitation does not say it lasts 7 days:\n%s", inv.Text)
		}
		if !strings.Contains(verify.Text, "expires in 24 hours") || !strings.Contains(verify.HTML, "expires in 24 hours") {
			t.Errorf("the verification email does not say it lasts 24 hours:\n%s", verify.Text)
		}
		// What the email says is what the link does.
		invite := "/invite?token=" + url.QueryEscape(tokenOf(rm.link(t, "inv@example.com")))
		e.clock.Add(web.InvitationTTL - time.Minute)
		if r := e.client().get(invite); r.StatusCode != 200 {
			t.Fatalf("invitation a minute before 7 days: %d", r.StatusCode)
		}
		e.clock.Add(2 * time.Minute)
		if r := e.client().get(invite); r.StatusCode != 404 {
			t.Fatalf("invitation after 7 days: %d", r.StatusCode)
		}
	})
}
