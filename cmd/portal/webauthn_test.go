package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/clientportal/portal/portaltest"
)

// addKey plugs a virtual CTAP2 security key into the tab.
func addKey(t *testing.T, ctx context.Context) webauthn.AuthenticatorID {
	t.Helper()
	return addAuthenticator(t, ctx, webauthn.AuthenticatorTransportUsb, true)
}

// addAuthenticator adds a virtual CTAP2 authenticator that can keep
// passkeys (resident keys) and verifies the user or not.
func addAuthenticator(t *testing.T, ctx context.Context, transport webauthn.AuthenticatorTransport, verifies bool) webauthn.AuthenticatorID {
	t.Helper()
	res, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: transport,
		HasUserVerification: verifies, IsUserVerified: verifies, AutomaticPresenceSimulation: true, HasResidentKey: true,
	}})
	if err != nil {
		t.Fatal(err)
	}
	return res.AuthenticatorID
}

// unplug removes a key and returns its credentials (with private keys), so
// the same key can be plugged in again later.
func unplug(t *testing.T, ctx context.Context, id webauthn.AuthenticatorID) []*webauthn.Credential {
	t.Helper()
	res, err := chromedp.Call(ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, webauthn.RemoveVirtualAuthenticator, webauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: id}); err != nil {
		t.Fatal(err)
	}
	return res.Credentials
}

// keyMaterial is the part of a virtual credential that moves between
// authenticators. cdproto's Credential always sends the CMTG extension
// fields, which authenticators without that extension refuse.
type keyMaterial struct {
	CredentialID         []byte  `json:"credentialId"`
	IsResidentCredential bool    `json:"isResidentCredential"`
	RpID                 string  `json:"rpId"`
	PrivateKey           []byte  `json:"privateKey"`
	UserHandle           []byte  `json:"userHandle,omitempty"`
	SignCount            float64 `json:"signCount"`
}

type addKeyMaterialParams struct {
	AuthenticatorID webauthn.AuthenticatorID `json:"authenticatorId"`
	Credential      *keyMaterial             `json:"credential"`
}

var addKeyMaterial = cdp.Command[addKeyMaterialParams, cdp.Empty]{Method: "WebAuthn.addCredential"}

// plug adds a key holding creds.
func plug(t *testing.T, ctx context.Context, creds []*webauthn.Credential) webauthn.AuthenticatorID {
	t.Helper()
	id := addKey(t, ctx)
	addCredentials(t, ctx, id, creds)
	return id
}

func enableWebAuthn(t *testing.T, ctx context.Context) {
	t.Helper()
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatal(err)
	}
}

