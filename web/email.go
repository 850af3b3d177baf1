package web

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/mfa"
)

// sendCode sends a login (or re-authentication) code by a code-sending
// method, bound to the current session.
func (s *Server) sendCode(ctx context.Context, r *http.Request, method string) (*mfa.Sent, error) {
	sender, ok := s.Factors.Get(method).(mfa.Sender)
	if !ok {
		return nil, portal.Errorf(portal.EINVALID, "Codes can be sent by email or WhatsApp only.")
	}
	st := state(r)
	all, err := s.Store.UserMethods(ctx, st.user.ID)
	if err != nil {
		return nil, err
	}
	var methods []*portal.Method
	for _, m := range all {
		if m.Confirmed() && m.Type == method {
			methods = append(methods, m)
		}
	}
	if len(methods) == 0 {
		return nil, portal.Errorf(portal.EINVALID, "You have not set up %s as a two-factor method.", sender.Label())
	}
	sent, err := sender.Send(ctx, &mfa.SendRequest{User: st.user, Methods: methods, Purpose: portal.CodeLogin, Binding: st.session.ID, Now: s.now()})
	if err != nil {
		s.logSendError(r, method, err)
		return nil, err
	}
	s.event(r, st.user.ID, portal.EventCodeSent, sender.Label()+" to "+sent.Destination)
	return sent, nil
}

// logSendError tells the operator why a code could not go out: an error
// when the service failed, a warning when the request was refused.
func (s *Server) logSendError(r *http.Request, method string, err error) {
	switch portal.ErrorCode(err) {
	case portal.EUNAVAILABLE, portal.EINTERNAL:
		s.Logger.Error("code delivery failed", logAttrs(r), "method", method, "err", err)
	case portal.ERATELIMIT:
		s.Logger.Info("code not sent: rate limited", logAttrs(r), "method", method, "err", err)
	default:
		s.Logger.Warn("code delivery failed", logAttrs(r), "method", method, "err", err)
	}
}

// sentJSON is the 202 body of SPEC §11.
func sentJSON(sent *mfa.Sent) map[string]any {
	return map[string]any{"method": sent.Method, "destination": sent.Destination,
		"expires_in": int(sent.ExpiresIn / time.Second), "resend_after": int(sent.ResendAfter / time.Second)}
}

func (s *Server) apiSendCode(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Method string `json:"method"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	sent, err := s.sendCode(r.Context(), r, in.Method)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, sentJSON(sent))
	return nil
}

func (s *Server) handleSendCodeForm(w http.ResponseWriter, r *http.Request) error {
	if err := formValues(r); err != nil {
		return err
	}
	method, next := r.PostForm.Get("method"), safeNext(r.PostForm.Get("next"))
	sent, err := s.sendCode(r.Context(), r, method)
	p, perr := s.secondStepPage(r, method, next)
	if perr != nil {
		return perr
	}
	if err != nil {
		return s.formError(w, r, "login2fa", p, err)
	}
	p.Data["Sent"] = sent
	p.Data["Expires"] = s.now().Add(sent.ExpiresIn).UTC().Format("15:04 UTC")
	s.render(w, r, http.StatusAccepted, "login2fa", p)
	return nil
}

// pendingMethod finds an unexpired enrolment in progress of a type.
func (s *Server) pendingMethod(ctx context.Context, u *portal.User, typ string) (*portal.Method, error) {
	ms, err := s.Store.UserMethods(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	oldest := s.now().Add(-portal.PendingEnrolment).Unix()
	for i := len(ms) - 1; i >= 0; i-- {
		if m := ms[i]; m.Type == typ && !m.Confirmed() && m.CreatedAt >= oldest {
			return m, nil
		}
	}
	return nil, portal.Errorf(portal.ENOTFOUND, "There is no set-up in progress, or it expired. Start again.")
}

// codeEnroller is a code-sending factor that can confirm an enrolment.
type codeEnroller interface {
	mfa.Sender
	ConfirmEnrolment(ctx context.Context, m *portal.Method, code string, now time.Time) error
}

// beginCodeMethod starts enrolling a code-sending method: a pending method
// for dest and a code sent there. If the code cannot be sent, the pending
// method goes too: nothing is left half-enrolled.
func (s *Server) beginCodeMethod(ctx context.Context, r *http.Request, f codeEnroller, dest string) (*mfa.Sent, error) {
	u := state(r).user
	if err := s.Store.DeletePendingMethods(ctx, u.ID, f.Type()); err != nil {
		return nil, err
	}
	m := &portal.Method{ID: portal.NewID(), UserID: u.ID, Type: f.Type(), Name: f.Label(), Data: dest, CreatedAt: s.now().Unix()}
	if err := s.Store.CreateMethod(ctx, m); err != nil {
		return nil, err
	}
	sent, err := f.Send(ctx, &mfa.SendRequest{User: u, Purpose: portal.CodeEnrol, Binding: m.ID, Destination: dest, Now: s.now()})
	if err != nil {
		s.logSendError(r, f.Type(), err)
		s.Store.DeletePendingMethods(context.WithoutCancel(ctx), u.ID, f.Type())
		return nil, err
	}
	return sent, nil
}

// confirmCodeMethod checks the enrolment code and confirms the method.
func (s *Server) confirmCodeMethod(ctx context.Context, r *http.Request, f codeEnroller, code string) (*portal.Method, []string, error) {
	if err := s.requireRecent(r); err != nil {
		return nil, nil, err
	}
	m, err := s.pendingMethod(ctx, state(r).user, f.Type())
	if err != nil {
		return nil, nil, err
	}
	if err := f.ConfirmEnrolment(ctx, m, code, s.now()); err != nil {
		return nil, nil, err
	}
	codes, err := s.confirmMethod(ctx, r, m)
	return m, codes, err
}

// beginEmail starts enrolling email as a method: a code to the verified
// address.
func (s *Server) beginEmail(ctx context.Context, r *http.Request) (*mfa.Sent, error) {
	if err := s.requireRecent(r); err != nil {
		return nil, err
	}
	if s.Email == nil {
		return nil, portal.Errorf(portal.ENOTFOUND, "Email codes are not offered here.")
	}
	u := state(r).user
	if u.EmailVerifiedAt == 0 {
		return nil, portal.Errorf(portal.ECONFLICT, "Verify your email address first: use the link we emailed you, or ask for a new one on the Security page.")
	}
	tf, err := s.twoFactor(ctx, u)
	if err != nil {
		return nil, err
	}
	for _, m := range tf.Methods {
		if m.Type == portal.MethodEmail {
			return nil, portal.Errorf(portal.ECONFLICT, "Email is already one of your two-factor methods.")
		}
	}
	return s.beginCodeMethod(ctx, r, s.Email, u.Email)
}

// confirmEmail checks the enrolment code and confirms the method.
func (s *Server) confirmEmail(ctx context.Context, r *http.Request, code string) (*portal.Method, []string, error) {
	if s.Email == nil {
		return nil, nil, portal.Errorf(portal.ENOTFOUND, "Email codes are not offered here.")
	}
	return s.confirmCodeMethod(ctx, r, s.Email, code)
}

func (s *Server) apiEmailBegin(w http.ResponseWriter, r *http.Request) error {
	sent, err := s.beginEmail(r.Context(), r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, sentJSON(sent))
	return nil
}

func (s *Server) apiEmailConfirm(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Code string `json:"code"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	m, codes, err := s.confirmEmail(r.Context(), r, in.Code)
	if err != nil {
		return err
	}
	return writeConfirmed(w, m, codes)
}

