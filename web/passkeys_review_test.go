package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/sqlstore/storetest"
)

// createWith answers registration options like k.create, with the given
// authenticator flags and client extension results.
func (k *softKey) createWith(t *testing.T, opts map[string]any, flags byte, ext map[string]any) map[string]any {
	t.Helper()
	att, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": k.authData(t, flags, true)})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]any{"id": b64(k.id), "rawId": b64(k.id), "type": "public-key",
		"response": map[string]any{"clientDataJSON": b64(k.clientData("webauthn.create", opts)), "attestationObject": b64(att)}}
	if ext != nil {
		out["clientExtensionResults"] = ext
	}
	return out
}

// passkeyCookie is c's passwordless binding cookie, or "".
func (c *client) passkeyCookie() string {
	u, _ := url.Parse(c.e.ts.URL + "/api/v1/login/passkey/")
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == "portal_passkey" {
			return ck.Value
		}
	}
	return ""
}

func (c *client) setPasskeyCookie(v string) {
	u, _ := url.Parse(c.e.ts.URL)
	c.http.Jar.SetCookies(u, []*http.Cookie{{Name: "portal_passkey", Value: v, Path: "/api/v1/login/passkey/"}})
}

// TestPasskeyReviewRegistration: a passkey is registered only from a full
// session in sudo mode, only with user verification and never from an
// authenticator that says it did not keep the credential; a security key
// (even a discoverable one) never signs in without the password.
func TestPasskeyReviewRegistration(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, withWebAuthn)
		id := e.register("rev@example.com")
		c := e.login("rev@example.com")
		e.enrolPasskey(t, c, newSoftKey(t), id, "First")

		// Half signed in (password only): no registration.
		p := e.passwordStep("rev@example.com")
		if r := p.api("POST", "/api/v1/me/2fa/passkey/begin", nil); r.StatusCode != 401 {
			t.Fatalf("passkey begin from a password-only session: %d %s", r.StatusCode, r.Body)
		}
		if r := p.api("POST", "/api/v1/me/2fa/passkey/finish", map[string]any{"credential": map[string]any{"id": "x"}}); r.StatusCode != 401 {
			t.Fatalf("passkey finish from a password-only session: %d %s", r.StatusCode, r.Body)
		}

		// A fresh full session (signed in with the passkey) for the rest.
		k := newSoftKey(t)
		e.enrolPasskey(t, c, k, id, "Second")
		b := e.client()
		if r := passkeySignIn(t, b, k); r.StatusCode != 200 {
			t.Fatalf("passkey sign-in: %d %s", r.StatusCode, r.Body)
		}

		// Without user verification (UP+AT only): refused.
		r := b.api("POST", "/api/v1/me/2fa/passkey/begin", nil)
		nouv := newSoftKey(t)
		if r := b.api("POST", "/api/v1/me/2fa/passkey/finish", map[string]any{"credential": nouv.createWith(t, r.json(), 0x41, nil)}); r.StatusCode != 401 || !strings.Contains(r.Body, "fingerprint, face or device PIN") {
			t.Fatalf("a passkey registered without user verification: %d %s", r.StatusCode, r.Body)
		}
		// The authenticator says it did not keep the key: refused.
		r = b.api("POST", "/api/v1/me/2fa/passkey/begin", nil)
		if r := b.api("POST", "/api/v1/me/2fa/passkey/finish", map[string]any{"credential": newSoftKey(t).createWith(t, r.json(), 0x45, map[string]any{"credProps": map[string]any{"rk": false}})}); r.StatusCode != 401 || !strings.Contains(r.Body, "cannot keep a passkey") {
			t.Fatalf("a non-discoverable credential as a passkey: %d %s", r.StatusCode, r.Body)
		}
		// An answer to a security-key challenge is not a passkey's.
		r = b.api("POST", "/api/v1/me/2fa/webauthn/begin", nil)
		if r := b.api("POST", "/api/v1/me/2fa/passkey/finish", map[string]any{"credential": newSoftKey(t).create(t, r.json())}); r.StatusCode == 200 {
			t.Fatalf("a security-key challenge registered a passkey: %s", r.Body)
		}

		// A discoverable credential registered as a security key does not
		// sign in without the password.
		sk := newSoftKey(t)
		e.enrolKey(t, b, sk)
		sk.handle = []byte(id)
		if r := passkeySignIn(t, e.client(), sk); r.StatusCode != 401 || !strings.Contains(r.Body, "not registered here") {
			t.Fatalf("a security key signed in without the password: %d %s", r.StatusCode, r.Body)
		}

		// Out of sudo mode: no registration.
		e.clock.Add(11 * time.Minute)
		b.api("GET", "/api/v1/me", nil)
		if r := b.api("POST", "/api/v1/me/2fa/passkey/begin", nil); r.StatusCode != 403 || r.errCode() != "reauth_required" {
			t.Fatalf("passkey begin outside sudo mode: %d %s", r.StatusCode, r.Body)
		}
	})
}

