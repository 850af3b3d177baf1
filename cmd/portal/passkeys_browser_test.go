package main_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/clientportal/portal/portaltest"
)

// addPlatformAuthenticator adds a virtual built-in authenticator (the
// kind that holds passkeys), verifying the user or not.
func addPlatformAuthenticator(t *testing.T, ctx context.Context, verifies bool) webauthn.AuthenticatorID {
	t.Helper()
	return addAuthenticator(t, ctx, webauthn.AuthenticatorTransportInternal, verifies)
}

// addPasskey adds a passkey named name from the Security page.
func addPasskey(t *testing.T, ctx context.Context, base, name string, first bool) {
	t.Helper()
	do(t, ctx, chromedp.Navigate(base+"/account/security"), chromedp.WaitVisible(chromedp.CSS("#add-passkey")),
		click("#add-passkey"), chromedp.WaitVisible(chromedp.CSS("#passkey-name")),
		fill(map[string]string{"#passkey-name": name}), click("#passkey-register button"))
	if first {
		do(t, ctx, chromedp.WaitVisible(chromedp.CSS("#backup-codes")))
		if n := len(texts(t, ctx, "#backup-codes li")); n != 10 {
			t.Fatalf("%d backup codes shown", n)
		}
		do(t, ctx, click("#passkey-result a.button"))
	}
	do(t, ctx, waitText(".methods tbody", name))
}

// signOutNow ends the tab's session from any page.
func signOutNow(t *testing.T, ctx context.Context, base string) {
	t.Helper()
	do(t, ctx, chromedp.Navigate(base+"/recover"), chromedp.WaitVisible(chromedp.CSS("#email")))
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`fetch("/logout", {method: "POST"}).then(() => true)`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserPasskeys walks passkeys in Chromium with virtual
// authenticators: add one from Security settings (it turns 2FA on), sign
// in with it alone from the button and from autofill, use it as the
// second step after a password; a passkey answer without user
// verification and a removed passkey do not sign in.
func TestBrowserPasskeys(t *testing.T) {
	ctx := portaltest.Browser(t)
	p := runPortalClock(t, portaltest.NewClock(time.Now()), nil)
	enableWebAuthn(t, ctx)
	laptop := addPlatformAuthenticator(t, ctx, true)

	do(t, ctx, chromedp.Navigate(p.URL+"/register"), chromedp.WaitVisible(chromedp.CSS("#name")),
		fill(map[string]string{"#name": "Pat", "#email": "pat@example.com", "#password": "a long enough pass", "#password_confirm": "a long enough pass"}),
		click("main button[type=submit]"), chromedp.WaitVisible(chromedp.CSS(".flash")))
	addPasskey(t, ctx, p.URL, "This laptop", true)
	if s := text(t, ctx, "#summary-2fa"); s != "Activated" {
		t.Fatalf("2FA after the first passkey: %q", s)
	}
	if s := text(t, ctx, "#passkey-count"); !strings.Contains(s, "1 passkey") {
		t.Fatalf("passkey count: %q", s)
	}
	screenshot(t, ctx, "passkeys")

	// Autofill: the sign-in page asks with mediation "conditional" as it
	// loads, and the virtual authenticator answers at once (a person
	// would pick the passkey from the email field's suggestions).
	signOutNow(t, ctx, p.URL)
	do(t, ctx, chromedp.Navigate(p.URL+"/login"), waitText("h1", "Welcome, Pat"))
	if rows := sessionMethods(t, ctx, p.URL); !strings.Contains(rows, "Passkey") {
		t.Fatalf("the session list does not say passkey: %s", rows)
	}

	// A browser without autofill: the button, still without an email
	// address or a password.
	noAutofill(t, ctx)
	signOutNow(t, ctx, p.URL)
	do(t, ctx, chromedp.Navigate(p.URL+"/login"), chromedp.WaitVisible(chromedp.CSS("#passkey-login")))
	if ac, _ := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("#email"), "autocomplete")); ac.Value != "username webauthn" {
		t.Fatalf("the email field's autocomplete: %q", ac.Value)
	}
	screenshot(t, ctx, "sign-in-passkey")
	do(t, ctx, click("#passkey-login"), waitText("h1", "Welcome, Pat"))

	// After a password, the passkey answers the second step.
	signOutNow(t, ctx, p.URL)
	do(t, ctx, chromedp.Navigate(p.URL+"/login"), chromedp.WaitVisible(chromedp.CSS("#email")),
		fill(map[string]string{"#email": "pat@example.com", "#password": "a long enough pass"}),
		click("main button[type=submit]"), chromedp.WaitVisible(chromedp.CSS("#webauthn-login")))
	if b := text(t, ctx, "#webauthn-login"); b != "Use passkey" {
		t.Fatalf("the second step's button: %q", b)
	}
	do(t, ctx, click("#webauthn-login"), waitText("h1", "Welcome, Pat"))

	// An authenticator that does not verify the user, holding the same
	// passkey, answers a request that did not insist: the portal refuses
	// it for a passwordless sign-in.
	creds := credentialsOf(t, ctx, laptop)
	weak := portaltest.NewTab(t, ctx)
	enableWebAuthn(t, weak)
	weakID := addPlatformAuthenticator(t, weak, false)
	addCredentials(t, weak, weakID, creds)
	do(t, weak, chromedp.Navigate(p.URL+"/recover"), chromedp.WaitVisible(chromedp.CSS("#email")))
	got, err := chromedp.Run(weak, chromedp.Evaluate[string](`(async () => {
		const post = (u, b) => fetch(u, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(b || {})});
		const o = await (await post("/api/v1/login/passkey/begin")).json();
		o.publicKey.userVerification = "discouraged";
		o.publicKey.allowCredentials = [{type: "public-key", id: "`+base64.RawURLEncoding.EncodeToString(creds[0].CredentialID)+`"}];
		const c = await navigator.credentials.get({publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(o.publicKey)});
		const r = await post("/api/v1/login/passkey/finish", {credential: c.toJSON()});
		return r.status + " " + await r.text();
	})()`, chromedp.EvalAwaitPromise))
	if err != nil || !strings.HasPrefix(got, "401 ") || !strings.Contains(got, "fingerprint, face or device PIN") {
		t.Fatalf("a passkey answer without user verification: %q %v", got, err)
	}

	// A second passkey, then the first removed: it no longer signs in.
	unplug(t, ctx, laptop)
	addPlatformAuthenticator(t, ctx, true)
	addPasskey(t, ctx, p.URL, "Phone", false)
	do(t, ctx, chromedp.Navigate(p.URL+"/account/security"), chromedp.WaitVisible(chromedp.CSS(".methods")))
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const row = Array.from(document.querySelectorAll(".methods tbody tr")).find(r => r.textContent.includes("This laptop"));
		row.querySelector('a.remove-method').click(); return true })()`)); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, chromedp.WaitVisible(chromedp.CSS("#confirm-yes")), click("#confirm-yes"), waitText(".flash", "removed"))
	signOutNow(t, ctx, p.URL)
	do(t, weak, chromedp.Navigate(p.URL+"/login"), chromedp.WaitVisible(chromedp.CSS("#passkey-login")))
	removeAuthenticator(t, weak, weakID)
	addCredentials(t, weak, addPlatformAuthenticator(t, weak, true), creds)
	do(t, weak, click("#passkey-login"), waitText("#passkey-error", "not registered here"))
	if loc, _ := chromedp.Run(weak, chromedp.Location()); !strings.HasSuffix(loc, "/login") {
		t.Fatalf("a removed passkey signed in: at %s", loc)
	}
}

// noAutofill makes the tab a browser without passkey autofill.
func noAutofill(t *testing.T, ctx context.Context) {
	t.Helper()
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false);`}); err != nil {
		t.Fatal(err)
	}
}

