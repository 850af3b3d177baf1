package web_test

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/portaltest"
	"github.com/clientportal/portal/web"
	"github.com/clientportal/portal/yubico/yubicotest"
)

// slowLookupStore holds UserByEmail, once armed, until release is closed:
// the background work of a forgotten-password or recovery request running
// after the answer went out, as it does whenever the database is slower
// than writing a 202.
type slowLookupStore struct {
	web.Store
	armed   atomic.Bool
	release chan struct{}
}

func (s *slowLookupStore) UserByEmail(ctx context.Context, email string) (*portal.User, error) {
	if s.armed.CompareAndSwap(true, false) {
		<-s.release
	}
	return s.Store.UserByEmail(ctx, email)
}

// TestReview7IOwnBrowserLanguageLostAfterAnswer: the sixth review's fix
// decides whether a request is the user's own by looking its known-browser
// cookie up in the database, with the request's context. Forgotten-password
// and recovery requests do their work after the answer (README: "recovery
// requests are handled after the answer"), when net/http has cancelled that
// context: the lookup fails, and the owner's own browser no longer picks
// the language of the mail it asked for (README: mail follows the request's
// language "when the request is the user's own (… a browser on which a
// sign-in of the user completed before)"; TestReview5FIntruderPicksMailLanguage
// checks it only when the background work happens to beat the answer).
func TestReview7IOwnBrowserLanguageLostAfterAnswer(t *testing.T) {
	slow := &slowLookupStore{release: make(chan struct{})}
	e := newEnv(t, "sqlite", func(_ *web.Config, d *web.Deps) { slow.Store = d.Store; d.Store = slow })
	e.register("owner@example.com")
	laptop := e.client()
	if r := laptop.api("POST", "/api/v1/login", map[string]string{"email": "owner@example.com", "password": testPassword}); r.StatusCode != 200 {
		t.Fatalf("owner's sign-in: %d %s", r.StatusCode, r.Body)
	}
	e.web.Wait()
	if r := laptop.api("POST", "/api/v1/logout", nil); r.StatusCode >= 400 {
		t.Fatalf("logout: %d %s", r.StatusCode, r.Body)
	}

	// Signed out, on the same browser, in German: "Forgot your password?"
	laptop.hdr.Set("Accept-Language", "de")
	slow.armed.Store(true)
	if r := laptop.api("POST", "/api/v1/password/forgot", map[string]string{"email": "owner@example.com"}); r.StatusCode != 202 {
		t.Fatalf("forgot: %d %s", r.StatusCode, r.Body)
	}
	close(slow.release) // the answer is out; the background work goes on
	e.web.Wait()
	if lang, _ := e.box.LastLang("owner@example.com"); lang != "de" {
		t.Errorf("the reset link asked for from the owner's own browser is in %q; want its language de", lang)
	}
}

// holdRequestLog keeps a request from returning, once armed, until done is
// closed: its access-log line waits, so the work it started in the
// background finishes while the request is still live (as it can whenever
// the database is quick).
type holdRequestLog struct {
	slog.Handler
	armed atomic.Bool
	done  chan struct{}
}

func (h *holdRequestLog) Handle(ctx context.Context, rec slog.Record) error {
	if rec.Message == "request" && h.armed.CompareAndSwap(true, false) {
		select {
		case <-h.done:
		case <-time.After(5 * time.Second):
		}
	}
	return h.Handler.Handle(ctx, rec)
}

// signalNotifier closes done once a notice of kind is recorded.
type signalNotifier struct {
	localeNotifier
	kind string
	done chan struct{}
	once sync.Once
}

func (n *signalNotifier) Notify(ctx context.Context, m *portal.Notification) error {
	err := n.localeNotifier.Notify(ctx, m)
	if m.Kind == n.kind {
		n.once.Do(func() { close(n.done) })
	}
	return err
}

// TestReview7IIntruderBrowserStaysOwn: an intruder signs in with the
// password and a phished code from a browser that asks for Arabic. The
// owner follows "No, secure my account" and sets a new password: every
// session, device cookie and app token of the intruder ends. But the
// intruder's browser stays "a browser on which a sign-in of the user
// completed" for 400 days (known_devices is never cleared), so from it the
// intruder, with neither password nor code, still picks the language of
// the notices that warn the owner — the recovery request that would remove
// the owner's 2FA is announced in Arabic. The device cookie this replaced
// was void after the change (credential epoch).
func TestReview7IIntruderBrowserStaysOwn(t *testing.T) {
	done := make(chan struct{})
	notices := &signalNotifier{kind: portal.EventRecoveryRequested, done: done}
	hold := &holdRequestLog{done: done}
	e, alerts := alertsEnv(t, "sqlite", func(_ *web.Config, d *web.Deps) {
		d.Notifier = notices
		hold.Handler = d.Logger.Handler()
		d.Logger = slog.New(hold)
	})
	e.web.AccessLog = nil // request lines go through the logger (before any request)
	id, secret, _ := e.userWith2FA("owner@example.com")
	e.web.Wait()

	intruder := e.intruderWithPhishedCode("owner@example.com", secret, "ar")
	e.clock.Add(time.Minute)
	e.secureFromAlert(alerts, "owner@example.com")
	if r := intruder.get("/api/v1/me"); r.StatusCode == 200 {
		t.Fatal("the intruder's session outlived securing the account")
	}

	e.clock.Add(time.Hour)
	hold.armed.Store(true)
	if r := intruder.api("POST", "/api/v1/recovery", map[string]string{"email": "owner@example.com", "message": "I lost my phone"}); r.StatusCode != 202 {
		t.Fatalf("recovery request: %d %s", r.StatusCode, r.Body)
	}
	e.web.Wait()
	lang, ok := notices.locale(id, portal.EventRecoveryRequested)
	if !ok {
		t.Fatal("the owner was not told of the recovery request")
	}
	if lang == "ar" {
		t.Errorf("after the owner secured the account, the intruder's browser still picks the language of the recovery notice: %q", lang)
	}
}

