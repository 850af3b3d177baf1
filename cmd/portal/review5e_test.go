package main_test

// The fifth review (E): the OpenID Connect provider in depth and the staff
// console. Each TestReview5E… failed on the code before its fix.

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	cp "github.com/clientportal/portal"
	"github.com/clientportal/portal/portaltest"
	"github.com/clientportal/portal/sqlstore/storetest"
)

// rv5Staff makes an administrator with TOTP and returns a client signed in
// and in sudo mode (it has just proved password and code).
func rv5Staff(t *testing.T, p *portal, clock *portaltest.Clock, email string) *apiClient {
	t.Helper()
	if _, err := p.Server.CreateUser(context.Background(), email, "Ops", reviewPW, cp.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	s := newAPIClient(t, p.URL)
	if st, m := s.call("POST", "/api/v1/login", `{"email":"`+email+`","password":"`+reviewPW+`"}`); st != 200 || m["status"] != "2fa_setup_required" {
		t.Fatalf("staff login: %d %v", st, m)
	}
	_, m := s.call("POST", "/api/v1/me/2fa/totp", "")
	app := authFromSecret(t, m["secret"].(string))
	if st, m := s.call("POST", "/api/v1/me/2fa/totp/confirm", `{"code":"`+app.code(clock.Now())+`"}`); st != 200 {
		t.Fatalf("staff TOTP: %d %v", st, m)
	}
	return s
}

// rv5Post posts a console form as c and returns the status and body.
func rv5Post(t *testing.T, p *portal, c *apiClient, path string, form url.Values) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Jar: c.http.Jar}).PostForm(p.URL+path, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// rv5EditApp saves app id in the staff console (Apps → edit) with the
// given redirect URIs and scopes.
func rv5EditApp(t *testing.T, p *portal, staff *apiClient, id string, public bool, redirects, scopes []string) {
	t.Helper()
	f := url.Values{"id": {id}, "name": {"Billing"}, "redirect_uris": {strings.Join(redirects, "\n")}, "skip_consent": {"1"}, "scope": scopes}
	if public {
		f.Set("public", "1")
	}
	if st, body := rv5Post(t, p, staff, "/admin/apps", f); st != 200 || !strings.Contains(body, "was saved") {
		t.Fatalf("editing the app: %d %.300s", st, body)
	}
	app, err := p.DB.AppByID(context.Background(), id)
	if err != nil || strings.Join(app.RedirectURIs, " ") != strings.Join(redirects, " ") || strings.Join(app.Scopes, " ") != strings.Join(scopes, " ") {
		t.Fatalf("the edit did not take: %v %+v", err, app)
	}
}

// TestReview5EUnverifiedEmailLooksVerified: the claims of a user whose
// address was never verified carry the address and no email_verified at
// all (the library drops a false value), in the ID token, userinfo and
// introspection. OpenID Connect Core §5.1 says email_verified is false
// then; relying parties such as oauth2-proxy (the README's example) reject
// an address only when email_verified is present and false, so anyone who
// registers someone else's address — registration is open and needs no
// verification to sign in — is let in as that address.
func TestReview5EUnverifiedEmailLooksVerified(t *testing.T) {
	p := runPortalClock(t, portaltest.NewClock(time.Now()), map[string]string{"PORTAL_DATABASE_URL": storetest.DSN(t, "sqlite"), "PORTAL_SECRET_KEYS": testKeys})
	rp := newRelyingParty(t, p, func(a *cp.App) { a.SkipConsent = true })
	// The attacker registers the operator's CEO's address and never
	// verifies it.
	c := rvUser(t, p, "ceo@operator.example")
	q, v := flow(t, c, p, rp, nil)
	st, tok := exchange(t, p, rp, q.Get("code"), v)
	if st != 200 {
		t.Fatalf("exchange: %d %v", st, tok)
	}
	// As oauth2-proxy reads the ID token: Verified *bool.
	var idc struct {
		Email    string `json:"email"`
		Verified *bool  `json:"email_verified"`
	}
	raw, _ := tok["id_token"].(string)
	idToken, err := rp.verifier.Verify(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	idToken.Claims(&idc)
	if idc.Email != "ceo@operator.example" {
		t.Fatalf("ID token email %q", idc.Email)
	}
	if idc.Verified == nil || *idc.Verified {
		t.Errorf("the ID token names the unverified address %s with email_verified %v; want false (an absent claim passes oauth2-proxy's check)", idc.Email, idc.Verified)
	}
	// Userinfo and introspection say the same.
	req, _ := http.NewRequest("GET", p.URL+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok["access_token"].(string))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"email_verified":false`) {
		t.Errorf("userinfo of the unverified address: %s", body)
	}
	if _, m := rvIntrospect(t, p, rp, tok["access_token"].(string)); m["email_verified"] != false {
		t.Errorf("introspection of the unverified address: %v", m)
	}
	// A verified address still says true.
	u, _ := p.DB.UserByEmail(context.Background(), "ceo@operator.example")
	if err := p.DB.VerifyEmail(context.Background(), u.ID, u.Email, time.Now().Unix()); err != nil {
		t.Fatal(err)
	}
	q, v = flow(t, c, p, rp, nil)
	if _, tok = exchange(t, p, rp, q.Get("code"), v); rvClaims(t, tok["id_token"].(string))["email_verified"] != true {
		t.Errorf("a verified address: %v", rvClaims(t, tok["id_token"].(string)))
	}
}

// TestReview5ERemovedRedirectURIGetsCode: staff remove a redirect URI from
// an app (its domain was lost, say) while a sign-in request made for it is
// pending. The request keeps the URI it was made with, and neither the
// callback nor the token endpoint looks at the app's list again: for up to
// 30 minutes, whoever made such requests (with their own PKCE verifier, for
// a public app) gets codes, and tokens, of every user who follows the link.
func TestReview5ERemovedRedirectURIGetsCode(t *testing.T) {
	clock := portaltest.NewClock(time.Now())
	p := runPortalClock(t, clock, map[string]string{"PORTAL_DATABASE_URL": storetest.DSN(t, "sqlite"), "PORTAL_SECRET_KEYS": testKeys})
	rp := newRelyingParty(t, p, func(a *cp.App) { a.SkipConsent, a.Public, a.SecretHash = true, true, "" })
	staff := rv5Staff(t, p, clock, "ops@example.com")
	victim := rvUser(t, p, "victim@example.com")
	// Made by the attacker, who holds the old redirect URI, before the
	// edit.
	id, verifier := rvStart(t, p, rp, nil, nil)
	rv5EditApp(t, p, staff, rp.oauth.ClientID, true, []string{"https://panel.example.com/callback"}, []string{"openid", "email", "offline_access", "profile", "account"})

	_, loc, body := rvGet(t, rvJar(victim), p.URL+"/oidc/login?id="+url.QueryEscape(id))
	if code := rvFollow(t, p, rp, victim, body); code != "" {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {rp.oauth.RedirectURL}, "code_verifier": {verifier}, "client_id": {rp.oauth.ClientID}}
		resp, err := http.PostForm(p.URL+"/oauth/token", form)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Errorf("a code went to %s, which staff had removed from the app (token endpoint: %d %.80s)", rp.oauth.RedirectURL, resp.StatusCode, b)
	} else if strings.HasPrefix(loc, rp.srv.URL) {
		t.Errorf("the browser was sent to the removed redirect URI: %s", loc)
	}
	// A request for a URI still registered works.
	if q, _ := flow(t, victim, p, rp, url.Values{"redirect_uri": {"https://panel.example.com/callback"}}); q.Get("portal_status") == "500" {
		t.Errorf("a request for the remaining URI: %v", q)
	}
}

// TestReview5ERemovedScopeOutlivesEdit: staff take a scope (here
// "account", and "offline_access") away from an app. Refresh tokens keep
// the scopes of their first grant and rotate for ever, so the app goes on
// getting the account id and role, and new refresh tokens, that it is no
// longer registered for ("Only the scopes the app was registered for").
func TestReview5ERemovedScopeOutlivesEdit(t *testing.T) {
	clock := portaltest.NewClock(time.Now())
	p := runPortalClock(t, clock, map[string]string{"PORTAL_DATABASE_URL": storetest.DSN(t, "sqlite"), "PORTAL_SECRET_KEYS": testKeys})
	rp := newRelyingParty(t, p, func(a *cp.App) { a.SkipConsent = true })
	staff := rv5Staff(t, p, clock, "ops@example.com")
	c := rvUser(t, p, "kim@example.com")
	q, v := flow(t, c, p, rp, url.Values{"scope": {"openid email account offline_access"}})
	st, tok := exchange(t, p, rp, q.Get("code"), v)
	if st != 200 || tok["refresh_token"] == nil {
		t.Fatalf("exchange: %d %v", st, tok)
	}
	// Narrowed: the app may still ask for the address, nothing more.
	rv5EditApp(t, p, staff, rp.oauth.ClientID, false, []string{rp.oauth.RedirectURL}, []string{"openid", "email"})

	st, m := tokenCall(t, p, rp, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}})
	if st == 200 {
		cl := rvClaims(t, m["id_token"].(string))
		if cl["account_id"] != nil || m["refresh_token"] != nil || strings.Contains(m["scope"].(string), "account") {
			t.Errorf("after staff removed account and offline_access from the app, a refresh still gave scope %q, account_id %v and a new refresh token (%v)", m["scope"], cl["account_id"], m["refresh_token"] != nil)
		}
	}
	// The app's own scopes still work: a new sign-in gets the address.
	q, v = flow(t, c, p, rp, url.Values{"scope": {"openid email"}})
	if st, tok := exchange(t, p, rp, q.Get("code"), v); st != 200 || rvClaims(t, tok["id_token"].(string))["email"] != "kim@example.com" {
		t.Errorf("a sign-in within the app's scopes: %d %v", st, tok)
	}
}

// TestReview5ERequires2FAOutlivesEdit: staff turn on "requires 2FA" for
// an app. A user without 2FA can no longer sign in to it, but a refresh
// token they got before keeps rotating, for ever: the app goes on getting
// tokens for a user without 2FA, which the setting is there to prevent
// ("An app registered as requires 2FA sends a user without 2FA to set it
// up first").
func TestReview5ERequires2FAOutlivesEdit(t *testing.T) {
	clock := portaltest.NewClock(time.Now())
	p := runPortalClock(t, clock, map[string]string{"PORTAL_DATABASE_URL": storetest.DSN(t, "sqlite"), "PORTAL_SECRET_KEYS": testKeys})
	rp := newRelyingParty(t, p, func(a *cp.App) { a.SkipConsent = true })
	staff := rv5Staff(t, p, clock, "ops@example.com")
	c := rvUser(t, p, "no2fa@example.com")
	q, v := flow(t, c, p, rp, nil)
	st, tok := exchange(t, p, rp, q.Get("code"), v)
	if st != 200 || tok["refresh_token"] == nil {
		t.Fatalf("exchange: %d %v", st, tok)
	}
	f := url.Values{"id": {rp.oauth.ClientID}, "name": {"Billing"}, "redirect_uris": {rp.oauth.RedirectURL}, "skip_consent": {"1"}, "requires_2fa": {"1"},
		"scope": {"openid", "profile", "email", "offline_access", "account"}}
	if st, body := rv5Post(t, p, staff, "/admin/apps", f); st != 200 || !strings.Contains(body, "was saved") {
		t.Fatalf("editing the app: %d %.300s", st, body)
	}
	if q, _ := flow(t, c, p, rp, nil); q.Get("code") != "" {
		t.Fatal("a new sign-in without 2FA got a code")
	}
	if st, m := tokenCall(t, p, rp, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}); st == 200 {
		t.Errorf("the app now requires 2FA, and a user without it still refreshes (a new pair: %v)", m["refresh_token"] != nil)
	}
	// A user with 2FA refreshes as before.
	refreshesWith2FA(t, p, clock, rp, "with2fa@example.com")
}

// TestReview5EStaffSignOutLeavesAppTokens: staff "Sign them out
// everywhere" (reason: a hijacked session) ends the portal sessions only.
// Whatever apps the intruder signed in to with the hijacked session keep
// their tokens: the refresh token rotates for 30 days at a time, so the
// intruder stays in billing indefinitely, though the console said "The
// user was signed out everywhere".
func TestReview5EStaffSignOutLeavesAppTokens(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		clock := portaltest.NewClock(time.Now())
		p := runPortalClock(t, clock, map[string]string{"PORTAL_DATABASE_URL": storetest.DSN(t, dialect), "PORTAL_SECRET_KEYS": testKeys})
		rp := newRelyingParty(t, p, func(a *cp.App) { a.SkipConsent = true })
		staff := rv5Staff(t, p, clock, "ops@example.com")
		hijacked := rvUser(t, p, "kim@example.com")
		q, v := flow(t, hijacked, p, rp, nil)
		st, tok := exchange(t, p, rp, q.Get("code"), v)
		if st != 200 || tok["refresh_token"] == nil {
			t.Fatalf("exchange: %d %v", st, tok)
		}
		// A code collected but not yet redeemed, too.
		q2, v2 := flow(t, hijacked, p, rp, nil)
		u, _ := p.DB.UserByEmail(context.Background(), "kim@example.com")
		if st, body := rv5Post(t, p, staff, "/admin/users/"+u.ID+"/sessions/end", url.Values{"reason": {"session hijacked, ticket 12"}}); st != 200 || !strings.Contains(body, "signed out everywhere") {
			t.Fatalf("sign out everywhere: %d %.300s", st, body)
		}
		if me, _ := hijacked.call("GET", "/api/v1/me", ""); me != 401 {
			t.Fatalf("the portal session survived: %d", me)
		}
		if st, m := tokenCall(t, p, rp, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}); st == 200 {
			t.Errorf("after staff signed the user out everywhere, the app's refresh token still works (a new pair: %v)", m["refresh_token"] != nil)
		}
		if userinfo(t, p, tok["access_token"].(string)) == 200 {
			t.Errorf("after staff signed the user out everywhere, the app's access token still opens userinfo")
		}
		if st, _ := exchange(t, p, rp, q2.Get("code"), v2); st == 200 {
			t.Errorf("a code collected before staff signed the user out was redeemed after")
		}
		// The user signs in again and uses the app.
		c := newAPIClient(t, p.URL)
		c.call("POST", "/api/v1/login", `{"email":"kim@example.com","password":"`+reviewPW+`"}`)
		q, v = flow(t, c, p, rp, nil)
		if st, _ := exchange(t, p, rp, q.Get("code"), v); st != 200 {
			t.Errorf("signing in to the app again: %d", st)
		}
	})
}
