package sqlstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/portaltest"
	"github.com/clientportal/portal/sqlstore"
	"github.com/clientportal/portal/sqlstore/storetest"
)

func TestStore(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		storetest.Run(t, func(t *testing.T) *sqlstore.DB { return storetest.MustOpen(t, dialect) })
	})
}

func TestMigrateTwice(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		dsn := storetest.DSN(t, dialect)
		storetest.MustOpenDSN(t, dsn)
		storetest.MustOpenDSN(t, dsn) // a second start finds nothing to do
	})
}

// TestGroupedWritesFailAlone: concurrent login steps commit together on
// SQLite; one that fails half-way (its event's id is taken, after its
// session was written) fails alone and leaves nothing, and every other is
// written whole.
func TestGroupedWritesFailAlone(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		db := storetest.MustOpen(t, dialect)
		ctx := context.Background()
		u := storetest.NewUser(t, db, "group@example.com")
		if err := db.AddEvent(ctx, &portal.Event{ID: "taken", UserID: u.ID, Type: portal.EventLogout, CreatedAt: 1}); err != nil {
			t.Fatal(err)
		}
		now := time.Unix(5_000_000, 0)
		var failed atomic.Int64
		portaltest.Parallel(40, func(i int) bool {
			ev := &portal.Event{UserID: u.ID, Type: portal.EventLoginSucceeded, CreatedAt: now.Unix()}
			if i%4 == 0 {
				ev.ID = "taken"
			}
			_, err := db.StepLogin(ctx, &portal.LoginStep{At: now, Complete: true, Event: ev,
				Session: &portal.Session{ID: fmt.Sprintf("s%d", i), UserID: u.ID, Level: portal.LevelFull, CreatedAt: now.Unix(), LastSeenAt: now.Unix()}})
			if err != nil {
				failed.Add(1)
			}
			return err == nil
		})
		if failed.Load() != 10 {
			t.Fatalf("%d steps failed, want the 10 whose event id was taken", failed.Load())
		}
		for i := range 40 {
			_, _, err := db.SessionByID(ctx, fmt.Sprintf("s%d", i))
			if (i%4 == 0) != (err == portal.ErrNotFound) {
				t.Fatalf("session s%d: %v (a failed step must leave no session, a good one must)", i, err)
			}
		}
		if evs, err := db.UserEvents(ctx, u.ID, 100); err != nil || len(evs) != 31 {
			t.Fatalf("%d events, %v; want the 30 of the good steps and the first", len(evs), err)
		}
	})
}
