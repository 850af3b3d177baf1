package web

import (
	"context"
	"github.com/clientportal/portal/i18n"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/mfa"
	"github.com/clientportal/portal/password"
)

// ResetLinkTTL is how long a password-reset link works.
const ResetLinkTTL = time.Hour

// forgotAnswer is the one answer to every forgotten-password request.
const forgotAnswer = "If an account uses this address, we have emailed it a link to choose a new password. The link works for 1 hour; only the newest one works."

// errResetLink answers a reset link that is unknown, used, expired or
// replaced by a newer one.
var errResetLink = portal.Errorf(portal.ENOTFOUND, "This password-reset link no longer works: it was used already, it expired (links work for 1 hour) or a newer one was sent. Ask for a new link below.")

// forgotPassword starts a password reset. As with recovery requests, the
// answer is decided before the address is looked up (input checked, quotas
// taken per network, per address from each network and per address a
// day); the link is made and emailed in the background.
func (s *Server) forgotPassword(ctx context.Context, r *http.Request, email string) error {
	key, _, err := portal.NormalizeEmail(email)
	if err != nil {
		return err
	}
	ipKey := state(r).ipKey
	if err := s.quota(ctx, "Too many password-reset emails were requested. Try again in {{.Wait}}.", portal.Attempt{Policy: portal.ForgotIPLimit, Key: ipKey},
		portal.Attempt{Policy: portal.ForgotAddressLimit, Key: ipKey + " " + key}, portal.Attempt{Policy: portal.ForgotAddressDayLimit, Key: key}); err != nil {
		return err
	}
	s.background(r, func(ctx context.Context) {
		if err := s.sendResetLink(ctx, r, key); err != nil {
			s.Logger.Error("password reset link", logAttrs(r), "err", err)
		}
	})
	return nil
}

// sendResetLink emails a reset link to the user with the address key, if
// there is one (and they are not disabled).
func (s *Server) sendResetLink(ctx context.Context, r *http.Request, key string) error {
	u, err := s.Store.UserByEmail(ctx, key)
	if portal.ErrorCode(err) == portal.ENOTFOUND || err == nil && u.Disabled {
		return nil
	} else if err != nil {
		return err
	}
	if s.Links == nil {
		return nil
	}
	// The link holds the address it is mailed to: read before the link is
	// stored, it may be one the account is leaving at this moment.
	link, err := s.newLink(ctx, u, portal.TokenReset, u.Email, "/password/reset", "", ResetLinkTTL)
	if err != nil {
		return err
	}
	s.event(r, u.ID, portal.EventPasswordResetRequested, "")
	return s.Links.SendLink(ctx, u.Email, u.Name, s.mailLang(ctx, u).Code, portal.Letter{Subject: i18n.M("Choose a new password"),
		Intro:  i18n.M("Someone (we hope you) asked to reset the password of your account. If it was not you, ignore this email: your password stays as it is."),
		Button: i18n.M("Choose a new password")}, link, ResetLinkTTL)
}

// resetLink finds the live reset link token and its user.
func (s *Server) resetLink(ctx context.Context, token string) (*portal.Token, *portal.User, error) {
	if token == "" {
		return nil, nil, errResetLink
	}
	t, err := s.Store.TokenByID(ctx, portal.TokenReset, portal.HashToken(token), s.now().Unix())
	if portal.ErrorCode(err) == portal.ENOTFOUND {
		return nil, nil, errResetLink
	} else if err != nil {
		return nil, nil, err
	}
	u, err := s.Store.UserByID(ctx, t.UserID)
	if portal.ErrorCode(err) == portal.ENOTFOUND || (err == nil && (u.Disabled || !linkAddressHeld(t, u))) {
		return nil, nil, errResetLink
	}
	return t, u, err
}

// linkAddressHeld reports whether the account still has the address a
// link was mailed to (links made before they held one: yes). A change of
// address removes the links made before it in its transaction; one made
// while it ran, from the address read before it, is refused here.
func linkAddressHeld(t *portal.Token, u *portal.User) bool {
	return t.Data == "" || strings.EqualFold(t.Data, u.Email)
}

