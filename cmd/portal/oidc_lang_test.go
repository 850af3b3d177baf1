package main_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/clientportal/portal/sqlstore/storetest"
)

// TestOIDCUILocales: an app's ui_locales picks the language of the
// portal's pages for its sign-in: the first one the portal speaks. A
// signed-in user's own choice of language is not changed by it.
func TestOIDCUILocales(t *testing.T) {
	p := runPortal(t, map[string]string{"PORTAL_DATABASE_URL": storetest.DSN(t, "sqlite"), "PORTAL_SECRET_KEYS": testKeys})
	rp := newRelyingParty(t, p, nil)
	authorize := func(hc *http.Client, locales string) (*http.Response, string) {
		t.Helper()
		q := url.Values{"client_id": {rp.oauth.ClientID}, "redirect_uri": {rp.oauth.RedirectURL}, "response_type": {"code"},
			"scope": {"openid email"}, "state": {"st"}, "nonce": {"n"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
		if locales != "" {
			q.Set("ui_locales", locales)
		}
		resp, err := hc.Get(p.URL + "/authorize?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	// A stranger (no cookies at all) lands on the sign-in page in Malay:
	// the first of the app's locales the portal speaks.
	resp, body := authorize(&http.Client{}, "sw ms-MY en")
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/login" || !strings.Contains(body, `<html lang="ms"`) {
		t.Fatalf("sign-in page for ui_locales=ms: %d %s\n%.300s", resp.StatusCode, resp.Request.URL, body)
	}
	// None of them: the usual language.
	if resp, body := authorize(&http.Client{}, "sw ko"); resp.Request.URL.Path != "/login" || !strings.Contains(body, `<html lang="en"`) {
		t.Fatalf("sign-in page for ui_locales=sw ko: %d %s\n%.300s", resp.StatusCode, resp.Request.URL, body)
	}

	// A signed-in user sees the consent page in Malay; their stored
	// language stays as it was.
	c := rvUser(t, p, "ms@example.com")
	before, err := p.Main.DB.UserByEmail(context.Background(), "ms@example.com")
	if err != nil {
		t.Fatal(err)
	}
	resp, body = authorize(&http.Client{Jar: c.http.Jar}, "ms")
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/oidc/login" || !strings.Contains(body, `id="consent-allow"`) || !strings.Contains(body, `<html lang="ms"`) {
		t.Fatalf("consent page for ui_locales=ms: %d %s\n%.300s", resp.StatusCode, resp.Request.URL, body)
	}
	after, err := p.Main.DB.UserByEmail(context.Background(), "ms@example.com")
	if err != nil || after.Locale != before.Locale {
		t.Fatalf("stored language %q, was %q (%v)", after.Locale, before.Locale, err)
	}
	// The language menu still switches: ?lang= wins over ui_locales.
	if st, _, body := rvGet(t, rvJar(c), p.URL+resp.Request.URL.RequestURI()+"&lang=de"); st != 200 || !strings.Contains(body, `<html lang="de"`) {
		t.Fatalf("consent page with lang=de: %d\n%.300s", st, body)
	}
}
