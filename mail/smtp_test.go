package mail_test

import (
	"context"
	"errors"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clientportal/portal/mail"
	"github.com/clientportal/portal/mail/mailtest"
)

const (
	testFrom = "Client Portal <no-reply@example.com>"
	testUser = "portal"
	testPass = "hunter2-correct-horse"
)

// MustNewSMTP returns a sender for rawURL and testFrom.
func MustNewSMTP(tb testing.TB, rawURL string) *mail.SMTP {
	tb.Helper()
	s, err := mail.NewSMTP(rawURL, testFrom)
	if err != nil {
		tb.Fatalf("NewSMTP: %v", err)
	}
	return s
}

// waitOne waits for the first message at srv.
func waitOne(tb testing.TB, srv *mailtest.Server) mailtest.Received {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msgs, err := srv.WaitFor(ctx, 1)
	if err != nil {
		tb.Fatal(err)
	}
	return msgs[0]
}

// securityMessage is a notification with umlauts, a long line (soft line
// breaks in quoted-printable) and characters that need escaping.
func securityMessage(html string) *mail.Message {
	return &mail.Message{
		To:      "juergen@example.com",
		Subject: "Sicherheitsmeldung für Jürgen",
		Text:    "Hallo Jürgen,\n\nauf Ihrem Konto wurde ein neuer zweiter Faktor eingerichtet – wenn Sie das nicht waren, ändern Sie bitte sofort Ihr Passwort (a=b, 100 %).\n.\n..Punkt am Zeilenanfang\n\n— Client Portal\n",
		HTML:    html,
	}
}

func TestSMTP_Send(t *testing.T) {
	for _, tc := range []struct {
		name string
		html string
	}{
		{"TextOnly", ""},
		{"TextAndHTML", "<p>Hallo <b>Jürgen</b>,</p>\n<p>ein neuer zweiter Faktor – <a href=\"https://portal.example.com/account/security?x=1&amp;y=2\">prüfen</a>.</p>\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := mailtest.NewServer(t, mailtest.WithAuth(testUser, testPass))
			s := MustNewSMTP(t, srv.URL())
			want := securityMessage(tc.html)
			if err := s.Send(t.Context(), want); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := waitOne(t, srv)

			if got.From != "no-reply@example.com" || len(got.To) != 1 || got.To[0] != want.To {
				t.Errorf("envelope = %q -> %q, want no-reply@example.com -> [%s]", got.From, got.To, want.To)
			}
			if got.User != testUser {
				t.Errorf("authenticated as %q, want %q", got.User, testUser)
			}
			if from := got.Header.Get("From"); from != `"Client Portal" <no-reply@example.com>` && from != testFrom {
				t.Errorf("From = %q, want %q", from, testFrom)
			}
			if to, err := got.Header.AddressList("To"); err != nil || len(to) != 1 || to[0].Address != want.To {
				t.Errorf("To = %v (%v), want %s", to, err, want.To)
			}
			if got.Subject != want.Subject {
				t.Errorf("Subject = %q, want %q", got.Subject, want.Subject)
			}
			if d, err := got.Header.Date(); err != nil || time.Since(d).Abs() > time.Minute {
				t.Errorf("Date = %q (%v), want about now", got.Header.Get("Date"), err)
			}
			if id := got.Header.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@example.com>") {
				t.Errorf("Message-ID = %q, want <...@example.com>", id)
			}
			if got.Text != want.Text {
				t.Errorf("Text =\n%q\nwant\n%q", got.Text, want.Text)
			}
			if got.HTML != want.HTML {
				t.Errorf("HTML =\n%q\nwant\n%q", got.HTML, want.HTML)
			}
			ct := got.Header.Get("Content-Type")
			if isAlt := strings.HasPrefix(ct, "multipart/alternative"); isAlt != (tc.html != "") {
				t.Errorf("Content-Type = %q, want multipart/alternative only with HTML", ct)
			}
			// Non-ASCII goes out encoded, so no relay has to guess a charset.
			for i, c := range got.Data {
				if c >= 0x80 {
					t.Fatalf("8-bit byte in message at %d: %q", i, got.Data[max(0, i-20):min(len(got.Data), i+20)])
				}
			}
			if got.TLS {
				t.Error("TLS on a server without TLS")
			}
		})
	}
}

