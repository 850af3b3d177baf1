package web

import (
	"context"
	"github.com/clientportal/portal/i18n"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/clientportal/portal"
)

// New sign-in alerts. Every browser holds a long-lived random cookie
// (portal_known, stored only as a hash), apart from the session, the
// remembered-browser and the device cookies. A sign-in completed on a
// browser the user has not signed in on before sends the user an email
// with when, where, the browser and how, and a link to secure the account.
// The first sign-in of an account (registration, an invitation, the first
// administrator) has nothing to compare with and sends none.

// knownFor is how long the browser's cookie lasts.
const knownFor = 400 * 24 * time.Hour

// secureLinkFor is how long "No, secure my account" works.
const secureLinkFor = 7 * 24 * time.Hour

func (s *Server) knownCookie() string {
	if s.secure() {
		return "__Host-portal_known"
	}
	return "portal_known"
}

// knownDevice is the browser's known-device cookie, made when absent; the
// login step records its hash with the sign-in (LoginStep.Device).
func (s *Server) knownDevice(r *http.Request) string {
	if c, err := r.Cookie(s.knownCookie()); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	v, _ := portal.NewSecretToken()
	return v
}

// noteSignIn keeps the browser's cookie and, with alert (the completed
// sign-in was the first on this browser but not the account's first), when
// the user wants it, records it and sends the alert (in the background:
// the user is not kept waiting for the mail).
func (s *Server) noteSignIn(w http.ResponseWriter, r *http.Request, u *portal.User, sess *portal.Session, device string, alert bool) {
	http.SetCookie(w, &http.Cookie{Name: s.knownCookie(), Value: device, Path: "/", HttpOnly: true, Secure: s.secure(),
		SameSite: http.SameSiteLaxMode, MaxAge: int(knownFor / time.Second)})
	if !alert || s.Alerts == nil {
		return
	}
	s.background(r, func(ctx context.Context) {
		browser, system := describeUA(sess.UserAgent)
		if err := s.Store.AddEvent(ctx, &portal.Event{UserID: u.ID, Type: portal.EventNewDeviceSignIn, IP: sess.IP, UserAgent: sess.UserAgent,
			Detail: browser + " on " + system, CreatedAt: s.now().Unix()}); err != nil {
			s.Logger.Error("record new sign-in", "err", err)
		}
		if !s.alertsOn(ctx, u) {
			return
		}
		intro := i18n.M("Someone signed in to your {{.Brand}} account from a browser it had not seen before: {{.Browser}} on {{.System}}, from {{.IP}}, on {{.When}}, with {{.Method}}. "+
			"If this was you, there is nothing to do. If it was not, secure your account: every session ends, remembered browsers are forgotten, and you choose a new password.",
			"Brand", s.Brand.Name, "Browser", browser, "System", system, "IP", sess.IP, "When", i18n.Time(sess.LastSeenAt), "Method", midSentence(signInMethod(sess.AMR)))
		// A new browser's request is never the owner's own (its sign-in has
		// just recorded it as known): the alert is in the language the user
		// chose, else the portal's default, never in the request's.
		lang := s.mailLang(context.Background(), u).Code
		// The link's time is the sign-in's (its first step): securing the
		// account takes away what was added since (SecureAccount).
		token, hash := portal.NewSecretToken()
		t := &portal.Token{ID: hash, Kind: portal.TokenSecure, UserID: u.ID, CreatedAt: sess.CreatedAt, ExpiresAt: s.now().Add(secureLinkFor).Unix()}
		if err := s.Store.CreateToken(ctx, t); err != nil {
			s.Logger.Error("new sign-in alert", "err", err)
			return
		}
		link := s.BaseURL.String() + "/secure?token=" + url.QueryEscape(token)
		subject := i18n.M("New sign-in to your {{.Brand}} account", "Brand", s.Brand.Name)
		if err := s.Alerts.SendSignInAlert(ctx, u.Email, u.Name, lang, subject, intro, link+"&answer=me", link, secureLinkFor); err != nil {
			s.Logger.Error("new sign-in alert", "err", err)
		}
	})
}

// midSentence is a label (a message ID) used inside an English sentence:
// its first letter is lower case there; other languages keep their own.
type midSentence string

func (m midSentence) Localize(l *i18n.Localizer) string {
	t := l.T(string(m))
	if l.Code == "en" && t != "" {
		return string(t[0]|0x20) + t[1:]
	}
	return t
}

