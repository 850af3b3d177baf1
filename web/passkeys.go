package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/mfa"
)

// Passkeys are discoverable WebAuthn credentials registered with user
// verification. Added on the Security page, a passkey is a two-factor
// method like a security key (the first one turns 2FA on, with backup
// codes). On the sign-in page it is a complete sign-in on its own: the
// browser offers the portal's passkeys (a button, or autofill on the email
// field), the authenticator checks the person (fingerprint, face, PIN) and
// the answer names the account. No password is asked: possession of the
// device plus the person's check are two factors (amr "hwk user mfa").
//
// A sign-in challenge names no user, so it is bound to the browser that
// asked for it with a short-lived cookie; it is used once, within 5
// minutes. The attempt counts on the account's second-factor limit and the
// network's, like a code; counters that go backwards are refused and
// recorded, and a replayed answer finds its challenge gone.

// passkeyAMR is the amr of a sign-in by passkey (RFC 8176).
const passkeyAMR = "hwk user mfa"

func (s *Server) passkeyCookie() string {
	if s.secure() {
		return "__Host-portal_passkey"
	}
	return "portal_passkey"
}

func (s *Server) apiPasskeyRegisterBegin(w http.ResponseWriter, r *http.Request) error {
	return s.registerBegin(w, r, true)
}

func (s *Server) apiPasskeyRegisterFinish(w http.ResponseWriter, r *http.Request) error {
	return s.registerFinish(w, r, true)
}

// apiPasskeyLoginBegin returns the options for navigator.credentials.get;
// ?mediation=conditional asks for them for passkey autofill.
func (s *Server) apiPasskeyLoginBegin(w http.ResponseWriter, r *http.Request) error {
	if err := s.webAuthnOffered(); err != nil {
		return err
	}
	if err := s.quota(r.Context(), "Too many passkey sign-ins were started from your network. Try again in {{.Wait}}.", portal.Attempt{Policy: portal.PasskeyIPLimit, Key: state(r).ipKey}); err != nil {
		return err
	}
	binding, hash := portal.NewSecretToken()
	opts, err := s.WebAuthn.BeginPasskeyLogin(r.Context(), hash, r.URL.Query().Get("mediation") == "conditional")
	if err != nil {
		return err
	}
	// Path "/": browsers drop a __Host- cookie with any other path.
	http.SetCookie(w, &http.Cookie{Name: s.passkeyCookie(), Value: binding, Path: "/", HttpOnly: true, Secure: s.secure(),
		SameSite: http.SameSiteStrictMode, MaxAge: int(mfa.ChallengeTTL / time.Second)})
	writeJSON(w, http.StatusOK, opts)
	return nil
}

// errPasskeyExpired answers a passkey answer without its challenge.
var errPasskeyExpired = portal.Errorf(portal.ECODE, "The passkey request expired or was already used. Try again.")

// errPasskeyUnknown answers a passkey of no account here (deleted, or
// another site's): the same for a disabled account.
var errPasskeyUnknown = portal.Errorf(portal.ECODE, "This passkey is not registered here any more. Sign in with your email address and password, then add a new passkey on the Security page.")

func (s *Server) apiPasskeyLoginFinish(w http.ResponseWriter, r *http.Request) error {
	if err := s.webAuthnOffered(); err != nil {
		return err
	}
	var in struct {
		Credential json.RawMessage `json:"credential"`
		Next       string          `json:"next"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	u, err := s.passkeyLogin(w, r, in.Credential)
	if err != nil {
		return err
	}
	next := safeNext(in.Next)
	if next == "" {
		next = "/dashboard"
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "authenticated", "user": toUserJSON(u), "next": next})
	return nil
}

// passkeyLogin signs in with a passkey's answer alone: a new session at
// level full with recent authentication, under the second-factor limits.
func (s *Server) passkeyLogin(w http.ResponseWriter, r *http.Request, credential json.RawMessage) (*portal.User, error) {
	ctx := r.Context()
	owner, credID, err := mfa.PasskeyOwner(credential)
	if err != nil {
		return nil, err
	}
	c, err := r.Cookie(s.passkeyCookie())
	if err != nil || len(c.Value) != 43 {
		return nil, errPasskeyExpired
	}
	binding := portal.HashToken(c.Value)
	// The cookie is spent whatever happens next.
	http.SetCookie(w, &http.Cookie{Name: s.passkeyCookie(), Path: "/", HttpOnly: true, Secure: s.secure(), SameSite: http.SameSiteStrictMode, MaxAge: -1})
	// Signed in to another account: a passkey does not switch accounts
	// (on "Confirm it's you" it would hand this browser to its owner).
	st := state(r)
	if st.session != nil && st.session.Level == portal.LevelFull && st.session.UserID != owner {
		return nil, portal.Errorf(portal.ECONFLICT, "This passkey belongs to another account. Sign out first to sign in with it.")
	}
	u, err := s.Store.UserByID(ctx, owner)
	if err == nil && !u.Disabled {
		var methods []*portal.Method
		if methods, err = s.Store.UserMethods(ctx, u.ID); err == nil && !hasPasskey(methods, credID) {
			err = portal.ErrNotFound
		}
	}
	if errors.Is(err, portal.ErrNotFound) || (err == nil && u.Disabled) {
		// Counted on the network's limit, as a wrong code would be.
		if err := s.quota(ctx, "Too many wrong codes from your network. Try again in {{.Wait}}.", portal.Attempt{Policy: portal.SecondFactorIPLimit, Key: state(r).ipKey}); err != nil {
			return nil, err
		}
		return nil, errPasskeyUnknown
	} else if err != nil {
		return nil, err
	}
	step := &portal.LoginStep{CancelRecoveries: true}
	res, err := s.verifyFactor(ctx, r, u, portal.MethodPasskey, string(credential), binding, step, true)
	if err != nil {
		return nil, err
	}
	st.amr = passkeyAMR
	out, err := s.startSessionWith(ctx, w, r, u, portal.LevelFull, true, step)
	if err != nil {
		return nil, err
	}
	if out.Taken != nil && !out.Taken.OK {
		out.Taken.Refused = 1 // the step took the account's counter alone
	}
	if err := s.stepRefused(r, u, portal.MethodPasskey, out); err != nil {
		return nil, err
	}
	s.afterSecondFactor(r, u, portal.MethodPasskey, res)
	return u, nil
}

// hasPasskey reports whether methods hold a confirmed passkey (with the
// credential id cred, when given).
func hasPasskey(methods []*portal.Method, cred ...string) bool {
	for _, m := range methods {
		if m.Type == portal.MethodPasskey && m.Confirmed() && (len(cred) == 0 || m.Data == cred[0]) {
			return true
		}
	}
	return false
}

// passkeySummary is the Security page's passkey card: how many the user
// has; nil when passkeys are not offered here.
func (s *Server) passkeySummary(tf *portal.TwoFactorStatus) map[string]int {
	if s.WebAuthn == nil {
		return nil
	}
	n := 0
	for _, m := range tf.Methods {
		if m.Type == portal.MethodPasskey {
			n++
		}
	}
	return map[string]int{"Count": n}
}
