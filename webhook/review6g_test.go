package webhook_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/mfa"
	"github.com/clientportal/portal/portaltest"
	"github.com/clientportal/portal/sqlstore/storetest"
	"github.com/clientportal/portal/webhook"
)

// TestReview6GSlowBatchPostedTwice: a replica claims a batch of deliveries
// (a 2-minute lease) and posts them one after another, each allowed 10
// seconds. A receiver that hangs makes a batch of 20 take up to 200
// seconds, so the last ones are posted after their lease has ended: a
// second replica has claimed them meanwhile and posted them too (and the
// first replica's outcome is dropped, since the lease is no longer its).
// Here each of replica 1's 20 posts takes 10 seconds, and replica 2 runs
// once 2 minutes have gone by. Each delivery must be posted once:
// "each leased to one replica at a time" (README, Webhooks). The outbox
// renews each message's lease just before its send for this very reason;
// the webhook worker does not.
func TestReview6GSlowBatchPostedTwice(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		db := storetest.MustOpen(t, dialect)
		clock := portaltest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
		keys, err := mfa.ParseKeyring(mfa.NewKeySpec("k1"))
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		got := map[string]int{}
		recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			mu.Lock()
			got[r.Header.Get("webhook-id")]++
			mu.Unlock()
		}))
		defer recv.Close()
		worker := func(id string, c *http.Client) *webhook.Worker {
			return &webhook.Worker{Store: db, Keys: keys, Clock: clock, Client: c, Logger: slog.New(slog.DiscardHandler), ID: id}
		}
		// Replica 1's receiver is slow: each post takes its whole 10
		// seconds. Once 2 minutes and a bit have gone by, replica 2 runs.
		start := clock.Now()
		ranSecond := false
		slow := &http.Client{Transport: afterPost(func() {
			clock.Add(10 * time.Second)
			if !ranSecond && clock.Now().Sub(start) > 2*time.Minute {
				ranSecond = true
				if _, err := worker("replica-2", http.DefaultClient).RunOnce(context.Background()); err != nil {
					t.Errorf("replica 2: %v", err)
				}
			}
		})}
		ep := &portal.WebhookEndpoint{ID: "we_" + portal.NewID(), URL: recv.URL, Types: []string{"user.signed_in"}, CreatedAt: clock.Now().Unix()}
		ep.Secret = keys.Seal(ep.ID, []byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
		if err := db.CreateWebhook(context.Background(), ep); err != nil {
			t.Fatal(err)
		}
		var ds []*portal.WebhookDelivery
		for range 20 {
			now := clock.Now().Unix()
			ds = append(ds, &portal.WebhookDelivery{ID: "msg_" + portal.NewID(), EndpointID: ep.ID, EventID: portal.NewID(), Type: "user.signed_in",
				Payload: `{"type":"user.signed_in"}`, CreatedAt: now, NextAt: now})
		}
		if err := db.QueueWebhooks(context.Background(), ds, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := worker("replica-1", slow).RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		if !ranSecond {
			t.Fatal("replica 2 never ran: the test is blind")
		}
		mu.Lock()
		defer mu.Unlock()
		for _, d := range ds {
			if got[d.ID] != 1 {
				t.Errorf("delivery %s posted %d times; want once", d.ID, got[d.ID])
			}
		}
		list, err := db.WebhookDeliveries(context.Background(), ep.ID, 50)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range list {
			if d.DeliveredAt == 0 || d.Attempts != 1 {
				t.Errorf("delivery %s: %d attempts, delivered at %d; want 1 attempt, delivered", d.ID, d.Attempts, d.DeliveredAt)
			}
		}
	})
}

// afterPost runs fn once each post has its answer.
type afterPost func()

func (f afterPost) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		resp.Body = http.NoBody
	}
	f()
	return resp, err
}
