package main_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/clientportal/portal/mail/mailtest"
	"github.com/clientportal/portal/portaltest"
	"github.com/clientportal/portal/whatsapp/whatsapptest"
)

// waPortal runs a portal whose WhatsApp codes go to a Cloud API double
// and whose mail goes to an SMTP server (WhatsApp needs a verified address).
func waPortal(t *testing.T, clock *portaltest.Clock) (*portal, *whatsapptest.Server, *mailtest.Server) {
	wa := whatsapptest.NewServer(t, "e2e-token", "5550001")
	srv := mailtest.NewServer(t)
	p := runPortalClock(t, clock, map[string]string{
		"PORTAL_WHATSAPP_API_URL": wa.URL(), "PORTAL_WHATSAPP_PHONE_NUMBER_ID": "5550001", "PORTAL_WHATSAPP_ACCESS_TOKEN": "e2e-token",
		"PORTAL_WHATSAPP_TEMPLATE": "acme_login", "PORTAL_WHATSAPP_LANGUAGE": "de", "PORTAL_SMTP_URL": srv.URL(),
	})
	return p, wa, srv
}

// verificationLink is the link of the first email to addr (the one sent at
// registration).
func verificationLink(t *testing.T, srv *mailtest.Server, addr string) string {
	t.Helper()
	link := linkRE.FindString(mailTo(t, srv, addr, 1).Text)
	if link == "" {
		t.Fatalf("no verification link to %s", addr)
	}
	return link
}

func waCode(t *testing.T, wa *whatsapptest.Server) string {
	t.Helper()
	msgs := wa.Messages()
	if len(msgs) == 0 {
		t.Fatal("no WhatsApp message")
	}
	m := msgs[len(msgs)-1]
	if m.Template != "acme_login" || m.Language != "de" || m.To != "4915123456789" {
		t.Fatalf("template message %+v", m)
	}
	return m.Code
}

func TestWhatsAppOverAPI(t *testing.T) {
	clock := portaltest.NewClock(time.Now())
	p, wa, srv := waPortal(t, clock)
	c := newAPIClient(t, p.URL)
	c.call("POST", "/api/v1/register", `{"email":"w@example.com","password":"a long enough pass","name":"W"}`)
	token := strings.TrimPrefix(linkRE.FindString(verificationLink(t, srv, "w@example.com")), p.URL+"/verify-email?token=")
	if st, m := c.call("POST", "/api/v1/verify-email", `{"token":"`+token+`"}`); st != 204 {
		t.Fatalf("verify: %d %v", st, m)
	}
	c.call("POST", "/api/v1/login", `{"email":"w@example.com","password":"a long enough pass"}`)
	if st, m := c.call("POST", "/api/v1/me/2fa/whatsapp", `{"phone":"+49 151 2345 6789"}`); st != 202 {
		t.Fatalf("begin: %d %v", st, m)
	}
	if st, m := c.call("POST", "/api/v1/me/2fa/whatsapp/confirm", `{"code":"`+waCode(t, wa)+`"}`); st != 200 || m["backup_codes"] == nil {
		t.Fatalf("confirm: %d %v", st, m)
	}
	clock.Add(61 * time.Second)
	l := newAPIClient(t, p.URL)
	if _, m := l.call("POST", "/api/v1/login", `{"email":"w@example.com","password":"a long enough pass"}`); m["preferred"] != "whatsapp" {
		t.Fatalf("login: %v", m)
	}
	if st, m := l.call("POST", "/api/v1/login/2fa/send", `{"method":"whatsapp"}`); st != 202 || m["destination"] != "+49 ••• 6789" {
		t.Fatalf("send: %d %v", st, m)
	}
	if st, m := l.call("POST", "/api/v1/login/2fa", `{"method":"whatsapp","code":"`+waCode(t, wa)+`"}`); st != 200 {
		t.Fatalf("second step: %d %v", st, m)
	}
	if strings.Contains(p.Logs.String(), "e2e-token") {
		t.Fatal("token in the log")
	}
}

