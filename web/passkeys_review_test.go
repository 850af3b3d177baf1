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
	"github.com/clientportal/portal/web"
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
// 500, on every database. (User handles that are not valid UTF-8 or hold
// NUL are left out: on PostgreSQL they answer 500, see the review.)
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
		for _, handle := range []string{"'; DROP TABLE users; --", strings.Repeat("x", 65), "nobody"} {
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

// TestPasskeyReviewBinding: an answer without the binding cookie is
// refused, and one network cannot store unlimited challenges.
func TestPasskeyReviewBinding(t *testing.T) {
	e := newEnv(t, "sqlite", withWebAuthn)
	id := e.register("c@example.com")
	k := newSoftKey(t)
	e.enrolPasskey(t, e.login("c@example.com"), k, id, "Phone")

	c := e.client()
	r := c.api("POST", "/api/v1/login/passkey/begin", nil)
	answer := k.get(t, r.json())
	naked := e.client()
	if r := naked.api("POST", "/api/v1/login/passkey/finish", map[string]any{"credential": answer}); r.StatusCode != 401 || !strings.Contains(r.Body, "expired") {
		t.Fatalf("an answer without the binding cookie: %d %s", r.StatusCode, r.Body)
	}
	if r := c.api("POST", "/api/v1/login/passkey/finish", map[string]any{"credential": answer}); r.StatusCode != 200 {
		t.Fatalf("the asker's own finish: %d %s", r.StatusCode, r.Body)
	}

	flood := e.client().fromIP("198.51.100.1")
	n := 0
	for ; n < portal.PasskeyIPLimit.Threshold+5; n++ {
		if r := flood.api("POST", "/api/v1/login/passkey/begin", nil); r.StatusCode == 429 {
			break
		} else if r.StatusCode != 200 {
			t.Fatalf("begin %d: %d %s", n, r.StatusCode, r.Body)
		}
	}
	if n > portal.PasskeyIPLimit.Threshold {
		t.Fatalf("%d passkey challenges from one network", n)
	}
}

// TestPasskeyReviewStrangerCannotHoldLock: once a lock on the account has
// run out, strangers' forged passkey answers do not lock it again: the
// owner's passkey signs in.
func TestPasskeyReviewStrangerCannotHoldLock(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, withWebAuthn)
		id := e.register("l@example.com")
		phone := newSoftKey(t)
		e.enrolPasskey(t, e.login("l@example.com"), phone, id, "Phone")
		forger := newSoftKey(t)
		forger.id = phone.id
		for i := 0; i < portal.SecondFactorUserLimit.Threshold; i++ {
			p := e.passwordStep("l@example.com")
			r := p.api("POST", "/api/v1/login/2fa/webauthn/begin", nil)
			p.api("POST", "/api/v1/login/2fa/webauthn/finish", map[string]any{"credential": forger.get(t, r.json())})
		}
		forger.handle = []byte(id)
		e.clock.Add(61 * time.Second)
		for i := 0; i < 3; i++ {
			if r := passkeySignIn(t, e.client(), forger); r.StatusCode != 401 {
				t.Fatalf("a forged answer: %d %s", r.StatusCode, r.Body)
			}
		}
		if r := passkeySignIn(t, e.client(), phone); r.StatusCode != 200 {
			t.Fatalf("the owner after strangers' forged answers: %d %s", r.StatusCode, r.Body)
		}
	})
}

// TestPasskeyReviewHandles: user handles that are no id of the portal's
// (NUL, bytes that are not UTF-8, too long) are a 4xx on PostgreSQL too.
func TestPasskeyReviewHandles(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, withWebAuthn)
		id := e.register("h@example.com")
		k := newSoftKey(t)
		e.enrolPasskey(t, e.login("h@example.com"), k, id, "Phone")
		for _, handle := range []string{"\x00", "\xff\xfe", id + "\x00", strings.Repeat("\xc3", 64), strings.ToUpper(id), "'; DROP TABLE users; --"} {
			h := *k
			h.handle = []byte(handle)
			c := e.client()
			r := c.api("POST", "/api/v1/login/passkey/begin", nil)
			if r := c.api("POST", "/api/v1/login/passkey/finish", map[string]any{"credential": h.get(t, r.json())}); r.StatusCode < 400 || r.StatusCode >= 500 {
				t.Errorf("handle %q: %d %s", handle, r.StatusCode, r.Body)
			}
		}
	})
}

// TestPasskeyReviewNoSwitch: signed in as one user, another account's
// passkey (on "Confirm it's you", say) does not switch the browser to it.
func TestPasskeyReviewNoSwitch(t *testing.T) {
	e := newEnv(t, "sqlite", withWebAuthn)
	idA, idB := e.register("a@example.com"), e.register("b@example.com")
	ka, kb := newSoftKey(t), newSoftKey(t)
	e.enrolPasskey(t, e.login("a@example.com"), ka, idA, "A")
	e.enrolPasskey(t, e.login("b@example.com"), kb, idB, "B")
	a := e.client()
	if r := passkeySignIn(t, a, ka); r.StatusCode != 200 {
		t.Fatalf("A: %d %s", r.StatusCode, r.Body)
	}
	e.clock.Add(11 * time.Minute)
	if r := passkeySignIn(t, a, kb); r.StatusCode != 409 {
		t.Fatalf("B's passkey in A's browser: %d %s", r.StatusCode, r.Body)
	}
	if me := a.api("GET", "/api/v1/me", nil).json(); me["email"] != "a@example.com" {
		t.Fatalf("the browser is now %v", me["email"])
	}
	// A's own passkey confirms it's A again.
	if r := passkeySignIn(t, a, ka); r.StatusCode != 200 {
		t.Fatalf("A again: %d %s", r.StatusCode, r.Body)
	}
	if r := a.api("POST", "/api/v1/me/2fa/backup_codes", nil); r.StatusCode != 200 {
		t.Fatalf("A's passkey did not confirm it's A: %d %s", r.StatusCode, r.Body)
	}
}

// TestPasskeyCookieHTTPS: on an https portal the binding cookie keeps the
// __Host- rules (Secure, Path=/), or browsers would drop it.
func TestPasskeyCookieHTTPS(t *testing.T) {
	e := newEnv(t, "sqlite", withWebAuthn, withConfig(func(c *web.Config) { c.BaseURL, _ = url.Parse("https://portal.example.com") }))
	r := e.client().api("POST", "/api/v1/login/passkey/begin", nil)
	var sc string
	for _, v := range r.Header.Values("Set-Cookie") {
		if strings.HasPrefix(v, "__Host-portal_passkey=") {
			sc = v
		}
	}
	for _, want := range []string{"Secure", "Path=/;", "HttpOnly", "SameSite=Strict"} {
		if !strings.Contains(sc+";", want) {
			t.Fatalf("Set-Cookie %q lacks %q", sc, want)
		}
	}
}
