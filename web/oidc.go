package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/text/language"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/i18n"
	"github.com/clientportal/portal/provider"
)

// The OpenID Connect provider's login: /authorize sends the browser to
// /oidc/login?id=…, where the portal's own pages sign the user in (with
// their second factor, forced set-up and remembered browsers), ask for
// consent, and hand the completed request back to the provider.

// authTime is when the session's user last proved who they are.
func authTime(sess *portal.Session) int64 {
	return max(sess.CreatedAt, sess.ReauthAt)
}

// continueCookie remembers the app a user set up 2FA for: the page that
// shows the new backup codes leads back to it.
const continueCookie = "portal_continue"

// oidcLoginPath is the login page of request id.
func oidcLoginPath(id string) string { return provider.LoginPath + "?id=" + url.QueryEscape(id) }

func (s *Server) handleOIDCLogin(w http.ResponseWriter, r *http.Request) error {
	if s.Provider == nil {
		return portal.ErrNotFound
	}
	req, err := s.Provider.Request(r.Context(), r.URL.Query().Get("id"))
	if err != nil {
		return errRequestGone
	}
	if done, err := s.oidcChecks(w, r, req, false); done || err != nil {
		return err
	}
	return s.completeOIDC(w, r, req)
}

// reauthReturn is how many seconds the way from "Confirm it's you" back to
// an app's sign-in request may take, for prompt=login and a small max_age.
const reauthReturn = 120

var errRequestGone = portal.Errorf(portal.ENOTFOUND, "This sign-in request expired or was used already. Go back to the app and sign in again.")

// oidcChecks answers a request the browser cannot complete yet: not signed
// in, signed in too long ago for prompt=login or max_age, without the 2FA
// the app requires, or (unless consenting now) without consent. It reports
// whether it answered. Both the login page and the consent form run it.
func (s *Server) oidcChecks(w http.ResponseWriter, r *http.Request, req *provider.Request, consenting bool) (bool, error) {
	ctx := r.Context()
	lang := s.oidcLang(r, req)
	st := state(r)
	here := oidcLoginPath(req.ID)
	none := slices.Contains(req.OIDC.Prompt, oidc.PromptNone)
	fail := func(e *oidc.Error) (bool, error) {
		s.Provider.Fail(w, r, req, e)
		return true, nil
	}
	if st.session == nil || st.session.Level != portal.LevelFull {
		if none {
			return fail(oidc.ErrLoginRequired())
		}
		if st.session != nil && st.session.Level == portal.LevelSetup {
			redirect(w, r, "/account/2fa")
			return true, nil
		}
		q := url.Values{"next": {here}}
		if hint := req.OIDC.LoginHint; hint != "" && len(hint) < 200 {
			q.Set("email", hint)
		}
		if lang != "" {
			q.Set("lang", lang)
		}
		redirect(w, r, "/login?"+q.Encode())
		return true, nil
	}
	// prompt=login (max_age 0) and max_age: a sign-in older than allowed
	// is proved again, password and code, on "Confirm it's you". Older
	// than allowed when the request was made, and now: a request lives 30
	// minutes and anyone can make one, so its age alone would let a stolen
	// session answer a request made before the victim's last sign-in. The
	// way back from "Confirm it's you" takes a moment, so "now" allows at
	// least reauthReturn (prompt=login is max_age 0).
	if m := req.OIDC.MaxAge; m != nil && (authTime(st.session) < req.CreatedAt-int64(*m) ||
		authTime(st.session) < s.now().Unix()-max(int64(*m), reauthReturn)) {
		if none {
			return fail(oidc.ErrLoginRequired())
		}
		redirect(w, r, "/account/reauth?next="+url.QueryEscape(here))
		return true, nil
	}
	if req.App.Requires2FA {
		tf, err := s.twoFactor(ctx, st.user)
		if err != nil {
			return true, err
		}
		if !tf.Enabled {
			if none {
				return fail(oidc.ErrInteractionRequired().WithDescription("the app requires two-factor authentication"))
			}
			http.SetCookie(w, &http.Cookie{Name: continueCookie, Value: here, Path: "/", HttpOnly: true, Secure: s.secure(), SameSite: http.SameSiteLaxMode, MaxAge: 1800})
			s.render(w, r, http.StatusOK, "oidc_2fa", &page{Title: "Two-factor authentication required", Data: map[string]any{"App": req.App, "Continue": here}})
			return true, nil
		}
	}
	if !req.App.SkipConsent && !consenting {
		granted, err := s.Store.Consent(ctx, st.user.ID, req.App.ID)
		if err != nil {
			return true, err
		}
		covered := true
		for _, sc := range req.OIDC.Scopes {
			if !slices.Contains(granted, sc) {
				covered = false
			}
		}
		if !covered || slices.Contains(req.OIDC.Prompt, oidc.PromptConsent) {
			if none {
				return fail(&oidc.Error{ErrorType: "consent_required", Description: "the user has not allowed this app yet"})
			}
			l := s.lang(r)
			s.render(w, r, http.StatusOK, "oidc_consent", &page{Title: l.T("Allow {{.App}}", "App", req.App.Name), Data: map[string]any{
				"App": req.App, "ID": req.ID, "Scopes": scopeTexts(l, req.OIDC.Scopes)}})
			return true, nil
		}
	}
	return false, nil
}

