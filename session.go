package portal

import (
	"context"
	"time"
)

// Assurance levels of a session.
const (
	// LevelPassword: the first factor is done and a second factor (or its
	// setup) is pending. Such a session reaches nothing but the 2FA step,
	// the recovery page and logout.
	LevelPassword = "password"
	// LevelSetup: the password is done, the user has no second factor but
	// policy requires one: only setting one up is reachable.
	LevelSetup = "setup"
	// LevelFull: the user is logged in.
	LevelFull = "full"
)

// Session is a server-side login session. Only the SHA-256 of its token is
// stored; the token itself lives in the user's cookie.
type Session struct {
	ID         string // hex SHA-256 of the token
	UserID     string
	Level      string
	CreatedAt  int64
	LastSeenAt int64
	// ReauthAt is when the user last proved their password (and second
	// factor, if they have one): the start of "sudo mode".
	ReauthAt  int64
	UserAgent string
	IP        string
	// AuthEpoch is the user's credential epoch the session was signed in
	// with; once the user's moves on, the session is dead.
	AuthEpoch int64
	// AMR is how the user proved who they are at sign-in: RFC 8176
	// values, space-separated ("pwd", "pwd otp mfa", "pwd hwk mfa").
	AMR string
}

// LoginStep is what a sign-in step writes, all in one transaction: the
// attempts it takes, the TOTP step it uses up, the new session replacing
// the old, the attempt counters it settles and, when the login is
// complete, its record.
type LoginStep struct {
	// Take is the attempt on each counter that the code's use counts as,
	// all or none (as LimitStore.TakeAttempts); when a counter is at its
	// limit nothing at all is written. With Use, the attempts stay counted
	// only when the step was used already: a new use is a success, which
	// counts on no window counter and clears the consecutive ones.
	Take []Attempt
	// Use consumes a TOTP step (the replay guard, as
	// MethodStore.ConsumeStep); when the step was already used, only the
	// attempts are written.
	Use *StepUse
	// Ends is the session the new one replaces ("" for none).
	Ends string
	// Session is the new session (nil: only settle the counters).
	Session *Session
	// Device is the hash of the browser's known-device cookie, recorded
	// for the session's user when the step completes a sign-in.
	Device string
	// Release gives back attempts that were not failures (window limits
	// count failures only); Reset clears consecutive counters. Both at At.
	Release, Reset []Attempt
	At             time.Time
	// Complete: the user is now signed in; their last login is set.
	Complete bool
	// CancelRecoveries cancels pending or approved recovery requests: the
	// user proved a second factor, so they can sign in after all. They
	// are Session's user's, or User's for a step without a new session.
	CancelRecoveries bool
	User             string
	// Event, when set, is recorded.
	Event *Event
}

// StepUse is a TOTP step to use up.
type StepUse struct {
	MethodID string
	Step     int64
}

// StepOutcome is what StepLogin did.
type StepOutcome struct {
	// NewDevice: the step recorded Device for the first time.
	NewDevice bool
	// OtherDevices: the user had completed a sign-in on another browser
	// before (read in the step's transaction).
	OtherDevices bool
	// Taken is the result of LoginStep.Take (nil without it); without OK
	// nothing was written.
	Taken *Taken
	// Replayed: LoginStep.Use found its step used already; only the
	// attempts were written.
	Replayed bool
	// Cancelled counts the recovery requests cancelled.
	Cancelled int
	// Stale: the user's credentials changed (a password change, 2FA on or
	// off, a reset) after this sign-in read them; nothing was written.
	Stale bool
}

// SessionStore keeps sessions.
type SessionStore interface {
	// StepLogin writes step in one transaction.
	StepLogin(ctx context.Context, step *LoginStep) (*StepOutcome, error)
	// CreateSession stores s at its user's current credential epoch.
	CreateSession(ctx context.Context, s *Session) error
	// SetSessionAMR records how a session's user has proved who they are
	// (a signed-in user who just confirmed a second factor has used two).
	SetSessionAMR(ctx context.Context, id, amr string) error
	// SessionByID returns the session and its user in one query; a
	// session of an earlier credential epoch than its user's is not found.
	SessionByID(ctx context.Context, id string) (*Session, *User, error)
	TouchSession(ctx context.Context, id string, at int64) error
	SetSessionReauth(ctx context.Context, id string, at int64) error
	DeleteSession(ctx context.Context, id string) error
	// DeleteUserSessions ends every session of a user except keepID.
	DeleteUserSessions(ctx context.Context, userID, keepID string) error
	// UserSessions lists a user's signed-in sessions (level full, and
	// setup: held at setting up 2FA, which they can do) seen since
	// idleAfter and started since createdAfter, newest first.
	UserSessions(ctx context.Context, userID string, idleAfter, createdAfter int64) ([]*Session, error)
	// DeleteUserSession ends one session of a user (ErrNotFound if it is
	// not theirs).
	DeleteUserSession(ctx context.Context, userID, id string) error
	// DeleteExpiredSessions removes sessions idle since before idleBefore or
	// created before createdBefore.
	DeleteExpiredSessions(ctx context.Context, idleBefore, createdBefore int64) (int64, error)
}

// SessionPolicy holds the session timeouts.
type SessionPolicy struct {
	Idle     time.Duration
	Absolute time.Duration
	// Reauth is how long a proof of password (and second factor) counts as
	// recent authentication.
	Reauth time.Duration
}

// DefaultSessionPolicy is SPEC §3: 1 hour idle, 24 hours absolute, 10 minutes
// of recent authentication.
var DefaultSessionPolicy = SessionPolicy{Idle: time.Hour, Absolute: 24 * time.Hour, Reauth: 10 * time.Minute}

// Expired reports whether s is past its idle or absolute timeout at now.
func (p SessionPolicy) Expired(s *Session, now time.Time) bool {
	n := now.Unix()
	return n-s.LastSeenAt >= int64(p.Idle/time.Second) || n-s.CreatedAt >= int64(p.Absolute/time.Second)
}

// RecentlyAuthenticated reports whether s is in sudo mode at now.
func (p SessionPolicy) RecentlyAuthenticated(s *Session, now time.Time) bool {
	return s.ReauthAt > 0 && now.Unix()-s.ReauthAt < int64(p.Reauth/time.Second)
}
