package web

import (
	"net/http"
	"strings"

	"github.com/mssola/useragent"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/i18n"
)

// "Where you're signed in": a user's live sessions, each with the browser
// and system it runs on, where and when it signed in, how, and a way to end
// it. Last activity is written at most once a minute (touchEvery), so the
// list costs no write per request.

// sessionView is one session as the pages and the API show it, in the
// language of the request.
type sessionView struct {
	ID         string `json:"id"`
	Current    bool   `json:"current"`
	CreatedAt  int64  `json:"created_at"`
	LastSeenAt int64  `json:"last_seen_at"`
	IP         string `json:"ip"`
	Browser    string `json:"browser"`
	OS         string `json:"os"`
	Method     string `json:"method"`
}

// describeUA names the browser and operating system of a User-Agent, in
// English.
func describeUA(ua string) (browser, system string) {
	return describeUAIn(i18n.English(), ua)
}

// describeUAIn names the browser and operating system of a User-Agent,
// saying "unknown" in l's language.
func describeUAIn(l *i18n.Localizer, ua string) (browser, system string) {
	if strings.TrimSpace(ua) == "" {
		return l.T("Unknown browser"), l.T("unknown system")
	}
	// Only names the parser knows, and versions of digits: whoever signs
	// in writes the User-Agent, and what is unknown is passed on word for
	// word, into the session list and the alert meant to warn about them.
	p := useragent.New(ua)
	name, version := p.Browser()
	if !knownBrowsers[name] {
		name, version = l.T("Unknown browser"), ""
	}
	if major, _, _ := strings.Cut(version, "."); numeric(major) && !p.Bot() {
		name += " " + major
	}
	system = p.OSInfo().Name
	if !knownSystems[system] {
		return name, l.T("unknown system")
	}
	if v := strings.ReplaceAll(p.OSInfo().Version, "_", "."); numeric(strings.ReplaceAll(v, ".", "")) {
		system += " " + v
	}
	return name, system
}

// knownBrowsers and knownSystems are the names the User-Agent parser gives
// for what it recognises.
var (
	knownBrowsers = map[string]bool{"Chrome": true, "Chromium": true, "Coc Coc": true, "DuckDuckGo": true, "Edge": true, "Electron": true,
		"Firefox": true, "Google App": true, "Headless Chrome": true, "Internet Explorer": true, "Opera": true, "PhantomJS": true,
		"Safari": true, "YaBrowser": true, "Android": true, "OkHttp": true}
	knownSystems = map[string]bool{"Windows": true, "Mac OS X": true, "iPhone OS": true, "CPU OS": true, "Android": true, "Linux": true,
		"CrOS": true, "FreeBSD": true, "OpenBSD": true, "NetBSD": true, "Ubuntu": true, "Windows Phone": true, "Windows Phone OS": true,
		"BlackBerry": true, "FirefoxOS": true, "Symbian": true, "iPad OS": true}
)

