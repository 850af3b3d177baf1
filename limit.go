package portal

import (
	"context"
	"time"
)

// LimitPolicy describes one attempt limit. Limits are stored in the database
// so every replica shares them, and each attempt is taken atomically before
// the (expensive) check runs: increment, then decide.
//
// Consecutive limits (Window == 0) count failures until a success resets them;
// once Threshold is reached every further attempt waits Delay, doubling up to
// MaxDelay; with Freeze, after that many failures in a row no attempt is
// allowed at all until the counter is reset (by a success where one is
// still allowed, or by recovery). Window limits (Window > 0) allow Threshold
// failures per window.
type LimitPolicy struct {
	Name      string
	Threshold int
	Delay     time.Duration
	MaxDelay  time.Duration
	Window    time.Duration
	Freeze    int
}

// Limits of SPEC §2 and §4.
var (
	PasswordAccountLimit = LimitPolicy{Name: "pw_account", Threshold: 10, Delay: time.Minute, MaxDelay: 15 * time.Minute}
	// PasswordDeviceLimit counts a browser's failures on an account once it
	// holds a device cookie from an earlier sign-in of that account: such a
	// browser is not locked out by failures from elsewhere (which count on
	// PasswordAccountLimit).
	PasswordDeviceLimit = LimitPolicy{Name: "pw_device", Threshold: 10, Delay: time.Minute, MaxDelay: 15 * time.Minute}
	PasswordIPLimit     = LimitPolicy{Name: "pw_ip", Threshold: 50, Window: 10 * time.Minute}
	// SecondFactorUserLimit: after 5 wrong codes in a row each attempt
	// waits 30 s, doubling to 24 h; after 50 in a row second-factor sign-in
	// is frozen until the user recovers (a backup code, the emailed unlock
	// link, or staff). With the password known, that is at most 50 guesses
	// at a code between two sign-ins of the owner.
	SecondFactorUserLimit = LimitPolicy{Name: "2fa_account", Threshold: 5, Delay: 30 * time.Second, MaxDelay: 24 * time.Hour, Freeze: 50}
	SecondFactorIPLimit   = LimitPolicy{Name: "2fa_ip", Threshold: 100, Window: 10 * time.Minute}
)

// Quotas on what strangers can make the portal do (the security review's
// findings 10 and 11): every message sent on request counts per account,
// per destination and per client network, whether or not it is delivered;
// recovery requests count per network and per address from each network,
// existing or not;
// registrations per network.
var (
	SendUserLimit        = LimitPolicy{Name: "send_user", Threshold: 10, Window: time.Hour}
	SendDestLimit        = LimitPolicy{Name: "send_dest", Threshold: 5, Window: time.Hour}
	SendIPLimit          = LimitPolicy{Name: "send_ip", Threshold: 30, Window: time.Hour}
	RecoveryIPLimit      = LimitPolicy{Name: "recovery_ip", Threshold: 10, Window: time.Hour}
	RecoveryAddressLimit = LimitPolicy{Name: "recovery_address", Threshold: 3, Window: 24 * time.Hour}
	RegisterIPLimit      = LimitPolicy{Name: "register_ip", Threshold: 20, Window: time.Hour}
	// Forgotten passwords: per network, per address from each network (a
	// stranger cannot use up the owner's), and per address overall (a
	// mailbox gets a bounded number of reset emails).
	ForgotIPLimit         = LimitPolicy{Name: "forgot_ip", Threshold: 10, Window: time.Hour}
	ForgotAddressLimit    = LimitPolicy{Name: "forgot_address", Threshold: 3, Window: time.Hour}
	ForgotAddressDayLimit = LimitPolicy{Name: "forgot_address_day", Threshold: 10, Window: 24 * time.Hour}
	// ClientAuthLimit counts an app's failed client authentications at the
	// token endpoint per network: a client secret cannot be guessed, and
	// a stranger's failures do not lock out the real app.
	ClientAuthLimit = LimitPolicy{Name: "client_auth", Threshold: 20, Window: 10 * time.Minute}
	// AuthorizeIPLimit bounds the sign-in requests (each stored until it
	// expires) one network can start.
	AuthorizeIPLimit = LimitPolicy{Name: "authorize_ip", Threshold: 300, Window: 10 * time.Minute}
	// PasskeyIPLimit bounds the passwordless sign-in challenges (each
	// stored until it expires) one network can ask for.
	PasskeyIPLimit = LimitPolicy{Name: "passkey_ip", Threshold: 300, Window: 10 * time.Minute}
)

