package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clientportal/portal/portaltest"
	"github.com/clientportal/portal/sqlstore/storetest"
	"github.com/clientportal/portal/web"
	"github.com/clientportal/portal/yubico/yubicotest"
)

// The attack suite: an attacker against running portals, on SQLite and on
// two instances sharing PostgreSQL. (Route-walking attacks — every route
// with a password-level session, every state-changing route cross-origin —
// are TestPasswordLevelSession and TestCrossOrigin; the README's "Security
// testing" table lists them all.)

// targets is the portal and, on PostgreSQL, a second instance on the same
// database: requests alternate between them.
func targets(e *env, dialect string) []*env {
	if dialect == "postgres" {
		return []*env{e, e.replica(withConfig(trustLocalProxy))}
	}
	return []*env{e}
}

// trustLocalProxy lets tests play clients on many networks through
// X-Forwarded-For, as behind a load balancer.
func trustLocalProxy(c *web.Config) { c.TrustedProxies = mustPrefixes("127.0.0.1/32") }

// fromIP sends c's requests as if from ip.
func (c *client) fromIP(ip string) *client {
	c.hdr.Set("X-Forwarded-For", ip)
	return c
}

// TestAttackBruteForceSecondFactor: 40 wrong codes at once, from 8 login
// sessions, 40 addresses and (on PostgreSQL) both instances: exactly 5 are
// judged, the rest refused; the right code is refused too until the lock
// lifts, then works.
func TestAttackBruteForceSecondFactor(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, withConfig(trustLocalProxy))
		_, secret, _ := e.userWith2FA("victim@example.com")
		ts := targets(e, dialect)
		sessions := make([]*client, 8)
		for i := range sessions {
			sessions[i] = ts[i%len(ts)].passwordStep("victim@example.com")
		}
		good := codeAt(t, secret, e.clock.Now())
		statuses := map[int]int{}
		var mu sync.Mutex
		portaltest.Parallel(40, func(i int) bool {
			c := *sessions[i%len(sessions)]
			c.hdr = http.Header{}
			c.fromIP(fmt.Sprintf("203.0.113.%d", i+1))
			wrong := fmt.Sprintf("%06d", (i*7919+1)%1000000)
			if wrong == good {
				wrong = "000000"
			}
			r := c.api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": wrong})
			mu.Lock()
			statuses[r.StatusCode]++
			mu.Unlock()
			return true
		})
		if statuses[401] != 5 || statuses[429] != 35 {
			t.Fatalf("40 parallel wrong codes: %v; want exactly 5×401 and 35×429", statuses)
		}
		fresh := ts[len(ts)-1].passwordStep("victim@example.com").fromIP("198.51.100.7")
		if r := fresh.api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": good}); r.StatusCode != 429 {
			t.Fatalf("the right code during the lock: %d %s", r.StatusCode, r.Body)
		}
		e.clock.Add(31 * time.Second)
		if r := fresh.api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": codeAt(t, secret, e.clock.Now())}); r.StatusCode != 200 {
			t.Fatalf("the right code after the lock: %d %s", r.StatusCode, r.Body)
		}
	})
}

