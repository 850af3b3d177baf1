package main_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/clientportal/portal/mail/mailtest"
	"github.com/clientportal/portal/portaltest"
	"github.com/clientportal/portal/sqlstore/storetest"
)

// The flows a customer walks through the real pages, with no dead end
// (forgotten password, codes where they are asked for, navigation,
// destructive actions asking first, the first administrator).

var resetRE = regexp.MustCompile(`https?://\S+/password/reset\?token=\S+`)

const flowPassword = "a long enough pass"

// flowPortal runs a portal on dialect with its mail going to an SMTP server.
func flowPortal(t *testing.T, dialect string, clock *portaltest.Clock) (*portal, *mailtest.Server) {
	t.Helper()
	srv := mailtest.NewServer(t)
	env := map[string]string{"PORTAL_SMTP_URL": srv.URL()}
	if dialect == "postgres" {
		env["PORTAL_DATABASE_URL"], env["PORTAL_SECRET_KEYS"] = storetest.DSN(t, dialect), testKeys
	}
	return runPortalClock(t, clock, env), srv
}

// newestMail waits for a message to addr whose text matches re (one that
// arrives after the first skip messages to addr) and returns the match.
func newestMail(t *testing.T, srv *mailtest.Server, addr string, re *regexp.Regexp, skip int) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		var mine []mailtest.Received
		for _, m := range srv.Messages() {
			if len(m.To) == 1 && strings.EqualFold(m.To[0], addr) {
				mine = append(mine, m)
			}
		}
		for i := len(mine) - 1; i >= skip; i-- {
			if s := re.FindString(mine[i].Text); s != "" {
				return s
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no message to %s matching %s", addr, re)
	return ""
}

// mailCount is how many messages went to addr so far.
func mailCount(srv *mailtest.Server, addr string) int {
	n := 0
	for _, m := range srv.Messages() {
		if len(m.To) == 1 && strings.EqualFold(m.To[0], addr) {
			n++
		}
	}
	return n
}

// emailCodeUser registers addr through the API, verifies the address and
// turns on email codes, and returns how many messages it received.
func emailCodeUser(t *testing.T, p *portal, srv *mailtest.Server, clock *portaltest.Clock, addr string) {
	t.Helper()
	c := newAPIClient(t, p.URL)
	if st, m := c.call("POST", "/api/v1/register", fmt.Sprintf(`{"email":%q,"password":%q,"name":"Mail User"}`, addr, flowPassword)); st != 201 {
		t.Fatalf("register: %d %v", st, m)
	}
	token := strings.TrimPrefix(newestMail(t, srv, addr, linkRE, 0), p.URL+"/verify-email?token=")
	if st, _ := c.call("POST", "/api/v1/verify-email", `{"token":"`+token+`"}`); st != 204 {
		t.Fatalf("verify: %d", st)
	}
	c.call("POST", "/api/v1/login", fmt.Sprintf(`{"email":%q,"password":%q}`, addr, flowPassword))
	before := mailCount(srv, addr)
	if st, m := c.call("POST", "/api/v1/me/2fa/email", ""); st != 202 {
		t.Fatalf("email begin: %d %v", st, m)
	}
	code := newestMail(t, srv, addr, codeRE, before)
	if st, m := c.call("POST", "/api/v1/me/2fa/email/confirm", `{"code":"`+code+`"}`); st != 200 {
		t.Fatalf("email confirm: %d %v", st, m)
	}
	clock.Add(61 * time.Second)
}

// TestBrowserForgotPassword: forgot password → emailed link → new password
// and a code → signed in, for an authenticator-app user and for an
// email-code user (who gets a code sent from the reset page); the page
// points someone without any method to recovery.
func TestBrowserForgotPassword(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := portaltest.Browser(t)
		clock := portaltest.NewClock(time.Now().Truncate(30 * time.Second))
		p, srv := flowPortal(t, dialect, clock)
		app := enable2FA(t, p, clock, "ada@example.com")
		clock.Add(30 * time.Second)

		// Sign-in page → "Forgot your password?" → the form.
		do(t, ctx, chromedp.Navigate(p.URL+"/login"), chromedp.WaitVisible(chromedp.CSS(`a[href="/password/forgot"]`)),
			click(`a[href="/password/forgot"]`), chromedp.WaitVisible(chromedp.CSS("#email")),
			fill(map[string]string{"#email": "ada@example.com"}), click("main button[type=submit]"), waitText(".flash", "1 hour"))
		link := newestMail(t, srv, "ada@example.com", resetRE, 0)
		do(t, ctx, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("#password")))
		screenshot(t, ctx, "password-reset")
		// The code is asked for; without it nothing changes.
		do(t, ctx, fill(map[string]string{"#password": "a brand new passphrase", "#password_confirm": "a brand new passphrase"}),
			click(`form[action="/password/reset"] button`), waitText(".alert", "code"))
		do(t, ctx, fill(map[string]string{"#password": "a brand new passphrase", "#password_confirm": "a brand new passphrase", "#code": app.code(clock.Now())}),
			click(`form[action="/password/reset"] button`), waitText(".flash", "Sign in with the new password"))
		// The link works once.
		do(t, ctx, chromedp.Navigate(link), waitText(".alert", "no longer works"))
		clock.Add(30 * time.Second)
		do(t, ctx, chromedp.Navigate(p.URL+"/login"), chromedp.WaitVisible(chromedp.CSS("#email")),
			fill(map[string]string{"#email": "ada@example.com", "#password": "a brand new passphrase"}),
			click("main button[type=submit]"), chromedp.WaitVisible(chromedp.CSS("#code")),
			fill(map[string]string{"#code": app.code(clock.Now())}), click(`form[action="/login/2fa"] button`), waitText("h1", "Welcome"))

		// An email-code user: the reset page sends a code.
		emailCodeUser(t, p, srv, clock, "grace@example.com")
		do(t, ctx, signOutClick(), chromedp.WaitVisible(chromedp.CSS("#email")))
		before := mailCount(srv, "grace@example.com")
		do(t, ctx, chromedp.Navigate(p.URL+"/password/forgot"), chromedp.WaitVisible(chromedp.CSS("#email")),
			fill(map[string]string{"#email": "grace@example.com"}), click("main button[type=submit]"), waitText(".flash", "1 hour"))
		link = newestMail(t, srv, "grace@example.com", resetRE, before)
		before = mailCount(srv, "grace@example.com")
		do(t, ctx, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(`form[action="/password/reset/send"] button`)),
			click(`form[action="/password/reset/send"] button`), waitText(".flash", "g***@example.com"))
		code := newestMail(t, srv, "grace@example.com", codeRE, before)
		do(t, ctx, fill(map[string]string{"#password": "grace's new passphrase", "#password_confirm": "grace's new passphrase", "#code": code}),
			click(`form[action="/password/reset"] button`), waitText(".flash", "Sign in with the new password"))

		// Someone with no method left is pointed to recovery.
		before = mailCount(srv, "ada@example.com")
		do(t, ctx, chromedp.Navigate(p.URL+"/password/forgot"), chromedp.WaitVisible(chromedp.CSS("#email")),
			fill(map[string]string{"#email": "ada@example.com"}), click("main button[type=submit]"), waitText(".flash", "1 hour"))
		link = newestMail(t, srv, "ada@example.com", resetRE, before)
		do(t, ctx, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(`a[href="/recover"]`)),
			click(`a[href="/recover"]`), waitText("h1", "Can't use your two-factor methods?"))
	})
}