// alertsOn is the user's choice, else the staff default.
func (s *Server) alertsOn(ctx context.Context, u *portal.User) bool {
	on, set, err := s.Store.AlertPref(ctx, u.ID)
	if err == nil && set {
		return on
	}
	settings, err := s.settings(ctx)
	return err == nil && settings.NewDeviceAlerts
}

func (s *Server) handleAlertPref(w http.ResponseWriter, r *http.Request) error {
	if err := formValues(r); err != nil {
		return err
	}
	on := r.PostForm.Get("new_device") != ""
	// Silencing the alerts is what an intruder would do first: turning
	// them off needs a recent password and code (on never does).
	if !on {
		if err := s.requireRecent(r); err != nil {
			reauthFirst(w, r, "/account/security#alerts-h")
			return nil
		}
	}
	if err := s.Store.SetAlertPref(r.Context(), state(r).user.ID, on); err != nil {
		return err
	}
	s.setFlash(w, "settings")
	redirect(w, r, "/account/security#alerts-h")
	return nil
}

var errSecureLink = portal.Errorf(portal.ENOTFOUND, "This link was used already or has expired. If you still think someone else signed in, sign in and change your password, or ask for a new password from the sign-in page.")

func (s *Server) handleSecurePage(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	token := q.Get("token")
	if _, err := s.Store.TokenByID(r.Context(), portal.TokenSecure, portal.HashToken(token), s.now().Unix()); err != nil {
		return errSecureLink
	}
	// "Yes, this was me" changes nothing (mail scanners open links too):
	// it thanks the user and keeps the other answer at hand.
	if q.Get("answer") == "me" {
		s.render(w, r, http.StatusOK, "secure", &page{Title: "Thanks for confirming", Data: map[string]any{"Token": token, "Mine": true}})
		return nil
	}
	s.render(w, r, http.StatusOK, "secure", &page{Title: "Secure your account", Data: map[string]any{"Token": token}})
	return nil
}

// handleSecureForm ends every session, device cookie and app token of the
// link's user and forgets their remembered browsers, then leads to a new
// password.
func (s *Server) handleSecureForm(w http.ResponseWriter, r *http.Request) error {
	if err := formValues(r); err != nil {
		return err
	}
	token := r.PostForm.Get("token")
	hash := portal.HashToken(token)
	lt, err := s.Store.TokenByID(r.Context(), portal.TokenSecure, hash, s.now().Unix())
	if err != nil {
		return errSecureLink
	}
	// The account as it was: securing it may put back an older address
	// and remove methods, so the address it had is told too.
	before, err := s.Store.UserByID(r.Context(), lt.UserID)
	if err != nil {
		return err
	}
	// The link proves the mailbox, not the owner: whoever reads an address
	// the owner has left, or a mailbox taken over, must not remove the
	// authenticator the owner set up since (a reset then skips the second
	// factor) or move the account back to that address. The password is
	// the owner's; wrong ones count as failed sign-ins.
	if _, err := s.checkPassword(r.Context(), r, before.Email, r.PostForm.Get("password"), nil); err != nil {
		return s.formError(w, r, "secure", &page{Title: "Secure your account", Data: map[string]any{"Token": token}}, err)
	}
	t, err := s.Store.SecureAccount(r.Context(), hash, s.now().Unix())
	if err != nil {
		if portal.ErrorCode(err) == portal.ENOTFOUND {
			return errSecureLink
		}
		return err
	}
	s.event(r, t.UserID, portal.EventAccountSecured, "From the link in a new sign-in alert.")
	if after, err := s.Store.UserByID(r.Context(), t.UserID); err == nil {
		detail := "Someone followed \"No, secure my account\" from a new sign-in alert: every session ended, remembered browsers were forgotten, and what was added since that sign-in (two-factor methods, backup codes, an email change, invited users, API tokens) was taken away."
		if !strings.EqualFold(before.Email, after.Email) {
			detail += " The account uses " + after.Email + " again instead of " + before.Email + "."
			s.notify(r.Context(), before, portal.EventAccountSecured, detail, state(r).ip)
		}
		s.notify(r.Context(), after, portal.EventAccountSecured, detail, state(r).ip)
	}
	if st := state(r); st.session != nil && st.session.UserID == t.UserID {
		s.clearCookie(w)
		st.session, st.user = nil, nil
	}
	s.render(w, r, http.StatusOK, "secure", &page{Title: "Your account is secured", Data: map[string]any{"Done": true}})
	return nil
}
