package web_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/web"
)

func withBrand(b portal.Brand, logo *web.Logo) option {
	return withConfig(func(c *web.Config) { c.Brand, c.Logo = b, logo })
}

// TestBrandOnEveryPage: the operator's name is in the title, header and
// footer of pages for visitors, customers and staff; the footer links
// appear when set; the stylesheet carries the brand colour.
func TestBrandOnEveryPage(t *testing.T) {
	acme := portal.Brand{Name: "Acme Hosting", Color: "#00aa77", SupportURL: "https://acme.example/help",
		PrivacyURL: "https://acme.example/privacy", TermsURL: "https://acme.example/terms"}
	e := newEnv(t, "sqlite", withBrand(acme, nil))
	e.register("ada@example.com")
	customer := e.login("ada@example.com")
	staff := e.staff("ops@example.com")
	pages := []struct {
		c    *client
		path string
	}{
		{e.client(), "/login"}, {e.client(), "/register"}, {e.client(), "/password/forgot"}, {e.client(), "/no/such/page"},
		{customer, "/dashboard"}, {customer, "/account/security"}, {customer, "/account/2fa"},
		{staff, "/admin/users"}, {staff, "/admin/stats"},
	}
	var css string
	for _, p := range pages {
		r := p.c.get(p.path)
		body := r.Body
		if !regexp.MustCompile(`<title>[^<]+ · Acme Hosting</title>`).MatchString(body) {
			t.Errorf("%s: title does not name the portal: %.200s", p.path, body)
		}
		if !strings.Contains(body, `<span>Acme Hosting</span></a>`) || !strings.Contains(body, "© Acme Hosting") {
			t.Errorf("%s: header or footer lacks the portal's name", p.path)
		}
		for _, link := range []string{acme.SupportURL, acme.PrivacyURL, acme.TermsURL} {
			if !strings.Contains(body, `href="`+link+`"`) {
				t.Errorf("%s: footer lacks %s", p.path, link)
			}
		}
		if strings.Contains(body, "Client Portal") {
			t.Errorf("%s: still says Client Portal", p.path)
		}
		m := regexp.MustCompile(`href="(/static/brand\.css\?v=[0-9a-f]+)"`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("%s: no brand stylesheet", p.path)
		}
		css = m[1]
	}
	r := e.client().get(css)
	if r.StatusCode != 200 || !strings.Contains(r.Body, "--brand: #00aa77") || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/css") {
		t.Fatalf("brand stylesheet: %d %s %q", r.StatusCode, r.Header.Get("Content-Type"), r.Body)
	}

	// Without links, the footer has none and the default name shows.
	plain := newEnv(t, "sqlite")
	body := plain.client().get("/login").Body
	if strings.Contains(body, "Privacy") || !strings.Contains(body, "<title>Sign in · Client Portal</title>") {
		t.Fatalf("default brand: %.400s", body)
	}
}

// TestBrandColorsReadable: whatever colour an operator picks, text on the
// header and buttons, links and the focus ring reach WCAG AA contrast in
// both colour schemes.
func TestBrandColorsReadable(t *testing.T) {
	vars := regexp.MustCompile(`--([a-z-]+): (#[0-9a-f]{6})`)
	for _, color := range []string{"#00aa77", "#1f5fbf", "#777777", "#808080", "#ffff00", "#ffffff", "#000000", "#ff0000", "#7a5cff", "#00ffff"} {
		css := web.BrandCSS(color)
		light, dark, _ := strings.Cut(css, "@media (prefers-color-scheme: dark)")
		get := func(block, name string) string {
			for _, m := range vars.FindAllStringSubmatch(block, -1) {
				if m[1] == name {
					return m[2]
				}
			}
			t.Fatalf("%s: no --%s in %q", color, name, block)
			return ""
		}
		check := func(what, a, b string, min float64) {
			if c := portal.Contrast(a, b); c < min {
				t.Errorf("brand %s: %s %s on %s has contrast %.2f, under %.1f", color, what, a, b, c, min)
			}
		}
		check("text on the brand colour", get(light, "on-brand"), get(light, "brand"), 4.5)
		for _, bg := range []string{"#ffffff", "#f5f7fa", "#eef2f6"} { // page, card and hovered rows, light
			check("link", get(light, "link"), bg, 4.5)
			check("focus ring", get(light, "focus"), bg, 3)
		}
		for _, bg := range []string{"#0f1419", "#161c24", "#1e2630"} { // the same, dark
			check("dark link", get(dark, "link"), bg, 4.5)
			check("dark focus ring", get(dark, "focus"), bg, 3)
		}
	}
	if _, err := portal.ParseColor("#0a7"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"0a7", "#0a", "#gg0000", "red", "#00aa77;}body{", ""} {
		if _, err := portal.ParseColor(bad); err == nil {
			t.Errorf("colour %q accepted", bad)
		}
	}
}

