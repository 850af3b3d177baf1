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
	p := &page{Title: "Create your account", Data: map[string]any{"Open": s.Registration}}
	status := http.StatusOK
	if !s.Registration {
		status = http.StatusForbidden
	}
	s.render(w, r, status, "register", p)
	return nil
}

func (s *Server) handleRegisterForm(w http.ResponseWriter, r *http.Request) error {
	if err := formValues(r); err != nil {
		return err
	}
	email, name, pw := r.PostForm.Get("email"), r.PostForm.Get("name"), r.PostForm.Get("password")
	p := &page{Title: "Create your account", Form: map[string]string{"email": email, "name": name}, Data: map[string]any{"Open": s.Registration}}
	if pw != r.PostForm.Get("password_confirm") {
		return s.formError(w, r, "register", p, &portal.Error{Code: portal.EINVALID, Message: "The two passwords do not match.", Field: "password_confirm"})
	}
	u, err := s.register(r.Context(), email, name, pw)
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
	s.render(w, r, http.StatusOK, "login", &page{Title: "Sign in", Next: safeNext(r.URL.Query().Get("next")), Data: map[string]any{"Registration": s.Registration}})
	return nil
}

func (s *Server) handleLoginForm(w http.ResponseWriter, r *http.Request) error {
	if err := formValues(r); err != nil {
		return err
	}
	email := r.PostForm.Get("email")
	next := safeNext(r.PostForm.Get("next"))
	p := &page{Title: "Sign in", Form: map[string]string{"email": email}, Next: next, Data: map[string]any{"Registration": s.Registration}}
	res, err := s.login(r.Context(), w, r, email, r.PostForm.Get("password"))
	if err != nil {
		return s.formError(w, r, "login", p, err)
	}
	switch res.Status {
	case "2fa_required":
		redirect(w, r, "/login/2fa"+nextQuery(next))
		return nil
	case "2fa_setup_required":
		setFlash(w, "setup_required")
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
	setFlash(w, "loggedout")
	redirect(w, r, "/login")
	return nil
}

func (s *Server) handleDashboard(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, http.StatusOK, "dashboard", &page{Title: "Dashboard"})
	return nil
}

func (s *Server) reauthPage(r *http.Request, next string) (*page, error) {
	tf, err := s.twoFactor(r.Context(), state(r).user)
	if err != nil {
		return nil, err
	}
	return &page{Title: "Confirm it's you", Next: next, Data: map[string]any{"TwoFactor": tf, "Methods": s.methodChoices(tf)}}, nil
}

func (s *Server) handleReauthPage(w http.ResponseWriter, r *http.Request) error {
	p, err := s.reauthPage(r, safeNext(r.URL.Query().Get("next")))
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "reauth", p)
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
	if err := formValues(r); err != nil {
		return err
	}
	next := safeNext(r.PostForm.Get("next"))
	if err := s.reauthenticate(r.Context(), r, r.PostForm.Get("password"), r.PostForm.Get("method"), r.PostForm.Get("code")); err != nil {
		p, perr := s.reauthPage(r, next)
		if perr != nil {
			return perr
		}
		return s.formError(w, r, "reauth", p, err)
	}
	if next == "" {
		next = "/account/security"
	}
	setFlash(w, "reauth")
	redirect(w, r, next)
	return nil
}

// signInNewUser logs a user who has just been created straight in.
func (s *Server) signInNewUser(w http.ResponseWriter, r *http.Request, u *portal.User, flash string) error {
	if _, err := s.startSession(r.Context(), w, r, u, portal.LevelFull, true); err != nil {
		return err
	}
	setFlash(w, flash)
	redirect(w, r, "/dashboard")
	return nil
}