// Unfrozen is p counting on the same counter but without the freeze: a
// backup code (80 bits: not guessable) still works on a frozen account,
// after the delay, so the owner can recover with one.
func (p LimitPolicy) Unfrozen() LimitPolicy {
	p.Freeze = 0
	return p
}

// Frozen reports whether n failures in a row freeze p.
func (p LimitPolicy) Frozen(n int) bool { return p.Freeze > 0 && n >= p.Freeze }

// noticeDelays are the waits at which the user is told again that someone
// is trying codes: the first lock, then 15 minutes, an hour and a day.
var noticeDelays = []time.Duration{15 * time.Minute, time.Hour, 24 * time.Hour}

// NewLevel reports whether the n-th failure in a row reaches a new level
// of p worth telling the user about: the first lock, a wait of 15 minutes,
// an hour, a day, and the freeze.
func (p LimitPolicy) NewLevel(n int) bool {
	if p.Window > 0 || n < p.Threshold {
		return false
	}
	if n == p.Threshold || n == p.Freeze {
		return true
	}
	before, now := p.LockDelay(n-1), p.LockDelay(n)
	for _, d := range noticeDelays {
		if before < d && now >= d {
			return true
		}
	}
	return false
}

// LockDelay returns how long an attempt must wait after the n-th consecutive
// failure under p (zero below the threshold).
func (p LimitPolicy) LockDelay(n int) time.Duration {
	if p.Window > 0 || n < p.Threshold {
		return 0
	}
	d := p.Delay
	for i := p.Threshold; i < n && d < p.MaxDelay; i++ {
		d *= 2
	}
	return min(d, p.MaxDelay)
}

// Attempt names one counter: a policy and what it counts (an IP address,
// an account).
type Attempt struct {
	Policy LimitPolicy
	Key    string
}

// Taken is what TakeAttempts did.
type Taken struct {
	// OK: one attempt was taken on every counter.
	OK bool
	// Without OK, nothing was taken: Refused is the index of a counter at
	// its limit and Retry how long until it allows another attempt; Frozen
	// when that counter is frozen (no attempt until it is reset).
	Refused int
	Retry   time.Duration
	Frozen  bool
	// With OK, each counter's count including this attempt.
	Counts []int
}

// LimitStore keeps attempt counters.
type LimitStore interface {
	// TakeAttempts reserves one attempt on each counter at now, all or
	// none, in one transaction: a request checked against an IP and an
	// account limit costs one round of writes.
	TakeAttempts(ctx context.Context, now time.Time, attempts ...Attempt) (*Taken, error)
	// TakeAttempt reserves one attempt under p for key at now. When the limit
	// is reached it returns ok=false and how long to wait.
	TakeAttempt(ctx context.Context, p LimitPolicy, key string, now time.Time) (ok bool, retry time.Duration, n int, err error)
	// ReleaseAttempt gives back an attempt that did not fail (window limits
	// count failures only).
	ReleaseAttempt(ctx context.Context, p LimitPolicy, key string, now time.Time) error
	// ResetAttempts clears a consecutive counter after a success.
	ResetAttempts(ctx context.Context, p LimitPolicy, key string) error
	// Unlock uses an unlock link (TokenUnlock): in one transaction the
	// token is consumed and p's counter of its user cleared. It returns
	// the token.
	Unlock(ctx context.Context, tokenID string, p LimitPolicy, now int64) (*Token, error)
}
