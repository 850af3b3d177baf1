package main_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/clientportal/portal/mail/mailtest"
	"github.com/clientportal/portal/portaltest"
)

var inviteRE = regexp.MustCompile(`https?://\S+/invite\?token=\S+`)

// signIn signs out and in again through the pages; it stops at the 2FA
// step when one is asked.
func signIn(t *testing.T, ctx context.Context, base, email, pw string) {
	// Sign out first (the session, not the remembered browser); a signed-in
	// browser is sent on from /login, so sign out from any page.
	do(t, ctx, chromedp.Navigate(base+"/recover"), chromedp.WaitVisible(chromedp.CSS("#email")))
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`fetch("/logout", {method: "POST"}).then(() => true)`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, chromedp.Navigate(base+"/login"), chromedp.WaitVisible(chromedp.CSS("#email")),
		fill(map[string]string{"#email": email, "#password": pw}),
		click("main button[type=submit]"), chromedp.WaitVisible(chromedp.CSS("nav, #code")))
}

// answer2FA enters a code at the 2FA step, optionally ticking "don't ask
// again on this browser".
func answer2FA(t *testing.T, ctx context.Context, code string, remember bool) {
	steps := []chromedp.Action[chromedp.Void]{fill(map[string]string{"#code": code})}
	if remember {
		steps = append(steps, click("input[name=remember_browser]"))
	}
	steps = append(steps, click(`form[action="/login/2fa"] button`), chromedp.WaitVisible(chromedp.CSS("nav")))
	do(t, ctx, steps...)
}

