package mfa

import (
	"context"
	"time"

	"github.com/clientportal/portal"
)

// Factor is one kind of second factor. Each method (TOTP, backup codes,
// email, WhatsApp, security keys, YubiKey OTP) implements it in its own file
// and is registered in main; the login step, re-authentication and the
// disable flow only speak to this interface.
type Factor interface {
	// Type is the method type, e.g. portal.MethodTOTP.
	Type() string
	// Label is what a person calls it, e.g. "Authenticator app".
	Label() string
	// Prompt tells the person what to enter at the second step.
	Prompt() string
	// Numeric reports whether codes are digits only (numeric keyboard).
	Numeric() bool
	// Verify checks a code (or assertion) against the user's confirmed
	// methods of this type. A wrong code is a portal.ECODE error and counts
	// against the attempt limit; malformed input is portal.EINVALID.
	Verify(ctx context.Context, req *Request) (*Result, error)
}

// Request is one second-factor attempt.
type Request struct {
	User    *portal.User
	Methods []*portal.Method // the user's confirmed methods of the factor's type
	Code    string
	// LoginID binds codes to one login attempt (the pending session's id).
	LoginID string
	Now     time.Time
	// Passwordless asks for a complete sign-in by passkey alone: the
	// challenge named no user and required user verification.
	Passwordless bool
}

// Result tells what succeeded.
type Result struct {
	Method *portal.Method // nil for backup codes
	// Drift is +1 when the code came from the next time step (the device
	// clock is ahead), -1 from the previous one, 0 on time.
	Drift int
	// BackupLeft is the number of unused backup codes after a backup code
	// was used, -1 otherwise.
	BackupLeft int
}

// Registry holds the factors the portal offers, in display order.
type Registry struct {
	factors []Factor
}

// NewRegistry registers factors in the order they are offered.
func NewRegistry(factors ...Factor) *Registry { return &Registry{factors: factors} }

// Get returns the factor of a type, or nil.
func (r *Registry) Get(typ string) Factor {
	for _, f := range r.factors {
		if f.Type() == typ {
			return f
		}
	}
	return nil
}

// All lists the registered factors.
func (r *Registry) All() []Factor { return r.factors }

// errCode is the one message for every wrong code: detail goes to the log.
var errCode = portal.Errorf(portal.ECODE, "That code is not correct. Check it and try again.")

// ErrCode returns the generic wrong-code error.
func ErrCode() error { return errCode }