// oidcLang makes the pages of req speak the first of its ui_locales that
// the portal speaks, unless the address names a language (?lang=, from the
// language menu): for this answer only, nothing is stored. It returns the
// code of the language the address or the request names ("" for none),
// which the sign-in page is sent on with.
func (s *Server) oidcLang(r *http.Request, req *provider.Request) string {
	cat := s.catalog()
	if l, ok := cat.Get(r.URL.Query().Get("lang")); ok {
		return l.Code
	}
	for _, tag := range req.OIDC.UILocales {
		// Get answers close languages too ("sw" with English): only the
		// language itself counts here, so that the next one can.
		if l, ok := cat.Get(tag.String()); ok && sameBase(tag, l.Tag()) {
			state(r).loc = l
			return l.Code
		}
	}
	return ""
}

// sameBase reports whether a and b are the same language, whatever their
// scripts and regions.
func sameBase(a, b language.Tag) bool {
	x, _ := a.Base()
	y, _ := b.Base()
	return x == y
}

// completeOIDC records who signed in, how, and in which session (only this
// browser collects the code), and sends the browser on to the provider.
func (s *Server) completeOIDC(w http.ResponseWriter, r *http.Request, req *provider.Request) error {
	st := state(r)
	if err := s.Store.CompleteAuthRequest(r.Context(), req.ID, st.user.ID, authTime(st.session), st.session.AMR, st.session.ID); err != nil {
		return errRequestGone
	}
	next := s.Provider.CallbackURL(r.Context(), req.ID)
	s.render(w, r, http.StatusOK, "oidc_continue", &page{Title: s.lang(r).T("Signing you in to {{.App}}", "App", req.App.Name), Refresh: next, Data: map[string]any{"App": req.App, "Next": next}})
	return nil
}

func (s *Server) handleOIDCConsent(w http.ResponseWriter, r *http.Request) error {
	if s.Provider == nil {
		return portal.ErrNotFound
	}
	ctx := r.Context()
	req, err := s.Provider.Request(ctx, r.PostFormValue("id"))
	if err != nil {
		return errRequestGone
	}
	st := state(r)
	if r.PostFormValue("allow") != "yes" {
		s.Provider.Fail(w, r, req, oidc.ErrAccessDenied().WithDescription("the user did not allow the app"))
		return nil
	}
	if done, err := s.oidcChecks(w, r, req, true); done || err != nil {
		return err
	}
	if err := s.Store.SaveConsent(ctx, st.user.ID, req.App.ID, req.OIDC.Scopes, s.now().Unix()); err != nil {
		return err
	}
	s.event(r, st.user.ID, portal.EventAppAuthorized, req.App.Name+": allowed "+strings.Join(req.OIDC.Scopes, ", "))
	return s.completeOIDC(w, r, req)
}

// scopeTexts says, in l's language, what each scope lets an app see.
func scopeTexts(l *i18n.Localizer, scopes []string) []string {
	var out []string
	for _, sc := range scopes {
		switch sc {
		case oidc.ScopeOpenID:
			out = append(out, l.T("Know who you are (an identifier that stays the same)"))
		case oidc.ScopeProfile:
			out = append(out, l.T("See your name"))
		case oidc.ScopeEmail:
			out = append(out, l.T("See your email address"))
		case oidc.ScopeOfflineAccess:
			out = append(out, l.T("Stay signed in when you are away"))
		case provider.ScopeAccount:
			out = append(out, l.T("See which account you belong to and your role in it"))
		}
	}
	return out
}

// handleRevokeApp withdraws an app's access: consent and tokens.
func (s *Server) handleRevokeApp(w http.ResponseWriter, r *http.Request) error {
	st := state(r)
	app, err := s.Store.AppByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.Store.RevokeAppAccess(r.Context(), st.user.ID, app.ID); err != nil {
		return err
	}
	s.event(r, st.user.ID, portal.EventAppAccessRevoked, app.Name)
	s.setFlash(w, "app_revoked")
	redirect(w, r, "/account/security#apps-h")
	return nil
}