// onPage is the tab's address.
func onPage(t *testing.T, ctx context.Context) string {
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestBrowserAccountUsers: the owner invites a member who enables 2FA; the
// owner's "Users" page shows and filters it; the owner's requirement forces
// a new member into setup; a remembered browser skips the second factor
// until it is revoked or the password changes.
func TestBrowserAccountUsers(t *testing.T) {
	ctx := portaltest.Browser(t)
	srv := mailtest.NewServer(t)
	clock := portaltest.NewClock(time.Now().Truncate(30 * time.Second))
	p := runPortalClock(t, clock, map[string]string{"PORTAL_SMTP_URL": srv.URL()})
	const pw = "a long enough pass"

	// The owner registers and invites Mia.
	do(t, ctx, chromedp.Navigate(p.URL+"/register"), chromedp.WaitVisible(chromedp.CSS("#name")),
		fill(map[string]string{"#name": "Olga Owner", "#email": "olga@example.com", "#password": pw, "#password_confirm": pw}),
		click("main button[type=submit]"), chromedp.WaitVisible(chromedp.CSS(".flash")))
	invite := func(name, email string) string {
		clock.Add(time.Second)
		do(t, ctx, chromedp.Navigate(p.URL+"/account/users"), chromedp.WaitVisible(chromedp.CSS("#inv-email")),
			fill(map[string]string{"#inv-name": name, "#inv-email": email}),
			click(`form[action="/account/users/invite"] button`), waitText(".flash", "invitation"))
		return inviteRE.FindString(mailTo(t, srv, email, 1).Text)
	}
	link := invite("Mia Member", "mia@example.com")

	// Mia accepts in her own browser and enables 2FA.
	mia := portaltest.NewTab(t, ctx)
	do(t, mia, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("#password")),
		fill(map[string]string{"#password": pw, "#password_confirm": pw}),
		click("main button[type=submit]"), chromedp.WaitVisible(chromedp.CSS("nav")))
	do(t, mia, chromedp.Navigate(p.URL+"/account/2fa"), chromedp.WaitVisible(chromedp.CSS("fieldset.choice button")),
		click(`form[action="/account/2fa/totp"] button`), chromedp.WaitVisible(chromedp.CSS("img.qr")))
	app := scanQRFor(t, mia, "mia@example.com")
	do(t, mia, fill(map[string]string{"#code": app.code(clock.Now())}), click("main form button"), chromedp.WaitVisible(chromedp.CSS("#backup-codes")))

	// The owner sees Mia activated, and the filters hold.
	do(t, ctx, chromedp.Navigate(p.URL+"/account/users"), chromedp.WaitVisible(chromedp.CSS(".members")))
	rows := texts(t, ctx, ".members tbody tr")
	if len(rows) != 2 || !strings.Contains(rows[1], "Mia Member") || !strings.Contains(rows[1], "Activated") || !strings.Contains(rows[0], "Not activated") {
		t.Fatalf("all users: %q", rows)
	}
	screenshot(t, ctx, "all-users")
	for filter, want := range map[string]string{"activated": "mia@example.com", "not_activated": "olga@example.com"} {
		do(t, ctx, chromedp.SetValue(chromedp.CSS("#twofa"), filter), click(`form[action="/account/users"] button`),
			waitURL("twofa="+filter), waitText(".members tbody", want))
		if rows := texts(t, ctx, ".members tbody tr"); len(rows) != 1 {
			t.Fatalf("filter %s: %q", filter, rows)
		}
	}

	// The owner requires 2FA; Noah, invited next, can do nothing but set it up.
	do(t, ctx, chromedp.Navigate(p.URL+"/account/users"), chromedp.WaitVisible(chromedp.CSS("input[name=require_2fa]")),
		click("input[name=require_2fa]"), click(`form[action="/account/policy"] button`), waitText(".flash", "requirement"))
	link = invite("Noah New", "noah@example.com")
	noah := portaltest.NewTab(t, ctx)
	do(t, noah, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("#password")),
		fill(map[string]string{"#password": pw, "#password_confirm": pw}),
		click("main button[type=submit]"), chromedp.WaitVisible(chromedp.CSS("fieldset.choice")))
	if f := text(t, noah, ".flash"); !strings.Contains(f, "required") {
		t.Fatalf("setup notice: %q", f)
	}
	for _, path := range []string{"/dashboard", "/account/security", "/account/users"} {
		do(t, noah, chromedp.Navigate(p.URL+path), chromedp.WaitVisible(chromedp.CSS("fieldset.choice")))
		if loc := onPage(t, noah); !strings.HasSuffix(loc, "/account/2fa") {
			t.Fatalf("%s reached during forced setup (at %s)", path, loc)
		}
	}

	// Mia ticks "don't ask again": the next sign-in skips the second factor.
	clock.Add(30 * time.Second)
	signIn(t, mia, p.URL, "mia@example.com", pw)
	answer2FA(t, mia, app.code(clock.Now()), true)
	signIn(t, mia, p.URL, "mia@example.com", pw)
	if loc := onPage(t, mia); !strings.HasSuffix(loc, "/dashboard") {
		t.Fatalf("remembered browser was asked again (at %s)", loc)
	}
	// Forgetting the browser brings the question back.
	do(t, mia, chromedp.Navigate(p.URL+"/account/security"), chromedp.WaitVisible(chromedp.CSS(".browsers")),
		click(`.browsers a.forget-browser`), chromedp.WaitVisible(chromedp.CSS("#confirm-yes")),
		click("#confirm-yes"), waitText(".flash", "ask for your second factor"))
	signIn(t, mia, p.URL, "mia@example.com", pw)
	if loc := onPage(t, mia); !strings.Contains(loc, "/login/2fa") {
		t.Fatalf("after forgetting the browser (at %s)", loc)
	}
	// Remember again, then change the password: asked again.
	clock.Add(30 * time.Second)
	answer2FA(t, mia, app.code(clock.Now()), true)
	do(t, mia, chromedp.Navigate(p.URL+"/account/security"), chromedp.WaitVisible(chromedp.CSS("#new_password")),
		fill(map[string]string{"#current_password": pw, "#new_password": "an even longer pass", "#new_password_confirm": "an even longer pass"}),
		click(`form[action="/account/password"] button`), waitText(".flash", "password was changed"))
	signIn(t, mia, p.URL, "mia@example.com", "an even longer pass")
	if loc := onPage(t, mia); !strings.Contains(loc, "/login/2fa") {
		t.Fatalf("after a password change (at %s)", loc)
	}
}

// waitURL waits until the tab's address contains sub.
func waitURL(sub string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			if loc, err := chromedp.Location()(ctx, t); err == nil && strings.Contains(loc, sub) {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-tick.C:
			}
		}
	})
}
