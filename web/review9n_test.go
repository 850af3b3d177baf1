package web_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/web"
)

// review9NHookStore runs after once, right after a change that moves the
// user's credential epoch has committed and before the handler goes on.
type review9NHookStore struct {
	web.Store
	after atomic.Pointer[func()]
}

func (s *review9NHookStore) DisableTwoFactor(ctx context.Context, userID, keepSession string, rec *portal.Record) error {
	err := s.Store.DisableTwoFactor(ctx, userID, keepSession, rec)
	if f := s.after.Swap(nil); err == nil && f != nil {
		(*f)()
	}
	return err
}

// TestReview9NRenewDeviceAfterSecure: an intruder with the password and a
// phished code turns 2FA off; the owner, alerted by the intruder's
// sign-in, follows "No, secure my account" at the same moment. Securing
// lands between the intruder's change and renewDevice, which reads the
// user again and signs a device cookie of whatever credentials are current
// then: the ones the owner's securing just made. The intruder's browser,
// whose session securing ended, holds a device cookie of the secured
// account and counts as the owner's own again (the language of the
// owner's mail, the device's own password counter) - what 7I fixed.
func TestReview9NRenewDeviceAfterSecure(t *testing.T) {
	done := make(chan struct{})
	notices := &signalNotifier{kind: portal.EventRecoveryRequested, done: done}
	hold := &holdRequestLog{done: done}
	hook := &review9NHookStore{}
	e, alerts := alertsEnv(t, "sqlite", func(_ *web.Config, d *web.Deps) {
		d.Notifier = notices
		hold.Handler = d.Logger.Handler()
		d.Logger = slog.New(hold)
		hook.Store = d.Store
		d.Store = hook
	})
	e.web.AccessLog = nil
	id, secret, _ := e.userWith2FA("owner@example.com")
	e.web.Wait()

	intruder := e.intruderWithPhishedCode("owner@example.com", secret, "ar")
	e.clock.Add(time.Minute)
	e.web.Wait()
	secure := func() { e.secureFromAlert(alerts, "owner@example.com") }
	hook.after.Store(&secure)
	if r := intruder.api("DELETE", "/api/v1/me/2fa", map[string]string{"password": testPassword, "method": "totp", "code": codeAt(t, secret, e.clock.Now())}); r.StatusCode >= 500 {
		t.Fatalf("intruder turns 2FA off: %d %s", r.StatusCode, r.Body)
	}
	if hook.after.Load() != nil {
		t.Fatal("2FA was not turned off")
	}
	if r := intruder.get("/api/v1/me"); r.StatusCode == 200 {
		t.Fatal("the intruder's session outlived securing the account")
	}

	e.clock.Add(time.Hour)
	e.web.Wait()
	if r := intruder.api("POST", "/api/v1/password/forgot", map[string]string{"email": "owner@example.com"}); r.StatusCode != 202 {
		t.Fatalf("forgot: %d %s", r.StatusCode, r.Body)
	}
	e.web.Wait()
	if lang, _ := e.box.LastLang("owner@example.com"); lang == "ar" {
		t.Errorf("the intruder's browser got a device cookie of the credentials the owner's securing made: it picks the language of the owner's reset mail: %q", lang)
	}
	_ = id
}
