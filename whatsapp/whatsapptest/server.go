// Package whatsapptest is a local double of the WhatsApp Business Cloud API
// send endpoint, for tests and for development without a Meta account.
//
// It checks requests as strictly as the real API does for an authentication
// template (and a little more: the button must repeat the body's code),
// answers with the Graph API's error bodies, records what it accepted, and
// can be told to fail the way the real API fails.
package whatsapptest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// APIVersion is the version segment URL puts in the base URL, as in the real
// "https://graph.facebook.com/v23.0".
const APIVersion = "v23.0"

// Failure is a way for the double to fail a valid request.
type Failure int

// Failures, each answered with the status and body the real API sends.
const (
	FailNone             Failure = iota
	FailInvalidRecipient         // 400, 131009 "Parameter value is not valid" about 'to'
	FailNotWhatsAppUser          // 400, 131026 "Message Undeliverable"
	FailRateLimit                // 400, 130429 "Rate limit hit"
	FailPairRateLimit            // 400, 131056 "(Business Account, Consumer Account) pair rate limit hit"
	FailTooManyRequests          // 429, 80007 "Rate limit issues"
	FailExpiredToken             // 401, 190 subcode 463, OAuthException
	FailTemplate                 // 400, 132001 "Template name does not exist in the translation"
	FailServerError              // 500, 131000 "Something went wrong"
	FailUnavailableHTML          // 503 with an HTML page, as a proxy in front would send
	FailTimeout                  // no answer until the client leaves or the double closes
	FailGarbage                  // 200 with a body that is not JSON
)

var failureNames = [...]string{"none", "invalid_recipient", "not_whatsapp_user", "rate_limit", "pair_rate_limit",
	"too_many_requests", "expired_token", "template", "server_error", "unavailable_html", "timeout", "garbage"}

// String names the failure, for subtest names.
func (f Failure) String() string {
	if f >= 0 && int(f) < len(failureNames) {
		return failureNames[f]
	}
	return fmt.Sprintf("Failure(%d)", int(f))
}

// Message is one accepted send.
type Message struct {
	To       string // "to" as sent, with or without "+"
	Template string
	Language string
	Code     string // the body parameter, which the button repeats
	ID       string // the wamid returned
	Raw      []byte // the request body as received
}

// Handler is the double as an http.Handler, for a development server to
// mount. It serves POST [/vXX.X]/{phone-number-id}/messages.
type Handler struct {
	token, phoneNumberID string

	mu         sync.Mutex
	next       []Failure // consumed one per valid request, before sticky
	sticky     Failure
	delay      time.Duration
	notOnWA    map[string]bool
	templates  map[string]bool // name + "\x00" + language; empty means any
	messages   []Message
	requests   int
	arrived    chan struct{} // closed and replaced on each request
	done       chan struct{}
	closeOnce  sync.Once
	pathRegexp *regexp.Regexp
}

// NewHandler returns a double that accepts token for phoneNumberID.
func NewHandler(token, phoneNumberID string) *Handler {
	return &Handler{
		token:         token,
		phoneNumberID: phoneNumberID,
		notOnWA:       map[string]bool{},
		templates:     map[string]bool{},
		arrived:       make(chan struct{}),
		done:          make(chan struct{}),
		pathRegexp:    regexp.MustCompile(`^(?:/v[0-9]+\.[0-9]+)?/([^/]+)/messages/?$`),
	}
}

// FailNext makes the next n valid requests fail with f, ahead of any
// SetFailure.
func (h *Handler) FailNext(f Failure, n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for range n {
		h.next = append(h.next, f)
	}
}

// SetFailure makes every valid request fail with f until Clear.
func (h *Handler) SetFailure(f Failure) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sticky = f
}

// Clear drops pending and sticky failures and the delay.
func (h *Handler) Clear() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.next, h.sticky, h.delay = nil, FailNone, 0
}

// SetDelay holds every answer for d (or until the client leaves), to
// simulate a slow API.
func (h *Handler) SetDelay(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.delay = d
}

