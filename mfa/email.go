package mfa

import (
	"context"
	"strings"
	"time"

	"github.com/clientportal/portal"
)

// CodeMailer delivers a code by email now (not through the outbox: the
// person is waiting, and a failure must be reported at once).
type CodeMailer interface {
	// lang is the i18n language code of the email ("": English).
	SendCode(ctx context.Context, to, name, lang, code, purpose string, ttl time.Duration) error
}

// Email is the email-code factor. The code goes to the user's verified
// address.
type Email struct {
	Codes  *Codes
	Mailer CodeMailer
}

var _ Sender = (*Email)(nil)

// Type implements Factor.
func (*Email) Type() string { return portal.MethodEmail }

// Label implements Factor.
func (*Email) Label() string { return "Email" }

// SendLabel implements Sender.
func (*Email) SendLabel() string { return "Send code by email" }

// Prompt implements Factor.
func (*Email) Prompt() string {
	return "We send a 6-digit code to your email address. Enter it here; it works once and expires after 10 minutes."
}

// Numeric implements Factor.
func (*Email) Numeric() bool { return true }

// errMailDown is what the person sees when the mail server fails.
var errMailDown = &portal.Error{Code: portal.EUNAVAILABLE, Message: "We could not send the email. Try again, or use another method.", RetryAfter: 30 * time.Second}

// Send implements Sender.
func (e *Email) Send(ctx context.Context, req *SendRequest) (*Sent, error) {
	dest := req.Destination
	if dest == "" {
		dest = req.User.Email
	}
	sent, err := e.Codes.Issue(ctx, portal.MethodEmail, req, dest, func(code string) error {
		if err := e.Mailer.SendCode(ctx, dest, req.User.Name, emailLang(req), code, req.Purpose, e.Codes.Policy.TTL); err != nil {
			return &wrapped{public: errMailDown, cause: err}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sent.Destination = MaskEmail(dest)
	return sent, nil
}

// Verify implements Factor.
func (e *Email) Verify(ctx context.Context, req *Request) (*Result, error) {
	if len(req.Methods) == 0 {
		return nil, errCode
	}
	used, err := e.Codes.Check(ctx, req.User.ID, portal.MethodEmail, portal.CodeLogin, req.LoginID, req.Code, req.Now)
	if err != nil {
		return nil, err
	}
	// A code proves the mailbox it went to: once the account has moved
	// to another address, one sent to the old address proves nothing.
	if !strings.EqualFold(used.Destination, req.User.Email) {
		return nil, errCode
	}
	return &Result{Method: req.Methods[0], BackupLeft: -1}, nil
}

// wrapped shows the person a public error while the cause stays available
// for the log.
type wrapped struct {
	public *portal.Error
	cause  error
}

func (w *wrapped) Error() string { return w.public.Error() + ": " + w.cause.Error() }

// As lets portal.ErrorCode and ErrorMessage find the public error.
func (w *wrapped) As(target any) bool {
	if t, ok := target.(**portal.Error); ok {
		*t = w.public
		return true
	}
	return false
}

// Unwrap exposes the cause for logs.
func (w *wrapped) Unwrap() error { return w.cause }

// ConfirmEnrolment checks the code sent for a pending email method.
func (e *Email) ConfirmEnrolment(ctx context.Context, m *portal.Method, code string, now time.Time) error {
	_, err := e.Codes.Check(ctx, m.UserID, portal.MethodEmail, portal.CodeEnrol, m.ID, code, now)
	return err
}

// emailLang is the language of a code email: the request's, else the
// user's choice.
func emailLang(req *SendRequest) string {
	if req.Lang != "" {
		return req.Lang
	}
	if req.User != nil {
		return req.User.Locale
	}
	return ""
}
