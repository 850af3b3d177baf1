package yubico_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/clientportal/portal/yubico"
	"github.com/clientportal/portal/yubico/yubicotest"
)

const (
	testClientID = "4711"
	testKey      = "c2VjcmV0IGtleSBmb3IgdGVzdHMhIQ==" // "secret key for tests!!"
	publicID     = "cccccbhkevej"
)

// newClient returns a client of the servers at urls with testKey.
func newClient(t *testing.T, timeout time.Duration, urls ...string) *yubico.Client {
	t.Helper()
	c, err := yubico.New(yubico.Config{ClientID: testClientID, SecretKey: testKey, URLs: urls, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newServer returns a double that knows the test client and publicID.
func newServer(t *testing.T, m yubicotest.Mode) *yubicotest.Server {
	t.Helper()
	s := yubicotest.NewServer(t, testClientID, testKey)
	s.AddKey(publicID)
	s.SetMode(m)
	return s
}

// wantError fails unless err is a *yubico.Error of kind (and status, if
// given) that holds neither the OTP nor the secret key.
func wantError(t *testing.T, err error, kind yubico.Kind, status, otp string) *yubico.Error {
	t.Helper()
	var e *yubico.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want a *yubico.Error of kind %v", err, kind)
	}
	if e.Kind != kind || (status != "" && e.Status != status) {
		t.Fatalf("err = %v (kind %v, status %q), want kind %v status %q", err, e.Kind, e.Status, kind, status)
	}
	raw, _ := base64.StdEncoding.DecodeString(testKey)
	for _, secret := range []string{otp, testKey, string(raw)} {
		if secret != "" && strings.Contains(err.Error()+strings.Join(e.Details, " "), secret) {
			t.Errorf("error %q reveals %q", err, secret)
		}
	}
	return e
}

// handSign computes a protocol signature independently of the package:
// sort the pairs by key, join as k=v with '&', HMAC-SHA1 with the decoded
// key, base64.
func handSign(t *testing.T, key string, params map[string]string) string {
	t.Helper()
	k, err := base64.StdEncoding.DecodeString(key)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for name := range params {
		if name != "h" {
			keys = append(keys, name)
		}
	}
	sort.Strings(keys)
	var line []string
	for _, name := range keys {
		line = append(line, name+"="+params[name])
	}
	m := hmac.New(sha1.New, k)
	m.Write([]byte(strings.Join(line, "&")))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// answering returns an HTTP client that answers every request with body
// and records the request's query in *query.
func answering(body string, query *url.Values) *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if query != nil {
			*query = r.URL.Query()
		}
		return &http.Response{
			StatusCode: http.StatusOK, Status: "200 OK", Header: http.Header{},
			Body: io.NopCloser(strings.NewReader(body)), Request: r,
		}, nil
	})}
}

// The example of Yubico's forum (client 15618): the values below were
// computed outside Go from the documented algorithm.
const (
	vecID    = "15618"
	vecKey   = "Eibja2kRFXXoW6hjZaiyBtWnCBA="
	vecOTP   = "ccccccbteuddjivcnlfefefrccdcjrfjfvgjnfkcklge"
	vecNonce = "0102030405060708090a0b0c0d0e0f10" // hex of bytes 1 to 16
	vecT     = "2026-01-02T03:04:05Z0678"
)