func TestSMTP_Send_authMechanisms(t *testing.T) {
	for _, auth := range []string{"plain", "login"} {
		t.Run(auth, func(t *testing.T) {
			srv := mailtest.NewServer(t, mailtest.WithAuth(testUser, testPass))
			s := MustNewSMTP(t, srv.URL()+"?auth="+auth)
			if err := s.Send(t.Context(), securityMessage("")); err != nil {
				t.Fatalf("Send: %v", err)
			}
			if got := waitOne(t, srv); got.User != testUser {
				t.Errorf("authenticated as %q, want %q", got.User, testUser)
			}
		})
	}
}

func TestSMTP_Send_noAuth(t *testing.T) {
	srv := mailtest.NewServer(t)
	if err := MustNewSMTP(t, srv.URL()).Send(t.Context(), securityMessage("")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := waitOne(t, srv); got.User != "" || got.Subject != "Sicherheitsmeldung für Jürgen" {
		t.Errorf("got user %q, subject %q", got.User, got.Subject)
	}
}

func TestSMTP_Send_startTLS(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.WithTLS(), mailtest.WithAuth(testUser, testPass))

	t.Run("Upgraded", func(t *testing.T) {
		s := MustNewSMTP(t, srv.URL()+"?insecure_skip_verify=1")
		if err := s.Send(t.Context(), securityMessage("<p>x</p>")); err != nil {
			t.Fatalf("Send: %v", err)
		}
		got := waitOne(t, srv)
		if !got.TLS {
			t.Error("message did not travel over TLS")
		}
		if got.User != testUser || got.Text != securityMessage("").Text {
			t.Errorf("got user %q, text %q", got.User, got.Text)
		}
	})

	// Opportunistic means "plain if not offered", not "plain if broken": an
	// untrusted certificate must stop delivery, or a man in the middle
	// could read the password.
	t.Run("UntrustedCertificate", func(t *testing.T) {
		before := len(srv.Messages())
		err := MustNewSMTP(t, srv.URL()).Send(t.Context(), securityMessage(""))
		if err == nil {
			t.Fatal("Send succeeded with a self-signed certificate and verification on")
		}
		if strings.Contains(err.Error(), testPass) {
			t.Errorf("error %q contains the password", err)
		}
		if n := len(srv.Messages()); n != before {
			t.Errorf("%d messages arrived, want %d", n, before)
		}
	})
}

func TestSMTP_Send_implicitTLS(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.WithImplicitTLS(), mailtest.WithAuth(testUser, testPass))
	if !strings.HasPrefix(srv.URL(), "smtps://") {
		t.Fatalf("URL = %q, want smtps://", srv.URL())
	}
	s := MustNewSMTP(t, srv.URL()+"?insecure_skip_verify=1")
	if err := s.Send(t.Context(), securityMessage("")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := waitOne(t, srv); !got.TLS || got.User != testUser {
		t.Errorf("TLS = %v, user = %q; want true, %q", got.TLS, got.User, testUser)
	}
}

func TestSMTP_Send_wrongPassword(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.WithAuth(testUser, testPass))
	const wrong = "wrong-battery-staple"
	s := MustNewSMTP(t, "smtp://"+testUser+":"+wrong+"@"+srv.Addr())
	m := securityMessage("<p>body</p>")
	err := s.Send(t.Context(), m)
	if err == nil {
		t.Fatal("Send succeeded with a wrong password")
	}
	assertClean(t, err, m, wrong)
	if !strings.Contains(err.Error(), "535") {
		t.Errorf("error %q does not give the server's reply (535)", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages arrived", n)
	}
}

// assertClean fails if err's text gives away a secret or the message.
func assertClean(tb testing.TB, err error, m *mail.Message, secrets ...string) {
	tb.Helper()
	text := err.Error()
	for _, s := range append(secrets, testPass, "Hallo", m.Text, m.HTML) {
		if s != "" && strings.Contains(text, s) {
			tb.Errorf("error %q contains %q", text, s)
		}
	}
}

// With smtp:// and a server that offers no STARTTLS, mail goes out in
// clear, but the password must not: someone who strips STARTTLS from the
// conversation would read it. (Loopback is exempt, which is why this fake
// server listens on 127.0.0.2.)
func TestSMTP_Send_noCredentialsInClear(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	defer l.Close()
	lines := make(chan []string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			lines <- nil
			return
		}
		defer c.Close()
		conn := textproto.NewConn(c)
		var got []string
		defer func() { lines <- got }()
		conn.PrintfLine("220 mx.example.com ESMTP")
		for {
			line, err := conn.ReadLine()
			if err != nil {
				return
			}
			got = append(got, line)
			switch verb, _, _ := strings.Cut(line, " "); strings.ToUpper(verb) {
			case "EHLO":
				conn.PrintfLine("250-mx.example.com\r\n250 AUTH PLAIN LOGIN")
			case "QUIT":
				conn.PrintfLine("221 bye")
				return
			default:
				conn.PrintfLine("502 no")
			}
		}
	}()

	s := MustNewSMTP(t, "smtp://"+testUser+":"+testPass+"@"+l.Addr().String())
	m := securityMessage("")
	err = s.Send(t.Context(), m)
	if err == nil {
		t.Fatal("Send succeeded")
	}
	assertClean(t, err, m)
	for _, line := range <-lines {
		if strings.HasPrefix(strings.ToUpper(line), "AUTH") {
			t.Errorf("client sent %q over a plain connection", line)
		}
	}
}