// NotOnWhatsApp adds numbers (with or without "+") that answer 131026, as a
// number without WhatsApp does.
func (h *Handler) NotOnWhatsApp(phones ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range phones {
		h.notOnWA[strings.TrimPrefix(p, "+")] = true
	}
}

// RequireTemplate declares an approved template. Once one is declared, any
// other name or language answers 132001, as the real API does.
func (h *Handler) RequireTemplate(name, language string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.templates[name+"\x00"+language] = true
}

// Messages returns the accepted messages, oldest first.
func (h *Handler) Messages() []Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Message, len(h.messages))
	for i, m := range h.messages {
		m.Raw = append([]byte(nil), m.Raw...)
		out[i] = m
	}
	return out
}

// LastCode returns the code of the latest accepted message to the number
// (with or without "+").
func (h *Handler) LastCode(to string) (string, bool) {
	to = strings.TrimPrefix(to, "+")
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := len(h.messages) - 1; i >= 0; i-- {
		if strings.TrimPrefix(h.messages[i].To, "+") == to {
			return h.messages[i].Code, true
		}
	}
	return "", false
}

// Requests returns how many requests arrived, valid or not.
func (h *Handler) Requests() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.requests
}

// WaitRequests blocks until at least n requests have arrived or ctx ends,
// so a test can act while a request is held without sleeping.
func (h *Handler) WaitRequests(ctx context.Context, n int) error {
	for {
		h.mu.Lock()
		got, ch := h.requests, h.arrived
		h.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close releases held requests (their connections are dropped without an
// answer) and makes new ones drop at once.
func (h *Handler) Close() { h.closeOnce.Do(func() { close(h.done) }) }

// ServeHTTP answers one request the way the Cloud API would.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.requests++
	close(h.arrived)
	h.arrived = make(chan struct{})
	h.mu.Unlock()

	m := h.pathRegexp.FindStringSubmatch(r.URL.Path)
	if m == nil {
		writeError(w, http.StatusBadRequest, apiErr{Type: "OAuthException", Code: 2500, Message: "Unknown path components: " + r.URL.Path})
		return
	}
	if m[1] != h.phoneNumberID || r.Method != http.MethodPost {
		writeError(w, http.StatusBadRequest, apiErr{Type: "GraphMethodException", Code: 100, Subcode: 33,
			Message: fmt.Sprintf("Unsupported %s request. Object with ID '%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api",
				strings.ToLower(r.Method), m[1])})
		return
	}
	if !h.authorized(r) {
		writeError(w, http.StatusUnauthorized, apiErr{Type: "OAuthException", Code: 190, Message: "Invalid OAuth access token - Cannot parse access token"})
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, invalidParam("request body too large"))
		return
	}
	msg, ae, status := h.validate(r.Header.Get("Content-Type"), raw)
	if ae != nil {
		writeError(w, status, *ae)
		return
	}

	h.mu.Lock()
	f := h.sticky
	if len(h.next) > 0 {
		f, h.next = h.next[0], h.next[1:]
	}
	if f == FailNone && h.notOnWA[strings.TrimPrefix(msg.To, "+")] {
		f = FailNotWhatsAppUser
	}
	delay := h.delay
	h.mu.Unlock()

	if !h.wait(r.Context(), delay, f == FailTimeout) {
		// Drop the connection: an answer nobody reads, or a 200 with no
		// body, would mislead more than silence.
		panic(http.ErrAbortHandler)
	}
	if f != FailNone {
		writeFailure(w, f)
		return
	}

	msg.ID = newWAMID()
	msg.Raw = raw
	h.mu.Lock()
	h.messages = append(h.messages, msg)
	h.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"messaging_product": "whatsapp",
		"contacts":          []map[string]string{{"input": msg.To, "wa_id": strings.TrimPrefix(msg.To, "+")}},
		"messages":          []map[string]string{{"id": msg.ID, "message_status": "accepted"}},
	})
}

// wait holds the request for d, or forever when hold is set. It reports
// false when the client left or the double closed first.
func (h *Handler) wait(ctx context.Context, d time.Duration, hold bool) bool {
	if !hold && d <= 0 {
		select {
		case <-h.done:
			return false
		default:
			return true
		}
	}
	var timeout <-chan time.Time
	if !hold {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-timeout:
		return true
	case <-ctx.Done():
	case <-h.done:
	}
	return false
}

