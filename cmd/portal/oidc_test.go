package main_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	cp "github.com/clientportal/portal"
	main "github.com/clientportal/portal/cmd/portal"
	"github.com/clientportal/portal/mfa"
	"github.com/clientportal/portal/portaltest"
	"github.com/clientportal/portal/provider"
	"github.com/clientportal/portal/sqlstore/storetest"
)

// relyingParty is an app that signs in through the portal, written with
// go-oidc and x/oauth2 only: it knows nothing of the provider's code.
type relyingParty struct {
	t        *testing.T
	srv      *httptest.Server
	provider *gooidc.Provider
	oauth    oauth2.Config
	verifier *gooidc.IDTokenVerifier

	mu                    sync.Mutex
	state, nonce, pkce    string
	token                 *oauth2.Token
	idToken               *gooidc.IDToken
	rawIDToken, lastError string
}

const rpSecret = "the relying party's secret, long and random enough"

// newRelyingParty registers an app at the portal p and starts it.
func newRelyingParty(t *testing.T, p *portal, configure func(a *cp.App)) *relyingParty {
	t.Helper()
	rp := &relyingParty{t: t}
	rp.srv = httptest.NewServer(http.HandlerFunc(rp.serve))
	t.Cleanup(rp.srv.Close)
	app := &cp.App{ID: cp.NewID(), Name: "Billing", SecretHash: provider.HashSecret(rpSecret), RedirectURIs: []string{rp.srv.URL + "/callback"},
		PostLogoutURIs: []string{rp.srv.URL + "/bye"}, Scopes: provider.AllScopes, GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials"},
		SigningAlg: "ES256", CreatedAt: time.Now().Unix()}
	if configure != nil {
		configure(app)
	}
	if err := p.Main.DB.CreateApp(context.Background(), app); err != nil {
		t.Fatal(err)
	}
	var err error
	if rp.provider, err = gooidc.NewProvider(context.Background(), p.URL); err != nil {
		t.Fatalf("discovery: %v", err)
	}
	rp.oauth = oauth2.Config{ClientID: app.ID, ClientSecret: rpSecret, Endpoint: rp.provider.Endpoint(), RedirectURL: rp.srv.URL + "/callback",
		Scopes: []string{gooidc.ScopeOpenID, "profile", "email", gooidc.ScopeOfflineAccess}}
	rp.verifier = rp.provider.Verifier(&gooidc.Config{ClientID: app.ID})
	return rp
}

func (rp *relyingParty) serve(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	rp.mu.Lock()
	defer rp.mu.Unlock()
	switch r.URL.Path {
	case "/start":
		rp.state, rp.nonce, rp.pkce = cp.NewID(), cp.NewID(), oauth2.GenerateVerifier()
		http.Redirect(w, r, rp.oauth.AuthCodeURL(rp.state, gooidc.Nonce(rp.nonce), oauth2.S256ChallengeOption(rp.pkce)), http.StatusFound)
	case "/callback":
		if e := r.URL.Query().Get("error"); e != "" {
			rp.lastError = e
			fmt.Fprintf(w, "<h1>Refused: %s</h1>", e)
			return
		}
		if r.URL.Query().Get("state") != rp.state {
			http.Error(w, "bad state", 400)
			return
		}
		tok, err := rp.oauth.Exchange(ctx, r.URL.Query().Get("code"), oauth2.VerifierOption(rp.pkce))
		if err != nil {
			rp.lastError = err.Error()
			http.Error(w, err.Error(), 400)
			return
		}
		raw, _ := tok.Extra("id_token").(string)
		id, err := rp.verifier.Verify(ctx, raw)
		if err != nil || id.Nonce != rp.nonce {
			rp.lastError = fmt.Sprintf("id token: %v (nonce %q)", err, id)
			http.Error(w, "bad id token", 400)
			return
		}
		rp.token, rp.idToken, rp.rawIDToken = tok, id, raw
		fmt.Fprintf(w, "<!doctype html><title>Billing</title><h1 id=rp>Signed in to Billing as %s</h1>", id.Subject)
	case "/bye":
		fmt.Fprint(w, "<!doctype html><title>Billing</title><h1 id=rp>Signed out of Billing</h1>")
	}
}

