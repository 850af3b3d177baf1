package web_test

import (
	"strings"
	"testing"

	"github.com/clientportal/portal"
)

// enrolPasskey registers k as a passkey of the signed-in client c (whose
// user is userID) and returns the answer.
func (e *env) enrolPasskey(t *testing.T, c *client, k *softKey, userID, name string) map[string]any {
	t.Helper()
	r := c.api("POST", "/api/v1/me/2fa/passkey/begin", nil)
	if r.StatusCode != 200 {
		t.Fatalf("passkey begin: %d %s", r.StatusCode, r.Body)
	}
	opts := r.json()
	sel := opts["publicKey"].(map[string]any)["authenticatorSelection"].(map[string]any)
	if sel["residentKey"] != "required" || sel["userVerification"] != "required" {
		t.Fatalf("a passkey must be discoverable and verify the user: %v", sel)
	}
	r = c.api("POST", "/api/v1/me/2fa/passkey/finish", map[string]any{"name": name, "credential": k.create(t, opts)})
	if r.StatusCode != 200 {
		t.Fatalf("passkey finish: %d %s", r.StatusCode, r.Body)
	}
	k.handle = []byte(userID)
	return r.json()
}

// passkeySignIn runs a passwordless sign-in with k on c.
func passkeySignIn(t *testing.T, c *client, k *softKey) *response {
	t.Helper()
	r := c.api("POST", "/api/v1/login/passkey/begin", nil)
	if r.StatusCode != 200 {
		t.Fatalf("passkey login begin: %d %s", r.StatusCode, r.Body)
	}
	opts := r.json()
	pk := opts["publicKey"].(map[string]any)
	if pk["userVerification"] != "required" || pk["allowCredentials"] != nil {
		t.Fatalf("a passwordless request names no credential and requires verification: %v", pk)
	}
	return c.api("POST", "/api/v1/login/passkey/finish", map[string]any{"credential": k.get(t, opts)})
}