func (s *Server) handleEmailBegin(w http.ResponseWriter, r *http.Request) error {
	if s.requireRecent(r) != nil {
		reauthFirst(w, r, "/account/2fa")
		return nil
	}
	sent, err := s.beginEmail(r.Context(), r)
	p := &page{Title: "Add email as a two-factor method", Data: map[string]any{}}
	if err != nil {
		return s.formError(w, r, "email_setup", p, err)
	}
	p.Data["Sent"] = sent
	s.render(w, r, http.StatusOK, "email_setup", p)
	return nil
}

func (s *Server) handleEmailConfirm(w http.ResponseWriter, r *http.Request) error {
	if err := formValues(r); err != nil {
		return err
	}
	if s.requireRecent(r) != nil {
		reauthFirst(w, r, "/account/2fa")
		return nil
	}
	_, codes, err := s.confirmEmail(r.Context(), r, r.PostForm.Get("code"))
	if err != nil {
		if e, ok := err.(*portal.Error); ok {
			e.Field = "code"
		}
		return s.formError(w, r, "email_setup", &page{Title: "Add email as a two-factor method", Data: map[string]any{"Retry": true}}, err)
	}
	return s.showConfirmed(w, r, codes)
}

// sendVerification emails a link proving the user's current address.
func (s *Server) sendVerification(ctx context.Context, u *portal.User) error {
	if s.Links == nil {
		return nil
	}
	link, err := s.newLink(ctx, u, portal.TokenVerifyEmail, u.Email)
	if err != nil {
		return err
	}
	return s.Links.SendLink(ctx, u.Email, u.Name, "Confirm your email address",
		"Please confirm that this is your email address. A verified address can receive sign-in codes.", "Confirm email address", link)
}

// newLink stores a one-time token and returns its link.
func (s *Server) newLink(ctx context.Context, u *portal.User, kind, data string) (string, error) {
	token, hash := portal.NewSecretToken()
	now := s.now()
	if err := s.Store.CreateToken(ctx, &portal.Token{ID: hash, Kind: kind, UserID: u.ID, Data: data, CreatedAt: now.Unix(), ExpiresAt: now.Add(24 * time.Hour).Unix()}); err != nil {
		return "", err
	}
	return s.BaseURL.JoinPath("/verify-email").String() + "?token=" + url.QueryEscape(token), nil
}

