package main_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/clientportal/portal/mail/mailtest"
	"github.com/clientportal/portal/portaltest"
	"github.com/clientportal/portal/sqlstore/storetest"
)

var (
	codeRE = regexp.MustCompile(`\b(\d{6})\b`)
	linkRE = regexp.MustCompile(`https?://\S+/verify-email\?token=\S+`)
)

// mailTo waits for the n-th message (1-based) to addr and returns it.
func mailTo(t *testing.T, srv *mailtest.Server, addr string, n int) mailtest.Received {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for total := 1; ; total++ {
		msgs, err := srv.WaitFor(ctx, total)
		if err != nil {
			t.Fatalf("waiting for message %d to %s: %v", n, addr, err)
		}
		var mine []mailtest.Received
		for _, m := range msgs {
			if len(m.To) == 1 && strings.EqualFold(m.To[0], addr) {
				mine = append(mine, m)
			}
		}
		if len(mine) >= n {
			return mine[n-1]
		}
	}
}

// TestOutboxSurvivesSMTPOutage: with the mail server down, notifications
// wait in the outbox; when it is back, every one arrives exactly once, also
// with two portal instances on PostgreSQL running their workers at once.
func TestOutboxSurvivesSMTPOutage(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		srv := mailtest.NewServer(t, mailtest.WithAuth("portal", "s3cret"))
		srv.Stop()
		clock := portaltest.NewClock(time.Now())
		env := map[string]string{"PORTAL_DATABASE_URL": storetest.DSN(t, dialect), "PORTAL_SECRET_KEYS": testKeys, "PORTAL_SMTP_URL": srv.URL()}
		instances := []*portal{runPortalClock(t, clock, env)}
		if dialect == "postgres" {
			instances = append(instances, runPortalClock(t, clock, env))
		}
		const users = 6
		for i := 0; i < users; i++ {
			p := instances[i%len(instances)]
			c := newAPIClient(t, p.URL)
			email := fmt.Sprintf("u%d@example.com", i)
			if st, m := c.call("POST", "/api/v1/register", `{"email":"`+email+`","password":"a long enough pass","name":"U"}`); st != 201 {
				t.Fatalf("register: %d %v", st, m)
			}
			c.call("POST", "/api/v1/login", `{"email":"`+email+`","password":"a long enough pass"}`)
			if st, m := c.call("POST", "/api/v1/me/password", `{"current_password":"a long enough pass","new_password":"another long pass"}`); st != 204 {
				t.Fatalf("password change: %d %v", st, m)
			}
		}
		want := 2 * users // a verification link and a password notice each
		db := instances[0].DB
		if n, _ := db.OutboxPending(context.Background()); n != want {
			t.Fatalf("%d messages waiting, want %d", n, want)
		}
		if n := len(srv.Messages()); n != 0 {
			t.Fatalf("%d delivered while the server was down", n)
		}

		srv.Start()
		// Time passes (frozen clock, moved on while we wait) so every
		// backoff runs out, however often a worker had to retry. A minute
		// a tick keeps within a lease (2 minutes), as real time would.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for {
			clock.Add(time.Minute)
			n, err := db.OutboxPending(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
			select {
			case <-ctx.Done():
				var logs string
				for _, p := range instances {
					logs += p.Logs.String()
				}
				t.Fatalf("%d still pending, %d arrived; logs:\n%s", n, len(srv.Messages()), logs)
			case <-time.After(100 * time.Millisecond):
			}
		}
		seen := map[string]int{}
		for _, m := range srv.Messages() {
			seen[m.To[0]+" "+m.Subject]++
			if m.User != "portal" {
				t.Fatalf("delivered without authenticating")
			}
		}
		if len(srv.Messages()) != want || len(seen) != want {
			t.Fatalf("%d messages (%d distinct) arrived, want each of %d exactly once: %v", len(srv.Messages()), len(seen), want, seen)
		}
	})
}

