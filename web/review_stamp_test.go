package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Review of the stamped session cookies (<8 hex>.<43 base64url>, id =
// stamp + SHA-256 of the whole cookie): what an outsider can send.

// TestReviewStampForgedCookies: no cookie made from a live stamped cookie,
// its stored id or parts of them signs anyone in, none answers 5xx, and
// none ends the live session.
func TestReviewStampForgedCookies(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)
			e.register("victim@example.com")
			victim := e.login("victim@example.com")
			v := victim.cookie()
			if len(v) != 52 || v[8] != '.' {
				t.Fatalf("not a stamped cookie: %q", v)
			}
			r := victim.api("GET", "/api/v1/me/sessions", nil)
			list, _ := r.json()["sessions"].([]any)
			if r.StatusCode != 200 || len(list) != 1 {
				t.Fatalf("sessions: %d %s", r.StatusCode, r.Body)
			}
			id := list[0].(map[string]any)["id"].(string)
			if len(id) != 73 || id[:9] != v[:9] || strings.Contains(id, v[9:]) {
				t.Fatalf("id %q of cookie %q", id, v)
			}
			flip := func(c byte) byte {
				if c == 'f' {
					return '0'
				}
				if c == '9' {
					return 'a'
				}
				return c + 1
			}
			forged := []string{
				strings.ToUpper(v[:8]) + v[8:],
				"6B49D200" + v[8:],
				v[:7] + string(flip(v[7])) + v[8:],
				string(flip(v[0])) + v[1:],
				"00000000" + v[8:], "ffffffff" + v[8:],
				v[:8] + "-" + v[9:], v[:8] + "~" + v[9:], v[:8] + "A" + v[9:],
				" " + v[1:], "+" + v[1:], "0x" + v[2:],
				v[:51], v + "A", v + v, v[9:], v[:9] + v[9:51], v[:51] + "=",
				v[:9] + "%" + v[10:], v[:9] + strings.ToUpper(v[9:]),
				id, id[9:], id[:52], id[:43], id[9:52],
				v[:9] + "é" + v[11:], v[:9] + "\u00ff" + v[10:],
				"\"" + v + "\"", "\"" + v, url.PathEscape(v[:8]) + "%2E" + v[9:], strings.Repeat("a", 8) + "." + strings.Repeat("A", 43),
				strings.Repeat(v, 200),
			}
			attacker := e.client()
			for _, f := range forged {
				hdr := http.Header{"Cookie": {"portal_session=" + f}}
				// Go's parser reads "v" as v: that is the cookie itself.
				probe := &http.Request{Header: hdr}
				if ck, err := probe.Cookie("portal_session"); !validHeaderValue(hdr.Get("Cookie")) || (err == nil && ck.Value == v) {
					continue
				}
				for _, path := range []string{"/api/v1/me", "/account/security", "/api/v1/me/sessions"} {
					r := attacker.do("GET", path, nil, "", hdr)
					switch {
					case r.StatusCode >= 500:
						t.Fatalf("%s with %q: %d %s", path, f, r.StatusCode, r.Body)
					case r.StatusCode == 200:
						t.Fatalf("%s with %q signed in: %s", path, f, r.Body)
					}
				}
				if r := attacker.do("DELETE", "/api/v1/me/sessions/"+url.PathEscape(id), nil, "", hdr); r.StatusCode < 400 || r.StatusCode >= 500 {
					t.Fatalf("DELETE the victim's session with %q: %d %s", f, r.StatusCode, r.Body)
				}
			}
			if r := victim.api("GET", "/api/v1/me", nil); r.StatusCode != 200 {
				t.Fatalf("the forgeries ended the live session: %d", r.StatusCode)
			}
		})
	}
}

// TestReviewStampSessionIDPaths: ending sessions by id, in the API and the
// page, takes any id an attacker types: another user's (stamped) id ends
// nothing, odd ids answer 4xx, never 5xx, and a dotted id of the user's own
// other session ends it.
func TestReviewStampSessionIDPaths(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)
			e.register("victim@example.com")
			e.register("eve@example.com")
			victim := e.login("victim@example.com")
			eve := e.login("eve@example.com")
			eve2 := e.login("eve@example.com")
			vid := victim.api("GET", "/api/v1/me/sessions", nil).json()["sessions"].([]any)[0].(map[string]any)["id"].(string)
			eveList := eve.api("GET", "/api/v1/me/sessions", nil).json()["sessions"].([]any)
			var eve2ID string
			for _, s := range eveList {
				if s.(map[string]any)["current"] != true {
					eve2ID = s.(map[string]any)["id"].(string)
				}
			}
			if eve2ID == "" || !strings.Contains(eve2ID, ".") {
				t.Fatalf("eve's other session: %v", eveList)
			}
			for _, id := range []string{vid, vid[9:], vid[:9], strings.ToUpper(vid), vid + "%00", "%00", "%FF%FE", "..%2F..%2Fme", "%2E", strings.Repeat("a", 20000), vid[:9] + "%27%20OR%201=1--"} {
				r := eve.api("DELETE", "/api/v1/me/sessions/"+id, nil)
				if r.StatusCode >= 500 || r.StatusCode < 400 {
					t.Fatalf("DELETE %.80q: %d %s", id, r.StatusCode, r.Body)
				}
				r = eve.form("/account/sessions/"+id+"/end", url.Values{})
				if r.StatusCode >= 500 {
					t.Fatalf("POST end %.80q: %d %s", id, r.StatusCode, r.Body)
				}
			}
			if victim.api("GET", "/api/v1/me", nil).StatusCode != 200 {
				t.Fatal("another user ended the victim's session")
			}
			if r := eve.form(fmt.Sprintf("/account/sessions/%s/end", eve2ID), url.Values{}); r.StatusCode != 303 && r.StatusCode != 200 {
				t.Fatalf("ending own dotted id: %d %s", r.StatusCode, r.Body)
			}
			if eve2.api("GET", "/api/v1/me", nil).StatusCode != 401 {
				t.Fatal("the ended session still works")
			}
		})
	}
}