// sign asks the tab's keys to answer assertion options (JSON from the
// portal), as a page's script would, and returns the credential JSON.
func sign(t *testing.T, ctx context.Context, options map[string]any) (string, error) {
	t.Helper()
	opts, _ := json.Marshal(options["publicKey"])
	return chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(async () => {
		const c = await navigator.credentials.get({publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(%s)});
		return JSON.stringify(c.toJSON());
	})()`, opts), chromedp.EvalAwaitPromise))
}

// passwordStep signs an API client in with the password only.
func passwordStepAPI(t *testing.T, base, email string) *apiClient {
	c := newAPIClient(t, base)
	if _, m := c.call("POST", "/api/v1/login", `{"email":"`+email+`","password":"a long enough pass"}`); m["status"] != "2fa_required" {
		t.Fatalf("password step for %s: %v", email, m)
	}
	return c
}

// registerKey signs up in the browser tab and registers one key named name.
func registerKey(t *testing.T, ctx context.Context, base, who, name string) {
	do(t, ctx, chromedp.Navigate(base+"/register"), chromedp.WaitVisible(chromedp.CSS("#name")),
		fill(map[string]string{"#name": who, "#email": strings.ToLower(who) + "@example.com", "#password": "a long enough pass", "#password_confirm": "a long enough pass"}),
		click("main button[type=submit]"), chromedp.WaitVisible(chromedp.CSS(".flash")))
	addSecondKey(t, ctx, base, name, true)
}

func addSecondKey(t *testing.T, ctx context.Context, base, name string, first bool) {
	do(t, ctx, chromedp.Navigate(base+"/account/2fa"), chromedp.WaitVisible(chromedp.CSS("#key-name")),
		fill(map[string]string{"#key-name": name}), click("#webauthn-register button"))
	if first {
		do(t, ctx, chromedp.WaitVisible(chromedp.CSS("#backup-codes")))
		if n := len(texts(t, ctx, "#backup-codes li")); n != 10 {
			t.Fatalf("%d backup codes shown", n)
		}
		do(t, ctx, click("#webauthn-result a.button"))
	}
	do(t, ctx, waitText(".methods tbody", name))
	if !first {
		// A key added next to other methods is confirmed on the page.
		if f := text(t, ctx, ".flash"); !strings.Contains(f, "ready to use") {
			t.Fatalf("after adding %s: flash %q", name, f)
		}
	}
}

// TestBrowserSecurityKeys: register two keys, sign in with each, remove one;
// and refuse an assertion made with another user's key, one made for
// another origin, and a replayed one.
func TestBrowserSecurityKeys(t *testing.T) {
	ctx := portaltest.Browser(t)
	clock := portaltest.NewClock(time.Now())
	p := runPortalClock(t, clock, nil)
	enableWebAuthn(t, ctx)

	keyA := addKey(t, ctx)
	registerKey(t, ctx, p.URL, "Kim", "Key A")
	credsA := unplug(t, ctx, keyA)
	keyB := addKey(t, ctx)
	addSecondKey(t, ctx, p.URL, "Key B", false)
	screenshot(t, ctx, "security-keys")
	if rows := texts(t, ctx, ".methods tbody tr"); len(rows) != 2 {
		t.Fatalf("methods: %v", rows)
	}

	signInWithKey := func() {
		do(t, ctx, signOutClick(), chromedp.WaitVisible(chromedp.CSS("#password")),
			fill(map[string]string{"#email": "kim@example.com", "#password": "a long enough pass"}),
			click("main button[type=submit]"), chromedp.WaitVisible(chromedp.CSS("#webauthn-login")))
		do(t, ctx, click("#webauthn-login"), chromedp.WaitVisible(chromedp.CSS("nav")), waitText("h1", "Welcome"))
	}
	signInWithKey() // with key B
	credsB := unplug(t, ctx, keyB)
	keyA = plug(t, ctx, credsA)
	signInWithKey() // with key A

	// Remove key B; it no longer signs in.
	do(t, ctx, chromedp.Navigate(p.URL+"/account/security"), chromedp.WaitVisible(chromedp.CSS(".methods")))
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const row = Array.from(document.querySelectorAll(".methods tbody tr")).find(r => r.textContent.includes("Key B"));
		row.querySelector('a.remove-method').click(); return true })()`)); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, chromedp.WaitVisible(chromedp.CSS("#confirm-yes")), click("#confirm-yes"), waitText(".flash", "removed"))
	if rows := texts(t, ctx, ".methods tbody tr"); len(rows) != 1 || !strings.Contains(rows[0], "Key A") {
		t.Fatalf("after removing key B: %v", rows)
	}

	// The attacks, from an API client holding Kim's password-level session;
	// the browser's keys answer as a victim's (or attacker's) key would.
	kim := passwordStepAPI(t, p.URL, "kim@example.com")
	_, opts := kim.call("POST", "/api/v1/login/2fa/webauthn/begin", "")

	// 1. Key B (removed) answering Kim's challenge: not one of her keys now.
	tab := portaltest.NewTab(t, ctx)
	enableWebAuthn(t, tab)
	tabKey := plug(t, tab, credsB)
	do(t, tab, chromedp.Navigate(p.URL+"/login"))
	forged := withAllow(opts, credsB[0].CredentialID)
	if a, err := sign(t, tab, forged); err != nil {
		t.Fatalf("sign with key B: %v", err)
	} else if st, m := kim.call("POST", "/api/v1/login/2fa/webauthn/finish", `{"credential":`+a+`}`); st != 401 {
		t.Fatalf("removed key accepted: %d %v", st, m)
	}

	// 2. Another user's key: Lee's key answering Kim's challenge.
	lee := portaltest.NewTab(t, ctx)
	enableWebAuthn(t, lee)
	leeKey := addKey(t, lee)
	registerKey(t, lee, p.URL, "Lee", "Lee's key")
	credsLee := unplug(t, lee, leeKey)
	unplug(t, tab, tabKey)
	tabKey = plug(t, tab, credsLee)
	_, opts = kim.call("POST", "/api/v1/login/2fa/webauthn/begin", "")
	if a, err := sign(t, tab, withAllow(opts, credsLee[0].CredentialID)); err != nil {
		t.Fatalf("sign with Lee's key: %v", err)
	} else if st, m := kim.call("POST", "/api/v1/login/2fa/webauthn/finish", `{"credential":`+a+`}`); st != 401 {
		t.Fatalf("another user's key accepted: %d %v", st, m)
	}

	// 3. A phishing page on another origin relays Kim's challenge to her key.
	phish := phishingSite(t)
	// A copy of key A as it is now (its counter current).
	current, err := chromedp.Call(ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: keyA})
	if err != nil {
		t.Fatal(err)
	}
	unplug(t, tab, tabKey)
	tabKey = plug(t, tab, current.Credentials)
	do(t, tab, chromedp.Navigate(phish))
	_, opts = kim.call("POST", "/api/v1/login/2fa/webauthn/begin", "")
	if a, err := sign(t, tab, opts); err != nil {
		t.Fatalf("sign on the phishing page: %v", err)
	} else if st, m := kim.call("POST", "/api/v1/login/2fa/webauthn/finish", `{"credential":`+a+`}`); st != 401 {
		t.Fatalf("assertion for another origin accepted: %d %v", st, m)
	}

	// 4. A good assertion works once; replayed, it is refused.
	do(t, tab, chromedp.Navigate(p.URL+"/login"))
	_, opts = kim.call("POST", "/api/v1/login/2fa/webauthn/begin", "")
	good, err := sign(t, tab, opts)
	if err != nil {
		t.Fatal(err)
	}
	if st, m := kim.call("POST", "/api/v1/login/2fa/webauthn/finish", `{"credential":`+good+`}`); st != 200 {
		t.Fatalf("good assertion: %d %v", st, m)
	}
	again := passwordStepAPI(t, p.URL, "kim@example.com")
	again.call("POST", "/api/v1/login/2fa/webauthn/begin", "")
	if st, m := again.call("POST", "/api/v1/login/2fa/webauthn/finish", `{"credential":`+good+`}`); st != 401 {
		t.Fatalf("replayed assertion accepted: %d %v", st, m)
	}

	// 5. A clone of key A taken before its last uses: the counter went
	// backwards, so it is refused and recorded.
	clock.Add(time.Hour) // past the attempt delay the attacks earned
	unplug(t, tab, tabKey)
	plug(t, tab, credsA)
	do(t, tab, chromedp.Navigate(p.URL+"/login"))
	clone := passwordStepAPI(t, p.URL, "kim@example.com")
	_, opts = clone.call("POST", "/api/v1/login/2fa/webauthn/begin", "")
	if a, err := sign(t, tab, opts); err != nil {
		t.Fatal(err)
	} else if st, m := clone.call("POST", "/api/v1/login/2fa/webauthn/finish", `{"credential":`+a+`}`); st != 401 || !strings.Contains(fmt.Sprint(m), "counter went backwards") {
		t.Fatalf("cloned key: %d %v", st, m)
	}
	u, _ := p.DB.UserByEmail(context.Background(), "kim@example.com")
	evs, _ := p.DB.UserEvents(context.Background(), u.ID, 50)
	found := false
	for _, e := range evs {
		found = found || e.Type == "key_counter_regressed"
	}
	if !found {
		t.Fatal("no security event for the cloned key")
	}
}

// withAllow rewrites assertion options to name one credential.
func withAllow(opts map[string]any, credID []byte) map[string]any {
	pk := opts["publicKey"].(map[string]any)
	cp := map[string]any{}
	for k, v := range pk {
		cp[k] = v
	}
	cp["allowCredentials"] = []any{map[string]any{"type": "public-key", "id": b64url(credID)}}
	return map[string]any{"publicKey": cp}
}

func b64url(b []byte) string {
	s, _ := json.Marshal(b) // standard base64 in quotes
	out := strings.Trim(string(s), `"`)
	out = strings.NewReplacer("+", "-", "/", "_", "=", "").Replace(out)
	return out
}

// phishingSite serves an empty page on another port of localhost: a
// different origin with the same relying party id.
func phishingSite(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<!doctype html><title>Client Portal</title><p>Please sign in")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return "http://localhost:" + port + "/"
}