// TestEmailTwoFactorOverSMTP: verification, enrolment and login by email
// code through the JSON API, reading every message from a real SMTP server.
func TestEmailTwoFactorOverSMTP(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		srv := mailtest.NewServer(t, mailtest.WithTLS())
		clock := portaltest.NewClock(time.Now())
		p := runPortalClock(t, clock, map[string]string{"PORTAL_DATABASE_URL": storetest.DSN(t, dialect), "PORTAL_SECRET_KEYS": testKeys,
			"PORTAL_SMTP_URL": srv.URL() + "?insecure_skip_verify=1", "PORTAL_MAIL_FROM": "Acme Hosting <security@acme.example>"})
		c := newAPIClient(t, p.URL)
		c.call("POST", "/api/v1/register", `{"email":"kay@example.com","password":"a long enough pass","name":"Kay"}`)
		verify := mailTo(t, srv, "kay@example.com", 1)
		if !verify.TLS || !strings.Contains(string(verify.Data), "Acme Hosting") || verify.HTML == "" {
			t.Fatalf("verification mail: tls=%v from=%q html=%d", verify.TLS, verify.Header.Get("From"), len(verify.HTML))
		}
		token := strings.SplitN(linkRE.FindString(verify.Text), "token=", 2)[1]
		if st, m := c.call("POST", "/api/v1/verify-email", `{"token":"`+token+`"}`); st != 204 {
			t.Fatalf("verify: %d %v", st, m)
		}
		c.call("POST", "/api/v1/login", `{"email":"kay@example.com","password":"a long enough pass"}`)
		if st, m := c.call("POST", "/api/v1/me/2fa/email", ""); st != 202 || m["destination"] != "k***@example.com" {
			t.Fatalf("begin: %d %v", st, m)
		}
		code := codeRE.FindString(mailTo(t, srv, "kay@example.com", 2).Text)
		if st, m := c.call("POST", "/api/v1/me/2fa/email/confirm", `{"code":"`+code+`"}`); st != 200 {
			t.Fatalf("confirm: %d %v", st, m)
		}
		mailTo(t, srv, "kay@example.com", 3) // "two-factor authentication turned on"

		clock.Add(61 * time.Second)
		l := newAPIClient(t, p.URL)
		if _, m := l.call("POST", "/api/v1/login", `{"email":"kay@example.com","password":"a long enough pass"}`); m["status"] != "2fa_required" {
			t.Fatalf("login: %v", m)
		}
		if st, m := l.call("POST", "/api/v1/login/2fa/send", `{"method":"email"}`); st != 202 {
			t.Fatalf("send: %d %v", st, m)
		}
		msg := mailTo(t, srv, "kay@example.com", 4)
		if msg.Subject != "Your Client Portal sign-in code" {
			t.Fatalf("subject %q", msg.Subject)
		}
		if st, m := l.call("POST", "/api/v1/login/2fa", `{"method":"email","code":"`+codeRE.FindString(msg.Text)+`"}`); st != 200 {
			t.Fatalf("login with the emailed code: %d %v", st, m)
		}
		// Codes never reach the log.
		if regexp.MustCompile(`\b` + codeRE.FindString(msg.Text) + `\b`).MatchString(p.Logs.String()) {
			t.Fatal("the code is in the log")
		}
	})
}

// TestSMTPDownAtLogin: the mail server is down when a code is asked for:
// a clear 503, and nothing claims a code was sent.
func TestSMTPDownAtLogin(t *testing.T) {
	srv := mailtest.NewServer(t)
	clock := portaltest.NewClock(time.Now())
	p := runPortalClock(t, clock, map[string]string{"PORTAL_SMTP_URL": srv.URL()})
	c := newAPIClient(t, p.URL)
	c.call("POST", "/api/v1/register", `{"email":"d@example.com","password":"a long enough pass","name":"D"}`)
	token := strings.SplitN(linkRE.FindString(mailTo(t, srv, "d@example.com", 1).Text), "token=", 2)[1]
	c.call("POST", "/api/v1/verify-email", `{"token":"`+token+`"}`)
	c.call("POST", "/api/v1/login", `{"email":"d@example.com","password":"a long enough pass"}`)
	c.call("POST", "/api/v1/me/2fa/email", "")
	c.call("POST", "/api/v1/me/2fa/email/confirm", `{"code":"`+codeRE.FindString(mailTo(t, srv, "d@example.com", 2).Text)+`"}`)
	clock.Add(61 * time.Second)

	srv.Stop()
	l := newAPIClient(t, p.URL)
	_, m := l.call("POST", "/api/v1/login", `{"email":"d@example.com","password":"a long enough pass"}`)
	if fmt.Sprint(m["methods"]) != "[email backup_code]" {
		t.Fatalf("methods offered: %v", m["methods"])
	}
	st, m := l.call("POST", "/api/v1/login/2fa/send", `{"method":"email"}`)
	e, _ := m["error"].(map[string]any)
	if st != 503 || e == nil || !strings.Contains(fmt.Sprint(e["message"]), "could not send the email") {
		t.Fatalf("send with SMTP down: %d %v", st, m)
	}
	srv.Start()
	if st, _ := l.call("POST", "/api/v1/login/2fa/send", `{"method":"email"}`); st != 202 {
		t.Fatalf("once the server is back (no resend wait for a code never sent): %d", st)
	}
}

