package web

import (
	"context"
	"github.com/clientportal/portal/i18n"
	"net/http"
	"net/url"
	"time"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/mfa"
)

// sendCode sends a sign-in (or re-authentication) code by a code-sending
// method, bound to the current session.
func (s *Server) sendCode(ctx context.Context, r *http.Request, method string) (*mfa.Sent, error) {
	st := state(r)
	return s.sendCodeTo(ctx, r, st.user, method, st.session.ID)
}

// sendCodeTo sends u a code by a code-sending method they have, bound to
// binding (a session, or a password-reset link).
func (s *Server) sendCodeTo(ctx context.Context, r *http.Request, u *portal.User, method, binding string) (*mfa.Sent, error) {
	sender, ok := s.Factors.Get(method).(mfa.Sender)
	if !ok {
		return nil, portal.Errorf(portal.EINVALID, "Codes can be sent by email or WhatsApp only.")
	}
	all, err := s.Store.UserMethods(ctx, u.ID)
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
		return nil, portal.Msg(portal.EINVALID, "You have not set up {{.Method}} as a two-factor method.", "Method", i18n.Text(sender.Label()))
	}
	sent, err := sender.Send(ctx, &mfa.SendRequest{User: u, Methods: methods, Purpose: portal.CodeLogin, Binding: binding, Now: s.now(), Lang: s.mailLang(ctx, u).Code})
	if err != nil {
		s.logSendError(r, method, err)
		return nil, err
	}
	s.event(r, u.ID, portal.EventCodeSent, sender.Label()+" to "+sent.Destination)
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
	err := formValues(r)
	method, next := r.PostForm.Get("method"), safeNext(r.PostForm.Get("next"))
	if err == nil {
		_, err = s.sendCode(r.Context(), r, method)
	}
	if err != nil {
		p, perr := s.secondStepPage(r, method, next)
		if perr != nil {
			return perr
		}
		return s.formError(w, r, "login2fa", p, err)
	}
	// Post/redirect/get: Back and reload send nothing again.
	q := url.Values{"method": {method}, "sent": {"1"}}
	if next != "" {
		q.Set("next", next)
	}
	redirect(w, r, "/login/2fa?"+q.Encode())
	return nil
}

