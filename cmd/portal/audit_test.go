package main_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	cp "github.com/clientportal/portal"
	"github.com/clientportal/portal/portaltest"
	"github.com/clientportal/portal/provider"
	"github.com/clientportal/portal/sqlstore/storetest"
	"github.com/clientportal/portal/web"
)

// The audit of a page: at the desktop size of portaltest.Browser and at a
// phone's, the page must not scroll sideways and axe-core must find no
// serious or critical accessibility violation. screenshot runs it, so
// every page the browser suite looks at is audited; TestBrowserEveryPage
// makes sure that is every page of the route table.

// AxeEnv names the variable that points at axe-core's axe.min.js.
const AxeEnv = "PORTAL_TEST_AXE"

// axeDefault is where `npm ci --prefix cmd/portal/testdata/axe` puts axe,
// relative to this package's directory (the tests' working directory).
const axeDefault = "testdata/axe/node_modules/axe-core/axe.min.js"

// The phone the pages must fit: 390×844 CSS pixels, as an iPhone 12 to 15.
const phoneWidth, phoneHeight = 390, 844

var axeLoad = sync.OnceValues(func() (string, error) {
	path := os.Getenv(AxeEnv)
	if path == "" {
		path = axeDefault
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return string(b), nil
})

// axeMissing says how to get axe.
func axeMissing(err error) string {
	return fmt.Sprintf("accessibility checks (axe-core) skipped: %v; run `npm ci --prefix cmd/portal/testdata/axe` from the repository root, or set %s to an axe.min.js", err, AxeEnv)
}

// requireAxe skips t without axe-core (fails it when PORTAL_TEST_REQUIRE_ALL
// is set, as in CI).
func requireAxe(t *testing.T) {
	t.Helper()
	if _, err := axeLoad(); err != nil {
		storetest.Skip(t, axeMissing(err))
	}
}

// axeNoted holds the tests already told that axe is missing.
var axeNoted sync.Map

// audit checks the page loaded in ctx, at the desktop size and then at a
// phone's: no horizontal scrolling, and no serious or critical axe-core
// violation. Each problem fails t (without stopping it) with what to fix.
// It saves name.png and name-phone.png under PORTAL_TEST_SCREENSHOTS, when
// set. Without axe-core only the layout is checked (a failure when
// PORTAL_TEST_REQUIRE_ALL is set).
func audit(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	src, axeErr := axeLoad()
	if axeErr != nil {
		if storetest.RequireAll() {
			t.Fatal(axeMissing(axeErr) + " (PORTAL_TEST_REQUIRE_ALL is set, so skipping is a failure)")
		}
		if _, told := axeNoted.LoadOrStore(t, true); !told {
			t.Log(axeMissing(axeErr) + "; checking the layout only")
		}
	}
	f, err := auditPage(ctx, name, src)
	for _, n := range f.notes {
		t.Log(n)
	}
	for _, p := range f.problems {
		t.Error(p)
	}
	if err != nil {
		t.Fatalf("audit %s: %v", name, err)
	}
}

// findings are what an audit found: problems fail the test, notes are
// logged.
type findings struct{ problems, notes []string }

// auditPage is audit, returning what it found; axeSrc is axe-core's source
// ("": check the layout only). An error is a failure of the audit itself.
func auditPage(ctx context.Context, name, axeSrc string) (f findings, err error) {
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return f, err
	}
	where := name
	if u, err := url.Parse(loc); err == nil {
		where += " (" + u.Path + ")"
	}
	desktopWidth, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.innerWidth`))
	if err != nil {
		return f, err
	}

	desktop := fmt.Sprintf("desktop %dpx", desktopWidth)
	if err := f.checkOverflow(ctx, where, desktop); err != nil {
		return f, err
	}
	var seen map[string]bool
	if axeSrc != "" {
		if seen, err = f.checkAxe(ctx, axeSrc, where, desktop, nil); err != nil {
			return f, err
		}
	}
	f.savePNG(ctx, name)

	// The phone: the page's own viewport meta tag applies (mobile), no
	// touch emulation (the stylesheet has no hover or pointer queries).
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
			Width: phoneWidth, Height: phoneHeight, DeviceScaleFactor: 2, Mobile: true,
			ScreenOrientation: &emulation.ScreenOrientation{Type: emulation.ScreenOrientationTypePortraitPrimary},
		})
		return err
	}), waitWidth(func(w int) bool { return w != desktopWidth })); err != nil {
		return f, fmt.Errorf("phone viewport: %w", err)
	}
	defer func() {
		if rerr := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.ClearDeviceMetricsOverride, cdp.Empty{})
			return err
		}), waitWidth(func(w int) bool { return w == desktopWidth })); rerr != nil && err == nil {
			err = fmt.Errorf("back to the desktop viewport: %w", rerr)
		}
	}()
	phone := fmt.Sprintf("phone %d×%d", phoneWidth, phoneHeight)
	if err := f.checkOverflow(ctx, where, phone); err != nil {
		return f, err
	}
	if axeSrc != "" {
		if _, err := f.checkAxe(ctx, axeSrc, where, phone, seen); err != nil {
			return f, err
		}
	}
	f.savePNG(ctx, name+"-phone")

	// The dark colour scheme (prefers-color-scheme), at the phone size:
	// contrast is what changes, and axe checks it.
	if axeSrc != "" {
		if err := setColorScheme(ctx, "dark"); err != nil {
			return f, fmt.Errorf("dark colour scheme: %w", err)
		}
		defer func() {
			if rerr := setColorScheme(ctx, ""); rerr != nil && err == nil {
				err = fmt.Errorf("back to the light colour scheme: %w", rerr)
			}
		}()
		dark := phone + " in the dark colour scheme"
		if _, err := f.checkAxe(ctx, axeSrc, where, dark, seen); err != nil {
			return f, err
		}
		f.savePNG(ctx, name+"-phone-dark")
	}
	return f, nil
}

// setColorScheme emulates prefers-color-scheme ("" ends the emulation)
// and waits for the page to be painted in it.
func setColorScheme(ctx context.Context, scheme string) error {
	return chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		var features []*emulation.MediaFeature
		if scheme != "" {
			features = []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}
		}
		if _, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: features}); err != nil {
			return err
		}
		want := scheme == "dark"
		deadline := time.Now().Add(5 * time.Second)
		for {
			dark, err := chromedp.Evaluate[bool](`matchMedia("(prefers-color-scheme: dark)").matches`)(ctx, tg)
			if err != nil {
				return err
			}
			if dark == want {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("prefers-color-scheme did not change")
			}
			time.Sleep(10 * time.Millisecond)
		}
		_, err := chromedp.Evaluate[bool](`new Promise(r => { requestAnimationFrame(() => requestAnimationFrame(() => r(true))); setTimeout(() => r(true), 250) })`, chromedp.EvalAwaitPromise)(ctx, tg)
		return err
	}))
}

// waitWidth waits until the window's inner width satisfies ok, and for the
// page to be laid out and painted at it.
func waitWidth(ok func(int) bool) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		deadline := time.Now().Add(5 * time.Second)
		for {
			w, err := chromedp.Evaluate[int](`window.innerWidth`)(ctx, tg)
			if err != nil {
				return err
			}
			if ok(w) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("the window is still %dpx wide", w)
			}
			time.Sleep(10 * time.Millisecond)
		}
		_, err := chromedp.Evaluate[bool](`new Promise(r => { requestAnimationFrame(() => requestAnimationFrame(() => r(true))); setTimeout(() => r(true), 250) })`, chromedp.EvalAwaitPromise)(ctx, tg)
		return err
	})
}

// savePNG saves the page as PNG under PORTAL_TEST_SCREENSHOTS, when set, so
// a person can look at what the tests saw.
func (f *findings) savePNG(ctx context.Context, name string) {
	dir := os.Getenv("PORTAL_TEST_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		f.notes = append(f.notes, fmt.Sprintf("screenshot %s: %v", name, err))
		return
	}
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
}

// overflowReport is what overflowJS finds.
type overflowReport struct {
	ScrollWidth float64 `json:"scrollWidth"`
	Width       float64 `json:"width"`
	// Culprits are where the overflow starts: elements (or their text)
	// sticking out of the viewport from a parent that fits, widest first.
	Culprits []struct {
		What  string  `json:"what"`
		Right float64 `json:"right"`
		Width float64 `json:"width"`
		Text  string  `json:"text"`
	} `json:"culprits"`
	Total int `json:"total"`
}

// overflowJS measures the page against the viewport (the layout viewport
// without a scroll bar) and, when it is wider, finds where that starts.
const overflowJS = `(() => {
  const de = document.documentElement, limit = Math.min(window.innerWidth, de.clientWidth);
  const res = {scrollWidth: de.scrollWidth, width: limit, culprits: [], total: 0};
  if (de.scrollWidth <= limit) return res;
  const out = r => r.right > limit + 0.5 && r.width > 0;
  // Content of a box that scrolls or clips, and fits, does not make the
  // page scroll; the box holds what it is the containing block of (an
  // absolutely positioned element escapes boxes up to a positioned one).
  const clipped = e => {
    let pos = e.nodeType === 1 ? getComputedStyle(e).position : 'static';
    for (let a = e.parentElement; a && a !== document.body && a !== de; a = a.parentElement) {
      const cs = getComputedStyle(a);
      const holds = cs.transform !== 'none' || (pos === 'absolute' ? cs.position !== 'static' : pos !== 'fixed');
      if (!holds) continue;
      if (cs.overflowX !== 'visible' && a.getBoundingClientRect().right <= limit + 0.5) return true;
      pos = cs.position === 'absolute' || cs.position === 'fixed' ? cs.position : 'static';
    }
    return false;
  };
  const sticksOut = e => out(e.getBoundingClientRect()) && !clipped(e);
  const desc = e => {
    let s = e.tagName.toLowerCase();
    if (e.id) s += '#' + e.id;
    for (const c of Array.from(e.classList).slice(0, 3)) s += '.' + c;
    return s;
  };
  // The element and three parents, after the nearest named one above.
  const path = e => {
    const p = [];
    let a = e;
    for (; a && a !== de && p.length < 4; a = a.parentElement) p.unshift(desc(a));
    for (; a && a !== de && a !== document.body; a = a.parentElement) {
      if (a.id || a.classList.length) return desc(a) + ' … ' + p.join(' > ');
    }
    return p.join(' > ');
  };
  const snippet = s => s.replace(/\s+/g, ' ').trim().slice(0, 60);
  const found = [];
  for (const e of [document.body, ...document.body.querySelectorAll('*')]) {
    if (!sticksOut(e)) continue;
    res.total++;
    const p = e.parentElement;
    if (p && p !== de && sticksOut(p)) continue;
    const r = e.getBoundingClientRect();
    found.push({what: path(e), right: Math.round(r.right), width: Math.round(r.width), text: snippet(e.textContent || '')});
  }
  // Text wider than the element that holds it (a long word, an address).
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const e = n.parentElement;
    if (!e || !n.textContent.trim() || sticksOut(e) || clipped(n)) continue;
    const range = document.createRange();
    range.selectNodeContents(n);
    const r = range.getBoundingClientRect();
    if (!out(r)) continue;
    res.total++;
    found.push({what: path(e) + ' (its text)', right: Math.round(r.right), width: Math.round(r.width), text: snippet(n.textContent)});
  }
  found.sort((a, b) => b.right - a.right);
  res.culprits = found.slice(0, 8);
  return res;
})()`

// checkOverflow finds a problem when the page at size scrolls sideways,
// naming the elements that stick out.
func (f *findings) checkOverflow(ctx context.Context, where, size string) error {
	r, err := chromedp.Run(ctx, chromedp.Evaluate[overflowReport](overflowJS))
	if err != nil {
		return fmt.Errorf("measuring the layout: %w", err)
	}
	if r.ScrollWidth <= r.Width {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s at %s: the page is %.0fpx wide, wider than the %.0fpx viewport (it scrolls sideways); it starts at", where, size, r.ScrollWidth, r.Width)
	for _, c := range r.Culprits {
		fmt.Fprintf(&b, "\n    %s: right edge at %.0fpx (%.0fpx wide)", c.What, c.Right, c.Width)
		if c.Text != "" {
			fmt.Fprintf(&b, " %q", c.Text)
		}
	}
	if len(r.Culprits) == 0 {
		b.WriteString(" no element found (a pseudo-element or a transform?)")
	}
	if r.Total > len(r.Culprits) {
		fmt.Fprintf(&b, "\n    (%d elements reach past the edge in all)", r.Total)
	}
	f.problems = append(f.problems, b.String())
	return nil
}

// axeViolation is one rule that failed, as axeJS reports it.
type axeViolation struct {
	ID      string `json:"id"`
	Impact  string `json:"impact"`
	Help    string `json:"help"`
	HelpURL string `json:"helpUrl"`
	Count   int    `json:"count"`
	Nodes   []struct {
		Target  string `json:"target"`
		HTML    string `json:"html"`
		Summary string `json:"summary"`
	} `json:"nodes"`
}

// axeJS runs every axe-core rule on the document and lists the violations
// (with at most 5 of their elements each).
const axeJS = `axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map(v => ({
  id: v.id, impact: v.impact || '', help: v.help, helpUrl: v.helpUrl, count: v.nodes.length,
  nodes: v.nodes.slice(0, 5).map(n => ({
    target: n.target.map(x => Array.isArray(x) ? x.join(' >>> ') : String(x)).join(' '),
    html: n.html.replace(/\s+/g, ' ').slice(0, 240),
    summary: (n.failureSummary || '').replace(/\s+/g, ' ').slice(0, 400),
  })),
})))`

// checkAxe runs axe-core on the page (injecting it once per document) and
// finds a problem in the serious and critical violations not in skip (rule
// and elements, as returned by an earlier check of the same page); moderate
// and minor ones are notes. It returns the violations it found.
func (f *findings) checkAxe(ctx context.Context, src, where, size string, skip map[string]bool) (map[string]bool, error) {
	// Runtime.evaluate runs as the DevTools console does, outside the
	// page's Content-Security-Policy (script-src 'self').
	loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof axe === 'object'`))
	if err == nil && !loaded {
		_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](src+"\n;true"))
	}
	if err != nil {
		return nil, fmt.Errorf("loading axe-core: %w", err)
	}
	vs, err := chromedp.Run(ctx, chromedp.Evaluate[[]axeViolation](axeJS, chromedp.EvalAwaitPromise))
	if err != nil {
		return nil, fmt.Errorf("running axe-core: %w", err)
	}
	reported := map[string]bool{}
	var b strings.Builder
	var minor []string
	n := 0
	for _, v := range vs {
		if v.Impact != "serious" && v.Impact != "critical" {
			minor = append(minor, fmt.Sprintf("%s [%s] ×%d", v.ID, v.Impact, v.Count))
			continue
		}
		key := v.ID + " " + strings.Join(targets(v), ", ")
		reported[key] = true
		if skip[key] {
			continue
		}
		n++
		fmt.Fprintf(&b, "\n  %s [%s] %s (%s), %d element(s):", v.ID, v.Impact, v.Help, v.HelpURL, v.Count)
		for _, nd := range v.Nodes {
			fmt.Fprintf(&b, "\n    %s: %s", nd.Target, nd.HTML)
			if nd.Summary != "" {
				fmt.Fprintf(&b, "\n      %s", nd.Summary)
			}
		}
	}
	if n > 0 {
		also := ""
		if skip != nil {
			also = " (besides those at the desktop size)"
		}
		f.problems = append(f.problems, fmt.Sprintf("%s at %s: %d serious or critical accessibility violation(s)%s, by axe-core:%s", where, size, n, also, b.String()))
	}
	if len(minor) > 0 {
		slices.Sort(minor)
		f.notes = append(f.notes, fmt.Sprintf("%s at %s: moderate or minor accessibility findings (not failures): %s", where, size, strings.Join(minor, ", ")))
	}
	return reported, nil
}