// TestBrowserCodesWhereAsked: an email-code user confirms a sensitive
// change and turns 2FA off with emailed codes, each sent from the page
// that asks for it.
func TestBrowserCodesWhereAsked(t *testing.T) {
	ctx := portaltest.Browser(t)
	clock := portaltest.NewClock(time.Now().Truncate(30 * time.Second))
	p, srv := flowPortal(t, "sqlite", clock)
	emailCodeUser(t, p, srv, clock, "grace@example.com")
	signIn(t, ctx, p.URL, "grace@example.com", flowPassword)
	before := mailCount(srv, "grace@example.com")
	do(t, ctx, click(`form[action="/login/2fa/send"] button`), waitText(".flash", "g***@example.com"))
	do(t, ctx, fill(map[string]string{"#code": newestMail(t, srv, "grace@example.com", codeRE, before)}),
		click(`form[action="/login/2fa"] button`), waitText("h1", "Welcome"))

	// Eleven minutes later new backup codes ask to confirm it's you.
	clock.Add(11 * time.Minute)
	do(t, ctx, chromedp.Navigate(p.URL+"/account/security"), chromedp.WaitVisible(chromedp.CSS(`form[action="/account/2fa/backup_codes"] button`)),
		click(`form[action="/account/2fa/backup_codes"] button`), waitText("h1", "Confirm it's you"))
	// A wrong code first: the method stays chosen, the error says so.
	do(t, ctx, fill(map[string]string{"#password": flowPassword, "#code": "000000"}), click(`form[action="/account/reauth"] button`), chromedp.WaitVisible(chromedp.CSS(".alert")))
	if l := text(t, ctx, `label[for="code"]`); !strings.Contains(l, "Email") {
		t.Fatalf("after an error the method is %q", l)
	}
	before = mailCount(srv, "grace@example.com")
	do(t, ctx, click(`form[action="/account/reauth/send"] button`), waitText(".flash", "g***@example.com"))
	do(t, ctx, fill(map[string]string{"#password": flowPassword, "#code": newestMail(t, srv, "grace@example.com", codeRE, before)}),
		click(`form[action="/account/reauth"] button`), waitText(".flash", "make security changes"))
	do(t, ctx, click(`form[action="/account/2fa/backup_codes"] button`), chromedp.WaitVisible(chromedp.CSS("#backup-codes")))

	// Turn 2FA off with an emailed code: the form opens from its button.
	clock.Add(61 * time.Second)
	do(t, ctx, chromedp.Navigate(p.URL+"/account/security"), chromedp.WaitVisible(chromedp.CSS("#open-disable")))
	if n := count(t, ctx, "#disable_password"); n != 0 {
		t.Fatal("the turn-off form shows before its button is pressed")
	}
	before = mailCount(srv, "grace@example.com")
	do(t, ctx, click("#open-disable"), chromedp.WaitVisible(chromedp.CSS(`form[action="/account/2fa/disable/send"] button`)),
		click(`form[action="/account/2fa/disable/send"] button`), waitText(".flash", "g***@example.com"))
	do(t, ctx, fill(map[string]string{"#disable_password": flowPassword, "#disable_code": newestMail(t, srv, "grace@example.com", codeRE, before)}),
		click(`form[action="/account/2fa/disable"] button`), waitText("#twofa-h + p", "Not activated"))
}

