package web_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/clientportal/portal/mfa"
	"github.com/clientportal/portal/sqlstore/storetest"
	"github.com/clientportal/portal/web"
	"github.com/clientportal/portal/whatsapp"
	"github.com/clientportal/portal/whatsapp/whatsapptest"
	"github.com/clientportal/portal/yubico"
	"github.com/clientportal/portal/yubico/yubicotest"
)

// TestReview8LMailLanguageAfterPasswordChange: a user who never picked a
// language uses the portal in German on their laptop. They change their
// password there, sign out and later, on the same laptop, forget the new
// password. The reset link (and the sign-in code asked for on the reset
// page) must come in German, as they did before today: the laptop is a
// browser on which the user's own sign-ins completed. Since 12be688 the
// request counts as the user's own only with a device cookie of the
// current credentials, and changing the password (or turning 2FA on, which
// moves the credential epoch too) voids the laptop's cookie without giving
// a new one, so the mail falls back to the default language (English).
func TestReview8LMailLanguageAfterPasswordChange(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		for _, change := range []string{"", "password", "2fa on"} {
			e := newEnv(t, dialect)
			laptop := e.client()
			laptop.hdr.Set("Accept-Language", "de")
			if r := laptop.api("POST", "/api/v1/register", map[string]string{"email": "de@example.com", "password": testPassword, "name": "Dora"}); r.StatusCode != 201 {
				t.Fatalf("register: %d %s", r.StatusCode, r.Body)
			}
			e.verify("de@example.com")
			if r := laptop.api("POST", "/api/v1/login", map[string]string{"email": "de@example.com", "password": testPassword}); r.StatusCode != 200 {
				t.Fatalf("sign-in: %d %s", r.StatusCode, r.Body)
			}
			e.web.Wait()
			const newPassword = "a brand new passphrase for dora"
			switch change {
			case "2fa on":
				e.enableTOTP(laptop)
			case "password":
				if r := laptop.api("POST", "/api/v1/me/password", map[string]string{"current_password": testPassword, "new_password": newPassword}); r.StatusCode != 204 {
					t.Fatalf("change password: %d %s", r.StatusCode, r.Body)
				}
			}
			if r := laptop.api("POST", "/api/v1/logout", nil); r.StatusCode >= 400 {
				t.Fatalf("logout: %d %s", r.StatusCode, r.Body)
			}
			// Without a change first, the same request gets German mail.
			if r := laptop.api("POST", "/api/v1/password/forgot", map[string]string{"email": "de@example.com"}); r.StatusCode != 202 {
				t.Fatalf("forgot: %d %s", r.StatusCode, r.Body)
			}
			e.web.Wait()
			if lang, _ := e.box.LastLang("de@example.com"); lang != "de" {
				t.Errorf("after %q: the reset link asked for from the owner's own laptop is in %q; want de", change, lang)
			}
		}
	})
}

