package whatsapptest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/clientportal/portal/whatsapp"
	"github.com/clientportal/portal/whatsapp/whatsapptest"
)

const (
	token   = "EAAdouble-token"
	phoneID = "106540352242922"
)

// validBody is the request the double accepts; cases change one thing.
func validBody() map[string]any {
	return map[string]any{
		"messaging_product": "whatsapp",
		"recipient_type":    "individual",
		"to":                "+4915112345678",
		"type":              "template",
		"template": map[string]any{
			"name":     "login_code",
			"language": map[string]any{"code": "en_US"},
			"components": []any{
				map[string]any{"type": "body", "parameters": []any{map[string]any{"type": "text", "text": "123456"}}},
				map[string]any{"type": "button", "sub_type": "url", "index": "0", "parameters": []any{map[string]any{"type": "text", "text": "123456"}}},
			},
		},
	}
}

func tmplOf(b map[string]any) map[string]any { return b["template"].(map[string]any) }
func componentOf(b map[string]any, i int) map[string]any {
	return tmplOf(b)["components"].([]any)[i].(map[string]any)
}

type answer struct {
	status int
	Error  *struct {
		Message   string `json:"message"`
		Type      string `json:"type"`
		Code      int    `json:"code"`
		Subcode   int    `json:"error_subcode"`
		TraceID   string `json:"fbtrace_id"`
		ErrorData struct {
			Details string `json:"details"`
		} `json:"error_data"`
	} `json:"error"`
	Messages []struct {
		ID string `json:"id"`
	} `json:"messages"`
}

func send(t *testing.T, method, url, auth, contentType string, body any) answer {
	t.Helper()
	var raw []byte
	switch b := body.(type) {
	case string:
		raw = []byte(b)
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode}
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatalf("answer is not JSON: %v", err)
	}
	return a
}

