// Package mailtest runs an SMTP server inside a test: it records what
// arrives, decoded for easy assertions, and can play a mail server that is
// down, slow or refusing.
package mailtest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Received is one message the server accepted.
type Received struct {
	From string   // envelope sender (MAIL FROM)
	To   []string // envelope recipients (RCPT TO)
	Data []byte   // the message as transmitted, CRLF line ends

	Header  mail.Header // top-level headers, undecoded
	Subject string      // Subject, RFC 2047 words decoded
	Text    string      // first text/plain part, decoded, "\n" line ends
	HTML    string      // first text/html part, decoded, "\n" line ends

	TLS  bool   // the connection was encrypted when DATA was sent
	User string // the user name the client authenticated as, if any
}

// Option configures a Server.
type Option func(*Server)

// WithAuth requires the client to authenticate (PLAIN or LOGIN) as user with
// pass before sending. Without TLS the server accepts credentials in clear,
// which is only sane on loopback.
func WithAuth(user, pass string) Option {
	return func(s *Server) { s.user, s.pass = user, pass }
}

// WithTLS offers STARTTLS with a self-signed certificate made for this
// server. Clients need insecure_skip_verify=1 or CertPool. Authentication is
// then only accepted after STARTTLS, as a real server would.
func WithTLS() Option {
	return func(s *Server) { s.tls = true }
}

// WithImplicitTLS speaks TLS from the first byte (smtps) with the same kind
// of certificate as WithTLS.
func WithImplicitTLS() Option {
	return func(s *Server) { s.tls, s.implicitTLS = true, true }
}

// Server is an SMTP server on 127.0.0.1 that keeps every message in memory.
// Its methods are safe for concurrent use.
type Server struct {
	tb          testing.TB
	user, pass  string
	tls         bool
	implicitTLS bool
	tlsConfig   *tls.Config
	pool        *x509.CertPool

	mu       sync.Mutex
	addr     string // fixed by the first listen, so Start reuses the port
	run      *run   // nil while stopped
	msgs     []Received
	arrived  chan struct{} // closed, and replaced, when a message arrives
	delay    time.Duration
	failNext int

	logMu   sync.Mutex
	logDone bool // the test is over: tb.Logf would panic
}

// run is one listening period, from Start to Stop.
type run struct {
	srv     *smtp.Server
	l       net.Listener
	stopped chan struct{} // closed by Stop: aborts delayed DATA replies
	served  chan struct{} // closed when Serve has returned
}

// NewServer starts a server on 127.0.0.1 with a free port. It stops when the
// test ends.
func NewServer(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s := &Server{tb: tb, arrived: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	if s.tls {
		cfg, pool, err := selfSigned()
		if err != nil {
			tb.Fatalf("mailtest: make certificate: %v", err)
		}
		s.tlsConfig, s.pool = cfg, pool
	}
	if err := s.start(); err != nil {
		tb.Fatalf("mailtest: %v", err)
	}
	tb.Cleanup(func() {
		s.Stop()
		s.logMu.Lock()
		s.logDone = true
		s.logMu.Unlock()
	})
	return s
}

// URL is the server's address in the form mail.NewSMTP takes, with the
// credentials of WithAuth: smtp://user:pass@127.0.0.1:PORT, or smtps://
// with WithImplicitTLS. It does not add insecure_skip_verify.
func (s *Server) URL() string {
	u := &url.URL{Scheme: "smtp", Host: s.Addr()}
	if s.implicitTLS {
		u.Scheme = "smtps"
	}
	if s.user != "" {
		u.User = url.UserPassword(s.user, s.pass)
	}
	return u.String()
}

// Addr is the server's host:port.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// CertPool holds the server's certificate, for clients that verify it; nil
// without WithTLS or WithImplicitTLS.
func (s *Server) CertPool() *x509.CertPool {
	return s.pool
}

// Messages returns the messages received so far, oldest first.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.msgs...)
}

// WaitFor blocks until at least n messages have arrived and returns them
// all, or returns ctx's error.
func (s *Server) WaitFor(ctx context.Context, n int) ([]Received, error) {
	for {
		s.mu.Lock()
		if len(s.msgs) >= n {
			msgs := append([]Received(nil), s.msgs...)
			s.mu.Unlock()
			return msgs, nil
		}
		arrived := s.arrived
		s.mu.Unlock()
		select {
		case <-arrived:
		case <-ctx.Done():
			return nil, fmt.Errorf("mailtest: waiting for %d messages: %w", n, ctx.Err())
		}
	}
}

// SetDelay makes every DATA wait d before the server answers, as a slow
// server would. Stop cuts the wait short.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// FailNext refuses the next n messages at DATA with "451 4.3.0", a temporary
// failure; the count replaces any earlier one.
func (s *Server) FailNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = n
}

// Stop closes the listener and every connection, so the port refuses
// connections like a mail server that is down. Stopping twice is harmless.
func (s *Server) Stop() {
	s.mu.Lock()
	r := s.run
	s.run = nil
	s.mu.Unlock()
	if r == nil {
		return
	}
	close(r.stopped)
	r.srv.Close()
	// Serve may not have registered the listener with srv yet.
	r.l.Close()
	<-r.served
}

