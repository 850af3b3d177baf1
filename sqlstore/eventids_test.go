package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/sqlstore/storetest"
)

// TestEventIDsMigration: events an app's grant recorded with a random id
// before the provider let the store give a time-ordered one stood at the
// top of the newest-first feed for good; migrating gives them ids of their
// time, so the feed lists them where they happened, and leaves the others
// as they were.
func TestEventIDsMigration(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		dsn, raw, p := migratedTo(t, dialect, 16)
		for _, q := range []string{
			`INSERT INTO users (id, email, email_key, name, role, password_hash, created_at) VALUES ('u1', 'a@x.io', 'a@x.io', 'A', 'owner', 'x', 1)`,
			// Before, in time order: a login (time-ordered id), a grant
			// (random id), a login.
			`INSERT INTO events (id, user_id, type, created_at) VALUES ('` + portal.NewEventID(at(1000)) + `', 'u1', 'login_succeeded', 1000)`,
			`INSERT INTO events (id, user_id, type, created_at) VALUES ('zx3k5q7m2abcdefghijklmnopq', 'u1', 'app_authorized', 2000)`,
			`INSERT INTO events (id, user_id, type, created_at) VALUES ('` + portal.NewEventID(at(3000)) + `', 'u1', 'login_succeeded', 3000)`,
		} {
			if _, err := raw.ExecContext(ctx, q); err != nil {
				t.Fatalf("%.60s: %v", q, err)
			}
		}
		if _, err := p.Up(ctx); err != nil {
			t.Fatal(err)
		}
		raw.Close()
		db := storetest.MustOpenDSN(t, dsn)
		evs, err := db.UserEvents(ctx, "u1", 10)
		if err != nil {
			t.Fatal(err)
		}
		feed, err := db.Events(ctx, portal.EventFilter{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 3 || len(feed) != 3 {
			t.Fatalf("%d events, %d in the feed; want 3", len(evs), len(feed))
		}
		for i, want := range []int64{3000, 2000, 1000} {
			if feed[i].CreatedAt != want || !portal.ValidEventID(feed[i].ID) {
				t.Errorf("feed[%d] = %s at %d; want a time-ordered id at %d", i, feed[i].ID, feed[i].CreatedAt, want)
			}
		}
		if grant := feed[1]; grant.ID != portal.NewEventID(at(2000))[:16]+"zx3k5q7m2a" {
			t.Errorf("the grant's id became %s", grant.ID)
		}
	})
}

func at(sec int64) time.Time { return time.Unix(sec, 0) }
