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
	// Ranges net.IP does not name, and IPv6 forms carrying an internal IPv4.
	for _, ip := range []string{"64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "2002:7f00:1::", "::127.0.0.1", "198.18.0.1", "0.1.2.3", "240.0.0.1",
		"255.255.255.255", "fec0::1", "192.0.0.8", "::ffff:10.0.0.1", "64:ff9b:1::a00:1", "64:ff9b:1:7f00:1::", "2001:0:4136:e378:8000:63bf:3fff:fdd2"} {
		if !Internal(net.ParseIP(ip)) {
			t.Errorf("%s is not seen as internal", ip)
		}
	}
	for _, ip := range []string{"8.8.8.8", "2606:4700::1111", "64:ff9b::808:808"} {
		if Internal(net.ParseIP(ip)) {
			t.Errorf("%s is seen as internal", ip)
		}
	}
	if _, err := CheckURL("http://[64:ff9b::7f00:1]/", false); err == nil {
		t.Error("a NAT64 loopback address accepted")
	}
	for _, u := range []string{"https://billing.example.com/hooks", "http://93.184.216.34:8080/in"} {
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
	if _, err := NewClient(false).Do(req); err == nil || !strings.Contains(err.Error(), "is internal") || hit {
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
