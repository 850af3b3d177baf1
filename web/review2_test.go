package web_test

import (
	"context"
	"fmt"
	"github.com/clientportal/portal/mfa"
	"github.com/clientportal/portal/password"
	"github.com/clientportal/portal/yubico"
	"github.com/clientportal/portal/yubico/yubicotest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/sqlstore/storetest"
	"github.com/clientportal/portal/web"
)

// Second outside review: attacks on the fixes of the first one. Each test
// here fails on the code it was written against.

// pauseStore holds the first UserMethods call once armed, after its read,
// until the gate opens:
// a login paused between its password check (and its reading of the 2FA
// state) and the write of its session, as a busy scheduler, a slow hash or
// a loaded database pauses it.
type pauseStore struct {
	web.Store
	armed  atomic.Bool
	paused chan struct{}
	gate   chan struct{}
}

func newPauseStore() *pauseStore {
	return &pauseStore{paused: make(chan struct{}, 1), gate: make(chan struct{})}
}

func (p *pauseStore) UserMethods(ctx context.Context, userID string) ([]*portal.Method, error) {
	ms, err := p.Store.UserMethods(ctx, userID)
	if p.armed.CompareAndSwap(true, false) {
		p.paused <- struct{}{}
		<-p.gate
	}
	return ms, err
}

func withPause(p *pauseStore) option {
	return func(_ *web.Config, d *web.Deps) { p.Store = d.Store; d.Store = p }
}

// pausedLogin starts an attacker's password login and returns once it is
// past the password check and paused; finish completes it.
func (p *pauseStore) pausedLogin(t *testing.T, e *env, email, pw string) (attacker *client, finish func() *response) {
	t.Helper()
	attacker = e.client()
	done := make(chan *response, 1)
	p.armed.Store(true)
	go func() {
		done <- attacker.api("POST", "/api/v1/login", map[string]string{"email": email, "password": pw})
	}()
	select {
	case <-p.paused:
	case r := <-done:
		t.Fatalf("the login did not pause: %d %s", r.StatusCode, r.Body)
	case <-time.After(10 * time.Second):
		t.Fatal("the login did not reach the 2FA check")
	}
	return attacker, func() *response {
		close(p.gate)
		return <-done
	}
}

// TestReview2LoginRacesPasswordChange: the owner of an account whose
// password leaked changes it ("password change ends every other session",
// SPEC §3). An attacker who keeps logging in with the old password has one
// login in flight most of the time (the argon2 verify alone takes tens of
// milliseconds); the one that read the old hash before the change writes
// its session after the change's transaction deleted the others, and that
// session lives on, at level full and in sudo mode (no 2FA: the password
// just given counts). From it the attacker enrols their own authenticator:
// the owner is locked out of an account whose password they just changed.
func TestReview2LoginRacesPasswordChange(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		p := newPauseStore()
		e := newEnv(t, dialect, withPause(p))
		e.register("leaked@example.com")
		owner := e.login("leaked@example.com")

		attacker, finish := p.pausedLogin(t, e, "leaked@example.com", testPassword)
		if r := owner.api("POST", "/api/v1/me/password", map[string]string{"current_password": testPassword, "new_password": "a new and secret passphrase"}); r.StatusCode != 204 {
			t.Fatalf("password change: %d %s", r.StatusCode, r.Body)
		}
		if r := finish(); r.StatusCode == 200 {
			t.Logf("the login that checked the old password finished after the change: %s", r.Body)
		}
		if r := attacker.get("/api/v1/me"); r.StatusCode != 401 {
			t.Errorf("a session signed in with the old password outlived the password change: %d", r.StatusCode)
			if r := attacker.api("POST", "/api/v1/me/2fa/totp", nil); r.StatusCode == 200 {
				t.Errorf("...and is in sudo mode: it can enrol the attacker's authenticator (TOTP begin: %d)", r.StatusCode)
			}
		}
	})
}