// resetChoices are the methods that can confirm a reset: every method
// the user has but security keys (which sign in, not type a code), with
// backup codes last.
func (s *Server) resetChoices(tf *portal.TwoFactorStatus) []choice {
	var out []choice
	for _, c := range s.methodChoices(tf) {
		if c.Type != portal.MethodWebAuthn && c.Type != portal.MethodPasskey {
			out = append(out, c)
		}
	}
	return out
}

// resetPassword sets a new password with a reset link. A user with 2FA
// gives a code first (any of their methods but security keys, or a backup
// code), under the shared second-factor limit: a reset never skips the
// second factor. Every session and remembered browser ends and pending
// email changes die, in the reset's transaction; the user is told.
func (s *Server) resetPassword(ctx context.Context, r *http.Request, token, pw, method, code string) error {
	t, u, err := s.resetLink(ctx, token)
	if err != nil {
		return err
	}
	if err := password.Validate(pw, u.Email); err != nil {
		return err
	}
	tf, err := s.twoFactor(ctx, u)
	if err != nil {
		return err
	}
	if tf.Enabled {
		if method == "" {
			method = tf.Preferred
			if _, err := mfa.NormalizeBackupCode(code); err == nil {
				method = portal.MethodBackupCode
			}
		}
		switch {
		case method == portal.MethodWebAuthn || method == portal.MethodPasskey:
			return &portal.Error{Code: portal.EINVALID, Message: "A security key or passkey cannot confirm a password reset. Choose another method or use a backup code.", Field: "method"}
		case code == "":
			return &portal.Error{Code: portal.E2FAREQUIRED, Message: "Enter a code from one of your two-factor methods, or a backup code.", Field: "code"}
		}
		if _, err := s.verifySecondFactor(ctx, r, u, method, code, t.ID, nil); err != nil {
			return err
		}
	}
	hash, err := s.Hasher.Hash(ctx, pw)
	if err != nil {
		return err
	}
	_, err = s.Store.ResetPassword(ctx, t.ID, hash, s.now().Unix(), func(u *portal.User) (*portal.Record, error) {
		return s.record(r, u, portal.EventPasswordChanged, "Reset with an emailed link. Every session was signed out, remembered browsers were forgotten and pending email changes cancelled.")
	})
	if portal.ErrorCode(err) == portal.ENOTFOUND {
		return errResetLink // used meanwhile (a second tab, a double click)
	} else if err != nil {
		return err
	}
	s.queued()
	return nil
}

// sendResetCode sends a code by email or WhatsApp for a reset, bound to
// the reset link.
func (s *Server) sendResetCode(ctx context.Context, r *http.Request, token, method string) (*mfa.Sent, error) {
	t, u, err := s.resetLink(ctx, token)
	if err != nil {
		return nil, err
	}
	return s.sendCodeTo(ctx, r, u, method, t.ID)
}

// resetPage builds /password/reset for a live link; sent says a code was
// just sent for the method chosen.
func (s *Server) resetPage(ctx context.Context, token, method string, sent bool) (*page, error) {
	_, u, err := s.resetLink(ctx, token)
	if err != nil {
		return nil, err
	}
	tf, err := s.twoFactor(ctx, u)
	if err != nil {
		return nil, err
	}
	cs := newCodeStep("code", s.resetChoices(tf), method, func(m string) string {
		return "/password/reset?" + url.Values{"token": {token}, "method": {m}}.Encode()
	})
	cs.SendAction, cs.Hidden = "/password/reset/send", map[string]string{"token": token}
	if sent && cs.Current.Sends {
		cs.Sent, cs.SentTo = true, s.sentTo(ctx, u, cs.Current.Type)
	}
	return &page{Title: "Choose a new password", Data: map[string]any{"Token": token, "TwoFactor": tf.Enabled, "Code": cs, "Email": mfa.MaskEmail(u.Email)}}, nil
}

// pickChoice is the choice of type method, or the first.
func pickChoice(choices []choice, method string) choice {
	for _, c := range choices {
		if c.Type == method {
			return c
		}
	}
	if len(choices) > 0 {
		return choices[0]
	}
	return choice{}
}

