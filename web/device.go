package web

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/clientportal/portal"
)

// Device cookies keep a stranger from locking an owner out (the security
// review's finding 8). Failed passwords for an account count on one shared
// counter (portal.PasswordAccountLimit), which anyone can fill by guessing.
// A browser that signed in to the account before holds a device cookie,
// signed for that account; its failures count on a counter of its own
// (portal.PasswordDeviceLimit), so failures from elsewhere never lock it.
// Guessing from new browsers stays bounded by the shared counter and the
// per-network limit; a stolen device cookie buys one more counter, not a
// way around the password.

// deviceFor is how long a device cookie lasts.
const deviceFor = 365 * 24 * time.Hour

// deviceCookie is the device cookie's name.
func (s *Server) deviceCookie() string {
	if s.secure() {
		return "__Host-portal_device"
	}
	return "portal_device"
}

// accountAttempt is the account counter a password attempt for the account
// key (a normalised email) counts on: the device's own when the request
// holds a device cookie signed for that user at their current credentials,
// the shared one otherwise (also for an unknown address).
func (s *Server) accountAttempt(r *http.Request, key string, u *portal.User) portal.Attempt {
	if nonce := s.deviceNonce(r, u); nonce != "" {
		return portal.Attempt{Policy: portal.PasswordDeviceLimit, Key: key + " " + nonce}
	}
	return portal.Attempt{Policy: portal.PasswordAccountLimit, Key: key}
}

// deviceNonce is the nonce of the request's device cookie when it is signed
// for u at u's credential epoch and its year is not over, or "".
func (s *Server) deviceNonce(r *http.Request, u *portal.User) string {
	if s.Keys == nil || u == nil {
		return ""
	}
	c, err := r.Cookie(s.deviceCookie())
	if err != nil || len(c.Value) > 200 {
		return ""
	}
	parts := strings.Split(c.Value, "~")
	if len(parts) != 3 || len(parts[0]) != 22 {
		return ""
	}
	nonce, mac := parts[0], parts[2]
	// The year is signed with the cookie: the browser's Max-Age alone
	// would leave a copied cookie good for ever.
	until, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || s.now().Unix() >= until || !s.Keys.VerifyMAC(deviceData(u, nonce, until), mac) {
		return ""
	}
	return nonce
}

// deviceData is what a device cookie signs: the user, their credential
// epoch (a password change or a reset voids every cookie given before),
// the cookie's nonce and when it stops working.
func deviceData(u *portal.User, nonce string, until int64) string {
	return "device cookie\x00" + u.ID + "\x00" + strconv.FormatInt(u.AuthEpoch, 10) + "\x00" + nonce + "\x00" + strconv.FormatInt(until, 10)
}

// rememberDevice gives a browser that just proved u's password a device
// cookie, unless its attempt already counted as that device's.
func (s *Server) rememberDevice(r *http.Request, u *portal.User, counted portal.Attempt) {
	if s.Keys == nil || counted.Policy.Name == portal.PasswordDeviceLimit.Name {
		return
	}
	nonce := base64.RawURLEncoding.EncodeToString(portal.RandomToken(16))
	until := s.now().Add(deviceFor).Unix()
	value := nonce + "~" + strconv.FormatInt(until, 10) + "~" + s.Keys.MAC(deviceData(u, nonce, until))
	http.SetCookie(state(r).w, &http.Cookie{Name: s.deviceCookie(), Value: value, Path: "/",
		HttpOnly: true, Secure: s.secure(), SameSite: http.SameSiteLaxMode, MaxAge: int(deviceFor / time.Second)})
}

// renewDevice gives the browser of a request whose session moved with the
// user's credential epoch (a password change, 2FA turned on or off) a
// device cookie of the new credentials: the one it had is void now, and
// without a new one the user's own browser would stop counting as theirs
// (mail language, the password's per-device counter) until a new sign-in.
// The user is read with the session, in one query: a change that ended
// this session meanwhile (the owner securing the account, a reset) made
// credentials this browser never proved, and it gets no cookie of them.
func (s *Server) renewDevice(ctx context.Context, r *http.Request) {
	_, fresh, err := s.Store.SessionByID(ctx, state(r).session.ID)
	if err != nil {
		if !errors.Is(err, portal.ErrNotFound) {
			s.Logger.Warn("renew device cookie", logAttrs(r), "err", err)
		}
		return
	}
	s.rememberDevice(r, fresh, portal.Attempt{})
}
