package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clientportal/portal/portaltest"
	"github.com/clientportal/portal/web"
)

// TestAccessLog: the request log has the fields slog's JSON handler wrote
// (compared value by value with slog's own line for the same request), for
// hostile paths too, and Close writes out every buffered line.
func TestAccessLog(t *testing.T) {
	var out portaltest.SyncBuffer
	e := newEnv(t, "sqlite", func(_ *web.Config, d *web.Deps) { d.AccessLog = web.NewAccessLog(&out) })
	e.register("log@example.com")
	c := e.login("log@example.com")
	paths := []string{"/api/v1/me", "/x%ff%00%22%5C%3Cscript%3E%E2%80%A8y", "/nowhere?token=secret-in-query"}
	for _, p := range paths {
		c.get(p)
	}
	if err := e.web.AccessLog.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var got []map[string]any
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %q: %v", l, err)
		}
		if m["msg"] == "request" {
			got = append(got, m)
		}
	}
	if len(got) < len(paths) {
		t.Fatalf("%d request lines, want at least %d: %s", len(got), len(paths), out.String())
	}
	for i, m := range got[len(got)-len(paths):] {
		// slog's line for the same fields.
		var ref bytes.Buffer
		attrs := []slog.Attr{slog.String("request_id", m["request_id"].(string)), slog.String("method", m["method"].(string)),
			slog.String("path", m["path"].(string)), slog.String("route", m["route"].(string)), slog.Int("status", int(m["status"].(float64))),
			slog.Duration("duration", time.Duration(m["duration"].(float64))), slog.String("ip", m["ip"].(string))}
		if id, ok := m["user_id"].(string); ok {
			attrs = append(attrs, slog.String("user_id", id))
		}
		slog.New(slog.NewJSONHandler(&ref, nil)).LogAttrs(t.Context(), slog.LevelInfo, "request", attrs...)
		var want map[string]any
		json.Unmarshal(ref.Bytes(), &want)
		delete(want, "time")
		at, err := time.Parse(time.RFC3339Nano, m["time"].(string))
		if err != nil || time.Since(at) > time.Minute {
			t.Errorf("line %d: time %v (%v)", i, m["time"], err)
		}
		delete(m, "time")
		if a, b := fmt_(m), fmt_(want); a != b {
			t.Errorf("line %d:\n got  %s\n want %s", i, a, b)
		}
		if strings.Contains(m["path"].(string), "token") || strings.Contains(out.String(), "secret-in-query") {
			t.Error("the query string was logged")
		}
	}
	if u := got[len(got)-len(paths)]["user_id"]; u == nil || u == "" {
		t.Error("a signed-in request's line has no user_id")
	}
}

// fmt_ is a map as canonical JSON (sorted keys).
func fmt_(m map[string]any) string {
	b, _ := json.Marshal(m)
	return string(b)
}

// touchCounter counts TouchSession calls.
type touchCounter struct {
	web.Store
	n atomic.Int64
}

func (c *touchCounter) TouchSession(ctx context.Context, id string, at int64) error {
	c.n.Add(1)
	return c.Store.TouchSession(ctx, id, at)
}

// TestSessionTouch: a session's last activity is written at most once a
// minute, and not at all by a request that replaces the session (the
// second sign-in step writes the new one in its own transaction); the idle
// timeout still counts from the last write.
func TestSessionTouch(t *testing.T) {
	tc := &touchCounter{}
	e := newEnv(t, "sqlite", func(_ *web.Config, d *web.Deps) { tc.Store = d.Store; d.Store = tc })
	e.register("touch@example.com")
	c := e.login("touch@example.com")
	for range 5 {
		c.get("/api/v1/me")
	}
	if n := tc.n.Load(); n != 0 {
		t.Fatalf("%d touches within the first minute", n)
	}
	e.clock.Add(61 * time.Second)
	for range 3 {
		c.get("/api/v1/me")
	}
	if n := tc.n.Load(); n != 1 {
		t.Fatalf("%d touches after a minute, want 1", n)
	}
	// 59 minutes idle after that touch: still signed in; 61: not.
	e.clock.Add(59 * time.Minute)
	if r := c.get("/api/v1/me"); r.StatusCode != 200 {
		t.Fatalf("after 59 idle minutes: %d", r.StatusCode)
	}
	// A second step a minute after the password step touches nothing.
	_, secret, _ := e.userWith2FA("t2@example.com")
	p := e.passwordStep("t2@example.com")
	before := tc.n.Load()
	e.clock.Add(61 * time.Second)
	if r := p.api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": codeAt(t, secret, e.clock.Now())}); r.StatusCode != 200 {
		t.Fatalf("second step: %d %s", r.StatusCode, r.Body)
	}
	if n := tc.n.Load() - before; n != 0 {
		t.Fatalf("the second step touched the session it replaced (%d writes)", n)
	}
}
