package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/clientportal/portal"
)

// SetupLinkTTL is how long a set-up link works, unless staff exist first.
const SetupLinkTTL = 24 * time.Hour

// SetupLink makes a one-time link for creating the first administrator, or
// returns "" when staff already exist. The link is valid for 24 hours and
// replaces every older one; only its hash is stored.
func (s *Server) SetupLink(ctx context.Context) (string, error) {
	token, hash := portal.NewSecretToken()
	now := s.now()
	t := &portal.Token{ID: hash, Kind: portal.TokenSetup, CreatedAt: now.Unix(), ExpiresAt: now.Add(SetupLinkTTL).Unix()}
	if err := s.Store.CreateSetupToken(ctx, t); errors.Is(err, portal.ErrStaffExists) {
		return "", nil
	} else if err != nil {
		return "", err
	}
	return s.BaseURL.JoinPath("/setup").String() + "?token=" + url.QueryEscape(token), nil
}

// errSetupDone is what a set-up link shows once an administrator exists.
var errSetupDone = portal.Errorf(portal.ENOTFOUND, "This set-up link no longer works: an administrator already exists. Sign in, or ask an administrator for an account.")

// setupToken checks a set-up link: live, and no staff yet. The form's
// transaction decides again (CreateFirstAdmin); this spares a password hash
// and tells the visitor early.
func (s *Server) setupToken(r *http.Request, token string) error {
	if _, err := s.Store.TokenByID(r.Context(), portal.TokenSetup, portal.HashToken(token), s.now().Unix()); err != nil {
		if portal.ErrorCode(err) == portal.ENOTFOUND {
			return portal.Errorf(portal.ENOTFOUND, "This set-up link is invalid, expired or already used. Restart the portal to get a new one.")
		}
		return err
	}
	if n, err := s.Store.CountStaff(r.Context()); err != nil {
		return err
	} else if n > 0 {
		return errSetupDone
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
	ferr := formValues(r)
	token := r.PostForm.Get("token")
	if err := s.setupToken(r, token); err != nil {
		return err
	}
	email, name, pw := r.PostForm.Get("email"), r.PostForm.Get("name"), r.PostForm.Get("password")
	p := &page{Title: "Create the first administrator", Form: map[string]string{"email": email, "name": name}, Data: map[string]any{"Token": token}}
	if ferr != nil {
		return s.formError(w, r, "setup", p, ferr)
	}
	u, err := s.newUser(r.Context(), email, name, pw, portal.RoleAdmin)
	if err != nil {
		return s.formError(w, r, "setup", p, err)
	}
	switch err := s.Store.CreateFirstAdmin(r.Context(), u, portal.HashToken(token), s.now().Unix()); {
	case errors.Is(err, portal.ErrStaffExists):
		return errSetupDone
	case portal.ErrorCode(err) == portal.ENOTFOUND:
		return portal.Errorf(portal.ENOTFOUND, "This set-up link was already used.")
	case err != nil:
		return s.formError(w, r, "setup", p, err)
	}
	s.event(r, u.ID, portal.EventUserCreated, "First administrator")
	return s.signInNewUser(w, r, u, "setup")
}
