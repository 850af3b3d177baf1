package sqlstore_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/clientportal/portal/sqlstore"
	"github.com/clientportal/portal/sqlstore/storetest"
)

// TestStopCheckpoints: a process that keeps the database open beside the
// portal (portal bench) stops its checkpointer, leaving the log to the
// portal's, after copying the log one last time; reads, writes and closing
// go on as before.
func TestStopCheckpoints(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		if dialect == sqlstore.Postgres {
			// No checkpointer of the portal's: nothing to stop.
			if err := storetest.MustOpen(t, dialect).StopCheckpoints(context.Background()); err != nil {
				t.Error(err)
			}
			return
		}
		stopCheckpoints(t)
	})
}

func stopCheckpoints(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "portal.db")
	db := storetest.MustOpenDSN(t, "sqlite:"+path)
	storetest.NewUser(t, db, "before@example.com")
	if !db.Checkpointing() {
		t.Fatal("a new database handle does not checkpoint")
	}
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() == 0 {
		t.Fatalf("no log to copy before the test: %v", err)
	}
	if err := db.StopCheckpoints(ctx); err != nil {
		t.Fatal(err)
	}
	if db.Checkpointing() {
		t.Error("the checkpointer still runs after StopCheckpoints")
	}
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() != 0 {
		t.Errorf("the log was not copied and emptied: %v %v", fi.Size(), err)
	}
	if err := db.StopCheckpoints(ctx); err != nil {
		t.Errorf("a second StopCheckpoints: %v", err)
	}
	u := storetest.NewUser(t, db, "after@example.com")
	if got, err := db.UserByID(ctx, u.ID); err != nil || got.Email != "after@example.com" {
		t.Errorf("read after StopCheckpoints: %+v, %v", got, err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("close after StopCheckpoints: %v", err)
	}

}
