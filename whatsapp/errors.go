package whatsapp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"

	"github.com/clientportal/portal/i18n"
)

// Kind says what went wrong with a send, in terms the caller can act on:
// tell the user to fix the number, wait, or pick another method, and tell
// the operator what to fix.
type Kind string

// Kinds of failure. The table that maps Cloud API codes to them is classify.
const (
	// KindInvalidRecipient: the number is malformed, or the API refused the
	// "to" parameter (codes 100, 131008 and 131009 when their details name the
	// recipient; 131021 recipient is the sender).
	KindInvalidRecipient Kind = "invalid_recipient"
	// KindNotWhatsAppUser: 131026 "Message Undeliverable". Meta lists its
	// causes as: not a WhatsApp number, terms of service not accepted, or an
	// outdated app. All of them are for the person to check, and the first is
	// by far the most common, so it gets its own kind rather than
	// KindInvalidRecipient: the number itself is well formed.
	KindNotWhatsAppUser Kind = "not_whatsapp_user"
	// KindRateLimited: a throughput, spam or pair limit (4, 17, 32, 613,
	// 80007, 130429, 131048, 131056) or HTTP 429.
	KindRateLimited Kind = "rate_limited"
	// KindAuth: the access token is expired, invalid or lacks permission
	// (0, 3, 10, 102, 190, 131005, 200-299) or HTTP 401/403 without a known code.
	KindAuth Kind = "auth"
	// KindTemplate: the template is missing, not approved, paused, or its
	// parameters do not fit (132000-132999; 131008/131009 about a parameter
	// other than the recipient, since the only other parameter is the code).
	KindTemplate Kind = "template"
	// KindUnavailable: the API or the network failed (1, 2, 131000, 131016,
	// 131057, 133004, HTTP 5xx, connection errors).
	KindUnavailable Kind = "unavailable"
	// KindTimeout: no answer before the deadline, or the caller gave up. The
	// message may still be delivered.
	KindTimeout Kind = "timeout"
	// KindProtocol: the answer could not be understood (not JSON, no message
	// id, an unexpected status without an error body).
	KindProtocol Kind = "protocol"
	// KindRejected: refused for a reason only the operator can fix or that
	// this package does not know: configuration, phone number id, account
	// locked, payment, policy, test-mode allow list (131030), unknown codes.
	KindRejected Kind = "rejected"
)

// Error is a failed send. Error() and LogAttrs are for the operator's log;
// UserMessage is the only text meant for the end user. None of them carry
// the access token or the one-time code: SendCode scrubs both from the
// API's text before returning.
type Error struct {
	Kind    Kind
	Status  int    // HTTP status; 0 when no response arrived
	Code    int    // Cloud API error code; 0 when there was none
	Subcode int    // error_subcode
	Type    string // e.g. "OAuthException"
	Message string // the API's message, or what this package found wrong
	Details string // error_data.details
	TraceID string // fbtrace_id, for Meta support
	Err     error  // underlying transport or context error, if any
}

// Error is one log line: kind, API message and details, cause, and the
// status, code, subcode and fbtrace_id that Meta support asks for.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("whatsapp: ")
	b.WriteString(string(e.Kind))
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Details != "" && e.Details != e.Message {
		b.WriteString(" (")
		b.WriteString(e.Details)
		b.WriteString(")")
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, " [status %d", e.Status)
		if e.Code != 0 {
			fmt.Fprintf(&b, " code %d", e.Code)
		}
		if e.Subcode != 0 {
			fmt.Fprintf(&b, " subcode %d", e.Subcode)
		}
		if e.TraceID != "" {
			b.WriteString(" fbtrace_id ")
			b.WriteString(e.TraceID)
		}
		b.WriteString("]")
	}
	return b.String()
}

// Unwrap returns the transport or context error, so that
// errors.Is(err, context.DeadlineExceeded) works.
func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether the same send may succeed later without anyone
// fixing anything.
func (e *Error) Retryable() bool {
	switch e.Kind {
	case KindRateLimited, KindUnavailable, KindTimeout:
		return true
	}
	return false
}

