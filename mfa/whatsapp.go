package mfa

import (
	"context"
	"errors"
	"github.com/clientportal/portal/i18n"
	"strings"
	"time"
	"unicode"

	"github.com/nyaruka/phonenumbers"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/whatsapp"
)

// WhatsAppSender sends a code with the Cloud API (whatsapp.Client).
type WhatsAppSender interface {
	// SendCodeIn sends code with the template in lang (a Cloud API
	// language code), falling back to the configured language.
	SendCodeIn(ctx context.Context, phone, code, lang string) (string, error)
}

// WhatsApp is the WhatsApp-code factor: codes go to the verified number of
// the method, with the rules of SPEC §6 and §7.
type WhatsApp struct {
	Codes  *Codes
	Client WhatsAppSender
}

var _ Sender = (*WhatsApp)(nil)

// Type implements Factor.
func (*WhatsApp) Type() string { return portal.MethodWhatsApp }

// Label implements Factor.
func (*WhatsApp) Label() string { return "WhatsApp" }

// SendLabel implements Sender.
func (*WhatsApp) SendLabel() string { return "Send code by WhatsApp" }

// Prompt implements Factor.
func (*WhatsApp) Prompt() string {
	return "We send a 6-digit code to your phone by WhatsApp. Enter it here; it works once and expires after 10 minutes."
}

// Numeric implements Factor.
func (*WhatsApp) Numeric() bool { return true }

// Send implements Sender.
func (w *WhatsApp) Send(ctx context.Context, req *SendRequest) (*Sent, error) {
	dest := req.Destination
	if dest == "" {
		if len(req.Methods) == 0 {
			return nil, portal.Errorf(portal.EINVALID, "You have not set up WhatsApp as a two-factor method.")
		}
		dest = req.Methods[0].Data
	}
	sent, err := w.Codes.Issue(ctx, portal.MethodWhatsApp, req, dest, func(code string) error {
		if _, err := w.Client.SendCodeIn(ctx, dest, code, whatsAppLang(req)); err != nil {
			return &wrapped{public: whatsAppError(err), cause: err}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sent.Destination = MaskPhone(dest)
	return sent, nil
}

// whatsAppError turns a Cloud API failure into what the person sees.
func whatsAppError(err error) *portal.Error {
	var we *whatsapp.Error
	if !errors.As(err, &we) {
		return &portal.Error{Code: portal.EUNAVAILABLE, Message: "We could not send the WhatsApp message. Try again, or use another method.", RetryAfter: 30 * time.Second}
	}
	msg := we.UserMessage()
	switch we.Kind {
	case whatsapp.KindInvalidRecipient, whatsapp.KindNotWhatsAppUser:
		return &portal.Error{Code: portal.EINVALID, Message: msg, Field: "phone"}
	case whatsapp.KindRateLimited:
		return &portal.Error{Code: portal.ERATELIMIT, Message: msg, RetryAfter: time.Minute}
	}
	return &portal.Error{Code: portal.EUNAVAILABLE, Message: msg, RetryAfter: 30 * time.Second}
}

// Verify implements Factor.
func (w *WhatsApp) Verify(ctx context.Context, req *Request) (*Result, error) {
	if len(req.Methods) == 0 {
		return nil, errCode
	}
	used, err := w.Codes.Check(ctx, req.User.ID, portal.MethodWhatsApp, portal.CodeLogin, req.LoginID, req.Code, req.Now)
	if err != nil {
		return nil, err
	}
	// A code proves the number it went to, while it is the user's.
	for _, m := range req.Methods {
		if m.Data == used.Destination {
			return &Result{Method: m, BackupLeft: -1}, nil
		}
	}
	return nil, errCode
}

// ConfirmEnrolment checks the code sent to a pending number.
func (w *WhatsApp) ConfirmEnrolment(ctx context.Context, m *portal.Method, code string, now time.Time) error {
	_, err := w.Codes.Check(ctx, m.UserID, portal.MethodWhatsApp, portal.CodeEnrol, m.ID, code, now)
	return err
}

// NormalizePhone validates a phone number typed with its country code and
// returns it in E.164 (+447911123456).
func NormalizePhone(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", &portal.Error{Code: portal.EINVALID, Message: "Enter your mobile number.", Field: "phone"}
	}
	if len(s) > 32 {
		return "", &portal.Error{Code: portal.EINVALID, Message: "That phone number is too long.", Field: "phone"}
	}
	if strings.HasPrefix(s, "00") {
		s = "+" + s[2:]
	}
	if !strings.HasPrefix(s, "+") {
		return "", &portal.Error{Code: portal.EINVALID, Message: "Enter the number with its country code, like +44 7911 123456.", Field: "phone"}
	}
	// Letters are refused: the phone number library reads them as keypad
	// letters (a "vanity" number), which turns typos into other numbers.
	if strings.ContainsFunc(s, unicode.IsLetter) {
		return "", &portal.Error{Code: portal.EINVALID, Message: "A phone number has digits only. Enter it with its country code, like +44 7911 123456.", Field: "phone"}
	}
	n, err := phonenumbers.Parse(s, "")
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return "", &portal.Error{Code: portal.EINVALID, Message: "That is not a valid phone number. Enter it with its country code, like +44 7911 123456.", Field: "phone"}
	}
	e164 := phonenumbers.Format(n, phonenumbers.E164)
	if len(e164) > 16 { // E.164: at most 15 digits
		return "", &portal.Error{Code: portal.EINVALID, Message: "That phone number is too long.", Field: "phone"}
	}
	return e164, nil
}

// MaskPhone shows the country code and the last digits: +44 ••• 0123.
func MaskPhone(e164 string) string {
	if len(e164) < 8 {
		return "•••"
	}
	cc := ""
	if n, err := phonenumbers.Parse(e164, ""); err == nil {
		cc = "+" + itoa(int(n.GetCountryCode())) + " "
	}
	return cc + "••• " + e164[len(e164)-4:]
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// whatsAppLang is the template language for req: the request's language,
// else the user's, as a Cloud API code ("" for the configured one).
func whatsAppLang(req *SendRequest) string {
	code := req.Lang
	if code == "" && req.User != nil {
		code = req.User.Locale
	}
	if l, ok := i18n.Builtin().Get(code); ok && l.Code != "en" {
		return l.WhatsApp
	}
	return ""
}