// claims are the ID token's claims the tests look at.
type claims struct {
	Sub, Email, Name, Acr string
	AMR                   []string `json:"amr"`
	AuthTime              int64    `json:"auth_time"`
	Aud                   any      `json:"aud"`
}

// TestBrowserOIDC: an app signs a customer in through the portal's real
// pages (password and TOTP code, then consent), verifies the ID token,
// calls userinfo, refreshes and logs out through the end-session endpoint.
func TestBrowserOIDC(t *testing.T) {
	ctx := portaltest.Browser(t)
	clock := portaltest.NewClock(time.Now())
	p := runPortalClock(t, clock, map[string]string{"PORTAL_DATABASE_URL": storetest.DSN(t, "sqlite"), "PORTAL_SECRET_KEYS": testKeys})
	rp := newRelyingParty(t, p, nil)
	const pw = "a long enough pass"

	c := newAPIClient(t, p.URL)
	c.call("POST", "/api/v1/register", `{"email":"ada@example.com","password":"`+pw+`","name":"Ada Lovelace"}`)
	c.call("POST", "/api/v1/login", `{"email":"ada@example.com","password":"`+pw+`"}`)
	_, m := c.call("POST", "/api/v1/me/2fa/totp", "")
	app := authFromSecret(t, m["secret"].(string))
	if st, m := c.call("POST", "/api/v1/me/2fa/totp/confirm", `{"code":"`+app.code(clock.Now())+`"}`); st != 200 {
		t.Fatalf("totp: %d %v", st, m)
	}
	clock.Add(30 * time.Second)

	// The app sends the browser to the portal: sign in, code, consent.
	do(t, ctx, chromedp.Navigate(rp.srv.URL+"/start"), chromedp.WaitVisible(chromedp.CSS("#password")))
	do(t, ctx, fill(map[string]string{"#email": "ada@example.com", "#password": pw}), click("main button[type=submit]"),
		chromedp.WaitVisible(chromedp.CSS("#code")))
	do(t, ctx, fill(map[string]string{"#code": app.code(clock.Now())}), click(`form[action="/login/2fa"] button[type=submit]`),
		chromedp.WaitVisible(chromedp.CSS("#consent-allow")))
	if h := text(t, ctx, "h1"); h != "Allow Billing to sign you in?" {
		t.Fatalf("consent page: %q", h)
	}
	screenshot(t, ctx, "oidc-consent")
	do(t, ctx, click("#consent-allow"), chromedp.WaitVisible(chromedp.CSS("#rp")))
	if h := text(t, ctx, "#rp"); !strings.HasPrefix(h, "Signed in to Billing as ") {
		t.Fatalf("at the app: %q (%s)", h, rp.lastError)
	}

	var cl claims
	if err := rp.idToken.Claims(&cl); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(cl.AMR, "mfa") || !slices.Contains(cl.AMR, "otp") || !slices.Contains(cl.AMR, "pwd") || cl.Acr != provider.ACRMFA ||
		cl.Email != "ada@example.com" || cl.Name != "Ada Lovelace" || cl.Sub == "" || cl.Sub == cl.Email || cl.AuthTime == 0 {
		t.Fatalf("ID token claims: %+v", cl)
	}
	if !slices.Contains(rp.idToken.Audience, rp.oauth.ClientID) {
		t.Fatalf("audience %v", rp.idToken.Audience)
	}

	// userinfo with the access token; then a refresh, rotated.
	bg := context.Background()
	info, err := rp.provider.UserInfo(bg, oauth2.StaticTokenSource(rp.token))
	if err != nil || info.Subject != cl.Sub || info.Email != "ada@example.com" {
		t.Fatalf("userinfo: %+v %v", info, err)
	}
	old := rp.token.RefreshToken
	fresh, err := rp.oauth.TokenSource(bg, &oauth2.Token{RefreshToken: old}).Token()
	if err != nil || fresh.RefreshToken == "" || fresh.RefreshToken == old {
		t.Fatalf("refresh: %v (rotated: %v)", err, fresh != nil && fresh.RefreshToken != old)
	}
	if _, err := rp.provider.UserInfo(bg, oauth2.StaticTokenSource(fresh)); err != nil {
		t.Fatalf("userinfo after refresh: %v", err)
	}

	// The Security page lists the app.
	do(t, ctx, chromedp.Navigate(p.URL+"/account/security"), chromedp.WaitVisible(chromedp.CSS(".apps")))
	if row := text(t, ctx, ".apps tbody"); !strings.Contains(row, "Billing") {
		t.Fatalf("apps with access: %q", row)
	}

	// RP-initiated logout: back to the app's registered page, and signed
	// out of the portal too.
	end, _ := url.Parse(p.URL + "/end_session")
	end.RawQuery = url.Values{"id_token_hint": {rp.rawIDToken}, "post_logout_redirect_uri": {rp.srv.URL + "/bye"}, "client_id": {rp.oauth.ClientID}}.Encode()
	do(t, ctx, chromedp.Navigate(end.String()), chromedp.WaitVisible(chromedp.CSS("#rp")))
	if h := text(t, ctx, "#rp"); h != "Signed out of Billing" {
		t.Fatalf("after logout: %q", h)
	}
	do(t, ctx, chromedp.Navigate(p.URL+"/dashboard"), chromedp.WaitVisible(chromedp.CSS("#password")))

	// A logout URI that is not registered is not followed.
	end.RawQuery = url.Values{"id_token_hint": {rp.rawIDToken}, "post_logout_redirect_uri": {"https://evil.example/"}, "client_id": {rp.oauth.ClientID}}.Encode()
	resp, err := noFollow().Get(end.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); strings.Contains(loc, "evil.example") {
		t.Fatalf("followed an unregistered logout URI: %s", loc)
	}
}