// review8LEnv is an env with WhatsApp and YubiKey doubles.
func review8LEnv(t *testing.T, dialect string) (*env, *whatsapptest.Server, *yubicotest.Server) {
	wa := whatsapptest.NewServer(t, "test-token", "1234567890")
	yk := yubicotest.NewServer(t, "4711", ykSecret)
	ykc, err := yubico.New(yubico.Config{ClientID: "4711", SecretKey: ykSecret, URLs: []string{yk.URL()}, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, dialect, withWhatsAppClient(whatsapp.New(whatsapp.Config{
		BaseURL: wa.URL(), PhoneNumberID: "1234567890", AccessToken: "test-token", Template: "login_code", Language: "en_US", Timeout: 2 * time.Second,
	})), func(_ *web.Config, d *web.Deps) { d.YubicoOTP = &mfa.YubicoOTP{Validator: ykc} })
	return e, wa, yk
}

// TestReview8LMethodsJourney: register, verify, TOTP through the pages
// (with "Confirm it's you" in between and a second tab), then email, WhatsApp
// and a YubiKey, signing in with each; new backup codes; a new address and
// an email code to it; a password change; a reset confirmed by email code.
func TestReview8LMethodsJourney(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e, wa, yk := review8LEnv(t, dialect)
		const addr = "journey@example.com"
		c := e.client()
		if r := c.form("/register", url.Values{"email": {addr}, "password": {testPassword}, "password_confirm": {testPassword}, "name": {"Jo"}}); r.StatusCode != 303 {
			t.Fatalf("register form: %d %s", r.StatusCode, r.Body)
		}
		e.verify(addr)
		// The sign-in is no longer recent: "Confirm it's you" first.
		e.clock.Add(30 * time.Minute)
		r := c.form("/account/2fa/totp", nil)
		if r.StatusCode != 303 || !strings.HasPrefix(r.Header.Get("Location"), "/account/reauth") {
			t.Fatalf("totp begin, not recent: %d %s", r.StatusCode, r.Header.Get("Location"))
		}
		if r := c.form("/account/reauth", url.Values{"password": {testPassword}, "next": {"/account/2fa"}}); r.StatusCode != 303 {
			t.Fatalf("reauth: %d %s", r.StatusCode, r.Body)
		}
		if r := c.form("/account/2fa/totp", nil); r.StatusCode != 303 || r.Header.Get("Location") != "/account/2fa/totp" {
			t.Fatalf("totp begin: %d %s", r.StatusCode, r.Header.Get("Location"))
		}
		page := c.get("/account/2fa/totp")
		tab2 := c.get("/account/2fa/totp")
		if page.StatusCode != 200 || tab2.StatusCode != 200 {
			t.Fatalf("set-up page: %d, second tab %d", page.StatusCode, tab2.StatusCode)
		}
		m := regexpSecret(page.Body)
		if m == "" || regexpSecret(tab2.Body) != m {
			t.Fatalf("secret not shown the same in both tabs")
		}
		secret := strings.ReplaceAll(m, " ", "")
		if r := c.form("/account/2fa/totp/confirm", url.Values{"code": {codeAt(t, secret, e.clock.Now())}}); r.StatusCode != 303 || r.Header.Get("Location") != "/account/2fa/backup-codes" {
			t.Fatalf("totp confirm: %d %s %s", r.StatusCode, r.Header.Get("Location"), r.Body)
		}
		e.clock.Add(30 * time.Second)
		if r := c.form("/logout", nil); r.StatusCode != 303 {
			t.Fatalf("logout: %d", r.StatusCode)
		}
		p := e.passwordStep(addr)
		if r := p.api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": codeAt(t, secret, e.clock.Now())}); r.StatusCode != 200 {
			t.Fatalf("totp sign-in: %d %s", r.StatusCode, r.Body)
		}
		// Email codes.
		if r := p.api("POST", "/api/v1/me/2fa/email", nil); r.StatusCode != 202 {
			t.Fatalf("email begin: %d %s", r.StatusCode, r.Body)
		}
		if r := p.api("POST", "/api/v1/me/2fa/email/confirm", map[string]string{"code": e.box.LastCode(addr)}); r.StatusCode != 200 {
			t.Fatalf("email confirm: %d %s", r.StatusCode, r.Body)
		}
		// WhatsApp.
		if r := p.api("POST", "/api/v1/me/2fa/whatsapp", map[string]string{"phone": phone}); r.StatusCode != 202 {
			t.Fatalf("whatsapp begin: %d %s", r.StatusCode, r.Body)
		}
		if r := p.api("POST", "/api/v1/me/2fa/whatsapp/confirm", map[string]string{"code": lastCode(t, wa, "+4915123456789")}); r.StatusCode != 200 {
			t.Fatalf("whatsapp confirm: %d %s", r.StatusCode, r.Body)
		}
		// A YubiKey.
		key := yubicotest.NewPublicID()
		yk.AddKey(key)
		if r := p.api("POST", "/api/v1/me/2fa/yubico_otp", map[string]string{"otp": yubicotest.OTP(key), "name": "Key"}); r.StatusCode != 200 {
			t.Fatalf("yubikey: %d %s", r.StatusCode, r.Body)
		}
		e.clock.Add(61 * time.Second)
		// Sign in with each.
		s := e.passwordStep(addr)
		if r := s.api("POST", "/api/v1/login/2fa/send", map[string]string{"method": "email"}); r.StatusCode != 202 {
			t.Fatalf("email send: %d %s", r.StatusCode, r.Body)
		}
		if r := s.api("POST", "/api/v1/login/2fa", map[string]string{"method": "email", "code": e.box.LastCode(addr)}); r.StatusCode != 200 {
			t.Errorf("email sign-in: %d %s", r.StatusCode, r.Body)
		}
		e.clock.Add(61 * time.Second)
		s = e.passwordStep(addr)
		if r := s.api("POST", "/api/v1/login/2fa/send", map[string]string{"method": "whatsapp"}); r.StatusCode != 202 {
			t.Fatalf("wa send: %d %s", r.StatusCode, r.Body)
		}
		if r := s.api("POST", "/api/v1/login/2fa", map[string]string{"method": "whatsapp", "code": lastCode(t, wa, "+4915123456789")}); r.StatusCode != 200 {
			t.Errorf("whatsapp sign-in: %d %s", r.StatusCode, r.Body)
		}
		s = e.passwordStep(addr)
		if r := s.yubicoLogin(yubicotest.OTP(key)); r.StatusCode != 200 {
			t.Errorf("yubikey sign-in: %d %s", r.StatusCode, r.Body)
		}
		// Regenerate backup codes.
		if r := s.api("POST", "/api/v1/me/2fa/backup_codes", nil); r.StatusCode != 200 {
			t.Errorf("backup codes: %d %s", r.StatusCode, r.Body)
		}
		// New address, then an email code to it.
		const addr2 = "moved@example.com"
		if r := s.api("POST", "/api/v1/me/email", map[string]string{"email": addr2}); r.StatusCode != 202 {
			t.Fatalf("change email: %d %s", r.StatusCode, r.Body)
		}
		if r := e.client().api("POST", "/api/v1/verify-email", map[string]string{"token": tokenOf(e.box.LastLink(addr2))}); r.StatusCode != 204 {
			t.Fatalf("verify new address: %d %s", r.StatusCode, r.Body)
		}
		e.clock.Add(61 * time.Second)
		s = e.passwordStep(addr2)
		if r := s.api("POST", "/api/v1/login/2fa/send", map[string]string{"method": "email"}); r.StatusCode != 202 {
			t.Fatalf("email send, new address: %d %s", r.StatusCode, r.Body)
		}
		if r := s.api("POST", "/api/v1/login/2fa", map[string]string{"method": "email", "code": e.box.LastCode(addr2)}); r.StatusCode != 200 {
			t.Errorf("email sign-in at the new address: %d %s", r.StatusCode, r.Body)
		}
		// Change the password.
		const pw2 = "another long passphrase here"
		if r := s.api("POST", "/api/v1/me/password", map[string]string{"current_password": testPassword, "new_password": pw2}); r.StatusCode != 204 {
			t.Fatalf("change password: %d %s", r.StatusCode, r.Body)
		}
		// Forgot password, confirmed with an email code.
		e.clock.Add(61 * time.Second)
		f := e.client()
		if r := f.api("POST", "/api/v1/password/forgot", map[string]string{"email": addr2}); r.StatusCode != 202 {
			t.Fatalf("forgot: %d %s", r.StatusCode, r.Body)
		}
		e.web.Wait()
		tok := tokenOf(e.box.LastLink(addr2))
		if r := f.api("POST", "/api/v1/password/reset/send", map[string]string{"token": tok, "method": "email"}); r.StatusCode != 202 {
			t.Fatalf("reset send: %d %s", r.StatusCode, r.Body)
		}
		if r := f.api("POST", "/api/v1/password/reset", map[string]string{"token": tok, "password": testPassword, "method": "email", "code": e.box.LastCode(addr2)}); r.StatusCode >= 300 {
			t.Errorf("reset with email code: %d %s", r.StatusCode, r.Body)
		}
	})
}