func TestSMTP_Send_serverDown(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.WithAuth(testUser, testPass))
	s := MustNewSMTP(t, srv.URL())
	srv.Stop()

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	start := time.Now()
	m := securityMessage("")
	err := s.Send(ctx, m)
	if err == nil {
		t.Fatal("Send succeeded with the server down")
	}
	// A refused connection fails on its own, long before ctx would.
	if errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Errorf("Send took %v and returned %v; want a quick refusal", time.Since(start), err)
	}
	assertClean(t, err, m)

	srv.Start()
	if err := s.Send(t.Context(), m); err != nil {
		t.Fatalf("Send after Start: %v", err)
	}
	if got := waitOne(t, srv); got.Subject != m.Subject {
		t.Errorf("Subject = %q", got.Subject)
	}
}

func TestSMTP_Send_temporaryFailure(t *testing.T) {
	srv := mailtest.NewServer(t)
	s := MustNewSMTP(t, srv.URL())
	srv.FailNext(1)
	m := securityMessage("")
	err := s.Send(t.Context(), m)
	if err == nil {
		t.Fatal("Send succeeded although the server answered 451")
	}
	if !strings.Contains(err.Error(), "451") {
		t.Errorf("error %q does not give the server's reply (451)", err)
	}
	assertClean(t, err, m)
	if err := s.Send(t.Context(), m); err != nil {
		t.Fatalf("second Send: %v", err)
	}
	if n := len(waitAll(t, srv, 1)); n != 1 {
		t.Errorf("%d messages arrived, want 1", n)
	}
}

func waitAll(tb testing.TB, srv *mailtest.Server, n int) []mailtest.Received {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msgs, err := srv.WaitFor(ctx, n)
	if err != nil {
		tb.Fatal(err)
	}
	return msgs
}

func TestSMTP_Send_slowServer(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.WithAuth(testUser, testPass))
	srv.SetDelay(time.Minute) // cut short by the server's Stop at cleanup
	s := MustNewSMTP(t, srv.URL())

	const budget = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(t.Context(), budget)
	defer cancel()
	start := time.Now()
	m := securityMessage("")
	err := s.Send(ctx, m)
	elapsed := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send = %v, want the deadline's error", err)
	}
	if elapsed > budget+time.Second {
		t.Errorf("Send returned after %v, deadline was %v", elapsed, budget)
	}
	assertClean(t, err, m)
}

// A server that accepts the connection and never greets must not hold Send
// past its context either.
func TestSMTP_Send_silentServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var conns []net.Conn
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	})
	defer func() {
		l.Close()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	}()

	s := MustNewSMTP(t, "smtp://"+l.Addr().String())
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := s.Send(ctx, securityMessage("")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send = %v, want the deadline's error", err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("Send returned after %v", elapsed)
	}
}

