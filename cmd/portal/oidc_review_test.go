package main_test

// Security review of the OpenID Connect provider: proofs of concept. Each
// TestReviewXxx fails while the weakness it names is there and passes
// once it is fixed; TestReviewHeld pins attacks that were tried and held.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	cp "github.com/clientportal/portal"
	"github.com/clientportal/portal/portaltest"
	"github.com/clientportal/portal/sqlstore/storetest"
)

const reviewPW = "a long enough pass"

// reviewUser registers email and signs it in (password only) on a fresh
// cookie jar.
func rvUser(t *testing.T, p *portal, email string) *apiClient {
	t.Helper()
	c := newAPIClient(t, p.URL)
	if st, m := c.call("POST", "/api/v1/register", `{"email":"`+email+`","password":"`+reviewPW+`","name":"Rev"}`); st != 201 {
		t.Fatalf("register: %d %v", st, m)
	}
	if st, m := c.call("POST", "/api/v1/login", `{"email":"`+email+`","password":"`+reviewPW+`"}`); st != 200 {
		t.Fatalf("login: %d %v", st, m)
	}
	return c
}

// jarClient is an http.Client on c's cookies that does not follow redirects.
func rvJar(c *apiClient) *http.Client {
	return &http.Client{Jar: c.http.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// startRequest sends /authorize for rp from hc (nil: a stranger without
// cookies) and returns the pending request's id and the PKCE verifier.
func rvStart(t *testing.T, p *portal, rp *relyingParty, hc *http.Client, extra url.Values) (string, string) {
	t.Helper()
	if hc == nil {
		hc = noFollow()
	}
	verifier := oauth2.GenerateVerifier()
	q := url.Values{"client_id": {rp.oauth.ClientID}, "redirect_uri": {rp.oauth.RedirectURL}, "response_type": {"code"},
		"scope": {"openid email offline_access"}, "state": {"attacker-state"}, "nonce": {"n"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
	for k, v := range extra {
		q[k] = v
	}
	resp, err := hc.Get(p.URL + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Path != "/oidc/login" || loc.Query().Get("id") == "" {
		t.Fatalf("/authorize: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query().Get("id"), verifier
}

// get fetches path with hc and returns the status, Location and body.
func rvGet(t *testing.T, hc *http.Client, u string, hdr ...string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

// codeFrom returns the code of a redirect to rp, "" if it is not one.
func rvCode(rp *relyingParty, loc string) string {
	if !strings.HasPrefix(loc, rp.srv.URL) {
		return ""
	}
	u, _ := url.Parse(loc)
	return u.Query().Get("code")
}

// jwtClaims decodes a JWT's payload without checking it.
func rvClaims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}

// introspect asks the introspection endpoint as rp.
func rvIntrospect(t *testing.T, p *portal, rp *relyingParty, token string) (int, map[string]any) {
	t.Helper()
	return clientPost(t, p, rp, "/oauth/introspect", url.Values{"token": {token}})
}

// TestReviewCallbackNotBoundToBrowser: /authorize/callback hands the code
// of any completed request to whoever asks for it, with no check that the
// caller is the browser (session) that completed it. An attacker starts a
// sign-in at the app, gets the victim (signed in at the portal) to open
// /oidc/login?id=… (one link; no click at all for a skip-consent app),
// then fetches /authorize/callback?id=… before the victim's browser
// follows the meta refresh: the code comes with the attacker's state, and
// the attacker's browser completes the sign-in at the app as the victim.
func TestReviewCallbackNotBoundToBrowser(t *testing.T) {
	p := runPortalClock(t, portaltest.NewClock(time.Now()), map[string]string{"PORTAL_DATABASE_URL": storetest.DSN(t, "sqlite"), "PORTAL_SECRET_KEYS": testKeys})
	rp := newRelyingParty(t, p, func(a *cp.App) { a.SkipConsent = true })
	victim := rvUser(t, p, "victim@example.com")

	// The attacker starts the flow from their own (cookie-less) browser.
	id, verifier := rvStart(t, p, rp, nil, nil)
	// The victim opens the link; their browser shows "Signing you in…".
	if st, _, body := rvGet(t, rvJar(victim), p.URL+"/oidc/login?id="+url.QueryEscape(id)); st != 200 || !strings.Contains(body, "/authorize/callback") {
		t.Fatalf("victim at /oidc/login: %d", st)
	}
	// The attacker, without any cookie, asks for the code first.
	st, loc, _ := rvGet(t, noFollow(), p.URL+"/authorize/callback?id="+url.QueryEscape(id))
	code := rvCode(rp, loc)
	if code == "" {
		return // refused: fixed
	}
	st, tok := exchange(t, p, rp, code, verifier)
	sub := ""
	if raw, ok := tok["id_token"].(string); ok {
		sub, _ = rvClaims(t, raw)["email"].(string)
	}
	t.Fatalf("a stranger collected the victim's code from /authorize/callback (redeemed: %d, ID token email %q); the callback must check that the caller's session is the one that completed the request", st, sub)
}

// postConsent submits the consent form as c.
func rvConsent(t *testing.T, p *portal, c *apiClient, id string) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Jar: c.http.Jar}).PostForm(p.URL+"/oidc/consent", url.Values{"id": {id}, "allow": {"yes"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// follow takes the continue page's meta refresh and returns the code the
// callback gives, "" if none.
func rvFollow(t *testing.T, p *portal, rp *relyingParty, c *apiClient, page string) string {
	t.Helper()
	m := continueRE.FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	_, loc, _ := rvGet(t, rvJar(c), p.URL+strings.ReplaceAll(m[1], "&amp;", "&"))
	return rvCode(rp, loc)
}

// TestReviewConsentSkipsLoginChecks: POST /oidc/consent completes any
// pending request of the signed-in user without the checks GET
// /oidc/login makes first: an app's "requires 2FA" and the
// re-authentication that prompt=login / max_age ask for.
func TestReviewConsentSkipsLoginChecks(t *testing.T) {
	clock := portaltest.NewClock(time.Now())
	p := runPortalClock(t, clock, map[string]string{"PORTAL_DATABASE_URL": storetest.DSN(t, "sqlite"), "PORTAL_SECRET_KEYS": testKeys})
	c := rvUser(t, p, "no2fa@example.com")

	t.Run("requires 2FA", func(t *testing.T) {
		strict := newRelyingParty(t, p, func(a *cp.App) { a.Requires2FA = true })
		id, verifier := rvStart(t, p, strict, rvJar(c), nil)
		if _, _, body := rvGet(t, rvJar(c), p.URL+"/oidc/login?id="+id); !strings.Contains(body, "requires two-factor authentication") {
			t.Fatal("the login page did not ask for 2FA")
		}
		_, page := rvConsent(t, p, c, id)
		if code := rvFollow(t, p, strict, c, page); code != "" {
			st, _ := exchange(t, p, strict, code, verifier)
			t.Errorf("a user without 2FA got a code for an app that requires it by posting the consent form (token endpoint: %d)", st)
		}
	})
	t.Run("prompt=login", func(t *testing.T) {
		rp := newRelyingParty(t, p, nil)
		clock.Add(10 * time.Minute)
		id, verifier := rvStart(t, p, rp, rvJar(c), url.Values{"prompt": {"login"}})
		if _, loc, _ := rvGet(t, rvJar(c), p.URL+"/oidc/login?id="+id); !strings.Contains(loc, "/account/reauth") {
			t.Fatalf("prompt=login did not ask to sign in again: %q", loc)
		}
		_, page := rvConsent(t, p, c, id)
		if code := rvFollow(t, p, rp, c, page); code != "" {
			st, tok := exchange(t, p, rp, code, verifier)
			var at any
			if raw, ok := tok["id_token"].(string); ok {
				at = rvClaims(t, raw)["auth_time"]
			}
			t.Errorf("prompt=login was answered without signing in again, by posting the consent form (token endpoint %d, auth_time %v, now %d)", st, at, clock.Now().Unix())
		}
	})
}

// TestReviewIntrospectionIgnoresUser: introspection answers active:true
// for the access token of a user who was removed from the account (or
// disabled): SetIntrospectionFromToken drops the userinfo error. Userinfo
// and refresh refuse the same token.
func TestReviewIntrospectionIgnoresUser(t *testing.T) {
	p := runPortalClock(t, portaltest.NewClock(time.Now()), map[string]string{"PORTAL_DATABASE_URL": storetest.DSN(t, "sqlite"), "PORTAL_SECRET_KEYS": testKeys})
	rp := newRelyingParty(t, p, func(a *cp.App) { a.SkipConsent = true })
	c := rvUser(t, p, "member@example.com")
	q, v := flow(t, c, p, rp, nil)
	_, tok := exchange(t, p, rp, q.Get("code"), v)
	access := tok["access_token"].(string)
	sub := rvClaims(t, tok["id_token"].(string))["sub"].(string)
	if _, m := rvIntrospect(t, p, rp, access); m["active"] != true {
		t.Fatalf("introspection before: %v", m)
	}
	// What removing a member does (web/members.go removeMember).
	if err := p.Main.DB.DeleteUser(context.Background(), sub); err != nil {
		t.Fatal(err)
	}
	if st := userinfo(t, p, access); st == 200 {
		t.Fatal("userinfo accepted a removed user's token")
	}
	if _, m := rvIntrospect(t, p, rp, access); m["active"] == true {
		t.Fatalf("introspection says a removed user's access token is active: %v", m)
	}
}

// TestReviewGrantsSurviveCredentialChange: a password change (which signs
// out every other session "with the old password") and a staff 2FA reset
// (the remedy for a taken-over account) leave every app grant alive: a
// refresh token obtained by whoever held the account keeps working for
// its 30 days.
func TestReviewGrantsSurviveCredentialChange(t *testing.T) {
	p := runPortalClock(t, portaltest.NewClock(time.Now()), map[string]string{"PORTAL_DATABASE_URL": storetest.DSN(t, "sqlite"), "PORTAL_SECRET_KEYS": testKeys})
	rp := newRelyingParty(t, p, func(a *cp.App) { a.SkipConsent = true })
	c := rvUser(t, p, "owner@example.com")
	// The intruder's browser: same password, its own session and grant.
	intruder := newAPIClient(t, p.URL)
	intruder.call("POST", "/api/v1/login", `{"email":"owner@example.com","password":"`+reviewPW+`"}`)
	q, v := flow(t, intruder, p, rp, nil)
	_, tok := exchange(t, p, rp, q.Get("code"), v)
	refresh := tok["refresh_token"].(string)
	sub := rvClaims(t, tok["id_token"].(string))["sub"].(string)

	t.Run("password change", func(t *testing.T) {
		if st, m := c.call("POST", "/api/v1/me/password", `{"current_password":"`+reviewPW+`","new_password":"another long pass phrase"}`); st != 204 {
			t.Fatalf("password change: %d %v", st, m)
		}
		if st, _ := intruder.call("GET", "/api/v1/me", ""); st != 401 {
			t.Fatalf("the intruder's portal session survived: %d", st)
		}
		st, m := tokenCall(t, p, rp, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
		if st == 200 {
			refresh = m["refresh_token"].(string)
			t.Errorf("the intruder's refresh token still works after the password change")
		}
	})
	t.Run("staff 2FA reset", func(t *testing.T) {
		if err := p.Main.Server.ResetTwoFactor(context.Background(), sub, "", "account taken over"); err != nil {
			t.Fatal(err)
		}
		if st, _ := tokenCall(t, p, rp, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}); st == 200 {
			t.Errorf("an app's refresh token still works after a staff 2FA reset")
		}
	})
}

// TestReviewEndSessionLogoutCSRF: a plain GET of /end_session, with no
// id_token_hint and from another site, ends the portal session (the
// wrapper ends it whenever the library answers a redirect, and the path
// bypasses the cross-origin protection).
func TestReviewEndSessionLogoutCSRF(t *testing.T) {
	p := runPortalClock(t, portaltest.NewClock(time.Now()), map[string]string{"PORTAL_DATABASE_URL": storetest.DSN(t, "sqlite"), "PORTAL_SECRET_KEYS": testKeys})
	t.Run("GET", func(t *testing.T) {
		c := rvUser(t, p, "csrf-get@example.com")
		st, loc, _ := rvGet(t, rvJar(c), p.URL+"/end_session", "Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "navigate")
		if me, _ := c.call("GET", "/api/v1/me", ""); me != 200 {
			t.Errorf("a cross-site GET /end_session without id_token_hint (%d → %q) signed the user out of the portal", st, loc)
		}
	})
	t.Run("POST from another origin", func(t *testing.T) {
		c := rvUser(t, p, "csrf-post@example.com")
		req, _ := http.NewRequest("POST", p.URL+"/end_session", strings.NewReader(""))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://evil.example")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp, err := rvJar(c).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if me, _ := c.call("GET", "/api/v1/me", ""); me != 200 {
			t.Errorf("a cross-origin form POST to /end_session (%d) signed the user out of the portal", resp.StatusCode)
		}
	})
}

// TestReviewLogoutKeepsAppTokens: TerminateSession is documented as "ends
// the user's tokens for the app" but does nothing: after RP-initiated
// logout with the app's own id_token_hint, its refresh token still works.
func TestReviewLogoutKeepsAppTokens(t *testing.T) {
	p := runPortalClock(t, portaltest.NewClock(time.Now()), map[string]string{"PORTAL_DATABASE_URL": storetest.DSN(t, "sqlite"), "PORTAL_SECRET_KEYS": testKeys})
	rp := newRelyingParty(t, p, func(a *cp.App) { a.SkipConsent = true })
	c := rvUser(t, p, "logout@example.com")
	q, v := flow(t, c, p, rp, nil)
	_, tok := exchange(t, p, rp, q.Get("code"), v)
	end := url.Values{"id_token_hint": {tok["id_token"].(string)}, "post_logout_redirect_uri": {rp.srv.URL + "/bye"}}
	if _, loc, _ := rvGet(t, rvJar(c), p.URL+"/end_session?"+end.Encode()); !strings.HasPrefix(loc, rp.srv.URL+"/bye") {
		t.Fatalf("logout: %q", loc)
	}
	if st, _ := tokenCall(t, p, rp, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}); st == 200 {
		t.Errorf("the app's refresh token still works after RP-initiated logout")
	}
}

// TestReviewSecretKeyRotation: what PORTAL_SECRET_KEYS rotation does to
// the provider. The signing keys: `portal keys rotate` re-seals them since
// d1d59b9 (before it, dropping the old key broke /keys and the token
// endpoint with 500s); this subtest passes and guards that. The access
// tokens: the key that encrypts their ids is derived from the first key
// of the ring (keys.MAC), so putting a new key first - step one of a
// rotation - makes every live access token invalid at once, and replicas
// that do not yet have the same first key reject each other's tokens.
func TestReviewSecretKeyRotation(t *testing.T) {
	t.Run("signing keys are re-sealed", func(t *testing.T) {
		clock := portaltest.NewClock(time.Now())
		dir := t.TempDir()
		env := map[string]string{"PORTAL_DATA_DIR": dir}
		p := runPortalClock(t, clock, env)
		if st, _, _ := rvGet(t, noFollow(), p.URL+"/keys"); st != 200 {
			t.Fatalf("keys: %d", st)
		}
		p.Close()
		clock.Add(time.Minute)
		runCommand(t, env, clock, "keys", "rotate")
		path := filepath.Join(dir, "secret.keys")
		keys, _ := os.ReadFile(path)
		first, _, _ := strings.Cut(strings.TrimSpace(string(keys)), ",")
		if err := os.WriteFile(path, []byte(first+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		p2 := runPortalClock(t, clock, env)
		if st, _, body := rvGet(t, noFollow(), p2.URL+"/keys"); st != 200 {
			t.Errorf("after keys rotate and dropping the old key, /keys answers %d %.200s", st, body)
		}
	})
	t.Run("access tokens survive a new first key", func(t *testing.T) {
		clock := portaltest.NewClock(time.Now())
		dsn := storetest.DSN(t, "sqlite")
		p := runPortalClock(t, clock, map[string]string{"PORTAL_DATABASE_URL": dsn, "PORTAL_SECRET_KEYS": testKeys})
		rp := newRelyingParty(t, p, func(a *cp.App) { a.SkipConsent = true })
		c := rvUser(t, p, "rotate@example.com")
		q, v := flow(t, c, p, rp, nil)
		_, tok := exchange(t, p, rp, q.Get("code"), v)
		access := tok["access_token"].(string)
		// Step one of a rotation, on this replica: a new key first.
		p2 := runPortalClock(t, clock, map[string]string{"PORTAL_DATABASE_URL": dsn,
			"PORTAL_SECRET_KEYS": "k2:QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=," + testKeys})
		if st := userinfo(t, p, access); st != 200 {
			t.Fatalf("userinfo at the old replica: %d", st)
		}
		if st := userinfo(t, p2, access); st != 200 {
			t.Errorf("a live access token is refused (%d) once a new key is put first in PORTAL_SECRET_KEYS", st)
		}
	})
}

// TestReviewAuthorizeStoresHugeRequests: an unauthenticated /authorize
// stores whatever it is sent (here 60 KB of state in a POST body) as a
// row that lives 30 minutes plus an hour before pruning, with no limit on
// how many: a stranger fills the database.
func TestReviewAuthorizeStoresHugeRequests(t *testing.T) {
	clock := portaltest.NewClock(time.Now())
	p := runPortalClock(t, clock, map[string]string{"PORTAL_DATABASE_URL": storetest.DSN(t, "sqlite"), "PORTAL_SECRET_KEYS": testKeys})
	rp := newRelyingParty(t, p, nil)
	form := url.Values{"client_id": {rp.oauth.ClientID}, "redirect_uri": {rp.oauth.RedirectURL}, "response_type": {"code"}, "scope": {"openid"},
		"state": {strings.Repeat("A", 60000)}}
	stored := 0
	for i := range 50 {
		resp, err := noFollow().PostForm(p.URL+"/authorize", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		id := ""
		if loc != nil {
			id = loc.Query().Get("id")
		}
		if id == "" {
			if i == 0 {
				return // refused: fixed
			}
			break
		}
		r, err := p.Main.DB.AuthRequestByID(context.Background(), id, clock.Now().Unix())
		if err != nil {
			t.Fatal(err)
		}
		stored += len(r.Data)
	}
	if stored > 50*8192 {
		t.Fatalf("50 anonymous /authorize requests stored %d bytes", stored)
	}
}

// TestReviewServerErrors: a client_id PostgreSQL cannot store (a NUL
// byte, bytes that are not UTF-8) with a client_secret makes the token
// endpoint answer 500 for client_credentials (AuthorizeClientIDSecret
// counts the failure under the raw client_id, the limiter's insert fails
// and it answers server_error); and /end_session answers 500 to a query
// or body that is not form-encoded (the library's http.Error).
func TestReviewServerErrors(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		p := runPortalClock(t, portaltest.NewClock(time.Now()), map[string]string{"PORTAL_DATABASE_URL": storetest.DSN(t, dialect), "PORTAL_SECRET_KEYS": testKeys})
		rp := newRelyingParty(t, p, nil)
		for _, id := range []string{"a\x00b", "\xff\xfe", rp.oauth.ClientID + "\x00"} {
			for _, ep := range []struct {
				path string
				form url.Values
			}{
				{"/oauth/token", url.Values{"grant_type": {"client_credentials"}}},
				{"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}},
				{"/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "redirect_uri": {rp.oauth.RedirectURL}}},
				{"/oauth/introspect", url.Values{"token": {"x"}}},
				{"/revoke", url.Values{"token": {"x"}}},
			} {
				form := url.Values{"client_id": {id}, "client_secret": {"guess"}}
				for k, v := range ep.form {
					form[k] = v
				}
				resp, err := http.PostForm(p.URL+ep.path, form)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode >= 500 {
					t.Errorf("%s %s client_id %q: %d %.200s", ep.path, ep.form.Get("grant_type"), id, resp.StatusCode, b)
				}
			}
		}
		if st, _, body := rvGet(t, noFollow(), p.URL+"/end_session?a=%zz"); st >= 500 {
			t.Errorf("/end_session?a=%%zz: %d %.100s", st, body)
		}
	})
}

// TestReviewCodeBurnedWithoutClientAuth: the token endpoint redeems a
// code (marks it used) before it authenticates the client or checks the
// PKCE verifier (zitadel calls Storage.AuthRequestByCode first, and ours
// is RedeemAuthCode). Whoever sees a code - without the app's secret or
// verifier - destroys it, and once the app has redeemed it, a replay by
// anyone revokes the app's tokens.
func TestReviewCodeBurnedWithoutClientAuth(t *testing.T) {
	p := runPortalClock(t, portaltest.NewClock(time.Now()), map[string]string{"PORTAL_DATABASE_URL": storetest.DSN(t, "sqlite"), "PORTAL_SECRET_KEYS": testKeys})
	rp := newRelyingParty(t, p, func(a *cp.App) { a.SkipConsent = true })
	c := rvUser(t, p, "burn@example.com")
	q, v := flow(t, c, p, rp, nil)
	if q.Get("code") == "" {
		t.Fatalf("no code: %v", q)
	}
	// A stranger: the app's client_id, no secret, no verifier.
	resp, err := http.PostForm(p.URL+"/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
		"redirect_uri": {rp.oauth.RedirectURL}, "client_id": {rp.oauth.ClientID}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 200 {
		t.Fatal("redeemed without client authentication")
	}
	if st, m := exchange(t, p, rp, q.Get("code"), v); st != 200 {
		t.Errorf("an unauthenticated attempt (%d) used up the app's code: the app's own exchange answers %d %v", resp.StatusCode, st, m)
	}
}

// TestReviewHeld: attacks that were tried and held.
func TestReviewHeld(t *testing.T) {
	clock := portaltest.NewClock(time.Now())
	p := runPortalClock(t, clock, map[string]string{"PORTAL_DATABASE_URL": storetest.DSN(t, "sqlite"), "PORTAL_SECRET_KEYS": testKeys})
	rpA := newRelyingParty(t, p, func(a *cp.App) { a.SkipConsent = true })
	rpB := newRelyingParty(t, p, func(a *cp.App) { a.SkipConsent = true })
	pub := newRelyingParty(t, p, func(a *cp.App) { a.SkipConsent, a.Public, a.SecretHash = true, true, "" })
	narrow := newRelyingParty(t, p, func(a *cp.App) { a.SkipConsent, a.Scopes = true, []string{"openid", "email"} })
	c := rvUser(t, p, "held@example.com")

	t.Run("code of A redeemed by B", func(t *testing.T) {
		q, v := flow(t, c, p, rpA, nil)
		if q.Get("code") == "" {
			t.Fatalf("no code: %v", q)
		}
		if st, m := tokenCall(t, p, rpB, url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {rpA.oauth.RedirectURL}, "code_verifier": {v}}); st == 200 {
			t.Fatalf("B redeemed A's code: %v", m)
		}
	})
	t.Run("redirect_uri mismatch at the token endpoint", func(t *testing.T) {
		q, v := flow(t, c, p, rpA, nil)
		if st, _ := tokenCall(t, p, rpA, url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {rpA.oauth.RedirectURL + "x"}, "code_verifier": {v}}); st == 200 {
			t.Fatal("redirect_uri not compared")
		}
	})
	t.Run("PKCE downgrade", func(t *testing.T) {
		q, _ := flow(t, c, p, rpA, url.Values{"code_challenge": nil, "code_challenge_method": nil})
		if q.Get("code") == "" {
			t.Fatalf("confidential client without PKCE: %v", q)
		}
		if st, _ := exchange(t, p, rpA, q.Get("code"), oauth2.GenerateVerifier()); st == 200 {
			t.Fatal("verifier accepted without a challenge")
		}
		q, _ = flow(t, c, p, pub, url.Values{"code_challenge": nil, "code_challenge_method": nil})
		if q.Get("code") != "" {
			t.Fatal("public client without PKCE got a code")
		}
	})
	t.Run("client authentication", func(t *testing.T) {
		q, v := flow(t, c, p, rpA, nil)
		if q.Get("code") == "" {
			t.Fatalf("no code: %v", q)
		}
		form := url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {rpA.oauth.RedirectURL}, "code_verifier": {v}, "client_id": {rpA.oauth.ClientID}}
		if resp, err := http.PostForm(p.URL+"/oauth/token", form); err != nil || resp.StatusCode == 200 {
			t.Fatal("confidential client without secret")
		}
		form.Set("client_id", pub.oauth.ClientID)
		if resp, err := http.PostForm(p.URL+"/oauth/token", form); err != nil || resp.StatusCode == 200 {
			t.Fatal("A's code redeemed as the public client")
		}
	})
	t.Run("refresh token of A used by B; introspection and revocation across clients", func(t *testing.T) {
		q, v := flow(t, c, p, rpA, nil)
		_, tok := exchange(t, p, rpA, q.Get("code"), v)
		if st, _ := tokenCall(t, p, rpB, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}); st == 200 {
			t.Fatal("B refreshed A's token")
		}
		if _, m := rvIntrospect(t, p, rpB, tok["access_token"].(string)); m["active"] == true {
			t.Fatal("B introspected A's token")
		}
		if st, _ := tokenCall(t, p, rpA, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}); st != 200 {
			t.Fatalf("A's own refresh after B's attempts: %d", st)
		}
	})
	t.Run("scope escalation", func(t *testing.T) {
		q, v := flow(t, c, p, narrow, url.Values{"scope": {"openid email profile account offline_access"}})
		st, tok := exchange(t, p, narrow, q.Get("code"), v)
		if st != 200 || tok["refresh_token"] != nil || strings.Contains(tok["scope"].(string), "account") {
			t.Fatalf("scopes beyond the app's: %d %v", st, tok)
		}
		if cl := rvClaims(t, tok["id_token"].(string)); cl["account_id"] != nil || cl["name"] != nil {
			t.Fatalf("claims beyond the app's scopes: %v", cl)
		}
	})
	t.Run("JWKS holds no private key", func(t *testing.T) {
		_, _, body := rvGet(t, noFollow(), p.URL+"/keys")
		if strings.Contains(body, `"d"`) || !strings.Contains(body, `"x"`) {
			t.Fatalf("keys: %s", body)
		}
	})
	t.Run("open redirects", func(t *testing.T) {
		for _, ru := range []string{rpA.oauth.RedirectURL + "/../x", rpA.oauth.RedirectURL + "#f", strings.Replace(rpA.oauth.RedirectURL, "://", "://evil@", 1),
			rpA.oauth.RedirectURL + "?x=1", strings.ToUpper(rpA.oauth.RedirectURL[:4]) + rpA.oauth.RedirectURL[4:], rpA.oauth.RedirectURL + "%00"} {
			st, loc, _ := rvGet(t, noFollow(), p.URL+"/authorize?"+url.Values{"client_id": {rpA.oauth.ClientID}, "redirect_uri": {ru}, "response_type": {"code"}, "scope": {"openid"}}.Encode())
			if loc != "" {
				t.Errorf("redirect_uri %q: %d → %q", ru, st, loc)
			}
		}
		for _, pl := range []string{"https://evil.example/", rpA.srv.URL + "/bye/../x", rpA.srv.URL + "/bye?x"} {
			_, loc, _ := rvGet(t, noFollow(), p.URL+"/end_session?"+url.Values{"client_id": {rpA.oauth.ClientID}, "post_logout_redirect_uri": {pl}}.Encode())
			if strings.Contains(loc, "evil") || strings.HasPrefix(loc, "http") {
				t.Errorf("post_logout_redirect_uri %q → %q", pl, loc)
			}
		}
	})
	t.Run("amr of a remembered-browser sign-in", func(t *testing.T) {
		app := enable2FA(t, p, clock, "remember@example.com")
		clock.Add(30 * time.Second)
		b := newAPIClient(t, p.URL)
		b.call("POST", "/api/v1/login", `{"email":"remember@example.com","password":"`+reviewPW+`"}`)
		if st, m := b.call("POST", "/api/v1/login/2fa", `{"method":"totp","code":"`+app.code(clock.Now())+`","remember_browser":true}`); st != 200 {
			t.Fatalf("2fa: %d %v", st, m)
		}
		q, v := flow(t, b, p, rpA, nil)
		_, tok := exchange(t, p, rpA, q.Get("code"), v)
		if cl := rvClaims(t, tok["id_token"].(string)); cl["acr"] != "urn:clientportal:acr:mfa" {
			t.Fatalf("password and code: %v", cl)
		}
		b.call("POST", "/api/v1/logout", "")
		if st, m := b.call("POST", "/api/v1/login", `{"email":"remember@example.com","password":"`+reviewPW+`"}`); st != 200 || m["status"] != "authenticated" {
			t.Fatalf("remembered browser: %d %v", st, m)
		}
		q, v = flow(t, b, p, rpA, nil)
		_, tok = exchange(t, p, rpA, q.Get("code"), v)
		if cl := rvClaims(t, tok["id_token"].(string)); cl["acr"] != "urn:clientportal:acr:pwd" || strings.Contains(fmt.Sprint(cl["amr"]), "mfa") {
			t.Fatalf("a remembered browser's sign-in claims: %v", cl)
		}
	})
	t.Run("a completed request id cannot be completed again", func(t *testing.T) {
		id, _ := rvStart(t, p, rpA, rvJar(c), nil)
		rvGet(t, rvJar(c), p.URL+"/oidc/login?id="+id)
		other := rvUser(t, p, "other@example.com")
		if st, _, body := rvGet(t, rvJar(other), p.URL+"/oidc/login?id="+id); st == 200 && strings.Contains(body, "/authorize/callback") {
			t.Fatal("a second user completed the same request")
		}
	})
}

// TestReviewCallbackParameterPollution: the callback checks one request id
// and the provider library reads the id from the form, where a POST body
// comes before the query. An attacker's own completed request in the query
// and the victim's in the body gave the attacker the victim's code. Only a
// GET with a single id is served now, and the library sees that id alone.
func TestReviewCallbackParameterPollution(t *testing.T) {
	p := runPortalClock(t, portaltest.NewClock(time.Now()), map[string]string{"PORTAL_DATABASE_URL": storetest.DSN(t, "sqlite"), "PORTAL_SECRET_KEYS": testKeys})
	rp := newRelyingParty(t, p, func(a *cp.App) { a.SkipConsent = true })
	victim := rvUser(t, p, "victim@example.com")
	attacker := rvUser(t, p, "attacker@example.com")

	// A request the attacker's own session completed and did not collect.
	mine, _ := rvStart(t, p, rp, rvJar(attacker), nil)
	if st, _, body := rvGet(t, rvJar(attacker), p.URL+"/oidc/login?id="+url.QueryEscape(mine)); st != 200 || !strings.Contains(body, "/authorize/callback") {
		t.Fatalf("attacker at /oidc/login: %d", st)
	}
	// The victim completes the attacker's other request by opening a link.
	theirs, verifier := rvStart(t, p, rp, nil, nil)
	if st, _, body := rvGet(t, rvJar(victim), p.URL+"/oidc/login?id="+url.QueryEscape(theirs)); st != 200 || !strings.Contains(body, "/authorize/callback") {
		t.Fatalf("victim at /oidc/login: %d", st)
	}
	tries := map[string]func() *http.Request{
		"POST, the victim's id in the body": func() *http.Request {
			req, _ := http.NewRequest("POST", p.URL+"/authorize/callback?id="+url.QueryEscape(mine), strings.NewReader("id="+url.QueryEscape(theirs)))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return req
		},
		"GET, both ids in the query": func() *http.Request {
			req, _ := http.NewRequest("GET", p.URL+"/authorize/callback?id="+url.QueryEscape(mine)+"&id="+url.QueryEscape(theirs), nil)
			return req
		},
		"GET, the victim's id first": func() *http.Request {
			req, _ := http.NewRequest("GET", p.URL+"/authorize/callback?id="+url.QueryEscape(theirs)+"&id="+url.QueryEscape(mine), nil)
			return req
		},
	}
	for name, try := range tries {
		resp, err := rvJar(attacker).Do(try())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if code := rvCode(rp, resp.Header.Get("Location")); code != "" {
			st, tok := exchange(t, p, rp, code, verifier)
			email := ""
			if raw, ok := tok["id_token"].(string); ok {
				email, _ = rvClaims(t, raw)["email"].(string)
			}
			t.Errorf("%s: the attacker got a code (redeemed: %d, ID token email %q)", name, st, email)
		} else if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d; want 403", name, resp.StatusCode)
		}
	}
	// The victim's own browser still gets its code.
	if st, loc, _ := rvGet(t, rvJar(victim), p.URL+"/authorize/callback?id="+url.QueryEscape(theirs)); rvCode(rp, loc) == "" {
		t.Errorf("the victim's browser got no code: %d %q", st, loc)
	}
}

// TestReviewEndSessionRepeatedHint: the portal compared the first
// id_token_hint with the signed-in user and the library verified the
// last, so a forged hint naming the victim followed by any genuine ID
// token signed the victim out from another site. A repeated parameter is
// refused now.
func TestReviewEndSessionRepeatedHint(t *testing.T) {
	p := runPortalClock(t, portaltest.NewClock(time.Now()), map[string]string{"PORTAL_DATABASE_URL": storetest.DSN(t, "sqlite"), "PORTAL_SECRET_KEYS": testKeys})
	rp := newRelyingParty(t, p, func(a *cp.App) { a.SkipConsent = true })
	victim := rvUser(t, p, "victim@example.com")
	attacker := rvUser(t, p, "attacker@example.com")
	q, v := flow(t, attacker, p, rp, nil)
	_, tok := exchange(t, p, rp, q.Get("code"), v)
	genuine := tok["id_token"].(string)
	q, v = flow(t, victim, p, rp, nil)
	_, vt := exchange(t, p, rp, q.Get("code"), v)
	sub := rvClaims(t, vt["id_token"].(string))["sub"].(string)
	forged := "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"`+sub+`"}`)) + ".x"
	for _, second := range []string{"id_token_hint", "ID_TOKEN_HINT", "Id_Token_Hint"} {
		// The library's decoder matches names without case; the map
		// order it decodes in varies, so each is tried several times.
		u := p.URL + "/end_session?id_token_hint=" + url.QueryEscape(forged) + "&" + second + "=" + url.QueryEscape(genuine)
		for range 8 {
			st, _, _ := rvGet(t, rvJar(victim), u, "Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "navigate")
			if me, _ := victim.call("GET", "/api/v1/me", ""); me != 200 {
				t.Fatalf("a cross-site link with id_token_hint and %s (%d) signed the victim out of the portal", second, st)
			}
			if st != http.StatusBadRequest {
				t.Errorf("id_token_hint and %s: %d; want 400", second, st)
			}
		}
	}
	// The attacker's genuine hint alone, from the victim's browser: the
	// attacker's app tokens end, the victim's portal session does not.
	st, _, _ := rvGet(t, rvJar(victim), p.URL+"/end_session?id_token_hint="+url.QueryEscape(genuine), "Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "navigate")
	if me, _ := victim.call("GET", "/api/v1/me", ""); me != 200 {
		t.Errorf("another user's ID token hint (%d) signed the victim out of the portal", st)
	}
	// The victim's own hint signs the victim out.
	own := vt["id_token"].(string)
	rvGet(t, rvJar(victim), p.URL+"/end_session?id_token_hint="+url.QueryEscape(own))
	if me, _ := victim.call("GET", "/api/v1/me", ""); me != 401 {
		t.Errorf("the victim's own ID token hint left the portal session: %d", me)
	}
}

// TestReviewCodeOutlivesPasswordChange: a code collected by an intruder
// just before the owner changed the password (which ends every session and
// app token) still gave tokens, a refresh token among them. Redeeming a
// code now needs its sign-in's session to stand.
func TestReviewCodeOutlivesPasswordChange(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		p := runPortalClock(t, portaltest.NewClock(time.Now()), map[string]string{"PORTAL_DATABASE_URL": storetest.DSN(t, dialect), "PORTAL_SECRET_KEYS": testKeys})
		rp := newRelyingParty(t, p, func(a *cp.App) { a.SkipConsent = true })
		owner := rvUser(t, p, "owner@example.com")
		intruder := newAPIClient(t, p.URL)
		if st, m := intruder.call("POST", "/api/v1/login", `{"email":"owner@example.com","password":"`+reviewPW+`"}`); st != 200 {
			t.Fatalf("intruder login: %d %v", st, m)
		}
		q, v := flow(t, intruder, p, rp, nil)
		if q.Get("code") == "" {
			t.Fatal("no code")
		}
		if st, m := owner.call("POST", "/api/v1/me/password", `{"current_password":"`+reviewPW+`","new_password":"another long pass phrase"}`); st != 204 {
			t.Fatalf("password change: %d %v", st, m)
		}
		if st, tok := exchange(t, p, rp, q.Get("code"), v); st == 200 {
			t.Errorf("a code issued before the password change was redeemed after it: %v", tok["token_type"])
		} else if tok["error"] != "invalid_grant" {
			t.Errorf("refused with %d %v; want invalid_grant", st, tok)
		}
		// The owner's own sign-in at the app still works.
		q, v = flow(t, owner, p, rp, nil)
		if st, _ := exchange(t, p, rp, q.Get("code"), v); st != 200 {
			t.Errorf("the owner's own code after the change: %d", st)
		}
	})
}