// TestReview2LoginRacesEnablingTwoFactor: the same race against finding
// 12's fix. The owner turns 2FA on to shut out someone who has the
// password; a login that read "no 2FA" before the confirmation commits
// gets a full session in sudo mode afterwards, so turning 2FA on did not
// sign the attacker out, and the attacker can add a method of their own.
func TestReview2LoginRacesEnablingTwoFactor(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		p := newPauseStore()
		e := newEnv(t, dialect, withPause(p))
		e.register("late@example.com")
		owner := e.login("late@example.com")
		r := owner.api("POST", "/api/v1/me/2fa/totp", nil)
		if r.StatusCode != 200 {
			t.Fatalf("begin: %d %s", r.StatusCode, r.Body)
		}
		secret := r.json()["secret"].(string)

		attacker, finish := p.pausedLogin(t, e, "late@example.com", testPassword)
		if r := owner.api("POST", "/api/v1/me/2fa/totp/confirm", map[string]string{"code": codeAt(t, secret, e.clock.Now())}); r.StatusCode != 200 {
			t.Fatalf("confirm: %d %s", r.StatusCode, r.Body)
		}
		r = finish()
		if r.StatusCode == 200 && r.json()["status"] == "authenticated" {
			t.Errorf("a password-only login finished as %q after 2FA was turned on", r.json()["status"])
		}
		if r := attacker.get("/api/v1/me"); r.StatusCode == 200 {
			t.Errorf("a session signed in with the password alone outlived turning 2FA on: %d", r.StatusCode)
			if r := attacker.api("POST", "/api/v1/me/2fa/totp", nil); r.StatusCode == 200 {
				t.Errorf("...in sudo mode: it can enrol a second authenticator of the attacker's")
			}
		}
	})
}

// TestReview2LoginLoopOutlivesPasswordChange is the race above without any
// pause, at the real hashing cost: an attacker keeps two logins in flight
// with the leaked password while the owner changes it. Some session that
// the attacker obtained is still alive afterwards.
func TestReview2LoginLoopOutlivesPasswordChange(t *testing.T) {
	e := newEnv(t, "sqlite", withHasher(password.NewHasher(password.DefaultParams, 0)))
	e.register("loop@example.com")
	owner := e.login("loop@example.com")
	stop := make(chan struct{})
	var mu sync.Mutex
	var sessions []*client
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				c := e.client()
				if r := c.api("POST", "/api/v1/login", map[string]string{"email": "loop@example.com", "password": testPassword}); r.StatusCode == 200 {
					mu.Lock()
					sessions = append(sessions, c)
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	if r := owner.api("POST", "/api/v1/me/password", map[string]string{"current_password": testPassword, "new_password": "a new and secret passphrase"}); r.StatusCode != 204 {
		t.Fatalf("password change: %d %s", r.StatusCode, r.Body)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	alive := 0
	for _, c := range sessions {
		if c.get("/api/v1/me").StatusCode == 200 {
			alive++
		}
	}
	if alive > 0 {
		t.Errorf("%d of the attacker's %d sessions outlived the password change", alive, len(sessions))
	}
}

// TestReview2DeviceCookiesMultiplyGuesses: finding 8's device cookies are
// a MAC of the address and a nonce, nothing else: never stored, never
// revoked, not tied to the password. Whoever once knew the password (a
// leak, a former colleague) mints as many as they like, one per sign-in
// from a fresh browser, and keeps them for a year. After the owner changes
// the password, each cookie is a password counter of its own: 10 guesses
// at once and a further escalating allowance per cookie, beside the shared
// counter. With 30 cookies from 30 networks that is 300 guesses where the
// account's limit is 10.
func TestReview2DeviceCookiesMultiplyGuesses(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, withConfig(trustLocalProxy))
		e.register("dev@example.com")
		const cookies = 30
		var minted []string
		for i := range cookies {
			c := e.client().fromIP(fmt.Sprintf("198.51.100.%d", i+1))
			if r := c.api("POST", "/api/v1/login", map[string]string{"email": "dev@example.com", "password": testPassword}); r.StatusCode != 200 {
				t.Fatalf("login %d: %d", i, r.StatusCode)
			}
			v := c.cookieNamed("portal_device")
			if v == "" {
				t.Fatal("no device cookie")
			}
			minted = append(minted, v)
		}
		owner := e.login("dev@example.com")
		if r := owner.api("POST", "/api/v1/me/password", map[string]string{"current_password": testPassword, "new_password": "the owner's new passphrase"}); r.StatusCode != 204 {
			t.Fatalf("password change: %d %s", r.StatusCode, r.Body)
		}
		e.clock.Add(time.Hour)
		judged := 0
		for i, v := range minted {
			c := e.client().fromIP(fmt.Sprintf("203.0.113.%d", i+1))
			c.setCookieNamed("portal_device", v)
			for n := range portal.PasswordDeviceLimit.Threshold {
				r := c.api("POST", "/api/v1/login", map[string]string{"email": "dev@example.com", "password": fmt.Sprintf("guess number %d-%d", i, n)})
				if r.StatusCode == 401 {
					judged++
				}
			}
		}
		if judged > portal.PasswordAccountLimit.Threshold {
			t.Errorf("%d wrong passwords were judged after the password change (the account's limit is %d): device cookies minted with the old password are counters of their own", judged, portal.PasswordAccountLimit.Threshold)
		}
	})
}