func TestSignatureVectors(t *testing.T) {
	t.Run("published example", func(t *testing.T) {
		// Yubico forum, "Validation Protocol Version 2.0 - HMAC-SHA1
		// signature": checks handSign itself.
		got := handSign(t, vecKey, map[string]string{"id": vecID, "nonce": "0102030405060708090a0b0c0d0e0f", "otp": vecOTP})
		if want := "Jt19GpDOAraTYRFBHSofYZFEwjE="; got != want {
			t.Fatalf("handSign = %s, want %s", got, want)
		}
	})

	fixedNonce := func() io.Reader {
		return bytes.NewReader([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	}
	lines := func(ls ...string) string { return strings.Join(ls, "\r\n") + "\r\n\r\n" }
	echo := "otp=" + vecOTP + "\r\nnonce=" + vecNonce
	signed := func(params map[string]string) string {
		var ls []string
		for k, v := range params {
			ls = append(ls, k+"="+v)
		}
		return lines(append([]string{"h=" + handSign(t, vecKey, params)}, ls...)...)
	}
	for _, tc := range []struct {
		name   string
		body   string
		kind   yubico.Kind // 0: success
		status string
	}{
		{"OK", lines("h=Vj3cBMah3xDjKXsSXPrklPOKANg=", "t="+vecT, echo, "sl=100", "status=OK"), 0, ""},
		{"OK in another order with LF only", strings.ReplaceAll(lines("status=OK", "sl=100", echo, "t="+vecT, "h=Vj3cBMah3xDjKXsSXPrklPOKANg="), "\r", ""), 0, ""},
		{"REPLAYED_OTP", lines("h=0T5zFAm0yZ1QTUvN+9zIHC4WVNU=", "t="+vecT, echo, "status=REPLAYED_OTP"), yubico.KindRejected, "REPLAYED_OTP"},
		{"BAD_OTP without echo, as yubikey-val sends it", lines("h=2izYsRBRMw7dirBeMzbBXCp8N2c=", "t="+vecT, "status=BAD_OTP"), yubico.KindRejected, "BAD_OTP"},
		{"REPLAYED_OTP signature on an OK", lines("h=0T5zFAm0yZ1QTUvN+9zIHC4WVNU=", "t="+vecT, echo, "status=OK"), yubico.KindUnavailable, ""},
		{"OK without h", lines("t="+vecT, echo, "sl=100", "status=OK"), yubico.KindUnavailable, ""},
		{"OK with a line added after signing", lines("h=Vj3cBMah3xDjKXsSXPrklPOKANg=", "t="+vecT, echo, "sl=100", "status=OK", "x=1"), yubico.KindUnavailable, ""},
		{"OK signed but without nonce", signed(map[string]string{"otp": vecOTP, "t": vecT, "status": "OK"}), yubico.KindUnavailable, ""},
		{"OK signed but without otp", signed(map[string]string{"nonce": vecNonce, "t": vecT, "status": "OK"}), yubico.KindUnavailable, ""},
		{"BAD_OTP signed with a wrong nonce", signed(map[string]string{"nonce": "x" + vecNonce[1:], "t": vecT, "status": "BAD_OTP"}), yubico.KindUnavailable, ""},
		{"OK signed with status twice", lines("h="+handSign(t, vecKey, map[string]string{"otp": vecOTP, "nonce": vecNonce, "status": "OK"}), echo, "status=BAD_OTP", "status=OK"), yubico.KindUnavailable, ""},
		{"BACKEND_ERROR signed", signed(map[string]string{"otp": vecOTP, "nonce": vecNonce, "status": "BACKEND_ERROR"}), yubico.KindUnavailable, ""},
		{"NO_SUCH_CLIENT signed with an empty key", lines("h=fOsj2Iib4fSkRgQoDeS7uiJ9uo8=", "t="+vecT, "status=NO_SUCH_CLIENT"), yubico.KindUnavailable, ""},
		{"empty", "", yubico.KindUnavailable, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var q url.Values
			c, err := yubico.New(yubico.Config{
				ClientID: vecID, SecretKey: vecKey, URLs: []string{yubico.YubiCloudURL},
				HTTPClient: answering(tc.body, &q), Rand: fixedNonce(),
			})
			if err != nil {
				t.Fatal(err)
			}
			err = c.Verify(context.Background(), strings.ToUpper(vecOTP))
			// The request is the same every time: sorted by the client or
			// not, h covers id, nonce and otp, lower case.
			want := url.Values{"id": {vecID}, "otp": {vecOTP}, "nonce": {vecNonce}, "h": {"Xkk+jxauXWv0v/O6i+NmkKemwac="}}
			if q.Encode() != want.Encode() {
				t.Errorf("request query = %s, want %s", q.Encode(), want.Encode())
			}
			if h := handSign(t, vecKey, map[string]string{"id": q.Get("id"), "nonce": q.Get("nonce"), "otp": q.Get("otp")}); h != q.Get("h") {
				t.Errorf("request h = %s, hand-computed %s", q.Get("h"), h)
			}
			if tc.kind == 0 {
				if err != nil {
					t.Fatalf("Verify = %v, want success", err)
				}
				return
			}
			wantError(t, err, tc.kind, tc.status, vecOTP)
		})
	}
}

// TestAnswerResplitRefused re-splits an authentic answer so that the signed
// line stays the same but the parsed pairs differ; such an answer is
// refused as malformed before its signature is even looked at.
func TestAnswerResplitRefused(t *testing.T) {
	// The REPLAYED_OTP answer of TestSignatureVectors, "nonce" now holding
	// "<nonce>&otp=<otp>".
	body := "h=0T5zFAm0yZ1QTUvN+9zIHC4WVNU=\r\nnonce=" + vecNonce + "&otp=" + vecOTP + "\r\nstatus=REPLAYED_OTP\r\nt=" + vecT + "\r\n"
	c, err := yubico.New(yubico.Config{ClientID: vecID, SecretKey: vecKey, URLs: []string{yubico.YubiCloudURL}, HTTPClient: answering(body, nil)})
	if err != nil {
		t.Fatal(err)
	}
	e := wantError(t, c.Verify(context.Background(), vecOTP), yubico.KindUnavailable, "", vecOTP)
	if len(e.Details) != 1 || !strings.Contains(e.Details[0], "malformed answer") {
		t.Errorf("Details = %q, want a malformed answer", e.Details)
	}
}

// TestRequestEscapesSignature checks on the wire that h is URL-encoded: its
// + / = would otherwise be read as a space, a path and a separator.
func TestRequestEscapesSignature(t *testing.T) {
	var raw string
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		raw = r.URL.RawQuery
		return nil, errors.New("no network in this test")
	})}
	c, err := yubico.New(yubico.Config{
		ClientID: vecID, SecretKey: vecKey, URLs: []string{"https://val.example/wsapi/2.0/verify"}, HTTPClient: hc,
		Rand: bytes.NewReader([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}),
	})
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, c.Verify(context.Background(), vecOTP), yubico.KindUnavailable, "", vecOTP)
	if want := "h=Xkk%2BjxauXWv0v%2FO6i%2BNmkKemwac%3D"; !strings.Contains(raw, want) {
		t.Errorf("raw query %q lacks %q", raw, want)
	}
}

