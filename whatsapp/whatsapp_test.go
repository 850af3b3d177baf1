package whatsapp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clientportal/portal/whatsapp"
	"github.com/clientportal/portal/whatsapp/whatsapptest"
)

// Secrets chosen so that they cannot appear by chance in a random trace id.
const (
	token   = "EAAtest-Secret-Token-9f2c"
	phoneID = "106540352242922"
	tmpl    = "login_code"
	phone   = "+4915112345678"
	code    = "K3Q9Z7XW"
)

func newClient(t *testing.T, mod ...func(*whatsapp.Config)) (*whatsapp.Client, *whatsapptest.Server) {
	t.Helper()
	srv := whatsapptest.NewServer(t, token, phoneID)
	cfg := whatsapp.Config{BaseURL: srv.URL(), PhoneNumberID: phoneID, AccessToken: token, Template: tmpl, Language: "de", Timeout: 5 * time.Second}
	for _, m := range mod {
		m(&cfg)
	}
	return whatsapp.New(cfg), srv
}

// asError returns err as *whatsapp.Error or fails the test.
func asError(t *testing.T, err error) *whatsapp.Error {
	t.Helper()
	var e *whatsapp.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *whatsapp.Error", err, err)
	}
	return e
}

// assertNoSecrets checks every text an operator or user may see.
func assertNoSecrets(t *testing.T, e *whatsapp.Error, secrets ...string) {
	t.Helper()
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Error("send failed", "err", e)
	texts := map[string]string{"Error()": e.Error(), "UserMessage()": e.UserMessage(), "log": logged.String()}
	for name, text := range texts {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s contains secret %q: %s", name, s, text)
			}
		}
	}
	if strings.ContainsAny(e.UserMessage(), "0123456789") {
		t.Errorf("user message has digits (a code or number?): %q", e.UserMessage())
	}
}

// TestSendCodeRequestBody checks, field by field, the JSON the Cloud API
// receives for an authentication template with a copy-code button.
func TestSendCodeRequestBody(t *testing.T) {
	c, srv := newClient(t)
	id, err := c.SendCode(context.Background(), phone, code)
	if err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("double recorded %d messages, want 1", len(msgs))
	}
	if !strings.HasPrefix(id, "wamid.") || id != msgs[0].ID {
		t.Errorf("id %q, double answered %q", id, msgs[0].ID)
	}
	if got, ok := srv.LastCode(phone); !ok || got != code {
		t.Errorf("LastCode = %q, %v", got, ok)
	}

	var body map[string]any
	if err := json.Unmarshal(msgs[0].Raw, &body); err != nil {
		t.Fatal(err)
	}
	text := map[string]any{"type": "text", "text": code}
	want := map[string]any{
		"messaging_product": "whatsapp",
		"recipient_type":    "individual",
		"to":                "4915112345678",
		"type":              "template",
		"template": map[string]any{
			"name":     tmpl,
			"language": map[string]any{"code": "de"},
			"components": []any{
				map[string]any{"type": "body", "parameters": []any{text}},
				map[string]any{"type": "button", "sub_type": "url", "index": "0", "parameters": []any{text}},
			},
		},
	}
	// Walk want so a failure names the field, then compare whole to catch
	// extra fields.
	var walk func(path string, w, g any)
	walk = func(path string, w, g any) {
		switch w := w.(type) {
		case map[string]any:
			gm, ok := g.(map[string]any)
			if !ok {
				t.Errorf("%s: got %T %v, want an object", path, g, g)
				return
			}
			for k, v := range w {
				walk(path+"."+k, v, gm[k])
			}
		case []any:
			gs, ok := g.([]any)
			if !ok || len(gs) != len(w) {
				t.Errorf("%s: got %v, want %d elements", path, g, len(w))
				return
			}
			for i := range w {
				walk(fmt.Sprintf("%s[%d]", path, i), w[i], gs[i])
			}
		default:
			if g != w {
				t.Errorf("%s = %#v (%T), want %#v (%T)", path, g, g, w, w)
			}
		}
	}
	walk("body", want, body)
	if !reflect.DeepEqual(body, want) {
		t.Errorf("body has fields beyond the contract:\n got %s", msgs[0].Raw)
	}
	if idx, ok := body["template"].(map[string]any)["components"].([]any)[1].(map[string]any)["index"].(string); !ok || idx != "0" {
		t.Errorf("button index must be the JSON string \"0\", got %#v", idx)
	}
}

