package sqlstore_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/sqlstore"
	"github.com/clientportal/portal/sqlstore/storetest"
)

// TestOutboxBodiesDoNotRest: a delivered message keeps no body, rows
// delivered before the upgrade lose theirs, messages queued before it still
// go out, and delivered rows are purged after the retention.
func TestOutboxBodiesDoNotRest(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		dsn, raw, _ := migratedTo(t, dialect, 6)
		// Queued by the previous version, in clear: one delivered, one not.
		if _, err := raw.ExecContext(ctx, `INSERT INTO outbox (id, to_addr, subject, body_text, body_html, created_at, next_at, sent_at) VALUES
			('old-sent', 'a@x.io', 'Invitation', 'old sent link token=AAAA', '<p>old sent link token=AAAA</p>', 1, 1, 5),
			('old-pending', 'b@x.io', 'Notice', 'old pending body', '', 2, 2, 0)`); err != nil {
			t.Fatal(err)
		}
		db := storetest.MustOpenDSN(t, dsn) // migrates the rest
		bodies := func() map[string]string {
			t.Helper()
			rows, err := raw.QueryContext(ctx, `SELECT id, body_text || body_html FROM outbox`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			out := map[string]string{}
			for rows.Next() {
				var id, body string
				rows.Scan(&id, &body)
				out[id] = body
			}
			return out
		}
		if b := bodies(); b["old-sent"] != "" || b["old-pending"] != "old pending body" {
			t.Fatalf("after the upgrade: %q; want the delivered body blanked, the pending one kept", b)
		}
		if err := db.Enqueue(ctx, &portal.OutboxMessage{ID: "new", To: "c@x.io", Subject: "Link", Text: "sealed text", HTML: "sealed html", Sealed: true, CreatedAt: 3, NextAt: 3}); err != nil {
			t.Fatal(err)
		}
		batch, err := db.ClaimOutbox(ctx, "w", 10, 10, 100)
		if err != nil || len(batch) != 2 {
			t.Fatalf("claimed %d, %v; want the old pending message and the new one", len(batch), err)
		}
		for _, m := range batch {
			if want := m.ID == "new"; m.Sealed != want {
				t.Fatalf("message %s: sealed %v, want %v", m.ID, m.Sealed, want)
			}
			if err := db.MarkSent(ctx, m.ID, "w", 20); err != nil {
				t.Fatal(err)
			}
		}
		for id, body := range bodies() {
			if body != "" {
				t.Fatalf("delivered message %s still holds %q", id, body)
			}
		}
		// Purge: rows delivered before the cut go, later ones stay.
		if n, err := db.PurgeOutbox(ctx, 20); err != nil || n != 1 {
			t.Fatalf("purge before 20 = %d, %v; want the one delivered at 5", n, err)
		}
		if n, err := db.PurgeOutbox(ctx, 21); err != nil || n != 2 {
			t.Fatalf("purge before 21 = %d, %v; want the two delivered at 20", n, err)
		}
		if len(bodies()) != 0 {
			t.Fatal("rows left after the purge")
		}
	})
}

// migratedTo makes a database of dialect migrated up to version, for a
// test that writes what an earlier version left before migrating the
// rest: its DSN, a connection of its own (closed at cleanup) and the
// migration provider.
func migratedTo(t *testing.T, dialect string, version int64) (string, *sql.DB, *goose.Provider) {
	t.Helper()
	dsn := storetest.DSN(t, dialect)
	driver, conn, gd := "pgx", dsn, goose.DialectPostgres
	if dialect == sqlstore.SQLite {
		driver, conn, gd = "sqlite", "file:"+strings.TrimPrefix(dsn, "sqlite:"), goose.DialectSQLite3
	}
	raw, err := sql.Open(driver, conn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	p, err := goose.NewProvider(gd, raw, os.DirFS(filepath.Join(".", "migrations")),
		goose.WithGoMigrations(sqlstore.ClusteredMigration(dialect), sqlstore.EventIDsMigration(dialect), sqlstore.FillfactorMigration(dialect)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(context.Background(), version); err != nil {
		t.Fatal(err)
	}
	return dsn, raw, p
}