// TestReview7IStaffSettingsEventHasNoOwner: the sixth review made saving
// the staff settings a security event "of the staff member" (README). It
// is written with no user at all (user_id ""): it is not in the staff
// member's own security events, and the console's filter by that staff
// member does not find it. A hijacked staff session that turns the 2FA
// policy to optional leaves nothing in the log of the person whose session
// it was.
func TestReview7IStaffSettingsEventHasNoOwner(t *testing.T) {
	e := newEnv(t, "sqlite")
	admin := e.staff("ops@example.com")
	if r := admin.api("PUT", "/api/v1/admin/settings", map[string]any{"twofa_policy": "optional", "remember_browsers": true, "recovery_wait_hours": 24}); r.StatusCode != 204 {
		t.Fatalf("settings: %d %s", r.StatusCode, r.Body)
	}
	has := func(r *response) bool {
		for _, ev := range r.json()["events"].([]any) {
			if ev.(map[string]any)["type"] == portal.EventPolicyChanged {
				return true
			}
		}
		return false
	}
	if r := admin.get("/api/v1/admin/events"); !has(r) {
		t.Fatalf("no settings event at all: %s", r.Body)
	}
	if r := admin.get("/api/v1/me/events"); !has(r) {
		t.Error("saving the staff settings is not among the staff member's own security events")
	}
	if r := admin.get("/api/v1/admin/events?user=ops@example.com"); !has(r) {
		t.Error("the console's events of the staff member do not show their saving of the settings")
	}
}

// TestReview7IResendPauseBypassedByAlternating: "a new one after 60 s"
// (README, Email and WhatsApp codes; SPEC §6, §7: "Resend allowed after
// 60 s"). The pause looks only at live codes of the same purpose, and a
// new code kills every live code of the channel whatever its purpose. So a
// signed-in user alternating a sign-in code (to their number) and an
// enrolment code (to any number) kills the code the pause would look at
// each time: every request goes out at once, here 8 WhatsApp messages in
// the same second, 4 of them to someone else's number.
func TestReview7IResendPauseBypassedByAlternating(t *testing.T) {
	e, srv := waEnv(t, "sqlite")
	c := e.customer("wa@example.com")
	if r := c.api("POST", "/api/v1/me/2fa/whatsapp", map[string]string{"phone": phone}); r.StatusCode != 202 {
		t.Fatalf("begin: %d %s", r.StatusCode, r.Body)
	}
	if r := c.api("POST", "/api/v1/me/2fa/whatsapp/confirm", map[string]string{"code": lastCode(t, srv, "+4915123456789")}); r.StatusCode != 200 {
		t.Fatalf("confirm: %d %s", r.StatusCode, r.Body)
	}
	e.clock.Add(61 * time.Second)
	before := len(srv.Messages())
	accepted := 0
	for i := 0; i < 4; i++ {
		if r := c.api("POST", "/api/v1/me/2fa/send", map[string]string{"method": "whatsapp"}); r.StatusCode == 202 {
			accepted++
		}
		if r := c.api("POST", "/api/v1/me/2fa/whatsapp", map[string]string{"phone": "+44 7911 123456"}); r.StatusCode == 202 {
			accepted++
		}
	}
	if sent := len(srv.Messages()) - before; sent > 2 || accepted > 2 {
		t.Errorf("%d WhatsApp messages (%d requests accepted) within one second; the 60-second pause allows one per purpose", sent, accepted)
	}
}

