package main_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/clientportal/portal/portaltest"
	"github.com/clientportal/portal/sqlstore/storetest"
)

// receiver is a webhook receiver that verifies every delivery with the
// Standard Webhooks library and with its own HMAC, and fails the first
// requests (an outage).
type receiver struct {
	t      *testing.T
	secret string
	mu     sync.Mutex
	fail   int            // requests still to answer 503
	ok     map[string]int // message id → successful deliveries
	events map[string]int // event id → successful deliveries
	types  []string
	bodies []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	wh, err := standardwebhooks.NewWebhook(rc.secret)
	if err != nil {
		rc.t.Error(err)
	}
	if err := wh.Verify(body, r.Header); err != nil {
		rc.t.Errorf("the library refuses the signature: %v", err)
		w.WriteHeader(400)
		return
	}
	// The scheme by hand: HMAC-SHA256 over "id.timestamp.body" with the
	// base64 secret after "whsec_".
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(rc.secret, "whsec_"))
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(r.Header.Get("webhook-id") + "." + r.Header.Get("webhook-timestamp") + "." + string(body)))
	if want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)); r.Header.Get("webhook-signature") != want {
		rc.t.Errorf("signature %q, want %q", r.Header.Get("webhook-signature"), want)
	}
	if rc.fail > 0 {
		rc.fail--
		w.WriteHeader(503)
		return
	}
	var p struct {
		Type string
		Data map[string]any
	}
	if err := json.Unmarshal(body, &p); err != nil {
		rc.t.Errorf("payload: %v", err)
	}
	rc.ok[r.Header.Get("webhook-id")]++
	rc.events[p.Data["event_id"].(string)]++
	rc.types = append(rc.types, p.Type)
	rc.bodies = append(rc.bodies, string(body))
}

// TestWebhooks: a receiver verifying signatures with the Standard Webhooks
// library gets each event it subscribed to exactly once per id, through an
// outage (503 first) and with two instances sending; the delivery log shows
// the attempts; a resend repeats the same message id.
func TestWebhooks(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		clock := portaltest.NewClock(time.Now())
		env := map[string]string{"PORTAL_DATABASE_URL": storetest.DSN(t, dialect), "PORTAL_SECRET_KEYS": testKeys,
			"PORTAL_WEBHOOK_ALLOW_PRIVATE": "1", "PORTAL_WEBHOOK_POLL": "50ms", "PORTAL_WEBHOOK_SETTLE": "1ns"}
		instances := []*portal{runPortalClock(t, clock, env)}
		if dialect == "postgres" {
			instances = append(instances, runPortalClock(t, clock, env))
		}
		p := instances[0]
		rc := &receiver{t: t, fail: 3, ok: map[string]int{}, events: map[string]int{}}
		srv := httptest.NewServer(rc)
		defer srv.Close()
		ep, secret, err := p.Server.CreateWebhook(context.Background(), srv.URL+"/hooks", []string{"user.created", "password.changed"})
		if err != nil {
			t.Fatal(err)
		}
		rc.mu.Lock()
		rc.secret = secret
		rc.mu.Unlock()

		for i, email := range []string{"a@example.com", "b@example.com", "c@example.com"} {
			c := newAPIClient(t, instances[i%len(instances)].URL)
			if st, m := c.call("POST", "/api/v1/register", `{"email":"`+email+`","password":"a long enough pass","name":"U"}`); st != 201 {
				t.Fatalf("register: %d %v", st, m)
			}
			if email == "b@example.com" {
				c.call("POST", "/api/v1/login", `{"email":"`+email+`","password":"a long enough pass"}`)
				if st, m := c.call("POST", "/api/v1/me/password", `{"current_password":"a long enough pass","new_password":"another long pass"}`); st != 204 {
					t.Fatalf("password: %d %v", st, m)
				}
			}
		}
		// Time passes (frozen clock moved while we wait) so retries come due.
		deadline := time.Now().Add(30 * time.Second)
		for {
			rc.mu.Lock()
			n := len(rc.events)
			rc.mu.Unlock()
			if n == 4 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of 4 events delivered; logs: %s", n, p.Logs.String())
			}
			clock.Add(10 * time.Second)
			time.Sleep(50 * time.Millisecond)
		}
		// Let every instance run again: nothing more arrives.
		clock.Add(time.Hour)
		time.Sleep(300 * time.Millisecond)
		rc.mu.Lock()
		for id, n := range rc.ok {
			if n != 1 {
				t.Errorf("message %s delivered %d times", id, n)
			}
		}
		for id, n := range rc.events {
			if n != 1 {
				t.Errorf("event %s delivered %d times", id, n)
			}
		}
		if strings.Count(strings.Join(rc.types, " "), "user.created") != 3 || strings.Count(strings.Join(rc.types, " "), "password.changed") != 1 {
			t.Errorf("types: %v", rc.types)
		}
		for _, b := range rc.bodies {
			for _, leak := range []string{"a long enough pass", "another long pass", "whsec_", secret} {
				if strings.Contains(b, leak) {
					t.Errorf("a payload holds %q: %s", leak, b)
				}
			}
		}
		rc.mu.Unlock()

		ds, err := p.DB.WebhookDeliveries(context.Background(), ep.ID, 10)
		if err != nil || len(ds) != 4 {
			t.Fatalf("delivery log: %v %d", err, len(ds))
		}
		retried := false
		for _, d := range ds {
			if d.DeliveredAt == 0 || d.LastStatus != 200 {
				t.Errorf("delivery %s: %+v", d.ID, d)
			}
			retried = retried || d.Attempts > 1
		}
		if !retried {
			t.Error("no delivery shows the outage's retries")
		}

		// Resend: the same message id again.
		if err := p.DB.ResendWebhook(context.Background(), ds[0].ID, clock.Now().Unix()); err != nil {
			t.Fatal(err)
		}
		deadline = time.Now().Add(10 * time.Second)
		for {
			rc.mu.Lock()
			n := rc.ok[ds[0].ID]
			rc.mu.Unlock()
			if n == 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the resend did not arrive")
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}
