// Package whatsapp sends one-time login codes through the WhatsApp Business
// Cloud API, as an AUTHENTICATION template with a copy-code button.
//
// The template must exist and be approved in WhatsApp Manager; its body
// takes the code as its one parameter and its copy-code button (a URL button
// once created) takes the same code again. Failures come back as *Error,
// whose Kind tells the caller what to do and whose UserMessage is safe to
// show.
package whatsapp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// DefaultBaseURL is the Graph API root, versioned as the Cloud API requires.
const DefaultBaseURL = "https://graph.facebook.com/v23.0"

// DefaultLanguage is the template language used when Config.Language is empty.
const DefaultLanguage = "en_US"

// DefaultTimeout bounds one send when Config.Timeout is zero. A login page
// waits on it, so it is short.
const DefaultTimeout = 10 * time.Second

// MaxCodeLength is the longest one-time password an authentication template
// accepts.
const MaxCodeLength = 15

// maxBody bounds how much of an answer is read. Real answers are under 1 KiB.
const maxBody = 64 << 10

// Config says where and as whom to send.
type Config struct {
	// BaseURL is the API root including the version; DefaultBaseURL if empty.
	BaseURL string
	// PhoneNumberID is the id of the business phone number (not the number).
	PhoneNumberID string
	// AccessToken is a system-user token with whatsapp_business_messaging.
	AccessToken string
	// Template is the name of the approved authentication template.
	Template string
	// Language is the template's language code; DefaultLanguage if empty.
	Language string
	// Timeout bounds one send, including reading the answer; DefaultTimeout
	// if zero.
	Timeout time.Duration
	// HTTPClient is used for requests if set. The default does not follow
	// redirects: a send is never worth replaying elsewhere.
	HTTPClient *http.Client
}

// Client sends codes. It is safe for concurrent use.
type Client struct {
	cfg      Config
	endpoint string
	hc       *http.Client
}

// New returns a client for cfg, filling in defaults. Missing required
// fields are reported by SendCode, as KindRejected, so that a portal with
// WhatsApp half-configured still starts.
func New(cfg Config) *Client {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.Language == "" {
		cfg.Language = DefaultLanguage
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return &Client{
		cfg:      cfg,
		endpoint: strings.TrimRight(cfg.BaseURL, "/") + "/" + cfg.PhoneNumberID + "/messages",
		hc:       hc,
	}
}

// SendCode sends code to phone (E.164, with or without "+") and returns the
// Cloud API message id. A nil error means the API accepted the message, not
// that it was delivered.
func (c *Client) SendCode(ctx context.Context, phone, code string) (string, error) {
	return c.send(ctx, phone, code, c.cfg.Language)
}

// SendCodeIn is SendCode with the template in language lang (a Cloud API
// language code such as "ms" or "pt_BR"). When the template has no
// translation in lang (error 132001), the code goes out in the configured
// language instead: a code in English beats no code.
func (c *Client) SendCodeIn(ctx context.Context, phone, code, lang string) (string, error) {
	if lang == "" || lang == c.cfg.Language {
		return c.send(ctx, phone, code, c.cfg.Language)
	}
	id, err := c.send(ctx, phone, code, lang)
	var we *Error
	if errors.As(err, &we) && we.Code == 132001 {
		return c.send(ctx, phone, code, c.cfg.Language)
	}
	return id, err
}

func (c *Client) send(ctx context.Context, phone, code, lang string) (string, error) {
	if err := c.checkConfig(); err != nil {
		return "", err
	}
	to, ok := NormalizePhone(phone)
	if !ok {
		return "", &Error{Kind: KindInvalidRecipient, Message: "phone number is not E.164 (7 to 15 digits after an optional +)"}
	}
	if !validCode(code) {
		// Message says what is wrong without repeating the code.
		return "", &Error{Kind: KindTemplate, Message: "code must be 1 to 15 printable characters without spaces"}
	}
	body, err := json.Marshal(newTemplateMessage(to, c.cfg.Template, lang, code))
	if err != nil {
		return "", &Error{Kind: KindProtocol, Message: "encode request", Err: err}
	}

	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return "", &Error{Kind: KindRejected, Message: "build request: check BaseURL and PhoneNumberID", Err: err}
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.AccessToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")

	resp, err := c.hc.Do(req)
	if err != nil {
		return "", transportError(ctx, err, 0)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return "", transportError(ctx, err, resp.StatusCode)
	}
	if len(data) > maxBody {
		return "", &Error{Kind: KindProtocol, Status: resp.StatusCode, Message: "answer larger than 64 KiB"}
	}
	id, err := ParseResponse(resp.StatusCode, data)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.redact(c.cfg.AccessToken, code)
		}
		return "", err
	}
	return id, nil
}