func (h *Handler) authorized(r *http.Request) bool {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	return ok && strings.EqualFold(scheme, "Bearer") && tok != "" && tok == h.token
}

// request is the body as sent; pointers tell a missing field from an empty
// one, and index stays raw to tell "0" from 0.
type request struct {
	MessagingProduct *string      `json:"messaging_product"`
	RecipientType    *string      `json:"recipient_type"`
	To               *string      `json:"to"`
	Type             *string      `json:"type"`
	Template         *requestTmpl `json:"template"`
}

type requestTmpl struct {
	Name     *string `json:"name"`
	Language *struct {
		Code   *string `json:"code"`
		Policy *string `json:"policy"`
	} `json:"language"`
	Components []requestComponent `json:"components"`
}

type requestComponent struct {
	Type       *string         `json:"type"`
	SubType    *string         `json:"sub_type"`
	Index      json.RawMessage `json:"index"`
	Parameters []struct {
		Type *string `json:"type"`
		Text *string `json:"text"`
	} `json:"parameters"`
}

var e164 = regexp.MustCompile(`^\+?[1-9][0-9]{6,14}$`)

// validate checks the body field by field and returns the message or the
// error the API would give.
func (h *Handler) validate(contentType string, raw []byte) (Message, *apiErr, int) {
	bad := http.StatusBadRequest
	if mt, _, err := mime.ParseMediaType(contentType); err != nil || mt != "application/json" {
		// The Graph API reads other bodies as forms, so a JSON body sent as
		// anything else arrives without its fields.
		return Message{}, &apiErr{Type: "OAuthException", Code: 100, Message: "(#100) The parameter messaging_product is required."}, bad
	}
	var req request
	if err := json.Unmarshal(raw, &req); err != nil {
		return Message{}, ptr(invalidParam("request body is not valid JSON: " + err.Error())), bad
	}
	switch {
	case req.MessagingProduct == nil:
		return Message{}, &apiErr{Type: "OAuthException", Code: 100, Message: "(#100) The parameter messaging_product is required."}, bad
	case *req.MessagingProduct != "whatsapp":
		return Message{}, &apiErr{Type: "OAuthException", Code: 100, Message: fmt.Sprintf("(#100) Param messaging_product must be one of {WHATSAPP} - got %q.", *req.MessagingProduct)}, bad
	case req.RecipientType != nil && *req.RecipientType != "individual":
		return Message{}, &apiErr{Type: "OAuthException", Code: 131009, Message: "(#131009) Parameter value is not valid", Details: "recipient_type must be 'individual'"}, bad
	case req.To == nil || *req.To == "":
		return Message{}, missing("to"), bad
	case !e164.MatchString(*req.To):
		return Message{}, ptr(failureError(FailInvalidRecipient)), bad
	case req.Type == nil:
		return Message{}, missing("type"), bad
	case *req.Type != "template":
		return Message{}, &apiErr{Type: "OAuthException", Code: 131009, Message: "(#131009) Parameter value is not valid", Details: "type must be 'template': this double accepts authentication templates only"}, bad
	case req.Template == nil:
		return Message{}, missing("template"), bad
	case req.Template.Name == nil || *req.Template.Name == "":
		return Message{}, missing("template.name"), bad
	case req.Template.Language == nil || req.Template.Language.Code == nil || *req.Template.Language.Code == "":
		return Message{}, missing("template.language.code"), bad
	case req.Template.Language.Policy != nil && *req.Template.Language.Policy != "deterministic":
		return Message{}, &apiErr{Type: "OAuthException", Code: 131009, Message: "(#131009) Parameter value is not valid", Details: "template.language.policy must be 'deterministic'"}, bad
	}
	name, lang := *req.Template.Name, *req.Template.Language.Code
	h.mu.Lock()
	known := len(h.templates) == 0 || h.templates[name+"\x00"+lang]
	h.mu.Unlock()
	if !known {
		return Message{}, &apiErr{Type: "OAuthException", Code: 132001, Message: "(#132001) Template name does not exist in the translation",
			Details: fmt.Sprintf("template name (%s) does not exist in %s", name, lang)}, bad
	}
	code, ae := checkComponents(req.Template.Components)
	if ae != nil {
		return Message{}, ae, bad
	}
	return Message{To: *req.To, Template: name, Language: lang, Code: code}, nil, 0
}

