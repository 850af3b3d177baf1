package web

import (
	"bytes"
	"embed"
	"github.com/clientportal/portal/i18n"
	"html"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clientportal/portal"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// page is what every template receives.
type page struct {
	Title  string
	User   *portal.User
	Flash  string
	Error  string
	Field  string // the form field Error is about
	Form   map[string]string
	Next   string
	Data   map[string]any
	Status int
	// Setup is true while policy forces the user to set up 2FA.
	Setup bool
	// Path is the page's path, to mark it in the menus.
	Path string
	// PendingRecoveries counts the recovery requests waiting for staff
	// (shown to staff as a badge).
	PendingRecoveries int
	// Brand is the operator's name, logo and links; BrandCSS the URL of
	// the stylesheet with its colour.
	Brand    portal.Brand
	BrandCSS string
	// Refresh sends the browser on to this local address (a meta refresh:
	// a new navigation, so a form's Content-Security-Policy form-action
	// does not extend to the app it ends at).
	Refresh string
	// Languages is the language menu; LangKeep the page's other query
	// values, which the menu's form sends again.
	Languages []langChoice
	LangKeep  map[string]string
}

var funcs = template.FuncMap{
	"hasPrefix": strings.HasPrefix,
	"join":      strings.Join,
	"has":       slices.Contains[[]string],
	// dict builds a map from key, value pairs, for small option lists.
	"dict": func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	},
	// The language's functions (langFuncs) replace these at run time.
	"t": func(string, ...any) template.HTML { return "" }, "tn": func(string, int, ...any) template.HTML { return "" },
	"date": func(int64) template.HTML { return "" }, "num": func(int) string { return "" },
	"roleLabel": func(string) string { return "" }, "eventTitle": func(string) string { return "" },
	"lang": func() string { return "" }, "dir": func() string { return "" },
}

// langFuncs are the template functions that speak l's language:
//
//	{{t "We sent a code to {{.Email}}." "Email" .Email}}  a message with named values
//	{{tn "{{.Count}} codes left" .N}}                       a message with plural forms
//	{{date .CreatedAt}}  {{num .Total}}                     a time and a number, as l writes them
//	{{lang}} {{dir}}                                        the lang and dir attributes
func langFuncs(l *i18n.Localizer) template.FuncMap {
	return template.FuncMap{
		"t":  l.HTML,
		"tn": l.NHTML,
		// date shows a time on one line, readably, with the full timestamp
		// on hover.
		"date": func(unix int64) template.HTML {
			if unix == 0 {
				return template.HTML(html.EscapeString(l.T("never")))
			}
			t := time.Unix(unix, 0).UTC()
			return template.HTML(`<time datetime="` + t.Format(time.RFC3339) + `" title="` + html.EscapeString(l.LongDate(t)) + `">` +
				html.EscapeString(strings.ReplaceAll(l.Date(t), " ", "\u00a0")) + `</time>`)
		},
		"num":        l.Number,
		"roleLabel":  func(role string) string { return l.T(roleLabel(role)) },
		"eventTitle": func(typ string) string { return l.T(portal.EventTitle(typ)) },
		"lang":       func() string { return l.Code },
		"dir":        l.Dir,
	}
}

// templates are parsed once: each page with the shared layout.
var templates = func() map[string]*template.Template {
	layout := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	names, _ := fs.Glob(templateFS, "templates/*.html")
	m := make(map[string]*template.Template)
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		m[name] = template.Must(template.Must(layout.Clone()).ParseFS(templateFS, n))
	}
	return m
}()

// langTemplates are the templates of each language, made on first use:
// clones of templates with langFuncs.
var langTemplates sync.Map // *i18n.Localizer → map[string]*template.Template

func templatesFor(l *i18n.Localizer) map[string]*template.Template {
	if m, ok := langTemplates.Load(l); ok {
		return m.(map[string]*template.Template)
	}
	fm := langFuncs(l)
	m := make(map[string]*template.Template, len(templates))
	for name, t := range templates {
		m[name] = template.Must(t.Clone()).Funcs(fm)
	}
	actual, _ := langTemplates.LoadOrStore(l, m)
	return actual.(map[string]*template.Template)
}