// TestSendCodeFailures maps each way the API fails to a Kind and to a user
// message that gives nothing away.
func TestSendCodeFailures(t *testing.T) {
	for _, tc := range []struct {
		fail      whatsapptest.Failure
		kind      whatsapp.Kind
		status    int
		apiCode   int
		retryable bool
	}{
		{whatsapptest.FailInvalidRecipient, whatsapp.KindInvalidRecipient, 400, 131009, false},
		{whatsapptest.FailNotWhatsAppUser, whatsapp.KindNotWhatsAppUser, 400, 131026, false},
		{whatsapptest.FailRateLimit, whatsapp.KindRateLimited, 400, 130429, true},
		{whatsapptest.FailPairRateLimit, whatsapp.KindRateLimited, 400, 131056, true},
		{whatsapptest.FailTooManyRequests, whatsapp.KindRateLimited, 429, 80007, true},
		{whatsapptest.FailExpiredToken, whatsapp.KindAuth, 401, 190, false},
		{whatsapptest.FailTemplate, whatsapp.KindTemplate, 400, 132001, false},
		{whatsapptest.FailServerError, whatsapp.KindUnavailable, 500, 131000, true},
		{whatsapptest.FailUnavailableHTML, whatsapp.KindUnavailable, 503, 0, true},
		{whatsapptest.FailGarbage, whatsapp.KindProtocol, 200, 0, false},
	} {
		t.Run(tc.fail.String(), func(t *testing.T) {
			c, srv := newClient(t)
			srv.FailNext(tc.fail, 1)
			_, err := c.SendCode(context.Background(), phone, code)
			e := asError(t, err)
			if e.Kind != tc.kind || e.Status != tc.status || e.Code != tc.apiCode || e.Retryable() != tc.retryable {
				t.Errorf("got kind %s status %d code %d retryable %v, want %s %d %d %v: %v",
					e.Kind, e.Status, e.Code, e.Retryable(), tc.kind, tc.status, tc.apiCode, tc.retryable, e)
			}
			if tc.apiCode != 0 && e.TraceID == "" {
				t.Errorf("fbtrace_id lost: %v", e)
			}
			if e.UserMessage() == "" {
				t.Error("empty user message")
			}
			assertNoSecrets(t, e, token, code)
			if len(srv.Messages()) != 0 {
				t.Error("a failed send was recorded as accepted")
			}
			// FailNext(…, 1) is spent: the next send goes through.
			if _, err := c.SendCode(context.Background(), phone, code); err != nil {
				t.Errorf("second send: %v", err)
			}
		})
	}
}

func TestUserMessages(t *testing.T) {
	notWA := (&whatsapp.Error{Kind: whatsapp.KindNotWhatsAppUser}).UserMessage()
	if notWA != "We could not send a WhatsApp message to this number. Check that it is a WhatsApp number, or use another method." {
		t.Errorf("not-a-WhatsApp-user message changed: %q", notWA)
	}
	rate := (&whatsapp.Error{Kind: whatsapp.KindRateLimited, Code: 130429}).UserMessage()
	if rate != "WhatsApp is not accepting messages from us right now. Try again in a few minutes or use another method." {
		t.Errorf("rate-limit message changed: %q", rate)
	}
	pair := (&whatsapp.Error{Kind: whatsapp.KindRateLimited, Code: 131056}).UserMessage()
	if !strings.Contains(pair, "this number") {
		t.Errorf("pair rate limit should say it is about this number: %q", pair)
	}
	for _, k := range []whatsapp.Kind{whatsapp.KindInvalidRecipient, whatsapp.KindNotWhatsAppUser, whatsapp.KindRateLimited,
		whatsapp.KindAuth, whatsapp.KindTemplate, whatsapp.KindUnavailable, whatsapp.KindTimeout, whatsapp.KindProtocol, whatsapp.KindRejected} {
		e := &whatsapp.Error{Kind: k, Message: "(#190) token " + token, Code: 190}
		m := e.UserMessage()
		if m == "" || !strings.HasSuffix(m, ".") || strings.ContainsAny(m, "0123456789#") || strings.Contains(m, token) {
			t.Errorf("%s: user message %q", k, m)
		}
	}
}