// checkConfig reports a configuration that cannot work.
func (c *Client) checkConfig() error {
	var missing []string
	for _, f := range []struct{ name, v string }{
		{"PhoneNumberID", c.cfg.PhoneNumberID}, {"AccessToken", c.cfg.AccessToken}, {"Template", c.cfg.Template},
	} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return &Error{Kind: KindRejected, Message: "not configured: " + strings.Join(missing, ", ") + " empty"}
	}
	if strings.ContainsAny(c.cfg.PhoneNumberID, "/?#") {
		return &Error{Kind: KindRejected, Message: "not configured: PhoneNumberID must be the numeric id"}
	}
	return nil
}

// transportError classifies a failure to get or read an answer. The cause
// (*url.Error) names the URL, which holds no secret.
func transportError(ctx context.Context, err error, status int) *Error {
	var ne net.Error
	switch {
	case ctx.Err() != nil:
		// Deadline or caller cancel: either way nobody waits for the answer.
		return &Error{Kind: KindTimeout, Status: status, Message: "no answer in time", Err: err}
	case errors.As(err, &ne) && ne.Timeout():
		return &Error{Kind: KindTimeout, Status: status, Message: "no answer in time", Err: err}
	}
	return &Error{Kind: KindUnavailable, Status: status, Message: "request failed", Err: err}
}

// NormalizePhone returns the digits of an E.164 number written with or
// without a leading "+", and whether it is one: 7 to 15 digits, the first
// not 0. Spaces and punctuation are refused rather than guessed at.
func NormalizePhone(phone string) (string, bool) {
	d := strings.TrimPrefix(phone, "+")
	if len(d) < 7 || len(d) > 15 || d[0] == '0' {
		return "", false
	}
	for _, c := range []byte(d) {
		if c < '0' || c > '9' {
			return "", false
		}
	}
	return d, true
}

// validCode reports whether code fits a copy-code button.
func validCode(code string) bool {
	if code == "" || len(code) > MaxCodeLength {
		return false
	}
	for _, c := range []byte(code) {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// templateMessage is the request body of a template send.
type templateMessage struct {
	MessagingProduct string   `json:"messaging_product"`
	RecipientType    string   `json:"recipient_type"`
	To               string   `json:"to"`
	Type             string   `json:"type"`
	Template         template `json:"template"`
}

type template struct {
	Name       string      `json:"name"`
	Language   language    `json:"language"`
	Components []component `json:"components"`
}

type language struct {
	Code string `json:"code"`
}

type component struct {
	Type       string      `json:"type"`
	SubType    string      `json:"sub_type,omitempty"`
	Index      string      `json:"index,omitempty"`
	Parameters []parameter `json:"parameters"`
}

type parameter struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// newTemplateMessage builds the authentication-template send: the code fills
// the body's {{1}} and, again, the copy-code button, which the API stores as
// a URL button at index "0" (a string, as the API requires).
func newTemplateMessage(to, name, lang, code string) *templateMessage {
	p := []parameter{{Type: "text", Text: code}}
	return &templateMessage{
		MessagingProduct: "whatsapp",
		RecipientType:    "individual",
		To:               to,
		Type:             "template",
		Template: template{
			Name:     name,
			Language: language{Code: lang},
			Components: []component{
				{Type: "body", Parameters: p},
				{Type: "button", SubType: "url", Index: "0", Parameters: p},
			},
		},
	}
}
