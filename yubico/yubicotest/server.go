// Package yubicotest is a local double of a Yubico OTP validation server
// (protocol 2.0) for tests: it checks requests as yubikey-val does, signs its
// answers, remembers the OTPs it accepted, and misbehaves when told to.
//
// It shares no code with package yubico on purpose: it computes signatures
// and checks OTPs on its own, so a mistake in the client is not mirrored here.
package yubicotest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// VerifyPath is the path of the verify endpoint, as on YubiCloud.
const VerifyPath = "/wsapi/2.0/verify"

const modhex = "cbdefghijklnrtuv"

// Mode is how the server behaves; see SetMode.
type Mode struct {
	kind   modeKind
	status string
	delay  time.Duration
}

type modeKind int

const (
	normal modeKind = iota
	badSignature
	changedNonce
	changedOTP
	fixedStatus
	httpError
	slow
	hang
	down
)

// Modes of a Server. Status and Slow make the others.
var (
	// Normal answers as a working server does.
	Normal = Mode{kind: normal}
	// BadSignature answers as Normal but with a wrong h.
	BadSignature = Mode{kind: badSignature}
	// ChangedNonce answers as Normal, correctly signed, but echoes a nonce
	// other than the one sent.
	ChangedNonce = Mode{kind: changedNonce}
	// ChangedOTP answers as Normal, correctly signed, but echoes another
	// OTP of the same key.
	ChangedOTP = Mode{kind: changedOTP}
	// HTTPError answers 500 Internal Server Error.
	HTTPError = Mode{kind: httpError}
	// Hang never answers: it holds each request until the client gives up
	// or the server is closed.
	Hang = Mode{kind: hang}
	// Down closes each connection without answering, as a crashing server
	// would. To refuse connections outright, Close the server.
	Down = Mode{kind: down}
)

// Status answers every request with the given status (for example
// BACKEND_ERROR), echoing the OTP and nonce and signed correctly, without
// checking or recording anything.
func Status(s string) Mode { return Mode{kind: fixedStatus, status: s} }

// Slow answers as Normal after d, unless the client gives up first.
func Slow(d time.Duration) Mode { return Mode{kind: slow, delay: d} }

// String names the mode, for test names.
func (m Mode) String() string {
	switch m.kind {
	case badSignature:
		return "BadSignature"
	case changedNonce:
		return "ChangedNonce"
	case changedOTP:
		return "ChangedOTP"
	case fixedStatus:
		return "Status(" + m.status + ")"
	case httpError:
		return "HTTPError"
	case slow:
		return fmt.Sprintf("Slow(%v)", m.delay)
	case hang:
		return "Hang"
	case down:
		return "Down"
	}
	return "Normal"
}

// Server is a validation server on 127.0.0.1 that knows one API client.
type Server struct {
	tb        testing.TB
	srv       *httptest.Server
	clientID  string
	key       []byte
	closing   chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex
	mode     Mode
	keys     map[string]bool   // public ids of the YubiKeys it knows
	accepted map[string]string // OTP -> nonce of the request that used it
	requests int
}

// NewServer starts a server that knows the API client clientID with the
// base64 secretKey, and closes it when the test ends. It knows no YubiKey
// until AddKey.
func NewServer(tb testing.TB, clientID, secretKey string) *Server {
	tb.Helper()
	key, err := base64.StdEncoding.DecodeString(secretKey)
	if err != nil || len(key) == 0 {
		tb.Fatalf("yubicotest: secret key %q is not base64: %v", secretKey, err)
	}
	s := &Server{
		tb:       tb,
		clientID: clientID,
		key:      key,
		closing:  make(chan struct{}),
		keys:     make(map[string]bool),
		accepted: make(map[string]string),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+VerifyPath, s.serveVerify)
	s.srv = httptest.NewServer(mux)
	tb.Cleanup(s.Close)
	return s
}

// URL returns the verify endpoint's URL.
func (s *Server) URL() string { return s.srv.URL + VerifyPath }

// Close stops the server: connections to URL are refused from then on. A
// request held by Hang or Slow is let go first, so Close does not wait for
// the client. Close may be called more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.srv.Close()
	})
}

// AddKey makes the server know the YubiKey with publicID (2 to 16 modhex
// characters); OTPs of other keys are answered BAD_OTP.
func (s *Server) AddKey(publicID string) {
	s.tb.Helper()
	if !isModhex(publicID) || len(publicID) < 2 || len(publicID) > 16 {
		s.tb.Fatalf("yubicotest: public id %q is not 2 to 16 modhex characters", publicID)
	}
	s.mu.Lock()
	s.keys[publicID] = true
	s.mu.Unlock()
}

// SetMode changes how the server answers from the next request on.
func (s *Server) SetMode(m Mode) {
	s.mu.Lock()
	s.mode = m
	s.mu.Unlock()
}

// Requests returns how many verify requests the server has received.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

