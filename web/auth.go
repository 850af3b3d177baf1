package web

import (
	"context"
	"errors"
	"net/http"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/password"
)

// errCredentials is the one answer for an unknown email, a wrong password
// and a disabled account: same body, same status.
var errCredentials = portal.Errorf(portal.ECREDENTIALS, "Incorrect email or password.")

// register creates an account with the user as its owner.
func (s *Server) register(ctx context.Context, r *http.Request, email, name, pw string) (*portal.User, error) {
	if !s.Registration {
		return nil, portal.Errorf(portal.EFORBIDDEN, "Registration is closed. Ask your provider for an account.")
	}
	// Per network: whether an address is taken shows (409), so a stranger
	// may learn it of a few addresses, not of a list.
	if err := s.quota(ctx, "Too many accounts were created from your network. Try again in {{.Wait}}.", portal.Attempt{Policy: portal.RegisterIPLimit, Key: state(r).ipKey}); err != nil {
		return nil, err
	}
	u, err := s.newUser(ctx, email, name, pw, portal.RoleOwner)
	if err != nil {
		return nil, err
	}
	acct := &portal.Account{ID: portal.NewID(), Name: u.Name, CreatedAt: u.CreatedAt}
	u.AccountID = acct.ID
	if err := s.Store.CreateUser(ctx, u, acct); err != nil {
		return nil, err
	}
	// The request is the new user's own: its mail (the verification
	// link) is in its language.
	state(r).creating = u.ID
	return u, nil
}

// newUser validates the fields of a new user and hashes the password.
func (s *Server) newUser(ctx context.Context, email, name, pw, role string) (*portal.User, error) {
	_, display, err := portal.NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	if name, err = portal.NormalizeName(name); err != nil {
		return nil, err
	}
	if err := password.Validate(pw, display); err != nil {
		return nil, err
	}
	hash, err := s.Hasher.Hash(ctx, pw)
	if err != nil {
		return nil, err
	}
	return &portal.User{ID: portal.NewID(), Email: display, Name: name, Role: role, PasswordHash: hash, CreatedAt: s.now().Unix()}, nil
}

// checkPassword is the first factor with every guard of SPEC §2: the IP and
// account limits are taken before hashing (so parallel guesses are counted
// exactly), unknown users cost a dummy hash, and all failures look alike.
// A success settles the counters in step, written by the caller with its
// session, or at once when step is nil.
func (s *Server) checkPassword(ctx context.Context, r *http.Request, email, pw string, step *portal.LoginStep) (*portal.User, error) {
	key, _, err := portal.NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	if pw == "" {
		return nil, &portal.Error{Code: portal.EINVALID, Message: "Enter your password.", Field: "password"}
	}
	if len(pw) > 1024 {
		// Longer than any valid password: fail without hashing megabytes.
		pw = pw[:1024]
	}
	// The account is looked up first (the same read for every address):
	// a device cookie counts only for the user it was signed for, at the
	// credentials it was signed with.
	user, err := s.Store.UserByEmail(ctx, key)
	if err != nil && !errors.Is(err, portal.ErrNotFound) {
		return nil, err
	}
	now := s.now()
	ip := portal.Attempt{Policy: portal.PasswordIPLimit, Key: state(r).ipKey}
	account := s.accountAttempt(r, key, user)
	taken, err := s.Store.TakeAttempts(ctx, now, ip, account)
	if err != nil {
		return nil, err
	} else if !taken.OK && taken.Refused == 0 {
		return nil, portal.RateLimited(taken.Retry, "Too many failed sign-in attempts from your network. Try again later.")
	} else if !taken.OK {
		return nil, portal.RateLimited(taken.Retry, "Too many failed sign-in attempts for this account. Try again later.")
	}
	n := taken.Counts[1]
	// Give the reserved attempts back when the check itself could not run.
	release := func() {
		s.Store.ReleaseAttempt(context.WithoutCancel(ctx), ip.Policy, ip.Key, now)
		s.Store.ReleaseAttempt(context.WithoutCancel(ctx), account.Policy, account.Key, now)
	}

	if user == nil {
		if err := s.Hasher.VerifyDummy(ctx, pw); err != nil {
			release()
			return nil, err
		}
		s.metrics.logins.WithLabelValues("failure").Inc()
		return nil, errCredentials
	}
	match, rehash, err := s.Hasher.Verify(ctx, user.PasswordHash, pw)
	if err != nil {
		release()
		return nil, err
	}
	if !match || user.Disabled {
		s.metrics.logins.WithLabelValues("failure").Inc()
		s.event(r, user.ID, portal.EventLoginFailed, "Wrong password")
		if n == portal.PasswordAccountLimit.Threshold {
			s.event(r, user.ID, portal.EventLoginLocked, "")
		}
		return nil, errCredentials
	}
	// Success: the consecutive count starts again and the IP keeps only failures.
	settle := step
	if settle == nil {
		settle = &portal.LoginStep{}
	}
	settle.At = now
	settle.Reset = append(settle.Reset, account)
	settle.Release = append(settle.Release, ip)
	if step == nil {
		if _, err := s.Store.StepLogin(context.WithoutCancel(ctx), settle); err != nil {
			s.Logger.Error("settle attempt counters", logAttrs(r), "err", err)
		}
	}
	s.rememberDevice(r, user, account)
	if rehash {
		if h, err := s.Hasher.Hash(ctx, pw); err == nil {
			if err := s.Store.UpdatePasswordHash(ctx, user.ID, h); err == nil {
				user.PasswordHash = h
			}
		}
	}
	return user, nil
}