// TestPasskeyReviewCrossAccount: user A's passkey answering with user B's
// handle, or A's credential id claimed by B's handle, signs in nobody; a
// deleted user's passkey is refused; a staff 2FA reset removes passkeys.
func TestPasskeyReviewCrossAccount(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, withWebAuthn)
		ida := e.register("a@example.com")
		idb := e.register("b@example.com")
		ka, kb := newSoftKey(t), newSoftKey(t)
		e.enrolPasskey(t, e.login("a@example.com"), ka, ida, "A")
		e.enrolPasskey(t, e.login("b@example.com"), kb, idb, "B")

		// A's key, B's handle.
		ka.handle = []byte(idb)
		if r := passkeySignIn(t, e.client(), ka); r.StatusCode != 401 {
			t.Fatalf("A's passkey with B's handle: %d %s", r.StatusCode, r.Body)
		}
		// A's key claiming B's credential id and handle (signature by A's key).
		forged := *ka
		forged.id, forged.handle = kb.id, []byte(idb)
		if r := passkeySignIn(t, e.client(), &forged); r.StatusCode != 401 {
			t.Fatalf("A's key posing as B's passkey: %d %s", r.StatusCode, r.Body)
		}
		ka.handle = []byte(ida)
		if r := passkeySignIn(t, e.client(), ka); r.StatusCode != 200 || r.json()["user"].(map[string]any)["id"] != ida {
			t.Fatalf("A's own sign-in: %d %s", r.StatusCode, r.Body)
		}

		// Staff reset of B's 2FA: B's passkey is gone.
		admin := e.staff("ops@example.com")
		if r := admin.api("POST", "/api/v1/admin/users/"+idb+"/2fa/reset", map[string]string{"reason": "lost phone"}); r.StatusCode != 204 {
			t.Fatalf("reset: %d %s", r.StatusCode, r.Body)
		}
		if r := passkeySignIn(t, e.client(), kb); r.StatusCode != 401 || !strings.Contains(r.Body, "not registered here") {
			t.Fatalf("a passkey after a staff reset: %d %s", r.StatusCode, r.Body)
		}

		// A deleted user's passkey.
		if err := e.db.DeleteUser(t.Context(), ida); err != nil {
			t.Fatal(err)
		}
		if r := passkeySignIn(t, e.client(), ka); r.StatusCode != 401 || !strings.Contains(r.Body, "not registered here") {
			t.Fatalf("a deleted user's passkey: %d %s", r.StatusCode, r.Body)
		}
	})
}

