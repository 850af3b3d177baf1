package main_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	cp "github.com/clientportal/portal"
	"github.com/clientportal/portal/portaltest"
	"github.com/clientportal/portal/sqlstore/storetest"
)

// TestReview7PolicyRequirementStopsRefresh (a seventh review): staff
// require 2FA of everyone. A user without it reaches only the set-up pages
// in the portal, and the refresh token an app held for them from before
// no longer refreshes (it did, rotating, for as long as the user liked);
// once the user has set up 2FA, a new sign-in at the app refreshes again.
func TestReview7PolicyRequirementStopsRefresh(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		clock := portaltest.NewClock(time.Now())
		p := runPortalClock(t, clock, map[string]string{"PORTAL_DATABASE_URL": storetest.DSN(t, dialect), "PORTAL_SECRET_KEYS": testKeys})
		rp := newRelyingParty(t, p, func(a *cp.App) { a.SkipConsent = true })
		staff := rv5Staff(t, p, clock, "ops@example.com")
		c := rvUser(t, p, "no2fa@example.com")
		q, v := flow(t, c, p, rp, nil)
		st, tok := exchange(t, p, rp, q.Get("code"), v)
		if st != 200 || tok["refresh_token"] == nil {
			t.Fatalf("exchange: %d %v", st, tok)
		}
		if st, m := staff.call("PUT", "/api/v1/admin/settings", `{"twofa_policy":"everyone","remember_browsers":true,"recovery_wait_hours":24,"new_device_alerts":true}`); st != 204 {
			t.Fatalf("settings: %d %v", st, m)
		}
		if st, m := c.call("GET", "/api/v1/me", ""); st != 403 {
			t.Fatalf("the portal session once 2FA is required: %d %v", st, m)
		}
		clock.Add(20 * 24 * time.Hour)
		if st, m := tokenCall(t, p, rp, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}); st == 200 {
			t.Errorf("2FA is required of everyone and this user has none, yet the app refreshed (a new pair: %v)", m["refresh_token"] != nil)
		}
		// A user with 2FA refreshes as before.
		refreshesWith2FA(t, p, clock, rp, "with2fa@example.com")
	})
}

// TestReview7CodeOutlivesRemoveAccess: an app holds back the code of a
// finished sign-in; the user removes the app's access ("Remove access");
// the code then gets no tokens, and the app stays off the user's list.
func TestReview7CodeOutlivesRemoveAccess(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		clock := portaltest.NewClock(time.Now())
		p := runPortalClock(t, clock, map[string]string{"PORTAL_DATABASE_URL": storetest.DSN(t, dialect), "PORTAL_SECRET_KEYS": testKeys})
		rp := newRelyingParty(t, p, func(a *cp.App) { a.SkipConsent = true })
		c := rvUser(t, p, "held@example.com")
		q, v := flow(t, c, p, rp, nil)
		if q.Get("code") == "" {
			t.Fatalf("no code: %v", q)
		}
		if st, _ := c.call("POST", "/account/apps/"+rp.oauth.ClientID+"/revoke", ""); st != 200 && st != 303 {
			t.Fatalf("remove access: %d", st)
		}
		if st, tok := exchange(t, p, rp, q.Get("code"), v); st == 200 {
			t.Errorf("a code from before \"Remove access\" got tokens after it (refresh token: %v)", tok["refresh_token"] != nil)
		}
		if st, m := c.call("GET", "/api/v1/me/apps", ""); st == 200 {
			if apps, _ := m["apps"].([]any); len(apps) != 0 {
				t.Errorf("the app is listed again after its access was removed: %v", apps)
			}
		}
	})
}

