package web_test

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clientportal/portal/portaltest"
	"github.com/clientportal/portal/sqlstore/storetest"
)

// TestDatabaseRestart: PostgreSQL goes away under load (every connection
// cut, new ones refused, as in a restart) and comes back. While it is away
// the portal says it is not ready and answers 503 with Retry-After, never
// 500; afterwards it serves again without being restarted, and what it
// acknowledged before is still there.
func TestDatabaseRestart(t *testing.T) {
	dsn := storetest.DSN(t, "postgres")
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := portaltest.NewProxy(t, u.Host)
	u.Host = proxy.Addr()
	e := newEnvDSN(t, u.String(), portaltest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)), nil, withConfig(trustLocalProxy))
	e.register("before@example.com")
	c := e.login("before@example.com")

	// Load: signed-in page views and registrations, until the end.
	var stop atomic.Bool
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				var status int
				if i%4 == 0 {
					// From many networks: one would meet its registration quota.
					status = e.client().fromIP(fmt.Sprintf("10.%d.%d.%d", w, i/256%256, i%256)).api("POST", "/api/v1/register", map[string]string{"email": fmt.Sprintf("load%d-%d@example.com", w, i), "password": testPassword, "name": "Load"}).StatusCode
				} else {
					status = c.get("/api/v1/me").StatusCode
				}
				mu.Lock()
				statuses[status]++
				mu.Unlock()
			}
		})
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); !ok(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	time.Sleep(300 * time.Millisecond)

	proxy.Stop()
	waitFor("/readyz to say not ready", func() bool { return e.client().get("/readyz").StatusCode == 503 })
	var down *response
	waitFor("a 503 for a signed-in page", func() bool { down = c.get("/api/v1/me"); return down.StatusCode == 503 })
	if down.Header.Get("Retry-After") == "" || down.errCode() != "unavailable" {
		t.Fatalf("while the database is down: %d %s (Retry-After %q)", down.StatusCode, down.Body, down.Header.Get("Retry-After"))
	}
	time.Sleep(300 * time.Millisecond) // load keeps hitting the outage

	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor("/readyz to say ready again", func() bool { return e.client().get("/readyz").StatusCode == 200 })
	waitFor("the session to work again", func() bool { return c.get("/api/v1/me").StatusCode == 200 })
	e.register("after@example.com")
	time.Sleep(200 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	for status, n := range statuses {
		if status != 200 && status != 201 && status != 503 {
			t.Errorf("%d responses with status %d during the restart; logged:\n%s", n, status, grepLines(e.logText(), "internal error"))
		}
	}
	if statuses[503] == 0 || statuses[200] == 0 {
		t.Errorf("statuses %v: the load did not see both the outage and service", statuses)
	}
	if r := e.login("before@example.com").get("/api/v1/me"); r.StatusCode != 200 || r.json()["email"] != "before@example.com" {
		t.Fatalf("the user from before the restart: %d %s", r.StatusCode, r.Body)
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
