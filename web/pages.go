package web

import (
	"net/http"
	"net/url"

	"github.com/clientportal/portal"
)

func (s *Server) handleHome(w http.ResponseWriter, r *http.Request) error {
	if st := state(r); st.session != nil && st.session.Level == portal.LevelFull {
		redirect(w, r, "/dashboard")
	} else {
		redirect(w, r, "/login")
	}
	return nil
}

func (s *Server) handleRegisterPage(w http.ResponseWriter, r *http.Request) error {
	if s.signedInHome(w, r) {
		return nil
	}
	p := &page{Title: "Create your account", Data: map[string]any{"Open": s.Registration}}
	status := http.StatusOK
	if !s.Registration {
		status = http.StatusForbidden
	}
	s.render(w, r, status, "register", p)
	return nil
}

func (s *Server) handleRegisterForm(w http.ResponseWriter, r *http.Request) error {
	ferr := formValues(r)
	email, name, pw := r.PostForm.Get("email"), r.PostForm.Get("name"), r.PostForm.Get("password")
	p := &page{Title: "Create your account", Form: map[string]string{"email": email, "name": name}, Data: map[string]any{"Open": s.Registration}}
	if ferr != nil {
		return s.formError(w, r, "register", p, ferr)
	}
	if pw != r.PostForm.Get("password_confirm") {
		return s.formError(w, r, "register", p, &portal.Error{Code: portal.EINVALID, Message: "The two passwords do not match.", Field: "password_confirm"})
	}
	u, err := s.register(r.Context(), r, email, name, pw)
	if err != nil {
		return s.formError(w, r, "register", p, err)
	}
	s.event(r, u.ID, portal.EventUserCreated, "Registered")
	if err := s.sendVerification(r.Context(), u); err != nil {
		s.Logger.Error("queue verification email", logAttrs(r), "err", err)
	}
	return s.signInNewUser(w, r, u, "registered")
}

func (s *Server) handleLoginPage(w http.ResponseWriter, r *http.Request) error {
	if s.signedInHome(w, r) {
		return nil
	}
	// An app may name who signs in (OpenID Connect login_hint).
	form := map[string]string{}
	if hint := r.URL.Query().Get("email"); checkField("email", hint) == nil && len(hint) <= 254 {
		form["email"] = hint
	}
	s.render(w, r, http.StatusOK, "login", &page{Title: "Sign in", Form: form, Next: safeNext(r.URL.Query().Get("next")), Data: map[string]any{"Registration": s.Registration, "Passkeys": s.WebAuthn != nil}})
	return nil
}

func (s *Server) handleLoginForm(w http.ResponseWriter, r *http.Request) error {
	ferr := formValues(r)
	email := r.PostForm.Get("email")
	next := safeNext(r.PostForm.Get("next"))
	p := &page{Title: "Sign in", Form: map[string]string{"email": email}, Next: next, Data: map[string]any{"Registration": s.Registration, "Passkeys": s.WebAuthn != nil}}
	if ferr != nil {
		return s.formError(w, r, "login", p, ferr)
	}
	res, err := s.login(r.Context(), w, r, email, r.PostForm.Get("password"))
	if err != nil {
		return s.formError(w, r, "login", p, err)
	}
	switch res.Status {
	case "2fa_required":
		redirect(w, r, "/login/2fa"+nextQuery(next))
		return nil
	case "2fa_setup_required":
		s.setFlash(w, "setup_required")
		redirect(w, r, "/account/2fa")
		return nil
	}
	if next == "" {
		next = "/dashboard"
	}
	redirect(w, r, next)
	return nil
}

func (s *Server) handleLogoutForm(w http.ResponseWriter, r *http.Request) error {
	if err := s.endSession(r.Context(), w, r); err != nil {
		return err
	}
	s.setFlash(w, "loggedout")
	redirect(w, r, "/login")
	return nil
}

func (s *Server) handleDashboard(w http.ResponseWriter, r *http.Request) error {
	tf, err := s.twoFactor(r.Context(), state(r).user)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "dashboard", &page{Title: "Dashboard", Data: map[string]any{"TwoFactor": tf}})
	return nil
}

