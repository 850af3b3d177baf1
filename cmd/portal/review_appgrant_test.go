package main_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	cp "github.com/clientportal/portal"
	"github.com/clientportal/portal/portaltest"
	"github.com/clientportal/portal/sqlstore/storetest"
)

// TestReviewAppGrantWebhook: an app that skips the consent page gets its
// code redeemed; the grant is recorded (app_authorized) and an endpoint
// subscribed to app.access_granted must receive it. The provider recorded
// it under a random id (portal.NewID), not a time-ordered event id: every
// such id sorts after any time-ordered one, so the dispatcher, which reads
// ids between its cursor and "5 seconds ago", never reached it.
func TestReviewAppGrantWebhook(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		clock := portaltest.NewClock(time.Now())
		p := runPortalClock(t, clock, map[string]string{"PORTAL_DATABASE_URL": storetest.DSN(t, dialect), "PORTAL_SECRET_KEYS": testKeys,
			"PORTAL_WEBHOOK_ALLOW_PRIVATE": "1", "PORTAL_WEBHOOK_POLL": "50ms", "PORTAL_WEBHOOK_SETTLE": "1ns"})
		rc := &receiver{t: t, ok: map[string]int{}, events: map[string]int{}}
		srv := httptest.NewServer(rc)
		defer srv.Close()
		_, secret, err := p.Server.CreateWebhook(context.Background(), srv.URL+"/hooks", []string{"app.access_granted"})
		if err != nil {
			t.Fatal(err)
		}
		rc.mu.Lock()
		rc.secret = secret
		rc.mu.Unlock()

		rp := newRelyingParty(t, p, func(a *cp.App) { a.SkipConsent = true })
		c := newAPIClient(t, p.URL)
		if st, m := c.call("POST", "/api/v1/register", `{"email":"grant@example.com","password":"a long enough pass","name":"G"}`); st != 201 {
			t.Fatalf("register: %d %v", st, m)
		}
		c.call("POST", "/api/v1/login", `{"email":"grant@example.com","password":"a long enough pass"}`)
		q, verifier := flow(t, c, p, rp, nil)
		if st, m := exchange(t, p, rp, q.Get("code"), verifier); st != 200 {
			t.Fatalf("exchange: %d %v", st, m)
		}

		grants, err := p.DB.Events(context.Background(), cp.EventFilter{Type: cp.EventAppAuthorized, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(grants) != 1 {
			t.Fatalf("%d app_authorized events recorded; want 1", len(grants))
		}
		if !cp.ValidEventID(grants[0].ID) {
			t.Errorf("the grant's event id %q is not a time-ordered event id", grants[0].ID)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			rc.mu.Lock()
			n := len(rc.types)
			rc.mu.Unlock()
			if n > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the endpoint subscribed to app.access_granted never received the grant")
			}
			time.Sleep(50 * time.Millisecond)
		}
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if len(rc.types) != 1 || rc.types[0] != "app.access_granted" {
			t.Errorf("deliveries: %v", rc.types)
		}
	})
}