// TestLogo: a logo file is served from /brand/logo, never as a document
// that could run script; a remote logo's origin is allowed as an image
// source and nothing else.
func TestLogo(t *testing.T) {
	svg := `<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`
	e := newEnv(t, "sqlite", withBrand(portal.Brand{Name: "Acme"}, &web.Logo{Type: "image/svg+xml", Data: []byte(svg)}))
	body := e.client().get("/login").Body
	if !strings.Contains(body, `<img src="/brand/logo"`) {
		t.Fatalf("no logo in the header: %.600s", body)
	}
	r := e.client().get("/brand/logo")
	if r.StatusCode != 200 || r.Body != svg || r.Header.Get("Content-Type") != "image/svg+xml" ||
		!strings.Contains(r.Header.Get("Content-Security-Policy"), "sandbox") || !strings.Contains(r.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("logo: %d %v", r.StatusCode, r.Header)
	}

	remote := newEnv(t, "sqlite", withBrand(portal.Brand{Name: "Acme", LogoURL: "https://cdn.acme.example/logo.png"}, nil))
	r = remote.client().get("/login")
	csp := r.Header.Get("Content-Security-Policy")
	if !strings.Contains(r.Body, `<img src="https://cdn.acme.example/logo.png"`) || !strings.Contains(csp, "img-src 'self' data: https://cdn.acme.example;") ||
		!strings.Contains(csp, "script-src 'self';") {
		t.Fatalf("remote logo: %s / %.600s", csp, r.Body)
	}
	if r := remote.client().get("/brand/logo"); r.StatusCode != 404 {
		t.Fatalf("no logo file, /brand/logo answered %d", r.StatusCode)
	}
}

// TestWordingOnPages: no doubled method names, one capitalisation, plural
// forms, and the adoption chart starts on the day of the first user.
func TestWordingOnPages(t *testing.T) {
	e := newEnv(t, "sqlite")
	id := e.userWithEmail2FA("ada@example.com")
	staff := e.staff("ops@example.com")
	body := staff.get("/admin/users/" + id).Body
	if strings.Contains(body, "Email “Email”") || !strings.Contains(body, "Email <span") {
		t.Fatalf("staff user page: %s", body)
	}
	stats := staff.get("/admin/stats").Body
	if !strings.Contains(stats, "2 of 2 users have two-factor authentication") {
		t.Fatalf("stats: %s", stats)
	}
	// Both users were created today (1 March 2026 on the frozen clock): the
	// chart starts there, not 90 days before.
	if !strings.Contains(stats, "two-factor authentication, 1 Mar to 1 Mar 2026") {
		t.Fatalf("chart does not start on the first user's day: %s", stats)
	}
	for _, page := range []string{"/admin/users", "/admin/stats", "/admin/users/" + id} {
		if b := staff.get(page).Body; strings.Contains(b, "Two-Factor") {
			t.Errorf("%s: capital F in Two-Factor", page)
		}
	}

	// One user with one method: singular forms.
	solo := newEnv(t, "sqlite")
	solo.staff("ops@example.com")
	stats = solo.staffLogin("ops@example.com").get("/admin/stats").Body
	if !strings.Contains(stats, "1 of 1 user has two-factor authentication") || !strings.Contains(stats, "1 user</td>") {
		t.Fatalf("singular: %s", stats)
	}

	// Removing the email method asks about "Email", not "Email “Email”".
	e.register("bob@example.com")
	e.verifyEmail("bob@example.com")
	c := e.login("bob@example.com")
	e.enableTOTP(c)
	if r := c.api("POST", "/api/v1/me/2fa/email", nil); r.StatusCode != 202 {
		t.Fatalf("begin email: %d %s", r.StatusCode, r.Body)
	}
	if r := c.api("POST", "/api/v1/me/2fa/email/confirm", map[string]string{"code": e.box.LastCode("bob@example.com")}); r.StatusCode != 200 {
		t.Fatalf("confirm email: %d %s", r.StatusCode, r.Body)
	}
	sec := c.get("/account/security").Body
	m := regexp.MustCompile(`confirm=remove-method&amp;id=([a-z0-9]+)#confirm" data-confirm class="link danger remove-method">Remove<span class="sr"> Email`).FindStringSubmatch(sec)
	if m == nil {
		t.Fatalf("no remove link for the email method: %s", sec)
	}
	if q := c.get("/account/security?confirm=remove-method&id=" + m[1]).Body; !strings.Contains(q, "Remove Email?") {
		t.Fatalf("confirmation: %s", q)
	}
}