// render writes a page. Templates render into a buffer first so a template
// error becomes a clean 500 instead of half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	st := state(r)
	if p.User == nil && st.session != nil && st.session.Level == portal.LevelFull {
		p.User = st.user
	}
	p.Setup = st.session != nil && st.session.Level == portal.LevelSetup
	p.Path = r.URL.Path
	p.Brand, p.BrandCSS = s.Brand, s.brandCSSURL
	if p.User != nil && p.User.IsStaff() {
		if reqs, err := s.Store.Recoveries(r.Context(), portal.RecoveryPending, 100); err == nil {
			p.PendingRecoveries = len(reqs)
		}
	}
	if p.Flash == "" {
		p.Flash = s.takeFlash(w, r)
	}
	if p.Flash == "" && doneFlashes[r.URL.Query().Get("done")] {
		// Script-driven flows (security keys) end on a page with ?done=.
		p.Flash = flashes[r.URL.Query().Get("done")]
	}
	p.Status = status
	l := s.lang(r)
	p.Title = l.T(p.Title)
	p.Flash = l.T(p.Flash)
	p.Languages = s.langMenu(r, l)
	p.LangKeep = map[string]string{}
	for k, vs := range r.URL.Query() {
		if k != "lang" && len(vs) > 0 {
			p.LangKeep[k] = vs[0]
		}
	}
	var buf bytes.Buffer
	if err := templatesFor(l)[name].ExecuteTemplate(&buf, "layout.html", p); err != nil {
		s.Logger.Error("render", "request_id", st.id, "template", name, "err", err)
		http.Error(w, "Something went wrong on our side.", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// formError re-renders a form page with the error next to its field, keeping
// what the user typed (but never passwords or codes).
func (s *Server) formError(w http.ResponseWriter, r *http.Request, name string, p *page, err error) error {
	code := portal.ErrorCode(err)
	if code == portal.EINTERNAL {
		return err
	}
	if e, ok := err.(*portal.Error); ok {
		p.Field = e.Field
		if e.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
		}
	}
	// What was typed is shown again, unless it is the text that was refused.
	for k, v := range p.Form {
		if checkField(k, v) != nil {
			p.Form[k] = ""
		}
	}
	p.Error = message(s.lang(r), err)
	s.render(w, r, statuses[code], name, p)
	return nil
}

// roleLabel names a role as the staff filters do.
func roleLabel(role string) string {
	switch role {
	case portal.RoleOwner:
		return "Account owner"
	case portal.RoleMember:
		return "Account user"
	case portal.RoleAdmin:
		return "Staff"
	}
	return role
}

// flashes are the messages a redirect can carry; the cookie holds only a key.
var flashes = map[string]string{
	"password":            "Your password was changed. Other devices were signed out.",
	"registered":          "Welcome! Your account is ready.",
	"loggedout":           "You are signed out.",
	"unlocked":            "Two-factor sign-in is unlocked. Sign in with your password and a code.",
	"reset_sent":          "If an account uses this address, we have emailed it a link to choose a new password. The link works for 1 hour; only the newest one works.",
	"password_reset":      "Your password was changed, and you were signed out everywhere. Sign in with the new password.",
	"code_sent":           "We sent you a code. It works for 10 minutes.",
	"reauth":              "Thank you. You can make security changes for the next 10 minutes.",
	"setup":               "Your administrator account is ready.",
	"drift_ahead":         "Signed in. Your device's clock appears to be about 30 seconds ahead: turn on automatic date and time on the device with your authenticator app.",
	"drift_behind":        "Signed in. Your device's clock appears to be about 30 seconds behind: turn on automatic date and time on the device with your authenticator app.",
	"backup_used":         "You signed in with a backup code, and it no longer works. If you lost your device, check or reconfigure two-factor authentication below.",
	"backup_low":          "You signed in with a backup code. You have 3 or fewer left: generate a new set below, and check that your two-factor methods still work.",
	"2fa_enabled":         "Two-factor authentication is on.",
	"2fa_disabled":        "Two-factor authentication is off. All methods and backup codes were removed.",
	"method_added":        "The new method is ready to use.",
	"method_removed":      "The method was removed.",
	"preferred":           "Your preferred method was saved.",
	"renamed":             "The method was renamed.",
	"webhook_deleted":     "The webhook endpoint was deleted.",
	"webhook_resent":      "The delivery will be sent again in a moment.",
	"token_revoked":       "The API token was revoked. Systems using it are refused from now on.",
	"reset":               "Two-factor authentication was reset. The user was signed out everywhere and emailed.",
	"approved":            "Approved. The reset happens after the waiting period unless the user signs in with 2FA first.",
	"denied":              "Denied. The user was told.",
	"settings":            "Settings saved.",
	"browser_revoked":     "The browser will ask for your second factor again.",
	"invited":             "The invitation is on its way.",
	"member_removed":      "The user was removed from your account.",
	"policy":              "The two-factor requirement was saved.",
	"setup_required":      "Two-factor authentication is required for your account. Set it up to continue.",
	"signin_again":        "Please sign in (again) to continue.",
	"recovery_sent":       recoveryAnswer,
	"invitation_resent":   "The invitation was sent again with a new link; the old one no longer works.",
	"invitation_revoked":  "The invitation was withdrawn.",
	"email_verified":      "Thank you, your email address is confirmed.",
	"email_change":        "We sent a link to your new address. Your email changes once you follow it.",
	"verification_sent":   "We sent a new confirmation link to your email address.",
	"session_ended":       "That session was signed out.",
	"sessions_ended":      "Every other session was signed out.",
	"user_sessions_ended": "The user was signed out everywhere.",
	"app_deleted":         "The app was deleted. Every token it held stopped working.",
	"app_revoked":         "The app's access was removed. It must ask you again before it can sign you in.",
}

// doneFlashes are the flashes a page shows from its ?done= parameter.
var doneFlashes = map[string]bool{"method_added": true}

// flashCookie names the cookie that carries a flash over a redirect: on
// https Secure with the __Host- prefix, as the session cookie.
func (s *Server) flashCookie() string {
	if s.secure() {
		return "__Host-portal_flash"
	}
	return "portal_flash"
}

// setFlash makes the next page show the flash message of key.
func (s *Server) setFlash(w http.ResponseWriter, key string) {
	http.SetCookie(w, &http.Cookie{Name: s.flashCookie(), Value: key, Path: "/", HttpOnly: true, Secure: s.secure(), SameSite: http.SameSiteLaxMode, MaxAge: 60})
}

// takeFlash returns the message a redirect carried, and clears it.
func (s *Server) takeFlash(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(s.flashCookie())
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: s.flashCookie(), Value: "", Path: "/", HttpOnly: true, Secure: s.secure(), SameSite: http.SameSiteLaxMode, MaxAge: -1})
	return flashes[c.Value]
}

