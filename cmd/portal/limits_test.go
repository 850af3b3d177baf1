package main_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clientportal/portal/portaltest"
)

// TestSlowAndOversizedClients: clients that send headers or bodies too
// slowly are cut off, oversized headers and bodies are refused, and other
// clients are served meanwhile.
func TestSlowAndOversizedClients(t *testing.T) {
	p := runPortalClock(t, portaltest.NewClock(time.Now()), map[string]string{
		"PORTAL_HTTP_READ_HEADER_TIMEOUT": "300ms", "PORTAL_HTTP_READ_TIMEOUT": "1s",
		"PORTAL_HTTP_MAX_HEADER_BYTES": "8192", "PORTAL_HTTP_MAX_BODY_BYTES": "4096",
	})
	addr := p.Addr

	// 50 slow-header clients hold connections open...
	var slow []net.Conn
	for i := 0; i < 50; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
		slow = append(slow, c)
	}
	// ...while everyone else is served.
	for i := 0; i < 10; i++ {
		r, err := http.Get(p.URL + "/healthz")
		if err != nil || r.StatusCode != 200 {
			t.Fatalf("a normal client was not served: %v", err)
		}
		r.Body.Close()
	}
	// And the slow ones are cut off by the server (not by us): the read
	// ends well before our own 10 s guard.
	for _, c := range slow {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("a slow client kept its connection")
		}
	}

	// A body trickled in slower than the read timeout is cut off.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST /api/v1/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Fatalf("a trickled body was answered %d", resp.StatusCode)
		}
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("a trickling client kept its connection")
	}

	// Oversized headers: 431; oversized bodies: 413 in the error format.
	req, _ := http.NewRequest("GET", p.URL+"/healthz", nil)
	req.Header.Set("X-Padding", strings.Repeat("a", 20<<10))
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("oversized header: %v %v", r, err)
	}
	r, err := http.Post(p.URL+"/api/v1/login", "application/json", strings.NewReader(`{"email":"`+strings.Repeat("a", 10<<10)+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 413 || !strings.Contains(string(body), `"request_too_large"`) {
		t.Fatalf("oversized body: %d %s", r.StatusCode, body)
	}
}