// count is how many elements match sel.
func count(t *testing.T, ctx context.Context, sel string) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestBrowserNavigation: Back after signing in shows no resubmission
// prompt; a form sent after the session expired leads to sign-in and back
// to its page; a signed-in user is sent on from /login; the account menu
// marks the page.
func TestBrowserNavigation(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := portaltest.Browser(t)
		clock := portaltest.NewClock(time.Now().Truncate(30 * time.Second))
		p, _ := flowPortal(t, dialect, clock)
		c := newAPIClient(t, p.URL)
		c.call("POST", "/api/v1/register", fmt.Sprintf(`{"email":"nav@example.com","password":%q,"name":"Navi"}`, flowPassword))
		do(t, ctx, chromedp.Navigate(p.URL+"/login"), chromedp.WaitVisible(chromedp.CSS("#email")),
			fill(map[string]string{"#email": "nav@example.com", "#password": flowPassword}), click("main button[type=submit]"), waitText("h1", "Welcome"))
		do(t, ctx, chromedp.NavigateBack(), chromedp.WaitReady(chromedp.CSS("body")))
		if loc := location(t, ctx); strings.HasPrefix(loc, "chrome-error:") || !strings.HasPrefix(loc, p.URL) {
			t.Fatalf("Back after signing in: %s", loc)
		}
		if h := text(t, ctx, "h1"); !strings.Contains(h, "Welcome") {
			t.Fatalf("Back after signing in shows %q, want the dashboard (signed in, /login sends on)", h)
		}
		// The account menu opens from the name and marks the page.
		do(t, ctx, chromedp.Navigate(p.URL+"/account/security"), chromedp.WaitVisible(chromedp.CSS("#account-menu")),
			click("#account-menu"), chromedp.WaitVisible(chromedp.CSS(`.account-menu a[href="/account/security"]`)))
		if cur := text(t, ctx, `.account-menu a[aria-current="page"]`); cur != "Security settings" {
			t.Fatalf("current page in the menu: %q", cur)
		}
		// The session expires while the page is open; the form leads back.
		clock.Add(61 * time.Minute)
		do(t, ctx, fill(map[string]string{"#new_email": "new@example.com"}), click(`form[action="/account/email"] button`),
			chromedp.WaitVisible(chromedp.CSS("#email")), waitText(".flash", "sign in"))
		do(t, ctx, fill(map[string]string{"#email": "nav@example.com", "#password": flowPassword}), click("main button[type=submit]"),
			waitText("h1", "Security settings"))
		if loc := location(t, ctx); !strings.HasSuffix(loc, "/account/security") {
			t.Fatalf("after signing in again: %s", loc)
		}
	})
}