func targets(v axeViolation) []string {
	var s []string
	for _, nd := range v.Nodes {
		s = append(s, nd.Target)
	}
	return s
}

// pageTour visits pages, audits each and records which routes it saw.
type pageTour struct {
	t    *testing.T
	base string
	seen map[string]bool
}

// open navigates ctx to path, checks that it lands on route (a pattern of
// the route table; "" for no route) with status (0: any), and audits it.
func (v *pageTour) open(ctx context.Context, route, path string, status int, name string) {
	v.t.Helper()
	do(v.t, ctx, chromedp.Navigate(v.base+path), chromedp.WaitReady(chromedp.CSS("body")))
	if status != 0 {
		got, err := chromedp.Run(ctx, chromedp.Evaluate[int](`performance.getEntriesByType('navigation')[0].responseStatus`))
		if err != nil {
			v.t.Fatal(err)
		}
		if got != status {
			v.t.Fatalf("%s: status %d, want %d", path, got, status)
		}
	}
	v.here(ctx, route, name)
}

// here audits the page ctx is on, which must be route's.
func (v *pageTour) here(ctx context.Context, route, name string) {
	v.t.Helper()
	if route != "" {
		loc, err := url.Parse(location(v.t, ctx))
		if err != nil {
			v.t.Fatal(err)
		}
		if !routeMatches(route, loc.Path) {
			v.t.Fatalf("%s: on %s, not on a page of %s", name, loc, route)
		}
		v.seen[route] = true
	}
	audit(v.t, ctx, "every-"+name)
}