// TestAttackSwappedSessions: another user's valid code does not complete
// my login, does not use up theirs, and a token from before the second
// step is dead after it.
func TestAttackSwappedSessions(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		_, secretA, _ := e.userWith2FA("a@example.com")
		_, secretB, _ := e.userWith2FA("b@example.com")
		ts := targets(e, dialect)
		a := e.passwordStep("a@example.com")
		b := ts[len(ts)-1].passwordStep("b@example.com")
		codeB := codeAt(t, secretB, e.clock.Now())
		if codeB == codeAt(t, secretA, e.clock.Now()) {
			t.Skip("the two secrets gave the same code this step")
		}
		if r := a.api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": codeB}); r.StatusCode != 401 {
			t.Fatalf("B's code on A's login: %d %s", r.StatusCode, r.Body)
		}
		if r := b.api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": codeB}); r.StatusCode != 200 {
			t.Fatalf("B's own code after the attempt on A: %d %s", r.StatusCode, r.Body)
		}
		// A's half-signed-in token, kept by an attacker, is worthless once
		// A completes the second step (and on every instance).
		stolen := a.cookie()
		if r := a.api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": codeAt(t, secretA, e.clock.Now())}); r.StatusCode != 200 {
			t.Fatalf("A's login: %d %s", r.StatusCode, r.Body)
		}
		for _, tgt := range ts {
			thief := tgt.client()
			thief.setCookie(stolen)
			if r := thief.get("/api/v1/me"); r.StatusCode != 401 {
				t.Fatalf("the token from before the second step: %d %s", r.StatusCode, r.Body)
			}
			if r := thief.api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": "123456"}); r.StatusCode != 401 {
				t.Fatalf("second step with the old token: %d %s", r.StatusCode, r.Body)
			}
		}
		// And B's session shows B, never A.
		if r := b.get("/api/v1/me"); r.StatusCode != 200 || r.json()["email"] != "b@example.com" {
			t.Fatalf("B's session: %d %s", r.StatusCode, r.Body)
		}
	})
}

// TestAttackParallelCodeReplay: the same email code, WhatsApp code,
// security-key assertion and YubiKey OTP sent 20 times at once (on
// PostgreSQL through both instances) sign in exactly once.
func TestAttackParallelCodeReplay(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Run("email", func(t *testing.T) {
			e := newEnv(t, dialect)
			e.userWithEmail2FA("mail@example.com")
			p := e.passwordStep("mail@example.com")
			if r := p.sendCode(); r.StatusCode != 202 {
				t.Fatalf("send: %d %s", r.StatusCode, r.Body)
			}
			replayOnce(t, e, dialect, p, "email", e.box.LastCode("mail@example.com"))
		})
		t.Run("whatsapp", func(t *testing.T) {
			e, srv := waEnv(t, dialect)
			c := e.customer("wa@example.com")
			c.api("POST", "/api/v1/me/2fa/whatsapp", map[string]string{"phone": phone})
			if r := c.api("POST", "/api/v1/me/2fa/whatsapp/confirm", map[string]string{"code": lastCode(t, srv, "+4915123456789")}); r.StatusCode != 200 {
				t.Fatalf("confirm: %d %s", r.StatusCode, r.Body)
			}
			e.clock.Add(61 * time.Second)
			p := e.passwordStep("wa@example.com")
			if r := p.api("POST", "/api/v1/login/2fa/send", map[string]string{"method": "whatsapp"}); r.StatusCode != 202 {
				t.Fatalf("send: %d %s", r.StatusCode, r.Body)
			}
			replayOnce(t, e, dialect, p, "whatsapp", lastCode(t, srv, "+4915123456789"))
		})
	})
	t.Run("webauthn", func(t *testing.T) {
		storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
			e := newEnv(t, dialect, withWebAuthn)
			e.register("key@example.com")
			key := newSoftKey(t)
			e.enrolKey(t, e.login("key@example.com"), key)
			p := e.passwordStep("key@example.com")
			r := p.api("POST", "/api/v1/login/2fa/webauthn/begin", nil)
			if r.StatusCode != 200 {
				t.Fatalf("login begin: %d %s", r.StatusCode, r.Body)
			}
			assertion := key.get(t, r.json())
			clients := copies(e, dialect, p, 20)
			ok := portaltest.Parallel(20, func(i int) bool {
				return clients[i].api("POST", "/api/v1/login/2fa/webauthn/finish", map[string]any{"credential": assertion}).StatusCode == 200
			})
			if ok != 1 {
				t.Fatalf("one assertion signed in %d times, want exactly 1", ok)
			}
			// Replayed on a new login (a new challenge), it is refused too.
			p2 := e.passwordStep("key@example.com")
			p2.api("POST", "/api/v1/login/2fa/webauthn/begin", nil)
			if r := p2.api("POST", "/api/v1/login/2fa/webauthn/finish", map[string]any{"credential": assertion}); r.StatusCode == 200 {
				t.Fatal("an old assertion signed in on a new login")
			}
		})
	})
	t.Run("yubico_otp", func(t *testing.T) {
		e, srv := ykEnv(t)
		key := yubicotest.NewPublicID()
		srv.AddKey(key)
		e.register("yk@example.com")
		if r := e.login("yk@example.com").api("POST", "/api/v1/me/2fa/yubico_otp", map[string]string{"otp": yubicotest.OTP(key)}); r.StatusCode != 200 {
			t.Fatalf("enrol: %d %s", r.StatusCode, r.Body)
		}
		otp := yubicotest.OTP(key)
		clients := make([]*client, 20)
		for i := range clients {
			clients[i] = e.passwordStep("yk@example.com")
		}
		if ok := portaltest.Parallel(20, func(i int) bool { return clients[i].yubicoLogin(otp).StatusCode == 200 }); ok != 1 {
			t.Fatalf("one OTP signed in %d times, want exactly 1", ok)
		}
	})
}

