package web

import (
	"context"
	"net/http"
	"net/url"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/i18n"
)

// langCookie remembers the language a signed-out visitor chose with
// ?lang= (a signed-in user's choice is stored with the user).
const langCookie = "portal_lang"

// catalog is the message catalogue.
func (s *Server) catalog() *i18n.Catalog {
	if s.Catalog != nil {
		return s.Catalog
	}
	return i18n.Builtin()
}

// defaultLang is the language for a visitor who asks for none of ours.
func (s *Server) defaultLang() *i18n.Localizer {
	if l, ok := s.catalog().Get(s.DefaultLanguage); ok {
		return l
	}
	return s.catalog().Default()
}

// lang is the language of the answer to r: ?lang=, else the signed-in
// user's choice, else the visitor's cookie, else Accept-Language, else
// the default language.
func (s *Server) lang(r *http.Request) *i18n.Localizer {
	st := state(r)
	if st.loc != nil {
		return st.loc
	}
	cat := s.catalog()
	l, ok := cat.Get(r.URL.Query().Get("lang"))
	if !ok && st.user != nil {
		l, ok = cat.Get(st.user.Locale)
	}
	if !ok {
		if c, err := r.Cookie(langCookie); err == nil {
			l, ok = cat.Get(c.Value)
		}
	}
	if !ok {
		l, ok = cat.Negotiate(r.Header.Get("Accept-Language"))
	}
	if !ok {
		l = s.defaultLang()
	}
	st.loc = l
	return l
}

// rememberLang stores a language chosen with ?lang=: with the signed-in
// user, or in a cookie for a visitor. It runs before every handler.
func (s *Server) rememberLang(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A link from another site shows the page in its language (below)
		// but stores nothing: a GET must not change what the user did not
		// ask for, and the stored language is the one of their security
		// mail.
		if q := r.URL.Query().Get("lang"); q != "" && r.Header.Get("Sec-Fetch-Site") != "cross-site" {
			if l, ok := s.catalog().Get(q); ok {
				st := state(r)
				// Only a signed-in user changes the stored language: a
				// session that has the password but not yet the second
				// factor keeps its choice in the cookie, as a visitor does.
				signedIn := st.user != nil && st.session != nil && st.session.Level != portal.LevelPassword
				if signedIn && st.user.Locale != l.Code {
					if err := s.Store.SetLocale(context.WithoutCancel(r.Context()), st.user.ID, l.Code); err != nil {
						s.Logger.Warn("set locale", "request_id", st.id, "err", err)
					} else {
						st.user.Locale = l.Code
					}
				} else if !signedIn {
					http.SetCookie(w, &http.Cookie{Name: langCookie, Value: l.Code, Path: "/", MaxAge: 365 * 24 * 3600,
						HttpOnly: true, Secure: s.secure(), SameSite: http.SameSiteLaxMode})
				}
			}
		}
		// Worked out now, so code that only has the request's context
		// (mail sent deep in a handler) knows it too.
		s.lang(r)
		next.ServeHTTP(w, r)
	})
}

// userLang is the language of mail to u: the language u chose, else the
// language of the request that sends it.
func (s *Server) userLang(r *http.Request, u *portal.User) *i18n.Localizer {
	return s.mailLang(r.Context(), u)
}

// mailLang is userLang for code that has the request's context only:
// the language u chose; else the request's, when the request is u's own
// (ownRequest) or there is no u yet (an invitation); else the portal's
// default. A stranger's request (the intruder's sign-in with a stolen
// password, someone else's recovery request or reset) must not pick the
// language of the mail that warns the owner.
func (s *Server) mailLang(ctx context.Context, u *portal.User) *i18n.Localizer {
	if u != nil {
		if l, ok := s.catalog().Get(u.Locale); ok {
			return l
		}
	}
	if st, ok := ctx.Value(stateKey{}).(*reqState); ok && st.loc != nil && (u == nil || s.ownRequest(st, u)) {
		return st.loc
	}
	return s.defaultLang()
}

// ownRequest reports whether a request comes from u: the request that
// creates u, a session of u's past the password step, or a browser on
// which a sign-in of u's completed before (its known-browser cookie is
// recorded for u; the device cookie alone will not do, as the password
// alone earns it) and that holds a device cookie of u's current
// credentials.
func (s *Server) ownRequest(st *reqState, u *portal.User) bool {
	switch {
	case st.creating != "" && st.creating == u.ID:
		return true
	case st.session != nil && st.session.UserID == u.ID && st.session.Level != portal.LevelPassword:
		return true
	case st.req != nil:
		// The device cookie is signed for u's current credentials: a
		// browser whose sign-in was before a password change, a reset or
		// securing the account (an intruder's) no longer counts.
		if s.deviceNonce(st.req, u) == "" {
			return false
		}
		c, err := st.req.Cookie(s.knownCookie())
		if err != nil || len(c.Value) != 43 {
			return false
		}
		// Mail of a request's background work (a reset link, a recovery
		// notice) is made after the answer, when the request's context is
		// cancelled: the lookup must not fail for that.
		known, err := s.Store.KnownDevice(context.WithoutCancel(st.req.Context()), u.ID, portal.HashToken(c.Value))
		return err == nil && known
	}
	return false
}

// langChoice is one entry of the language menu.
type langChoice struct {
	Code, Name, URL string
	Current         bool
}

// langMenu lists the languages, each linking to this page in it.
func (s *Server) langMenu(r *http.Request, cur *i18n.Localizer) []langChoice {
	q := r.URL.Query()
	var out []langChoice
	for _, l := range s.catalog().All() {
		q.Set("lang", l.Code)
		u := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
		out = append(out, langChoice{Code: l.Code, Name: l.Name, URL: u.String(), Current: l.Code == cur.Code})
	}
	return out
}

// message is the text of err for a person reading lang.
func message(l *i18n.Localizer, err error) string {
	return portal.LocalMessage(l, err)
}
