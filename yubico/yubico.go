// Package yubico is a client for the Yubico OTP validation protocol 2.0: it
// asks one or more validation servers (YubiCloud or a self-hosted
// yubikey-val) whether a one-time password typed by a YubiKey is valid,
// signs each request and checks the signature and echo of each answer.
//
// The protocol (developers.yubico.com/yubikey-val/Validation_Protocol_V2.0):
// GET {url}?id=…&otp=…&nonce=…&h=…, where h is the base64 HMAC-SHA1, keyed
// with the base64-decoded API key, of the other parameters sorted by key and
// joined as k=v with '&'. The answer is k=v lines signed the same way.
package yubico

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// YubiCloudURL is the verify endpoint of Yubico's hosted validation service.
const YubiCloudURL = "https://api.yubico.com/wsapi/2.0/verify"

// DefaultTimeout bounds a Verify call when Config.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// errTimeout is the cause of a Verify context that ran out of Config.Timeout.
var errTimeout = errors.New("yubico: timeout")

// maxAnswer caps what is read of an answer: a real one is a few hundred bytes.
const maxAnswer = 16 << 10

// Statuses a validation server answers with.
const (
	StatusOK                  = "OK"
	StatusBadOTP              = "BAD_OTP"
	StatusReplayedOTP         = "REPLAYED_OTP"
	StatusReplayedRequest     = "REPLAYED_REQUEST"
	StatusBadSignature        = "BAD_SIGNATURE"
	StatusMissingParameter    = "MISSING_PARAMETER"
	StatusNoSuchClient        = "NO_SUCH_CLIENT"
	StatusOperationNotAllowed = "OPERATION_NOT_ALLOWED"
	StatusBackendError        = "BACKEND_ERROR"
	StatusNotEnoughAnswers    = "NOT_ENOUGH_ANSWERS"
)

// Config configures a Client.
type Config struct {
	// ClientID is the API client id (digits) the servers know us by.
	ClientID string
	// SecretKey is the API key, base64 as Yubico hands it out. It signs
	// requests and authenticates answers.
	SecretKey string
	// URLs are the verify endpoints (http or https), all asked at once.
	URLs []string
	// Timeout bounds each Verify call; zero means DefaultTimeout.
	Timeout time.Duration
	// HTTPClient sends the requests; nil means a client of its own with the
	// default transport.
	HTTPClient *http.Client
	// Rand is the source of request nonces; nil means crypto/rand. Tests
	// set it to get a fixed request.
	Rand io.Reader
}

// Client verifies OTPs with validation servers. It is safe for concurrent
// use.
type Client struct {
	id      string
	key     []byte
	urls    []*url.URL
	timeout time.Duration
	http    *http.Client
	rand    io.Reader
}

// New checks cfg and returns a Client. Its errors are for the operator and
// never include the secret key.
func New(cfg Config) (*Client, error) {
	if cfg.ClientID == "" || strings.Trim(cfg.ClientID, "0123456789") != "" {
		return nil, errors.New("yubico: client id must be a non-empty string of digits")
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cfg.SecretKey))
	if err != nil {
		// The decoder's message names a byte offset, not the key itself.
		return nil, fmt.Errorf("yubico: secret key is not valid base64: %w", err)
	}
	if len(key) == 0 {
		return nil, errors.New("yubico: secret key is empty")
	}
	if len(cfg.URLs) == 0 {
		return nil, errors.New("yubico: at least one validation server URL is needed")
	}
	c := &Client{id: cfg.ClientID, key: key, timeout: cfg.Timeout, http: cfg.HTTPClient, rand: cfg.Rand}
	for _, raw := range cfg.URLs {
		u, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("yubico: validation server URL: %w", err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("yubico: validation server URL %q must be http:// or https:// with a host", u.Redacted())
		}
		if u.RawQuery != "" || u.Fragment != "" {
			// The query is ours to build: anything already there would
			// be sent unsigned.
			return nil, fmt.Errorf("yubico: validation server URL %q must not have a query or fragment", u.Redacted())
		}
		c.urls = append(c.urls, u)
	}
	if c.timeout < 0 {
		return nil, errors.New("yubico: timeout must not be negative")
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	if c.http == nil {
		c.http = &http.Client{}
	}
	if c.rand == nil {
		c.rand = rand.Reader
	}
	return c, nil
}