func regexpSecret(body string) string {
	i := strings.Index(body, `id="secret"`)
	if i < 0 {
		return ""
	}
	rest := body[i:]
	j := strings.Index(rest, ">")
	k := strings.Index(rest, "<")
	if j < 0 || k < 0 || k < j {
		return ""
	}
	return strings.TrimSpace(rest[j+1 : k])
}

// TestReview8LSecureAfterYes: a new browser's alert; the owner first says
// "Yes, this was me", then changes their mind and secures the account with
// the password, then chooses a new password and signs in again.
func TestReview8LSecureAfterYes(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e, alerts := alertsEnv(t, dialect)
		const addr = "sec@example.com"
		_, secret, _ := e.userWith2FA(addr)
		e.web.Wait()
		other := e.passwordStep(addr)
		if r := other.api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": codeAt(t, secret, e.clock.Now())}); r.StatusCode != 200 {
			t.Fatalf("second browser: %d %s", r.StatusCode, r.Body)
		}
		e.web.Wait()
		link := alerts.LastLink(addr)
		if link == "" {
			t.Fatal("no alert")
		}
		tok := tokenOf(link)
		owner := e.client()
		if r := owner.get("/secure?token=" + url.QueryEscape(tok) + "&answer=me"); r.StatusCode != 200 || !strings.Contains(r.Body, "Thanks for confirming") {
			t.Fatalf("yes: %d %s", r.StatusCode, r.Body)
		}
		if r := owner.get("/secure?token=" + url.QueryEscape(tok)); r.StatusCode != 200 || !strings.Contains(r.Body, `name="password"`) {
			t.Fatalf("no page: %d %s", r.StatusCode, r.Body)
		}
		if r := owner.form("/secure", url.Values{"token": {tok}, "password": {"wrong password entirely"}}); r.StatusCode < 400 || !strings.Contains(r.Body, `name="password"`) {
			t.Errorf("wrong password: %d, form not shown again", r.StatusCode)
		}
		if r := owner.form("/secure", url.Values{"token": {tok}, "password": {testPassword}}); r.StatusCode != 200 || !strings.Contains(r.Body, "Your account is secured") {
			t.Fatalf("secure: %d %s", r.StatusCode, r.Body)
		}
		if r := other.get("/api/v1/me"); r.StatusCode == 200 {
			t.Error("the other browser is still signed in")
		}
		// "Choose a new password".
		e.clock.Add(time.Minute)
		if r := owner.api("POST", "/api/v1/password/forgot", map[string]string{"email": addr}); r.StatusCode != 202 {
			t.Fatalf("forgot: %d %s", r.StatusCode, r.Body)
		}
		e.web.Wait()
		const pw2 = "the owner's fresh passphrase"
		rt := tokenOf(e.box.LastLink(addr))
		if r := owner.api("POST", "/api/v1/password/reset", map[string]string{"token": rt, "password": pw2, "method": "totp", "code": codeAt(t, secret, e.clock.Now())}); r.StatusCode >= 300 {
			t.Fatalf("reset: %d %s", r.StatusCode, r.Body)
		}
		e.clock.Add(30 * time.Second)
		c := e.client()
		if r := c.api("POST", "/api/v1/login", map[string]string{"email": addr, "password": pw2}); r.StatusCode != 200 || r.json()["status"] != "2fa_required" {
			t.Fatalf("sign-in with the new password: %d %s", r.StatusCode, r.Body)
		}
		if r := c.api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": codeAt(t, secret, e.clock.Now())}); r.StatusCode != 200 {
			t.Errorf("code after securing: %d %s", r.StatusCode, r.Body)
		}
	})
}
