package web

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/i18n"
)

// settings reads the staff settings.
func (s *Server) settings(ctx context.Context) (*portal.Settings, error) {
	return s.Store.Settings(ctx)
}

// mustUseTwoFactor applies the staff policy and the account owner's.
func (s *Server) mustUseTwoFactor(ctx context.Context, u *portal.User) (bool, error) {
	return portal.RequiresTwoFactor(ctx, s.Store, u)
}

// rememberCookie is the remembered-browser cookie's name: a token apart
// from the session, so signing out does not forget the browser.
func (s *Server) rememberCookie() string {
	if s.secure() {
		return "__Host-portal_remember"
	}
	return "portal_remember"
}

// rememberedBrowser reports whether this browser was remembered by u (and
// the feature is on); it never skips the password, only the second factor.
func (s *Server) rememberedBrowser(ctx context.Context, r *http.Request, u *portal.User) (bool, error) {
	set, err := s.settings(ctx)
	if err != nil || !set.RememberBrowsers {
		return false, err
	}
	c, err := r.Cookie(s.rememberCookie())
	if err != nil || len(c.Value) != 43 {
		return false, nil
	}
	b, err := s.Store.BrowserByToken(ctx, u.ID, portal.HashToken(c.Value), s.now().Unix())
	if err != nil {
		if portal.ErrorCode(err) == portal.ENOTFOUND {
			return false, nil
		}
		return false, err
	}
	return true, s.Store.TouchBrowser(ctx, b.ID, s.now().Unix())
}

// rememberBrowser sets the cookie and stores its hash for 30 days.
func (s *Server) rememberBrowser(ctx context.Context, w http.ResponseWriter, r *http.Request, u *portal.User) error {
	set, err := s.settings(ctx)
	if err != nil || !set.RememberBrowsers {
		return err
	}
	token, hash := portal.NewSecretToken()
	now := s.now()
	b := &portal.Browser{ID: portal.NewID(), UserID: u.ID, TokenHash: hash, UserAgent: userAgent(r), IP: state(r).ip,
		CreatedAt: now.Unix(), LastUsedAt: now.Unix(), ExpiresAt: now.Add(portal.RememberFor).Unix(), Session: sessionID(r)}
	if err := s.Store.CreateBrowser(ctx, b); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: s.rememberCookie(), Value: token, Path: "/", HttpOnly: true, Secure: s.secure(),
		SameSite: http.SameSiteLaxMode, MaxAge: int(portal.RememberFor / time.Second)})
	s.event(r, u.ID, portal.EventBrowserRemembered, browserName(b.UserAgent))
	return nil
}

// browserName makes a short label of a user agent string, in English (for
// the event a remembered browser leaves).
func browserName(ua string) string { return browserLabel(i18n.English(), ua) }

// browserLabel makes a short label of a user agent string in l's language.
func browserLabel(l *i18n.Localizer, ua string) string {
	name, system := l.T("Browser"), ""
	for _, b := range []struct{ key, name string }{{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"}, {"Safari/", "Safari"}} {
		if strings.Contains(ua, b.key) {
			name = b.name
			break
		}
	}
	for _, o := range []struct{ key, name string }{{"Windows", "Windows"}, {"Android", "Android"}, {"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Mac OS", "macOS"}, {"Linux", "Linux"}} {
		if strings.Contains(ua, o.key) {
			system = o.name
			break
		}
	}
	if system != "" {
		return l.T("{{.Browser}} on {{.System}}", "Browser", name, "System", system)
	}
	return name
}

// revokeBrowser forgets one remembered browser.
func (s *Server) revokeBrowser(r *http.Request, id string) error {
	u := state(r).user
	if err := s.Store.DeleteBrowser(r.Context(), u.ID, id); err != nil {
		if portal.ErrorCode(err) == portal.ENOTFOUND {
			return portal.Errorf(portal.ENOTFOUND, "That browser is not remembered.")
		}
		return err
	}
	s.event(r, u.ID, portal.EventBrowserRevoked, "")
	return nil
}

func (s *Server) handleBrowserRevoke(w http.ResponseWriter, r *http.Request) error {
	if err := s.revokeBrowser(r, r.PathValue("id")); err != nil {
		return s.securityError(w, r, err)
	}
	s.setFlash(w, "browser_revoked")
	redirect(w, r, "/account/security")
	return nil
}

func (s *Server) apiBrowserRevoke(w http.ResponseWriter, r *http.Request) error {
	if err := s.revokeBrowser(r, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) apiBrowsers(w http.ResponseWriter, r *http.Request) error {
	bs, err := s.Store.UserBrowsers(r.Context(), state(r).user.ID, s.now().Unix())
	if err != nil {
		return err
	}
	l := s.lang(r)
	out := []map[string]any{}
	for _, b := range bs {
		out = append(out, map[string]any{"id": b.ID, "browser": browserLabel(l, b.UserAgent), "ip": b.IP,
			"created_at": unixTime(b.CreatedAt), "last_used_at": unixTime(b.LastUsedAt), "expires_at": unixTime(b.ExpiresAt)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"browsers": out})
	return nil
}
