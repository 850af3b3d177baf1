package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/clientportal/portal/mfa"
	"github.com/clientportal/portal/web"
	"github.com/clientportal/portal/yubico"
	"github.com/clientportal/portal/yubico/yubicotest"
)

const ykSecret = "c2VjcmV0LWtleS1mb3ItdGVzdHM=" // base64 of "secret-key-for-tests"

// ykEnv is an env whose YubiKey OTPs are checked by a local validation
// server (a second, broken one can be added).
func ykEnv(t *testing.T, extra ...string) (*env, *yubicotest.Server) {
	srv := yubicotest.NewServer(t, "4711", ykSecret)
	client, err := yubico.New(yubico.Config{ClientID: "4711", SecretKey: ykSecret, URLs: append([]string{srv.URL()}, extra...), Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, "sqlite", func(_ *web.Config, d *web.Deps) { d.YubicoOTP = &mfa.YubicoOTP{Validator: client} })
	return e, srv
}

func (c *client) yubicoLogin(otp string) *response {
	return c.api("POST", "/api/v1/login/2fa", map[string]string{"method": "yubico_otp", "code": otp})
}

func TestYubicoOTP(t *testing.T) {
	e, srv := ykEnv(t)
	key := yubicotest.NewPublicID()
	srv.AddKey(key)
	e.register("y@example.com")
	c := e.login("y@example.com")
	r := c.api("POST", "/api/v1/me/2fa/yubico_otp", map[string]string{"otp": yubicotest.OTP(key), "name": "Blue key"})
	if r.StatusCode != 200 || r.json()["method"].(map[string]any)["name"] != "Blue key" || r.json()["backup_codes"] == nil {
		t.Fatalf("enrol: %d %s", r.StatusCode, r.Body)
	}

	// A good OTP works once; the same OTP again is refused.
	otp := yubicotest.OTP(key)
	if r := e.passwordStep("y@example.com").yubicoLogin(otp); r.StatusCode != 200 {
		t.Fatalf("good OTP: %d %s", r.StatusCode, r.Body)
	}
	if r := e.passwordStep("y@example.com").yubicoLogin(otp); r.StatusCode != 401 {
		t.Fatalf("replayed OTP: %d %s", r.StatusCode, r.Body)
	}
	// A real OTP of another key is refused.
	other := yubicotest.NewPublicID()
	srv.AddKey(other)
	if r := e.passwordStep("y@example.com").yubicoLogin(yubicotest.OTP(other)); r.StatusCode != 401 || !strings.Contains(r.Body, "not registered") {
		t.Fatalf("another key: %d %s", r.StatusCode, r.Body)
	}
	e.clock.Add(time.Minute)
	// Answers that fail verification: clear error, other methods, not counted.
	for _, mode := range []yubicotest.Mode{yubicotest.BadSignature, yubicotest.ChangedNonce, yubicotest.ChangedOTP, yubicotest.HTTPError, yubicotest.Status("BACKEND_ERROR")} {
		srv.SetMode(mode)
		p := e.passwordStep("y@example.com")
		r := p.yubicoLogin(yubicotest.OTP(key))
		if r.StatusCode != 503 || !strings.Contains(r.Body, "another method") {
			t.Errorf("%v: %d %s", mode, r.StatusCode, r.Body)
		}
		if page := p.get("/login/2fa?method=yubico_otp"); !strings.Contains(page.Body, "Use a backup code") {
			t.Errorf("%v: other methods not offered", mode)
		}
	}
	srv.SetMode(yubicotest.Normal)
	// Unreachable server.
	srv.Close()
	r = e.passwordStep("y@example.com").yubicoLogin(yubicotest.OTP(key))
	if r.StatusCode != 503 || !strings.Contains(r.Body, "could not reach") {
		t.Fatalf("server down: %d %s", r.StatusCode, r.Body)
	}
	if !strings.Contains(e.logText(), "second factor could not be checked") || strings.Contains(e.logText(), ykSecret) {
		t.Fatal("operator's log: missing the cause, or holding the API key")
	}
}

func TestYubicoOTPBadInput(t *testing.T) {
	e, srv := ykEnv(t)
	e.register("b@example.com")
	c := e.login("b@example.com")
	for _, bad := range []string{"", "hello", "cccccccccccc", strings.Repeat("x", 44), strings.Repeat("c", 100)} {
		if r := c.api("POST", "/api/v1/me/2fa/yubico_otp", map[string]string{"otp": bad}); r.StatusCode != 400 {
			t.Errorf("otp %q: %d %s", bad, r.StatusCode, r.Body)
		}
	}
	if srv.Requests() != 0 {
		t.Fatalf("%d requests sent for malformed OTPs", srv.Requests())
	}
}

// TestYubicoOTPFailover: with a hanging server and a good one, the good
// answer wins.
func TestYubicoOTPFailover(t *testing.T) {
	slow := yubicotest.NewServer(t, "4711", ykSecret)
	slow.SetMode(yubicotest.Hang)
	e, srv := ykEnv(t, slow.URL())
	key := yubicotest.NewPublicID()
	srv.AddKey(key)
	e.register("f@example.com")
	c := e.login("f@example.com")
	if r := c.api("POST", "/api/v1/me/2fa/yubico_otp", map[string]string{"otp": yubicotest.OTP(key)}); r.StatusCode != 200 {
		t.Fatalf("enrol with one server hanging: %d %s", r.StatusCode, r.Body)
	}
}
