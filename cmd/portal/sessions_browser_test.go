package main_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/clientportal/portal/portaltest"
	"github.com/clientportal/portal/sqlstore/storetest"
)

// TestBrowserSessions: signed in on two browsers, the user sees both under
// "Where you're signed in" (this one marked), signs the other out from
// here, and the other browser's next page asks to sign in.
func TestBrowserSessions(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := portaltest.Browser(t)
		p := runPortal(t, map[string]string{"PORTAL_DATABASE_URL": storetest.DSN(t, dialect), "PORTAL_SECRET_KEYS": testKeys})
		const pw = "a long enough pass"
		newAPIClient(t, p.URL).call("POST", "/api/v1/register", `{"email":"ada@example.com","password":"`+pw+`","name":"Ada"}`)
		other := portaltest.NewTab(t, ctx)
		signIn(t, ctx, p.URL, "ada@example.com", pw)
		signIn(t, other, p.URL, "ada@example.com", pw)

		do(t, ctx, chromedp.Navigate(p.URL+"/account/security"), chromedp.WaitVisible(chromedp.CSS(".sessions")))
		rows := texts(t, ctx, ".sessions tbody tr")
		if len(rows) != 2 || !strings.Contains(rows[0], "This device") || strings.Contains(rows[1], "This device") || !strings.Contains(rows[0], "Chrome") {
			t.Fatalf("sessions: %q", rows)
		}
		screenshot(t, ctx, "security-sessions")
		do(t, ctx, click(".sessions .end-session"), waitText(".flash", "signed out"))
		if rows := texts(t, ctx, ".sessions tbody tr"); len(rows) != 1 {
			t.Fatalf("after signing the other out: %q", rows)
		}
		do(t, other, chromedp.Navigate(p.URL+"/account/security"), chromedp.WaitVisible(chromedp.CSS("#password")))

		// "Sign out all other sessions".
		signIn(t, other, p.URL, "ada@example.com", pw)
		do(t, ctx, chromedp.Navigate(p.URL+"/account/security"), chromedp.WaitVisible(chromedp.CSS("#end-others")),
			click("#end-others"), waitText(".flash", "Every other session"))
		do(t, other, chromedp.Navigate(p.URL+"/dashboard"), chromedp.WaitVisible(chromedp.CSS("#password")))
	})
}

var secureRE = regexp.MustCompile(`http://[^\s]+/secure\?token=[A-Za-z0-9_%-]+`)

// TestBrowserNewSignInAlert: a sign-in from a second browser sends one
// alert email, a second sign-in there none; its "No, secure my account"
// link signs the account out in both browsers.
func TestBrowserNewSignInAlert(t *testing.T) {
	ctx := portaltest.Browser(t)
	p, srv := flowPortal(t, "sqlite", portaltest.NewClock(time.Now()))
	const pw = "a long enough pass"
	newAPIClient(t, p.URL).call("POST", "/api/v1/register", `{"email":"ada@example.com","password":"`+pw+`","name":"Ada"}`)
	signIn(t, ctx, p.URL, "ada@example.com", pw)
	other := portaltest.NewTab(t, ctx)
	before := mailCount(srv, "ada@example.com")
	signIn(t, other, p.URL, "ada@example.com", pw)
	link := newestMail(t, srv, "ada@example.com", secureRE, before)
	signIn(t, other, p.URL, "ada@example.com", pw)
	p.Server.Wait()
	if n := mailCount(srv, "ada@example.com") - before; n != 1 {
		t.Fatalf("%d alert emails, want 1", n)
	}
	// "Yes, this was me" thanks; its "It was not me" leads on to securing.
	do(t, other, chromedp.Navigate(link+"&answer=me"), chromedp.WaitVisible(chromedp.CSS("#not-me")))
	screenshot(t, other, "sign-in-confirmed")
	do(t, other, click("#not-me"), chromedp.WaitVisible(chromedp.CSS("#secure-now")))
	screenshot(t, other, "secure-account")
	do(t, other, chromedp.SendKeys(chromedp.CSS("#password"), pw), click("#secure-now"), chromedp.WaitVisible(chromedp.CSS("#choose-password")))
	for _, tab := range []context.Context{ctx, other} {
		do(t, tab, chromedp.Navigate(p.URL+"/dashboard"), chromedp.WaitVisible(chromedp.CSS("#password")))
	}
}
