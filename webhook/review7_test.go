package webhook_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/mfa"
	"github.com/clientportal/portal/portaltest"
	"github.com/clientportal/portal/sqlstore"
	"github.com/clientportal/portal/sqlstore/storetest"
	"github.com/clientportal/portal/webhook"
)

// hangingEndpoint answers every post to a URL holding "/slow" with an
// error after its 10 seconds (moved on the frozen clock), and counts them.
type hangingEndpoint struct {
	clock *portaltest.Clock
	mu    sync.Mutex
	slow  int
	// slowBeforeFast is how many slow posts were made before the first
	// post to another endpoint (-1 until then).
	slowBeforeFast int
	cancel         func()
}

func (h *hangingEndpoint) RoundTrip(r *http.Request) (*http.Response, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if strings.Contains(r.URL.Path, "/slow") {
		h.slow++
		h.clock.Add(10 * time.Second)
		if h.slow >= 60 {
			h.cancel() // the code before the fix never let go
		}
		return nil, errors.New("timeout awaiting response headers")
	}
	if h.slowBeforeFast < 0 {
		h.slowBeforeFast = h.slow
	}
	return http.DefaultTransport.RoundTrip(r)
}

// webhookEnv opens a database of dialect, with a frozen clock and a
// keyring for endpoint secrets.
func webhookEnv(t *testing.T, dialect string) (*sqlstore.DB, *portaltest.Clock, *mfa.Keyring) {
	t.Helper()
	keys, err := mfa.ParseKeyring(mfa.NewKeySpec("k1"))
	if err != nil {
		t.Fatal(err)
	}
	return storetest.MustOpen(t, dialect), portaltest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)), keys
}

func newEndpoint(t *testing.T, db *sqlstore.DB, keys *mfa.Keyring, clock *portaltest.Clock, url string) *portal.WebhookEndpoint {
	t.Helper()
	ep := &portal.WebhookEndpoint{ID: "we_" + portal.NewID(), URL: url, Types: []string{"user.signed_in"}, CreatedAt: clock.Now().Unix()}
	ep.Secret = keys.Seal(ep.ID, []byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
	if err := db.CreateWebhook(context.Background(), ep); err != nil {
		t.Fatal(err)
	}
	return ep
}

func queue(t *testing.T, db *sqlstore.DB, clock *portaltest.Clock, ep *portal.WebhookEndpoint, n int) []*portal.WebhookDelivery {
	t.Helper()
	var ds []*portal.WebhookDelivery
	for range n {
		now := clock.Now().Unix()
		ds = append(ds, &portal.WebhookDelivery{ID: "msg_" + portal.NewID(), EndpointID: ep.ID, EventID: portal.NewID(), Type: "user.signed_in",
			Payload: `{"type":"user.signed_in"}`, CreatedAt: now, NextAt: now})
	}
	if err := db.QueueWebhooks(context.Background(), ds, ""); err != nil {
		t.Fatal(err)
	}
	return ds
}

// TestReview7SlowEndpointHoldsUpOthers (a seventh review): one endpoint's
// receiver hangs (each post takes its 10 seconds and fails) with a backlog
// of 30 deliveries; another endpoint's delivery, queued just after, waited
// for every one of them, retried again and again, and new events were not
// dispatched meanwhile. Now the other endpoint's delivery goes at once,
// and a run ends after a bounded number of batches.
func TestReview7SlowEndpointHoldsUpOthers(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		db, clock, keys := webhookEnv(t, dialect)
		recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
		defer recv.Close()
		slow := newEndpoint(t, db, keys, clock, recv.URL+"/slow")
		fast := newEndpoint(t, db, keys, clock, recv.URL+"/fast")
		queue(t, db, clock, slow, 30)
		clock.Add(time.Second)
		want := queue(t, db, clock, fast, 1)[0]

		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		h := &hangingEndpoint{clock: clock, slowBeforeFast: -1, cancel: cancel}
		w := &webhook.Worker{Store: db, Keys: keys, Clock: clock, Client: &http.Client{Transport: h}, Logger: slog.New(slog.DiscardHandler), ID: "w1"}
		if _, err := w.RunOnce(ctx); err != nil && ctx.Err() == nil {
			t.Fatal(err)
		}
		if ctx.Err() != nil {
			t.Errorf("one run went on posting to the hanging receiver (%d posts) and never returned", h.slow)
		}
		list, err := db.WebhookDeliveries(context.Background(), fast.ID, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].ID != want.ID || list[0].DeliveredAt == 0 {
			t.Fatalf("the healthy endpoint's delivery: %+v", list)
		}
		if h.slowBeforeFast > 5 {
			t.Errorf("the healthy endpoint's delivery waited for %d posts to the hanging one", h.slowBeforeFast)
		}
	})
}

