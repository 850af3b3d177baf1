package main_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	domain "github.com/clientportal/portal"
	"github.com/clientportal/portal/mail/mailtest"
	"github.com/clientportal/portal/portaltest"
)

// TestBrowserStaffConsole: staff filter the user list by 2FA status, reset
// a user's 2FA (the user's open session dies, an email arrives), and
// approve and deny recovery requests.
func TestBrowserStaffConsole(t *testing.T) {
	ctx := portaltest.Browser(t)
	srv := mailtest.NewServer(t)
	clock := portaltest.NewClock(time.Now().Truncate(30 * time.Second))
	p := runPortalClock(t, clock, map[string]string{"PORTAL_SMTP_URL": srv.URL()})
	const pw = "a long enough pass"
	bg := context.Background()

	// Customers: two with 2FA (API), one without.
	apps := map[string]authenticator{}
	sessions := map[string]*apiClient{}
	for i, email := range []string{"with1@example.com", "with2@example.com", "plain@example.com"} {
		clock.Add(time.Second)
		c := newAPIClient(t, p.URL)
		c.call("POST", "/api/v1/register", fmt.Sprintf(`{"email":%q,"password":%q,"name":"Customer %d"}`, email, pw, i))
		c.call("POST", "/api/v1/login", fmt.Sprintf(`{"email":%q,"password":%q}`, email, pw))
		if strings.HasPrefix(email, "with") {
			_, m := c.call("POST", "/api/v1/me/2fa/totp", "")
			app := authFromSecret(t, m["secret"].(string))
			c.call("POST", "/api/v1/me/2fa/totp/confirm", `{"code":"`+app.code(clock.Now())+`"}`)
			apps[email] = app
		}
		sessions[email] = c
	}

	// Staff must set up 2FA first (policy), then reach the console.
	if _, err := p.Server.CreateUser(bg, "ops@example.com", "Otto Ops", pw, domain.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	signIn(t, ctx, p.URL, "ops@example.com", pw)
	do(t, ctx, chromedp.Navigate(p.URL+"/account/2fa"), chromedp.WaitVisible(chromedp.CSS(`form[action="/account/2fa/totp"] button`)),
		click(`form[action="/account/2fa/totp"] button`), chromedp.WaitVisible(chromedp.CSS("img.qr")))
	ops := scanQRFor(t, ctx, "ops@example.com")
	do(t, ctx, fill(map[string]string{"#code": ops.code(clock.Now())}), click("main form button"), chromedp.WaitVisible(chromedp.CSS("#backup-codes")))

	listed := func(filter string) []string {
		// The filter form is a plain GET form: its address is the filter.
		do(t, ctx, chromedp.Navigate(p.URL+"/admin/users?twofa="+filter), chromedp.WaitVisible(chromedp.CSS(".admin-users")))
		if v, _ := chromedp.Run(ctx, chromedp.Value(chromedp.CSS("#twofa"))); v != filter {
			t.Fatalf("filter shows %q", v)
		}
		return texts(t, ctx, ".admin-users tbody tr th .muted")
	}
	if got := fmt.Sprint(listed("activated")); got != "[ops@example.com with2@example.com with1@example.com]" {
		t.Fatalf("activated: %s", got)
	}
	screenshot(t, ctx, "admin-users")
	if got := fmt.Sprint(listed("not_activated")); got != "[plain@example.com]" {
		t.Fatalf("not activated: %s", got)
	}

	// Reset with1's 2FA: their open session dies and they get an email.
	u, _ := p.DB.UserByEmail(bg, "with1@example.com")
	do(t, ctx, chromedp.Navigate(p.URL+"/admin/users/"+u.ID), chromedp.WaitVisible(chromedp.CSS("#reason")),
		fill(map[string]string{"#reason": "Verified by phone, ticket 77"}),
		click(`form[action$="/2fa/reset"] button`), waitText(".flash", "was reset"))
	if st, _ := sessions["with1@example.com"].call("GET", "/api/v1/me", ""); st != 401 {
		t.Fatalf("the user's session survived the reset: %d", st)
	}
	found := false
	for n := 1; !found; n++ {
		m := mailTo(t, srv, "with1@example.com", n)
		found = strings.Contains(m.Text, "ticket 77")
	}

	// Two recovery requests: approve one, deny the other.
	anon := newAPIClient(t, p.URL)
	anon.call("POST", "/api/v1/recovery", `{"email":"with2@example.com","message":"lost my phone"}`)
	p.Server.Wait() // requests are handled after the answer
	do(t, ctx, chromedp.Navigate(p.URL+"/admin/recovery"), chromedp.WaitVisible(chromedp.CSS("article.request")))
	// Deciding asks first.
	do(t, ctx, click(`article.request a.approve`), waitText("#confirm-h", "Approve the recovery request of"))
	if n := count(t, ctx, "article.request"); n != 1 {
		t.Fatalf("asking decided already: %d requests waiting", n)
	}
	do(t, ctx, click("#confirm-yes"), waitText(".flash", "Approved"))
	if s := text(t, ctx, ".recent tbody"); !strings.Contains(s, "approved") {
		t.Fatalf("recent requests: %q", s)
	}
	sessions["with2@example.com"] = nil
	anon.call("POST", "/api/v1/recovery", `{"email":"ops@example.com"}`)
	p.Server.Wait()
	do(t, ctx, chromedp.Navigate(p.URL+"/admin/recovery"), chromedp.WaitVisible(chromedp.CSS("article.request")),
		waitText("#recovery-badge", "1"),
		click(`article.request a.deny`), chromedp.WaitVisible(chromedp.CSS("#confirm-note")),
		chromedp.SendKeys(chromedp.CSS("#confirm-note"), "We could not verify you."),
		click("#confirm-yes"), waitText(".flash", "Denied"))
	screenshot(t, ctx, "admin-recovery")
	// Both users were told.
	for _, who := range []string{"with2@example.com", "ops@example.com"} {
		found := false
		for n := 1; !found && n < 10; n++ {
			m := mailTo(t, srv, who, n)
			found = strings.Contains(m.Subject, "recovery")
		}
		if !found {
			t.Fatalf("%s was not told of the decision", who)
		}
	}
}

// authFromSecret is an authenticator app fed the base32 secret by hand.
func authFromSecret(t *testing.T, secret string) authenticator {
	key, err := base32NoPad.DecodeString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return authenticator{key: key}
}