// TestBrowserWhatsApp: add a WhatsApp number and sign in with a WhatsApp
// code in Chromium, reading each code from the double's template message.
func TestBrowserWhatsApp(t *testing.T) {
	ctx := portaltest.Browser(t)
	clock := portaltest.NewClock(time.Now())
	p, wa, srv := waPortal(t, clock)
	do(t, ctx, chromedp.Navigate(p.URL+"/register"), chromedp.WaitVisible(chromedp.CSS("#name")),
		fill(map[string]string{"#name": "Wes", "#email": "wes@example.com", "#password": "a long enough pass", "#password_confirm": "a long enough pass"}),
		click("main button[type=submit]"), chromedp.WaitVisible(chromedp.CSS(".flash")))
	// WhatsApp is for verified addresses: follow the emailed link.
	do(t, ctx, chromedp.Navigate(verificationLink(t, srv, "wes@example.com")), chromedp.WaitVisible(chromedp.CSS(`form[action="/verify-email"] button`)),
		click(`form[action="/verify-email"] button`), chromedp.WaitVisible(chromedp.CSS(".flash")))
	do(t, ctx, chromedp.Navigate(p.URL+"/account/2fa"), chromedp.WaitVisible(chromedp.CSS("#phone")))
	// A bad number is explained, and nothing is sent.
	do(t, ctx, fill(map[string]string{"#phone": "0151 2345"}), click(`form[action="/account/2fa/whatsapp"] button`), chromedp.WaitVisible(chromedp.CSS(".alert")))
	if a := text(t, ctx, ".alert"); !strings.Contains(a, "country code") {
		t.Fatalf("bad number: %q", a)
	}
	do(t, ctx, fill(map[string]string{"#phone": "+49 151 23456789"}), click(`form[action="/account/2fa/whatsapp"] button`), chromedp.WaitVisible(chromedp.CSS("#code")))
	screenshot(t, ctx, "whatsapp-setup")
	do(t, ctx, fill(map[string]string{"#code": waCode(t, wa)}), click(`form[action="/account/2fa/whatsapp/confirm"] button`), chromedp.WaitVisible(chromedp.CSS("#backup-codes")))
	do(t, ctx, click("a.button.primary"), chromedp.WaitVisible(chromedp.CSS(".methods")))
	if s := text(t, ctx, ".methods tbody"); !strings.Contains(s, "WhatsApp") || !strings.Contains(s, "6789") {
		t.Fatalf("methods: %q", s)
	}

	clock.Add(61 * time.Second)
	do(t, ctx, signOutClick(), chromedp.WaitVisible(chromedp.CSS("#password")),
		fill(map[string]string{"#email": "wes@example.com", "#password": "a long enough pass"}),
		click("main button[type=submit]"), chromedp.WaitVisible(chromedp.CSS(`form[action="/login/2fa/send"] button`)))
	if b := text(t, ctx, `form[action="/login/2fa/send"] button`); b != "Send code by WhatsApp" {
		t.Fatalf("send button: %q", b)
	}
	// The Cloud API is down: a clear message, other methods offered.
	wa.FailNext(whatsapptest.FailServerError, 1)
	do(t, ctx, click(`form[action="/login/2fa/send"] button`), chromedp.WaitVisible(chromedp.CSS(".alert")))
	if a := text(t, ctx, ".alert"); !strings.Contains(a, "another method") {
		t.Fatalf("API down: %q", a)
	}
	do(t, ctx, click(`form[action="/login/2fa/send"] button`), chromedp.WaitVisible(chromedp.CSS(".flash")))
	if s := text(t, ctx, ".flash"); !strings.Contains(s, "+49 ••• 6789") {
		t.Fatalf("sent notice: %q", s)
	}
	do(t, ctx, fill(map[string]string{"#code": waCode(t, wa)}), click(`form[action="/login/2fa"] button`), chromedp.WaitVisible(chromedp.CSS("nav")))
	if h := text(t, ctx, "h1"); h != "Welcome, Wes" {
		t.Fatalf("after the code: %q", h)
	}
}