// credentialsOf lists an authenticator's credentials (with private keys).
func credentialsOf(t *testing.T, ctx context.Context, id webauthn.AuthenticatorID) []*webauthn.Credential {
	t.Helper()
	res, err := chromedp.Call(ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
	if err != nil {
		t.Fatal(err)
	}
	return res.Credentials
}

// addCredentials puts creds into the authenticator id: only the key
// material (the extension state of the old authenticator does not carry
// over).
func addCredentials(t *testing.T, ctx context.Context, id webauthn.AuthenticatorID, creds []*webauthn.Credential) {
	t.Helper()
	for _, c := range creds {
		clean := &keyMaterial{CredentialID: c.CredentialID, IsResidentCredential: c.IsResidentCredential, RpID: c.RpID,
			PrivateKey: c.PrivateKey, UserHandle: c.UserHandle, SignCount: c.SignCount}
		if _, err := chromedp.Call(ctx, addKeyMaterial, addKeyMaterialParams{AuthenticatorID: id, Credential: clean}); err != nil {
			t.Fatal(err)
		}
	}
}

func removeAuthenticator(t *testing.T, ctx context.Context, id webauthn.AuthenticatorID) {
	t.Helper()
	if _, err := chromedp.Call(ctx, webauthn.RemoveVirtualAuthenticator, webauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: id}); err != nil {
		t.Fatal(err)
	}
}

// sessionMethods is the text of the Security page's session list.
func sessionMethods(t *testing.T, ctx context.Context, base string) string {
	t.Helper()
	do(t, ctx, chromedp.Navigate(base+"/account/security"), chromedp.WaitVisible(chromedp.CSS("#twofa-h")))
	return strings.Join(texts(t, ctx, "#sessions-h ~ table tbody tr, #sessions-h ~ * tbody tr"), "\n")
}