// TestPasskeyReviewParallelFinish: one answer sent 12 times at once with
// the same binding cookie signs in exactly once.
func TestPasskeyReviewParallelFinish(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, withWebAuthn)
		id := e.register("p@example.com")
		k := newSoftKey(t)
		e.enrolPasskey(t, e.login("p@example.com"), k, id, "Phone")

		asker := e.client()
		r := asker.api("POST", "/api/v1/login/passkey/begin", nil)
		answer := k.get(t, r.json())
		cookie := asker.passkeyCookie()
		if len(cookie) != 43 {
			t.Fatalf("binding cookie: %q", cookie)
		}
		const n = 12
		clients := make([]*client, n)
		for i := range clients {
			clients[i] = e.client()
			clients[i].setPasskeyCookie(cookie)
		}
		codes := make([]int, n)
		var wg sync.WaitGroup
		for i := range clients {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				codes[i] = clients[i].api("POST", "/api/v1/login/passkey/finish", map[string]any{"credential": answer}).StatusCode
			}(i)
		}
		wg.Wait()
		ok := 0
		for _, c := range codes {
			switch c {
			case 200:
				ok++
			case 401, 429:
			default:
				t.Fatalf("status %d among %v", c, codes)
			}
		}
		if ok != 1 {
			t.Fatalf("%d sign-ins from one answer: %v", ok, codes)
		}
	})
}

// TestPasskeyReviewFrozen: a passkey does not sign in to an account whose
// second-factor sign-in is frozen.
func TestPasskeyReviewFrozen(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, withWebAuthn)
		id := e.register("f@example.com")
		k := newSoftKey(t)
		e.enrolPasskey(t, e.login("f@example.com"), k, id, "Phone")
		forger := newSoftKey(t)
		forger.id = k.id
		for i := 0; i < portal.SecondFactorUserLimit.Freeze; i++ {
			p := e.passwordStep("f@example.com")
			r := p.api("POST", "/api/v1/login/2fa/webauthn/begin", nil)
			if r := p.api("POST", "/api/v1/login/2fa/webauthn/finish", map[string]any{"credential": forger.get(t, r.json())}); r.StatusCode != 401 {
				t.Fatalf("wrong answer %d: %d %s", i+1, r.StatusCode, r.Body)
			}
			e.clock.Add(25 * time.Hour)
		}
		if r := passkeySignIn(t, e.client(), k); r.StatusCode != 429 || !strings.Contains(r.Body, "frozen") {
			t.Fatalf("a passkey on a frozen account: %d %s", r.StatusCode, r.Body)
		}
	})
}

// TestPasskeyReviewMalformed: odd answers are refused with a 4xx, never a
// 500, on every database.
func TestPasskeyReviewMalformed(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, withWebAuthn)
		id := e.register("m@example.com")
		k := newSoftKey(t)
		e.enrolPasskey(t, e.login("m@example.com"), k, id, "Phone")

		bodies := []any{
			`{"credential":null}`, `{"credential":"x"}`, `{"credential":1}`, `{"credential":[]}`, `{"credential":{}}`,
			`{"credential":{"id":"\u0000"}}`, "{\"credential\":{\"id\":\"\xff\"}}", `{"credential":{"id":"a","rawId":"a","type":"public-key","response":{}}}`,
			`{"credential":` + strings.Repeat(`[`, 10000) + `}`, `{"credential":"` + strings.Repeat("A", 2<<20) + `"}`,
			`{"next":"\u0000"}`, `{"next":"//evil.example"}`,
		}
		for _, handle := range []string{"\x00", "\xff\xfe", ida(id) + "\x00", strings.Repeat("\xc3", 64), "'; DROP TABLE users; --"} {
			h := *k
			h.handle = []byte(handle)
			c := e.client()
			r := c.api("POST", "/api/v1/login/passkey/begin", nil)
			bodies = append(bodies, map[string]any{"credential": h.get(t, r.json())})
		}
		for i, b := range bodies {
			c := e.client()
			c.api("POST", "/api/v1/login/passkey/begin", nil)
			r := c.api("POST", "/api/v1/login/passkey/finish", b)
			if r.StatusCode < 400 || r.StatusCode >= 500 {
				desc, _ := json.Marshal(b)
				if len(desc) > 200 {
					desc = desc[:200]
				}
				t.Errorf("body %d (%s): %d %s", i, desc, r.StatusCode, r.Body)
				if r.StatusCode >= 500 {
					for _, l := range strings.Split(e.logText(), "\n") {
						if strings.Contains(l, `"level":"ERROR"`) {
							t.Log(l)
						}
					}
				}
			}
		}
		// A bare cookie of the right length and no challenge.
		c := e.client()
		c.setPasskeyCookie(strings.Repeat("A", 43))
		r := e.client().api("POST", "/api/v1/login/passkey/begin", nil)
		if r := c.api("POST", "/api/v1/login/passkey/finish", map[string]any{"credential": k.get(t, r.json())}); r.StatusCode != 401 {
			t.Fatalf("a forged binding cookie: %d %s", r.StatusCode, r.Body)
		}
	})
}