func TestNotOnWhatsApp(t *testing.T) {
	c, srv := newClient(t)
	srv.NotOnWhatsApp("+4915100000000")
	_, err := c.SendCode(context.Background(), "4915100000000", code)
	if e := asError(t, err); e.Kind != whatsapp.KindNotWhatsAppUser || e.Code != 131026 {
		t.Errorf("got %v", e)
	}
	if _, err := c.SendCode(context.Background(), phone, code); err != nil {
		t.Errorf("other number: %v", err)
	}
}

// TestRejectedLocally: input that cannot work never reaches the API.
func TestRejectedLocally(t *testing.T) {
	for name, tc := range map[string]struct {
		phone, code string
		mod         func(*whatsapp.Config)
		kind        whatsapp.Kind
	}{
		"empty phone":       {"", code, nil, whatsapp.KindInvalidRecipient},
		"too short":         {"+123456", code, nil, whatsapp.KindInvalidRecipient},
		"too long":          {"+1234567890123456", code, nil, whatsapp.KindInvalidRecipient},
		"spaces":            {"+49 151 12345678", code, nil, whatsapp.KindInvalidRecipient},
		"national prefix":   {"015112345678", code, nil, whatsapp.KindInvalidRecipient},
		"letters":           {"+49151ABCDEFG", code, nil, whatsapp.KindInvalidRecipient},
		"double plus":       {"++4915112345678", code, nil, whatsapp.KindInvalidRecipient},
		"empty code":        {phone, "", nil, whatsapp.KindTemplate},
		"code too long":     {phone, "1234567890123456", nil, whatsapp.KindTemplate},
		"code with space":   {phone, "123 456", nil, whatsapp.KindTemplate},
		"no token":          {phone, code, func(c *whatsapp.Config) { c.AccessToken = "" }, whatsapp.KindRejected},
		"no template":       {phone, code, func(c *whatsapp.Config) { c.Template = "" }, whatsapp.KindRejected},
		"no phone id":       {phone, code, func(c *whatsapp.Config) { c.PhoneNumberID = "" }, whatsapp.KindRejected},
		"phone id with a /": {phone, code, func(c *whatsapp.Config) { c.PhoneNumberID = "1/2" }, whatsapp.KindRejected},
	} {
		t.Run(name, func(t *testing.T) {
			mod := tc.mod
			if mod == nil {
				mod = func(*whatsapp.Config) {}
			}
			c, srv := newClient(t, mod)
			_, err := c.SendCode(context.Background(), tc.phone, tc.code)
			e := asError(t, err)
			if e.Kind != tc.kind {
				t.Errorf("kind %s, want %s: %v", e.Kind, tc.kind, e)
			}
			if n := srv.Requests(); n != 0 {
				t.Errorf("%d requests reached the API", n)
			}
			assertNoSecrets(t, e, token)
			if tc.code != "" {
				assertNoSecrets(t, e, tc.code)
			}
		})
	}
}

// TestMisconfigured: a wrong token or phone number id is the operator's to
// fix, and says so in the log.
func TestMisconfigured(t *testing.T) {
	for name, tc := range map[string]struct {
		mod  func(*whatsapp.Config)
		kind whatsapp.Kind
		code int
	}{
		"wrong token":    {func(c *whatsapp.Config) { c.AccessToken = "EAAwrong" }, whatsapp.KindAuth, 190},
		"wrong phone id": {func(c *whatsapp.Config) { c.PhoneNumberID = "999" }, whatsapp.KindRejected, 100},
		"wrong version":  {func(c *whatsapp.Config) { c.BaseURL += "/extra" }, whatsapp.KindRejected, 2500},
		"template unknown": {func(c *whatsapp.Config) { c.Template = "hello_world" },
			whatsapp.KindTemplate, 132001},
	} {
		t.Run(name, func(t *testing.T) {
			c, srv := newClient(t, tc.mod)
			srv.RequireTemplate(tmpl, "de")
			_, err := c.SendCode(context.Background(), phone, code)
			e := asError(t, err)
			if e.Kind != tc.kind || e.Code != tc.code {
				t.Errorf("got %s code %d, want %s %d: %v", e.Kind, e.Code, tc.kind, tc.code, e)
			}
			assertNoSecrets(t, e, token, "EAAwrong", code)
		})
	}
}

