package web

import (
	"net/http"

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
	if next == "" {
		next = "/dashboard"
	}
	_ = res
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

func (s *Server) securityPage(r *http.Request) (*page, error) {
	st := state(r)
	events, err := s.Store.UserEvents(r.Context(), st.user.ID, 20)
	if err != nil {
		return nil, err
	}
	return &page{Title: "Security settings", Data: map[string]any{
		"Events": events,
		"Recent": s.Sessions.RecentlyAuthenticated(st.session, s.now()),
	}}, nil
}

func (s *Server) handleSecurityPage(w http.ResponseWriter, r *http.Request) error {
	p, err := s.securityPage(r)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "security", p)
	return nil
}

func (s *Server) handlePasswordForm(w http.ResponseWriter, r *http.Request) error {
	if err := formValues(r); err != nil {
		return err
	}
	next := r.PostForm.Get("new_password")
	err := error(nil)
	if next != r.PostForm.Get("new_password_confirm") {
		err = &portal.Error{Code: portal.EINVALID, Message: "The two new passwords do not match.", Field: "new_password_confirm"}
	} else {
		err = s.changePassword(r.Context(), r, r.PostForm.Get("current_password"), next)
	}
	if err != nil {
		p, perr := s.securityPage(r)
		if perr != nil {
			return perr
		}
		if e, ok := err.(*portal.Error); ok && e.Field == "password" {
			e.Field = "new_password"
		}
		if portal.ErrorCode(err) == portal.ECREDENTIALS {
			err = &portal.Error{Code: portal.ECREDENTIALS, Message: "Your current password is not correct.", Field: "current_password"}
		}
		return s.formError(w, r, "security", p, err)
	}
	setFlash(w, "password")
	redirect(w, r, "/account/security")
	return nil
}

func (s *Server) handleReauthPage(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, http.StatusOK, "reauth", &page{Title: "Confirm it's you", Next: safeNext(r.URL.Query().Get("next"))})
	return nil
}

func (s *Server) handleReauthForm(w http.ResponseWriter, r *http.Request) error {
	if err := formValues(r); err != nil {
		return err
	}
	next := safeNext(r.PostForm.Get("next"))
	if err := s.reauth(r.Context(), r, r.PostForm.Get("password")); err != nil {
		return s.formError(w, r, "reauth", &page{Title: "Confirm it's you", Next: next}, err)
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
	if err := s.completeLogin(r, u); err != nil {
		return err
	}
	setFlash(w, flash)
	redirect(w, r, "/dashboard")
	return nil
}