// TestReview7AuthorizeStoresHugeValues: an anonymous /authorize with long
// acr_values, prompt or display values (each value was bounded in number,
// not in length) is refused, or stores at most 8 KiB.
func TestReview7AuthorizeStoresHugeValues(t *testing.T) {
	clock := portaltest.NewClock(time.Now())
	p := runPortalClock(t, clock, map[string]string{"PORTAL_DATABASE_URL": storetest.DSN(t, "sqlite"), "PORTAL_SECRET_KEYS": testKeys})
	rp := newRelyingParty(t, p, nil)
	for name, extra := range map[string]url.Values{
		"acr_values": {"acr_values": {strings.TrimSpace(strings.Repeat(strings.Repeat("A", 6000)+" ", 10))}},
		"prompt":     {"prompt": {"consent " + strings.Repeat("P", 25000) + " " + strings.Repeat("Q", 25000)}},
		"display":    {"display": {strings.Repeat("D", 60000)}},
		"many":       {"acr_values": {strings.TrimSpace(strings.Repeat(strings.Repeat("A", 1000)+" ", 10))}, "prompt": {"consent login"}, "login_hint": {strings.Repeat("h", 1000)}, "nonce": {strings.Repeat("n", 1000)}, "state": {strings.Repeat("s", 1000)}},
	} {
		form := url.Values{"client_id": {rp.oauth.ClientID}, "redirect_uri": {rp.oauth.RedirectURL}, "response_type": {"code"}, "scope": {"openid"}, "state": {"s"}}
		for k, v := range extra {
			form[k] = v
		}
		resp, err := noFollow().PostForm(p.URL+"/authorize", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if loc == nil || loc.Query().Get("id") == "" {
			continue // refused
		}
		r, err := p.Main.DB.AuthRequestByID(context.Background(), loc.Query().Get("id"), clock.Now().Unix())
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Data) > 8192 {
			t.Errorf("%s: an anonymous /authorize stored a request of %d bytes", name, len(r.Data))
		}
	}
}

// TestReview7ProviderInputChecked: the provider's endpoints skipped the
// text check of the portal's own routes: a state and nonce with a NUL and
// a terminal escape were stored, sent back to the app and signed into the
// ID token. Now such a request gets no code, and the token endpoint
// answers invalid_request.
func TestReview7ProviderInputChecked(t *testing.T) {
	clock := portaltest.NewClock(time.Now())
	p := runPortalClock(t, clock, map[string]string{"PORTAL_DATABASE_URL": storetest.DSN(t, "sqlite"), "PORTAL_SECRET_KEYS": testKeys})
	rp := newRelyingParty(t, p, func(a *cp.App) { a.SkipConsent = true })
	c := rvUser(t, p, "nul@example.com")
	for _, extra := range []url.Values{{"state": {"a\x00b"}}, {"nonce": {"n\x1b[31m"}}, {"state": {"\xff\xfe"}}} {
		q, _ := flow(t, c, p, rp, extra)
		if q.Get("code") != "" {
			t.Errorf("%q: a code was issued", extra)
		}
		if st := q.Get("portal_status"); st != "400" {
			t.Errorf("%q: the portal answered %s, want 400", extra, st)
		}
	}
	st, m := tokenCall(t, p, rp, url.Values{"grant_type": {"authorization_code"}, "code": {"a\x00b"}, "redirect_uri": {rp.oauth.RedirectURL}, "code_verifier": {"v"}})
	if st != 400 || m["error"] != "invalid_request" {
		t.Errorf("a NUL at the token endpoint: %d %v, want 400 invalid_request", st, m)
	}
	// An ordinary sign-in goes on as before.
	q, v := flow(t, c, p, rp, nil)
	if st, tok := exchange(t, p, rp, q.Get("code"), v); st != 200 || tok["id_token"] == nil {
		t.Errorf("an ordinary sign-in: %d %v", st, tok)
	}
}

// TestReview7OldIDTokenEndsNothing: a stranger (no cookies) holding one of
// a user's old ID tokens sent it as the hint of /end_session: the app's
// tokens for the user were all revoked. Now nothing ends; the same logout
// from the user's own browser still ends them and the portal session.
func TestReview7OldIDTokenEndsNothing(t *testing.T) {
	clock := portaltest.NewClock(time.Now())
	p := runPortalClock(t, clock, map[string]string{"PORTAL_DATABASE_URL": storetest.DSN(t, "sqlite"), "PORTAL_SECRET_KEYS": testKeys})
	rp := newRelyingParty(t, p, func(a *cp.App) { a.SkipConsent = true })
	c := rvUser(t, p, "victim@example.com")
	q, v := flow(t, c, p, rp, nil)
	st, tok := exchange(t, p, rp, q.Get("code"), v)
	if st != 200 {
		t.Fatalf("exchange: %d %v", st, tok)
	}
	clock.Add(50 * time.Minute)
	c.call("GET", "/api/v1/me", "")
	clock.Add(15 * time.Minute) // the ID token (1 h) has expired
	hint := url.Values{"id_token_hint": {tok["id_token"].(string)}}.Encode()
	rvGet(t, noFollow(), p.URL+"/end_session?"+hint)
	if st, m := c.call("GET", "/api/v1/me", ""); st != 200 {
		t.Fatalf("the victim's portal session: %d %v", st, m)
	}
	st, m := tokenCall(t, p, rp, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}})
	if st != 200 {
		t.Fatalf("a stranger with an expired ID token ended the victim's app tokens (refresh now %d %v)", st, m)
	}
	// The user's own browser signs out of the app and the portal.
	rvGet(t, rvJar(c), p.URL+"/end_session?"+hint)
	if st, _ := c.call("GET", "/api/v1/me", ""); st != 401 {
		t.Errorf("the user's own logout left the portal session: %d", st)
	}
	if st, _ := tokenCall(t, p, rp, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m["refresh_token"].(string)}}); st == 200 {
		t.Errorf("the user's own logout left the app's tokens")
	}
}