// Verify checks otp with the validation servers. It returns nil only when a
// server answered status=OK with a valid signature and an echo of the OTP
// and nonce sent. Otherwise the error is an *Error: KindInvalidOTP (never
// sent), KindRejected (a server authentically said no) or KindUnavailable
// (no server gave an authentic, definitive answer in time).
//
// All servers are asked at once and the first authentic, definitive answer
// (OK, BAD_OTP or REPLAYED_OTP) decides; the other requests are cancelled.
// Verify does not know whose key made otp: the caller compares the public
// id from ParseOTP with the one enrolled for the user.
func (c *Client) Verify(ctx context.Context, otp string) error {
	norm, _, err := normalize(otp)
	if err != nil {
		return err
	}
	nonce, err := c.nonce()
	if err != nil {
		return &Error{Kind: KindUnavailable, Details: []string{"nonce: " + err.Error()}, cause: err}
	}
	q := url.Values{"id": {c.id}, "otp": {norm}, "nonce": {nonce}}
	q.Set("h", sign(c.key, q))
	query := q.Encode() // escapes the + / = of h

	ctx, cancel := context.WithTimeoutCause(ctx, c.timeout, errTimeout)
	defer cancel()
	// Buffered so that the requests still running when a decision is made
	// can finish without anyone reading their answers.
	answers := make(chan answer, len(c.urls))
	for _, u := range c.urls {
		go func() { answers <- c.ask(ctx, u, query, norm, nonce) }()
	}

	var details []string
	replayedRequest := false
	for range c.urls {
		a := <-answers
		switch {
		case a.err != nil:
			details = append(details, a.server+": "+a.err.Error())
		case a.status == StatusOK:
			return nil
		case a.status == StatusBadOTP || a.status == StatusReplayedOTP:
			details = append(details, a.server+": status="+a.status)
			return &Error{Kind: KindRejected, Status: a.status, Details: details}
		case a.status == StatusReplayedRequest:
			// Servers replicate: one that hears of our request from
			// another before it gets it says REPLAYED_REQUEST while the
			// other says OK. Wait for that OK.
			replayedRequest = true
			details = append(details, a.server+": status="+a.status)
		default:
			// Backend trouble, or a status about our configuration
			// (BAD_SIGNATURE, NO_SUCH_CLIENT, …): not the person's fault,
			// and another server may still answer.
			details = append(details, a.server+": status="+a.status)
		}
	}
	if replayedRequest {
		return &Error{Kind: KindRejected, Status: StatusReplayedRequest, Details: details}
	}
	return &Error{Kind: KindUnavailable, Details: details, cause: ctx.Err()}
}

// nonce returns 32 random hex characters (the protocol wants 16 to 40
// alphanumerics).
func (c *Client) nonce() (string, error) {
	b := make([]byte, 16)
	if _, err := io.ReadFull(c.rand, b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// answer is one server's authentic answer (status) or why there is none.
type answer struct {
	server string
	status string
	err    error
}

// ask sends the signed query to one server and checks its answer.
func (c *Client) ask(ctx context.Context, u *url.URL, query, otp, nonce string) answer {
	a := answer{server: u.Redacted()}
	a.status, a.err = c.exchange(ctx, u, query, otp, nonce)
	if a.err != nil && ctx.Err() != nil {
		// Say why in words the operator can act on, rather than the
		// transport's "context deadline exceeded".
		switch cause := context.Cause(ctx); {
		case cause == errTimeout:
			a.err = fmt.Errorf("no answer within %v", c.timeout)
		case errors.Is(cause, context.DeadlineExceeded):
			a.err = errors.New("no answer before the caller's deadline")
		default:
			a.err = errors.New("verification cancelled by the caller")
		}
	}
	return a
}

func (c *Client) exchange(ctx context.Context, u *url.URL, query, otp, nonce string) (string, error) {
	target := *u
	target.RawQuery = query
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target.String(), nil)
	if err != nil {
		return "", err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// A *url.Error repeats the whole URL, OTP included: an OTP that
		// was never checked is still good, so it must not reach a log.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return "", fmt.Errorf("reading answer: %w", err)
	}
	if len(body) > maxAnswer {
		return "", fmt.Errorf("answer longer than %d bytes", maxAnswer)
	}
	return checkAnswer(c.key, body, otp, nonce)
}

// checkAnswer parses an answer and returns its status if it is authentic:
// signed with our key, and echoing the OTP and nonce sent. status=OK must
// echo both. Other statuses must echo what they carry, but may lack the
// echo: yubikey-val sends BAD_OTP without one. At worst such an answer is
// an old rejection replayed by someone on the path, who could as well drop
// the connection.
func checkAnswer(key, body []byte, otp, nonce string) (string, error) {
	params, err := parseAnswer(body)
	if err != nil {
		return "", err
	}
	status := params["status"]
	got, err := base64.StdEncoding.DecodeString(params["h"])
	if err != nil || !hmac.Equal(got, mac(key, params)) {
		// The claimed status helps the operator (NO_SUCH_CLIENT comes
		// unsigned) but is not to be trusted.
		return "", fmt.Errorf("bad signature (unauthenticated status=%s)", status)
	}
	for _, e := range []struct{ name, sent string }{{"otp", otp}, {"nonce", nonce}} {
		echo, ok := params[e.name]
		if !ok && status != StatusOK {
			continue
		}
		if echo != e.sent {
			return "", fmt.Errorf("answer (status=%s) does not echo the %s sent", status, e.name)
		}
	}
	return status, nil
}

// parseAnswer reads the k=v lines of an answer. It accepts only what a
// server writes: keys of letters, digits and underscores, each once, values
// without '&', and an h and a status. A key twice or an '&' in a value
// would let two different answers share one signed string.
func parseAnswer(body []byte) (map[string]string, error) {
	params := make(map[string]string)
	for line := range bytes.Lines(body) {
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			continue
		}
		k, v, ok := bytes.Cut(line, []byte("="))
		if !ok || !validKey(k) || bytes.ContainsAny(v, "&\r\n") {
			return nil, errors.New("malformed answer")
		}
		if _, dup := params[string(k)]; dup {
			return nil, fmt.Errorf("malformed answer: %s twice", k)
		}
		params[string(k)] = string(v)
	}
	if params["h"] == "" || params["status"] == "" {
		return nil, errors.New("malformed answer: no h or no status")
	}
	return params, nil
}

