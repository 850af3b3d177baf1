package main_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/clientportal/portal/portaltest"
	"github.com/clientportal/portal/sqlstore/storetest"
)

// screenshot audits the page (audit_test.go: no sideways scrolling and no
// serious accessibility violation, at the desktop and a phone's size) and
// saves it as name.png and name-phone.png under PORTAL_TEST_SCREENSHOTS,
// when set, so a person can look at what the tests saw.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	audit(t, ctx, name)
}

// fill types values into form fields by CSS selector, once the page has
// finished loading (a form answered with its errors is a new document whose
// fields are not to be touched while it loads).
func fill(fields map[string]string) chromedp.Action[chromedp.Void] {
	steps := []chromedp.Action[chromedp.Void]{chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Poll[bool](`document.readyState === "complete"`, chromedp.WithPollingInterval(10*time.Millisecond))(ctx, tg)
		return err
	})}
	for sel, v := range fields {
		steps = append(steps, chromedp.Clear(chromedp.CSS(sel)), chromedp.SendKeys(chromedp.CSS(sel), v))
	}
	return chromedp.Steps(steps...)
}

// text returns the visible text of the first element matching sel.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// click clicks the first element matching sel once the page has finished
// loading. When the page changes under it (a node replaced between finding
// it and clicking it, or the document itself replaced while it is asked
// whether it has loaded), the click was not sent: the page is waited for
// and the node looked up again.
func click(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		for try := 0; ; try++ {
			if _, err := chromedp.Poll[bool](`document.readyState === "complete"`, chromedp.WithPollingInterval(10*time.Millisecond))(ctx, tg); err != nil {
				if try < 2 && pageChanged(err) {
					continue
				}
				return err
			}
			_, err := chromedp.Click(chromedp.CSS(sel))(ctx, tg)
			if err == nil || try == 2 || !pageChanged(err) {
				return err
			}
		}
	})
}

// pageChanged reports whether err says the page changed under a request
// to the browser.
func pageChanged(err error) bool {
	return strings.Contains(err.Error(), "Could not find node with given id") || strings.Contains(err.Error(), "Cannot find context with specified id")
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserAccountLifecycle: a person registers, signs out, signs in,
// changes the password and signs out again, through the real pages.
func TestBrowserAccountLifecycle(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := portaltest.Browser(t)
		p := runPortal(t, map[string]string{"PORTAL_DATABASE_URL": storetest.DSN(t, dialect), "PORTAL_SECRET_KEYS": testKeys})

		do(t, ctx, chromedp.Navigate(p.URL+"/register"), chromedp.WaitVisible(chromedp.CSS("#name")))
		screenshot(t, ctx, "register")
		do(t, ctx,
			fill(map[string]string{"#name": "Grace Hopper", "#email": "grace@example.com", "#password": "first compiler 1952", "#password_confirm": "first compiler 1952"}),
			click("main button[type=submit]"),
			chromedp.WaitVisible(chromedp.CSS(".flash")),
		)
		if h := text(t, ctx, "h1"); h != "Welcome, Grace Hopper" {
			t.Fatalf("after registering: %q", h)
		}
		screenshot(t, ctx, "dashboard")

		signOut := chromedp.Steps(signOutClick(), chromedp.WaitVisible(chromedp.CSS("#password")))
		do(t, ctx, signOut)
		if f := text(t, ctx, ".flash"); f != "You are signed out." {
			t.Fatalf("after sign-out: %q", f)
		}

		signIn := func(pw string) {
			do(t, ctx, chromedp.Navigate(p.URL+"/login"), chromedp.WaitVisible(chromedp.CSS("#email")),
				fill(map[string]string{"#email": "GRACE@example.com", "#password": pw}),
				click("main button[type=submit]"),
				// Signed in shows the navigation; a failure shows an alert.
				chromedp.WaitVisible(chromedp.CSS("nav, .alert")))
		}
		signIn("first compiler 1952")
		if h := text(t, ctx, "h1"); h != "Welcome, Grace Hopper" {
			t.Fatalf("after signing in: %q", h)
		}

		do(t, ctx, chromedp.Navigate(p.URL+"/account/security"), chromedp.WaitVisible(chromedp.CSS("#current_password")))
		if s := text(t, ctx, "#twofa-h + p"); !strings.Contains(s, "Not activated") {
			t.Fatalf("2FA status: %q", s)
		}
		// A mismatch is explained next to the field and nothing changes.
		do(t, ctx,
			fill(map[string]string{"#current_password": "first compiler 1952", "#new_password": "nanoseconds are 30cm", "#new_password_confirm": "nanoseconds are 30 cm"}),
			click("form[action='/account/password'] button"),
			chromedp.WaitVisible(chromedp.CSS(".alert")))
		if a := text(t, ctx, ".alert"); a != "The two new passwords do not match." {
			t.Fatalf("mismatch: %q", a)
		}
		do(t, ctx,
			fill(map[string]string{"#current_password": "first compiler 1952", "#new_password": "nanoseconds are 30cm", "#new_password_confirm": "nanoseconds are 30cm"}),
			click("form[action='/account/password'] button"),
			chromedp.WaitVisible(chromedp.CSS(".flash")))
		if f := text(t, ctx, ".flash"); !strings.Contains(f, "Your password was changed") {
			t.Fatalf("after change: %q", f)
		}
		if ev := text(t, ctx, ".events tbody"); !strings.Contains(ev, "Password changed") || !strings.Contains(ev, "Signed in") {
			t.Fatalf("security events: %q", ev)
		}
		screenshot(t, ctx, "security")
		do(t, ctx, signOut)

		// The old password no longer works; the new one does.
		signIn("first compiler 1952")
		if a := text(t, ctx, ".alert"); a != "Incorrect email or password." {
			t.Fatalf("old password: %q", a)
		}
		screenshot(t, ctx, "login-error")
		signIn("nanoseconds are 30cm")
		if h := text(t, ctx, "h1"); h != "Welcome, Grace Hopper" {
			t.Fatalf("with the new password: %q", h)
		}
		do(t, ctx, signOut)
		// Signed out for real: the dashboard sends the browser to sign in.
		do(t, ctx, chromedp.Navigate(p.URL+"/dashboard"), chromedp.WaitVisible(chromedp.CSS("#email")))
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		if !strings.Contains(loc, "/login?next=%2Fdashboard") {
			t.Fatalf("dashboard after sign-out went to %s", loc)
		}
	})
}

// clearNotes removes the flash and alert of the current page, so waiting
// for one afterwards waits for the next page's.
func clearNotes() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`document.querySelectorAll('.flash, .alert').forEach(e => e.remove()); true`)(ctx, t)
		return err
	})
}

// waitText waits until the element sel contains want, riding out
// navigations (the page may be replaced while it waits).
func waitText(sel, want string) chromedp.Action[chromedp.Void] {
	expr := fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && e.textContent.includes(%q) })()`, sel, want)
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			if ok, err := chromedp.Evaluate[bool](expr)(ctx, t); err == nil && ok {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for %q in %s: %w", want, sel, ctx.Err())
			case <-tick.C:
			}
		}
	})
}

// signOutClick signs out the way a person does: the name at the top right
// opens the account menu, which holds "Sign out".
func signOutClick() chromedp.Action[chromedp.Void] {
	return chromedp.Steps(click("#account-menu"), click(`.account-menu form[action="/logout"] button`))
}