// TestTimeout: a held request ends in KindTimeout soon after the client's
// Timeout, and a caller's deadline works the same way.
func TestTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	for name, ctxFn := range map[string]func() (context.Context, context.CancelFunc){
		"client timeout": func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
		"caller deadline": func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), timeout)
		},
	} {
		t.Run(name, func(t *testing.T) {
			c, srv := newClient(t, func(c *whatsapp.Config) {
				if name == "client timeout" {
					c.Timeout = timeout
				}
			})
			srv.SetFailure(whatsapptest.FailTimeout)
			start := time.Now() // before the deadline is set, so elapsed >= timeout
			ctx, cancel := ctxFn()
			defer cancel()
			_, err := c.SendCode(ctx, phone, code)
			elapsed := time.Since(start)
			e := asError(t, err)
			if e.Kind != whatsapp.KindTimeout || !e.Retryable() || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("got %v", e)
			}
			// The double never answers, so ending at all shows the timeout
			// works; the upper bound only leaves room for a loaded CI machine.
			if elapsed < timeout || elapsed > 5*time.Second {
				t.Errorf("gave up after %v, want about %v", elapsed, timeout)
			}
			assertNoSecrets(t, e, token, code)
		})
	}
}

// TestSlowButInTime: a delay shorter than the timeout is only a delay.
func TestSlowButInTime(t *testing.T) {
	c, srv := newClient(t)
	srv.SetDelay(20 * time.Millisecond)
	if _, err := c.SendCode(context.Background(), phone, code); err != nil {
		t.Fatal(err)
	}
}

// TestConnectionDropped: a connection closed without an answer is
// KindUnavailable. (A dropped connection rather than a closed port: another
// test process could take the port over.)
func TestConnectionDropped(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }))
	defer ts.Close()
	c := whatsapp.New(whatsapp.Config{BaseURL: ts.URL, PhoneNumberID: phoneID, AccessToken: token, Template: tmpl})
	_, err := c.SendCode(context.Background(), phone, code)
	if e := asError(t, err); e.Kind != whatsapp.KindUnavailable || !e.Retryable() {
		t.Errorf("got %v", e)
	}
}

// TestSecretsEchoed: even an API (or proxy) that echoes the token and the
// code gets them scrubbed from everything the error shows.
func TestSecretsEchoed(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
			"message":    "(#131009) bad header " + r.Header.Get("Authorization"),
			"type":       "OAuthException " + token,
			"code":       131009,
			"error_data": map[string]any{"details": "body was " + string(body)},
			"fbtrace_id": "A" + code,
		}})
	}))
	defer ts.Close()
	c := whatsapp.New(whatsapp.Config{BaseURL: ts.URL, PhoneNumberID: phoneID, AccessToken: token, Template: tmpl})
	_, err := c.SendCode(context.Background(), phone, code)
	e := asError(t, err)
	if e.Code != 131009 || e.Status != http.StatusBadRequest {
		t.Errorf("got %v", e)
	}
	assertNoSecrets(t, e, token, code)
}

// TestLogAttrs: the operator's log carries what Meta support asks for.
func TestLogAttrs(t *testing.T) {
	c, srv := newClient(t)
	srv.FailNext(whatsapptest.FailExpiredToken, 1)
	_, err := c.SendCode(context.Background(), phone, code)
	e := asError(t, err)
	got := map[string]any{}
	for _, a := range e.LogAttrs() {
		got[a.Key] = a.Value.Any()
	}
	for _, k := range []string{"kind", "status", "code", "subcode", "type", "message", "fbtrace_id"} {
		if _, ok := got[k]; !ok {
			t.Errorf("LogAttrs lacks %q: %v", k, got)
		}
	}
	if got["kind"] != "auth" || got["code"] != int64(190) || got["subcode"] != int64(463) || got["type"] != "OAuthException" {
		t.Errorf("LogAttrs = %v", got)
	}
}