// changeEmail starts moving the account to a new address: a link goes to
// the new address, the old one is told.
func (s *Server) changeEmail(ctx context.Context, r *http.Request, email string) error {
	if err := s.requireRecent(r); err != nil {
		return err
	}
	u := state(r).user
	key, display, err := portal.NormalizeEmail(email)
	if err != nil {
		return err
	}
	if key == portal.MustKey(u.Email) {
		return &portal.Error{Code: portal.EINVALID, Message: "That is already your email address.", Field: "email"}
	}
	if _, err := s.Store.UserByEmail(ctx, key); err == nil {
		return &portal.Error{Code: portal.ECONFLICT, Message: "Another account already uses this email address.", Field: "email"}
	}
	link, err := s.newLink(ctx, u, portal.TokenChangeEmail, display)
	if err != nil {
		return err
	}
	if err := s.Links.SendLink(ctx, display, u.Name, "Confirm your new email address",
		"You asked to use this address for your account. Confirm it to finish the change.", "Confirm new address", link); err != nil {
		return err
	}
	s.securityEvent(r, u, portal.EventEmailChangeRequest, "A confirmation link was sent to "+mfa.MaskEmail(display)+".")
	return nil
}

// verifyToken finds a live email link token of either kind.
func (s *Server) verifyToken(ctx context.Context, token string) (*portal.Token, error) {
	for _, kind := range []string{portal.TokenVerifyEmail, portal.TokenChangeEmail} {
		t, err := s.Store.TokenByID(ctx, kind, portal.HashToken(token), s.now().Unix())
		if err == nil {
			return t, nil
		} else if portal.ErrorCode(err) != portal.ENOTFOUND {
			return nil, err
		}
	}
	return nil, portal.Errorf(portal.ENOTFOUND, "This link is invalid, expired or already used. Ask for a new one on the Security page.")
}

// useEmailLink completes a verification or an email change.
func (s *Server) useEmailLink(ctx context.Context, r *http.Request, token string) (*portal.Token, error) {
	t, err := s.verifyToken(ctx, token)
	if err != nil {
		return nil, err
	}
	if _, err := s.Store.ConsumeToken(ctx, t.Kind, t.ID, s.now().Unix()); err != nil {
		return nil, portal.Errorf(portal.ENOTFOUND, "This link was already used.")
	}
	now := s.now().Unix()
	if t.Kind == portal.TokenVerifyEmail {
		if err := s.Store.VerifyEmail(ctx, t.UserID, t.Data, now); err != nil {
			return nil, portal.Errorf(portal.ECONFLICT, "This link is for an address your account no longer uses.")
		}
		s.event(r, t.UserID, portal.EventEmailVerified, mfa.MaskEmail(t.Data))
		return t, nil
	}
	before, err := s.Store.ChangeEmail(ctx, t.UserID, t.Data, now)
	if err != nil {
		return nil, err
	}
	after := *before
	after.Email = t.Data
	detail := "Your account now uses " + t.Data + " instead of " + before.Email + "."
	s.event(r, t.UserID, portal.EventEmailChanged, detail)
	s.notify(ctx, before, portal.EventEmailChanged, detail, state(r).ip)
	s.notify(ctx, &after, portal.EventEmailChanged, detail, state(r).ip)
	return t, nil
}

func (s *Server) handleVerifyEmailPage(w http.ResponseWriter, r *http.Request) error {
	token := r.URL.Query().Get("token")
	t, err := s.verifyToken(r.Context(), token)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "verify_email", &page{Title: "Confirm your email address", Data: map[string]any{"Token": token, "Email": t.Data, "Change": t.Kind == portal.TokenChangeEmail}})
	return nil
}

func (s *Server) handleVerifyEmailForm(w http.ResponseWriter, r *http.Request) error {
	if err := formValues(r); err != nil {
		return err
	}
	if _, err := s.useEmailLink(r.Context(), r, r.PostForm.Get("token")); err != nil {
		return err
	}
	setFlash(w, "email_verified")
	redirect(w, r, "/account/security")
	return nil
}

func (s *Server) apiVerifyEmail(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Token string `json:"token"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if _, err := s.useEmailLink(r.Context(), r, in.Token); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleChangeEmailForm(w http.ResponseWriter, r *http.Request) error {
	if err := formValues(r); err != nil {
		return err
	}
	if err := s.changeEmail(r.Context(), r, r.PostForm.Get("email")); err != nil {
		if e, ok := err.(*portal.Error); ok && e.Field == "email" {
			e.Field = "new_email"
		}
		return s.securityError(w, r, err)
	}
	setFlash(w, "email_change")
	redirect(w, r, "/account/security")
	return nil
}

func (s *Server) handleResendVerification(w http.ResponseWriter, r *http.Request) error {
	if err := s.sendVerification(r.Context(), state(r).user); err != nil {
		return err
	}
	setFlash(w, "verification_sent")
	redirect(w, r, "/account/security")
	return nil
}

func (s *Server) apiChangeEmail(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Email string `json:"email"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := s.changeEmail(r.Context(), r, in.Email); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func (s *Server) apiResendVerification(w http.ResponseWriter, r *http.Request) error {
	u := state(r).user
	if u.EmailVerifiedAt > 0 {
		return portal.Errorf(portal.ECONFLICT, "Your email address is already verified.")
	}
	if err := s.sendVerification(r.Context(), u); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}
