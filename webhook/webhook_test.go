package webhook

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestInternalAddressesRefused: without PORTAL_WEBHOOK_ALLOW_PRIVATE, an
// endpoint cannot be registered at an internal address, and the client
// refuses to connect to one even when a name resolves there; redirects
// are not followed.
func TestInternalAddressesRefused(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1/x", "https://10.1.2.3/x", "https://[::1]/x", "https://169.254.169.254/latest", "https://100.64.0.1/",
		"https://localhost/x", "ftp://example.com/", "https://user:pw@example.com/", "", "https:///x", "https://example.com/#frag"} {
		if _, err := CheckURL(u, false); err == nil {
			t.Errorf("%q accepted", u)
		}
	}
	for _, u := range []string{"https://billing.example.com/hooks", "http://203.0.113.5:8080/in"} {
		if _, err := CheckURL(u, false); err != nil {
			t.Errorf("%q refused: %v", u, err)
		}
	}
	if _, err := CheckURL("http://127.0.0.1:9/x", true); err != nil {
		t.Errorf("allowed private refused: %v", err)
	}

	hit := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hit = true }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	// A name that resolves to loopback is refused at the dial.
	req, _ := http.NewRequestWithContext(context.Background(), "POST", "http://localhost:"+port+"/", nil)
	if _, err := NewClient(false).Do(req); err == nil || !strings.Contains(err.Error(), "internal address") || hit {
		t.Fatalf("the client reached an internal address: %v", err)
	}

	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, srv.URL, http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()
	req, _ = http.NewRequestWithContext(context.Background(), "POST", redirect.URL, nil)
	resp, err := NewClient(true).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || hit {
		t.Fatalf("a redirect was followed: %d %v", resp.StatusCode, hit)
	}
}
