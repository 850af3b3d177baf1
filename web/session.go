package web

import (
	"context"
	"net/http"
	"time"

	"github.com/clientportal/portal"
)

// touchEvery limits last-seen writes to one per minute per session.
const touchEvery = 60

// secure reports whether cookies get the Secure flag and __Host- prefix.
func (s *Server) secure() bool { return s.BaseURL != nil && s.BaseURL.Scheme == "https" }

// cookieName is the session cookie's name (SPEC §3).
func (s *Server) cookieName() string {
	if s.secure() {
		return "__Host-portal_session"
	}
	return "portal_session"
}

// loadSession finds the session named by the cookie, ends it if it expired,
// and records activity for the idle timeout.
func (s *Server) loadSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := state(r)
		c, err := r.Cookie(s.cookieName())
		if err != nil {
			next.ServeHTTP(w, r)
			return
		}
		id, ok := portal.SessionID(c.Value)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		sess, user, err := s.Store.SessionByID(r.Context(), id)
		switch {
		case err == nil && !user.Disabled && !s.Sessions.Expired(sess, s.now()):
			st.session, st.user = sess, user
			if now := s.now().Unix(); now-sess.LastSeenAt >= touchEvery {
				// Recorded after the request, unless the request replaced
				// or ended the session itself (a login step does, in its
				// own transaction): then there is nothing left to touch.
				defer func() {
					if st.session != nil && st.session.ID == id {
						if err := s.Store.TouchSession(context.WithoutCancel(r.Context()), id, now); err != nil {
							s.Logger.Warn("touch session", "request_id", st.id, "err", err)
						}
					}
				}()
			}
		case err == nil:
			// Expired or disabled: end it server-side too.
			s.Store.DeleteSession(r.Context(), id)
			s.clearCookie(w)
		case portal.ErrorCode(err) == portal.ENOTFOUND:
			s.clearCookie(w)
		default:
			s.Error(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// startSession replaces the caller's session (if any) with a new one at
// level for user: a new token at every login step, the old one dead. A
// session at level full completes the login, which is recorded.
func (s *Server) startSession(ctx context.Context, w http.ResponseWriter, r *http.Request, user *portal.User, level string, reauth bool) (*portal.Session, error) {
	if _, err := s.startSessionWith(ctx, w, r, user, level, reauth, &portal.LoginStep{At: s.now()}); err != nil {
		return nil, err
	}
	return state(r).session, nil
}

// startWithout2FA starts a session for a user without 2FA: full, or one
// that reaches only the set-up pages when a requirement applies to them.
// The requirement is read again after a full session is written: one
// switched on meanwhile either saw that session (and dropped it to
// set-up) or is seen here, and the session is replaced by a set-up one.
// It reports whether the session is a set-up one.
func (s *Server) startWithout2FA(ctx context.Context, w http.ResponseWriter, r *http.Request, user *portal.User, reauth bool, step *portal.LoginStep) (setup bool, err error) {
	must, err := s.mustUseTwoFactor(ctx, user)
	if err != nil {
		return false, err
	}
	if !must {
		if _, err := s.startSessionWith(ctx, w, r, user, portal.LevelFull, reauth, step); err != nil {
			return false, err
		}
		if must, err = s.mustUseTwoFactor(ctx, user); err != nil || !must {
			return false, err
		}
		step = &portal.LoginStep{At: s.now()}
	}
	if _, err := s.startSessionWith(ctx, w, r, user, portal.LevelSetup, true, step); err != nil {
		return false, err
	}
	return true, nil
}

// startSessionWith is startSession writing step's other changes (attempts,
// a TOTP step's use, counters, cancelled recoveries) in the same
// transaction. When step's attempt was refused or its code used already,
// nothing was written and no session starts: the outcome tells.
func (s *Server) startSessionWith(ctx context.Context, w http.ResponseWriter, r *http.Request, user *portal.User, level string, reauth bool, step *portal.LoginStep) (*portal.StepOutcome, error) {
	st := state(r)
	token, id := portal.NewSessionToken(step.At)
	now := step.At.Unix()
	sess := &portal.Session{ID: id, UserID: user.ID, Level: level, CreatedAt: now, LastSeenAt: now, AuthEpoch: user.AuthEpoch, UserAgent: userAgent(r), IP: st.ip, AMR: st.amr}
	if sess.AMR == "" {
		sess.AMR = "pwd"
	}
	if st.session != nil {
		step.Ends = st.session.ID
		if st.session.UserID == user.ID {
			// The absolute timeout runs from the first step of this login.
			sess.CreatedAt = st.session.CreatedAt
		}
	}
	if reauth {
		sess.ReauthAt = now
	}
	step.Session = sess
	device := ""
	if level == portal.LevelFull {
		device = s.knownDevice(r)
		step.Device = portal.HashToken(device)
		step.Complete = true
		step.Event = s.newEvent(r, user.ID, portal.EventLoginSucceeded, "")
	}
	out, err := s.Store.StepLogin(ctx, step)
	if err != nil {
		return nil, err
	} else if out.Stale {
		return nil, errStaleLogin
	} else if (out.Taken != nil && !out.Taken.OK) || out.Replayed {
		return out, nil
	}
	if level == portal.LevelFull {
		s.noteSignIn(w, r, user, sess, device, out.NewDevice && out.OtherDevices)
	}
	http.SetCookie(w, &http.Cookie{
		Name: s.cookieName(), Value: token, Path: "/", HttpOnly: true, Secure: s.secure(),
		SameSite: http.SameSiteLaxMode, MaxAge: int(s.Sessions.Absolute / time.Second),
	})
	st.session, st.user = sess, user
	if step.Complete {
		s.metrics.logins.WithLabelValues("success").Inc()
	}
	s.recoveryCancelled(r, user, out)
	return out, nil
}

// recoveryCancelled records that a step cancelled the user's recovery
// requests, if it did.
func (s *Server) recoveryCancelled(r *http.Request, user *portal.User, out *portal.StepOutcome) {
	if out.Cancelled > 0 {
		s.securityEvent(r, user, portal.EventRecoveryCancelled, "You signed in with your two-factor method, so the pending recovery request was cancelled.")
	}
}

// errStaleLogin answers a sign-in whose user's credentials changed while it
// ran: its session would be dead, so none is given.
var errStaleLogin = portal.Errorf(portal.EUNAUTHORIZED, "Your password or two-factor settings changed while you were signing in. Sign in again.")

// endSession logs the caller out.
func (s *Server) endSession(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	st := state(r)
	if st.session == nil {
		return nil
	}
	if err := s.Store.DeleteSession(ctx, st.session.ID); err != nil {
		return err
	}
	s.event(r, st.user.ID, portal.EventLogout, "")
	s.clearCookie(w)
	st.session = nil
	return nil
}

func (s *Server) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(), Value: "", Path: "/", HttpOnly: true, Secure: s.secure(), SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

// requireRecent refuses a sensitive change unless the session is in sudo
// mode (SPEC §3).
func (s *Server) requireRecent(r *http.Request) error {
	if st := state(r); st.token != nil || (st.session != nil && s.Sessions.RecentlyAuthenticated(st.session, s.now())) {
		// An API token is its own proof: it is checked on every request.
		return nil
	}
	return portal.Errorf(portal.EREAUTH, "For your security, confirm your password before making this change.")
}

// event records a security event; a failure to record is logged, not fatal.
func (s *Server) event(r *http.Request, userID, typ, detail string) {
	if err := s.Store.AddEvent(context.WithoutCancel(r.Context()), s.newEvent(r, userID, typ, detail)); err != nil {
		s.Logger.Error("record security event", "request_id", state(r).id, "type", typ, "err", err)
	}
}

// newEvent describes a security event of this request.
func (s *Server) newEvent(r *http.Request, userID, typ, detail string) *portal.Event {
	st := state(r)
	e := &portal.Event{UserID: userID, Type: typ, IP: st.ip, UserAgent: userAgent(r), Detail: detail, CreatedAt: s.now().Unix()}
	if st.user != nil && st.user.ID != userID {
		e.ActorID = st.user.ID
	}
	return e
}

// userAgent is the request's User-Agent as stored with sessions, events and
// remembered browsers: valid text of at most 256 bytes, whatever was sent.
func userAgent(r *http.Request) string { return portal.CleanText(r.UserAgent(), 256) }
