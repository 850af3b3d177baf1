package webhook_test

import (
	"bytes"
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

// TestStopReleasesTheRest: a worker stopped in the middle of a batch (the
// portal shutting down) gives back the deliveries it had claimed and not
// tried, without counting an attempt: the restarted portal posts them at
// once, not after the lease or a retry's wait.
func TestStopReleasesTheRest(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		db := storetest.MustOpen(t, dialect)
		clock := portaltest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
		keys, err := mfa.ParseKeyring(mfa.NewKeySpec("k1"))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var mu sync.Mutex
		got := map[string]int{}
		recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			mu.Lock()
			got[r.Header.Get("webhook-id")]++
			mu.Unlock()
		}))
		defer recv.Close()

		ep := &portal.WebhookEndpoint{ID: "we_" + portal.NewID(), URL: recv.URL, Types: []string{"user.signed_in"}, CreatedAt: clock.Now().Unix()}
		ep.Secret = keys.Seal(ep.ID, []byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
		if err := db.CreateWebhook(context.Background(), ep); err != nil {
			t.Fatal(err)
		}
		var ds []*portal.WebhookDelivery
		for range 3 {
			now := clock.Now().Unix()
			ds = append(ds, &portal.WebhookDelivery{ID: "msg_" + portal.NewID(), EndpointID: ep.ID, EventID: portal.NewID(), Type: "user.signed_in",
				Payload: `{"type":"user.signed_in"}`, CreatedAt: now, NextAt: now})
		}
		if err := db.QueueWebhooks(context.Background(), ds, ""); err != nil {
			t.Fatal(err)
		}
		// The shutdown arrives while the first one is posted.
		client := &http.Client{Transport: cancelAfter{http.DefaultTransport, cancel}}
		worker := func(id string) *webhook.Worker {
			return &webhook.Worker{Store: db, Keys: keys, Clock: clock, Client: client, Logger: slog.New(slog.DiscardHandler), ID: id}
		}
		if n, err := worker("stopping").RunOnce(ctx); n != 1 || err == nil {
			t.Fatalf("stopped after the first post: %d delivered, %v; want 1 and the context's error", n, err)
		}
		// Restarted, with the clock where it was.
		if n, err := worker("restarted").RunOnce(context.Background()); n != 2 || err != nil {
			t.Fatalf("after the stop: %d delivered, %v; want the 2 untried ones", n, err)
		}
		for _, d := range ds {
			if got[d.ID] != 1 {
				t.Errorf("delivery %s posted %d times; want once", d.ID, got[d.ID])
			}
		}
		list, err := db.WebhookDeliveries(context.Background(), ep.ID, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range list {
			if d.Attempts != 1 || d.DeliveredAt == 0 {
				t.Errorf("delivery %s: %d attempts, delivered at %d; want 1 attempt, delivered", d.ID, d.Attempts, d.DeliveredAt)
			}
		}
	})
}

// cancelAfter cancels once it has the receiver's whole answer.
type cancelAfter struct {
	http.RoundTripper
	cancel context.CancelFunc
}

func (c cancelAfter) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.RoundTripper.RoundTrip(r)
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
	}
	c.cancel()
	return resp, err
}

// TestStopMidPostCountsNoAttempt: a stop that cuts a post off (here before
// the request leaves) gives the delivery back untouched: no attempt, no
// retry wait, and near the end of its 24 hours it is not failed for good.
func TestStopMidPostCountsNoAttempt(t *testing.T) {
	db := storetest.MustOpen(t, "sqlite")
	clock := portaltest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	keys, err := mfa.ParseKeyring(mfa.NewKeySpec("k1"))
	if err != nil {
		t.Fatal(err)
	}
	ep := &portal.WebhookEndpoint{ID: "we_" + portal.NewID(), URL: "http://127.0.0.1:9/hooks", Types: []string{"user.signed_in"}, CreatedAt: clock.Now().Unix()}
	ep.Secret = keys.Seal(ep.ID, []byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
	if err := db.CreateWebhook(context.Background(), ep); err != nil {
		t.Fatal(err)
	}
	now := clock.Now().Unix()
	d := &portal.WebhookDelivery{ID: "msg_" + portal.NewID(), EndpointID: ep.ID, EventID: portal.NewID(), Type: "user.signed_in",
		Payload: `{"type":"user.signed_in"}`, CreatedAt: now - int64(webhook.GiveUpAfter/time.Second) + 2, NextAt: now}
	if err := db.QueueWebhooks(context.Background(), []*portal.WebhookDelivery{d}, ""); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &webhook.Worker{Store: db, Keys: keys, Clock: clock, Client: &http.Client{Transport: stopBeforeSend{cancel}}, Logger: slog.New(slog.DiscardHandler), ID: "stopping"}
	if _, err := w.RunOnce(ctx); err == nil {
		t.Fatal("the stopped worker reported no error")
	}
	list, err := db.WebhookDeliveries(context.Background(), ep.ID, 10)
	if err != nil || len(list) != 1 {
		t.Fatalf("deliveries: %d, %v", len(list), err)
	}
	if got := list[0]; got.Attempts != 0 || got.FailedAt != 0 || got.NextAt != now {
		t.Errorf("a post cut off by the stop: %d attempts, failed at %d, next at %+ds; want it given back untouched", got.Attempts, got.FailedAt, got.NextAt-now)
	}
}

// stopBeforeSend is a stop that arrives before the request leaves.
type stopBeforeSend struct{ cancel context.CancelFunc }

func (s stopBeforeSend) RoundTrip(r *http.Request) (*http.Response, error) {
	s.cancel()
	<-r.Context().Done()
	return nil, r.Context().Err()
}
