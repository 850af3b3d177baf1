package main_test

// A fourth review (the operator's interfaces and the HTTP surface): each
// TestReview4CXxx fails while the weakness it names is there.

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	cp "github.com/clientportal/portal"
	"github.com/clientportal/portal/portaltest"
	"github.com/clientportal/portal/sqlstore/storetest"
)

// TestReview4CStaleRequestSkipsPromptLogin: prompt=login and max_age were
// judged against the time the sign-in request was created, not the time
// it is answered. Requests live 30 minutes and anyone can create one, so
// an attacker holding a stolen session cookie opens a request started
// before the victim's last sign-in and gets a code without "Confirm it's
// you" — the very step an app asks prompt=login or max_age for (a step-up
// before a payment, say). The ID token's auth_time is the victim's sign-in,
// after the app started the request, so even an app that checks it is
// fooled.
func TestReview4CStaleRequestSkipsPromptLogin(t *testing.T) {
	clock := portaltest.NewClock(time.Now())
	p := runPortalClock(t, clock, map[string]string{"PORTAL_DATABASE_URL": storetest.DSN(t, "sqlite"), "PORTAL_SECRET_KEYS": testKeys})
	rp := newRelyingParty(t, p, func(a *cp.App) { a.SkipConsent = true })

	// The attacker starts sign-ins at the app (no cookies at the portal).
	stale := map[string]url.Values{"prompt=login": {"prompt": {"login"}}, "max_age=60": {"max_age": {"60"}}}
	ids, verifiers := map[string]string{}, map[string]string{}
	for name, extra := range stale {
		ids[name], verifiers[name] = rvStart(t, p, rp, nil, extra)
	}
	// 20 minutes later the victim signs in; 5 minutes after that the
	// attacker has the victim's session cookie.
	clock.Add(20 * time.Minute)
	victim := rvUser(t, p, "victim@example.com")
	clock.Add(5 * time.Minute)

	// A request started now asks to sign in again, as it should.
	for name, extra := range stale {
		fresh, _ := rvStart(t, p, rp, nil, extra)
		if _, loc, _ := rvGet(t, rvJar(victim), p.URL+"/oidc/login?id="+fresh); !strings.Contains(loc, "/account/reauth") {
			t.Fatalf("%s, a fresh request: %q", name, loc)
		}
	}
	for name := range stale {
		_, loc, body := rvGet(t, rvJar(victim), p.URL+"/oidc/login?id="+ids[name])
		if strings.Contains(loc, "/account/reauth") {
			continue
		}
		code := rvFollow(t, p, rp, victim, body)
		st, tok := exchange(t, p, rp, code, verifiers[name])
		var at any
		if raw, ok := tok["id_token"].(string); ok {
			at = rvClaims(t, raw)["auth_time"]
		}
		t.Errorf("%s: a request made 25 minutes ago was answered with the 5-minute-old session, no re-authentication (token endpoint %d, auth_time %v, now %d)",
			name, st, at, clock.Now().Unix())
	}
}

// TestReview4CTokenResponsesNotCached: the token endpoint's answers carry
// access, refresh and ID tokens, and userinfo the user's address, without
// "Cache-Control: no-store" (RFC 6749 §5.1 and OpenID Connect Core
// §3.1.3.3: MUST), while every answer of the portal's own API has it.
func TestReview4CTokenResponsesNotCached(t *testing.T) {
	clock := portaltest.NewClock(time.Now())
	p := runPortalClock(t, clock, map[string]string{"PORTAL_DATABASE_URL": storetest.DSN(t, "sqlite"), "PORTAL_SECRET_KEYS": testKeys})
	rp := newRelyingParty(t, p, func(a *cp.App) { a.SkipConsent = true })
	c := rvUser(t, p, "cache@example.com")
	q, v := flow(t, c, p, rp, nil)

	post := func(path string, form url.Values) *http.Response {
		req, _ := http.NewRequest("POST", p.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(rp.oauth.ClientID), url.QueryEscape(rpSecret))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	check := func(what string, resp *http.Response) {
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Cache-Control"), "no-store") {
			t.Errorf("%s: %d, Cache-Control %q", what, resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
	}
	check("code exchange (access, refresh and ID tokens)", post("/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
		"redirect_uri": {rp.oauth.RedirectURL}, "code_verifier": {v}}))
	check("client credentials", post("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"email"}}))

	q, v = flow(t, c, p, rp, nil)
	st, m := exchange(t, p, rp, q.Get("code"), v)
	if st != 200 {
		t.Fatalf("exchange: %d %v", st, m)
	}
	check("refresh", post("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m["refresh_token"].(string)}}))
	check("introspection", post("/oauth/introspect", url.Values{"token": {m["access_token"].(string)}}))
	req, _ := http.NewRequest("GET", p.URL+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+m["access_token"].(string))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	check("userinfo (the user's email address)", resp)
}