// TestReview7DeletedEndpointQueuesNothing: an endpoint deleted after the
// worker read the list got the deliveries the worker then queued, posted
// to its URL and never cleaned up. Now nothing is queued for it.
func TestReview7DeletedEndpointQueuesNothing(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		db, clock, keys := webhookEnv(t, dialect)
		gone := newEndpoint(t, db, keys, clock, "https://receiver.example/gone")
		kept := newEndpoint(t, db, keys, clock, "https://receiver.example/kept")
		if err := db.DeleteWebhook(context.Background(), gone.ID); err != nil {
			t.Fatal(err)
		}
		queue(t, db, clock, gone, 3)
		queue(t, db, clock, kept, 2)
		if list, _ := db.WebhookDeliveries(context.Background(), gone.ID, 10); len(list) != 0 {
			t.Errorf("%d deliveries queued for a deleted endpoint", len(list))
		}
		if list, _ := db.WebhookDeliveries(context.Background(), kept.ID, 10); len(list) != 2 {
			t.Errorf("%d deliveries queued for the endpoint that stays, want 2", len(list))
		}
	})
}

// TestReview7RefusedDeliveryTakesNoHostages (a review of the fixes): a
// receiver that answers 500 to one delivery only; the deliveries claimed
// after it waited for its retries, untried, until they were given up. A
// receiver that answers gets every delivery; only one that does not answer
// makes the rest wait.
func TestReview7RefusedDeliveryTakesNoHostages(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		db, clock, keys := webhookEnv(t, dialect)
		var mu sync.Mutex
		var poison string
		recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			mu.Lock()
			defer mu.Unlock()
			if r.Header.Get("webhook-id") == poison {
				w.WriteHeader(http.StatusInternalServerError)
			}
		}))
		defer recv.Close()
		ep := newEndpoint(t, db, keys, clock, recv.URL+"/hook")
		ds := queue(t, db, clock, ep, 5)
		poison = ds[0].ID // the one a claim takes first
		for _, d := range ds {
			poison = min(poison, d.ID)
		}
		w := &webhook.Worker{Store: db, Keys: keys, Clock: clock, Client: recv.Client(), Logger: slog.New(slog.DiscardHandler), ID: "w1"}
		if _, err := w.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		list, err := db.WebhookDeliveries(context.Background(), ep.ID, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range list {
			switch {
			case d.ID == poison && (d.DeliveredAt != 0 || d.Attempts != 1):
				t.Errorf("the refused delivery: %d attempts, delivered at %d", d.Attempts, d.DeliveredAt)
			case d.ID != poison && d.DeliveredAt == 0:
				t.Errorf("a delivery the receiver would take waited behind the refused one: %d attempts, %q", d.Attempts, d.LastError)
			}
		}
	})
}

// TestReview7NewEndpointsNotTakenForDeleted: a run whose list was read
// before two endpoints were made (by another replica) took the second for
// deleted and marked its deliveries failed without a post.
func TestReview7NewEndpointsNotTakenForDeleted(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		db, clock, keys := webhookEnv(t, dialect)
		var mu sync.Mutex
		posts := 0
		var second *portal.WebhookEndpoint
		recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			mu.Lock()
			defer mu.Unlock()
			if posts++; posts == 1 {
				second = newEndpoint(t, db, keys, clock, "http://"+r.Host+"/second")
				queue(t, db, clock, second, 1)
			}
		}))
		defer recv.Close()
		w := &webhook.Worker{Store: db, Keys: keys, Clock: clock, Client: recv.Client(), Logger: slog.New(slog.DiscardHandler), ID: "w1"}
		first := newEndpoint(t, db, keys, clock, recv.URL+"/first")
		queue(t, db, clock, first, 1)
		if _, err := w.DeliverWithList(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		list, err := db.WebhookDeliveries(context.Background(), second.ID, 10)
		if err != nil || len(list) != 1 {
			t.Fatalf("the second endpoint's deliveries: %v %v", list, err)
		}
		if d := list[0]; d.DeliveredAt == 0 {
			t.Errorf("the second new endpoint's delivery: failed at %d, %q, %d attempts", d.FailedAt, d.LastError, d.Attempts)
		}
	})
}

// TestReview7ConcurrentClaims (a second review of the fixes): two replicas
// claiming at once, with two endpoints' backlogs. Claims that took the
// endpoints in different orders deadlocked on PostgreSQL (a quarter of
// them failed). Now none fails and none claims a delivery twice.
func TestReview7ConcurrentClaims(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		db, clock, keys := webhookEnv(t, dialect)
		for range 2 {
			queue(t, db, clock, newEndpoint(t, db, keys, clock, "https://receiver.example/x"), 300)
		}
		now := clock.Now().Unix()
		seen := map[string]string{}
		var mu sync.Mutex
		for round := range 30 {
			var wg sync.WaitGroup
			for w := range 2 {
				wg.Go(func() {
					worker := fmt.Sprintf("w%d-%d", w, round)
					ds, err := db.ClaimWebhooks(context.Background(), worker, 20, 5, now+int64(round), now+int64(round)+10000)
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						t.Errorf("claim: %v", err)
						return
					}
					for _, d := range ds {
						if o, ok := seen[d.ID]; ok {
							t.Errorf("%s claimed by %s and %s", d.ID, o, worker)
						}
						seen[d.ID] = worker
					}
				})
			}
			wg.Wait()
		}
		if len(seen) != 600 {
			t.Errorf("%d of 600 deliveries claimed in 30 rounds of two claims of 20", len(seen))
		}
	})
}