func TestVerifyAcceptsOnceThenReplayed(t *testing.T) {
	s := newServer(t, yubicotest.Normal)
	c := newClient(t, 0, s.URL())
	otp := yubicotest.OTP(publicID)
	if len(otp) != 44 {
		t.Fatalf("yubicotest.OTP made %d characters, want 44", len(otp))
	}
	if err := c.Verify(context.Background(), otp); err != nil {
		t.Fatalf("first use: %v", err)
	}
	err := c.Verify(context.Background(), otp)
	e := wantError(t, err, yubico.KindRejected, yubico.StatusReplayedOTP, otp)
	if got := e.UserMessage(); got != "That YubiKey code was not accepted. Touch your key again." {
		t.Errorf("UserMessage = %q", got)
	}
	// The next touch of the key works again.
	if err := c.Verify(context.Background(), yubicotest.OTP(publicID)); err != nil {
		t.Fatalf("fresh OTP: %v", err)
	}
	if n := s.Requests(); n != 3 {
		t.Errorf("server saw %d requests, want 3", n)
	}
}

func TestVerifyUnknownKeyRejected(t *testing.T) {
	s := newServer(t, yubicotest.Normal)
	c := newClient(t, 0, s.URL())
	otp := yubicotest.OTP(yubicotest.NewPublicID())
	wantError(t, c.Verify(context.Background(), otp), yubico.KindRejected, yubico.StatusBadOTP, otp)
}

func TestVerifyMalformedNeverSent(t *testing.T) {
	s := newServer(t, yubicotest.Normal)
	c := newClient(t, 0, s.URL())
	for _, in := range []string{"", "hunter2-my-password", publicID, yubicotest.OTP(publicID) + "x"} {
		e := wantError(t, c.Verify(context.Background(), in), yubico.KindInvalidOTP, "", in)
		if e.UserMessage() == "" {
			t.Error("no user message")
		}
	}
	if n := s.Requests(); n != 0 {
		t.Errorf("server saw %d requests, want 0", n)
	}
}