// reauthPage builds "Confirm it's you" with method chosen (every method
// the user types a code from can confirm, and email and WhatsApp have a
// button that sends one; a passkey confirms alone, with its own button).
func (s *Server) reauthPage(r *http.Request, next, method string) (*page, error) {
	tf, err := s.twoFactor(r.Context(), state(r).user)
	if err != nil {
		return nil, err
	}
	link := func(m string) string {
		q := url.Values{"method": {m}}
		if next != "" {
			q.Set("next", next)
		}
		return "/account/reauth?" + q.Encode()
	}
	cs := newCodeStep("code", s.resetChoices(tf), method, link)
	cs.SendAction, cs.Hidden = "/account/reauth/send", map[string]string{"next": next}
	return &page{Title: "Confirm it's you", Next: next, Data: map[string]any{"TwoFactor": tf, "Code": cs, "Passkey": s.WebAuthn != nil && hasPasskey(tf.Methods)}}, nil
}

func (s *Server) handleReauthPage(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	p, err := s.reauthPage(r, safeNext(q.Get("next")), q.Get("method"))
	if err != nil {
		return err
	}
	if cs := p.Data["Code"].(*codeStep); q.Get("sent") != "" && cs.Current.Sends {
		cs.Sent, cs.SentTo = true, s.sentTo(r.Context(), state(r).user, cs.Current.Type)
	}
	s.render(w, r, http.StatusOK, "reauth", p)
	return nil
}

// handleReauthSend sends a code for re-authentication and shows the page
// again (post/redirect/get: Back sends nothing twice).
func (s *Server) handleReauthSend(w http.ResponseWriter, r *http.Request) error {
	if err := formValues(r); err != nil {
		return err
	}
	method, next := r.PostForm.Get("method"), safeNext(r.PostForm.Get("next"))
	if _, err := s.sendCode(r.Context(), r, method); err != nil {
		p, perr := s.reauthPage(r, next, method)
		if perr != nil {
			return perr
		}
		return s.formError(w, r, "reauth", p, err)
	}
	q := url.Values{"method": {method}, "sent": {"1"}}
	if next != "" {
		q.Set("next", next)
	}
	redirect(w, r, "/account/reauth?"+q.Encode())
	return nil
}

// nextQuery carries a post-login destination along.
func nextQuery(next string) string {
	if next == "" {
		return ""
	}
	return "?next=" + url.QueryEscape(next)
}

func (s *Server) handleReauthForm(w http.ResponseWriter, r *http.Request) error {
	err := formValues(r)
	next := safeNext(r.PostForm.Get("next"))
	if err == nil {
		err = s.reauthenticate(r.Context(), r, r.PostForm.Get("password"), r.PostForm.Get("method"), r.PostForm.Get("code"))
	}
	if err != nil {
		p, perr := s.reauthPage(r, next, r.PostForm.Get("method"))
		if perr != nil {
			return perr
		}
		err = aboutField(err, "code")
		p.Data["Code"].(*codeStep).Invalid = fieldOf(err) == "code"
		return s.formError(w, r, "reauth", p, err)
	}
	if next == "" {
		next = "/account/security"
	}
	s.setFlash(w, "reauth")
	redirect(w, r, next)
	return nil
}

// signInNewUser logs a user who has just been created straight in.
// The staff policy holds from the first session: a user who must have 2FA
// (the first administrator, under the default policy) gets a set-up
// session until a method is confirmed.
func (s *Server) signInNewUser(w http.ResponseWriter, r *http.Request, u *portal.User, flash string) error {
	if setup, err := s.startWithout2FA(r.Context(), w, r, u, true, &portal.LoginStep{At: s.now()}); err != nil {
		return err
	} else if setup {
		s.setFlash(w, "setup_required")
		redirect(w, r, "/account/2fa")
		return nil
	}
	s.setFlash(w, flash)
	redirect(w, r, "/dashboard")
	return nil
}

// signedInHome sends someone who is signed in (or half-way) on from the
// sign-in and registration pages; false when they are not.
func (s *Server) signedInHome(w http.ResponseWriter, r *http.Request) bool {
	st := state(r)
	if st.session == nil {
		return false
	}
	switch st.session.Level {
	case portal.LevelPassword:
		redirect(w, r, "/login/2fa")
	case portal.LevelSetup:
		redirect(w, r, "/account/2fa")
	default:
		redirect(w, r, "/dashboard")
	}
	return true
}

// confirmation asks before a destructive action (the confirm partial): the
// action's button on a page is a link to the page with ?confirm=, which
// shows this with the real form, so it works without JavaScript.
type confirmation struct {
	Question, Detail string
	Action           string // the form's POST target
	Button, Cancel   string
	Note             string // label of a note field ("" for none)
	Danger           bool
}
