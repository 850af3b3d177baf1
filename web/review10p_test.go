package web_test

import (
	"testing"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/sqlstore/storetest"
)

// credentialMethods lists the user's security keys and passkeys (id, type).
func credentialMethods(c *client) [][2]string {
	var out [][2]string
	for _, m := range c.api("GET", "/api/v1/me", nil).json()["twofa"].(map[string]any)["methods"].([]any) {
		m := m.(map[string]any)
		if m["type"] == portal.MethodWebAuthn || m["type"] == portal.MethodPasskey {
			out = append(out, [2]string{m["id"].(string), m["type"].(string)})
		}
	}
	return out
}

// TestReview10PCredentialRegisteredTwice: one authenticator credential
// registered as a security key and as a passkey through two ceremonies
// opened before either finished (excludeCredentials was fixed when each
// began, and it is only a hint to the client) must be stored once; with
// two rows the list shows one key twice and removing the security key
// leaves the very credential signing in (without the password, as the
// passkey row).
func TestReview10PCredentialRegisteredTwice(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, withWebAuthn)
		id := e.register("twice@example.com")
		c := e.login("twice@example.com")
		k := newSoftKey(t)

		keyOpts := c.api("POST", "/api/v1/me/2fa/webauthn/begin", nil).json()
		passOpts := c.api("POST", "/api/v1/me/2fa/passkey/begin", nil).json()
		if r := c.api("POST", "/api/v1/me/2fa/webauthn/finish", map[string]any{"name": "Key", "credential": k.create(t, keyOpts)}); r.StatusCode != 200 {
			t.Fatalf("security key: %d %s", r.StatusCode, r.Body)
		}
		r := c.api("POST", "/api/v1/me/2fa/passkey/finish", map[string]any{"name": "Same key", "credential": k.create(t, passOpts)})
		if r.StatusCode == 200 {
			t.Errorf("the security key's own credential was registered again as a passkey: %d %s", r.StatusCode, r.Body)
		}
		ms := credentialMethods(c)
		if len(ms) != 1 {
			t.Errorf("one credential is listed %d times: %v", len(ms), ms)
		}
		// The owner removes the security key (lost): the credential must
		// not sign in any more.
		for _, m := range ms {
			if m[1] == portal.MethodWebAuthn {
				if r := c.api("DELETE", "/api/v1/me/2fa/methods/"+m[0], nil); r.StatusCode != 204 {
					t.Logf("remove the key: %d %s", r.StatusCode, r.Body)
				}
			}
		}
		k.handle = []byte(id)
		if r := passkeySignIn(t, e.client(), k); r.StatusCode == 200 {
			t.Errorf("the removed security key still signs in, without the password, as the passkey row of the same credential")
		}
	})
}