// TestVerifyOneBadServer covers a single server that answers wrongly or not
// at all: nothing it says can be trusted, so the person is told the
// service is unavailable and the operator's details say why.
func TestVerifyOneBadServer(t *testing.T) {
	for _, tc := range []struct {
		mode   yubicotest.Mode
		kind   yubico.Kind
		status string
		detail string
	}{
		{yubicotest.BadSignature, yubico.KindUnavailable, "", "bad signature"},
		{yubicotest.ChangedNonce, yubico.KindUnavailable, "", "nonce"},
		{yubicotest.ChangedOTP, yubico.KindUnavailable, "", "otp"},
		{yubicotest.HTTPError, yubico.KindUnavailable, "", "HTTP 500"},
		{yubicotest.Down, yubico.KindUnavailable, "", "EOF"},
		{yubicotest.Status("BACKEND_ERROR"), yubico.KindUnavailable, "", "status=BACKEND_ERROR"},
		{yubicotest.Status("NOT_ENOUGH_ANSWERS"), yubico.KindUnavailable, "", "status=NOT_ENOUGH_ANSWERS"},
		{yubicotest.Status("OPERATION_NOT_ALLOWED"), yubico.KindUnavailable, "", "status=OPERATION_NOT_ALLOWED"},
		{yubicotest.Status("SOMETHING_NEW"), yubico.KindUnavailable, "", "status=SOMETHING_NEW"},
		// Alone, a REPLAYED_REQUEST means our request was accepted by a
		// server whose OK we never saw: touch the key again.
		{yubicotest.Status("REPLAYED_REQUEST"), yubico.KindRejected, "REPLAYED_REQUEST", "status=REPLAYED_REQUEST"},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			s := newServer(t, tc.mode)
			c := newClient(t, 0, s.URL())
			otp := yubicotest.OTP(publicID)
			e := wantError(t, c.Verify(context.Background(), otp), tc.kind, tc.status, otp)
			if len(e.Details) != 1 || !strings.HasPrefix(e.Details[0], s.URL()+": ") || !strings.Contains(e.Details[0], tc.detail) {
				t.Errorf("Details = %q, want one line about %s mentioning %q", e.Details, s.URL(), tc.detail)
			}
			if tc.kind == yubico.KindUnavailable && e.UserMessage() != "We could not reach the YubiKey validation service. Try again or use another method." {
				t.Errorf("UserMessage = %q", e.UserMessage())
			}
		})
	}
}

// TestVerifyWrongKey is a client configured with another key: the server
// says BAD_SIGNATURE, signed with a key the client cannot check.
func TestVerifyWrongKey(t *testing.T) {
	s := newServer(t, yubicotest.Normal)
	c, err := yubico.New(yubico.Config{ClientID: testClientID, SecretKey: vecKey, URLs: []string{s.URL()}})
	if err != nil {
		t.Fatal(err)
	}
	otp := yubicotest.OTP(publicID)
	e := wantError(t, c.Verify(context.Background(), otp), yubico.KindUnavailable, "", otp)
	if !strings.Contains(e.Error(), "status=BAD_SIGNATURE") {
		t.Errorf("error %q does not tell the operator the server said BAD_SIGNATURE", e)
	}
}

func TestVerifyClosedServerFailsFast(t *testing.T) {
	s := newServer(t, yubicotest.Normal)
	s.Close()
	c := newClient(t, 10*time.Second, s.URL())
	otp := yubicotest.OTP(publicID)
	start := time.Now()
	e := wantError(t, c.Verify(context.Background(), otp), yubico.KindUnavailable, "", otp)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Verify took %v against a closed server", d)
	}
	if len(e.Details) != 1 || !strings.Contains(e.Details[0], "refused") {
		t.Errorf("Details = %q, want a refused connection", e.Details)
	}
}

func TestVerifyHangingServerTimesOut(t *testing.T) {
	s := newServer(t, yubicotest.Hang)
	c := newClient(t, 200*time.Millisecond, s.URL())
	otp := yubicotest.OTP(publicID)
	err := c.Verify(context.Background(), otp)
	e := wantError(t, err, yubico.KindUnavailable, "", otp)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("errors.Is(%v, DeadlineExceeded) = false", err)
	}
	if len(e.Details) != 1 || !strings.Contains(e.Details[0], "no answer within 200ms") {
		t.Errorf("Details = %q", e.Details)
	}
}

func TestVerifyCallerCancelled(t *testing.T) {
	s := newServer(t, yubicotest.Normal)
	c := newClient(t, 0, s.URL())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	otp := yubicotest.OTP(publicID)
	err := c.Verify(ctx, otp)
	wantError(t, err, yubico.KindUnavailable, "", otp)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("errors.Is(%v, Canceled) = false", err)
	}
}