func (s *Server) handleForgotPage(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, http.StatusOK, "forgot", &page{Title: "Forgot your password?"})
	return nil
}

func (s *Server) handleForgotForm(w http.ResponseWriter, r *http.Request) error {
	if err := formValues(r); err != nil {
		return err
	}
	email := r.PostForm.Get("email")
	if err := s.forgotPassword(r.Context(), r, email); err != nil {
		return s.formError(w, r, "forgot", &page{Title: "Forgot your password?", Form: map[string]string{"email": email}}, err)
	}
	s.setFlash(w, "reset_sent")
	redirect(w, r, "/password/forgot")
	return nil
}

func (s *Server) handleResetPage(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	p, err := s.resetPage(r.Context(), q.Get("token"), q.Get("method"), q.Get("sent") != "")
	if portal.ErrorCode(err) == portal.ENOTFOUND {
		// A dead link: say why, with the form to ask for a new one.
		return s.formError(w, r, "forgot", &page{Title: "Forgot your password?"}, err)
	} else if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "reset", p)
	return nil
}

func (s *Server) handleResetForm(w http.ResponseWriter, r *http.Request) error {
	if err := formValues(r); err != nil {
		return err
	}
	f := r.PostForm
	token, method := f.Get("token"), f.Get("method")
	var err error
	if f.Get("password") != f.Get("password_confirm") {
		err = &portal.Error{Code: portal.EINVALID, Message: "The two passwords do not match.", Field: "password_confirm"}
	} else {
		err = s.resetPassword(r.Context(), r, token, f.Get("password"), method, f.Get("code"))
	}
	if err != nil {
		p, perr := s.resetPage(r.Context(), token, method, false)
		if portal.ErrorCode(perr) == portal.ENOTFOUND {
			return s.formError(w, r, "forgot", &page{Title: "Forgot your password?"}, perr)
		} else if perr != nil {
			return perr
		}
		p.Data["Code"].(*codeStep).Invalid = fieldOf(err) == "code"
		return s.formError(w, r, "reset", p, err)
	}
	s.setFlash(w, "password_reset")
	redirect(w, r, "/login")
	return nil
}

func (s *Server) handleResetSendForm(w http.ResponseWriter, r *http.Request) error {
	if err := formValues(r); err != nil {
		return err
	}
	token, method := r.PostForm.Get("token"), r.PostForm.Get("method")
	back := "/password/reset?token=" + url.QueryEscape(token) + "&method=" + url.QueryEscape(method) + "&sent=1"
	if _, err := s.sendResetCode(r.Context(), r, token, method); err != nil {
		p, perr := s.resetPage(r.Context(), token, method, false)
		if portal.ErrorCode(perr) == portal.ENOTFOUND {
			return s.formError(w, r, "forgot", &page{Title: "Forgot your password?"}, perr)
		} else if perr != nil {
			return perr
		}
		return s.formError(w, r, "reset", p, err)
	}
	redirect(w, r, back)
	return nil
}

func (s *Server) apiForgot(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Email string `json:"email"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := s.forgotPassword(r.Context(), r, in.Email); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{})
	return nil
}

func (s *Server) apiReset(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Token    string `json:"token"`
		Password string `json:"password"`
		Method   string `json:"method"`
		Code     string `json:"code"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	err := s.resetPassword(r.Context(), r, in.Token, in.Password, in.Method, in.Code)
	if portal.ErrorCode(err) == portal.E2FAREQUIRED {
		// SPEC §13: the methods that can confirm the reset come with it.
		_, u, lerr := s.resetLink(r.Context(), in.Token)
		if lerr != nil {
			return lerr
		}
		tf, terr := s.twoFactor(r.Context(), u)
		if terr != nil {
			return terr
		}
		methods := []string{}
		for _, c := range s.resetChoices(tf) {
			methods = append(methods, c.Type)
		}
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]string{"code": portal.E2FAREQUIRED, "message": message(s.lang(r), err)}, "methods": methods})
		return nil
	} else if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) apiResetSend(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Token  string `json:"token"`
		Method string `json:"method"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	sent, err := s.sendResetCode(r.Context(), r, in.Token, in.Method)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, sentJSON(sent))
	return nil
}
