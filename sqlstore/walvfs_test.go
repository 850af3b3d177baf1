package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/portaltest"
	"github.com/clientportal/portal/sqlstore"
	"github.com/clientportal/portal/sqlstore/storetest"
)

// TestLogWritesGathered: with synchronous=full, a group commit's log frames
// (SQLite asks for two writes each) reach the file in a few write calls,
// every acknowledged step is there after the database is closed and opened
// again, and the file is intact. With normal the log is SQLite's own.
func TestLogWritesGathered(t *testing.T) {
	dir := t.TempDir()
	dsn := "sqlite:" + filepath.Join(dir, "portal.db")
	db := storetest.MustOpenDSN(t, dsn)
	ctx := context.Background()
	u := storetest.NewUser(t, db, "frames@example.com")
	now := time.Unix(5_000_000, 0)
	asked0, made0 := sqlstore.LogWrites()
	portaltest.Parallel(200, func(i int) bool {
		_, err := db.StepLogin(ctx, &portal.LoginStep{At: now, Complete: true,
			Event:   &portal.Event{UserID: u.ID, Type: portal.EventLoginSucceeded, UserAgent: strings.Repeat("x", 900), CreatedAt: now.Unix()},
			Session: &portal.Session{ID: fmt.Sprintf("s%03d", i), UserID: u.ID, Level: portal.LevelFull, UserAgent: strings.Repeat("y", 900), CreatedAt: now.Unix(), LastSeenAt: now.Unix()}})
		if err != nil {
			t.Error(err)
		}
		return err == nil
	})
	asked1, made1 := sqlstore.LogWrites()
	asked, made := asked1-asked0, made1-made0
	t.Logf("SQLite asked for %d log writes; %d write calls were made", asked, made)
	if asked < 200 || made*8 > asked {
		t.Errorf("SQLite asked for %d log writes and %d were made: want at most one in eight", asked, made)
	}
	db.Close()
	db = storetest.MustOpenDSN(t, dsn)
	for i := range 200 {
		if _, _, err := db.SessionByID(ctx, fmt.Sprintf("s%03d", i)); err != nil {
			t.Fatalf("session s%03d, acknowledged, is gone after reopening: %v", i, err)
		}
	}
	requireIntact(t, filepath.Join(dir, "portal.db"))

	t.Run("normal", func(t *testing.T) {
		db, err := sqlstore.OpenWith("sqlite:"+filepath.Join(t.TempDir(), "portal.db"), sqlstore.Options{Synchronous: sqlstore.SyncNormal})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		asked0, _ := sqlstore.LogWrites()
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if asked1, _ := sqlstore.LogWrites(); asked1 != asked0 {
			t.Errorf("synchronous=normal went through the portal-wal VFS (%d writes)", asked1-asked0)
		}
	})
}

// TestLogRolledBackSpill: a write transaction too big for the writer's
// page cache spills frames to the log before its commit; rolled back, they
// must not be written later over what another connection (another process,
// such as the command line) committed meanwhile.
func TestLogRolledBackSpill(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "portal.db")
	db := storetest.MustOpenDSN(t, "sqlite:"+path)
	if err := db.Exec(`CREATE TABLE big (id INTEGER PRIMARY KEY, v TEXT)`); err != nil {
		t.Fatal(err)
	}
	// A small cache, so the transaction below spills.
	if err := db.Exec(`PRAGMA cache_size = 20`); err != nil {
		t.Fatal(err)
	}
	if err := db.Exec(`BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	// New pages only, so that neither the statement nor the rollback
	// reads the log back (which would write the buffer out).
	if err := db.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
		INSERT INTO big (id, v) SELECT i, printf('%.2000c', 's') FROM n`); err != nil {
		t.Fatal(err)
	}
	if err := db.Exec(`ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	// Another connection, outside the portal's VFS, commits frames where
	// the rolled-back ones were.
	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=synchronous(FULL)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for i := range 50 {
		if _, err := other.Exec(`INSERT INTO big (id, v) VALUES ($1, $2)`, 1000+i, strings.Repeat("o", 2000)); err != nil {
			t.Fatal(err)
		}
	}
	// The portal's writer writes again; then everything the other
	// connection committed must still be there, in an intact file.
	if err := db.Exec(`INSERT INTO big (id, v) VALUES (5000, 'portal')`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := other.QueryRow(`SELECT count(*) FROM big WHERE v = $1`, strings.Repeat("o", 2000)).Scan(&n); err != nil || n != 50 {
		t.Fatalf("the other connection's 50 rows: found %d (%v)", n, err)
	}
	db.Close()
	other.Close()
	requireIntact(t, path)
}

// requireIntact opens the database file alone (recovering its log) and
// runs SQLite's integrity check.
func requireIntact(t *testing.T, path string) {
	t.Helper()
	c, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var res string
	if err := c.QueryRow(`PRAGMA integrity_check`).Scan(&res); err != nil || res != "ok" {
		t.Fatalf("integrity check: %q (%v)", res, err)
	}
}
