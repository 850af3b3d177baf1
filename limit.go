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
// MaxDelay. Window limits (Window > 0) allow Threshold failures per window.
type LimitPolicy struct {
	Name      string
	Threshold int
	Delay     time.Duration
	MaxDelay  time.Duration
	Window    time.Duration
}

// Limits of SPEC §2 and §4.
var (
	PasswordAccountLimit  = LimitPolicy{Name: "pw_account", Threshold: 10, Delay: time.Minute, MaxDelay: 15 * time.Minute}
	PasswordIPLimit       = LimitPolicy{Name: "pw_ip", Threshold: 50, Window: 10 * time.Minute}
	SecondFactorUserLimit = LimitPolicy{Name: "2fa_account", Threshold: 5, Delay: 30 * time.Second, MaxDelay: 15 * time.Minute}
	SecondFactorIPLimit   = LimitPolicy{Name: "2fa_ip", Threshold: 100, Window: 10 * time.Minute}
)

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
	// its limit and Retry how long until it allows another attempt.
	Refused int
	Retry   time.Duration
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
}