func TestSMTP_Send_canceled(t *testing.T) {
	srv := mailtest.NewServer(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := MustNewSMTP(t, srv.URL()).Send(ctx, securityMessage("")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Send = %v, want context.Canceled", err)
	}
}

func TestSMTP_Send_concurrent(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.WithTLS(), mailtest.WithAuth(testUser, testPass))
	s := MustNewSMTP(t, srv.URL()+"?insecure_skip_verify=1")
	const n = 5
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if err := s.Send(t.Context(), securityMessage("<p>x</p>")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := waitAll(t, srv, n); len(got) != n {
		t.Errorf("%d messages arrived, want %d", len(got), n)
	}
}

// Whoever controls a subject or recipient must not add headers (a Bcc to
// themselves, say).
func TestSMTP_Send_headerInjection(t *testing.T) {
	srv := mailtest.NewServer(t)
	s := MustNewSMTP(t, srv.URL())

	m := securityMessage("")
	m.Subject = "Hello\r\nBcc: attacker@evil.example"
	if err := s.Send(t.Context(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := waitOne(t, srv)
	if bcc := got.Header.Get("Bcc"); bcc != "" || len(got.To) != 1 {
		t.Errorf("Bcc = %q, recipients %q", bcc, got.To)
	}

	m.To = "juergen@example.com\r\nBcc: attacker@evil.example"
	if err := s.Send(t.Context(), m); err == nil {
		t.Error("Send accepted a recipient with a line break")
	}
}

func TestNewSMTP(t *testing.T) {
	for _, tc := range []struct{ url, addr string }{
		{"smtp://mail.example.com", "mail.example.com:587"},
		{"smtp://u:p@mail.example.com:25", "mail.example.com:25"},
		{"smtps://mail.example.com", "mail.example.com:465"},
		{"SMTPS://u:p%2Fq@mail.example.com:2465/?auth=login", "mail.example.com:2465"},
		{"smtp://[::1]?insecure_skip_verify=1", "[::1]:587"},
	} {
		s, err := mail.NewSMTP(tc.url, testFrom)
		if err != nil {
			t.Errorf("NewSMTP(%q): %v", tc.url, err)
			continue
		}
		if s.Addr() != tc.addr {
			t.Errorf("NewSMTP(%q).Addr() = %q, want %q", tc.url, s.Addr(), tc.addr)
		}
	}
}

func TestNewSMTP_rejects(t *testing.T) {
	const pw = "hunter2pw"
	for _, tc := range []struct {
		name, url, from, want string
	}{
		{"Scheme", "ftp://u:" + pw + "@mail.example.com", testFrom, "scheme must be smtp or smtps"},
		{"NoScheme", "mail.example.com:587", testFrom, "scheme must be smtp or smtps"},
		{"Empty", "", testFrom, "scheme must be smtp or smtps"},
		{"MissingHost", "smtp://u:" + pw + "@:587", testFrom, "missing the host"},
		{"PortTooBig", "smtp://u:" + pw + "@mail.example.com:99999", testFrom, "bad port"},
		{"PortZero", "smtp://u:" + pw + "@mail.example.com:0", testFrom, "bad port"},
		{"PortNotANumber", "smtp://u:" + pw + "@mail.example.com:smtp", testFrom, "malformed"},
		// An unescaped "/" in the password turns the rest into a path and
		// part of the password into the port.
		{"UnescapedSlash", "smtp://u:12/" + pw + "@mail.example.com", testFrom, "must not have a path"},
		{"UnescapedHash", "smtp://u:" + pw + "#x@mail.example.com", testFrom, "malformed"},
		{"BadEscape", "smtp://u:" + pw + "%zz@mail.example.com", testFrom, "malformed"},
		{"UnknownParameter", "smtp://u:" + pw + "@mail.example.com?tls=" + pw, testFrom, "unknown parameter"},
		{"BadAuth", "smtp://u:" + pw + "@mail.example.com?auth=cram-md5", testFrom, "auth must be plain or login"},
		{"AuthWithoutUser", "smtp://mail.example.com?auth=plain", testFrom, "no user name"},
		{"PasswordWithoutUser", "smtp://:" + pw + "@mail.example.com", testFrom, "no user name"},
		{"BadSkipVerify", "smtp://u:" + pw + "@mail.example.com?insecure_skip_verify=yes", testFrom, "insecure_skip_verify must be 1 or 0"},
		{"EmptyFrom", "smtp://u:" + pw + "@mail.example.com", "", "From) is empty"},
		{"BadFrom", "smtp://u:" + pw + "@mail.example.com", "Client Portal", "not an address"},
		{"FromNoDomain", "smtp://u:" + pw + "@mail.example.com", "portal@", "not an address"},
		{"FromLineBreak", "smtp://u:" + pw + "@mail.example.com", "\"a\r\nBcc: x@y\" <a@b.example>", "one line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := mail.NewSMTP(tc.url, tc.from)
			if err == nil {
				t.Fatalf("NewSMTP accepted %q, %q (%s)", tc.url, tc.from, s.Addr())
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), "hunter") {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

func TestParseFrom(t *testing.T) {
	for _, ok := range []string{testFrom, "no-reply@example.com", "\"Kundenportal Müller & Söhne\" <portal@example.de>"} {
		if err := mail.ParseFrom(ok); err != nil {
			t.Errorf("ParseFrom(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "portal", "a@b.example, c@d.example", "<@example.com>"} {
		if err := mail.ParseFrom(bad); err == nil {
			t.Errorf("ParseFrom(%q) = nil", bad)
		}
	}
}
