package web

import (
	"github.com/clientportal/portal/i18n"
	"net/http"

	"github.com/clientportal/portal"
)

// sendUnlockLink emails the owner of a frozen account a link that lifts
// the freeze (SPEC §4 as the security review extended it): the counter
// starts again, the second factor is still required.
func (s *Server) sendUnlockLink(r *http.Request, u *portal.User) error {
	if s.Links == nil {
		return nil
	}
	ctx := r.Context()
	link, err := s.newLink(ctx, u, portal.TokenUnlock, u.Email, "/unlock", "", EmailLinkTTL)
	if err != nil {
		return err
	}
	return s.Links.SendLink(ctx, u.Email, u.Name, s.mailLang(ctx, u).Code, portal.Letter{Subject: i18n.M("Two-factor sign-in is frozen on your account"),
		Intro: i18n.M("Someone entered your password and then too many wrong two-factor codes, so two-factor sign-in on your account is frozen. " +
			"If it was you, unlock it with the button below; you will still need a code to sign in. " +
			"If it was not you, change your password as soon as you are signed in."),
		Button: i18n.M("Unlock two-factor sign-in")}, link, EmailLinkTTL)
}

// unlockToken checks an unlock link without using it.
func (s *Server) unlockToken(r *http.Request, token string) error {
	t, err := s.Store.TokenByID(r.Context(), portal.TokenUnlock, portal.HashToken(token), s.now().Unix())
	if err != nil {
		if portal.ErrorCode(err) == portal.ENOTFOUND {
			return errUnlockLink
		}
		return err
	}
	// Mailed to an address the account has left (see linkAddressHeld).
	u, err := s.Store.UserByID(r.Context(), t.UserID)
	if portal.ErrorCode(err) == portal.ENOTFOUND || (err == nil && !linkAddressHeld(t, u)) {
		return errUnlockLink
	}
	return err
}

var errUnlockLink = portal.Errorf(portal.ENOTFOUND, "This unlock link is invalid, expired or already used. Sign in with a backup code, or use “I can't use any of my methods” on the sign-in page.")

func (s *Server) handleUnlockPage(w http.ResponseWriter, r *http.Request) error {
	token := r.URL.Query().Get("token")
	if err := s.unlockToken(r, token); err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "unlock", &page{Title: "Unlock two-factor sign-in", Data: map[string]any{"Token": token}})
	return nil
}

func (s *Server) handleUnlockForm(w http.ResponseWriter, r *http.Request) error {
	if err := formValues(r); err != nil {
		return err
	}
	if err := s.unlock(r, r.PostForm.Get("token")); err != nil {
		return err
	}
	s.setFlash(w, "unlocked")
	redirect(w, r, "/login")
	return nil
}

func (s *Server) apiUnlock(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Token string `json:"token"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := s.unlock(r, in.Token); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// unlock uses an unlock link: the second-factor counter of its user
// starts again.
func (s *Server) unlock(r *http.Request, token string) error {
	if err := s.unlockToken(r, token); err != nil {
		return err
	}
	t, err := s.Store.Unlock(r.Context(), portal.HashToken(token), portal.SecondFactorUserLimit, s.now().Unix())
	if portal.ErrorCode(err) == portal.ENOTFOUND {
		return errUnlockLink
	} else if err != nil {
		return err
	}
	s.event(r, t.UserID, portal.EventSecondFactorUnlock, "Unlocked with the emailed link.")
	return nil
}
