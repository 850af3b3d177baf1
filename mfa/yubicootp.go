package mfa

import (
	"context"
	"errors"
	"time"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/yubico"
)

// OTPValidator checks a YubiKey OTP with the validation servers.
type OTPValidator interface {
	Verify(ctx context.Context, otp string) error
}

// YubicoOTP is the factor for the one-time passwords a YubiKey types. The
// key's public id (the first 12 modhex characters) is bound to the user at
// enrolment; each OTP is checked with the Yubico validation protocol 2.0,
// which also refuses replays.
type YubicoOTP struct {
	Validator OTPValidator
}

var _ Factor = (*YubicoOTP)(nil)

// Type implements Factor.
func (*YubicoOTP) Type() string { return portal.MethodYubicoOTP }

// Label implements Factor.
func (*YubicoOTP) Label() string { return "YubiKey one-time password" }

// Prompt implements Factor.
func (*YubicoOTP) Prompt() string {
	return "Click in the box below, then touch the gold contact of your YubiKey: it types a one-time password."
}

// Numeric implements Factor.
func (*YubicoOTP) Numeric() bool { return false }

// Check validates an OTP with the servers and returns the key's public id.
func (y *YubicoOTP) Check(ctx context.Context, otp string) (string, error) {
	id, err := yubico.ParseOTP(otp)
	if err != nil {
		return "", portal.Errorf(portal.EINVALID, "That does not look like a YubiKey one-time password. Click in the box and touch your key.")
	}
	if err := y.Validator.Verify(ctx, otp); err != nil {
		return "", yubicoError(err)
	}
	return id, nil
}

// yubicoError turns a validation failure into what the person sees; the
// cause stays for the log.
func yubicoError(err error) error {
	var ye *yubico.Error
	if !errors.As(err, &ye) {
		return &wrapped{public: &portal.Error{Code: portal.EUNAVAILABLE, Message: "We could not check your YubiKey. Try again, or use another method.", RetryAfter: 30 * time.Second}, cause: err}
	}
	switch ye.Kind {
	case yubico.KindInvalidOTP:
		return &wrapped{public: &portal.Error{Code: portal.EINVALID, Message: ye.UserMessage()}, cause: err}
	case yubico.KindRejected:
		return &wrapped{public: &portal.Error{Code: portal.ECODE, Message: ye.UserMessage()}, cause: err}
	}
	return &wrapped{public: &portal.Error{Code: portal.EUNAVAILABLE, Message: ye.UserMessage(), RetryAfter: 30 * time.Second}, cause: err}
}

// Verify implements Factor: the OTP must come from one of the user's keys
// and be accepted by the validation servers.
func (y *YubicoOTP) Verify(ctx context.Context, req *Request) (*Result, error) {
	id, err := yubico.ParseOTP(req.Code)
	if err != nil {
		return nil, portal.Errorf(portal.EINVALID, "That does not look like a YubiKey one-time password. Click in the box and touch your key.")
	}
	for _, m := range req.Methods {
		if m.Data != id {
			continue
		}
		if _, err := y.Check(ctx, req.Code); err != nil {
			return nil, err
		}
		return &Result{Method: m, BackupLeft: -1}, nil
	}
	// A real OTP of a key that is not this user's.
	return nil, portal.Errorf(portal.ECODE, "This YubiKey is not registered to your account.")
}