// TestVerifyParallel asks two servers at once: a broken or slow one must
// not decide, and the first authentic, definitive answer does.
func TestVerifyParallel(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modes  [2]yubicotest.Mode
		kind   yubico.Kind // 0: success
		status string
	}{
		{"bad signature and good", [2]yubicotest.Mode{yubicotest.BadSignature, yubicotest.Normal}, 0, ""},
		{"changed nonce and good", [2]yubicotest.Mode{yubicotest.ChangedNonce, yubicotest.Normal}, 0, ""},
		{"hanging and good", [2]yubicotest.Mode{yubicotest.Hang, yubicotest.Normal}, 0, ""},
		{"down and good", [2]yubicotest.Mode{yubicotest.Down, yubicotest.Normal}, 0, ""},
		{"backend error and slow good", [2]yubicotest.Mode{yubicotest.Status("BACKEND_ERROR"), yubicotest.Slow(50 * time.Millisecond)}, 0, ""},
		{"replayed request and slow good", [2]yubicotest.Mode{yubicotest.Status("REPLAYED_REQUEST"), yubicotest.Slow(50 * time.Millisecond)}, 0, ""},
		{"hanging and replayed OTP", [2]yubicotest.Mode{yubicotest.Hang, yubicotest.Status("REPLAYED_OTP")}, yubico.KindRejected, "REPLAYED_OTP"},
		{"bad signature and backend error", [2]yubicotest.Mode{yubicotest.BadSignature, yubicotest.Status("BACKEND_ERROR")}, yubico.KindUnavailable, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newServer(t, tc.modes[0]), newServer(t, tc.modes[1])
			// Far longer than the test may take: a hanging server must
			// not make Verify wait for the timeout.
			c := newClient(t, time.Minute, a.URL(), b.URL())
			otp := yubicotest.OTP(publicID)
			start := time.Now()
			err := c.Verify(context.Background(), otp)
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("Verify took %v", d)
			}
			if tc.kind == 0 {
				if err != nil {
					t.Fatalf("Verify = %v, want success", err)
				}
				return
			}
			e := wantError(t, err, tc.kind, tc.status, otp)
			if tc.kind == yubico.KindUnavailable && len(e.Details) != 2 {
				t.Errorf("Details = %q, want one line per server", e.Details)
			}
		})
	}
}

func TestErrorLogValue(t *testing.T) {
	s := newServer(t, yubicotest.Status("BACKEND_ERROR"))
	c := newClient(t, 0, s.URL())
	err := c.Verify(context.Background(), yubicotest.OTP(publicID))
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Error("second factor", "err", err)
	for _, want := range []string{"err.kind=unavailable", "status=BACKEND_ERROR", s.URL()} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log %q lacks %q", buf.String(), want)
		}
	}
}

func TestNew(t *testing.T) {
	good := yubico.Config{ClientID: "4711", SecretKey: testKey, URLs: []string{"https://api.yubico.com/wsapi/2.0/verify", "http://127.0.0.1:8080/wsapi/2.0/verify"}}
	for _, tc := range []struct {
		name   string
		change func(*yubico.Config)
		ok     bool
	}{
		{"good", func(*yubico.Config) {}, true},
		{"key with surrounding spaces", func(c *yubico.Config) { c.SecretKey = " " + testKey + "\n" }, true},
		{"no client id", func(c *yubico.Config) { c.ClientID = "" }, false},
		{"client id not digits", func(c *yubico.Config) { c.ClientID = "47a1" }, false},
		{"key not base64", func(c *yubico.Config) { c.SecretKey = "s3cr3t!!s3cr3t" }, false},
		{"empty key", func(c *yubico.Config) { c.SecretKey = "" }, false},
		{"no URL", func(c *yubico.Config) { c.URLs = nil }, false},
		{"ftp URL", func(c *yubico.Config) { c.URLs = []string{"ftp://api.yubico.com/wsapi/2.0/verify"} }, false},
		{"relative URL", func(c *yubico.Config) { c.URLs = []string{"/wsapi/2.0/verify"} }, false},
		{"URL with query", func(c *yubico.Config) { c.URLs = []string{"https://api.yubico.com/wsapi/2.0/verify?sl=1"} }, false},
		{"negative timeout", func(c *yubico.Config) { c.Timeout = -time.Second }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.change(&cfg)
			_, err := yubico.New(cfg)
			if (err == nil) != tc.ok {
				t.Fatalf("New = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && cfg.SecretKey != "" && strings.Contains(err.Error(), strings.TrimSpace(cfg.SecretKey)) {
				t.Errorf("error %q reveals the secret key", err)
			}
		})
	}
}