// UserMessage is one sentence for the person who asked for the code. It
// names no code, token or internal detail. It is a message ID of the
// portal's catalogue (marked with i18n.Text), translated where it is shown.
func (e *Error) UserMessage() string {
	switch e.Kind {
	case KindInvalidRecipient:
		return string(i18n.Text("This phone number does not look right. Check it, including the country code, or use another method."))
	case KindNotWhatsAppUser:
		return string(i18n.Text("We could not send a WhatsApp message to this number. Check that it is a WhatsApp number, or use another method."))
	case KindRateLimited:
		if e.Code == 131056 {
			// The pair limit is about this one number: other users are fine.
			return string(i18n.Text("Too many codes were sent to this number. Wait a few minutes before asking for another, or use another method."))
		}
		return string(i18n.Text("WhatsApp is not accepting messages from us right now. Try again in a few minutes or use another method."))
	case KindUnavailable:
		return string(i18n.Text("WhatsApp is not reachable right now. Try again in a few minutes or use another method."))
	case KindTimeout:
		return string(i18n.Text("WhatsApp did not answer in time. If no code arrives within a minute, try again or use another method."))
	}
	// Auth, template, rejected and protocol failures are ours to fix; the
	// person can only choose something else.
	return string(i18n.Text("Codes by WhatsApp are not available right now. Use another method or try again later."))
}

// LogAttrs returns the detail for the operator's log.
func (e *Error) LogAttrs() []slog.Attr {
	attrs := []slog.Attr{slog.String("kind", string(e.Kind))}
	if e.Status != 0 {
		attrs = append(attrs, slog.Int("status", e.Status))
	}
	if e.Code != 0 {
		attrs = append(attrs, slog.Int("code", e.Code))
	}
	if e.Subcode != 0 {
		attrs = append(attrs, slog.Int("subcode", e.Subcode))
	}
	for _, a := range []struct{ k, v string }{
		{"type", e.Type}, {"message", e.Message}, {"details", e.Details}, {"fbtrace_id", e.TraceID},
	} {
		if a.v != "" {
			attrs = append(attrs, slog.String(a.k, a.v))
		}
	}
	if e.Err != nil {
		attrs = append(attrs, slog.String("cause", e.Err.Error()))
	}
	return attrs
}

// LogValue lets slog print the error as a group: logger.Error("…", "err", err).
func (e *Error) LogValue() slog.Value { return slog.GroupValue(e.LogAttrs()...) }

// redact replaces every secret in the API's text. The API has no reason to
// echo the token or the code, but a proxy or a future message might.
func (e *Error) redact(secrets ...string) {
	for _, s := range secrets {
		if s == "" {
			continue
		}
		e.Message = strings.ReplaceAll(e.Message, s, "[redacted]")
		e.Details = strings.ReplaceAll(e.Details, s, "[redacted]")
		e.Type = strings.ReplaceAll(e.Type, s, "[redacted]")
		e.TraceID = strings.ReplaceAll(e.TraceID, s, "[redacted]")
	}
}

// maxText bounds each string kept from an answer, so a hostile or broken
// server cannot fill the log.
const maxText = 1024

// apiError is the Graph API error body.
type apiError struct {
	Error *struct {
		Message   string          `json:"message"`
		Type      string          `json:"type"`
		Code      json.RawMessage `json:"code"`
		Subcode   json.RawMessage `json:"error_subcode"`
		ErrorData struct {
			Details string `json:"details"`
		} `json:"error_data"`
		TraceID string `json:"fbtrace_id"`
	} `json:"error"`
}

// sendResponse is the success body of POST /{phone-number-id}/messages.
type sendResponse struct {
	Messages []struct {
		ID string `json:"id"`
	} `json:"messages"`
}

