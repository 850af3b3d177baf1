package mail

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/clientportal/portal"
)

// smtpTimeout bounds dialling and each command of an SMTP conversation.
const smtpTimeout = 10 * time.Second

// SMTP delivers messages to an SMTP server: the company's relay or a
// transactional mail provider. Each Send opens its own connection, so an
// SMTP is safe for concurrent use and never holds a stale connection.
type SMTP struct {
	host        string
	port        int
	implicitTLS bool
	user, pass  string
	auth        gomail.SMTPAuthType // empty: no credentials
	tlsConfig   *tls.Config
	from        *mail.Address
	idDomain    string // right-hand side of Message-IDs
}

var _ Sender = (*SMTP)(nil)

// NewSMTP returns a sender for a URL of the form
//
//	smtp://[user:pass@]host[:port]   port 587, STARTTLS when the server offers it
//	smtps://[user:pass@]host[:port]  port 465, TLS from the first byte
//
// Query parameters: insecure_skip_verify=1 accepts any server certificate
// (tests only), auth=plain or auth=login forces a mechanism (by default PLAIN,
// else LOGIN, whichever the server offers). Credentials are only ever sent
// over TLS or to localhost (127.0.0.1, ::1), so someone who strips STARTTLS
// from the conversation cannot learn the password. from is the From header, like
// "Client Portal <no-reply@example.com>". Errors never quote the URL, which
// holds the password.
func NewSMTP(rawURL, from string) (*SMTP, error) {
	s := &SMTP{}
	if err := s.parseURL(rawURL); err != nil {
		return nil, err
	}
	addr, err := parseFrom(from)
	if err != nil {
		return nil, err
	}
	s.from = addr
	s.idDomain = addr.Address[strings.LastIndexByte(addr.Address, '@')+1:]
	return s, nil
}

// ParseFrom reports whether s can be the From header of the portal's email:
// one address, optionally with a display name, like
// "Client Portal <no-reply@example.com>".
func ParseFrom(s string) error {
	_, err := parseFrom(s)
	return err
}

func parseFrom(s string) (*mail.Address, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("sender address (From) is empty")
	}
	// ParseAddress accepts line breaks inside quoted names; in a header they
	// would start a new header line.
	if strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("sender address (From) must be on one line")
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("sender address (From) %q is not an address like \"Client Portal <no-reply@example.com>\"", s)
	}
	at := strings.LastIndexByte(a.Address, '@')
	if at <= 0 || at == len(a.Address)-1 {
		return nil, fmt.Errorf("sender address (From) %q needs a domain", s)
	}
	return a, nil
}

// parseURL fills the connection settings from rawURL. Its messages name
// neither the URL nor any part of it: a password with an unescaped "/", "?",
// "#" or "@" shifts its pieces into the host, port or path.
func (s *SMTP) parseURL(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return errors.New("SMTP URL is malformed (percent-encode special characters in the user name and password)")
	}
	var defaultPort int
	switch u.Scheme {
	case "smtp":
		defaultPort = gomail.DefaultPortTLS
	case "smtps":
		defaultPort, s.implicitTLS = gomail.DefaultPortSSL, true
	default:
		return errors.New("SMTP URL scheme must be smtp or smtps")
	}
	s.host = u.Hostname()
	if s.host == "" || u.Opaque != "" {
		return errors.New("SMTP URL is missing the host")
	}
	if (u.Path != "" && u.Path != "/") || u.Fragment != "" {
		return errors.New("SMTP URL must not have a path (percent-encode special characters in the user name and password)")
	}
	s.port = defaultPort
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return errors.New("SMTP URL has a bad port: it must be a number from 1 to 65535")
		}
		s.port = n
	}

	q := u.Query()
	skipVerify := false
	switch q.Get("insecure_skip_verify") {
	case "", "0", "false":
	case "1", "true":
		skipVerify = true
	default:
		return errors.New("SMTP URL parameter insecure_skip_verify must be 1 or 0")
	}
	authParam := q.Get("auth")
	for k := range q {
		if k != "insecure_skip_verify" && k != "auth" {
			return errors.New("SMTP URL has an unknown parameter (known: auth, insecure_skip_verify)")
		}
	}
	s.tlsConfig = &tls.Config{
		ServerName: s.host,
		MinVersion: tls.VersionTLS12,
		// Only for test servers with self-signed certificates.
		InsecureSkipVerify: skipVerify,
	}

	if u.User != nil {
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
	}
	switch strings.ToLower(authParam) {
	case "":
		if s.user != "" {
			s.auth = gomail.SMTPAuthOpportunistic
		}
	case "plain":
		s.auth = gomail.SMTPAuthPlain
	case "login":
		s.auth = gomail.SMTPAuthLogin
	default:
		return errors.New("SMTP URL parameter auth must be plain or login")
	}
	if s.user == "" && (s.auth != "" || s.pass != "") {
		return errors.New("SMTP URL has auth or a password but no user name")
	}
	return nil
}