// TestBrowserEmailTwoFactor: verify the address, add email as a method and
// sign in with an emailed code, in Chromium.
func TestBrowserEmailTwoFactor(t *testing.T) {
	ctx := portaltest.Browser(t)
	srv := mailtest.NewServer(t)
	clock := portaltest.NewClock(time.Now())
	p := runPortalClock(t, clock, map[string]string{"PORTAL_SMTP_URL": srv.URL()})

	do(t, ctx, chromedp.Navigate(p.URL+"/register"), chromedp.WaitVisible(chromedp.CSS("#name")),
		fill(map[string]string{"#name": "Grace", "#email": "grace@example.com", "#password": "a long enough pass", "#password_confirm": "a long enough pass"}),
		click("main button[type=submit]"), chromedp.WaitVisible(chromedp.CSS(".flash")))
	link := linkRE.FindString(mailTo(t, srv, "grace@example.com", 1).Text)
	do(t, ctx, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("main form button")))
	do(t, ctx, click("main form button"), chromedp.WaitVisible(chromedp.CSS("#email-status")))
	if s := text(t, ctx, "#email-status"); !strings.Contains(s, "Verified") {
		t.Fatalf("after the link: %q", s)
	}
	do(t, ctx, chromedp.Navigate(p.URL+"/account/2fa"), chromedp.WaitVisible(chromedp.CSS(`form[action="/account/2fa/email"] button`)),
		click(`form[action="/account/2fa/email"] button`), chromedp.WaitVisible(chromedp.CSS("#code")))
	do(t, ctx, fill(map[string]string{"#code": codeRE.FindString(mailTo(t, srv, "grace@example.com", 2).Text)}),
		click(`form[action="/account/2fa/email/confirm"] button`), chromedp.WaitVisible(chromedp.CSS("#backup-codes")))
	do(t, ctx, click("a.button.primary"), chromedp.WaitVisible(chromedp.CSS("#twofa-h")))
	if s := text(t, ctx, ".methods tbody"); !strings.Contains(s, "Email") {
		t.Fatalf("methods: %q", s)
	}

	clock.Add(61 * time.Second)
	do(t, ctx, signOutClick(), chromedp.WaitVisible(chromedp.CSS("#password")),
		fill(map[string]string{"#email": "grace@example.com", "#password": "a long enough pass"}),
		click("main button[type=submit]"), chromedp.WaitVisible(chromedp.CSS(`form[action="/login/2fa/send"] button`)))
	do(t, ctx, click(`form[action="/login/2fa/send"] button`), chromedp.WaitVisible(chromedp.CSS(".flash")))
	if s := text(t, ctx, ".flash"); !strings.Contains(s, "g***@example.com") || !strings.Contains(s, "10 minutes") {
		t.Fatalf("sent notice: %q", s)
	}
	screenshot(t, ctx, "login-email-code")
	msg := mailTo(t, srv, "grace@example.com", 4) // 3 is the "2FA turned on" notice
	do(t, ctx, fill(map[string]string{"#code": codeRE.FindString(msg.Text)}), click(`form[action="/login/2fa"] button`), chromedp.WaitVisible(chromedp.CSS("nav")))
	if h := text(t, ctx, "h1"); h != "Welcome, Grace" {
		t.Fatalf("after the code: %q", h)
	}
}