func ida(id string) string { return id }

// TestPasskeyReviewStrangerKeepsLocked: once the owner's account is in a
// lock delay (5 wrong codes in a row), a stranger's forged passkey
// answers, which "count on the network only", re-arm the delay each time
// it lifts, so the owner's own passkey is refused indefinitely.
func TestPasskeyReviewStrangerKeepsLocked(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, withWebAuthn)
		id := e.register("l@example.com")
		phone := newSoftKey(t)
		e.enrolPasskey(t, e.login("l@example.com"), phone, id, "Phone")
		forger := newSoftKey(t)
		forger.id = phone.id

		// Five wrong answers at the second step (whoever typed them): the
		// account waits 30 seconds.
		for i := 0; i < portal.SecondFactorUserLimit.Threshold; i++ {
			p := e.passwordStep("l@example.com")
			r := p.api("POST", "/api/v1/login/2fa/webauthn/begin", nil)
			if r := p.api("POST", "/api/v1/login/2fa/webauthn/finish", map[string]any{"credential": forger.get(t, r.json())}); r.StatusCode != 401 {
				t.Fatalf("wrong answer %d: %d %s", i+1, r.StatusCode, r.Body)
			}
		}
		forger.handle = []byte(id)
		for round := 0; round < 3; round++ {
			e.clock.Add(portal.SecondFactorUserLimit.LockDelay(portal.SecondFactorUserLimit.Threshold+1) + time.Second)
			// A stranger (no secret of the owner's) sends a forged answer.
			if r := passkeySignIn(t, e.client().fromIP("203.0.113.9"), forger); r.StatusCode != 401 {
				t.Fatalf("forged: %d %s", r.StatusCode, r.Body)
			}
			if r := passkeySignIn(t, e.client(), phone); r.StatusCode != 200 {
				t.Fatalf("round %d: the owner's passkey was refused after a stranger's forged answer: %d %s", round, r.StatusCode, r.Body)
			}
		}
	})
}

// TestPasskeyReviewReauthSwitch: the passkey button of "Confirm it's you"
// is a passwordless sign-in; with another account's passkey it silently
// replaces the signed-in account.
func TestPasskeyReviewReauthSwitch(t *testing.T) {
	e := newEnv(t, "sqlite", withWebAuthn)
	ida := e.register("a@example.com")
	idb := e.register("b@example.com")
	ka, kb := newSoftKey(t), newSoftKey(t)
	a := e.login("a@example.com")
	e.enrolPasskey(t, a, ka, ida, "A")
	e.enrolPasskey(t, e.login("b@example.com"), kb, idb, "B")
	e.clock.Add(11 * time.Minute)
	if r := a.get("/account/reauth"); r.StatusCode != 200 || !strings.Contains(r.Body, "passkey-login") {
		t.Fatalf("reauth page: %d", r.StatusCode)
	}
	r := passkeySignIn(t, a, kb)
	if me := a.api("GET", "/api/v1/me", nil).json(); r.StatusCode == 200 && me["id"] != ida {
		t.Fatalf("confirming it's A with B's passkey switched the session to %v", me["email"])
	}
}
