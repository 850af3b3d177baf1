package main_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/clientportal/portal/i18n"
	"github.com/clientportal/portal/portaltest"
	"github.com/clientportal/portal/sqlstore/storetest"
)

// TestBrowserLanguages walks signing in and setting up an authenticator
// app in Malay, Arabic (right to left) and Japanese: each page is in that
// language, has the right lang and dir, and passes the layout audit
// (nothing wider than a 390 px phone) and axe.
func TestBrowserLanguages(t *testing.T) {
	for _, code := range []string{"ms", "ar", "ja"} {
		t.Run(code, func(t *testing.T) {
			l, ok := i18n.Builtin().Get(code)
			if !ok {
				t.Fatalf("no language %s", code)
			}
			// tr is the page text for id in the language; it must be its own.
			tr := func(id string, kv ...any) string {
				t.Helper()
				if !l.Translated(id) {
					t.Fatalf("%s lacks a translation of %q", code, id)
				}
				return l.T(id, kv...)
			}
			ctx := portaltest.Browser(t)
			clock := portaltest.NewClock(time.Now().Truncate(30 * time.Second))
			p := runPortalClock(t, clock, map[string]string{"PORTAL_DATABASE_URL": storetest.DSN(t, "sqlite"), "PORTAL_SECRET_KEYS": testKeys})
			const pw = "a long enough pass"
			newAPIClient(t, p.URL).call("POST", "/api/v1/register", `{"email":"ada@example.com","password":"`+pw+`","name":"Ada"}`)

			// The sign-in page in the language, chosen with ?lang=.
			do(t, ctx, chromedp.Navigate(p.URL+"/login?lang="+code), chromedp.WaitVisible(chromedp.CSS("#password")))
			checkLang(t, ctx, l)
			if b := text(t, ctx, "main button[type=submit]"); b != tr("Sign in") {
				t.Fatalf("sign-in button %q, want %q", b, tr("Sign in"))
			}
			screenshot(t, ctx, "lang-"+code+"-login")
			do(t, ctx, fill(map[string]string{"#email": "ada@example.com", "#password": pw}), click("main button[type=submit]"),
				chromedp.WaitVisible(chromedp.CSS("nav")))
			// The visitor's choice carried over into the session.
			checkLang(t, ctx, l)

			// Security → set up → authenticator app → QR → code → backup codes.
			do(t, ctx, chromedp.Navigate(p.URL+"/account/security"), chromedp.WaitVisible(chromedp.CSS("#twofa-h")))
			if h := text(t, ctx, "#twofa-h"); h != tr("Two-factor authentication") {
				t.Fatalf("security page heading %q", h)
			}
			screenshot(t, ctx, "lang-"+code+"-security")
			do(t, ctx, click(`a[href="/account/2fa"]`), chromedp.WaitVisible(chromedp.CSS("fieldset.choice")))
			checkLang(t, ctx, l)
			do(t, ctx, click(`form[action="/account/2fa/totp"] button`), chromedp.WaitVisible(chromedp.CSS("img.qr")))
			checkLang(t, ctx, l)
			screenshot(t, ctx, "lang-"+code+"-totp")
			app := scanQR(t, ctx)
			// A wrong code is refused in the language.
			do(t, ctx, fill(map[string]string{"#code": "000000"}), click("main form button"), chromedp.WaitVisible(chromedp.CSS(".alert")))
			if a := text(t, ctx, ".alert"); isEnglish(a) {
				t.Fatalf("the error is in English: %q", a)
			}
			do(t, ctx, fill(map[string]string{"#code": app.code(clock.Now())}), click("main form button"), chromedp.WaitVisible(chromedp.CSS("#backup-codes")))
			checkLang(t, ctx, l)
			screenshot(t, ctx, "lang-"+code+"-backup-codes")
		})
	}
}

// checkLang fails unless the page is marked as l's language and
// direction, and its main text is not English.
func checkLang(t *testing.T, c context.Context, l *i18n.Localizer) {
	t.Helper()
	var dir string
	lang, err := chromedp.Run(c, chromedp.Evaluate[string](`document.documentElement.lang`))
	if err == nil {
		dir, err = chromedp.Run(c, chromedp.Evaluate[string](`document.documentElement.dir`))
	}
	if err != nil || lang != l.Code || dir != l.Dir() {
		t.Fatalf("page lang=%q dir=%q (%v), want %q %q", lang, dir, err, l.Code, l.Dir())
	}
	if main := text(t, c, "main h1"); isEnglish(main) {
		t.Fatalf("the heading is English: %q", main)
	}
}

// isEnglish reports whether s reads as English: it is one of the English
// catalogue's messages, or made of the commonest English words.
func isEnglish(s string) bool {
	s = strings.TrimSpace(s)
	if i18n.Builtin().Has(s) {
		return true
	}
	n := 0
	for _, w := range strings.Fields(strings.ToLower(s)) {
		switch strings.Trim(w, ".,:;!?") {
		case "the", "your", "you", "to", "and", "a", "is", "code", "sign", "in", "with", "enter":
			n++
		}
	}
	return n >= 2
}
