package web

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
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
}

var funcs = template.FuncMap{
	"date": func(unix int64) string {
		if unix == 0 {
			return "never"
		}
		return time.Unix(unix, 0).UTC().Format("2 Jan 2006 15:04 UTC")
	},
	"eventTitle": portal.EventTitle,
	// dict builds a map from key, value pairs, for small option lists.
	"dict": func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	},
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

// render writes a page. Templates render into a buffer first so a template
// error becomes a clean 500 instead of half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	st := state(r)
	if p.User == nil && st.session != nil && st.session.Level == portal.LevelFull {
		p.User = st.user
	}
	p.Setup = st.session != nil && st.session.Level == portal.LevelSetup
	if p.Flash == "" {
		p.Flash = takeFlash(w, r)
	}
	p.Status = status
	var buf bytes.Buffer
	if err := templates[name].ExecuteTemplate(&buf, "layout.html", p); err != nil {
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
	p.Error = portal.ErrorMessage(err)
	s.render(w, r, statuses[code], name, p)
	return nil
}

// flashes are the messages a redirect can carry; the cookie holds only a key.
var flashes = map[string]string{
	"password":          "Your password was changed. Other devices were signed out.",
	"registered":        "Welcome! Your account is ready.",
	"loggedout":         "You are signed out.",
	"reauth":            "Thank you. You can make security changes for the next 10 minutes.",
	"setup":             "Your administrator account is ready.",
	"drift_ahead":       "Signed in. Your device's clock appears to be about 30 seconds ahead: turn on automatic date and time on the device with your authenticator app.",
	"drift_behind":      "Signed in. Your device's clock appears to be about 30 seconds behind: turn on automatic date and time on the device with your authenticator app.",
	"backup_used":       "You signed in with a backup code, and it no longer works. If you lost your device, check or reconfigure two-factor authentication below.",
	"backup_low":        "You signed in with a backup code. You have 3 or fewer left: generate a new set below, and check that your two-factor methods still work.",
	"2fa_enabled":       "Two-factor authentication is on.",
	"2fa_disabled":      "Two-factor authentication is off. All methods and backup codes were removed.",
	"method_added":      "The new method is ready to use.",
	"method_removed":    "The method was removed.",
	"preferred":         "Your preferred method was saved.",
	"renamed":           "The method was renamed.",
	"reset":             "Two-factor authentication was reset. The user was signed out everywhere and emailed.",
	"approved":          "Approved. The reset happens after the waiting period unless the user signs in with 2FA first.",
	"denied":            "Denied. The user was told.",
	"settings":          "Settings saved.",
	"browser_revoked":   "The browser will ask for your second factor again.",
	"invited":           "The invitation is on its way.",
	"member_removed":    "The user was removed from your account.",
	"policy":            "The two-factor requirement was saved.",
	"setup_required":    "Two-factor authentication is required for your account. Set it up to continue.",
	"email_verified":    "Thank you, your email address is confirmed.",
	"email_change":      "We sent a link to your new address. Your email changes once you follow it.",
	"verification_sent": "We sent a new confirmation link to your email address.",
}

func setFlash(w http.ResponseWriter, key string) {
	http.SetCookie(w, &http.Cookie{Name: "portal_flash", Value: key, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: 60})
}

func takeFlash(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie("portal_flash")
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: "portal_flash", Value: "", Path: "/", MaxAge: -1})
	return flashes[c.Value]
}

// redirect sends a browser to path after a form post.
func redirect(w http.ResponseWriter, r *http.Request, path string) {
	http.Redirect(w, r, path, http.StatusSeeOther)
}

// safeNext accepts only local paths as a post-login destination. Control
// characters and backslashes are refused: browsers drop tabs and read "\"
// as "/", which would turn "/\t/evil" or "/\\evil" into another site.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || len(next) > 2000 ||
		strings.ContainsFunc(next, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) {
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