// routeMatches reports whether path is served by the route pattern.
func routeMatches(pattern, path string) bool {
	if pattern == "/{$}" {
		return path == "/"
	}
	ps, qs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(qs) {
		return false
	}
	for i := range ps {
		if strings.HasPrefix(ps[i], "{") && qs[i] != "" {
			continue
		}
		if ps[i] != qs[i] {
			return false
		}
	}
	return true
}

// notPages are the GET routes that serve no page to audit; the JSON API
// (/api/) is left out as a whole.
var notPages = map[string]string{
	"/healthz":                "health check, plain text",
	"/readyz":                 "readiness check, plain text",
	"/admin/users/export.csv": "CSV download",
	// Reached only from an app's /authorize: TestBrowserOIDC walks it and
	// audits the consent page it shows.
	"/oidc/login": "OpenID Connect sign-in, audited by TestBrowserOIDC",
}

var getRouteRE = regexp.MustCompile(`\{"GET", "(/[^"]*)"`)

// pageRoutes are the GET page routes of web/server.go's route table.
func pageRoutes(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "..", "web", "server.go"))
	if err != nil {
		t.Fatal(err)
	}
	var routes []string
	for _, m := range getRouteRE.FindAllStringSubmatch(string(src), -1) {
		if _, skip := notPages[m[1]]; !skip && !strings.HasPrefix(m[1], "/api/") {
			routes = append(routes, m[1])
		}
	}
	if len(routes) < 20 {
		t.Fatalf("found only %d GET page routes in web/server.go: has the route table's format changed? %v", len(routes), routes)
	}
	return routes
}