func (s *Server) serveVerify(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	m := s.mode
	s.mu.Unlock()

	switch m.kind {
	case httpError:
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	case down:
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
		return
	case hang:
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
		return
	case slow:
		t := time.NewTimer(m.delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		case <-s.closing:
			return
		}
	}

	q := r.URL.Query()
	ans, key := s.answer(q, m)
	ans["t"] = timestamp(time.Now())
	switch m.kind {
	case changedNonce:
		ans["nonce"] = randomModhex(32) // alphanumeric, like a nonce
	case changedOTP:
		ans["otp"] = otherOTP(q.Get("otp"))
	case badSignature:
		key = append([]byte("not the key"), key...)
	}
	ans["h"] = signature(key, ans)

	w.Header().Set("Content-Type", "text/plain")
	// Written in yubikey-val's order, which is not sorted: the client
	// must sort to check h.
	var b strings.Builder
	for _, k := range []string{"h", "t", "otp", "nonce", "sl", "status"} {
		if v, ok := ans[k]; ok {
			fmt.Fprintf(&b, "%s=%s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	io.WriteString(w, b.String())
}

// answer decides the status as yubikey-val would and returns the answer's
// parameters (without t and h) and the key to sign them with.
func (s *Server) answer(q url.Values, m Mode) (map[string]string, []byte) {
	otp, nonce := q.Get("otp"), q.Get("nonce")
	echo := func(status string) map[string]string {
		return map[string]string{"status": status, "otp": otp, "nonce": nonce}
	}
	bare := func(status string) map[string]string { return map[string]string{"status": status} }

	if q.Get("id") != s.clientID {
		// Not knowing the client, a real server cannot know the key
		// either: it signs with an empty one, which no client accepts.
		return bare("NO_SUCH_CLIENT"), nil
	}
	if m.kind == fixedStatus {
		return echo(m.status), s.key
	}
	if !isNonce(nonce) || otp == "" || q.Get("h") == "" {
		return bare("MISSING_PARAMETER"), s.key
	}
	if !isModhex(otp) || len(otp) < 32 || len(otp) > 48 {
		return bare("BAD_OTP"), s.key
	}
	got, err := base64.StdEncoding.DecodeString(q.Get("h"))
	if err != nil || !hmac.Equal(got, mac(s.key, flatten(q))) {
		return bare("BAD_SIGNATURE"), s.key
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.keys[otp[:len(otp)-32]] {
		// The key server cannot decrypt an OTP of a key it does not know.
		return bare("BAD_OTP"), s.key
	}
	if seen, ok := s.accepted[otp]; ok {
		if seen == nonce {
			return echo("REPLAYED_REQUEST"), s.key
		}
		return echo("REPLAYED_OTP"), s.key
	}
	s.accepted[otp] = nonce
	ans := echo("OK")
	ans["sl"] = "100"
	return ans, s.key
}

// OTP returns a fresh, well-formed OTP of the YubiKey with publicID, as if
// its button were touched: publicID followed by 32 random modhex
// characters (44 characters for a 12-character public id). The server does
// not decrypt the token, so any fresh OTP of a known key is accepted once.
// It panics if publicID is not modhex.
func OTP(publicID string) string {
	if !isModhex(publicID) {
		panic(fmt.Sprintf("yubicotest: public id %q is not modhex", publicID))
	}
	return publicID + randomModhex(32)
}

// NewPublicID returns a random 12-character public id, "cc" and ten modhex
// characters, like those of YubiKeys shipped by Yubico.
func NewPublicID() string { return "cc" + randomModhex(10) }

// otherOTP returns an OTP of the same key as otp but with another token.
func otherOTP(otp string) string {
	if len(otp) < 32 || !isModhex(otp) {
		return NewPublicID() + randomModhex(32)
	}
	return OTP(otp[:len(otp)-32])
}

func randomModhex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = modhex[b[i]&0x0f]
	}
	return string(b)
}

func isModhex(s string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(modhex, s[i]) < 0 {
			return false
		}
	}
	return s != ""
}

// isNonce reports whether n is 16 to 40 letters and digits, as the
// protocol asks.
func isNonce(n string) bool {
	if len(n) < 16 || len(n) > 40 {
		return false
	}
	for _, c := range n {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// flatten keeps the first value of each query parameter.
func flatten(q url.Values) map[string]string {
	m := make(map[string]string, len(q))
	for k, v := range q {
		m[k] = v[0]
	}
	return m
}

// signature is the protocol's h: base64 of HMAC-SHA1 over the parameters
// but h, sorted by key and joined as k=v with '&'.
func signature(key []byte, params map[string]string) string {
	return base64.StdEncoding.EncodeToString(mac(key, params))
}

func mac(key []byte, params map[string]string) []byte {
	var keys []string
	for k := range params {
		if k != "h" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	pairs := make([]string, len(keys))
	for i, k := range keys {
		pairs[i] = k + "=" + params[k]
	}
	m := hmac.New(sha1.New, key)
	m.Write([]byte(strings.Join(pairs, "&")))
	return m.Sum(nil)
}

// timestamp formats t as yubikey-val does: UTC, then "Z0" and milliseconds.
func timestamp(t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("%sZ0%03d", t.Format("2006-01-02T15:04:05"), t.Nanosecond()/1e6)
}