// location is the page's address.
func location(t *testing.T, ctx context.Context) string {
	t.Helper()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestBrowserDestructiveActionsAskFirst: removing a method, forgetting a
// browser, removing a user, withdrawing an invitation and deciding a
// recovery request each ask first; Cancel changes nothing.
func TestBrowserDestructiveActionsAskFirst(t *testing.T) {
	ctx := portaltest.Browser(t)
	clock := portaltest.NewClock(time.Now().Truncate(30 * time.Second))
	p, srv := flowPortal(t, "sqlite", clock)
	emailCodeUser(t, p, srv, clock, "owner@example.com")
	// Sign in with a code, remembering the browser, then add TOTP too.
	signIn(t, ctx, p.URL, "owner@example.com", flowPassword)
	before := mailCount(srv, "owner@example.com")
	do(t, ctx, click(`form[action="/login/2fa/send"] button`), waitText(".flash", "o***@example.com"))
	answer2FA(t, ctx, newestMail(t, srv, "owner@example.com", codeRE, before), true)
	do(t, ctx, chromedp.Navigate(p.URL+"/account/2fa"), chromedp.WaitVisible(chromedp.CSS(`form[action="/account/2fa/totp"] button`)),
		click(`form[action="/account/2fa/totp"] button`), chromedp.WaitVisible(chromedp.CSS("img.qr")))
	app := scanQRFor(t, ctx, "owner@example.com")
	do(t, ctx, fill(map[string]string{"#code": app.code(clock.Now())}), click(`form[action="/account/2fa/totp/confirm"] button`),
		chromedp.WaitVisible(chromedp.CSS(".methods")))

	asks := func(link, question string) {
		t.Helper()
		do(t, ctx, click(link), chromedp.WaitVisible(chromedp.CSS("#confirm")), waitText("#confirm-h", question))
		// With script the question is a modal dialog over the same page.
		if modal, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("#confirm").matches("dialog[open]:modal")`)); err != nil || !modal {
			t.Fatalf("%s: the question is not a modal dialog (%v)", link, err)
		}
	}
	methods := len(texts(t, ctx, ".methods tbody tr"))
	asks(".remove-method", "Remove")
	do(t, ctx, click(`#confirm a`), chromedp.WaitNotPresent(chromedp.CSS("#confirm")), chromedp.WaitVisible(chromedp.CSS(".methods")))
	if n := len(texts(t, ctx, ".methods tbody tr")); n != methods || count(t, ctx, "#confirm") != 0 {
		t.Fatalf("Cancel removed a method: %d → %d", methods, n)
	}
	asks(".remove-method", "Remove")
	do(t, ctx, click("#confirm-yes"), waitText(".flash", "removed"))
	if n := len(texts(t, ctx, ".methods tbody tr")); n != methods-1 {
		t.Fatalf("methods after removing one: %d", n)
	}
	asks(".forget-browser", "Forget")
	do(t, ctx, click("#confirm-yes"), waitText(".flash", "ask for your second factor"))

	// A user and an invitation.
	do(t, ctx, chromedp.Navigate(p.URL+"/account/users"), chromedp.WaitVisible(chromedp.CSS("#inv-email")),
		fill(map[string]string{"#inv-name": "Mia", "#inv-email": "mia@example.com"}), click(`form[action="/account/users/invite"] button`),
		chromedp.WaitVisible(chromedp.CSS(".revoke-invitation")))
	asks(".revoke-invitation", "Withdraw the invitation of mia@example.com")
	do(t, ctx, click("#confirm-yes"), waitText(".flash", "withdrawn"))
	if count(t, ctx, ".revoke-invitation") != 0 {
		t.Fatal("the invitation is still listed")
	}
	// A member who accepted, removed.
	before = mailCount(srv, "max@example.com")
	do(t, ctx, fill(map[string]string{"#inv-name": "Max", "#inv-email": "max@example.com"}), click(`form[action="/account/users/invite"] button`),
		chromedp.WaitVisible(chromedp.CSS(".revoke-invitation")))
	token := strings.TrimPrefix(newestMail(t, srv, "max@example.com", inviteRE, before), p.URL+"/invite?token=")
	if st, m := newAPIClient(t, p.URL).call("POST", "/api/v1/invitations/accept", fmt.Sprintf(`{"token":%q,"name":"Max","password":%q}`, token, flowPassword)); st != 201 {
		t.Fatalf("accept: %d %v", st, m)
	}
	do(t, ctx, chromedp.Navigate(p.URL+"/account/users"), chromedp.WaitVisible(chromedp.CSS(".remove-user")))
	asks(".remove-user", "Remove Max (max@example.com)?")
	do(t, ctx, click("#confirm-yes"), waitText(".flash", "removed"))
	if count(t, ctx, ".remove-user") != 0 {
		t.Fatal("the member is still listed")
	}
}

// TestBrowserFirstAdministrator: the administrator created through the
// set-up link is in a set-up session until 2FA is on, as the staff policy
// requires.
func TestBrowserFirstAdministrator(t *testing.T) {
	ctx := portaltest.Browser(t)
	clock := portaltest.NewClock(time.Now().Truncate(30 * time.Second))
	p, _ := flowPortal(t, "sqlite", clock)
	link := regexp.MustCompile(`https?://\S+/setup\?token=\S+`).FindString(p.Stdout.String())
	if link == "" {
		t.Fatalf("no set-up link printed: %s", p.Stdout.String())
	}
	do(t, ctx, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("#email")),
		fill(map[string]string{"#name": "Root", "#email": "root@example.com", "#password": "a very long admin passphrase"}),
		click("main button[type=submit]"), waitText(".flash", "required"))
	for _, path := range []string{"/dashboard", "/admin/users"} {
		do(t, ctx, chromedp.Navigate(p.URL+path), chromedp.WaitReady(chromedp.CSS("body")))
		if loc := location(t, ctx); !strings.HasSuffix(loc, "/account/2fa") {
			t.Fatalf("%s before 2FA is on: %s", path, loc)
		}
	}
	do(t, ctx, click(`form[action="/account/2fa/totp"] button`), chromedp.WaitVisible(chromedp.CSS("img.qr")))
	app := scanQRFor(t, ctx, "root@example.com")
	do(t, ctx, fill(map[string]string{"#code": app.code(clock.Now())}), click(`form[action="/account/2fa/totp/confirm"] button`),
		chromedp.WaitVisible(chromedp.CSS("#backup-codes")))
	do(t, ctx, chromedp.Navigate(p.URL+"/admin/users"), waitText("h1", "All users"))
}
