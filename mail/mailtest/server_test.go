package mailtest_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/smtp"
	"strings"
	"testing"
	"time"

	"github.com/clientportal/portal/mail/mailtest"
)

// rawMessage nests a multipart/alternative in a multipart/mixed with an
// attachment, and uses every transfer encoding that the decoder handles.
const rawMessage = "From: Sender <sender@example.com>\r\n" +
	"To: rcpt@example.com\r\n" +
	"Subject: =?utf-8?b?R3LDvMOfZSBhdXMgS8O2bG4=?=\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=outer\r\n" +
	"\r\n" +
	"--outer\r\n" +
	"Content-Type: multipart/alternative; boundary=inner\r\n" +
	"\r\n" +
	"--inner\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"Gr=C3=BC=C3=9Fe aus K=C3=B6ln, eine lange Zeile mit weichem Umbruch und =\r\n" +
	"a=3Db.\r\n" +
	"Zweite Zeile.\r\n" +
	"--inner\r\n" +
	"Content-Type: text/html; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"PHA+R3LDvMOfZSBhdXMgPGI+S8O2bG48L2I+PC9wPgo=\r\n" +
	"--inner--\r\n" +
	"--outer\r\n" +
	"Content-Type: text/plain\r\n" +
	"Content-Disposition: attachment; filename=notes.txt\r\n" +
	"\r\n" +
	"not the body\r\n" +
	"--outer--\r\n"

func TestServer_decodes(t *testing.T) {
	srv := mailtest.NewServer(t)
	if err := smtp.SendMail(srv.Addr(), nil, "sender@example.com", []string{"rcpt@example.com", "cc@example.com"}, []byte(rawMessage)); err != nil {
		t.Fatal(err)
	}
	got := wait(t, srv, 1)[0]
	if got.From != "sender@example.com" || strings.Join(got.To, ",") != "rcpt@example.com,cc@example.com" {
		t.Errorf("envelope %q -> %q", got.From, got.To)
	}
	if want := "Grüße aus Köln"; got.Subject != want {
		t.Errorf("Subject = %q, want %q", got.Subject, want)
	}
	if want := "Grüße aus Köln, eine lange Zeile mit weichem Umbruch und a=b.\nZweite Zeile."; got.Text != want {
		t.Errorf("Text = %q, want %q", got.Text, want)
	}
	if want := "<p>Grüße aus <b>Köln</b></p>\n"; got.HTML != want {
		t.Errorf("HTML = %q, want %q", got.HTML, want)
	}
	if got.Header.Get("To") != "rcpt@example.com" || !strings.Contains(string(got.Data), "not the body") {
		t.Errorf("Header/Data not kept: %v", got.Header)
	}
	if got.TLS || got.User != "" {
		t.Errorf("TLS = %v, User = %q on a plain, open server", got.TLS, got.User)
	}
}

func TestServer_auth(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.WithAuth("user", "pass"))
	if got, want := srv.URL(), "smtp://user:pass@"+srv.Addr(); got != want {
		t.Errorf("URL = %q, want %q", got, want)
	}
	msg := []byte("Subject: hi\r\n\r\nhello\r\n")
	if err := smtp.SendMail(srv.Addr(), nil, "a@example.com", []string{"b@example.com"}, msg); err == nil {
		t.Error("server took mail without authentication")
	}
	if err := smtp.SendMail(srv.Addr(), smtp.PlainAuth("", "user", "wrong", "127.0.0.1"), "a@example.com", []string{"b@example.com"}, msg); err == nil {
		t.Error("server took a wrong password")
	}
	if err := smtp.SendMail(srv.Addr(), smtp.PlainAuth("", "user", "pass", "127.0.0.1"), "a@example.com", []string{"b@example.com"}, msg); err != nil {
		t.Fatal(err)
	}
	if got := wait(t, srv, 1); len(got) != 1 || got[0].User != "user" || got[0].Text != "hello\n" {
		t.Errorf("got %+v", got)
	}
}

// A client that verifies the certificate against CertPool gets through
// STARTTLS, and the server refuses credentials before it.
func TestServer_startTLS(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.WithTLS(), mailtest.WithAuth("user", "pass"))
	c, err := smtp.Dial(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Fatal("STARTTLS not offered")
	}
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("AUTH offered before STARTTLS")
	}
	if err := c.StartTLS(&tls.Config{ServerName: "127.0.0.1", RootCAs: srv.CertPool()}); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(smtp.PlainAuth("", "user", "pass", "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("a@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("b@example.com"); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("Subject: tls\r\n\r\nsecret\r\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	if got := wait(t, srv, 1)[0]; !got.TLS || got.Subject != "tls" {
		t.Errorf("TLS = %v, Subject = %q", got.TLS, got.Subject)
	}
}

func TestServer_implicitTLS(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.WithImplicitTLS())
	conn, err := tls.Dial("tcp", srv.Addr(), &tls.Config{ServerName: "127.0.0.1", RootCAs: srv.CertPool()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := smtp.NewClient(conn, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("a@example.com"); err != nil {
		t.Fatal(err)
	}
	c.Rcpt("b@example.com")
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("Subject: smtps\r\n\r\nx\r\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := wait(t, srv, 1)[0]; !got.TLS {
		t.Error("TLS = false over smtps")
	}
}

func TestServer_stopStart(t *testing.T) {
	srv := mailtest.NewServer(t)
	addr := srv.Addr()
	srv.Stop()
	srv.Stop() // harmless
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatal("stopped server accepted a connection")
	}
	srv.Start()
	if srv.Addr() != addr {
		t.Errorf("Start moved from %s to %s", addr, srv.Addr())
	}
	if err := smtp.SendMail(addr, nil, "a@example.com", []string{"b@example.com"}, []byte("Subject: x\r\n\r\nx\r\n")); err != nil {
		t.Fatal(err)
	}
	wait(t, srv, 1)
}

func TestServer_failNext(t *testing.T) {
	srv := mailtest.NewServer(t)
	srv.FailNext(2)
	send := func() error {
		return smtp.SendMail(srv.Addr(), nil, "a@example.com", []string{"b@example.com"}, []byte("Subject: x\r\n\r\nx\r\n"))
	}
	for range 2 {
		if err := send(); err == nil || !strings.HasPrefix(err.Error(), "451") {
			t.Errorf("send = %v, want 451", err)
		}
	}
	if err := send(); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("%d messages kept, want 1", n)
	}
}

// Stop cuts a delayed DATA short instead of waiting it out.
func TestServer_delayStop(t *testing.T) {
	srv := mailtest.NewServer(t)
	srv.SetDelay(time.Minute)
	done := make(chan error, 1)
	go func() {
		done <- smtp.SendMail(srv.Addr(), nil, "a@example.com", []string{"b@example.com"}, []byte("Subject: x\r\n\r\nx\r\n"))
	}()
	// Nothing may arrive while the server sits on DATA.
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, err := srv.WaitFor(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitFor = %v, want the deadline's error", err)
	}
	start := time.Now()
	srv.Stop()
	if err := <-done; err == nil {
		t.Error("delayed message was accepted after Stop")
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Stop and the client took %v", elapsed)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages kept, want 0", n)
	}
}

func wait(tb testing.TB, srv *mailtest.Server, n int) []mailtest.Received {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msgs, err := srv.WaitFor(ctx, n)
	if err != nil {
		tb.Fatal(err)
	}
	return msgs
}
