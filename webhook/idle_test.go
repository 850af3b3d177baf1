package webhook_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/mfa"
	"github.com/clientportal/portal/sqlstore"
	"github.com/clientportal/portal/sqlstore/storetest"
	"github.com/clientportal/portal/webhook"
)

// countingStore counts reads of the event log.
type countingStore struct {
	*sqlstore.DB
	reads atomic.Int64
}

func (s *countingStore) Events(ctx context.Context, f portal.EventFilter) ([]*portal.Event, error) {
	s.reads.Add(1)
	return s.DB.Events(ctx, f)
}

// TestNoEndpointReadsNoEvents: with no endpoint the worker has nothing to
// queue, so it does not read every new event (a read a poll and a write
// for each 500 events, on a busy portal), only the newest, once a minute,
// to move its cursor on; an endpoint made afterwards gets the events that
// follow its creation, and none from before.
func TestNoEndpointReadsNoEvents(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		db := &countingStore{DB: storetest.MustOpen(t, dialect)}
		ctx := context.Background()
		keys, err := mfa.ParseKeyring(mfa.NewKeySpec("k1"))
		if err != nil {
			t.Fatal(err)
		}
		u := storetest.NewUser(t, db.DB, "idle@example.com")
		addEvent := func() {
			if err := db.AddEvent(ctx, &portal.Event{UserID: u.ID, Type: portal.EventPasswordChanged, CreatedAt: time.Now().Unix()}); err != nil {
				t.Fatal(err)
			}
		}
		for range 1200 {
			addEvent()
		}
		var posts atomic.Int64
		recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			posts.Add(1)
		}))
		defer recv.Close()
		w := &webhook.Worker{Store: db, Keys: keys, Clock: portal.SystemClock{}, Client: http.DefaultClient,
			Logger: slog.New(slog.DiscardHandler), ID: "w1", Settle: time.Nanosecond}
		for range 3 {
			if _, err := w.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if n := db.reads.Load(); n > 1 {
			t.Errorf("with no endpoint the worker read the event log %d times; want at most once a minute, for the newest event", n)
		}
		// The cursor is at the newest event, one that exists (not at a
		// time of the worker's clock).
		last, err := db.DB.Events(ctx, portal.EventFilter{Limit: 1})
		if err != nil || len(last) != 1 {
			t.Fatalf("the last event: %v", err)
		}
		if c, err := db.WebhookCursor(ctx); err != nil || c != last[0].ID {
			t.Errorf("the cursor is %q (%v); want the newest event, %s", c, err, last[0].ID)
		}
		// The endpoint starts after the last event (as one made now would).
		ep := &portal.WebhookEndpoint{ID: "we_" + portal.NewID(), URL: recv.URL, Types: []string{"password.changed"},
			Start: last[0].ID, CreatedAt: time.Now().Unix()}
		ep.Secret = keys.Seal(ep.ID, []byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
		if err := db.CreateWebhook(ctx, ep); err != nil {
			t.Fatal(err)
		}
		addEvent()
		if _, err := w.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if n := posts.Load(); n != 1 {
			t.Errorf("the new endpoint got %d posts; want the one event after its creation", n)
		}
	})
}
