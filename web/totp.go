package web

import (
	"context"
	"encoding/base64"
	"html/template"
	"net/http"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/mfa"
)

// beginTOTP starts enrolling an authenticator app: a new secret, stored
// sealed and pending until a code from it is entered.
func (s *Server) beginTOTP(ctx context.Context, r *http.Request) (*mfa.Enrolment, error) {
	if err := s.requireRecent(r); err != nil {
		return nil, err
	}
	u := state(r).user
	if err := s.Store.DeletePendingMethods(ctx, u.ID, portal.MethodTOTP); err != nil {
		return nil, err
	}
	// The pending secret is this session's alone: shown and confirmed
	// only here, so nobody else's session can plant one for the owner to
	// scan (a link to the set-up page would otherwise show it).
	m := &portal.Method{ID: portal.NewID(), UserID: u.ID, Type: portal.MethodTOTP, Name: "Authenticator app", Data: totpEnrolTag(r), CreatedAt: s.now().Unix()}
	e, sealed, err := s.TOTP.NewSecret(u.ID, u.Email)
	if err != nil {
		return nil, err
	}
	m.Secret = sealed
	if err := s.Store.CreateMethod(ctx, m); err != nil {
		return nil, err
	}
	return e, nil
}

// confirmTOTP checks the first code from the app and confirms the method.
// It returns the backup codes when this turned 2FA on.
func (s *Server) confirmTOTP(ctx context.Context, r *http.Request, code string) (*portal.Method, []string, error) {
	if err := s.requireRecent(r); err != nil {
		return nil, nil, err
	}
	m, err := s.pendingTOTP(ctx, r)
	if err != nil {
		return nil, nil, err
	}
	step, err := s.TOTP.ConfirmCode(m, code, s.now())
	if err != nil {
		return nil, nil, err
	}
	m.LastStep = step // this code cannot be used again to sign in
	m.Data = ""       // the portal's own settings (SHA1, 6 digits, 30 s)
	codes, err := s.confirmMethod(ctx, r, m)
	return m, codes, err
}

func (s *Server) apiTOTPBegin(w http.ResponseWriter, r *http.Request) error {
	e, err := s.beginTOTP(r.Context(), r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{
		"secret": e.Secret, "otpauth_uri": e.URI, "qr_png": "data:image/png;base64," + base64.StdEncoding.EncodeToString(e.QRPNG),
	})
	return nil
}

func (s *Server) apiTOTPConfirm(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Code string `json:"code"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	m, codes, err := s.confirmTOTP(r.Context(), r, in.Code)
	if err != nil {
		return err
	}
	return writeConfirmed(w, m, codes)
}

// reauthFirst sends a browser to re-authenticate and come back.
func reauthFirst(w http.ResponseWriter, r *http.Request, back string) {
	redirect(w, r, "/account/reauth"+nextQuery(back))
}

// twoFactorStartPage offers every method the portal has.
func (s *Server) twoFactorStartPage(r *http.Request) (*page, error) {
	tf, err := s.twoFactor(r.Context(), state(r).user)
	if err != nil {
		return nil, err
	}
	has := map[string]bool{}
	for _, m := range tf.Methods {
		has[m.Type] = true
	}
	return &page{Title: "Set up two-factor authentication", Data: map[string]any{
		"TwoFactor": tf, "EmailOffered": s.Email != nil, "HasEmail": has[portal.MethodEmail],
		"WhatsAppOffered": s.WhatsApp != nil, "HasWhatsApp": has[portal.MethodWhatsApp],
		"WebAuthnOffered": s.WebAuthn != nil, "YubicoOffered": s.YubicoOTP != nil, "Me": state(r).user,
	}}, nil
}

func (s *Server) handleTwoFactorStart(w http.ResponseWriter, r *http.Request) error {
	if s.requireRecent(r) != nil {
		reauthFirst(w, r, "/account/2fa")
		return nil
	}
	p, err := s.twoFactorStartPage(r)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "twofa_start", p)
	return nil
}

func (s *Server) handleTOTPBegin(w http.ResponseWriter, r *http.Request) error {
	if s.requireRecent(r) != nil {
		reauthFirst(w, r, "/account/2fa")
		return nil
	}
	if _, err := s.beginTOTP(r.Context(), r); err != nil {
		return err
	}
	redirect(w, r, "/account/2fa/totp")
	return nil
}

// totpEnrolTag marks a pending authenticator enrolment with the session
// that began it (a hash of its id, which is itself a hash).
func totpEnrolTag(r *http.Request) string {
	return "enrol:" + portal.HashToken("totp enrolment:"+sessionID(r))
}

// pendingTOTP is the authenticator enrolment this session began and has
// not confirmed; one begun by another session of the user is not found.
func (s *Server) pendingTOTP(ctx context.Context, r *http.Request) (*portal.Method, error) {
	m, err := s.pendingMethod(ctx, state(r).user, portal.MethodTOTP)
	if err != nil {
		return nil, err
	}
	if sessionID(r) == "" || m.Data != totpEnrolTag(r) {
		return nil, portal.Errorf(portal.ENOTFOUND, "There is no set-up in progress, or it expired. Start again.")
	}
	return m, nil
}

// totpPage shows the QR code and secret of the pending enrolment.
func (s *Server) totpPage(r *http.Request) (*page, error) {
	u := state(r).user
	m, err := s.pendingTOTP(r.Context(), r)
	if err != nil {
		return nil, err
	}
	e, err := s.TOTP.Enrolment(m, u.Email)
	if err != nil {
		return nil, err
	}
	return &page{Title: "Set up your authenticator app", Data: map[string]any{
		// Both are built here from our own bytes, so they are safe as URLs.
		"QR":     template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(e.QRPNG)),
		"Secret": e.Grouped, "URI": template.URL(e.URI),
	}}, nil
}

func (s *Server) handleTOTPPage(w http.ResponseWriter, r *http.Request) error {
	if s.requireRecent(r) != nil {
		reauthFirst(w, r, "/account/2fa")
		return nil
	}
	p, err := s.totpPage(r)
	if portal.ErrorCode(err) == portal.ENOTFOUND {
		redirect(w, r, "/account/2fa")
		return nil
	} else if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "totp_setup", p)
	return nil
}

func (s *Server) handleTOTPConfirm(w http.ResponseWriter, r *http.Request) error {
	err := formValues(r)
	if s.requireRecent(r) != nil {
		reauthFirst(w, r, "/account/2fa")
		return nil
	}
	var codes []string
	if err == nil {
		_, codes, err = s.confirmTOTP(r.Context(), r, r.PostForm.Get("code"))
	}
	if err != nil {
		p, perr := s.totpPage(r)
		if perr != nil {
			return err
		}
		err = setField(err, "code")
		return s.formError(w, r, "totp_setup", p, err)
	}
	return s.showConfirmed(w, r, codes)
}
