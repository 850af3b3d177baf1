package web

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/clientportal/portal"
)

// SetupLink makes a one-time link for creating the first administrator, or
// returns "" when staff already exist. The link is valid for 24 hours; only
// its hash is stored.
func (s *Server) SetupLink(ctx context.Context) (string, error) {
	n, err := s.Store.CountStaff(ctx)
	if err != nil || n > 0 {
		return "", err
	}
	token, hash := portal.NewSecretToken()
	now := s.now()
	t := &portal.Token{ID: hash, Kind: portal.TokenSetup, CreatedAt: now.Unix(), ExpiresAt: now.Add(24 * time.Hour).Unix()}
	if err := s.Store.CreateToken(ctx, t); err != nil {
		return "", err
	}
	return s.BaseURL.JoinPath("/setup").String() + "?token=" + url.QueryEscape(token), nil
}

func (s *Server) setupToken(r *http.Request, token string) error {
	if _, err := s.Store.TokenByID(r.Context(), portal.TokenSetup, portal.HashToken(token), s.now().Unix()); err != nil {
		if portal.ErrorCode(err) == portal.ENOTFOUND {
			return portal.Errorf(portal.ENOTFOUND, "This set-up link is invalid, expired or already used. Restart the portal to get a new one.")
		}
		return err
	}
	return nil
}

func (s *Server) handleSetupPage(w http.ResponseWriter, r *http.Request) error {
	token := r.URL.Query().Get("token")
	if err := s.setupToken(r, token); err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "setup", &page{Title: "Create the first administrator", Data: map[string]any{"Token": token}})
	return nil
}

func (s *Server) handleSetupForm(w http.ResponseWriter, r *http.Request) error {
	if err := formValues(r); err != nil {
		return err
	}
	token := r.PostForm.Get("token")
	if err := s.setupToken(r, token); err != nil {
		return err
	}
	email, name, pw := r.PostForm.Get("email"), r.PostForm.Get("name"), r.PostForm.Get("password")
	p := &page{Title: "Create the first administrator", Form: map[string]string{"email": email, "name": name}, Data: map[string]any{"Token": token}}
	u, err := s.newUser(r.Context(), email, name, pw, portal.RoleAdmin)
	if err != nil {
		return s.formError(w, r, "setup", p, err)
	}
	if err := s.Store.CreateUserWithToken(r.Context(), u, nil, portal.TokenSetup, portal.HashToken(token), s.now().Unix()); err != nil {
		return s.formError(w, r, "setup", p, err)
	}
	s.event(r, u.ID, portal.EventUserCreated, "First administrator")
	return s.signInNewUser(w, r, u, "setup")
}
