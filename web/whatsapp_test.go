package web_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/portaltest"
	"github.com/clientportal/portal/sqlstore/storetest"
	"github.com/clientportal/portal/whatsapp"
	"github.com/clientportal/portal/whatsapp/whatsapptest"
)

const phone = "+49 151 23456789"

// waEnv is an env whose portal sends WhatsApp codes to a double.
func waEnv(t *testing.T, dialect string) (*env, *whatsapptest.Server) {
	srv := whatsapptest.NewServer(t, "test-token", "1234567890")
	e := newEnv(t, dialect, withWhatsAppClient(whatsapp.New(whatsapp.Config{
		BaseURL: srv.URL(), PhoneNumberID: "1234567890", AccessToken: "test-token", Template: "login_code", Language: "en_US", Timeout: 2 * time.Second,
	})))
	return e, srv
}

// lastCode reads the code of the newest message the double received for e164.
func lastCode(t *testing.T, srv *whatsapptest.Server, e164 string) string {
	t.Helper()
	code, ok := srv.LastCode(strings.TrimPrefix(e164, "+"))
	if !ok {
		t.Fatalf("no WhatsApp message to %s", e164)
	}
	return code
}

func TestWhatsAppEnrolAndLogin(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e, srv := waEnv(t, dialect)
		e.register("wa@example.com")
		e.verify("wa@example.com")
		c := e.login("wa@example.com")
		r := c.api("POST", "/api/v1/me/2fa/whatsapp", map[string]string{"phone": phone})
		if r.StatusCode != 202 || r.json()["destination"] != "+49 ••• 6789" || r.json()["method"] != "whatsapp" {
			t.Fatalf("begin: %d %s", r.StatusCode, r.Body)
		}
		msgs := srv.Messages()
		if len(msgs) != 1 || msgs[0].To != "4915123456789" || msgs[0].Template != "login_code" || msgs[0].Language != "en_US" {
			t.Fatalf("sent %+v", msgs)
		}
		if r := c.api("POST", "/api/v1/me/2fa/whatsapp/confirm", map[string]string{"code": lastCode(t, srv, "+4915123456789")}); r.StatusCode != 200 {
			t.Fatalf("confirm: %d %s", r.StatusCode, r.Body)
		}
		e.clock.Add(61 * time.Second)
		p := e.passwordStep("wa@example.com")
		if r := p.api("POST", "/api/v1/login/2fa/send", map[string]string{"method": "whatsapp"}); r.StatusCode != 202 {
			t.Fatalf("send: %d %s", r.StatusCode, r.Body)
		}
		if r := p.api("POST", "/api/v1/login/2fa", map[string]string{"method": "whatsapp", "code": lastCode(t, srv, "+4915123456789")}); r.StatusCode != 200 {
			t.Fatalf("login: %d %s", r.StatusCode, r.Body)
		}
	})
}

func TestWhatsAppPhoneValidation(t *testing.T) {
	e, srv := waEnv(t, "sqlite")
	e.register("v@example.com")
	e.verify("v@example.com")
	c := e.login("v@example.com")
	for _, bad := range []string{"", "12345", "015123456789", "+49 abc", "+999 1234567", strings.Repeat("9", 40)} {
		if r := c.api("POST", "/api/v1/me/2fa/whatsapp", map[string]string{"phone": bad}); r.StatusCode != 400 || r.errCode() != "invalid_request" {
			t.Errorf("phone %q: %d %s", bad, r.StatusCode, r.Body)
		}
	}
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("%d messages sent for invalid numbers", n)
	}
}

