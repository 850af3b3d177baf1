// Package password hashes and checks passwords with argon2id, bounds how many
// hashes run at once, and rejects common passwords.
package password

import (
	"bufio"
	"context"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/clientportal/portal"
)

// Params are argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
	KeyLen  uint32
	SaltLen uint32
}

// DefaultParams is SPEC §2: m=19 MiB, t=2, p=1 (OWASP's argon2id baseline).
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1, KeyLen: 32, SaltLen: 16}

// ErrBusy is returned when too many hashes are queued; the caller answers
// 503 with Retry-After.
var ErrBusy = &portal.Error{Code: portal.EUNAVAILABLE, Message: "The service is busy. Please try again in a moment.", RetryAfter: time.Second}

// Hasher hashes passwords with at most Limit hashes running at once, so a
// login flood queues instead of exhausting memory (each hash holds Memory KiB).
type Hasher struct {
	Params Params
	// Wait is how long a request may queue for a hashing slot before ErrBusy.
	Wait time.Duration

	slots    chan struct{}
	inFlight atomic.Int64
	peak     atomic.Int64
	dummy    string
	once     sync.Once
}

// NewHasher returns a Hasher allowing limit concurrent hashes (0 means
// GOMAXPROCS, within SPEC §2's bound of 2 × GOMAXPROCS: a hash is pure CPU,
// so more at once than there are processors finish no sooner and only hold
// more memory).
func NewHasher(p Params, limit int) *Hasher {
	if limit <= 0 {
		limit = runtime.GOMAXPROCS(0)
	}
	return &Hasher{Params: p, Wait: 3 * time.Second, slots: make(chan struct{}, limit)}
}

// Limit is the number of hashes that may run at once.
func (h *Hasher) Limit() int { return cap(h.slots) }

// Peak is the highest number of hashes that ever ran at once.
func (h *Hasher) Peak() int { return int(h.peak.Load()) }

// InFlight is the number of hashes running now.
func (h *Hasher) InFlight() int { return int(h.inFlight.Load()) }

// acquire waits for a hashing slot.
func (h *Hasher) acquire(ctx context.Context) (func(), error) {
	t := time.NewTimer(h.Wait)
	defer t.Stop()
	select {
	case h.slots <- struct{}{}:
	case <-t.C:
		return nil, ErrBusy
	case <-ctx.Done():
		return nil, ErrBusy
	}
	n := h.inFlight.Add(1)
	for {
		p := h.peak.Load()
		if n <= p || h.peak.CompareAndSwap(p, n) {
			break
		}
	}
	return func() { h.inFlight.Add(-1); <-h.slots }, nil
}

// Hash returns the PHC string of an argon2id hash of pw.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	release, err := h.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	return hashWith(h.Params, pw), nil
}

func hashWith(p Params, pw string) string {
	salt := portal.RandomToken(int(p.SaltLen))
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// Verify checks pw against a PHC hash. rehash is true when the hash used
// other parameters than h.Params and should be replaced after this success.
func (h *Hasher) Verify(ctx context.Context, hash, pw string) (ok, rehash bool, err error) {
	if hash == NoPassword {
		// No password yet (an imported customer): nothing matches, in the
		// time a real check takes.
		return false, false, h.VerifyDummy(ctx, pw)
	}
	p, salt, key, err := decode(hash)
	if err != nil {
		// An imported hash in another scheme: verified as it is, and
		// replaced by the portal's own after a success.
		old, lerr := parseLegacy(hash)
		if lerr != nil {
			return false, false, err
		}
		release, err := h.acquire(ctx)
		if err != nil {
			return false, false, err
		}
		defer release()
		ok := old.verify(pw)
		return ok, ok, nil
	}
	release, err := h.acquire(ctx)
	if err != nil {
		return false, false, err
	}
	defer release()
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	ok = subtle.ConstantTimeCompare(got, key) == 1
	return ok, ok && p != h.Params, nil
}

// NoPassword is the stored hash of a user who has no password yet (one
// imported without a hash): no password matches it; the user chooses one
// through "Forgot your password?".
const NoPassword = "!"

// VerifyDummy spends the same time as Verify against a real hash, for
// unknown users, so that response time does not reveal whether an email is
// registered.
func (h *Hasher) VerifyDummy(ctx context.Context, pw string) error {
	h.once.Do(func() { h.dummy = hashWith(h.Params, "not a real password") })
	_, _, err := h.Verify(ctx, h.dummy, pw)
	return err
}

// decode parses "$argon2id$v=19$m=…,t=…,p=…$salt$key".
func decode(hash string) (p Params, salt, key []byte, err error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return p, nil, nil, errors.New("password: not an argon2id hash")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, errors.New("password: unsupported argon2 version")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, errors.New("password: bad argon2 parameters")
	}
	if salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil {
		return p, nil, nil, errors.New("password: bad salt")
	}
	if key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil {
		return p, nil, nil, errors.New("password: bad key")
	}
	p.KeyLen, p.SaltLen = uint32(len(key)), uint32(len(salt))
	return p, salt, key, nil
}

//go:embed common.txt
var commonList string

var common = sync.OnceValue(func() map[string]struct{} {
	m := make(map[string]struct{}, 12000)
	sc := bufio.NewScanner(strings.NewReader(commonList))
	for sc.Scan() {
		m[sc.Text()] = struct{}{}
	}
	return m
})

// IsCommon reports whether pw (ignoring case) is on the shipped list of the
// most common passwords.
func IsCommon(pw string) bool {
	_, ok := common()[strings.ToLower(pw)]
	return ok
}

// Validate applies SPEC §2 to a new password: 8 to 128 characters of any
// kind but control characters, not a common password, not the email
// address.
func Validate(pw, email string) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case portal.CheckText("password", pw, portal.SingleLine) != nil:
		// Only new passwords: one being checked at sign-in may hold a
		// control character, as ones chosen before this rule could.
		return &portal.Error{Code: portal.EINVALID, Message: "Your password contains characters we cannot accept (a control character such as a NUL byte or a tab, or text that is not UTF-8). Choose another.", Field: "password"}
	case n < 8:
		return &portal.Error{Code: portal.EINVALID, Message: "Choose a password of at least 8 characters.", Field: "password"}
	case n > 128:
		return &portal.Error{Code: portal.EINVALID, Message: "Choose a password of at most 128 characters.", Field: "password"}
	case IsCommon(pw):
		return &portal.Error{Code: portal.EINVALID, Message: "This password is one of the most common passwords and easy to guess. Choose another.", Field: "password"}
	case email != "" && strings.EqualFold(pw, email):
		return &portal.Error{Code: portal.EINVALID, Message: "Do not use your email address as your password.", Field: "password"}
	}
	return nil
}

// Derive computes an argon2id key of secret under params, a PHC prefix
// "$argon2id$v=19$m=…,t=…,p=…$salt" (no key), within the hashing bound. Used
// where the salt is shared by a set so one attempt costs one hash.
func (h *Hasher) Derive(ctx context.Context, params, secret string) ([]byte, error) {
	p, salt, _, err := decode(params + "$")
	if err != nil {
		return nil, err
	}
	release, err := h.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	return argon2.IDKey([]byte(secret), salt, p.Time, p.Memory, p.Threads, 32), nil
}