// numeric says whether s is a non-empty run of ASCII digits.
func numeric(s string) bool {
	if s == "" || len(s) > 12 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// signInMethod says in words how a session was signed in (its amr), in
// English.
func signInMethod(amr string) string { return string(signInMethodText(amr)) }

// signInMethodText says how a session was signed in (its amr), as a
// message ID.
func signInMethodText(amr string) i18n.Text {
	f := strings.Fields(amr)
	has := func(v string) bool {
		for _, x := range f {
			if x == v {
				return true
			}
		}
		return false
	}
	switch {
	case has("hwk") && has("user") && !has("pwd"):
		return i18n.Text("Passkey")
	case has("hwk") && has("pwd"):
		return i18n.Text("Password and security key")
	case has("otp") && has("pwd"):
		return i18n.Text("Password and one-time code")
	case has("pwd"):
		return i18n.Text("Password")
	}
	return i18n.Text("Unknown")
}

func (s *Server) sessionViews(r *http.Request, userID string) ([]sessionView, error) {
	l := s.lang(r)
	now := s.now()
	list, err := s.Store.UserSessions(r.Context(), userID, now.Add(-s.Sessions.Idle).Unix(), now.Add(-s.Sessions.Absolute).Unix())
	if err != nil {
		return nil, err
	}
	cur := ""
	if st := state(r); st.session != nil {
		cur = st.session.ID
	}
	out := make([]sessionView, 0, len(list))
	for _, sess := range list {
		b, o := describeUAIn(l, sess.UserAgent)
		out = append(out, sessionView{ID: sess.ID, Current: sess.ID == cur, CreatedAt: sess.CreatedAt, LastSeenAt: sess.LastSeenAt, IP: sess.IP,
			Browser: b, OS: o, Method: signInMethodText(sess.AMR).Localize(l)})
	}
	// This device first.
	for i := range out {
		if out[i].Current && i > 0 {
			out[0], out[i] = out[i], out[0]
		}
	}
	return out, nil
}

// endSession ends one of the user's other sessions.
func (s *Server) endOtherSession(r *http.Request, id string) error {
	st := state(r)
	if id == st.session.ID {
		return portal.Errorf(portal.EINVALID, "To end this session, sign out.")
	}
	if err := s.Store.DeleteUserSession(r.Context(), st.user.ID, id); err != nil {
		return portal.Errorf(portal.ENOTFOUND, "That session has ended already.")
	}
	s.event(r, st.user.ID, portal.EventSessionEnded, "One session was signed out.")
	return nil
}

func (s *Server) endOtherSessions(r *http.Request) error {
	st := state(r)
	if err := s.Store.DeleteUserSessions(r.Context(), st.user.ID, st.session.ID); err != nil {
		return err
	}
	s.event(r, st.user.ID, portal.EventSessionEnded, "Every other session was signed out.")
	return nil
}

func (s *Server) handleEndSession(w http.ResponseWriter, r *http.Request) error {
	if err := s.endOtherSession(r, r.PathValue("id")); err != nil {
		return s.securityError(w, r, err)
	}
	s.setFlash(w, "session_ended")
	redirect(w, r, "/account/security#sessions-h")
	return nil
}

func (s *Server) handleEndOtherSessions(w http.ResponseWriter, r *http.Request) error {
	if err := s.endOtherSessions(r); err != nil {
		return err
	}
	s.setFlash(w, "sessions_ended")
	redirect(w, r, "/account/security#sessions-h")
	return nil
}

func (s *Server) apiSessions(w http.ResponseWriter, r *http.Request) error {
	list, err := s.sessionViews(r, state(r).user.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": list})
	return nil
}

func (s *Server) apiEndSession(w http.ResponseWriter, r *http.Request) error {
	if err := s.endOtherSession(r, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) apiEndOtherSessions(w http.ResponseWriter, r *http.Request) error {
	if err := s.endOtherSessions(r); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleAdminEndSessions ends every session of a user, for staff, with a
// reason that is recorded.
func (s *Server) handleAdminEndSessions(w http.ResponseWriter, r *http.Request) error {
	if err := formValues(r); err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := s.requireRecent(r); err != nil {
		reauthFirst(w, r, "/admin/users/"+id)
		return nil
	}
	u, err := s.Store.UserByID(r.Context(), id)
	if err != nil {
		return err
	}
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	if reason == "" || len(reason) > 500 {
		p, perr := s.adminUserPage(r, id)
		if perr != nil {
			return perr
		}
		return s.formError(w, r, "admin_user", p, &portal.Error{Code: portal.EINVALID, Field: "sessions_reason", Message: "Give a reason (at most 500 characters): it is recorded."})
	}
	keep := ""
	if st := state(r); st.user.ID == u.ID {
		keep = st.session.ID
	}
	if err := s.Store.DeleteUserSessions(r.Context(), u.ID, keep); err != nil {
		return err
	}
	// Everywhere includes the apps: what an intruder signed in to with a
	// hijacked session would otherwise keep refreshing its tokens.
	apps, err := s.Store.UserApps(r.Context(), u.ID, s.now().Unix())
	if err != nil {
		return err
	}
	for _, a := range apps {
		if err := s.Store.RevokeAppTokens(r.Context(), u.ID, a.App.ID); err != nil {
			return err
		}
	}
	s.event(r, u.ID, portal.EventSessionEnded, "Staff signed out every session: "+reason)
	s.setFlash(w, "user_sessions_ended")
	redirect(w, r, "/admin/users/"+u.ID)
	return nil
}