// refreshesWith2FA signs a new user with TOTP in to rp and checks that the
// app's refresh token works for them.
func refreshesWith2FA(t *testing.T, p *portal, clock *portaltest.Clock, rp *relyingParty, email string) {
	t.Helper()
	app := enable2FA(t, p, clock, email)
	clock.Add(30 * time.Second)
	w := newAPIClient(t, p.URL)
	w.call("POST", "/api/v1/login", `{"email":"`+email+`","password":"a long enough pass"}`)
	if st, m := w.call("POST", "/api/v1/login/2fa", `{"method":"totp","code":"`+app.code(clock.Now())+`"}`); st != 200 {
		t.Fatalf("2fa: %d %v", st, m)
	}
	q, v := flow(t, w, p, rp, nil)
	_, tok := exchange(t, p, rp, q.Get("code"), v)
	if tok["refresh_token"] == nil {
		t.Fatalf("the user with 2FA: %v %v", q, tok)
	}
	if st, _ := tokenCall(t, p, rp, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}); st != 200 {
		t.Errorf("the user with 2FA refreshes: %d", st)
	}
}

// TestReview7MalformedPairChecked (a review of the fixes): one pair that
// does not decode (`%zz`) in a POST body made the text check give up, and
// the library went on with the pairs decoded before it, NUL and escape
// included. Such a body is now refused.
func TestReview7MalformedPairChecked(t *testing.T) {
	clock := portaltest.NewClock(time.Now())
	p := runPortalClock(t, clock, map[string]string{"PORTAL_DATABASE_URL": storetest.DSN(t, "sqlite"), "PORTAL_SECRET_KEYS": testKeys})
	rp := newRelyingParty(t, p, nil)
	base := url.Values{"client_id": {rp.oauth.ClientID}, "redirect_uri": {rp.oauth.RedirectURL}, "response_type": {"code"}, "scope": {"openid"},
		"state": {"a\x00b"}, "nonce": {"n\x1b[31m"}}.Encode()
	for _, body := range []string{base, base + "&junk=%zz", "state=ok&junk=%zz"} {
		req, _ := http.NewRequest("POST", p.URL+"/authorize", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := noFollow().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("POST /authorize %q: %d %s, want 400", body, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	st, m := clientPost(t, p, rp, "/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"openid"}})
	t.Logf("an ordinary token request still reaches the library: %d %v", st, m["error"])
	if st >= 500 {
		t.Errorf("token endpoint: %d %v", st, m)
	}
}

// TestReview7LongHintAccepted (a review of the fixes): an app gives back
// its own ID token as id_token_hint; one of more than 1 KiB (an RS256
// signature, a long nonce) was refused as "too long" by the bound on
// stored values.
func TestReview7LongHintAccepted(t *testing.T) {
	clock := portaltest.NewClock(time.Now())
	p := runPortalClock(t, clock, map[string]string{"PORTAL_DATABASE_URL": storetest.DSN(t, "sqlite"), "PORTAL_SECRET_KEYS": testKeys})
	rp := newRelyingParty(t, p, func(a *cp.App) { a.SkipConsent = true; a.SigningAlg = "RS256" })
	c := rvUser(t, p, "rsa@example.com")
	q, v := flow(t, c, p, rp, url.Values{"nonce": {strings.Repeat("n", 300)}})
	st, tok := exchange(t, p, rp, q.Get("code"), v)
	hint, _ := tok["id_token"].(string)
	if st != 200 || len(hint) <= 1024 {
		t.Fatalf("exchange: %d, an ID token of %d bytes (want more than 1 KiB for this test)", st, len(hint))
	}
	if q, _ := flow(t, c, p, rp, url.Values{"id_token_hint": {hint}, "prompt": {"none"}}); q.Get("code") == "" {
		t.Errorf("a sign-in with the app's own RS256 ID token as hint: %v", q)
	}
}