// TestReview7IYubiKeyRegisteredTwice: enrolment refuses a key "already
// registered" by comparing with the methods read before the (slow)
// validation call, and nothing in the store refuses a second method with
// the same public id. Two enrolments at once with two OTPs of one key (a
// double submit, or two tabs) both succeed: the key is listed twice, and
// removing "it" from the Security page leaves it working.
func TestReview7IYubiKeyRegisteredTwice(t *testing.T) {
	e, srv := ykEnv(t)
	srv.SetMode(yubicotest.Slow(300 * time.Millisecond))
	key := yubicotest.NewPublicID()
	srv.AddKey(key)
	e.register("y@example.com")
	c := e.login("y@example.com")
	otps := []string{yubicotest.OTP(key), yubicotest.OTP(key)}
	portaltest.Parallel(2, func(i int) bool {
		return c.api("POST", "/api/v1/me/2fa/yubico_otp", map[string]string{"otp": otps[i], "name": "Key"}).StatusCode == 200
	})
	n := 0
	for _, m := range c.get("/api/v1/me").json()["twofa"].(map[string]any)["methods"].([]any) {
		if m.(map[string]any)["type"] == "yubico_otp" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("one YubiKey is registered %d times to the account; want once (\"This YubiKey is already registered.\")", n)
	}
}

// TestReview7IDoubleSubmitLosesEnrolment: a person clicks "Send code" twice
// (or the browser resends the form): both requests find no set-up in
// progress, each makes a pending number, the first sends its code, the
// second is refused by the 60-second pause and, "leaving nothing
// half-enrolled", deletes every pending number of the user — the first's
// too. The code on the person's phone then confirms nothing: "There is no
// set-up in progress".
func TestReview7IDoubleSubmitLosesEnrolment(t *testing.T) {
	e, srv := waEnv(t, "sqlite")
	srv.SetDelay(300 * time.Millisecond)
	c := e.customer("wa@example.com")
	portaltest.Parallel(2, func(int) bool {
		return c.api("POST", "/api/v1/me/2fa/whatsapp", map[string]string{"phone": phone}).StatusCode == 202
	})
	srv.SetDelay(0)
	code, ok := srv.LastCode("4915123456789")
	if !ok {
		t.Fatal("no code was sent")
	}
	if r := c.api("POST", "/api/v1/me/2fa/whatsapp/confirm", map[string]string{"code": code}); r.StatusCode != 200 {
		t.Errorf("the code sent after a double submit confirms nothing: %d %s", r.StatusCode, r.Body)
	}
}

// TestReview7IEmailCodeOutlivesAddress: whoever reads the mailbox the
// account is leaving (and knows the password) asks for a sign-in code; it
// goes there. The owner confirms the move to a new address. The code, sent
// to an address the account no longer has, still signs in for the next
// ten minutes. A reset or unlock link in the same place is refused once
// the account has another address (README: "a reset or unlock link holds
// the address it went to and is refused once the account has another");
// email codes are "sent to the verified address" — the code is kept with
// the address it went to (codes.destination) but never compared with it.
func TestReview7IEmailCodeOutlivesAddress(t *testing.T) {
	e := newEnv(t, "sqlite")
	owner := e.customer("old@example.com")
	if r := owner.api("POST", "/api/v1/me/2fa/email", nil); r.StatusCode != 202 {
		t.Fatalf("email 2FA: %d %s", r.StatusCode, r.Body)
	}
	if r := owner.api("POST", "/api/v1/me/2fa/email/confirm", map[string]string{"code": e.box.LastCode("old@example.com")}); r.StatusCode != 200 {
		t.Fatalf("email 2FA confirm: %d %s", r.StatusCode, r.Body)
	}
	e.clock.Add(2 * time.Minute)

	reader := e.passwordStep("old@example.com") // reads the old mailbox
	if r := reader.api("POST", "/api/v1/login/2fa/send", map[string]string{"method": "email"}); r.StatusCode != 202 {
		t.Fatalf("send: %d %s", r.StatusCode, r.Body)
	}
	code := e.box.LastCode("old@example.com")

	if r := owner.api("POST", "/api/v1/me/email", map[string]string{"email": "new@example.com"}); r.StatusCode != 202 {
		t.Fatalf("email change: %d %s", r.StatusCode, r.Body)
	}
	if r := e.client().api("POST", "/api/v1/verify-email", map[string]string{"token": tokenOf(e.box.LastLink("new@example.com"))}); r.StatusCode != 204 {
		t.Fatalf("confirm the change: %d %s", r.StatusCode, r.Body)
	}
	if r := reader.api("POST", "/api/v1/login/2fa", map[string]string{"method": "email", "code": code}); r.StatusCode == 200 {
		t.Error("a sign-in code mailed to the address the account has left signs in after the move")
	}
}

// intruderWithPhishedCode signs in to email as an intruder would, with the
// password and a code of the owner's authenticator, from a browser that
// asks for lang.
func (e *env) intruderWithPhishedCode(email, secret, lang string) *client {
	e.t.Helper()
	c := e.client()
	c.hdr.Set("Accept-Language", lang)
	if r := c.api("POST", "/api/v1/login", map[string]string{"email": email, "password": testPassword}); r.StatusCode != 200 {
		e.t.Fatalf("intruder's password: %d %s", r.StatusCode, r.Body)
	}
	if r := c.api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": codeAt(e.t, secret, e.clock.Now())}); r.StatusCode != 200 {
		e.t.Fatalf("intruder's phished code: %d %s", r.StatusCode, r.Body)
	}
	return c
}