// submit clicks the button sel of a form and waits until the page the
// form leads to has loaded (so that a navigation next does not cut it off).
func submit(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := chromedp.Evaluate[bool](`window.auditLeaving = true`)(ctx, tg); err != nil {
			return err
		}
		if _, err := click(sel)(ctx, tg); err != nil {
			return err
		}
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			// Errors are expected while the page changes.
			if done, err := chromedp.Evaluate[bool](`window.auditLeaving !== true && document.readyState === 'complete'`)(ctx, tg); err == nil && done {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for the page after %s: %w", sel, ctx.Err())
			case <-tick.C:
			}
		}
	})
}

// TestBrowserEveryPage audits (see audit) every page of the route table,
// anonymous, a customer's and staff's, at the desktop and phone sizes; it
// fails when the table has a GET page route it does not visit.
func TestBrowserEveryPage(t *testing.T) {
	requireAxe(t)
	routes := pageRoutes(t)
	ctx := portaltest.Browser(t)
	clock := portaltest.NewClock(time.Now().Truncate(30 * time.Second))
	p, _, srv := waPortal(t, clock) // email and WhatsApp codes offered
	v := &pageTour{t: t, base: p.URL, seen: map[string]bool{}}
	const pw = flowPassword

	// Anonymous pages, and dead links.
	// The home page sends a stranger on to sign in: that page is audited.
	do(t, ctx, chromedp.Navigate(p.URL+"/"), chromedp.WaitReady(chromedp.CSS("body")))
	if loc := location(t, ctx); loc != p.URL+"/login" {
		t.Fatalf("the home page sent a stranger to %s, not to sign in", loc)
	}
	v.seen["/{$}"] = true
	v.open(ctx, "/login", "/login", 200, "login")
	v.open(ctx, "/register", "/register", 200, "register")
	v.open(ctx, "/password/forgot", "/password/forgot", 200, "password-forgot")
	v.open(ctx, "/recover", "/recover", 200, "recover")
	v.open(ctx, "/password/reset", "/password/reset?token=bad", 0, "password-reset-bad-token")
	v.open(ctx, "/verify-email", "/verify-email?token=bad", 0, "verify-email-bad-token")
	v.open(ctx, "/invite", "/invite?token=bad", 0, "invite-bad-token")
	v.open(ctx, "/unlock", "/unlock?token=bad", 0, "unlock-bad-token")
	v.open(ctx, "/secure", "/secure?token=bad", 0, "secure-bad-token")
	v.open(ctx, "", "/no/such/page", 404, "not-found")

	// The first administrator, through the set-up link: 2FA is required.
	link := regexp.MustCompile(`https?://\S+/setup\?token=\S+`).FindString(p.Stdout.String())
	if link == "" {
		t.Fatalf("no set-up link printed: %s", p.Stdout.String())
	}
	v.open(ctx, "/setup", strings.TrimPrefix(link, p.URL), 200, "setup")
	do(t, ctx, fill(map[string]string{"#name": "Root Admin", "#email": "root@example.com", "#password": "a very long admin passphrase"}),
		submit(`form[action="/setup"] button[type=submit]`), waitURL("/account/2fa"),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/account/2fa/totp"] button`)))
	v.here(ctx, "/account/2fa", "2fa-required")
	do(t, ctx, submit(`form[action="/account/2fa/totp"] button`), chromedp.WaitVisible(chromedp.CSS("img.qr")))
	v.here(ctx, "/account/2fa/totp", "totp-setup")
	app := scanQRFor(t, ctx, "root@example.com")
	do(t, ctx, fill(map[string]string{"#code": app.code(clock.Now())}), submit(`form[action="/account/2fa/totp/confirm"] button`),
		chromedp.WaitVisible(chromedp.CSS("#backup-codes")))
	v.here(ctx, "/account/2fa/backup-codes", "backup-codes")

	// A customer who owns an account: without 2FA, then with email codes.
	cust := portaltest.NewTab(t, ctx)
	do(t, cust, chromedp.Navigate(p.URL+"/register"), chromedp.WaitVisible(chromedp.CSS("#name")),
		fill(map[string]string{"#name": "Cora Customer", "#email": "cora@example.com", "#password": pw, "#password_confirm": pw}),
		submit(`form[action="/register"] button[type=submit]`), waitURL("/dashboard"), chromedp.WaitVisible(chromedp.CSS("h1")))
	v.here(cust, "/dashboard", "dashboard")
	v.open(cust, "/account/security", "/account/security", 200, "security")
	v.open(cust, "/account/2fa", "/account/2fa", 200, "2fa-choose")
	v.open(cust, "/verify-email", strings.TrimPrefix(newestMail(t, srv, "cora@example.com", linkRE, 0), p.URL), 200, "verify-email")
	do(t, cust, submit(`form[action="/verify-email"] button`), waitURL("/account/security"))
	before := mailCount(srv, "cora@example.com")
	do(t, cust, chromedp.Navigate(p.URL+"/account/2fa"), chromedp.WaitVisible(chromedp.CSS(`form[action="/account/2fa/email"] button`)),
		submit(`form[action="/account/2fa/email"] button`), waitURL("/account/2fa/email"), chromedp.WaitVisible(chromedp.CSS("#code")))
	v.here(cust, "/account/2fa/email", "email-setup")
	do(t, cust, fill(map[string]string{"#code": newestMail(t, srv, "cora@example.com", codeRE, before)}),
		submit(`form[action="/account/2fa/email/confirm"] button`), chromedp.WaitVisible(chromedp.CSS("#backup-codes")))
	v.open(cust, "/account/security", "/account/security", 200, "security-2fa")
	v.open(cust, "/account/2fa", "/account/2fa", 200, "2fa-add")
	do(t, cust, fill(map[string]string{"#phone": "+49 151 23456789"}), submit(`form[action="/account/2fa/whatsapp"] button`),
		waitURL("/account/2fa/whatsapp"), chromedp.WaitVisible(chromedp.CSS("#code")))
	v.here(cust, "/account/2fa/whatsapp", "whatsapp-setup")
	v.open(cust, "/account/reauth", "/account/reauth?next=%2Faccount%2Fsecurity", 200, "reauth")
	do(t, cust, chromedp.Navigate(p.URL+"/account/users"), chromedp.WaitVisible(chromedp.CSS("#inv-email")),
		fill(map[string]string{"#inv-name": "Ivy Invited", "#inv-email": "ivy@example.com"}),
		submit(`form[action="/account/users/invite"] button`))
	invite := newestMail(t, srv, "ivy@example.com", inviteRE, 0)
	v.open(cust, "/account/users", "/account/users", 200, "account-users")
	v.open(cust, "", "/account/no-such-page", 404, "not-found-signed-in")

	// Links from emails, opened in another browser.
	anon := portaltest.NewTab(t, ctx)
	v.open(anon, "/invite", strings.TrimPrefix(invite, p.URL), 200, "invite")
	before = mailCount(srv, "cora@example.com")
	do(t, anon, chromedp.Navigate(p.URL+"/password/forgot"), chromedp.WaitVisible(chromedp.CSS("#email")),
		fill(map[string]string{"#email": "cora@example.com"}), submit(`form[action="/password/forgot"] button`))
	v.open(anon, "/password/reset", strings.TrimPrefix(newestMail(t, srv, "cora@example.com", resetRE, before), p.URL), 200, "password-reset")

	// The second step of signing in, and a recovery request for staff.
	signIn(t, cust, p.URL, "cora@example.com", pw)
	v.here(cust, "/login/2fa", "login-2fa")
	v.open(cust, "/login/2fa", "/login/2fa?method=backup_code", 200, "login-2fa-backup-code")
	if st, _ := newAPIClient(t, p.URL).call("POST", "/api/v1/recovery", `{"email":"cora@example.com","message":"I lost my phone and my mailbox."}`); st >= 300 {
		t.Fatalf("recovery request: %d", st)
	}
	p.Server.Wait()

	// Staff.
	cora, err := p.DB.UserByEmail(context.Background(), "cora@example.com")
	if err != nil {
		t.Fatal(err)
	}
	v.open(ctx, "/admin/users", "/admin/users", 200, "admin-users")
	v.open(ctx, "/admin/users/{id}", "/admin/users/"+cora.ID, 200, "admin-user")
	v.open(ctx, "/admin/recovery", "/admin/recovery", 200, "admin-recovery")
	v.open(ctx, "/admin/events", "/admin/events", 200, "admin-events")
	v.open(ctx, "/admin/stats", "/admin/stats", 200, "admin-stats")
	v.open(ctx, "/admin/settings", "/admin/settings", 200, "admin-settings")
	v.open(ctx, "/admin/apps", "/admin/apps", 200, "admin-apps-empty")
	spec := provider.AppSpec{Name: "Billing", RedirectURIs: []string{"https://billing.example/callback"}, SkipConsent: true}
	billing := &cp.App{}
	if _, err := spec.Apply(billing, time.Now().Unix()); err != nil {
		t.Fatal(err)
	}
	if err := p.DB.CreateApp(context.Background(), billing); err != nil {
		t.Fatal(err)
	}
	v.open(ctx, "/admin/apps", "/admin/apps", 200, "admin-apps")
	v.open(ctx, "/admin/apps/{id}", "/admin/apps/"+billing.ID, 200, "admin-app-edit")
	v.open(ctx, "/admin/tokens", "/admin/tokens", 200, "admin-tokens-empty")
	if _, _, err := p.Server.CreateAPIToken(context.Background(), "", web.TokenSpec{Name: "Billing system", Scopes: []string{cp.ScopeUsersRead, cp.ScopeTwoFactorReset}}); err != nil {
		t.Fatal(err)
	}
	v.open(ctx, "/admin/tokens", "/admin/tokens", 200, "admin-tokens")
	v.open(ctx, "/admin/webhooks", "/admin/webhooks", 200, "admin-webhooks-empty")
	if _, _, err := p.Server.CreateWebhook(context.Background(), "https://billing.example/hooks/portal", []string{"user.created", "2fa.enabled"}); err != nil {
		t.Fatal(err)
	}
	v.open(ctx, "/admin/webhooks", "/admin/webhooks", 200, "admin-webhooks")

	for _, r := range routes {
		if !v.seen[r] {
			t.Errorf("the route table (web/server.go) has the page GET %s, which TestBrowserEveryPage does not visit: add it (or, if it is no page, to notPages)", r)
		}
	}
}

// TestBrowserAuditHarness: the audit finds what it is for (under a
// Content-Security-Policy like the portal's) and nothing on a clean page,
// and leaves the tab at the desktop size.
func TestBrowserAuditHarness(t *testing.T) {
	requireAxe(t)
	src, _ := axeLoad()
	pages := map[string]string{
		"/good": `<p>Nothing to see.</p>`,
		"/bad": `<img src="/nothing.png" id="noalt">
<p id="faint" style="color:#ccc;background:#fff">Faint text</p>
<div id="wide" style="width:1500px">Wide everywhere</div>
<div id="phonewide" style="width:600px">Wide on a phone</div>
<p style="width:200px">Pneumonoultramicroscopicsilicovolcanoconiosis_Pneumonoultramicroscopicsilicovolcanoconiosis</p>
<div style="overflow-x:auto;width:300px" tabindex="0"><table><tr><td style="white-space:nowrap;padding-left:1300px">Scrolls in its box
<span id="escapes" style="position:absolute;width:1px;height:1px;overflow:hidden">but not this</span></td></tr></table></div>`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Security-Policy", "script-src 'self'; object-src 'none'; base-uri 'none'")
		fmt.Fprintf(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Test</title></head><body><main><h1>Test</h1>%s</main></body></html>`, body)
	}))
	t.Cleanup(srv.Close)
	ctx := portaltest.Browser(t)

	do(t, ctx, chromedp.Navigate(srv.URL+"/good"))
	if f, err := auditPage(ctx, "good", src); err != nil || len(f.problems) != 0 {
		t.Fatalf("a clean page: %v %q", err, f.problems)
	}

	do(t, ctx, chromedp.Navigate(srv.URL+"/bad"))
	f, err := auditPage(ctx, "bad", src)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(f.problems, "\n")
	t.Logf("found on the bad page:\n%s", all)
	var desktop, phone []string
	for _, p := range f.problems {
		if strings.Contains(p, " at phone ") {
			phone = append(phone, p)
		} else {
			desktop = append(desktop, p)
		}
	}
	for _, want := range []string{"scrolls sideways", "div#wide", "span#escapes", "image-alt", "#noalt", "color-contrast", "#faint"} {
		if !strings.Contains(strings.Join(desktop, "\n"), want) {
			t.Errorf("at the desktop size the audit did not report %q", want)
		}
	}
	for _, want := range []string{"scrolls sideways", "div#phonewide", "(its text)"} {
		if !strings.Contains(strings.Join(phone, "\n"), want) {
			t.Errorf("at the phone size the audit did not report %q", want)
		}
	}
	if strings.Contains(all, "table") {
		t.Error("content that scrolls in a box that fits was reported")
	}
	if strings.Contains(strings.Join(phone, "\n"), "image-alt") {
		t.Error("the phone size repeats the violations of the desktop size")
	}
	if w, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.innerWidth`)); err != nil || w != 1200 {
		t.Errorf("after the audit the window is %dpx wide (%v), want 1200", w, err)
	}
}
