package web

import (
	"context"
	"encoding/hex"
	"github.com/clientportal/portal/i18n"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/clientportal/portal"
)

// reqState travels with each request: who is calling and what happened.
type reqState struct {
	id string
	ip string
	// ipKey is what per-client limits count on: the address, or its /64
	// for IPv6, where one client holds 2^64 addresses.
	ipKey   string
	route   string
	session *portal.Session
	user    *portal.User
	// w is the response, for code deep in a request that must set a cookie
	// (a login completed by enrolling a required second factor).
	w http.ResponseWriter
	// amr is how the session about to start was proved (RFC 8176 values,
	// space-separated); empty means the password alone.
	amr string
	// token is the API token the request came with (no session then).
	token *portal.APIToken
	// loc is the language of the answer, once worked out (see lang).
	loc *i18n.Localizer
	// req is the request (with this state in its context), for code
	// that has only the context and needs its cookies (mailLang).
	req *http.Request
	// creating is the id of the user this request creates (registration):
	// the request is theirs.
	creating string
}

type stateKey struct{}

// state returns the request's state (always present behind observe).
func state(r *http.Request) *reqState {
	if st, ok := r.Context().Value(stateKey{}).(*reqState); ok {
		return st
	}
	return &reqState{}
}

// statusWriter remembers the status code for logs and metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// observe gives each request an id, logs it as one JSON line and counts it.
// Bodies, cookies and query strings are never logged: they may hold secrets.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		st := &reqState{id: requestID(r), ip: s.clientIP(r)}
		st.ipKey = limitKeyIP(st.ip)
		w.Header().Set("X-Request-Id", st.id)
		s.securityHeaders(w.Header())
		sw := &statusWriter{ResponseWriter: w}
		st.w = sw
		st.req = r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
		next.ServeHTTP(sw, st.req)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		route := st.route
		if route == "" {
			route = "other"
		}
		d := time.Since(start)
		s.metrics.observe(route, sw.status, d)
		if s.AccessLog != nil {
			e := accessEntry{at: start.Add(d), id: st.id, method: r.Method, path: r.URL.Path, route: route, ip: st.ip, status: sw.status, duration: d}
			if st.user != nil {
				e.userID = st.user.ID
			}
			s.AccessLog.write(&e)
			return
		}
		attrs := []slog.Attr{
			slog.String("request_id", st.id), slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.String("route", route), slog.Int("status", sw.status), slog.Duration("duration", d), slog.String("ip", st.ip),
		}
		if st.user != nil {
			attrs = append(attrs, slog.String("user_id", st.user.ID))
		}
		s.Logger.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
	})
}

// securityHeaders are sent with every response.
func (s *Server) securityHeaders(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", s.csp)
}

// requestID takes a well-formed X-Request-Id from the caller or makes one.
func requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); len(id) >= 8 && len(id) <= 64 && strings.IndexFunc(id, func(c rune) bool {
		return !(c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z')
	}) < 0 {
		return id
	}
	return hex.EncodeToString(portal.RandomToken(8))
}

// DefaultMaxBody bounds request bodies: forms and JSON here are small.
const DefaultMaxBody = 64 << 10

// ImportMaxBody bounds the body of the admin API's import (a file of
// users), read only once the caller is known to be staff or a token.
const ImportMaxBody = 16 << 20

// limitBody caps every request body.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := s.MaxBody
		if r.Method == http.MethodPost && r.URL.Path == "/api/v1/admin/users/import" {
			limit = max(ImportMaxBody, s.MaxBody)
		}
		if r.ContentLength > limit {
			s.Error(w, r, portal.Errorf(portal.ETOOLARGE, "The request is too large."))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
}

// clientIP is the connecting address, or the nearest untrusted address in
// X-Forwarded-For when the connection comes from a trusted proxy.
func (s *Server) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	if !s.trusted(addr) {
		return addr.Unmap().String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		if !s.trusted(a) {
			return a.Unmap().String()
		}
		addr = a
	}
	return addr.Unmap().String()
}

// limitKeyIP is the key of an address for per-client limits: IPv4 as is,
// IPv6 by its /64 (one subscriber's network).
func limitKeyIP(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is6() || a.Is4In6() {
		return ip
	}
	p, _ := a.Prefix(64)
	return p.String()
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.TrustedProxies {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// isAPI reports whether r is a JSON API call.
func isAPI(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/api/") }