// TestConcurrentSends runs under -race in CI.
func TestConcurrentSends(t *testing.T) {
	c, srv := newClient(t)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			if _, err := c.SendCode(context.Background(), fmt.Sprintf("+491511234%04d", i), fmt.Sprint(100000+i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := len(srv.Messages()); n != 16 {
		t.Errorf("%d messages recorded, want 16", n)
	}
	if got, ok := srv.LastCode("+4915112340007"); !ok || got != "100007" {
		t.Errorf("LastCode = %q, %v", got, ok)
	}
}

// TestParseResponse covers bodies the double does not produce.
func TestParseResponse(t *testing.T) {
	for name, tc := range map[string]struct {
		status int
		body   string
		id     string
		kind   whatsapp.Kind
		code   int
	}{
		"success":              {200, `{"messaging_product":"whatsapp","contacts":[{"input":"+1","wa_id":"1"}],"messages":[{"id":"wamid.X"}]}`, "wamid.X", "", 0},
		"success without id":   {200, `{"messaging_product":"whatsapp","messages":[]}`, "", whatsapp.KindProtocol, 0},
		"success empty":        {200, ``, "", whatsapp.KindProtocol, 0},
		"id with newline":      {200, `{"messages":[{"id":"wamid.\nX"}]}`, "", whatsapp.KindProtocol, 0},
		"error under 200":      {200, `{"error":{"code":131026,"message":"(#131026) Message Undeliverable"}}`, "", whatsapp.KindNotWhatsAppUser, 131026},
		"code as string":       {400, `{"error":{"code":"130429"}}`, "", whatsapp.KindRateLimited, 130429},
		"to invalid (100)":     {400, `{"error":{"code":100,"message":"(#100) Invalid parameter","error_data":{"details":"Param to must be a valid phone number"}}}`, "", whatsapp.KindInvalidRecipient, 100},
		"wrong phone id (100)": {400, `{"error":{"code":100,"error_subcode":33,"message":"Unsupported post request. Object with ID '1' does not exist"}}`, "", whatsapp.KindRejected, 100},
		"code param (131009)":  {400, `{"error":{"code":131009,"message":"(#131009) Parameter value is not valid","error_data":{"details":"button text too long"}}}`, "", whatsapp.KindTemplate, 131009},
		"recipient (131009)":   {400, `{"error":{"code":131009,"message":"(#131009) Parameter value is not valid","error_data":{"details":"Recipient phone number is invalid"}}}`, "", whatsapp.KindInvalidRecipient, 131009},
		"recipient is sender":  {400, `{"error":{"code":131021}}`, "", whatsapp.KindInvalidRecipient, 131021},
		"allow list (test)":    {400, `{"error":{"code":131030,"message":"(#131030) Recipient phone number not in allowed list"}}`, "", whatsapp.KindRejected, 131030},
		"template paused":      {400, `{"error":{"code":132015}}`, "", whatsapp.KindTemplate, 132015},
		"param mismatch":       {400, `{"error":{"code":132000}}`, "", whatsapp.KindTemplate, 132000},
		"permission":           {403, `{"error":{"code":10,"message":"(#10) Application does not have permission for this action"}}`, "", whatsapp.KindAuth, 10},
		"permission 200":       {403, `{"error":{"code":200}}`, "", whatsapp.KindAuth, 200},
		"app rate limit":       {400, `{"error":{"code":4}}`, "", whatsapp.KindRateLimited, 4},
		"spam limit":           {400, `{"error":{"code":131048}}`, "", whatsapp.KindRateLimited, 131048},
		"service":              {503, `{"error":{"code":2}}`, "", whatsapp.KindUnavailable, 2},
		"unknown":              {500, `{"error":{"code":1}}`, "", whatsapp.KindUnavailable, 1},
		"131016":               {503, `{"error":{"code":131016}}`, "", whatsapp.KindUnavailable, 131016},
		"unknown code 4xx":     {400, `{"error":{"code":368,"message":"Temporarily blocked for policies violations"}}`, "", whatsapp.KindRejected, 368},
		"unknown code 5xx":     {502, `{"error":{"code":999999}}`, "", whatsapp.KindUnavailable, 999999},
		"html 502":             {502, `<html>Bad Gateway</html>`, "", whatsapp.KindUnavailable, 0},
		"empty 401":            {401, ``, "", whatsapp.KindAuth, 0},
		"empty 429":            {429, ``, "", whatsapp.KindRateLimited, 0},
		"html 404":             {404, `<html>Not Found</html>`, "", whatsapp.KindProtocol, 0},
		"redirect":             {302, ``, "", whatsapp.KindProtocol, 0},
		"error not an object":  {400, `{"error":"nope"}`, "", whatsapp.KindProtocol, 0},
	} {
		t.Run(name, func(t *testing.T) {
			id, err := whatsapp.ParseResponse(tc.status, []byte(tc.body))
			if tc.kind == "" {
				if err != nil || id != tc.id {
					t.Fatalf("got %q, %v; want %q", id, err, tc.id)
				}
				return
			}
			e := asError(t, err)
			if id != "" || e.Kind != tc.kind || e.Code != tc.code || e.Status != tc.status {
				t.Errorf("got id %q kind %s code %d status %d, want kind %s code %d: %v", id, e.Kind, e.Code, e.Status, tc.kind, tc.code, e)
			}
		})
	}
}

var kinds = map[whatsapp.Kind]bool{
	whatsapp.KindInvalidRecipient: true, whatsapp.KindNotWhatsAppUser: true, whatsapp.KindRateLimited: true,
	whatsapp.KindAuth: true, whatsapp.KindTemplate: true, whatsapp.KindUnavailable: true,
	whatsapp.KindTimeout: true, whatsapp.KindProtocol: true, whatsapp.KindRejected: true,
}

// FuzzParseResponse: any answer yields either an id or a classified error,
// without panicking and with bounded, single-line text.
func FuzzParseResponse(f *testing.F) {
	for _, s := range []struct {
		status int
		body   string
	}{
		{200, `{"messaging_product":"whatsapp","contacts":[{"input":"4915112345678","wa_id":"4915112345678"}],"messages":[{"id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3"}]}`},
		{400, `{"error":{"message":"(#131026) Message Undeliverable","type":"OAuthException","code":131026,"error_data":{"messaging_product":"whatsapp","details":"Message Undeliverable."},"fbtrace_id":"AazEkDhHyZCnzoB4c2q7Fd"}}`},
		{401, `{"error":{"message":"Error validating access token: Session has expired.","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"Ab"}}`},
		{400, `{"error":{"message":"(#132001) Template name does not exist in the translation","type":"OAuthException","code":132001,"error_data":{"details":"template name (x) does not exist in en_US"}}}`},
		{400, `{"error":{"code":"130429","error_subcode":"x"}}`},
		{429, `{"error":{"code":1e400}}`},
		{500, `{"error":{"code":-5,"message":"\u0000\n\r"}}`},
		{503, `<!DOCTYPE html><html><body>Service Unavailable</body></html>`},
		{200, `not json`},
		{200, `{"messages":[{"id":""}]}`},
		{200, `{"error":null,"messages":[{"id":"wamid.1"}]}`},
		{0, ``},
		{999, `{"error":{}}`},
	} {
		f.Add(s.status, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		id, err := whatsapp.ParseResponse(status, body)
		if (id == "") == (err == nil) {
			t.Fatalf("want exactly one of id and error, got %q and %v", id, err)
		}
		if err == nil {
			if status < 200 || status > 299 {
				t.Fatalf("id %q under status %d", id, status)
			}
			return
		}
		e := asError(t, err)
		if !kinds[e.Kind] || e.Status != status {
			t.Fatalf("kind %q status %d for status %d", e.Kind, e.Status, status)
		}
		msg := e.Error()
		if strings.ContainsAny(msg, "\n\r\x00") || len(msg) > 4096 {
			t.Fatalf("Error() is not one bounded line: %q", msg)
		}
		if e.UserMessage() == "" {
			t.Fatal("empty user message")
		}
		_ = e.LogAttrs()
	})
}