// TestBrowserOIDCRequires2FA: an app that requires two-factor
// authentication sends a customer without it to set it up, and the page
// that shows the new backup codes leads on to the app.
func TestBrowserOIDCRequires2FA(t *testing.T) {
	ctx := portaltest.Browser(t)
	clock := portaltest.NewClock(time.Now())
	p := runPortalClock(t, clock, map[string]string{"PORTAL_DATABASE_URL": storetest.DSN(t, "sqlite"), "PORTAL_SECRET_KEYS": testKeys})
	rp := newRelyingParty(t, p, func(a *cp.App) { a.Name, a.Requires2FA, a.SkipConsent = "Control panel", true, true })
	const pw = "a long enough pass"
	newAPIClient(t, p.URL).call("POST", "/api/v1/register", `{"email":"bob@example.com","password":"`+pw+`","name":"Bob"}`)

	do(t, ctx, chromedp.Navigate(rp.srv.URL+"/start"), chromedp.WaitVisible(chromedp.CSS("#password")))
	do(t, ctx, fill(map[string]string{"#email": "bob@example.com", "#password": pw}), click("main button[type=submit]"),
		chromedp.WaitVisible(chromedp.CSS("#setup-2fa")))
	if h := text(t, ctx, "h1"); h != "Control panel requires two-factor authentication" {
		t.Fatalf("required 2FA page: %q", h)
	}
	screenshot(t, ctx, "oidc-requires-2fa")
	do(t, ctx, click("#setup-2fa"), chromedp.WaitVisible(chromedp.CSS("fieldset.choice")))
	do(t, ctx, click(`form[action="/account/2fa/totp"] button`), chromedp.WaitVisible(chromedp.CSS("img.qr")))
	app := scanQRFor(t, ctx, "bob@example.com")
	do(t, ctx, fill(map[string]string{"#code": app.code(clock.Now())}), click(`form[action="/account/2fa/totp/confirm"] button`),
		chromedp.WaitVisible(chromedp.CSS("#backup-codes")))
	// "I have saved them" goes on to the app, which gets a sign-in with
	// two factors.
	do(t, ctx, click("#codes-saved"), chromedp.WaitVisible(chromedp.CSS("#rp")))
	if h := text(t, ctx, "#rp"); !strings.HasPrefix(h, "Signed in to Billing as ") {
		t.Fatalf("at the app: %q (%s)", h, rp.lastError)
	}
	var cl claims
	if err := rp.idToken.Claims(&cl); err != nil || !slices.Contains(cl.AMR, "mfa") {
		t.Fatalf("amr after setting up 2FA: %+v %v", cl, err)
	}
}