// replayOnce sends code 20 times at once on the login p started (a code is
// bound to its login), through every instance, and wants one success.
func replayOnce(t *testing.T, e *env, dialect string, p *client, method, code string) {
	t.Helper()
	clients := copies(e, dialect, p, 20)
	ok := portaltest.Parallel(20, func(i int) bool {
		return clients[i].api("POST", "/api/v1/login/2fa", map[string]string{"method": method, "code": code}).StatusCode == 200
	})
	if ok != 1 {
		t.Fatalf("one %s code signed in %d times, want exactly 1", method, ok)
	}
}

// TestAttackNoSecretsInResponses: once shown at enrolment, a TOTP secret
// and backup codes are in no answer again — not the user's own pages and
// API, not the login pages, not the staff console — and neither is any
// password, password hash or session token.
func TestAttackNoSecretsInResponses(t *testing.T) {
	e := newEnv(t, "sqlite")
	id, secret, backup := e.userWith2FA("leak@example.com")
	staff := e.staff("ops@example.com")
	p := e.passwordStep("leak@example.com")
	half := p.cookie()
	var bodies []string
	for _, path := range []string{"/login/2fa", "/login/2fa?method=totp", "/login/2fa?method=backup_code"} {
		bodies = append(bodies, p.get(path).Body)
	}
	p.api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": codeAt(t, secret, e.clock.Now())})
	for _, path := range []string{"/api/v1/me", "/api/v1/me/events", "/account/security", "/dashboard", "/account/2fa"} {
		bodies = append(bodies, p.get(path).Body)
	}
	for _, path := range []string{"/api/v1/admin/users?q=leak", "/admin/users?q=leak", "/admin/users/" + id, "/api/v1/admin/users/" + id, "/api/v1/admin/events"} {
		bodies = append(bodies, staff.get(path).Body)
	}
	hash := mustUser(t, e, "leak@example.com").PasswordHash
	secrets := append([]string{secret, testPassword, hash, "$argon2id$", half, p.cookie(), staff.cookie()}, backup...)
	for i, body := range bodies {
		for _, s := range secrets {
			if s != "" && strings.Contains(body, s) {
				t.Errorf("response %d holds %q", i, s)
			}
		}
	}
	if !strings.Contains(strings.Join(bodies, ""), "leak@example.com") {
		t.Fatal("the check is blind: no response even shows the user's email")
	}
}

// copies are n clients holding p's session token, spread over the
// instances: one login attacked from many places at once.
func copies(e *env, dialect string, p *client, n int) []*client {
	ts := targets(e, dialect)
	token := p.cookie()
	out := make([]*client, n)
	for i := range out {
		out[i] = ts[i%len(ts)].client()
		out[i].setCookie(token)
	}
	return out
}