// TestContract: each departure from the request shape gets the status and
// code the Cloud API would give, and nothing is recorded.
func TestContract(t *testing.T) {
	srv := whatsapptest.NewServer(t, token, phoneID)
	srv.RequireTemplate("login_code", "en_US")
	url := srv.URL() + "/" + phoneID + "/messages"
	bearer := "Bearer " + token
	for name, tc := range map[string]struct {
		method, url, auth, ctype string
		edit                     func(map[string]any)
		raw                      string
		status, code             int
	}{
		"GET":                   {method: "GET", status: 400, code: 100},
		"other phone id":        {url: srv.URL() + "/1/messages", status: 400, code: 100},
		"unknown path":          {url: srv.URL() + "/" + phoneID + "/nope", status: 400, code: 2500},
		"no token":              {auth: "-", status: 401, code: 190},
		"wrong token":           {auth: "Bearer EAAother", status: 401, code: 190},
		"basic auth":            {auth: "Basic " + token, status: 401, code: 190},
		"form content":          {ctype: "application/x-www-form-urlencoded", status: 400, code: 100},
		"not JSON":              {raw: "{", status: 400, code: 100},
		"no messaging_product":  {edit: func(b map[string]any) { delete(b, "messaging_product") }, status: 400, code: 100},
		"messenger":             {edit: func(b map[string]any) { b["messaging_product"] = "messenger" }, status: 400, code: 100},
		"group recipient":       {edit: func(b map[string]any) { b["recipient_type"] = "group" }, status: 400, code: 131009},
		"no to":                 {edit: func(b map[string]any) { delete(b, "to") }, status: 400, code: 131008},
		"to with spaces":        {edit: func(b map[string]any) { b["to"] = "+49 151 12345678" }, status: 400, code: 131009},
		"to with letters":       {edit: func(b map[string]any) { b["to"] = "49151abc45678" }, status: 400, code: 131009},
		"text message":          {edit: func(b map[string]any) { b["type"] = "text" }, status: 400, code: 131009},
		"no template":           {edit: func(b map[string]any) { delete(b, "template") }, status: 400, code: 131008},
		"no template name":      {edit: func(b map[string]any) { delete(tmplOf(b), "name") }, status: 400, code: 131008},
		"no language":           {edit: func(b map[string]any) { delete(tmplOf(b), "language") }, status: 400, code: 131008},
		"unapproved template":   {edit: func(b map[string]any) { tmplOf(b)["name"] = "hello_world" }, status: 400, code: 132001},
		"other language":        {edit: func(b map[string]any) { tmplOf(b)["language"] = map[string]any{"code": "de"} }, status: 400, code: 132001},
		"no components":         {edit: func(b map[string]any) { delete(tmplOf(b), "components") }, status: 400, code: 132000},
		"body only":             {edit: func(b map[string]any) { tmplOf(b)["components"] = tmplOf(b)["components"].([]any)[:1] }, status: 400, code: 132000},
		"two body params":       {edit: func(b map[string]any) { componentOf(b, 0)["parameters"] = []any{textParam("1"), textParam("2")} }, status: 400, code: 132000},
		"code too long":         {edit: func(b map[string]any) { setCode(b, "1234567890123456") }, status: 400, code: 131009},
		"index as number":       {edit: func(b map[string]any) { componentOf(b, 1)["index"] = 0 }, status: 400, code: 100},
		"index 1":               {edit: func(b map[string]any) { componentOf(b, 1)["index"] = "1" }, status: 400, code: 131009},
		"no index":              {edit: func(b map[string]any) { delete(componentOf(b, 1), "index") }, status: 400, code: 131008},
		"quick reply button":    {edit: func(b map[string]any) { componentOf(b, 1)["sub_type"] = "quick_reply" }, status: 400, code: 131009},
		"button code differs":   {edit: func(b map[string]any) { componentOf(b, 1)["parameters"].([]any)[0].(map[string]any)["text"] = "654321" }, status: 400, code: 131009},
		"button without params": {edit: func(b map[string]any) { componentOf(b, 1)["parameters"] = []any{} }, status: 400, code: 132000},
		"header component": {edit: func(b map[string]any) {
			tmplOf(b)["components"] = append(tmplOf(b)["components"].([]any), map[string]any{"type": "header"})
		}, status: 400, code: 131009},
	} {
		t.Run(name, func(t *testing.T) {
			method, u, auth, ctype := "POST", url, bearer, "application/json"
			if tc.method != "" {
				method = tc.method
			}
			if tc.url != "" {
				u = tc.url
			}
			if tc.auth == "-" {
				auth = ""
			} else if tc.auth != "" {
				auth = tc.auth
			}
			if tc.ctype != "" {
				ctype = tc.ctype
			}
			var body any = tc.raw
			if tc.raw == "" {
				b := validBody()
				if tc.edit != nil {
					tc.edit(b)
				}
				body = b
			}
			a := send(t, method, u, auth, ctype, body)
			if a.status != tc.status || a.Error == nil || a.Error.Code != tc.code {
				t.Fatalf("got status %d error %+v, want %d code %d", a.status, a.Error, tc.status, tc.code)
			}
			if a.Error.Message == "" || a.Error.Type == "" || a.Error.TraceID == "" {
				t.Errorf("error body incomplete: %+v", a.Error)
			}
		})
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d invalid requests recorded", n)
	}
	// The same double still accepts the valid request, with or without "+".
	for _, to := range []string{"+4915112345678", "4915112345679"} {
		b := validBody()
		b["to"] = to
		if a := send(t, "POST", url, bearer, "application/json; charset=utf-8", b); a.status != 200 || len(a.Messages) != 1 || !strings.HasPrefix(a.Messages[0].ID, "wamid.") {
			t.Fatalf("valid request to %s: %+v", to, a)
		}
	}
	msgs := srv.Messages()
	if len(msgs) != 2 || msgs[0].To != "+4915112345678" || msgs[0].Code != "123456" || msgs[0].Template != "login_code" || msgs[0].Language != "en_US" || len(msgs[0].Raw) == 0 {
		t.Errorf("recorded %+v", msgs)
	}
	if c, ok := srv.LastCode("4915112345678"); !ok || c != "123456" {
		t.Errorf("LastCode without + = %q, %v", c, ok)
	}
	if _, ok := srv.LastCode("+10000000000"); ok {
		t.Error("LastCode for a number never sent to")
	}
}

