package web_test

import (
	"net/url"
	"strings"
	"testing"
)

// TestSessionList: a user sees every place they are signed in, with the
// browser and system, and ends one or all others; the ended session's next
// request is signed out. Staff end every session of a user with a reason.
func TestSessionList(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)
			id := e.register("ada@example.com")
			phone := e.login("ada@example.com")
			laptop := e.login("ada@example.com")
			tablet := e.login("ada@example.com")
			r := laptop.api("GET", "/api/v1/me/sessions", nil)
			list, _ := r.json()["sessions"].([]any)
			if r.StatusCode != 200 || len(list) != 3 {
				t.Fatalf("sessions: %d %s", r.StatusCode, r.Body)
			}
			first := list[0].(map[string]any)
			if first["current"] != true || first["browser"] == "" || first["os"] == "" || first["method"] != "Password" || first["ip"] == "" {
				t.Fatalf("this device first, described: %v", first)
			}
			var other string
			for _, s := range list[1:] {
				if s.(map[string]any)["current"] == true {
					t.Fatal("two current sessions")
				}
				other = s.(map[string]any)["id"].(string)
			}
			if r := laptop.api("DELETE", "/api/v1/me/sessions/"+first["id"].(string), nil); r.StatusCode != 400 {
				t.Fatalf("ending this session through the list: %d", r.StatusCode)
			}
			if r := laptop.api("DELETE", "/api/v1/me/sessions/"+other, nil); r.StatusCode != 204 {
				t.Fatalf("end one: %d %s", r.StatusCode, r.Body)
			}
			ended, alive := 0, 0
			for _, c := range []*client{phone, tablet} {
				if c.api("GET", "/api/v1/me", nil).StatusCode == 401 {
					ended++
				} else {
					alive++
				}
			}
			if ended != 1 || alive != 1 {
				t.Fatalf("after ending one: %d ended, %d alive", ended, alive)
			}
			// Another user's session id ends nothing.
			e.register("eve@example.com")
			eve := e.login("eve@example.com")
			if r := eve.api("DELETE", "/api/v1/me/sessions/"+first["id"].(string), nil); r.StatusCode != 404 {
				t.Fatalf("ending someone else's session: %d", r.StatusCode)
			}
			if laptop.api("GET", "/api/v1/me", nil).StatusCode != 200 {
				t.Fatal("another user ended this session")
			}
			// The page, and "sign out all other sessions".
			page := laptop.get("/account/security").Body
			if !strings.Contains(page, "Where you're signed in") || !strings.Contains(page, "This device") || !strings.Contains(page, `id="end-others"`) {
				t.Fatalf("security page: %s", page)
			}
			if r := laptop.form("/account/sessions/end-others", url.Values{}); r.StatusCode != 200 && r.StatusCode != 303 {
				t.Fatalf("end others: %d", r.StatusCode)
			}
			if phone.api("GET", "/api/v1/me", nil).StatusCode != 401 || tablet.api("GET", "/api/v1/me", nil).StatusCode != 401 {
				t.Fatal("other sessions survived")
			}
			if r := laptop.api("GET", "/api/v1/me/sessions", nil); len(r.json()["sessions"].([]any)) != 1 {
				t.Fatalf("after ending the others: %s", r.Body)
			}

			// Staff: a reason is required, recorded with who did it.
			staff := e.staff("ops@example.com")
			if r := staff.form("/admin/users/"+id+"/sessions/end", url.Values{"reason": {""}}); r.StatusCode != 400 {
				t.Fatalf("no reason: %d %s", r.StatusCode, e.logText())
			}
			if r := staff.form("/admin/users/"+id+"/sessions/end", url.Values{"reason": {"laptop stolen, ticket 12"}}); r.StatusCode != 200 && r.StatusCode != 303 {
				t.Fatalf("staff end: %d %s", r.StatusCode, r.Body)
			}
			if laptop.api("GET", "/api/v1/me", nil).StatusCode != 401 {
				t.Fatal("the user is still signed in after staff ended their sessions")
			}
			if !strings.Contains(staff.get("/admin/users/"+id).Body, "laptop stolen, ticket 12") {
				t.Fatal("the reason is not in the user's events")
			}
		})
	}
}