// loginResult is what the password step leads to.
type loginResult struct {
	Status    string    `json:"status"`
	User      *userJSON `json:"user,omitempty"`
	Methods   []string  `json:"methods,omitempty"`
	Preferred string    `json:"preferred,omitempty"`
}

// login runs the password step and starts the session it earns: level
// password when a second factor is due, full otherwise. Either way the
// token is new.
func (s *Server) login(ctx context.Context, w http.ResponseWriter, r *http.Request, email, pw string) (*loginResult, error) {
	step := &portal.LoginStep{}
	user, err := s.checkPassword(ctx, r, email, pw, step)
	if err != nil {
		return nil, err
	}
	tf, err := s.twoFactor(ctx, user)
	if err != nil {
		return nil, err
	}
	// Without 2FA the password just given is recent authentication; with
	// it, only password and code are.
	recent := !tf.Enabled
	if !tf.Enabled {
		setup, err := s.startWithout2FA(ctx, w, r, user, recent, step)
		if err != nil {
			return nil, err
		} else if setup {
			return &loginResult{Status: "2fa_setup_required"}, nil
		}
		return &loginResult{Status: "authenticated", User: toUserJSON(user)}, nil
	}
	remembered, err := s.rememberedBrowser(ctx, r, user)
	if err != nil {
		return nil, err
	}
	if !remembered {
		if _, err := s.startSessionWith(ctx, w, r, user, portal.LevelPassword, false, step); err != nil {
			return nil, err
		}
		res := &loginResult{Status: "2fa_required", Methods: s.loginMethods(tf)}
		// None when every method is of a kind no longer offered and no
		// backup code is left: the page leads to recovery.
		if len(res.Methods) > 0 {
			res.Preferred = res.Methods[0]
		}
		return res, nil
	}
	// A remembered browser skips the login code, never the password, and
	// never the code that sensitive changes ask for: the session starts
	// outside sudo mode, so a stolen remember cookie and the password
	// change nothing without a code (SPEC §3). Nor does it cancel a
	// recovery: it proves no factor is still at hand (the phone may be the
	// very thing that was lost).
	if _, err := s.startSessionWith(ctx, w, r, user, portal.LevelFull, recent, step); err != nil {
		return nil, err
	}
	return &loginResult{Status: "authenticated", User: toUserJSON(user)}, nil
}

// changePassword replaces the password after checking the current one,
// always (OWASP ASVS: a password change needs the current and the new
// password). A user with 2FA must also be in sudo mode (password and code
// within 10 minutes); for a user without, the current password is that
// proof. Every other session, remembered browser and pending email-change
// link ends with the old password, in the change's transaction.
func (s *Server) changePassword(ctx context.Context, r *http.Request, current, next string) error {
	st := state(r)
	if current == "" {
		return &portal.Error{Code: portal.EINVALID, Message: "Enter your current password.", Field: "current_password"}
	}
	tf, err := s.twoFactor(ctx, st.user)
	if err != nil {
		return err
	}
	if tf.Enabled {
		if err := s.requireRecent(r); err != nil {
			return err
		}
		if _, err := s.checkPassword(ctx, r, st.user.Email, current, nil); err != nil {
			return err
		}
	} else if err := s.reauthenticate(ctx, r, current, "", ""); err != nil {
		return err
	}
	if err := password.Validate(next, st.user.Email); err != nil {
		return err
	}
	hash, err := s.Hasher.Hash(ctx, next)
	if err != nil {
		return err
	}
	rec, err := s.record(r, st.user, portal.EventPasswordChanged, "Other sessions were signed out, remembered browsers forgotten and pending email changes cancelled.")
	if err != nil {
		return err
	}
	if err := s.Store.ChangePassword(ctx, st.user.ID, hash, st.session.ID, rec); err != nil {
		return err
	}
	s.queued()
	s.renewDevice(ctx, r)
	return nil
}

// CreateUser creates a user from the command line: staff without an account,
// anyone else as the owner of a new account.
func (s *Server) CreateUser(ctx context.Context, email, name, pw, role string) (*portal.User, error) {
	u, err := s.newUser(ctx, email, name, pw, role)
	if err != nil {
		return nil, err
	}
	var acct *portal.Account
	if role != portal.RoleAdmin {
		acct = &portal.Account{ID: portal.NewID(), Name: u.Name, CreatedAt: u.CreatedAt}
		u.AccountID = acct.ID
	}
	if err := s.Store.CreateUser(ctx, u, acct); err != nil {
		return nil, err
	}
	return u, nil
}