// checkComponents requires exactly the body with the code and the URL
// button at index "0" repeating it, and returns the code.
func checkComponents(cs []requestComponent) (string, *apiErr) {
	mismatch := func(d string) *apiErr {
		return &apiErr{Type: "OAuthException", Code: 132000, Message: "(#132000) Number of parameters does not match the expected number of params", Details: d}
	}
	invalid := func(d string) *apiErr {
		return &apiErr{Type: "OAuthException", Code: 131009, Message: "(#131009) Parameter value is not valid", Details: d}
	}
	var body, button *requestComponent
	for i := range cs {
		c := &cs[i]
		switch {
		case c.Type == nil:
			return "", missing(fmt.Sprintf("template.components[%d].type", i))
		case *c.Type == "body" && body == nil:
			body = c
		case *c.Type == "button" && button == nil:
			button = c
		default:
			return "", invalid(fmt.Sprintf("template.components[%d]: unexpected component %q for an authentication template", i, *c.Type))
		}
	}
	if body == nil {
		return "", mismatch("body: number of localizable_params (0) does not match the expected number of params (1)")
	}
	if len(body.Parameters) != 1 {
		return "", mismatch(fmt.Sprintf("body: number of localizable_params (%d) does not match the expected number of params (1)", len(body.Parameters)))
	}
	p := body.Parameters[0]
	if p.Type == nil || *p.Type != "text" || p.Text == nil || *p.Text == "" {
		return "", invalid("body parameter must be of type 'text' with non-empty text")
	}
	code := *p.Text
	if len(code) > 15 {
		return "", invalid("the one-time password must be at most 15 characters")
	}
	if button == nil {
		return "", mismatch("buttons: number of button components (0) does not match the expected number (1) for the copy code button")
	}
	var index string
	switch {
	case button.SubType == nil || *button.SubType != "url":
		return "", invalid("button sub_type must be 'url' for a copy code button")
	case len(button.Index) == 0:
		return "", missing("template.components[button].index")
	case json.Unmarshal(button.Index, &index) != nil:
		return "", &apiErr{Type: "OAuthException", Code: 100, Message: "(#100) Invalid parameter", Details: "Param template['components'][1]['index'] must be a string."}
	case index != "0":
		return "", invalid(fmt.Sprintf("button index %q does not exist in the template", index))
	case len(button.Parameters) != 1:
		return "", mismatch(fmt.Sprintf("button: number of parameters (%d) does not match the expected number of params (1)", len(button.Parameters)))
	}
	bp := button.Parameters[0]
	if bp.Type == nil || *bp.Type != "text" || bp.Text == nil || *bp.Text != code {
		return "", invalid("button parameter must be of type 'text' and repeat the body's code")
	}
	return code, nil
}

// apiErr is the "error" object of a Graph API error body.
type apiErr struct {
	Message string
	Type    string
	Code    int
	Subcode int
	Details string
}

func ptr(e apiErr) *apiErr { return &e }

func missing(param string) *apiErr {
	return &apiErr{Type: "OAuthException", Code: 131008, Message: "(#131008) Required parameter is missing", Details: fmt.Sprintf("Parameter '%s' is required.", param)}
}

func invalidParam(details string) apiErr {
	return apiErr{Type: "OAuthException", Code: 100, Message: "(#100) Invalid parameter", Details: details}
}