// ParseResponse reads the Cloud API's answer to a send: the message id
// ("wamid.…") on success, or an *Error classified by code and status. It
// never panics on any input; the caller bounds the body's size.
func ParseResponse(status int, body []byte) (string, error) {
	var ae apiError
	errJSON := json.Unmarshal(body, &ae)
	if errJSON == nil && ae.Error != nil {
		// An error body wins even under a 2xx status.
		x := ae.Error
		e := &Error{
			Status:  status,
			Code:    number(x.Code),
			Subcode: number(x.Subcode),
			Type:    clean(x.Type),
			Message: clean(x.Message),
			Details: clean(x.ErrorData.Details),
			TraceID: clean(x.TraceID),
		}
		e.Kind = classify(status, e.Code, e.Message+" "+e.Details)
		return "", e
	}
	if status < 200 || status > 299 {
		e := &Error{Status: status, Message: "HTTP " + fmt.Sprint(status) + " without a Cloud API error body"}
		if errJSON != nil {
			e.Details = "body: " + clean(string(body))
		}
		e.Kind = classify(status, 0, "")
		return "", e
	}
	if errJSON != nil {
		return "", &Error{Kind: KindProtocol, Status: status, Message: "success status with a body that is not JSON", Details: "body: " + clean(string(body))}
	}
	var sr sendResponse
	if err := json.Unmarshal(body, &sr); err != nil || len(sr.Messages) == 0 || sr.Messages[0].ID == "" {
		return "", &Error{Kind: KindProtocol, Status: status, Message: "success status without a message id", Details: "body: " + clean(string(body))}
	}
	id := sr.Messages[0].ID
	if len(id) > maxText || strings.ContainsFunc(id, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return "", &Error{Kind: KindProtocol, Status: status, Message: "message id is not printable or too long"}
	}
	return id, nil
}

// number reads a JSON integer that some proxies send as a string. Anything
// else is 0, which classify treats as "no code".
func number(raw json.RawMessage) int {
	raw = bytes.Trim(bytes.TrimSpace(raw), `"`)
	var n int
	if len(raw) == 0 || len(raw) > 12 {
		return 0
	}
	for _, c := range raw {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// clean makes API text safe for one log line: valid UTF-8, no control
// characters, bounded length.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxText {
		s = strings.ToValidUTF8(s[:maxText], "") + "…"
	}
	return s
}

// classify is the one table from Cloud API code and HTTP status to Kind. The
// code decides when it is known (Meta advises building on code, not
// message); the status decides otherwise.
func classify(status, code int, text string) Kind {
	switch code {
	case 131026:
		return KindNotWhatsAppUser
	case 131021: // recipient cannot be sender
		return KindInvalidRecipient
	case 100, 131008, 131009:
		// "Invalid parameter", "Required parameter is missing" and "Parameter
		// value is not valid" say which parameter only in their text.
		if aboutRecipient(text) {
			return KindInvalidRecipient
		}
		if code == 100 {
			// Usually a wrong phone number id (subcode 33) or field name.
			return KindRejected
		}
		return KindTemplate
	case 4, 17, 32, 613, 80007, 130429, 131048, 131056:
		return KindRateLimited
	case 0:
		// No code: fall through to the status below.
	case 3, 10, 102, 190, 131005:
		return KindAuth
	case 1, 2, 131000, 131016, 131057, 133004:
		return KindUnavailable
	}
	switch {
	case code >= 200 && code <= 299:
		return KindAuth // "Permission denied" family
	case code >= 132000 && code <= 132999:
		return KindTemplate
	case status == 429:
		return KindRateLimited
	case status == 401 || status == 403:
		return KindAuth
	case status >= 500:
		return KindUnavailable
	case code != 0:
		return KindRejected
	}
	return KindProtocol
}

// aboutRecipient reports whether an "invalid parameter" text is about the
// "to" field.
func aboutRecipient(text string) bool {
	// recipient_type is another field; it must not count as the recipient.
	t := strings.ReplaceAll(strings.ToLower(text), "recipient_type", "")
	for _, s := range []string{"'to'", `"to"`, "param to", "parameter to", "recipient", "phone number", "wa_id", "whatsapp id"} {
		if strings.Contains(t, s) {
			return true
		}
	}
	return false
}