// noFollow is an HTTP client that does not follow redirects.
func noFollow() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// flow drives the authorization code flow over HTTP for a signed-in API
// client: /authorize, the portal's login page, back to the app's redirect
// URI, whose query it returns (code or error) without calling the app.
func flow(t *testing.T, c *apiClient, p *portal, rp *relyingParty, extra url.Values) (url.Values, string) {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	q := url.Values{"client_id": {rp.oauth.ClientID}, "redirect_uri": {rp.oauth.RedirectURL}, "response_type": {"code"},
		"scope": {"openid email offline_access"}, "state": {"st"}, "nonce": {"n"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
	for k, v := range extra {
		q[k] = v
	}
	client := &http.Client{Jar: c.http.Jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if !strings.HasPrefix(req.URL.String(), p.URL) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := client.Get(p.URL + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// The last step is a page that sends the browser on (meta refresh).
	if m := continueRE.FindStringSubmatch(string(body)); m != nil && resp.StatusCode == 200 {
		if resp, err = client.Get(p.URL + html.UnescapeString(m[1])); err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	callback := resp.Request.URL.String()
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, rp.srv.URL) {
		return url.Values{"portal_status": {fmt.Sprint(resp.StatusCode)}, "portal_url": {resp.Request.URL.String()}, "body": {string(body)}}, verifier
	}
	u, _ := url.Parse(loc)
	out := u.Query()
	out.Set("callback", callback) // the portal address that issued it
	return out, verifier
}

var continueRE = regexp.MustCompile(`<meta http-equiv="refresh" content="0;url=([^"]+)">`)

// exchange redeems a code at the token endpoint.
func exchange(t *testing.T, p *portal, rp *relyingParty, code, verifier string) (int, map[string]any) {
	t.Helper()
	return tokenCall(t, p, rp, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {rp.oauth.RedirectURL}, "code_verifier": {verifier}})
}

func tokenCall(t *testing.T, p *portal, rp *relyingParty, form url.Values) (int, map[string]any) {
	t.Helper()
	return clientPost(t, p, rp, "/oauth/token", form)
}

// clientPost posts a form to one of the provider's endpoints as the app
// rp, authenticated with its secret.
func clientPost(t *testing.T, p *portal, rp *relyingParty, path string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", p.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(rp.oauth.ClientID), url.QueryEscape(rpSecret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func userinfo(t *testing.T, p *portal, access string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", p.URL+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+access)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestOIDCProtocol: PKCE, redirect URIs, single-use codes, refresh token
// rotation with reuse detection, re-authentication, required 2FA, revoked
// access, deleted apps, key rotation and malformed requests.
func TestOIDCProtocol(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		clock := portaltest.NewClock(time.Now())
		dsn := storetest.DSN(t, dialect)
		p := runPortalClock(t, clock, map[string]string{"PORTAL_DATABASE_URL": dsn, "PORTAL_SECRET_KEYS": testKeys})
		rp := newRelyingParty(t, p, func(a *cp.App) { a.SkipConsent = true })
		c := newAPIClient(t, p.URL)
		if st, m := c.call("POST", "/api/v1/register", `{"email":"kim@example.com","password":"a long enough pass","name":"Kim"}`); st != 201 {
			t.Fatalf("register: %d %v", st, m)
		}
		c.call("POST", "/api/v1/login", `{"email":"kim@example.com","password":"a long enough pass"}`)
		if st, m := c.call("GET", "/api/v1/me", ""); st != 200 {
			t.Fatalf("me: %d %v", st, m)
		}

		t.Run("an old app gets RS256 ID tokens", func(t *testing.T) {
			old := newRelyingParty(t, p, func(a *cp.App) { a.SkipConsent, a.SigningAlg = true, "RS256" })
			q, verifier := flow(t, c, p, old, nil)
			st, m := exchange(t, p, old, q.Get("code"), verifier)
			if st != 200 {
				t.Fatalf("exchange: %d %v", st, m)
			}
			raw := m["id_token"].(string)
			if alg := jwtHeader(t, raw)["alg"]; alg != "RS256" {
				t.Fatalf("the old app's ID token is %v", alg)
			}
			if _, err := old.verifier.Verify(context.Background(), raw); err != nil {
				t.Fatalf("go-oidc does not verify the RS256 ID token: %v", err)
			}
			// Refreshed: RS256 again; the default app keeps ES256.
			st, m = tokenCall(t, p, old, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m["refresh_token"].(string)}})
			if st != 200 || jwtHeader(t, m["id_token"].(string))["alg"] != "RS256" {
				t.Fatalf("refresh: %d %v", st, m)
			}
			q, verifier = flow(t, c, p, rp, nil)
			if _, m := exchange(t, p, rp, q.Get("code"), verifier); jwtHeader(t, m["id_token"].(string))["alg"] != "ES256" {
				t.Fatal("the default app's ID token is not ES256")
			}
		})
		t.Run("PKCE is checked", func(t *testing.T) {
			q, _ := flow(t, c, p, rp, nil)
			if st, m := exchange(t, p, rp, q.Get("code"), oauth2.GenerateVerifier()); st != 400 || m["error"] != "invalid_grant" {
				t.Fatalf("wrong verifier: %d %v", st, m)
			}
			q, _ = flow(t, c, p, rp, url.Values{"code_challenge_method": {"plain"}, "code_challenge": {"abc"}})
			if q.Get("error") != "invalid_request" {
				t.Fatalf("plain PKCE: %v", q)
			}
		})
		t.Run("a request issues one code", func(t *testing.T) {
			q, _ := flow(t, c, p, rp, nil)
			if q.Get("code") == "" {
				t.Fatalf("first: %v", q)
			}
			// The same callback again (a reload, a second tab) gets an
			// error the app understands, never a second code.
			again := &http.Client{Jar: c.http.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := again.Get(q.Get("callback"))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if loc == nil || loc.Query().Get("code") != "" || loc.Query().Get("error") != "invalid_request" {
				t.Fatalf("the callback opened twice: %d %s", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
		t.Run("unregistered redirect URI is refused without redirecting", func(t *testing.T) {
			q, _ := flow(t, c, p, rp, url.Values{"redirect_uri": {"https://evil.example/cb"}})
			if q.Get("portal_status") != "400" || strings.Contains(q.Get("body"), "evil.example") && q.Get("code") != "" {
				t.Fatalf("unregistered redirect: %v", q)
			}
		})
		t.Run("a reused code revokes its tokens", func(t *testing.T) {
			q, v := flow(t, c, p, rp, nil)
			st, first := exchange(t, p, rp, q.Get("code"), v)
			if st != 200 || first["id_token"] == nil {
				t.Fatalf("first use: %d %v", st, first)
			}
			if st, m := exchange(t, p, rp, q.Get("code"), v); st != 400 || m["error"] != "invalid_grant" {
				t.Fatalf("second use: %d %v", st, m)
			}
			if st := userinfo(t, p, first["access_token"].(string)); st != 401 && st != 403 {
				t.Fatalf("access token of a reused code still works: %d", st)
			}
			if st, m := tokenCall(t, p, rp, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first["refresh_token"].(string)}}); st != 400 {
				t.Fatalf("refresh token of a reused code still works: %d %v", st, m)
			}
		})
		t.Run("20 parallel redemptions: exactly one", func(t *testing.T) {
			q, v := flow(t, c, p, rp, nil)
			var ok atomic.Int32
			var wg sync.WaitGroup
			for range 20 {
				wg.Go(func() {
					if st, m := exchange(t, p, rp, q.Get("code"), v); st == 200 {
						ok.Add(1)
					} else if st != 400 || m["error"] != "invalid_grant" {
						t.Errorf("a parallel redemption answered %d %v", st, m)
					}
				})
			}
			wg.Wait()
			if ok.Load() != 1 {
				t.Fatalf("%d redemptions succeeded", ok.Load())
			}
		})
		t.Run("a reused refresh token revokes the grant", func(t *testing.T) {
			q, v := flow(t, c, p, rp, nil)
			_, tok := exchange(t, p, rp, q.Get("code"), v)
			r1 := tok["refresh_token"].(string)
			st, next := tokenCall(t, p, rp, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r1}})
			if st != 200 {
				t.Fatalf("refresh: %d %v", st, next)
			}
			if st, m := tokenCall(t, p, rp, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r1}}); st != 400 || m["error"] != "invalid_grant" {
				t.Fatalf("reuse: %d %v", st, m)
			}
			if st, _ := tokenCall(t, p, rp, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next["refresh_token"].(string)}}); st != 400 {
				t.Fatalf("the rotated token survived the reuse: %d", st)
			}
			// The user can see it happened.
			if st, m := c.call("GET", "/api/v1/me/events", ""); st != 200 || !strings.Contains(fmt.Sprint(m), "app_token_reused") {
				t.Fatalf("no security event for the reuse: %d %v", st, m)
			}
		})
		t.Run("prompt=login and max_age ask again", func(t *testing.T) {
			clock.Add(2 * time.Minute)
			for _, extra := range []url.Values{{"prompt": {"login"}}, {"max_age": {"60"}}} {
				q, _ := flow(t, c, p, rp, extra)
				if !strings.Contains(q.Get("portal_url"), "/account/reauth") {
					t.Fatalf("%v: not asked to sign in again: %v", extra, q)
				}
			}
			q, _ := flow(t, c, p, rp, url.Values{"max_age": {"3600"}})
			if q.Get("code") == "" {
				t.Fatalf("a recent enough sign-in was asked again: %v", q)
			}
			q, _ = flow(t, newAPIClient(t, p.URL), p, rp, url.Values{"prompt": {"none"}})
			if q.Get("error") != "login_required" {
				t.Fatalf("prompt=none signed out: %v", q)
			}
		})
		t.Run("an app that requires 2FA", func(t *testing.T) {
			strict := newRelyingParty(t, p, func(a *cp.App) { a.SkipConsent, a.Requires2FA = true, true })
			q, _ := flow(t, c, p, strict, nil)
			if !strings.Contains(q.Get("body"), "requires two-factor authentication") {
				t.Fatalf("a user without 2FA got through: %v", q)
			}
		})
		t.Run("revoked access and deleted apps", func(t *testing.T) {
			q, v := flow(t, c, p, rp, nil)
			_, tok := exchange(t, p, rp, q.Get("code"), v)
			if st, _ := c.call("POST", "/account/apps/"+rp.oauth.ClientID+"/revoke", ""); st != 200 && st != 303 {
				t.Fatalf("revoke: %d", st)
			}
			if st, _ := tokenCall(t, p, rp, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}); st != 400 {
				t.Fatalf("refresh after revoking access: %d", st)
			}
			other := newRelyingParty(t, p, func(a *cp.App) { a.SkipConsent = true })
			q, v = flow(t, c, p, other, nil)
			_, tok = exchange(t, p, other, q.Get("code"), v)
			if err := p.Main.DB.DeleteApp(context.Background(), other.oauth.ClientID); err != nil {
				t.Fatal(err)
			}
			if st := userinfo(t, p, tok["access_token"].(string)); st == 200 {
				t.Fatal("a deleted app's access token still works")
			}
		})
		// Replicas share a PostgreSQL database.
		t.Run("two instances accept each other's tokens", func(t *testing.T) {
			if dialect != "postgres" {
				return
			}
			p2 := runPortalClock(t, clock, map[string]string{"PORTAL_DATABASE_URL": dsn, "PORTAL_SECRET_KEYS": testKeys})
			q, v := flow(t, c, p, rp, nil)
			st, tok := exchange(t, p2, rp, q.Get("code"), v) // the code from one, redeemed at the other
			if st != 200 {
				t.Fatalf("code of instance 1 at instance 2: %d %v", st, tok)
			}
			if st := userinfo(t, p2, tok["access_token"].(string)); st != 200 {
				t.Fatalf("userinfo at instance 2: %d", st)
			}
			if st := userinfo(t, p, tok["access_token"].(string)); st != 200 {
				t.Fatalf("userinfo at instance 1: %d", st)
			}
			keys := gooidc.NewRemoteKeySet(context.Background(), p.URL+"/keys")
			v1 := gooidc.NewVerifier(p2.URL, keys, &gooidc.Config{ClientID: rp.oauth.ClientID, SupportedSigningAlgs: []string{"ES256"}})
			if _, err := v1.Verify(context.Background(), tok["id_token"].(string)); err != nil {
				t.Fatalf("instance 2's ID token with instance 1's keys: %v", err)
			}
			if st, m := tokenCall(t, p, rp, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}); st != 200 {
				t.Fatalf("refresh at instance 1: %d %v", st, m)
			}
		})
		t.Run("failed client authentications are limited", func(t *testing.T) {
			var last map[string]any
			var status int
			for range 21 {
				req, _ := http.NewRequest("POST", p.URL+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(rp.oauth.ClientID, "a guess")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				last = nil
				json.NewDecoder(resp.Body).Decode(&last)
				resp.Body.Close()
				status = resp.StatusCode
				if status != 400 && status != 401 && status != 429 {
					t.Fatalf("wrong secret: %d %v", resp.StatusCode, last)
				}
			}
			if d, _ := last["error_description"].(string); status != 429 || last["error"] != "invalid_client" || !strings.Contains(d, "too many") {
				t.Fatalf("after 21 wrong secrets: %d %v", status, last)
			}
			// The app itself, with its secret, is not locked out.
			if st, m := tokenCall(t, p, rp, url.Values{"grant_type": {"client_credentials"}, "scope": {"email"}}); st != 200 {
				t.Fatalf("the real app after the guesses: %d %v", st, m)
			}
		})
		t.Run("malformed requests get the protocol's errors", func(t *testing.T) {
			for _, form := range []url.Values{{}, {"grant_type": {"password"}}, {"grant_type": {"authorization_code"}}, {"grant_type": {"refresh_token"}, "refresh_token": {"\x00"}}} {
				if st, m := tokenCall(t, p, rp, form); st >= 500 || m["error"] == nil {
					t.Errorf("token %v: %d %v", form, st, m)
				}
			}
			for _, q := range []string{"", "client_id=nope", "client_id=" + rp.oauth.ClientID + "&redirect_uri=%00"} {
				resp, err := noFollow().Get(p.URL + "/authorize?" + q)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode >= 500 {
					t.Errorf("authorize %q: %d", q, resp.StatusCode)
				}
			}
		})
		t.Run("rotated signing keys keep old tokens verifiable", func(t *testing.T) {
			q, v := flow(t, c, p, rp, nil)
			_, tok := exchange(t, p, rp, q.Get("code"), v)
			if _, err := provider.Rotate(context.Background(), p.Main.DB, keyring(t), time.Now()); err != nil {
				t.Fatal(err)
			}
			clock.Add(time.Minute) // past the key cache
			fresh := rp.provider.Verifier(&gooidc.Config{ClientID: rp.oauth.ClientID})
			if _, err := fresh.Verify(context.Background(), tok["id_token"].(string)); err != nil {
				t.Fatalf("old ID token after rotation: %v", err)
			}
			q, v = flow(t, c, p, rp, nil)
			_, tok2 := exchange(t, p, rp, q.Get("code"), v)
			if kid(t, tok2["id_token"].(string)) == kid(t, tok["id_token"].(string)) {
				t.Fatal("still signing with the old key")
			}
			if _, err := fresh.Verify(context.Background(), tok2["id_token"].(string)); err != nil {
				t.Fatalf("new ID token: %v", err)
			}
		})
	})
}

