package web_test

import (
	"encoding/csv"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/sqlstore/storetest"
	"github.com/clientportal/portal/web"
)

// TestStaffOnly: every staff route refuses owners and members (403), and a
// staff user without 2FA (policy requires it) only gets to set it up.
func TestStaffOnly(t *testing.T) {
	e := newEnv(t, "sqlite")
	e.register("owner@example.com")
	owner := e.login("owner@example.com")
	if _, err := e.web.CreateUser(t.Context(), "nofa@example.com", "No 2FA", testPassword, portal.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	staffNo2FA := e.client()
	if r := staffNo2FA.api("POST", "/api/v1/login", map[string]string{"email": "nofa@example.com", "password": testPassword}); r.json()["status"] != "2fa_setup_required" {
		t.Fatalf("staff without 2FA: %s", r.Body)
	}
	for _, rt := range e.web.Routes() {
		if rt.Access != web.Staff {
			continue
		}
		path := strings.ReplaceAll(rt.Path, "{id}", "x")
		if r := owner.do(rt.Method, path, strings.NewReader("{}"), "application/json", nil); r.StatusCode != 403 {
			t.Errorf("owner on %s %s: %d", rt.Method, rt.Path, r.StatusCode)
		}
		r := staffNo2FA.do(rt.Method, path, strings.NewReader("{}"), "application/json", nil)
		if r.StatusCode != 403 && !(r.StatusCode == 303 && r.Header.Get("Location") == "/account/2fa") {
			t.Errorf("staff without 2FA on %s %s: %d", rt.Method, rt.Path, r.StatusCode)
		}
	}
}

func TestAdminUserList(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		admin := e.staff("ops@example.com")
		var with, without []string
		for i := 0; i < 7; i++ {
			e.clock.Add(time.Second)
			addr := fmt.Sprintf("user%d@example.com", i)
			e.register(addr)
			if i%2 == 0 {
				e.enableTOTP(e.login(addr))
				with = append(with, addr)
			} else {
				without = append(without, addr)
			}
		}
		with = append(with, "ops@example.com")
		list := func(q string) ([]string, string) {
			r := admin.get("/api/v1/admin/users?" + q)
			if r.StatusCode != 200 {
				t.Fatalf("list %s: %d %s", q, r.StatusCode, r.Body)
			}
			var out []string
			for _, u := range r.json()["users"].([]any) {
				out = append(out, u.(map[string]any)["email"].(string))
			}
			next, _ := r.json()["next_cursor"].(string)
			return out, next
		}
		all := func(q string) []string {
			var out []string
			cursor := ""
			for {
				page, next := list(q + "&limit=3&cursor=" + cursor)
				out = append(out, page...)
				if next == "" {
					sort.Strings(out)
					return out
				}
				cursor = next
			}
		}
		sort.Strings(with)
		sort.Strings(without)
		if got := all("twofa=activated"); fmt.Sprint(got) != fmt.Sprint(with) {
			t.Fatalf("activated: %v, want %v", got, with)
		}
		if got := all("twofa=not_activated"); fmt.Sprint(got) != fmt.Sprint(without) {
			t.Fatalf("not activated: %v, want %v", got, without)
		}
		if got, _ := list("q=user3"); fmt.Sprint(got) != "[user3@example.com]" {
			t.Fatalf("search: %v", got)
		}
		for _, bad := range []string{"twofa=yes", "role=king", "limit=0x", "limit=1000", "cursor=not-a-cursor"} {
			if r := admin.get("/api/v1/admin/users?" + bad); r.StatusCode != 400 {
				t.Errorf("%s: %d", bad, r.StatusCode)
			}
		}
		// CSV export of the filtered list.
		r := admin.get("/admin/users/export.csv?twofa=not_activated")
		recs, err := csv.NewReader(strings.NewReader(r.Body)).ReadAll()
		if err != nil || len(recs) != len(without)+1 || recs[0][1] != "email" {
			t.Fatalf("csv: %v %q", err, r.Body)
		}
	})
}

