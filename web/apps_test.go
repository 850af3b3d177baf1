package web_test

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestAdminApps: staff register apps in the console and the API; the
// secret is shown once and never listed; bad addresses are refused with a
// sentence; customers cannot reach any of it.
func TestAdminApps(t *testing.T) {
	e := newEnv(t, "sqlite")
	staff := e.staff("ops@example.com")
	r := staff.form("/admin/apps", url.Values{"name": {"Billing"}, "redirect_uris": {"https://billing.example/callback\n\n"}, "scope": {"openid", "email"}})
	m := regexp.MustCompile(`<code id="client-id">([a-z0-9]+)</code>.*<code id="client-secret" class="secret">([A-Za-z0-9_-]{40,})</code>`).FindStringSubmatch(strings.ReplaceAll(r.Body, "\n", " "))
	if r.StatusCode != 200 || m == nil {
		t.Fatalf("register: %d %s", r.StatusCode, r.Body)
	}
	id, secret := m[1], m[2]
	if list := staff.get("/admin/apps").Body; !strings.Contains(list, id) || strings.Contains(list, secret) {
		t.Fatal("the list lacks the app or shows its secret")
	}
	for _, bad := range []url.Values{
		{"name": {"X"}, "redirect_uris": {"http://billing.example/cb"}},
		{"name": {"X"}, "redirect_uris": {"https://billing.example/cb#x"}},
		{"name": {""}, "redirect_uris": {"https://billing.example/cb"}},
		{"name": {"X"}, "redirect_uris": {"https://b.example/cb"}, "public": {"1"}, "client_credentials": {"1"}},
	} {
		if r := staff.form("/admin/apps", bad); r.StatusCode != 400 || !strings.Contains(r.Body, `id="form-error"`) {
			t.Errorf("%v: %d", bad, r.StatusCode)
		}
	}

	api := staff.api("POST", "/api/v1/admin/apps", map[string]any{"name": "Desk", "redirect_uris": []string{"https://desk.example/cb"}, "public": true})
	if api.StatusCode != 201 || api.json()["client_secret"] != nil || api.json()["public"] != true {
		t.Fatalf("API create (public): %d %s", api.StatusCode, api.Body)
	}
	desk := api.json()["client_id"].(string)
	list := staff.api("GET", "/api/v1/admin/apps", nil)
	if list.StatusCode != 200 || !strings.Contains(list.Body, desk) || strings.Contains(list.Body, "secret") {
		t.Fatalf("API list: %s", list.Body)
	}
	if r := staff.api("DELETE", "/api/v1/admin/apps/"+desk, nil); r.StatusCode != 204 {
		t.Fatalf("API delete: %d %s", r.StatusCode, r.Body)
	}
	if r := staff.api("DELETE", "/api/v1/admin/apps/"+desk, nil); r.StatusCode != 404 {
		t.Fatalf("deleting again: %d", r.StatusCode)
	}

	e.register("cora@example.com")
	cust := e.login("cora@example.com")
	for _, path := range []string{"/admin/apps", "/api/v1/admin/apps", "/admin/apps/" + id} {
		if r := cust.get(path); r.StatusCode != 403 {
			t.Errorf("customer GET %s: %d", path, r.StatusCode)
		}
	}
	if r := cust.api("POST", "/api/v1/admin/apps", map[string]any{"name": "Evil", "redirect_uris": []string{"https://evil.example/cb"}}); r.StatusCode != 403 {
		t.Errorf("customer create: %d", r.StatusCode)
	}
}