// TestReview2WhatsAppNumberBlocked: any customer with a verified address
// (their own) may start a WhatsApp enrolment for any number, and each
// start sends a code there. The per-number cap (10 an hour, across all
// accounts) counts those enrolment codes of numbers nobody proved with the
// login codes of the number's owner, so a stranger's nine enrolments an
// hour, from one account on one network, keep the owner from getting a
// WhatsApp sign-in code at all, and make the portal send the owner's phone
// a paid message every minute. (Finding 10 asked for a destination quota;
// this one is a lever against the destination.)
func TestReview2WhatsAppNumberBlocked(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e, srv := waEnv(t, dialect)
		e.register("owner@example.com")
		e.verify("owner@example.com")
		owner := e.login("owner@example.com")
		if r := owner.api("POST", "/api/v1/me/2fa/whatsapp", map[string]string{"phone": phone}); r.StatusCode != 202 {
			t.Fatalf("owner begin: %d %s", r.StatusCode, r.Body)
		}
		if r := owner.api("POST", "/api/v1/me/2fa/whatsapp/confirm", map[string]string{"code": lastCode(t, srv, "+4915123456789")}); r.StatusCode != 200 {
			t.Fatalf("owner confirm: %d %s", r.StatusCode, r.Body)
		}
		e.clock.Add(2 * time.Hour)

		// The stranger: an account of their own, their own address verified.
		e.register("stranger@example.net")
		e.verify("stranger@example.net")
		s := e.login("stranger@example.net")
		sent := 0
		for range 10 {
			e.clock.Add(61 * time.Second)
			s.api("POST", "/api/v1/reauth", map[string]string{"password": testPassword})
			if r := s.api("POST", "/api/v1/me/2fa/whatsapp", map[string]string{"phone": phone}); r.StatusCode == 202 {
				sent++
			}
		}
		e.clock.Add(61 * time.Second)
		p := e.passwordStep("owner@example.com")
		r := p.api("POST", "/api/v1/login/2fa/send", map[string]string{"method": "whatsapp"})
		if r.StatusCode != 202 {
			t.Errorf("after a stranger's %d enrolment codes to the owner's number, the owner gets no sign-in code: %d %s", sent, r.StatusCode, r.Body)
		}
	})
}