// failureError is the body of each failure that has one.
func failureError(f Failure) apiErr {
	switch f {
	case FailInvalidRecipient:
		return apiErr{Type: "OAuthException", Code: 131009, Message: "(#131009) Parameter value is not valid", Details: "Recipient phone number 'to' is not a valid phone number."}
	case FailNotWhatsAppUser:
		return apiErr{Type: "OAuthException", Code: 131026, Message: "(#131026) Message Undeliverable",
			Details: "Message failed to send because the recipient phone number is not a WhatsApp phone number, has not accepted the latest Terms of Service, or uses an outdated WhatsApp client."}
	case FailRateLimit:
		return apiErr{Type: "OAuthException", Code: 130429, Message: "(#130429) Rate limit hit", Details: "Cloud API message throughput has been reached."}
	case FailPairRateLimit:
		return apiErr{Type: "OAuthException", Code: 131056, Message: "(#131056) (Business Account, Consumer Account) pair rate limit hit",
			Details: "Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time."}
	case FailTooManyRequests:
		return apiErr{Type: "OAuthException", Code: 80007, Message: "(#80007) There have been too many calls to this WhatsApp Business account. Wait a bit and try again.",
			Details: "The WhatsApp Business Account has reached its rate limit."}
	case FailExpiredToken:
		return apiErr{Type: "OAuthException", Code: 190, Subcode: 463, Message: "Error validating access token: Session has expired."}
	case FailTemplate:
		return apiErr{Type: "OAuthException", Code: 132001, Message: "(#132001) Template name does not exist in the translation", Details: "template name does not exist in the translation or is not approved"}
	case FailServerError:
		return apiErr{Type: "OAuthException", Code: 131000, Message: "(#131000) Something went wrong", Details: "Message failed to send due to an unknown error."}
	}
	return apiErr{Type: "OAuthException", Code: 1, Message: "An unknown error occurred"}
}

// failureStatus is the HTTP status of each failure.
var failureStatus = map[Failure]int{
	FailTooManyRequests: http.StatusTooManyRequests,
	FailExpiredToken:    http.StatusUnauthorized,
	FailServerError:     http.StatusInternalServerError,
}

func writeFailure(w http.ResponseWriter, f Failure) {
	switch f {
	case FailUnavailableHTML:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "<!DOCTYPE html>\n<html><head><title>Service Unavailable</title></head><body><h1>Sorry, something went wrong.</h1><p>We're working on it and we'll get it fixed as soon as we can.</p></body></html>\n")
		return
	case FailGarbage:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "upstream connect error or disconnect/reset before headers. reset reason: connection termination")
		return
	}
	status, ok := failureStatus[f]
	if !ok {
		status = http.StatusBadRequest
	}
	writeError(w, status, failureError(f))
}

func writeError(w http.ResponseWriter, status int, e apiErr) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `OAuth "Facebook Platform" "invalid_token" "`+e.Message+`"`)
	}
	body := map[string]any{"message": e.Message, "type": e.Type, "code": e.Code, "fbtrace_id": newTraceID()}
	if e.Subcode != 0 {
		body["error_subcode"] = e.Subcode
	}
	if e.Details != "" {
		body["error_data"] = map[string]string{"messaging_product": "whatsapp", "details": e.Details}
	}
	writeJSON(w, status, map[string]any{"error": body})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// newWAMID returns an id shaped like the API's: "wamid." and base64.
func newWAMID() string {
	b := make([]byte, 36)
	rand.Read(b)
	return "wamid.HBgL" + base64.StdEncoding.EncodeToString(b)
}

func newTraceID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "A" + base64.RawURLEncoding.EncodeToString(b)[:22]
}

// Server is the double listening on 127.0.0.1 for one test.
type Server struct {
	*Handler
	ts *httptest.Server
}

// NewServer starts the double for token and phoneNumberID; the test's
// cleanup closes it.
func NewServer(t testing.TB, token, phoneNumberID string) *Server {
	t.Helper()
	h := NewHandler(token, phoneNumberID)
	s := &Server{Handler: h, ts: httptest.NewServer(h)}
	t.Cleanup(s.Close)
	return s
}

// URL is the base URL for whatsapp.Config.BaseURL, versioned like the real one.
func (s *Server) URL() string { return s.ts.URL + "/" + APIVersion }

// Close releases held requests, then stops the server and waits for its
// handlers, so nothing outlives the test.
func (s *Server) Close() {
	s.Handler.Close()
	s.ts.Close()
}
