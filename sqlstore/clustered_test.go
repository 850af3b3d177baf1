package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/clientportal/portal/sqlstore"
	"github.com/clientportal/portal/sqlstore/storetest"
)

// TestClusteredMigration migrates a SQLite database that has sessions and
// known browsers (schema 00015) to clustered tables and back: every row
// survives each way, with its keys, references and indexes, and the store
// finds the sessions afterwards.
func TestClusteredMigration(t *testing.T) {
	ctx := context.Background()
	dsn := storetest.DSN(t, sqlstore.SQLite)
	raw, err := sql.Open("sqlite", "file:"+strings.TrimPrefix(dsn, "sqlite:")+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	p, err := goose.NewProvider(goose.DialectSQLite3, raw, os.DirFS(filepath.Join(".", "migrations")),
		goose.WithGoMigrations(sqlstore.ClusteredMigration(sqlstore.SQLite)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 15); err != nil {
		t.Fatal(err)
	}
	exec := func(q string) {
		t.Helper()
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO users (id, email, email_key, name, role, password_hash, created_at) VALUES
		('u1', 'a@x.io', 'a@x.io', 'A', 'owner', 'x', 1), ('u2', 'b@x.io', 'b@x.io', 'B', 'owner', 'x', 2)`)
	exec(`INSERT INTO sessions (id, user_id, level, created_at, last_seen_at, reauth_at, user_agent, ip, auth_epoch, amr) VALUES
		('s1', 'u1', 'full', 10, 11, 12, 'Firefox', '192.0.2.1', 0, 'pwd otp'), ('s2', 'u2', 'password', 20, 21, 0, '', '', 0, '')`)
	exec(`INSERT INTO known_devices (user_id, device_hash, created_at, last_seen_at) VALUES ('u1', 'd1', 1, 2), ('u2', 'd2', 3, 4)`)

	dump := func() string {
		t.Helper()
		var b strings.Builder
		for _, q := range []string{`SELECT id, user_id, level, created_at, last_seen_at, reauth_at, user_agent, ip, auth_epoch, amr FROM sessions ORDER BY id`,
			`SELECT user_id, device_hash, created_at, last_seen_at FROM known_devices ORDER BY user_id`} {
			rows, err := raw.QueryContext(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			cols, _ := rows.Columns()
			for rows.Next() {
				v := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range v {
					ptrs[i] = &v[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					t.Fatal(err)
				}
				for _, x := range v {
					b.WriteString(sqlText(x) + "|")
				}
				b.WriteString("\n")
			}
			rows.Close()
		}
		return b.String()
	}
	// schema is how each table is stored and which indexes it has.
	schema := func() string {
		t.Helper()
		var b strings.Builder
		rows, err := raw.QueryContext(ctx, `SELECT name, sql FROM sqlite_master WHERE tbl_name IN ('sessions', 'known_devices') AND sql IS NOT NULL ORDER BY type DESC, name`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var name, q string
			rows.Scan(&name, &q)
			b.WriteString(name)
			if strings.Contains(q, "WITHOUT ROWID") {
				b.WriteString(" (clustered)")
			}
			b.WriteString("\n")
		}
		return b.String()
	}
	before, beforeSchema := dump(), schema()

	if _, err := p.UpTo(ctx, 16); err != nil {
		t.Fatal(err)
	}
	if got := dump(); got != before {
		t.Fatalf("rows after the migration:\n%s\nwant:\n%s", got, before)
	}
	want := "known_devices (clustered)\nsessions (clustered)\nsessions_created\nsessions_last_seen\nsessions_user\n"
	if got := schema(); got != want {
		t.Fatalf("tables after the migration:\n%s\nwant:\n%s", got, want)
	}
	// The reference to users still cascades.
	exec(`DELETE FROM users WHERE id = 'u2'`)
	var n int
	raw.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM sessions WHERE user_id = 'u2') + (SELECT COUNT(*) FROM known_devices WHERE user_id = 'u2')`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d rows of a deleted user left", n)
	}
	if _, err := raw.ExecContext(ctx, `INSERT INTO sessions (id, user_id, level, created_at, last_seen_at) VALUES ('s9', 'nobody', 'full', 1, 1)`); err == nil {
		t.Fatal("a session of a user that does not exist was stored")
	}
	exec(`INSERT INTO users (id, email, email_key, name, role, password_hash, created_at) VALUES ('u2', 'b@x.io', 'b@x.io', 'B', 'owner', 'x', 2)`)
	exec(`INSERT INTO sessions (id, user_id, level, created_at, last_seen_at, reauth_at, user_agent, ip, auth_epoch, amr) VALUES ('s2', 'u2', 'password', 20, 21, 0, '', '', 0, '')`)
	exec(`INSERT INTO known_devices (user_id, device_hash, created_at, last_seen_at) VALUES ('u2', 'd2', 3, 4)`)
	if _, err := raw.ExecContext(ctx, `INSERT INTO sessions (id, user_id, level, created_at, last_seen_at) VALUES ('s1', 'u1', 'full', 1, 1)`); err == nil {
		t.Fatal("a second session with the same id was stored")
	}

	if _, err := p.DownTo(ctx, 15); err != nil {
		t.Fatal(err)
	}
	if got := dump(); got != before {
		t.Fatalf("rows after migrating back:\n%s\nwant:\n%s", got, before)
	}
	if got := schema(); got != beforeSchema {
		t.Fatalf("tables after migrating back:\n%s\nwant:\n%s", got, beforeSchema)
	}
	raw.Close()

	db := storetest.MustOpenDSN(t, dsn) // migrates again, as the portal does
	s, u, err := db.SessionByID(ctx, "s1")
	if err != nil || u.ID != "u1" || s.AMR != "pwd otp" || s.UserAgent != "Firefox" {
		t.Fatalf("session after the migration: %+v %+v %v", s, u, err)
	}
}

func sqlText(v any) string {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return fmt.Sprint(v)
}