// TestReview2EnrolmentOutlivesStaffReset: a staff reset (or turning 2FA
// off) is the remedy for a hijacked account: every method, backup code and
// session goes. An enrolment in flight from the hijacked session, here a
// YubiKey whose OTP is being checked with the validation servers (a
// network round trip), creates and confirms its method after the reset,
// because neither CreateMethod nor ConfirmMethod checks that the session
// asking still exists. The reset ends with 2FA on, the attacker's key the
// only method and the attacker holding the fresh backup codes; the owner,
// told "set up 2FA again", is asked for the attacker's key.
func TestReview2EnrolmentOutlivesStaffReset(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		srv := yubicotest.NewServer(t, "4711", ykSecret)
		yk, err := yubico.New(yubico.Config{ClientID: "4711", SecretKey: ykSecret, URLs: []string{srv.URL()}, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		p := newPauseStore()
		e := newEnv(t, dialect, withPause(p), func(_ *web.Config, d *web.Deps) { d.YubicoOTP = &mfa.YubicoOTP{Validator: yk} })
		id, secret, _ := e.userWith2FA("hijacked@example.com")
		// The attacker's session: the owner's own, stolen while in sudo mode.
		stolen := e.passwordStep("hijacked@example.com")
		if r := stolen.api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": codeAt(t, secret, e.clock.Now())}); r.StatusCode != 200 {
			t.Fatalf("second step: %d %s", r.StatusCode, r.Body)
		}
		key := yubicotest.NewPublicID()
		srv.AddKey(key)

		done := make(chan *response, 1)
		p.armed.Store(true)
		go func() {
			done <- stolen.api("POST", "/api/v1/me/2fa/yubico_otp", map[string]string{"otp": yubicotest.OTP(key), "name": "attacker"})
		}()
		select {
		case <-p.paused:
		case <-time.After(10 * time.Second):
			t.Fatal("the enrolment did not pause")
		}
		if err := e.web.ResetTwoFactor(t.Context(), id, "", "account hijacked"); err != nil {
			t.Fatal(err)
		}
		close(p.gate)
		r := <-done
		if r.StatusCode == 200 {
			t.Errorf("an enrolment from a session the reset ended was confirmed after the reset: %s", r.Body)
		}
		ms, _ := e.db.UserMethods(t.Context(), id)
		for _, m := range ms {
			if m.Confirmed() {
				t.Errorf("after the staff reset the account has 2FA again, with the attacker's %s", m.Type)
			}
		}
	})
}

// TestReview2ForcedSetupDeadEnd (not a hole, a dead end next to one): a
// user whom policy forces to set up 2FA gets a session at level setup in
// sudo mode for 10 minutes. After that, enrolment answers
// reauth_required, and re-authentication (a User route) answers
// 2fa_setup_required: the user cannot set up 2FA until they sign out and
// in again.
func TestReview2ForcedSetupDeadEnd(t *testing.T) {
	e := newEnv(t, "sqlite")
	e.register("slow@example.com")
	e.db.SaveSettings(t.Context(), &portal.Settings{TwoFactorPolicy: portal.PolicyEveryone, RememberBrowsers: true, RecoveryWait: 24 * time.Hour}, "")
	c := e.client()
	if r := c.api("POST", "/api/v1/login", map[string]string{"email": "slow@example.com", "password": testPassword}); r.json()["status"] != "2fa_setup_required" {
		t.Fatalf("login: %s", r.Body)
	}
	e.clock.Add(11 * time.Minute)
	r := c.api("POST", "/api/v1/me/2fa/totp", nil)
	if r.StatusCode == 200 {
		return
	}
	re := c.api("POST", "/api/v1/reauth", map[string]string{"password": testPassword})
	if re.StatusCode != 200 {
		t.Errorf("set-up after 10 minutes: %d %s; re-authenticating: %d %s", r.StatusCode, r.errCode(), re.StatusCode, re.errCode())
	}
}

// TestReview2RecoveryAddressQuotaLocksOwnerOut: finding 11's per-address
// recovery quota (3 a day) counts every request naming the address, from
// anyone. A stranger who spends it each day, from three networks, keeps
// the owner who lost their methods from ever asking for recovery
// themselves (with their own message for staff): the owner's request is
// refused with 429 for a day, every day.
func TestReview2RecoveryAddressQuotaLocksOwnerOut(t *testing.T) {
	e := newEnv(t, "sqlite", withConfig(trustLocalProxy))
	e.userWith2FA("lostphone@example.com")
	for i := range portal.RecoveryAddressLimit.Threshold {
		e.client().fromIP(fmt.Sprintf("203.0.113.%d", i+1)).api("POST", "/api/v1/recovery", map[string]string{"email": "lostphone@example.com", "message": "x"})
	}
	e.web.Wait()
	r := e.client().fromIP("192.0.2.77").api("POST", "/api/v1/recovery", map[string]string{"email": "lostphone@example.com", "message": "It is me, I lost my phone; call me on my office number."})
	if r.StatusCode == 429 {
		t.Errorf("the owner's own recovery request is refused because a stranger used the address's quota: %d %s", r.StatusCode, r.Body)
	}
	e.web.Wait()
}
