package mfa

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/clientportal/portal"
)

// SendRequest asks a code-sending factor (email, WhatsApp) for a code.
type SendRequest struct {
	User    *portal.User
	Methods []*portal.Method // the user's methods of the factor's type
	Purpose string           // portal.CodeLogin or portal.CodeEnrol
	Binding string           // the login attempt or the pending method
	// Destination overrides where the code goes (enrolment of a new
	// address or number); empty means the confirmed method's.
	Destination string
	Now         time.Time
	// Lang is the i18n language code the message goes out in ("": the
	// user's chosen language, else English).
	Lang string
}

// Sent tells the user where a code went and when they may ask again.
type Sent struct {
	Method      string
	Destination string // masked: j***@example.com, +44 ••• ••• 1234
	ExpiresIn   time.Duration
	ResendAfter time.Duration
}

// Sender is a factor that delivers codes on request.
type Sender interface {
	Factor
	Send(ctx context.Context, req *SendRequest) (*Sent, error)
	// SendLabel is the button that asks for a code.
	SendLabel() string
}

// Codes issues and checks one-time codes with the rules of SPEC §6: six
// random digits, 10 minutes, single use, bound to a login attempt or a
// pending method, 5 wrong guesses per code, resend after 60 s, 10 per hour,
// a new code kills the old one, stored only as a keyed hash.
type Codes struct {
	Store  portal.CodeStore
	Keys   *Keyring
	Policy portal.CodePolicy
}

// Issue stores a new code for req and hands it to deliver. When delivery
// fails the code is deleted: nothing claims a code was sent.
func (c *Codes) Issue(ctx context.Context, channel string, req *SendRequest, dest string, deliver func(code string) error) (*Sent, error) {
	code, err := randomDigits(6)
	if err != nil {
		return nil, err
	}
	now := req.Now.Unix()
	rec := &portal.Code{ID: portal.NewID(), UserID: req.User.ID, Channel: channel, Purpose: req.Purpose, Binding: req.Binding,
		Destination: dest, CreatedAt: now, ExpiresAt: now + int64(c.Policy.TTL/time.Second)}
	rec.Hash = c.Keys.MAC(rec.ID + ":" + code)
	if err := c.Store.IssueCode(ctx, rec, c.Policy); err != nil {
		return nil, err
	}
	if err := deliver(code); err != nil {
		if derr := c.Store.DeleteCode(context.WithoutCancel(ctx), rec.ID); derr != nil {
			return nil, fmt.Errorf("%w (and deleting the undelivered code: %v)", err, derr)
		}
		return nil, err
	}
	return &Sent{Method: channel, ExpiresIn: c.Policy.TTL, ResendAfter: c.Policy.Resend}, nil
}

// Check consumes the live code of a binding if input matches it.
func (c *Codes) Check(ctx context.Context, userID, channel, purpose, binding, input string, now time.Time) (*portal.Code, error) {
	code, err := NormalizeDigits(input, 6)
	if err != nil {
		return nil, err
	}
	live, err := c.Store.LiveCode(ctx, userID, channel, purpose, binding, now.Unix())
	if portal.ErrorCode(err) == portal.ENOTFOUND {
		if c.superseded(ctx, userID, channel, purpose, binding, code, now) {
			return nil, errSuperseded
		}
		return nil, portal.Errorf(portal.ECODE, "That code is not correct or has expired. Ask for a new code.")
	} else if err != nil {
		return nil, err
	}
	if live.Attempts >= c.Policy.MaxGuesses {
		return nil, portal.Errorf(portal.ECODE, "This code no longer works after too many wrong guesses. Ask for a new code.")
	}
	if !c.Keys.VerifyMAC(live.ID+":"+code, live.Hash) {
		if c.superseded(ctx, userID, channel, purpose, binding, code, now) {
			// A mix-up, not a guess at the live code.
			return nil, errSuperseded
		}
		n, err := c.Store.FailCode(ctx, live.ID)
		if err != nil {
			return nil, err
		}
		if n >= c.Policy.MaxGuesses {
			return nil, portal.Errorf(portal.ECODE, "That code is not correct, and after too many wrong guesses it no longer works. Ask for a new code.")
		}
		return nil, errCode
	}
	ok, err := c.Store.UseCode(ctx, live.ID, now.Unix(), c.Policy.MaxGuesses)
	if err != nil {
		return nil, err
	} else if !ok {
		return nil, errCode
	}
	return live, nil
}

// errSuperseded tells someone who typed a code that a newer one replaced.
var errSuperseded = portal.Errorf(portal.ECODE, "That code was replaced by a newer one we sent. Use the code from the most recent message.")

// superseded reports whether code is one of the binding's codes of the
// last TTL that a newer one replaced (or that expired unused).
func (c *Codes) superseded(ctx context.Context, userID, channel, purpose, binding, code string, now time.Time) bool {
	old, err := c.Store.SupersededCodes(ctx, userID, channel, purpose, binding, now.Add(-c.Policy.TTL).Unix(), now.Unix())
	if err != nil {
		return false
	}
	for _, o := range old {
		if o.ExpiresAt-o.CreatedAt < int64(c.Policy.TTL/time.Second) && c.Keys.VerifyMAC(o.ID+":"+code, o.Hash) {
			return true
		}
	}
	return false
}

// randomDigits returns n uniformly random decimal digits.
func randomDigits(n int) (string, error) {
	var b strings.Builder
	for i := 0; i < n; i++ {
		d, err := rand.Int(rand.Reader, big.NewInt(10))
		if err != nil {
			return "", err
		}
		b.WriteByte(byte('0' + d.Int64()))
	}
	return b.String(), nil
}

// MaskEmail shows enough of an address to recognise it: j***@example.com.
func MaskEmail(addr string) string {
	local, domain, ok := strings.Cut(addr, "@")
	if !ok || local == "" {
		return "***"
	}
	r := []rune(local)
	return string(r[0]) + "***@" + domain
}
