package web_test

import (
	"testing"

	"github.com/clientportal/portal/sqlstore/storetest"
)

// TestReview10QRemovedPasskeyKeepsItsSessions: a passkey is a complete
// sign-in on its own, like the password. The owner whose phone (and its
// passkey) was stolen removes that passkey from their own session; the
// thief's session, signed in with the passkey alone, must end with it, as
// every other session ends when the password changes.
func TestReview10QRemovedPasskeyKeepsItsSessions(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, withWebAuthn)
		id := e.register("ada@example.com")
		owner := e.login("ada@example.com")
		laptop, phone := newSoftKey(t), newSoftKey(t)
		e.enrolPasskey(t, owner, laptop, id, "Laptop")
		out := e.enrolPasskey(t, owner, phone, id, "Phone")
		stolen := out["method"].(map[string]any)["id"].(string)

		thief := e.client()
		if r := passkeySignIn(t, thief, phone); r.StatusCode != 200 {
			t.Fatalf("passkey sign-in: %d %s", r.StatusCode, r.Body)
		}
		if r := owner.api("DELETE", "/api/v1/me/2fa/methods/"+stolen, nil); r.StatusCode != 204 {
			t.Fatalf("removing the stolen passkey: %d %s", r.StatusCode, r.Body)
		}
		if r := passkeySignIn(t, e.client(), phone); r.StatusCode == 200 {
			t.Fatal("the removed passkey still signs in")
		}
		if r := thief.api("GET", "/api/v1/me", nil); r.StatusCode != 401 {
			t.Fatalf("the session signed in with the removed passkey alone is still signed in: %d", r.StatusCode)
		}
		// The owner's own session goes on.
		if r := owner.api("GET", "/api/v1/me", nil); r.StatusCode != 200 {
			t.Fatalf("the owner's session ended: %d %s", r.StatusCode, r.Body)
		}
	})
}