// TestPasskeys: a passkey is a 2FA method (the first turns 2FA on with
// backup codes) and a complete sign-in on its own, never with the
// password; an answer without user verification, a replayed one, one from
// another browser, a cloned key's and a removed passkey's are refused;
// strangers' failures do not lock the owner out; a passkey answers the
// second step after a password too.
func TestPasskeys(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect, withWebAuthn)
			id := e.register("ada@example.com")
			c := e.login("ada@example.com")
			phone := newSoftKey(t)
			out := e.enrolPasskey(t, c, phone, id, "Phone")
			if m := out["method"].(map[string]any); m["type"] != portal.MethodPasskey || m["name"] != "Phone" {
				t.Fatalf("the new method: %v", m)
			}
			if codes, _ := out["backup_codes"].([]any); len(codes) != 10 {
				t.Fatalf("the first passkey turned 2FA on without backup codes: %v", out)
			}

			// Signed in with the passkey alone: full session, recent
			// authentication, and the session says how.
			b := e.client()
			if r := passkeySignIn(t, b, phone); r.StatusCode != 200 || r.json()["status"] != "authenticated" {
				t.Fatalf("passkey sign-in: %d %s", r.StatusCode, r.Body)
			}
			if r := b.api("GET", "/api/v1/me/sessions", nil); !strings.Contains(r.Body, `"method":"Passkey"`) {
				t.Fatalf("the session list does not say passkey: %s", r.Body)
			}
			if r := b.api("POST", "/api/v1/me/2fa/backup_codes", nil); r.StatusCode != 200 {
				t.Fatalf("a passkey sign-in is not recent authentication: %d %s", r.StatusCode, r.Body)
			}

			// Without user verification: refused for passwordless sign-in.
			phone.noUV = true
			if r := passkeySignIn(t, e.client(), phone); r.StatusCode != 401 || !strings.Contains(r.Body, "fingerprint, face or device PIN") {
				t.Fatalf("a passkey without user verification: %d %s", r.StatusCode, r.Body)
			}
			phone.noUV = false

			// Replayed: the same answer again, to a new challenge or to none.
			d := e.client()
			r := d.api("POST", "/api/v1/login/passkey/begin", nil)
			answer := phone.get(t, r.json())
			if r := d.api("POST", "/api/v1/login/passkey/finish", map[string]any{"credential": answer}); r.StatusCode != 200 {
				t.Fatalf("sign-in: %d %s", r.StatusCode, r.Body)
			}
			d2 := e.client()
			d2.api("POST", "/api/v1/login/passkey/begin", nil)
			for _, cl := range []*client{d, d2, e.client()} {
				if r := cl.api("POST", "/api/v1/login/passkey/finish", map[string]any{"credential": answer}); r.StatusCode == 200 {
					t.Fatal("a replayed passkey answer signed in")
				}
			}
			// An answer to a challenge another browser asked for.
			asker, thief := e.client(), e.client()
			r = asker.api("POST", "/api/v1/login/passkey/begin", nil)
			if r := thief.api("POST", "/api/v1/login/passkey/finish", map[string]any{"credential": phone.get(t, r.json())}); r.StatusCode != 401 {
				t.Fatalf("an answer to another browser's challenge: %d %s", r.StatusCode, r.Body)
			}

			// Strangers naming the account with forged answers: refused,
			// and the owner still signs in (no lockout).
			forger := newSoftKey(t)
			forger.id, forger.handle = phone.id, []byte(id)
			for i := 0; i < portal.SecondFactorUserLimit.Threshold+2; i++ {
				if r := passkeySignIn(t, e.client(), forger); r.StatusCode != 401 {
					t.Fatalf("a forged passkey answer: %d %s", r.StatusCode, r.Body)
				}
			}
			if r := passkeySignIn(t, e.client(), phone); r.StatusCode != 200 {
				t.Fatalf("the owner was locked out by strangers: %d %s", r.StatusCode, r.Body)
			}

			// A cloned passkey (its counter went back) is refused and
			// recorded.
			phone.count -= 3
			if r := passkeySignIn(t, e.client(), phone); r.StatusCode != 401 || !strings.Contains(r.Body, "copied") {
				t.Fatalf("a counter that went back: %d %s", r.StatusCode, r.Body)
			}
			if r := b.api("GET", "/api/v1/me/events", nil); !strings.Contains(r.Body, portal.EventKeyCounterRegressed) {
				t.Fatalf("the cloned passkey was not recorded: %s", r.Body)
			}
			phone.count += 10

			// After a password, a passkey answers the second step.
			p := e.client()
			r = p.api("POST", "/api/v1/login", map[string]string{"email": "ada@example.com", "password": testPassword})
			if r.StatusCode != 200 || r.json()["status"] != "2fa_required" || !strings.Contains(r.Body, `"passkey"`) {
				t.Fatalf("password step: %d %s", r.StatusCode, r.Body)
			}
			r = p.api("POST", "/api/v1/login/2fa/webauthn/begin", nil)
			if r := p.api("POST", "/api/v1/login/2fa/webauthn/finish", map[string]any{"credential": phone.get(t, r.json())}); r.StatusCode != 200 {
				t.Fatalf("passkey as the second step: %d %s", r.StatusCode, r.Body)
			}

			// Removed: it no longer signs in (a second passkey stays).
			laptop := newSoftKey(t)
			e.enrolPasskey(t, b, laptop, id, "Laptop")
			var phoneID string
			for _, m := range b.api("GET", "/api/v1/me", nil).json()["twofa"].(map[string]any)["methods"].([]any) {
				if m := m.(map[string]any); m["name"] == "Phone" {
					phoneID = m["id"].(string)
				}
			}
			if r := b.api("DELETE", "/api/v1/me/2fa/methods/"+phoneID, nil); r.StatusCode != 204 {
				t.Fatalf("remove: %d %s", r.StatusCode, r.Body)
			}
			if r := passkeySignIn(t, e.client(), phone); r.StatusCode != 401 || !strings.Contains(r.Body, "not registered here") {
				t.Fatalf("a removed passkey: %d %s", r.StatusCode, r.Body)
			}
			if r := passkeySignIn(t, e.client(), laptop); r.StatusCode != 200 {
				t.Fatalf("the other passkey: %d %s", r.StatusCode, r.Body)
			}
		})
	}
}