// Addr is the server's host:port, for logs.
func (s *SMTP) Addr() string {
	return net.JoinHostPort(s.host, strconv.Itoa(s.port))
}

// Send delivers m over a new connection. It gives up when ctx ends or the
// server stays silent for 10 seconds; its errors quote neither the message
// nor the credentials, so they may be logged and stored.
func (s *SMTP) Send(ctx context.Context, m *Message) error {
	if err := ctx.Err(); err != nil {
		return s.fail(ctx, err)
	}
	if m == nil {
		return errors.New("send mail: no message")
	}
	msg, err := s.message(m)
	if err != nil {
		return err
	}

	var stops []func() bool
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	dial := func(dctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		// go-mail formats host:port without brackets, which breaks IPv6.
		raw, err := d.DialContext(dctx, network, s.Addr())
		if err != nil {
			return nil, err
		}
		// go-mail watches ctx only while dialling; closing the socket
		// when ctx ends also interrupts a server that stalls later.
		stops = append(stops, context.AfterFunc(ctx, func() { raw.Close() }))
		if !s.implicitTLS {
			return raw, nil
		}
		c := tls.Client(raw, s.tlsConfig)
		if err := c.HandshakeContext(dctx); err != nil {
			raw.Close()
			return nil, err
		}
		// A *tls.Conn as such tells go-mail that the session is encrypted.
		return c, nil
	}

	opts := []gomail.Option{
		gomail.WithPort(s.port),
		gomail.WithTimeout(smtpTimeout),
		gomail.WithDialContextFunc(dial),
		gomail.WithTLSConfig(s.tlsConfig),
		// For smtps the connection is TLS already and the server offers
		// no STARTTLS; go-mail then still sees that it is encrypted.
		gomail.WithTLSPolicy(gomail.TLSOpportunistic),
	}
	switch s.auth {
	case "":
	case gomail.SMTPAuthOpportunistic:
		opts = append(opts, gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthPlain, gomail.SMTPAuthLogin),
			gomail.WithUsername(s.user), gomail.WithPassword(s.pass))
	default:
		opts = append(opts, gomail.WithSMTPAuth(s.auth),
			gomail.WithUsername(s.user), gomail.WithPassword(s.pass))
	}
	// A new client per message: go-mail's client keeps per-connection
	// state, and the dial function above belongs to this ctx.
	c, err := gomail.NewClient(s.host, opts...)
	if err != nil {
		return s.fail(ctx, err)
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		// The server accepted the message and only QUIT failed: sending
		// it again would deliver it twice.
		if msg.IsDelivered() {
			return nil
		}
		return s.fail(ctx, err)
	}
	return nil
}

// message builds the MIME message: text/plain alone, or
// multipart/alternative with text/html when m.HTML is set.
func (s *SMTP) message(m *Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(s.from)
	if strings.ContainsAny(m.To, "\r\n") {
		return nil, errors.New("recipient address must be on one line")
	}
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("recipient %q is not an email address", m.To)
	}
	msg.Subject(m.Subject) // RFC 2047-encoded, which also neutralises line breaks
	msg.SetDate()
	// go-mail would use the machine's hostname, which in a container is a
	// random string; the sender's domain is stable.
	msg.SetMessageIDWithValue(portal.NewID() + "@" + s.idDomain)
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// fail wraps err for the caller: the context's own error when ctx ended
// (the closed socket's error would only confuse), with the credentials
// blotted out of the text in case the server echoed them.
func (s *SMTP) fail(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		err = context.Cause(ctx)
	}
	text := fmt.Sprintf("send mail via %s: %v", s.Addr(), err)
	if s.pass != "" {
		for _, secret := range []string{
			base64.StdEncoding.EncodeToString([]byte("\x00" + s.user + "\x00" + s.pass)), // AUTH PLAIN
			base64.StdEncoding.EncodeToString([]byte(s.pass)),                            // AUTH LOGIN
			s.pass,
		} {
			text = strings.ReplaceAll(text, secret, "[password]")
		}
	}
	return &sendError{text: text, err: err}
}

// sendError carries the cleaned text of a delivery failure and, for
// errors.Is and errors.As, the original error.
type sendError struct {
	text string
	err  error
}

func (e *sendError) Error() string { return e.text }
func (e *sendError) Unwrap() error { return e.err }