// redirect sends a browser to path after a form post.
func redirect(w http.ResponseWriter, r *http.Request, path string) {
	http.Redirect(w, r, path, http.StatusSeeOther)
}

// refererPath is the path and query of the page a form was sent from, when
// that page is this portal's ("" otherwise).
func refererPath(r *http.Request) string {
	ref, err := url.Parse(r.Referer())
	if err != nil || ref.Host != r.Host || ref.Path == "" {
		return ""
	}
	return ref.RequestURI()
}

// safeNext accepts only local paths as a post-login destination. Control
// characters and backslashes are refused: browsers drop tabs and read "\"
// as "/", which would turn "/\t/evil" or "/\\evil" into another site.
// A ?lang= in it is dropped: the portal's own redirect there is a
// same-origin request, which would store the language a link from another
// site put in the destination (the language of the user's security mail).
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || len(next) > 2000 ||
		strings.ContainsFunc(next, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) {
		return ""
	}
	if u, err := url.Parse(next); err == nil && u.Query().Has("lang") {
		q := u.Query()
		q.Del("lang")
		u.RawQuery = q.Encode()
		if next = u.String(); !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
			return ""
		}
	} else if err != nil {
		return ""
	}
	return next
}

func staticHandler() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	fsrv := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fsrv.ServeHTTP(w, r)
	})
}
