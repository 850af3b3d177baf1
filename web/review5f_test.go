package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/portaltest"
	"github.com/clientportal/portal/web"
)

// localeNotifier records the language of every security notice.
type localeNotifier struct {
	portaltest.Notifier
	mu      sync.Mutex
	locales map[string]string // user id and kind → locale
}

func (n *localeNotifier) record(m *portal.Notification) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.locales == nil {
		n.locales = map[string]string{}
	}
	n.locales[m.UserID+" "+m.Kind] = m.Locale
}

func (n *localeNotifier) Notify(ctx context.Context, m *portal.Notification) error {
	n.record(m)
	return n.Notifier.Notify(ctx, m)
}

func (n *localeNotifier) Message(m *portal.Notification) (*portal.OutboxMessage, error) {
	n.record(m)
	return n.Notifier.Message(m)
}

func (n *localeNotifier) locale(userID, kind string) (string, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	l, ok := n.locales[userID+" "+kind]
	return l, ok
}

// TestReview5FIntruderPicksMailLanguage: a user who never picked a
// language gets mail "in the language of the request that sent it". When
// that request is a stranger's (the intruder's sign-in with the stolen
// password, someone else's recovery request), the stranger chooses the
// language of the very mail that warns the owner: the new sign-in alert
// and the recovery notice arrive in Arabic or Thai, which the owner cannot
// read, and "No, secure my account" / "sign in to cancel" go unanswered.
// README: "a link cannot change the language of someone's security mail".
func TestReview5FIntruderPicksMailLanguage(t *testing.T) {
	alerts := &portaltest.Mailbox{}
	notices := &localeNotifier{}
	e := newEnv(t, "sqlite", func(_ *web.Config, d *web.Deps) { d.Alerts = alerts; d.Notifier = notices })

	// The owner registered and signs in from their own (English) browser.
	e.register("owner@example.com")
	laptop := e.client()
	laptop.hdr.Set("Accept-Language", "en-GB,en;q=0.9")
	if r := laptop.api("POST", "/api/v1/login", map[string]string{"email": "owner@example.com", "password": testPassword}); r.StatusCode != 200 {
		t.Fatalf("owner's sign-in: %d %s", r.StatusCode, r.Body)
	}
	e.web.Wait()

	// The intruder signs in with the stolen password from a browser that
	// asks for Arabic.
	intruder := e.client()
	intruder.hdr.Set("Accept-Language", "ar")
	if r := intruder.api("POST", "/api/v1/login", map[string]string{"email": "owner@example.com", "password": testPassword}); r.StatusCode != 200 {
		t.Fatalf("intruder's sign-in: %d %s", r.StatusCode, r.Body)
	}
	e.web.Wait()
	if alerts.LinkCount("owner@example.com") != 1 {
		t.Fatalf("%d alerts; want 1", alerts.LinkCount("owner@example.com"))
	}
	if lang, subject := alerts.LastLang("owner@example.com"); lang == "ar" {
		t.Errorf("the new sign-in alert to the owner is in the intruder's language %q (%q); want the owner's or the portal's default", lang, subject)
	}

	// The owner's own browser (it signed in to the account before) still
	// gets mail in its language.
	laptop.hdr.Set("Accept-Language", "de")
	if r := laptop.api("POST", "/api/v1/password/forgot", map[string]string{"email": "owner@example.com"}); r.StatusCode != 202 {
		t.Fatalf("forgot: %d %s", r.StatusCode, r.Body)
	}
	e.web.Wait()
	if lang, _ := e.box.LastLang("owner@example.com"); lang != "de" {
		t.Errorf("a reset asked for from the owner's own browser is in %q; want its language de", lang)
	}

	// A stranger asks for recovery of a 2FA user's account from a browser
	// that asks for Thai: the notice that lets the owner cancel it is in Thai.
	id, _, _ := e.userWith2FA("victim@example.com")
	stranger := e.client()
	stranger.hdr.Set("Accept-Language", "th")
	if r := stranger.api("POST", "/api/v1/recovery", map[string]string{"email": "victim@example.com", "message": "I lost my phone"}); r.StatusCode != 202 {
		t.Fatalf("recovery request: %d %s", r.StatusCode, r.Body)
	}
	e.web.Wait()
	lang, ok := notices.locale(id, portal.EventRecoveryRequested)
	if !ok {
		t.Fatal("the owner was not told of the recovery request")
	}
	if lang == "th" {
		t.Errorf("the recovery notice to the owner is in the stranger's language %q; want the owner's or the portal's default", lang)
	}
}

// TestReview5FLangThroughNext: the fix of the third review keeps a link
// from another site (?lang=th) from changing a signed-in user's stored
// language, the language of their security mail. The same link aimed at
// the sign-in page with the language in its next (or at any page while
// signed out, which leads to the sign-in page with that page as next)
// changes it all the same: after the password, the portal itself
// redirects to /dashboard?lang=th, a same-origin request.
func TestReview5FLangThroughNext(t *testing.T) {
	e := newEnv(t, "sqlite")
	e.register("lang@example.com")
	c := e.client()
	cross := http.Header{"Sec-Fetch-Site": {"cross-site"}, "Sec-Fetch-Mode": {"navigate"}}
	// The link from another site, to a page that needs a session.
	r := c.do("GET", "/account/security?lang=th", nil, "", cross)
	loc := r.Header.Get("Location")
	if r.StatusCode != 303 || !strings.HasPrefix(loc, "/login?next=") {
		t.Fatalf("signed out: %d %q", r.StatusCode, loc)
	}
	r = c.do("GET", loc, nil, "", http.Header{"Sec-Fetch-Site": {"cross-site"}, "Sec-Fetch-Mode": {"navigate"}})
	if r.StatusCode != 200 {
		t.Fatalf("sign-in page: %d", r.StatusCode)
	}
	u, _ := url.Parse(loc)
	next := u.Query().Get("next")
	// The user signs in on the portal's page: a same-origin form.
	same := http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {e.ts.URL}}
	r = c.do("POST", "/login", strings.NewReader(url.Values{"email": {"lang@example.com"}, "password": {testPassword}, "next": {next}}.Encode()), "application/x-www-form-urlencoded", same)
	if r.StatusCode != 303 {
		t.Fatalf("sign in: %d %s", r.StatusCode, r.Body)
	}
	// The browser follows the portal's redirect (same-origin).
	c.do("GET", r.Header.Get("Location"), nil, "", http.Header{"Sec-Fetch-Site": {"same-origin"}})
	if after := c.get("/api/v1/me").json()["locale"]; after == "th" {
		t.Errorf("a link from another site changed the stored language to %v by way of the sign-in's next", after)
	}
}