// oidcHandler serves the provider's endpoints: client authentication
// failures over their limit answer 429, a code goes only to the session
// that completed its sign-in, and RP-initiated logout also ends the
// portal's session in this browser when the ID token hint names its user.
func (s *Server) oidcHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// What an app or a browser sends passes the text check of the
		// portal's own routes (UTF-8 only, no control characters) before
		// the protocol library stores it, echoes it or signs it.
		if err := checkOIDCInput(r); err != nil {
			switch r.URL.Path {
			case "/oauth/token", "/oauth/introspect", "/revoke", "/userinfo":
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Cache-Control", "no-store")
				w.WriteHeader(http.StatusBadRequest)
				json.NewEncoder(w).Encode(map[string]string{"error": "invalid_request", "error_description": portal.ErrorMessage(err)})
			default:
				s.wrap(func(http.ResponseWriter, *http.Request) error { return err }).ServeHTTP(w, r)
			}
			return
		}
		switch r.URL.Path {
		case "/oauth/token", "/oauth/introspect", "/revoke", "/userinfo":
			// Tokens and what they open are never stored by a cache
			// (RFC 6749 §5.1, OpenID Connect Core §3.1.3.3 and §5.3.2);
			// the protocol library does not say so itself.
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Pragma", "no-cache")
		}
		switch r.URL.Path {
		case "/oauth/token", "/oauth/introspect", "/revoke":
			ctx, retry := provider.WithLimitRecord(r.Context())
			rec := httptest.NewRecorder()
			s.Provider.OP.ServeHTTP(rec, r.WithContext(ctx))
			if *retry > 0 {
				secs := int(retry.Seconds()) + 1
				w.Header().Set("Retry-After", strconv.Itoa(secs))
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Cache-Control", "no-store")
				w.WriteHeader(http.StatusTooManyRequests)
				fmt.Fprintf(w, `{"error":"invalid_client","error_description":"too many failed client authentications from this network; try again in %d seconds"}`, secs)
				return
			}
			copyResponse(w, rec)
			return
		case "/authorize/callback":
			// The code goes only to the browser whose session completed
			// the request: a link to /oidc/login followed by someone else
			// gives the one who sent it nothing.
			// Only a GET with one id: the provider reads the id from
			// the form (a POST body first), and it must read the very id
			// checked here, not a second one smuggled beside it.
			st := state(r)
			ids := r.URL.Query()["id"]
			var req *portal.AuthRequest
			var err error = portal.ErrNotFound
			if r.Method == http.MethodGet && len(ids) == 1 {
				req, err = s.Store.AuthRequestByID(r.Context(), ids[0], s.now().Unix())
			}
			if err != nil || st.session == nil || req.SessionID == "" || req.SessionID != st.session.ID {
				s.wrap(func(w http.ResponseWriter, r *http.Request) error {
					return portal.Errorf(portal.EFORBIDDEN, "This sign-in was finished in another browser, or has expired. Go back to the app and sign in again.")
				}).ServeHTTP(w, r)
				return
			}
			r2 := r.Clone(r.Context())
			r2.URL.RawQuery = url.Values{"id": {req.ID}}.Encode()
			r2.Form, r2.PostForm, r2.Body = nil, nil, http.NoBody
			s.Provider.OP.ServeHTTP(w, r2)
			return
		case "/end_session":
		default:
			s.Provider.OP.ServeHTTP(w, r)
			return
		}
		if err := r.ParseForm(); err != nil || repeated(r.Form) {
			// A parameter given twice (in any letter case: the
			// library's decoder ignores it) is refused.
			s.wrap(func(w http.ResponseWriter, r *http.Request) error {
				return portal.Errorf(portal.EINVALID, "The sign-out request is malformed.")
			}).ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		signedIn := ""
		if st := state(r); st.user != nil {
			signedIn = st.user.ID
		}
		ctx, verified := provider.WithLogoutRecord(r.Context(), signedIn)
		s.Provider.OP.ServeHTTP(rec, r.WithContext(ctx))
		// The portal's own session (and the app's tokens, in the
		// provider) end only when the app names the user signed in here:
		// the subject of the ID token hint as the provider verified it,
		// never the raw parameter. Another site cannot sign people out
		// with a link, nor someone holding an old ID token.
		if signedIn != "" && (rec.Code == http.StatusFound || rec.Code == http.StatusSeeOther) && verified() == signedIn {
			if err := s.endSession(r.Context(), w, r); err != nil {
				s.Logger.Error("end session at logout", logAttrs(r), "err", err)
			}
		}
		copyResponse(w, rec)
	})
}

// repeated says whether a parameter appears more than once, names
// compared without case.
func repeated(form url.Values) bool {
	seen := map[string]bool{}
	for k, v := range form {
		k = strings.ToLower(k)
		if len(v) > 1 || seen[k] {
			return true
		}
		seen[k] = true
	}
	return false
}

func copyResponse(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}

// checkOIDCInput checks the query and a form-encoded body of a request to
// the provider's endpoints. A body that does not parse is refused here: Go
// keeps the pairs read before the bad one, and the library would go on
// with them, unchecked. Another kind of body is left to the library,
// which reads only forms.
func checkOIDCInput(r *http.Request) error {
	if err := checkURL(r); err != nil {
		return err
	}
	if r.Method != http.MethodPost {
		return nil
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/x-www-form-urlencoded" {
		return nil
	}
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return portal.Errorf(portal.ETOOLARGE, "The request is too large.")
		}
		return portal.Errorf(portal.EINVALID, "The request body could not be read.")
	}
	return checkForm(r)
}
