package web

import (
	"context"
	"errors"
	"fmt"
	"github.com/clientportal/portal/i18n"
	"net/http"
	"time"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/mfa"
)

// twoFactor loads a user's 2FA status.
func (s *Server) twoFactor(ctx context.Context, u *portal.User) (*portal.TwoFactorStatus, error) {
	methods, err := s.Store.UserMethods(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	st := &portal.TwoFactorStatus{Preferred: u.PreferredMethod}
	for _, m := range methods {
		if m.Confirmed() {
			st.Methods = append(st.Methods, m)
		}
	}
	st.Enabled = len(st.Methods) > 0
	if st.Enabled {
		if _, left, err := s.Store.BackupParams(ctx, u.ID); err == nil {
			st.BackupRemaining = left
		} else if !errors.Is(err, portal.ErrNotFound) {
			return nil, err
		}
	}
	return st, nil
}

// loginMethods lists the method types a user can use at the second step,
// preferred first, backup codes last.
func (s *Server) loginMethods(st *portal.TwoFactorStatus) []string {
	var out []string
	seen := map[string]bool{}
	add := func(t string) {
		if !seen[t] && s.Factors.Get(t) != nil {
			seen[t] = true
			out = append(out, t)
		}
	}
	if st.Preferred != "" {
		for _, m := range st.Methods {
			if m.Type == st.Preferred {
				add(m.Type)
			}
		}
	}
	for _, m := range st.Methods {
		add(m.Type)
	}
	if st.BackupRemaining > 0 {
		add(portal.MethodBackupCode)
	}
	return out
}

// matcher is a factor whose check has no side effect (TOTP): the use of
// the code is written with the attempt counters and the login itself, so
// a verification costs one transaction.
type matcher interface {
	Match(req *mfa.Request) (*mfa.Result, int64, error)
}

var _ matcher = (*mfa.TOTP)(nil)

// verifySecondFactor runs one second-factor attempt under the shared limit
// of SPEC §4: the attempt is taken (per account across all methods and
// logins, and per IP) before the outcome counts, in the same transaction
// that uses the code, so parallel guesses are exact. Malformed input is
// refused without counting; a wrong code counts.
//
// With step, a success only adds its writes (attempts, the code's use,
// counters to settle) to step, and the caller writes them with its session
// and checks the outcome with stepRefused; without, they are written now.
//
// binding is what codes sent by email or WhatsApp were bound to: the
// session (sign-in, re-authentication) or a password-reset link.
func (s *Server) verifySecondFactor(ctx context.Context, r *http.Request, u *portal.User, method, code, binding string, step *portal.LoginStep) (*mfa.Result, error) {
	return s.verifyFactor(ctx, r, u, method, code, binding, step, false)
}

// verifyFactor is verifySecondFactor, or with passwordless a sign-in by
// passkey alone (under the same limits, counters and records).
func (s *Server) verifyFactor(ctx context.Context, r *http.Request, u *portal.User, method, code, binding string, step *portal.LoginStep, passwordless bool) (*mfa.Result, error) {
	f := s.Factors.Get(method)
	if f == nil {
		return nil, portal.Errorf(portal.EINVALID, "Choose one of your two-factor methods.")
	}
	var methods []*portal.Method
	if method != portal.MethodBackupCode {
		all, err := s.Store.UserMethods(ctx, u.ID)
		if err != nil {
			return nil, err
		}
		for _, m := range all {
			if m.Confirmed() && m.Type == method {
				methods = append(methods, m)
			}
		}
		if len(methods) == 0 {
			return nil, portal.Msg(portal.EINVALID, "You have not set up {{.Method}}. Choose one of your methods.", "Method", i18n.Text(f.Label()))
		}
	}
	now := s.now()
	ip := portal.Attempt{Policy: portal.SecondFactorIPLimit, Key: state(r).ipKey}
	user := portal.Attempt{Policy: portal.SecondFactorUserLimit, Key: u.ID}
	if method == portal.MethodBackupCode {
		// A frozen account still takes a backup code (after the delay):
		// that is one way back for its owner.
		user.Policy = user.Policy.Unfrozen()
	}
	req := &mfa.Request{User: u, Methods: methods, Code: code, LoginID: binding, Now: now, Passwordless: passwordless}
	own := step == nil
	if own {
		step = &portal.LoginStep{}
	}
	settle := func() {
		step.At = now
		step.Reset = append(step.Reset, user)
		step.Release = append(step.Release, ip)
	}
	if m, ok := f.(matcher); ok {
		res, at, err := m.Match(req)
		if err == nil {
			// The store settles the counters of a new use itself.
			step.At, step.Take, step.Use = now, []portal.Attempt{ip, user}, &portal.StepUse{MethodID: res.Method.ID, Step: at}
			if own {
				if err := s.writeStep(ctx, r, u, method, step); err != nil {
					return nil, err
				}
				s.afterSecondFactor(r, u, method, res)
			}
			return res, nil
		} else if portal.ErrorCode(err) != portal.ECODE {
			return nil, err // malformed, or our failure: nothing counted
		}
		taken, terr := s.Store.TakeAttempts(ctx, now, ip, user)
		if terr != nil {
			return nil, terr
		} else if !taken.OK {
			return nil, refusal(taken)
		}
		return nil, s.wrongCode(r, u, method, taken.Counts[1], err)
	}

	if passwordless {
		return s.verifyPasswordless(ctx, r, u, f, req, ip, user, step)
	}
	taken, err := s.Store.TakeAttempts(ctx, now, ip, user)
	if err != nil {
		return nil, err
	} else if !taken.OK {
		return nil, refusal(taken)
	}
	res, err := f.Verify(ctx, req)
	bg := context.WithoutCancel(ctx)
	switch portal.ErrorCode(err) {
	case "":
		settle()
		if own {
			if err := s.writeStep(bg, r, u, method, step); err != nil {
				s.Logger.Error("settle attempt counters", logAttrs(r), "err", err)
			}
			s.afterSecondFactor(r, u, method, res)
		}
		return res, nil
	case portal.ECODE:
		s.counterRegressed(r, u, err)
		return nil, s.wrongCode(r, u, method, taken.Counts[1], err)
	default:
		if portal.ErrorCode(err) == portal.EUNAVAILABLE {
			s.Logger.Error("second factor could not be checked", logAttrs(r), "user_id", u.ID, "method", method, "err", err)
		}
		// Not a guess (malformed input, or our failure): give the attempt back.
		s.Store.ReleaseAttempt(bg, user.Policy, user.Key, now)
		s.Store.ReleaseAttempt(bg, ip.Policy, ip.Key, now)
		return nil, err
	}
}

// verifyPasswordless checks a sign-in by passkey alone. Anyone can send a
// passkey answer naming an account without holding any secret of it, and a
// signature cannot be guessed: so only the network's counter is taken
// before the check, and a failure counts there alone (strangers cannot
// lock the owner out, nor keep a lock going). The account's limit is
// checked with the success, in the step that starts the session (step.Take,
// cleared there by step.Reset): a locked or frozen account refuses it.
func (s *Server) verifyPasswordless(ctx context.Context, r *http.Request, u *portal.User, f mfa.Factor, req *mfa.Request, ip, user portal.Attempt, step *portal.LoginStep) (*mfa.Result, error) {
	taken, err := s.Store.TakeAttempts(ctx, req.Now, ip)
	if err != nil {
		return nil, err
	} else if !taken.OK {
		return nil, refusal(taken)
	}
	res, err := f.Verify(ctx, req)
	switch portal.ErrorCode(err) {
	case "":
		step.At = req.Now
		step.Take = append(step.Take, user)
		step.Reset = append(step.Reset, user)
		step.Release = append(step.Release, ip)
		return res, nil
	case portal.ECODE:
		s.counterRegressed(r, u, err)
		s.event(r, u.ID, portal.EventSecondFactorFailed, f.Label())
		return nil, err
	default:
		s.Store.ReleaseAttempt(context.WithoutCancel(ctx), ip.Policy, ip.Key, req.Now)
		return nil, err
	}
}

// writeStep writes a login step and turns a refused or replayed outcome
// into the error the user sees.
func (s *Server) writeStep(ctx context.Context, r *http.Request, u *portal.User, method string, step *portal.LoginStep) error {
	out, err := s.Store.StepLogin(ctx, step)
	if err != nil {
		return err
	}
	return s.stepRefused(r, u, method, out)
}

// stepRefused is the error of a login step whose attempt was refused by a
// limit or whose code was used already, or nil.
func (s *Server) stepRefused(r *http.Request, u *portal.User, method string, out *portal.StepOutcome) error {
	switch {
	case out.Stale:
		return errStaleLogin
	case out.Taken != nil && !out.Taken.OK:
		return refusal(out.Taken)
	case out.Replayed:
		return s.wrongCode(r, u, method, out.Taken.Counts[1], errCodeUsed)
	}
	return nil
}

// errCodeUsed answers a time-based code that was used already: the same
// code works once, so the person waits for the next one.
var errCodeUsed = portal.Errorf(portal.ECODE, "That code was already used. Wait for the next one (a new code every 30 seconds).")

// refusal is the 429 of a second-factor attempt over a limit: the IP's
// (counter 0) or the account's (counter 1).
func refusal(taken *portal.Taken) error {
	if taken.Frozen {
		return portal.RateLimited(taken.Retry, "Two-factor sign-in is frozen on this account after too many wrong codes. Use the unlock link we emailed you, a backup code, or ask support for help.")
	}
	if taken.Refused == 0 {
		return portal.RateLimited(taken.Retry, "Too many wrong codes from your network. Try again in {{.Wait}}.", "Wait", wait(taken.Retry))
	}
	return portal.RateLimited(taken.Retry, "Too many wrong codes. For your security, wait {{.Wait}} before trying again.", "Wait", wait(taken.Retry))
}

// wrongCode records a wrong code, the n-th in a row, and returns err.
func (s *Server) wrongCode(r *http.Request, u *portal.User, method string, n int, err error) error {
	label := method
	if f := s.Factors.Get(method); f != nil {
		label = f.Label()
	}
	s.event(r, u.ID, portal.EventSecondFactorFailed, label)
	s.Logger.Info("second factor failed", logAttrs(r), "user_id", u.ID, "method", method, "consecutive", n)
	p := portal.SecondFactorUserLimit
	switch {
	case p.Frozen(n):
		s.securityEvent(r, u, portal.EventSecondFactorFrozen, fmt.Sprintf("%d wrong codes in a row: two-factor sign-in is frozen until you unlock it.", n))
		if err := s.sendUnlockLink(r, u); err != nil {
			s.Logger.Error("queue unlock link", logAttrs(r), "user_id", u.ID, "err", err)
		}
	case p.NewLevel(n):
		s.securityEvent(r, u, portal.EventSecondFactorLocked, fmt.Sprintf("%d wrong codes in a row: each further try now waits %s.", n, wait(p.LockDelay(n))))
	}
	return err
}

// afterSecondFactor records what a success tells: drift, backup code use.
func (s *Server) afterSecondFactor(r *http.Request, u *portal.User, method string, res *mfa.Result) {
	if res.Method != nil && res.Method.Type != portal.MethodTOTP {
		s.Store.TouchMethod(context.WithoutCancel(r.Context()), res.Method.ID, s.now().Unix())
	}
	if res.Drift != 0 {
		s.event(r, u.ID, portal.EventClockDrift, driftNotice(res.Drift))
	}
	if res.BackupLeft >= 0 {
		s.securityEvent(r, u, portal.EventBackupUsed, fmt.Sprintf("%d backup codes left.", res.BackupLeft))
		if res.BackupLeft <= portal.LowBackupCodes {
			s.securityEvent(r, u, portal.EventBackupLow, fmt.Sprintf("Only %d backup codes left. Generate a new set on the Security page.", res.BackupLeft))
		}
	}
}

// driftNotice explains a clock drift to the user.
func driftNotice(drift int) string {
	dir := "ahead"
	if drift < 0 {
		dir = "behind"
	}
	return fmt.Sprintf("Your device's clock appears to be about 30 seconds %s. Turn on automatic date and time on the device with your authenticator app.", dir)
}

// resultNotice is the sentence shown after a successful second factor, in
// English; resultNoticeIn says it in a language.
func resultNotice(res *mfa.Result) string {
	return resultNoticeIn(i18n.English(), res)
}

// resultNoticeIn is the sentence shown after a successful second factor,
// in l's language ("" for none).
func resultNoticeIn(l *i18n.Localizer, res *mfa.Result) string {
	switch {
	case res.Drift > 0:
		return l.T("Your device's clock appears to be about 30 seconds ahead. Turn on automatic date and time on the device with your authenticator app.")
	case res.Drift < 0:
		return l.T("Your device's clock appears to be about 30 seconds behind. Turn on automatic date and time on the device with your authenticator app.")
	case res.BackupLeft >= 0 && res.BackupLeft <= portal.LowBackupCodes:
		return l.N("You signed in with a backup code. Only {{.Count}} are left: generate a new set below, and check that your two-factor methods still work.", res.BackupLeft)
	case res.BackupLeft >= 0:
		return l.N("You signed in with a backup code ({{.Count}} left). If you lost your device, check or reconfigure two-factor authentication below.", res.BackupLeft)
	}
	return ""
}

// wait says a duration the way a person would.
func wait(d time.Duration) i18n.Duration {
	if d < time.Second {
		d = time.Second
	}
	return i18n.Duration(d)
}

// sessionID is the current session's id (the login attempt), or "".
func sessionID(r *http.Request) string {
	if st := state(r); st.session != nil {
		return st.session.ID
	}
	return ""
}

// securityEvent records an event and emails the user about it.
func (s *Server) securityEvent(r *http.Request, u *portal.User, typ, detail string) {
	s.event(r, u.ID, typ, detail)
	s.notify(r.Context(), u, typ, detail, state(r).ip)
}

// notify emails a security notification; failures are logged, never shown.
func (s *Server) notify(ctx context.Context, u *portal.User, typ, detail, ip string) {
	if s.Notifier == nil {
		return
	}
	n := &portal.Notification{UserID: u.ID, To: u.Email, Name: u.Name, Kind: typ, Detail: detail, IP: ip, At: s.now().Unix(), Locale: s.mailLang(ctx, u).Code}
	if err := s.Notifier.Notify(context.WithoutCancel(ctx), n); err != nil {
		s.Logger.Error("notify", "user_id", u.ID, "kind", typ, "err", err)
	}
}

// secondStep completes a login at the second step: a new token at level
// full, recent authentication from now; the browser is remembered if asked,
// and a scheduled recovery reset is cancelled (the user can sign in). The
// attempt, the code's use, the session and the login's record are one
// transaction for TOTP.
func (s *Server) secondStep(ctx context.Context, w http.ResponseWriter, r *http.Request, method, code string, remember bool) (*mfa.Result, error) {
	st := state(r)
	if st.session.Level == portal.LevelFull {
		return nil, portal.Errorf(portal.ECONFLICT, "You are already signed in.")
	}
	u := st.user
	step := &portal.LoginStep{CancelRecoveries: true}
	res, err := s.verifySecondFactor(ctx, r, u, method, code, sessionID(r), step)
	if err != nil {
		return nil, err
	}
	st.amr = secondFactorAMR(method)
	out, err := s.startSessionWith(ctx, w, r, u, portal.LevelFull, true, step)
	if err != nil {
		return nil, err
	} else if err := s.stepRefused(r, u, method, out); err != nil {
		return nil, err
	}
	s.afterSecondFactor(r, u, method, res)
	if remember {
		if err := s.rememberBrowser(ctx, w, r, u); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// reauthenticate proves password and, for users with 2FA, a second factor,
// and starts sudo mode (SPEC §3).
func (s *Server) reauthenticate(ctx context.Context, r *http.Request, pw, method, code string) error {
	st := state(r)
	if _, err := s.checkPassword(ctx, r, st.user.Email, pw, nil); err != nil {
		if portal.ErrorCode(err) == portal.ECREDENTIALS {
			return &portal.Error{Code: portal.ECREDENTIALS, Message: "Incorrect password.", Field: "password"}
		}
		return err
	}
	tf, err := s.twoFactor(ctx, st.user)
	if err != nil {
		return err
	}
	if tf.Enabled {
		if method == "" {
			method = tf.Preferred
		}
		if code == "" {
			return &portal.Error{Code: portal.EINVALID, Message: "Enter a code from your two-factor method as well.", Field: "code"}
		}
		// A proved second factor cancels a recovery waiting to remove
		// it, as a sign-in does.
		step := &portal.LoginStep{CancelRecoveries: true, User: st.user.ID}
		res, err := s.verifySecondFactor(ctx, r, st.user, method, code, sessionID(r), step)
		if err != nil {
			return err
		}
		out, err := s.Store.StepLogin(ctx, step)
		if err != nil {
			return err
		} else if err := s.stepRefused(r, st.user, method, out); err != nil {
			return err
		}
		s.afterSecondFactor(r, st.user, method, res)
		s.recoveryCancelled(r, st.user, out)
	}
	now := s.now().Unix()
	if err := s.Store.SetSessionReauth(ctx, st.session.ID, now); err != nil {
		return err
	}
	st.session.ReauthAt = now
	s.event(r, st.user.ID, portal.EventReauthenticated, "")
	return nil
}

// disableTwoFactor turns 2FA off after password and a current code: every
// method, backup code and remembered browser goes, other sessions end.
func (s *Server) disableTwoFactor(ctx context.Context, r *http.Request, pw, method, code string) error {
	st := state(r)
	tf, err := s.twoFactor(ctx, st.user)
	if err != nil {
		return err
	}
	if !tf.Enabled {
		return portal.Errorf(portal.ECONFLICT, "Two-factor authentication is not turned on.")
	}
	if must, err := s.mustUseTwoFactor(ctx, st.user); err != nil {
		return err
	} else if must {
		return portal.Msg(portal.ECONFLICT, errRequired(st.user))
	}
	if _, err := s.checkPassword(ctx, r, st.user.Email, pw, nil); err != nil {
		if portal.ErrorCode(err) == portal.ECREDENTIALS {
			return &portal.Error{Code: portal.ECREDENTIALS, Message: "Incorrect password.", Field: "password"}
		}
		return err
	}
	if method == "" {
		method = tf.Preferred
		if _, err := mfa.NormalizeBackupCode(code); err == nil {
			method = portal.MethodBackupCode
		}
	}
	if _, err := s.verifySecondFactor(ctx, r, st.user, method, code, sessionID(r), nil); err != nil {
		return err
	}
	rec, err := s.record(r, st.user, portal.EventTwoFactorDisabled, "All two-factor methods and backup codes were removed and other sessions signed out.")
	if err != nil {
		return err
	}
	if err := s.Store.DisableTwoFactor(ctx, st.user.ID, st.session.ID, rec); err != nil {
		return err
	}
	s.queued()
	s.renewDevice(ctx, r)
	st.user.PreferredMethod = ""
	// A requirement switched on while this ran did not see this session
	// (2FA was still on): read it again now that 2FA is off, and if it
	// applies, this session reaches only the set-up pages, as every other
	// session of a user without 2FA does (and as a sign-in does).
	if must, err := s.mustUseTwoFactor(ctx, st.user); err != nil {
		return err
	} else if must {
		fresh, err := s.Store.UserByID(ctx, st.user.ID)
		if err != nil {
			return err
		}
		if _, err := s.startSessionWith(ctx, st.w, r, fresh, portal.LevelSetup, true, &portal.LoginStep{At: s.now()}); err != nil {
			return err
		}
	}
	return nil
}

// errRequired says why u cannot turn two-factor authentication off.
func errRequired(u *portal.User) string {
	if u.IsStaff() {
		return "Two-factor authentication is required for staff, so it cannot be turned off. You can add another method, or replace one by adding the new one first."
	}
	return "Two-factor authentication is required for your account, so it cannot be turned off. You can add another method, or replace one by adding the new one first."
}

// ResetTwoFactor removes a user's 2FA on behalf of staff (or the command
// line): every method and backup code goes, every session ends, the user is
// told why. The reason is checked as free text: the command line passes it
// straight from its arguments.
func (s *Server) ResetTwoFactor(ctx context.Context, userID, actorID, reason string) error {
	if err := portal.CheckText("reason", reason, portal.MultiLine); err != nil {
		return err
	}
	_, err := s.resetTwoFactor(ctx, userID, actorID, reason, "")
	return err
}

// resetTwoFactor resets a user's 2FA, completing the recovery request
// given (if any) in the same transaction; false when that request was no
// longer due.
func (s *Server) resetTwoFactor(ctx context.Context, userID, actorID, reason, recovery string) (bool, error) {
	u, err := s.Store.UserByID(ctx, userID)
	if err != nil {
		return false, err
	}
	now := s.now().Unix()
	detail := "Reason: " + reason
	reset := &portal.Reset{UserID: u.ID, Recovery: recovery, At: now,
		Event: &portal.Event{UserID: u.ID, ActorID: actorID, Type: portal.EventAdminReset, Detail: detail, CreatedAt: now}}
	if s.Notifier != nil {
		n := &portal.Notification{UserID: u.ID, To: u.Email, Name: u.Name, Kind: portal.EventAdminReset,
			Detail: detail + "\n" + i18n.English().T("You will be asked to set up two-factor authentication again."), At: now, Locale: s.mailLang(ctx, u).Code}
		if reset.Notice, err = s.Notifier.Message(n); err != nil {
			return false, err
		}
	}
	done, err := s.Store.ResetTwoFactor(ctx, reset)
	if done {
		s.queued()
	}
	return done, err
}

// queued tells the notifier that messages it rendered were committed.
func (s *Server) queued() {
	if s.Notifier != nil {
		s.Notifier.Queued()
	}
}

// enableFirstOrAdd confirms a pending method. When it is the user's first,
// backup codes are generated in the same transaction and returned.
func (s *Server) confirmMethod(ctx context.Context, r *http.Request, m *portal.Method) ([]string, error) {
	u := state(r).user
	codes, set, err := s.Backup.NewSet(ctx, u.ID, s.now().Unix())
	if err != nil {
		return nil, err
	}
	label := s.Factors.Get(m.Type).Label()
	enabledNow, err := s.Store.ConfirmMethod(ctx, m, set, s.now().Unix(), state(r).session.ID, func(first bool) *portal.Record {
		typ, detail := portal.EventMethodAdded, label+" added."
		if first {
			typ, detail = portal.EventTwoFactorEnabled, label+" added. Backup codes were generated and your other sessions were signed out."
		}
		rec, err := s.record(r, u, typ, detail)
		if err != nil {
			// A notice that cannot be rendered must not undo the change.
			s.Logger.Error("render notice", logAttrs(r), "kind", typ, "err", err)
			return &portal.Record{Event: s.newEvent(r, u.ID, typ, detail), Session: sessionID(r)}
		}
		return rec
	})
	if err != nil {
		return nil, err
	}
	s.queued()
	if enabledNow {
		// 2FA on moved the user's credential epoch (every other session
		// ended); this session moved with it.
		fresh, err := s.Store.UserByID(ctx, u.ID)
		if err != nil {
			return nil, err
		}
		u.AuthEpoch = fresh.AuthEpoch
		state(r).session.AuthEpoch = fresh.AuthEpoch
		s.renewDevice(ctx, r)
		// This session has now seen the password and the new factor.
		if sess := state(r).session; sess.Level == portal.LevelFull {
			sess.AMR = secondFactorAMR(m.Type)
			if err := s.Store.SetSessionAMR(ctx, sess.ID, sess.AMR); err != nil {
				return nil, err
			}
		}
	}
	if st := state(r); st.session.Level == portal.LevelSetup {
		// The required second factor is in place: the login is complete.
		st.amr = secondFactorAMR(m.Type)
		if _, err := s.startSession(ctx, st.w, r, u, portal.LevelFull, true); err != nil {
			return nil, err
		}
	}
	if enabledNow {
		return codes, nil
	}
	return nil, nil
}

// record is a security event of this request and the user's notice of it,
// to be written in the same transaction as the change (SPEC §4: every
// change is notified).
func (s *Server) record(r *http.Request, u *portal.User, typ, detail string) (*portal.Record, error) {
	rec := &portal.Record{Event: s.newEvent(r, u.ID, typ, detail), Session: sessionID(r)}
	if s.Notifier != nil {
		var err error
		rec.Notice, err = s.Notifier.Message(&portal.Notification{UserID: u.ID, To: u.Email, Name: u.Name, Kind: typ, Detail: detail, IP: state(r).ip, At: s.now().Unix(), Locale: s.userLang(r, u).Code})
		if err != nil {
			return nil, err
		}
	}
	return rec, nil
}

// regenerateBackupCodes replaces the whole set (recent authentication).
func (s *Server) regenerateBackupCodes(ctx context.Context, r *http.Request) ([]string, error) {
	if err := s.requireRecent(r); err != nil {
		return nil, err
	}
	u := state(r).user
	tf, err := s.twoFactor(ctx, u)
	if err != nil {
		return nil, err
	}
	if !tf.Enabled {
		return nil, portal.Errorf(portal.ECONFLICT, "Turn on two-factor authentication first; backup codes come with it.")
	}
	codes, set, err := s.Backup.NewSet(ctx, u.ID, s.now().Unix())
	if err != nil {
		return nil, err
	}
	rec, err := s.record(r, u, portal.EventBackupGenerated, "The previous backup codes no longer work.")
	if err != nil {
		return nil, err
	}
	if err := s.Store.ReplaceBackupSet(ctx, set, rec); err != nil {
		return nil, err
	}
	s.queued()
	return codes, nil
}

// removeMethod deletes one method (recent authentication). The last one
// cannot go this way: that is turning 2FA off, which has its own checks.
// The store decides that in the delete's own transaction.
func (s *Server) removeMethod(ctx context.Context, r *http.Request, id string) error {
	if err := s.requireRecent(r); err != nil {
		return err
	}
	u := state(r).user
	tf, err := s.twoFactor(ctx, u)
	if err != nil {
		return err
	}
	var target *portal.Method
	for _, m := range tf.Methods {
		if m.ID == id {
			target = m
		}
	}
	if target == nil {
		return portal.Errorf(portal.ENOTFOUND, "That method does not exist.")
	}
	rec, err := s.record(r, u, portal.EventMethodRemoved, s.Factors.Get(target.Type).Label()+methodName(s.Factors.Get(target.Type).Label(), target)+" removed.")
	if err != nil {
		return err
	}
	if err := s.Store.DeleteMethod(ctx, u.ID, id, rec); err == portal.ErrLastMethod {
		if must, merr := s.mustUseTwoFactor(ctx, u); merr == nil && must {
			return portal.Msg(portal.ECONFLICT, "This is your only two-factor method. {{.Required}}", "Required", i18n.Text(errRequired(u)))
		}
		return err
	} else if err != nil {
		return err
	}
	s.queued()
	if target.Type == portal.MethodPasskey {
		// The removal moved the credential epoch on (every other
		// session ended); this session moved with it.
		fresh, err := s.Store.UserByID(ctx, u.ID)
		if err != nil {
			return err
		}
		u.AuthEpoch = fresh.AuthEpoch
		state(r).session.AuthEpoch = fresh.AuthEpoch
		s.renewDevice(ctx, r)
	}
	return nil
}

// secondFactorAMR is the amr (RFC 8176) of a sign-in with the password and
// a second factor of type method: "hwk" for security keys (proof of a
// hardware key), "otp" for every kind of one-time code.
func secondFactorAMR(method string) string {
	if method == portal.MethodWebAuthn || method == portal.MethodPasskey {
		return "pwd hwk mfa"
	}
	return "pwd otp mfa"
}

// methodName is the “name” after a method's label in an event's detail,
// when the person named it otherwise.
func methodName(label string, m *portal.Method) string {
	if m.Name == "" || m.Name == label {
		return ""
	}
	return " “" + m.Name + "”"
}

// namedMethod says a method in l's language: its label (a message ID),
// and the name the person gave it when that is not the label.
func namedMethod(l *i18n.Localizer, label string, m *portal.Method) string {
	if m.Name == "" || m.Name == label {
		return i18n.Text(label).Localize(l)
	}
	return l.T("{{.Method}} “{{.Name}}”", "Method", i18n.Text(label), "Name", m.Name)
}

// writeConfirmed answers a confirmed enrolment (SPEC §11): the method, and
// the backup codes when 2FA was just turned on.
func writeConfirmed(w http.ResponseWriter, m *portal.Method, codes []string) error {
	out := map[string]any{"method": methodJSON(m)}
	if codes != nil {
		// 2FA just turned on: the user's other sessions were ended.
		out["backup_codes"] = codes
		out["other_sessions_ended"] = true
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// showConfirmed ends an enrolment in the browser: the backup codes page
// when 2FA was just turned on, the Security page otherwise.
func (s *Server) showConfirmed(w http.ResponseWriter, r *http.Request, codes []string) error {
	if codes == nil {
		s.setFlash(w, "method_added")
		redirect(w, r, "/account/security")
		return nil
	}
	s.showBackupCodes(w, r, codes, true)
	return nil
}
