package web_test

import (
	"fmt"
	"testing"

	"github.com/clientportal/portal"
)

// TestSessionCookieStamped: a sign-in's cookie starts with the time it was
// made; the cookie works, the same secret under another time stamp does
// not, and a session from before stamps (a 43-character cookie) still does.
func TestSessionCookieStamped(t *testing.T) {
	e := newEnv(t, "sqlite")
	uid := e.register("stamp@example.com")
	c := e.login("stamp@example.com")
	v := c.cookie()
	stamp := fmt.Sprintf("%08x.", uint32(e.clock.Now().Unix()))
	if len(v) != 52 || v[:9] != stamp {
		t.Fatalf("session cookie %q: want 52 characters starting %q", v, stamp)
	}
	if r := c.get("/api/v1/me"); r.StatusCode != 200 {
		t.Fatalf("with the cookie: %d %s", r.StatusCode, r.Body)
	}
	for _, forged := range []string{fmt.Sprintf("%08x.", uint32(e.clock.Now().Unix())+1) + v[9:], v[9:], v[:8] + "~" + v[9:]} {
		c.setCookie(forged)
		if r := c.get("/api/v1/me"); r.StatusCode != 401 {
			t.Fatalf("with the forged cookie %q: %d, want 401", forged, r.StatusCode)
		}
	}
	old := e.sessionAt(uid, portal.LevelFull)
	if v := old.cookie(); len(v) != 43 {
		t.Fatalf("the old-style cookie is %d characters", len(v))
	}
	if r := old.get("/api/v1/me"); r.StatusCode != 200 {
		t.Fatalf("with a cookie from before stamps: %d %s", r.StatusCode, r.Body)
	}
}