func textParam(s string) map[string]any { return map[string]any{"type": "text", "text": s} }

func setCode(b map[string]any, code string) {
	for i := range 2 {
		componentOf(b, i)["parameters"] = []any{textParam(code)}
	}
}

// TestFailureOrder: FailNext is spent first, then SetFailure holds until
// Clear.
func TestFailureOrder(t *testing.T) {
	srv := whatsapptest.NewServer(t, token, phoneID)
	url := srv.URL() + "/" + phoneID + "/messages"
	srv.SetFailure(whatsapptest.FailServerError)
	srv.FailNext(whatsapptest.FailRateLimit, 2)
	var got []int
	for range 4 {
		a := send(t, "POST", url, "Bearer "+token, "application/json", validBody())
		code := 0
		if a.Error != nil {
			code = a.Error.Code
		}
		got = append(got, code)
	}
	srv.Clear()
	a := send(t, "POST", url, "Bearer "+token, "application/json", validBody())
	if want := []int{130429, 130429, 131000, 131000}; !equal(got, want) || a.status != 200 {
		t.Errorf("codes %v then status %d, want %v then 200", got, a.status, want)
	}
	if n := srv.Requests(); n != 5 {
		t.Errorf("Requests() = %d, want 5", n)
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestCloseReleasesHeldRequest: a request held by FailTimeout from a client
// that would wait forever ends when the double closes, so Close never hangs
// and no handler outlives the test.
func TestCloseReleasesHeldRequest(t *testing.T) {
	srv := whatsapptest.NewServer(t, token, phoneID)
	srv.SetFailure(whatsapptest.FailTimeout)
	c := whatsapp.New(whatsapp.Config{BaseURL: srv.URL(), PhoneNumberID: phoneID, AccessToken: token, Template: "login_code", Timeout: time.Hour})
	errc := make(chan error, 1)
	go func() {
		_, err := c.SendCode(context.Background(), "+4915112345678", "123456")
		errc <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.WaitRequests(ctx, 1); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	select {
	case err := <-errc:
		var e *whatsapp.Error
		if !errors.As(err, &e) || e.Kind != whatsapp.KindUnavailable {
			t.Errorf("held send ended with %v, want KindUnavailable", err)
		}
	case <-ctx.Done():
		t.Fatal("held request not released by Close")
	}
}

// TestMountedHandler: a development server can mount the Handler under a
// prefix and point the client at it.
func TestMountedHandler(t *testing.T) {
	h := whatsapptest.NewHandler(token, phoneID)
	mux := http.NewServeMux()
	mux.Handle("/dev/whatsapp/", http.StripPrefix("/dev/whatsapp", h))
	ts := httptest.NewServer(mux)
	t.Cleanup(func() { h.Close(); ts.Close() })

	c := whatsapp.New(whatsapp.Config{BaseURL: ts.URL + "/dev/whatsapp/v23.0/", PhoneNumberID: phoneID, AccessToken: token, Template: "login_code"})
	id, err := c.SendCode(context.Background(), "+4915112345678", "987654")
	if err != nil {
		t.Fatal(err)
	}
	msgs := h.Messages()
	if len(msgs) != 1 || msgs[0].ID != id || msgs[0].Code != "987654" {
		t.Errorf("recorded %+v for id %q", msgs, id)
	}
	msgs[0].Raw[0] = 'X' // a copy: the double's record is unchanged
	if h.Messages()[0].Raw[0] != '{' {
		t.Error("Messages() shares its Raw buffers")
	}
}

func TestFailureString(t *testing.T) {
	for f, want := range map[whatsapptest.Failure]string{
		whatsapptest.FailNone: "none", whatsapptest.FailTimeout: "timeout", whatsapptest.FailGarbage: "garbage", whatsapptest.Failure(99): "Failure(99)",
	} {
		if got := f.String(); got != want {
			t.Errorf("%d: %q, want %q", int(f), got, want)
		}
	}
}