// TestWhatsAppFailures: every Cloud API failure gives a clear message,
// leaves no half-enrolled method and, at login, other methods stay offered.
func TestWhatsAppFailures(t *testing.T) {
	for _, tc := range []struct {
		failure whatsapptest.Failure
		status  int
		says    string
	}{
		{whatsapptest.FailInvalidRecipient, 400, "phone number"},
		{whatsapptest.FailNotWhatsAppUser, 400, "WhatsApp number"},
		{whatsapptest.FailRateLimit, 429, "Try again"},
		{whatsapptest.FailTooManyRequests, 429, "Try again"},
		{whatsapptest.FailExpiredToken, 503, "another method"},
		{whatsapptest.FailTemplate, 503, "another method"},
		{whatsapptest.FailServerError, 503, "another method"},
		{whatsapptest.FailUnavailableHTML, 503, "another method"},
		{whatsapptest.FailTimeout, 503, "another method"},
		{whatsapptest.FailGarbage, 503, "another method"},
	} {
		t.Run(tc.failure.String(), func(t *testing.T) {
			e, srv := waEnv(t, "sqlite")
			id := e.register("f@example.com")
			e.verify("f@example.com")
			c := e.login("f@example.com")
			srv.FailNext(tc.failure, 1)
			r := c.api("POST", "/api/v1/me/2fa/whatsapp", map[string]string{"phone": phone})
			if r.StatusCode != tc.status || !strings.Contains(r.Body, tc.says) || strings.Contains(r.Body, "test-token") {
				t.Fatalf("enrol: %d %s", r.StatusCode, r.Body)
			}
			ms, _ := e.db.UserMethods(t.Context(), id)
			if len(ms) != 0 {
				t.Fatalf("half-enrolled method left: %+v", ms[0])
			}
			// Enrol for real, then fail at login: TOTP and backup codes stay on offer.
			e.enableTOTP(c)
			if r := c.api("POST", "/api/v1/me/2fa/whatsapp", map[string]string{"phone": phone}); r.StatusCode != 202 {
				t.Fatalf("retry enrol: %d %s", r.StatusCode, r.Body)
			}
			c.api("POST", "/api/v1/me/2fa/whatsapp/confirm", map[string]string{"code": lastCode(t, srv, "+4915123456789")})
			e.clock.Add(61 * time.Second)
			p := e.passwordStep("f@example.com")
			srv.FailNext(tc.failure, 1)
			r = p.api("POST", "/api/v1/login/2fa/send", map[string]string{"method": "whatsapp"})
			if r.StatusCode != tc.status {
				t.Fatalf("login send: %d %s", r.StatusCode, r.Body)
			}
			page := p.get("/login/2fa?method=whatsapp")
			if !strings.Contains(page.Body, "Authenticator app") || !strings.Contains(page.Body, "Use a backup code") {
				t.Fatal("other methods are not offered")
			}
			if !strings.Contains(e.logText(), "code delivery failed") && !strings.Contains(e.logText(), "rate limited") {
				t.Fatal("the operator's log says nothing")
			}
			if strings.Contains(e.logText(), "test-token") {
				t.Fatal("the access token is in the log")
			}
		})
	}
}

// TestWhatsAppLimits: 20 parallel sends on one account issue one code; 20
// accounts sending to one number in parallel get at most 10 in the hour.
func TestWhatsAppLimits(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e, srv := waEnv(t, dialect)
		c := e.customer("one@example.com")
		c.api("POST", "/api/v1/me/2fa/whatsapp", map[string]string{"phone": phone})
		c.api("POST", "/api/v1/me/2fa/whatsapp/confirm", map[string]string{"code": lastCode(t, srv, "+4915123456789")})
		e.clock.Add(61 * time.Second)
		clients := make([]*client, 20)
		for i := range clients {
			clients[i] = e.passwordStep("one@example.com")
		}
		sent := portaltest.Parallel(20, func(i int) bool {
			return clients[i].api("POST", "/api/v1/login/2fa/send", map[string]string{"method": "whatsapp"}).StatusCode == 202
		})
		if sent != 1 {
			t.Fatalf("one account: %d codes from 20 parallel requests, want 1", sent)
		}

		others := make([]*client, 20)
		for i := range others {
			addr := fmt.Sprintf("acct%d@example.com", i)
			others[i] = e.customer(addr)
		}
		// Enrolments for one number, from many accounts, are capped by the
		// destination's quota (the owner's own enrolment above was one);
		// the owner's sign-in codes do not count against it, nor it
		// against them.
		sent = portaltest.Parallel(20, func(i int) bool {
			return others[i].api("POST", "/api/v1/me/2fa/whatsapp", map[string]string{"phone": phone}).StatusCode == 202
		})
		if sent != portal.SendDestLimit.Threshold-1 {
			t.Fatalf("one number: %d more enrolment codes accepted, want %d", sent, portal.SendDestLimit.Threshold-1)
		}
		e.clock.Add(61 * time.Second)
		if r := e.passwordStep("one@example.com").api("POST", "/api/v1/login/2fa/send", map[string]string{"method": "whatsapp"}); r.StatusCode != 202 {
			t.Fatalf("the owner's sign-in code after the enrolments: %d %s", r.StatusCode, r.Body)
		}
	})
}