func validKey(k []byte) bool {
	if len(k) == 0 || len(k) > 32 {
		return false
	}
	for _, c := range k {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// sign returns the base64 signature of params (h aside).
func sign(key []byte, params url.Values) string {
	flat := make(map[string]string, len(params))
	for k, v := range params {
		if len(v) > 0 {
			flat[k] = v[0]
		}
	}
	return base64.StdEncoding.EncodeToString(mac(key, flat))
}

// mac is the protocol's HMAC-SHA1 over the params but h, sorted by key and
// joined as k=v with '&'.
func mac(key []byte, params map[string]string) []byte {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "h" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	m := hmac.New(sha1.New, key)
	for i, k := range keys {
		if i > 0 {
			io.WriteString(m, "&")
		}
		io.WriteString(m, k+"="+params[k])
	}
	return m.Sum(nil)
}

// Kind says what went wrong in a Verify or ParseOTP.
type Kind int

// Kinds of Error.
const (
	// KindInvalidOTP: the input is not a Yubico OTP; nothing was sent.
	KindInvalidOTP Kind = iota + 1
	// KindRejected: a server authentically said the OTP is not valid now
	// (Error.Status tells why: BAD_OTP, REPLAYED_OTP, REPLAYED_REQUEST).
	KindRejected
	// KindUnavailable: no server gave an authentic, definitive answer:
	// servers down, slow, failing, misconfigured or impersonated.
	KindUnavailable
)

// String returns a short name for logs.
func (k Kind) String() string {
	switch k {
	case KindInvalidOTP:
		return "invalid_otp"
	case KindRejected:
		return "rejected"
	case KindUnavailable:
		return "unavailable"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Error is the error of Verify and ParseOTP. Its fields and Error text are
// for the operator's log and never hold the secret key or the OTP itself;
// UserMessage is what to show the person.
type Error struct {
	// Kind says which of the three failures this is.
	Kind Kind
	// Status is the deciding server's status when Kind is KindRejected.
	Status string
	// Details has a "server: what happened" line for each server heard
	// from (or given up on) before the decision.
	Details []string

	reason string // why the input is not an OTP
	cause  error  // the context's error when time ran out or the caller gave up
}

// Error describes the failure for a log.
func (e *Error) Error() string {
	switch e.Kind {
	case KindInvalidOTP:
		return "yubico: not a YubiKey OTP: " + e.reason
	case KindRejected:
		return "yubico: OTP rejected: " + e.Status + " (" + strings.Join(e.Details, "; ") + ")"
	}
	return "yubico: no valid answer from the validation servers (" + strings.Join(e.Details, "; ") + ")"
}

// Unwrap returns context.DeadlineExceeded or context.Canceled when the
// servers were given up on because time ran out or the caller's context
// ended.
func (e *Error) Unwrap() error { return e.cause }

// UserMessage returns a sentence to show the person who typed the OTP.
func (e *Error) UserMessage() string {
	switch e.Kind {
	case KindInvalidOTP:
		return "That is not a YubiKey code. Put the cursor in the field and touch your key."
	case KindRejected:
		return "That YubiKey code was not accepted. Touch your key again."
	}
	return "We could not reach the YubiKey validation service. Try again or use another method."
}

// LogValue implements slog.LogValuer, so the details go to structured logs
// as fields.
func (e *Error) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("kind", e.Kind.String())}
	if e.Status != "" {
		attrs = append(attrs, slog.String("status", e.Status))
	}
	if e.reason != "" {
		attrs = append(attrs, slog.String("reason", e.reason))
	}
	if len(e.Details) > 0 {
		attrs = append(attrs, slog.Any("servers", e.Details))
	}
	return slog.GroupValue(attrs...)
}