// kid is the key id in a JWT's header.
func kid(t *testing.T, jwt string) string {
	h, _, _ := strings.Cut(jwt, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct{ Kid string }
	json.Unmarshal(b, &hdr)
	return hdr.Kid
}

// keyring is the portal's PORTAL_SECRET_KEYS in these tests.
func keyring(t *testing.T) *mfa.Keyring {
	k, err := mfa.ParseKeyring(testKeys)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestAppsCommands: apps are registered, listed and deleted from the
// command line; a secret is printed once and never stored; signing keys
// are re-sealed by keys rotate and replaced by keys rotate-signing.
func TestAppsCommands(t *testing.T) {
	clock := portaltest.NewClock(time.Now())
	env := map[string]string{"PORTAL_DATA_DIR": t.TempDir()}
	out := runCommand(t, env, clock, "apps", "create", "--name", "Control panel", "--redirect-uri", "https://panel.example/oidc/callback",
		"--post-logout-uri", "https://panel.example/", "--requires-2fa", "--json")
	var created struct{ ClientID, ClientSecret string }
	if err := json.Unmarshal([]byte(strings.ReplaceAll(strings.ReplaceAll(out, "client_id", "ClientID"), "client_secret", "ClientSecret")), &created); err != nil || created.ClientID == "" || len(created.ClientSecret) < 40 {
		t.Fatalf("apps create: %q", out)
	}
	if list := runCommand(t, env, clock, "apps", "list"); !strings.Contains(list, created.ClientID) || !strings.Contains(list, "Control panel") || strings.Contains(list, created.ClientSecret) {
		t.Fatalf("apps list: %q", list)
	}
	for _, bad := range [][]string{{"--name", "X", "--redirect-uri", "http://panel.example/cb"}, {"--name", "X", "--redirect-uri", "https://panel.example/cb#frag"},
		{"--name", "", "--redirect-uri", "https://panel.example/cb"}, {"--name", "X"}, {"--name", "X", "--redirect-uri", "https://p.example/cb", "--scope", "admin"}} {
		m := main.NewMain()
		m.Getenv = func(k string) string { return env[k] }
		m.Stdout, m.Stderr = io.Discard, io.Discard
		if err := m.ParseFlags(context.Background(), append([]string{"apps", "create"}, bad...)); err != nil {
			t.Fatal(err)
		}
		if err := m.Run(context.Background()); err == nil {
			t.Errorf("apps create %v was accepted", bad)
		}
		m.Close()
	}
	p := runPortalClock(t, clock, env)
	// The published key set (its first request makes the first key) holds
	// public keys only.
	resp, err := http.Get(p.URL + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	var jwks struct{ Keys []map[string]any }
	json.NewDecoder(resp.Body).Decode(&jwks)
	resp.Body.Close()
	if len(jwks.Keys) != 1 || jwks.Keys[0]["alg"] != "ES256" || jwks.Keys[0]["d"] != nil {
		t.Fatalf("JWKS: %v", jwks)
	}
	p.Close()
	if out := runCommand(t, env, clock, "keys", "rotate"); !strings.Contains(out, "re-encrypted 1 ID token signing keys") {
		t.Fatalf("keys rotate: %q", out)
	}
	if out := runCommand(t, env, clock, "keys", "rotate-signing"); !strings.Contains(out, "new signing key") {
		t.Fatalf("keys rotate-signing: %q", out)
	}
	if out := runCommand(t, env, clock, "apps", "delete", created.ClientID); !strings.Contains(out, "deleted") {
		t.Fatalf("apps delete: %q", out)
	}
	if list := runCommand(t, env, clock, "apps", "list"); strings.Contains(list, created.ClientID) {
		t.Fatalf("still listed: %q", list)
	}
}

// jwtHeader decodes a JWT's header.
func jwtHeader(t *testing.T, jwt string) map[string]any {
	t.Helper()
	h, _, _ := strings.Cut(jwt, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}