func TestParseOTP(t *testing.T) {
	const token = "dhvkbtglnrdihcelhjbdkktrltjddfgc" // 32 modhex characters
	for _, tc := range []struct {
		name string
		in   string
		want string // public id; "" means an error
	}{
		{"standard 44", publicID + token, publicID},
		{"upper case", strings.ToUpper(publicID + token), publicID},
		{"mixed case and spaces", "  CccccBHKevej" + strings.ToUpper(token[:5]) + token[5:] + "\r\n", publicID},
		{"shortest public id", "cb" + token, "cb"},
		{"longest public id", "cbdefghijklnrtuv" + token, "cbdefghijklnrtuv"},
		{"empty", "", ""},
		{"spaces only", "   ", ""},
		{"token without public id", token, ""},
		{"public id of one", "c" + token, ""},
		{"too long", "cbdefghijklnrtuvc" + token, ""},
		{"one short", (publicID + token)[1:], publicID[1:]},
		{"hex, not modhex", "0123456789ab" + token, ""},
		{"letter outside modhex", "cccccbhkevea" + token, ""},
		{"space inside", "cccccbhkevej " + token, ""},
		{"Kelvin sign folds to k", "cccccbh\u212aevej" + token, ""},
		{"Dvorak layout", "jjjjjxdpe.ep" + token, ""},
		{"a password", "correct horse battery staple", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := yubico.ParseOTP(tc.in)
			if tc.want == "" {
				wantError(t, err, yubico.KindInvalidOTP, "", tc.in)
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseOTP = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func FuzzParseOTP(f *testing.F) {
	for _, s := range []string{
		publicID + "dhvkbtglnrdihcelhjbdkktrltjddfgc", "CB" + strings.Repeat("V", 32), " " + strings.Repeat("c", 48) + "\n",
		strings.Repeat("c", 49), "", "\u212a", "cccccbhkevej\x00dhvkbtglnrdihcelhjbdkktrltjddf",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		id, err := yubico.ParseOTP(in)
		if err != nil {
			var e *yubico.Error
			if !errors.As(err, &e) || e.Kind != yubico.KindInvalidOTP {
				t.Fatalf("ParseOTP(%q) error %v is not KindInvalidOTP", in, err)
			}
			return
		}
		norm := strings.ToLower(strings.TrimSpace(in))
		if len(id) < 2 || len(id) > 16 || len(norm) != len(id)+32 || !strings.HasPrefix(norm, id) {
			t.Fatalf("ParseOTP(%q) = %q", in, id)
		}
		if strings.Trim(norm, "cbdefghijklnrtuv") != "" {
			t.Fatalf("ParseOTP accepted non-modhex %q", in)
		}
	})
}

// FuzzAnswer feeds arbitrary answers to Verify. The nonce is random, so no
// answer can be an authentic OK: Verify must fail, never panic, and say
// rejected only for an answer signed with the key.
func FuzzAnswer(f *testing.F) {
	signedBadOTP := "h=2izYsRBRMw7dirBeMzbBXCp8N2c=\r\nt=" + vecT + "\r\nstatus=BAD_OTP\r\n"
	for _, s := range []string{
		signedBadOTP,
		"h=Vj3cBMah3xDjKXsSXPrklPOKANg=\r\nt=" + vecT + "\r\notp=" + vecOTP + "\r\nnonce=" + vecNonce + "\r\nsl=100\r\nstatus=OK\r\n",
		"status=OK\r\n", "h=\r\nstatus=OK", "=\n=\n", "h==\r\nstatus=OK&otp=x\r\n", "status=OK\r\nstatus=OK\r\n",
		"h=a\rb\nstatus=\x00", strings.Repeat("a=b\n", 5000), "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := yubico.New(yubico.Config{ClientID: vecID, SecretKey: vecKey, URLs: []string{yubico.YubiCloudURL}, HTTPClient: answering(string(body), nil)})
		if err != nil {
			t.Fatal(err)
		}
		err = c.Verify(context.Background(), vecOTP)
		var e *yubico.Error
		if !errors.As(err, &e) {
			t.Fatalf("Verify = %v for answer %q", err, body)
		}
		if e.Kind == yubico.KindRejected && !bytes.Contains(body, []byte("h=2izYsRBRMw7dirBeMzbBXCp8N2c=")) {
			t.Fatalf("rejected on an unsigned answer %q", body)
		}
		if e.Kind != yubico.KindRejected && e.Kind != yubico.KindUnavailable {
			t.Fatalf("Verify kind %v for answer %q", e.Kind, body)
		}
	})
}
