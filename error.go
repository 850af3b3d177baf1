package portal

import (
	"errors"
	"fmt"
	"github.com/clientportal/portal/i18n"
	"time"
)

// Error codes. Each maps to one HTTP status in web/errors.go and appears as
// the "code" of the JSON error body.
const (
	EINVALID       = "invalid_request"     // 400: the input is malformed
	ECREDENTIALS   = "invalid_credentials" // 401: wrong email or password
	ECODE          = "invalid_code"        // 401: wrong second-factor code
	E2FAREQUIRED   = "2fa_required"        // 401: a second-factor code is needed too
	EUNAUTHORIZED  = "unauthenticated"     // 401: no valid session
	EFORBIDDEN     = "forbidden"           // 403
	EREAUTH        = "reauth_required"     // 403: recent authentication needed
	ESETUPREQUIRED = "2fa_setup_required"  // 403: policy demands 2FA first
	ENOTFOUND      = "not_found"           // 404
	ECONFLICT      = "conflict"            // 409
	ETOOLARGE      = "request_too_large"   // 413
	ERATELIMIT     = "rate_limited"        // 429
	EUNAVAILABLE   = "unavailable"         // 503
	EINTERNAL      = "internal"            // 500: never shows detail
)

// Error is an error a person may read: Message is shown to the client as is,
// so it never carries secrets or internal detail.
type Error struct {
	Code    string
	Message string
	// RetryAfter, when set, is sent as the Retry-After header (429, 503).
	RetryAfter time.Duration
	// Field names the form field the message is about, if any.
	Field string
	// Key and Data, when Key is set, are Message as a catalogue ID with
	// its named values (see Msg); otherwise Message is its own ID.
	Key  string
	Data []any
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Msg returns an *Error whose message is the catalogue ID key with named
// values, pairs of name and value: Msg(EINVALID, "Enter the {{.N}}-digit
// code.", "N", 6). Message is its English text.
func Msg(code, key string, kv ...any) *Error {
	return &Error{Code: code, Message: i18n.English().T(key, kv...), Key: key, Data: kv}
}

// RateLimited returns a rate_limited error that tells the client when to
// retry; key and kv are as for Msg.
func RateLimited(retry time.Duration, key string, kv ...any) *Error {
	if retry < time.Second {
		retry = time.Second
	}
	e := Msg(ERATELIMIT, key, kv...)
	e.RetryAfter = retry
	return e
}

// ErrorCode returns the code of err if it is (or wraps) an *Error, and
// EINTERNAL otherwise.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the human message of err, or a generic sentence for
// internal errors so that nothing internal leaks.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return internalMessage
}

const internalMessage = "Something went wrong on our side. Please try again in a moment."

// LocalMessage is ErrorMessage in l's language.
func LocalMessage(l *i18n.Localizer, err error) string {
	var e *Error
	switch {
	case !errors.As(err, &e):
		return l.T(internalMessage)
	case e.Key != "":
		return l.T(e.Key, e.Data...)
	}
	return l.T(e.Message)
}

// ErrNotFound is returned by stores when a row does not exist.
var ErrNotFound = &Error{Code: ENOTFOUND, Message: "Not found."}

// ErrLastMethod refuses to remove a user's only second factor as a method:
// that is turning two-factor authentication off.
var ErrLastMethod = &Error{Code: ECONFLICT, Message: "This is your only two-factor method. To remove it, turn two-factor authentication off instead."}