// sentTo is where u's codes of method go, masked, for "we sent a code to".
func (s *Server) sentTo(ctx context.Context, u *portal.User, method string) string {
	ms, err := s.Store.UserMethods(ctx, u.ID)
	if err != nil {
		return ""
	}
	for _, m := range ms {
		if m.Confirmed() && m.Type == method {
			if method == portal.MethodWhatsApp {
				return mfa.MaskPhone(m.Data)
			}
			// Email codes go to the account's address, not to the one
			// the method was set up with.
			return mfa.MaskEmail(u.Email)
		}
	}
	return ""
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
	// Enrolment sends to a destination not yet proven, maybe someone
	// else's: the sending quotas apply (network, account, destination),
	// beside the code store's limits.
	if err := s.sendQuota(ctx, r, u, dest); err != nil {
		return nil, err
	}
	if m, err := s.pendingMethod(ctx, u, f.Type()); err == nil && m.Data == dest {
		// A new code for the set-up in progress. Refused (too soon, too
		// many), the set-up and the code already sent stay as they are.
		sent, err := f.Send(ctx, &mfa.SendRequest{User: u, Purpose: portal.CodeEnrol, Binding: m.ID, Destination: dest, Now: s.now(), Lang: s.mailLang(ctx, u).Code})
		if err != nil {
			s.logSendError(r, f.Type(), err)
		}
		return sent, err
	}
	// A set-up for another destination is replaced; one for this
	// destination is left to the request that made it (a double submit:
	// its code may be on its way, and the pause refuses this one's).
	all, err := s.Store.UserMethods(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	for _, old := range all {
		if old.Type == f.Type() && !old.Confirmed() && old.Data != dest {
			// Only while still pending: one confirmed since the listing
			// (in another tab) stays.
			if err := s.Store.DeletePendingMethod(ctx, u.ID, old.ID); err != nil && portal.ErrorCode(err) != portal.ENOTFOUND {
				return nil, err
			}
		}
	}
	m := &portal.Method{ID: portal.NewID(), UserID: u.ID, Type: f.Type(), Name: f.Label(), Data: dest, CreatedAt: s.now().Unix()}
	if err := s.Store.CreateMethod(ctx, m); err != nil {
		return nil, err
	}
	sent, err := f.Send(ctx, &mfa.SendRequest{User: u, Purpose: portal.CodeEnrol, Binding: m.ID, Destination: dest, Now: s.now(), Lang: s.mailLang(ctx, u).Code})
	if err != nil {
		s.logSendError(r, f.Type(), err)
		// Only the set-up this request made: another request's (a double
		// submit) may have sent its code already.
		if derr := s.Store.DeletePendingMethod(context.WithoutCancel(ctx), u.ID, m.ID); derr != nil && portal.ErrorCode(derr) != portal.ENOTFOUND {
			s.Logger.Error("remove the unsent set-up", logAttrs(r), "err", derr)
		}
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
	if _, err := s.beginEmail(r.Context(), r); err != nil {
		p, perr := s.codeSetupPage(r, s.emailEnroller(), i18n.Text("Add email as a two-factor method"))
		if perr != nil {
			return perr
		}
		return s.formError(w, r, "email_setup", p, err)
	}
	s.setFlash(w, "code_sent")
	redirect(w, r, "/account/2fa/email")
	return nil
}

// emailEnroller and whatsAppEnroller are the code-sending factors, or
// nil interfaces when not offered.
func (s *Server) emailEnroller() codeEnroller {
	if s.Email == nil {
		return nil
	}
	return s.Email
}

func (s *Server) whatsAppEnroller() codeEnroller {
	if s.WhatsApp == nil {
		return nil
	}
	return s.WhatsApp
}

// codeSetupPage is the set-up page of a code-sending method: with a set-up
// in progress it asks for the code (and offers a new one), else it starts.
// The title is a message ID (render translates it).
func (s *Server) codeSetupPage(r *http.Request, f codeEnroller, title i18n.Text) (*page, error) {
	p := &page{Title: string(title), Data: map[string]any{}}
	if f == nil {
		return p, nil
	}
	m, err := s.pendingMethod(r.Context(), state(r).user, f.Type())
	if err == nil {
		p.Data["Pending"] = m
		dest := mfa.MaskEmail(m.Data)
		if f.Type() == portal.MethodWhatsApp {
			dest = mfa.MaskPhone(m.Data)
		}
		p.Data["Destination"] = dest
		p.Data["Retry"] = true
	} else if portal.ErrorCode(err) != portal.ENOTFOUND {
		return nil, err
	}
	return p, nil
}

func (s *Server) handleEmailSetupPage(w http.ResponseWriter, r *http.Request) error {
	if s.Email == nil {
		return portal.Errorf(portal.ENOTFOUND, "Email codes are not offered here.")
	}
	p, err := s.codeSetupPage(r, s.emailEnroller(), i18n.Text("Add email as a two-factor method"))
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "email_setup", p)
	return nil
}

func (s *Server) handleEmailConfirm(w http.ResponseWriter, r *http.Request) error {
	err := formValues(r)
	if s.requireRecent(r) != nil {
		reauthFirst(w, r, "/account/2fa")
		return nil
	}
	var codes []string
	if err == nil {
		_, codes, err = s.confirmEmail(r.Context(), r, r.PostForm.Get("code"))
	}
	if err != nil {
		p, perr := s.codeSetupPage(r, s.emailEnroller(), i18n.Text("Add email as a two-factor method"))
		if perr != nil {
			return perr
		}
		p.Data["Retry"] = true
		return s.formError(w, r, "email_setup", p, setField(err, "code"))
	}
	return s.showConfirmed(w, r, codes)
}

// sendVerification emails a link proving the user's current address. At
// registration the registration quota covers it; a resend takes the
// sending quotas (resendVerification).
func (s *Server) sendVerification(ctx context.Context, u *portal.User) error {
	if s.Links == nil {
		return nil
	}
	link, err := s.newLink(ctx, u, portal.TokenVerifyEmail, u.Email, "/verify-email", "", EmailLinkTTL)
	if err != nil {
		return err
	}
	return s.Links.SendLink(ctx, u.Email, u.Name, s.mailLang(ctx, u).Code, portal.Letter{Subject: i18n.M("Confirm your email address"),
		Intro: i18n.M("Please confirm that this is your email address. A verified address can receive sign-in codes."), Button: i18n.M("Confirm email address")}, link, EmailLinkTTL)
}

// resendVerification sends a new verification link on the user's request,
// within the sending quotas.
func (s *Server) resendVerification(ctx context.Context, r *http.Request, u *portal.User) error {
	if u.EmailVerifiedAt > 0 {
		return portal.Errorf(portal.ECONFLICT, "Your email address is already verified.")
	}
	if err := s.sendQuota(ctx, r, u, portal.MustKey(u.Email)); err != nil {
		return err
	}
	return s.sendVerification(ctx, u)
}

// EmailLinkTTL is how long an address verification or change link (and an
// unlock link) works.
const EmailLinkTTL = 24 * time.Hour

// newLink stores a one-time token valid for ttl and returns its link to
// path. A new link of a kind replaces the user's older ones of that kind.
// With session, the link is made only while that session lives (a change
// it asks for dies with it).
func (s *Server) newLink(ctx context.Context, u *portal.User, kind, data, path, session string, ttl time.Duration) (string, error) {
	token, hash := portal.NewSecretToken()
	now := s.now()
	if err := s.Store.ReplaceToken(ctx, &portal.Token{ID: hash, Kind: kind, UserID: u.ID, Data: data, CreatedAt: now.Unix(), ExpiresAt: now.Add(ttl).Unix()}, session); err != nil {
		return "", err
	}
	return s.BaseURL.JoinPath(path).String() + "?token=" + url.QueryEscape(token), nil
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
	if taken, err := s.sendQuotaUnlessTaken(ctx, r, u, key); err != nil {
		return err
	} else if taken {
		return &portal.Error{Code: portal.ECONFLICT, Message: "Another account already uses this email address.", Field: "email"}
	}
	link, err := s.newLink(ctx, u, portal.TokenChangeEmail, portal.EmailChange{To: display, From: u.Email}.Encode(), "/verify-email", sessionID(r), EmailLinkTTL)
	if err != nil {
		return err
	}
	if err := s.Links.SendLink(ctx, display, u.Name, s.mailLang(ctx, u).Code, portal.Letter{Subject: i18n.M("Confirm your new email address"),
		Intro: i18n.M("You asked to use this address for your account. Confirm it to finish the change."), Button: i18n.M("Confirm new address")}, link, EmailLinkTTL); err != nil {
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
	now := s.now().Unix()
	if t.Kind == portal.TokenVerifyEmail {
		if _, err := s.Store.ConsumeToken(ctx, t.Kind, t.ID, now); err != nil {
			return nil, portal.Errorf(portal.ENOTFOUND, "This link was already used.")
		}
		if err := s.Store.VerifyEmail(ctx, t.UserID, t.Data, now); err != nil {
			return nil, portal.Errorf(portal.ECONFLICT, "This link is for an address your account no longer uses.")
		}
		s.event(r, t.UserID, portal.EventEmailVerified, mfa.MaskEmail(t.Data))
		return t, nil
	}
	before, change, err := s.Store.ChangeEmail(ctx, t.ID, now)
	if err != nil {
		return nil, err
	}
	after := *before
	after.Email = change.To
	detail := "Your account now uses " + change.To + " instead of " + before.Email + "."
	s.event(r, t.UserID, portal.EventEmailChanged, detail)
	s.notify(ctx, before, portal.EventEmailChanged, detail, state(r).ip)
	s.notify(ctx, &after, portal.EventEmailChanged, detail, state(r).ip)
	return t, nil
}

// linkAddress is the address a live link is about: the one to verify, or
// the new one of a change.
func linkAddress(t *portal.Token) string {
	if t.Kind == portal.TokenChangeEmail {
		c, _ := portal.ParseEmailChange(t.Data)
		return c.To
	}
	return t.Data
}

func (s *Server) handleVerifyEmailPage(w http.ResponseWriter, r *http.Request) error {
	token := r.URL.Query().Get("token")
	t, err := s.verifyToken(r.Context(), token)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "verify_email", &page{Title: "Confirm your email address", Data: map[string]any{"Token": token, "Email": linkAddress(t), "Change": t.Kind == portal.TokenChangeEmail}})
	return nil
}

func (s *Server) handleVerifyEmailForm(w http.ResponseWriter, r *http.Request) error {
	if err := formValues(r); err != nil {
		return err
	}
	if _, err := s.useEmailLink(r.Context(), r, r.PostForm.Get("token")); err != nil {
		return err
	}
	s.setFlash(w, "email_verified")
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
	err := formValues(r)
	if err == nil {
		err = s.changeEmail(r.Context(), r, r.PostForm.Get("email"))
	}
	if err != nil {
		if fieldOf(err) == "email" {
			err = setField(err, "new_email")
		}
		return s.securityError(w, r, err)
	}
	s.setFlash(w, "email_change")
	redirect(w, r, "/account/security")
	return nil
}

func (s *Server) handleResendVerification(w http.ResponseWriter, r *http.Request) error {
	if err := s.resendVerification(r.Context(), r, state(r).user); err != nil {
		return s.securityError(w, r, err)
	}
	s.setFlash(w, "verification_sent")
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
	if err := s.resendVerification(r.Context(), r, state(r).user); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}