// TestAdminReset: recent authentication and a reason are required; the
// user's sessions end, they are emailed, and the audit event says who and
// why.
func TestAdminReset(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		admin := e.staff("ops@example.com")
		id, secret, _ := e.userWith2FA("victim@example.com")
		p := e.passwordStep("victim@example.com")
		p.api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": codeAt(t, secret, e.clock.Now())})
		if r := admin.api("POST", "/api/v1/admin/users/"+id+"/2fa/reset", map[string]string{"reason": " "}); r.StatusCode != 400 {
			t.Fatalf("no reason: %d", r.StatusCode)
		}
		e.clock.Add(11 * time.Minute)
		if r := admin.api("POST", "/api/v1/admin/users/"+id+"/2fa/reset", map[string]string{"reason": "lost phone"}); r.StatusCode != 403 || r.errCode() != "reauth_required" {
			t.Fatalf("without recent auth: %d %s", r.StatusCode, r.Body)
		}
		admin = e.staffLogin("ops@example.com")
		if r := admin.api("POST", "/api/v1/admin/users/"+id+"/2fa/reset", map[string]string{"reason": "verified by phone, ticket 42"}); r.StatusCode != 204 {
			t.Fatalf("reset: %d %s", r.StatusCode, r.Body)
		}
		if r := p.get("/api/v1/me"); r.StatusCode != 401 {
			t.Fatalf("the user's session survived: %d", r.StatusCode)
		}
		if !strings.Contains(strings.Join(e.mail.Kinds(id), ","), portal.EventAdminReset) {
			t.Fatal("user not emailed")
		}
		evs := admin.get("/api/v1/admin/events?type=2fa_admin_reset&user=victim@example.com").json()["events"].([]any)
		if len(evs) != 1 || !strings.Contains(fmt.Sprint(evs[0]), "ticket 42") || evs[0].(map[string]any)["actor_id"] == "" {
			t.Fatalf("audit event: %v", evs)
		}
		if r := e.client().api("POST", "/api/v1/login", map[string]string{"email": "victim@example.com", "password": testPassword}); r.json()["status"] != "authenticated" {
			t.Fatalf("after reset: %s", r.Body)
		}
	})
}

func TestAdminStatsAndSettings(t *testing.T) {
	e := newEnv(t, "sqlite")
	admin := e.staff("ops@example.com")
	e.userWith2FA("a@example.com")
	e.register("b@example.com")
	e.register("c@example.com")
	st := admin.get("/api/v1/admin/stats").json()
	if st["total"] != float64(4) || st["enabled"] != float64(2) || st["share"] != 0.5 {
		t.Fatalf("stats: %v", st)
	}
	if m := fmt.Sprint(st["by_method"]); !strings.Contains(m, "totp:map[share:0.5 users:2]") {
		t.Fatalf("by method: %s", m)
	}
	// The numbers are reused for a minute (they count the whole table).
	e.register("d@example.com")
	if st := admin.get("/api/v1/admin/stats").json(); st["total"] != float64(4) {
		t.Fatalf("stats recomputed within the minute: %v", st["total"])
	}
	e.clock.Add(61 * time.Second)
	admin = e.staffLogin("ops@example.com")
	if st := admin.get("/api/v1/admin/stats").json(); st["total"] != float64(5) || st["share"] != 0.4 {
		t.Fatalf("stats after a minute: %v", st)
	}
	page := admin.get("/admin/stats")
	if !strings.Contains(page.Body, "<svg") || !strings.Contains(page.Body, "40.0%") {
		t.Fatal("stats page lacks the chart or the share")
	}
	metrics := e.metrics()
	if !strings.Contains(metrics, `portal_users_2fa_enabled{role="owner"} 1`) || !strings.Contains(metrics, `portal_users_2fa_method{method="totp"} 2`) || !strings.Contains(metrics, `portal_users{role="owner"} 4`) {
		t.Fatalf("metrics lack adoption gauges")
	}
	for _, bad := range []map[string]any{
		{"twofa_policy": "sometimes", "remember_browsers": true, "recovery_wait_hours": 24},
		{"twofa_policy": "staff", "remember_browsers": true, "recovery_wait_hours": 0},
		{"twofa_policy": "staff", "recovery_wait_hours": 24},
	} {
		if r := admin.api("PUT", "/api/v1/admin/settings", bad); r.StatusCode != 400 {
			t.Errorf("settings %v: %d", bad, r.StatusCode)
		}
	}
	if r := admin.api("PUT", "/api/v1/admin/settings", map[string]any{"twofa_policy": "everyone", "remember_browsers": false, "recovery_wait_hours": 48}); r.StatusCode != 204 {
		t.Fatalf("settings: %d %s", r.StatusCode, r.Body)
	}
	if r := e.client().api("POST", "/api/v1/login", map[string]string{"email": "b@example.com", "password": testPassword}); r.json()["status"] != "2fa_setup_required" {
		t.Fatalf("policy everyone: %s", r.Body)
	}
}