// Start listens again, on the same port, after Stop. It fails the test if
// the port has been taken meanwhile, so call it from the test's goroutine.
func (s *Server) Start() {
	s.tb.Helper()
	if err := s.start(); err != nil {
		s.tb.Fatalf("mailtest: %v", err)
	}
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.run != nil {
		return nil
	}
	addr := s.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	s.addr = l.Addr().String()
	if s.implicitTLS {
		l = tls.NewListener(l, s.tlsConfig)
	}

	r := &run{stopped: make(chan struct{}), served: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{srv: s, run: r, conn: c}, nil
	}))
	srv.Domain = "mailtest.localhost"
	srv.TLSConfig = s.tlsConfig // STARTTLS is offered only on plain connections
	// Credentials in clear only when there is no TLS to upgrade to.
	srv.AllowInsecureAuth = s.tlsConfig == nil
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.ErrorLog = logger{s}
	r.srv, r.l = srv, l
	go func() {
		defer close(r.served)
		srv.Serve(l)
	}()
	s.run = r
	return nil
}

// logf reports the SMTP server's internal errors (a failed TLS handshake,
// say) in the test's log while the test runs.
func (s *Server) logf(format string, v ...any) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	if !s.logDone {
		s.tb.Logf("mailtest: "+format, v...)
	}
}

type logger struct{ s *Server }

func (l logger) Printf(format string, v ...any) { l.s.logf(format, v...) }
func (l logger) Println(v ...any)               { l.s.logf("%s", strings.TrimSuffix(fmt.Sprintln(v...), "\n")) }

// session is one client connection's transaction state.
type session struct {
	srv  *Server
	run  *run
	conn *smtp.Conn
	user string // authenticated as
	from string
	to   []string
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) AuthMechanisms() []string {
	if ss.srv.user == "" {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if ss.srv.user == "" {
		return nil, smtp.ErrAuthUnsupported
	}
	check := func(user, pass string) error {
		if user != ss.srv.user || pass != ss.srv.pass {
			return smtp.ErrAuthFailed
		}
		ss.user = user
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.srv.user != "" && ss.user == "" {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s := ss.srv
	s.mu.Lock()
	delay := s.delay
	s.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ss.run.stopped:
			return errStopped
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.run != ss.run {
		return errStopped // Stop has returned: record nothing more
	}
	if s.failNext > 0 {
		s.failNext--
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary failure, try again later (mailtest)"}
	}
	_, isTLS := ss.conn.TLSConnectionState()
	rec := Received{From: ss.from, To: append([]string(nil), ss.to...), Data: data, TLS: isTLS, User: ss.user}
	decode(&rec)
	s.msgs = append(s.msgs, rec)
	close(s.arrived)
	s.arrived = make(chan struct{})
	return nil
}

var errStopped = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Server stopped (mailtest)"}

func (ss *session) Reset() {
	ss.from, ss.to = "", nil
}

func (ss *session) Logout() error { return nil }

// loginServer is the server side of the LOGIN mechanism, which go-sasl
// offers only as a client.
type loginServer struct {
	step  int
	user  string
	check func(user, pass string) error
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0: // AUTH LOGIN, perhaps with the user name as initial response
		if len(resp) == 0 {
			l.step = 1
			return []byte("Username:"), false, nil
		}
		l.user, l.step = string(resp), 2
		return []byte("Password:"), false, nil
	case 1:
		l.user, l.step = string(resp), 2
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.check(l.user, string(resp))
	}
}

// decode fills the header, subject and bodies of rec from rec.Data. A
// message it cannot parse keeps them empty; Data still has it.
func decode(rec *Received) {
	m, err := mail.ReadMessage(bytes.NewReader(rec.Data))
	if err != nil {
		return
	}
	rec.Header = m.Header
	rec.Subject = m.Header.Get("Subject")
	if subj, err := new(mime.WordDecoder).DecodeHeader(rec.Subject); err == nil {
		rec.Subject = subj
	}
	decodePart(textproto.MIMEHeader(m.Header), m.Body, rec)
}

// decodePart keeps the first text/plain and text/html bodies under h,
// descending into multipart/alternative, mixed and related.
func decodePart(h textproto.MIMEHeader, body io.Reader, rec *Received) {
	mediaType, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		mediaType = "text/plain" // RFC 2045's default
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			// Raw, because NextPart decodes quoted-printable but not base64.
			p, err := mr.NextRawPart()
			if err != nil {
				return
			}
			decodePart(p.Header, p, rec)
		}
	}
	if disp, _, _ := mime.ParseMediaType(h.Get("Content-Disposition")); disp == "attachment" {
		return
	}
	switch strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body) // skips line breaks
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return
	}
	text := strings.ReplaceAll(string(b), "\r\n", "\n")
	switch mediaType {
	case "text/plain":
		if rec.Text == "" {
			rec.Text = text
		}
	case "text/html":
		if rec.HTML == "" {
			rec.HTML = text
		}
	}
}

// selfSigned makes a certificate for 127.0.0.1, ::1 and localhost, valid
// for a day, and a pool that trusts it.
func selfSigned() (*tls.Config, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "mailtest"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // so that CertPool can trust it as a root
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	cfg := &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}},
		MinVersion:   tls.VersionTLS12,
	}
	return cfg, pool, nil
}
