// Package storetest is the store contract suite: the same tests run against
// SQLite always and PostgreSQL when PORTAL_TEST_POSTGRES_URL is set. It also
// opens throw-away databases for other packages' tests.
package storetest

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/sqlstore"
)

// PostgresEnv names the variable that enables the PostgreSQL suites.
const PostgresEnv = "PORTAL_TEST_POSTGRES_URL"

// RequireAll reports whether suites must not skip (set by CI).
func RequireAll() bool { return os.Getenv("PORTAL_TEST_REQUIRE_ALL") != "" }

// Skip skips the test with msg, or fails it when every suite must run.
func Skip(tb testing.TB, msg string) {
	tb.Helper()
	if RequireAll() {
		tb.Fatalf("%s (PORTAL_TEST_REQUIRE_ALL is set, so skipping is a failure)", msg)
	}
	tb.Skip(msg)
}

// Dialects are the databases to run a test on.
func Dialects() []string {
	if os.Getenv(PostgresEnv) != "" || RequireAll() {
		return []string{sqlstore.SQLite, sqlstore.Postgres}
	}
	return []string{sqlstore.SQLite}
}

// ForEachDialect runs fn as a subtest per database.
func ForEachDialect(t *testing.T, fn func(t *testing.T, dialect string)) {
	for _, d := range Dialects() {
		t.Run(d, func(t *testing.T) { fn(t, d) })
	}
}

// DSN returns the URL of a fresh, empty database for tb: a file in a
// temporary directory for SQLite, a new schema (dropped at cleanup) for
// PostgreSQL, so parallel test packages never collide.
func DSN(tb testing.TB, dialect string) string {
	tb.Helper()
	if dialect == sqlstore.SQLite {
		return "sqlite:" + filepath.Join(tb.TempDir(), "portal.db")
	}
	base := os.Getenv(PostgresEnv)
	if base == "" {
		Skip(tb, "PostgreSQL suite skipped: set "+PostgresEnv+"=postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run it")
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		tb.Fatal(err)
	}
	defer admin.Close()
	schema := "t_" + portal.NewID()
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		tb.Fatalf("create schema (is PostgreSQL up at %s?): %v", base, err)
	}
	tb.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err == nil {
			db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
			db.Close()
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("%s: %v", PostgresEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// MustOpen opens and migrates a fresh database of dialect, closed at cleanup.
func MustOpen(tb testing.TB, dialect string) *sqlstore.DB {
	tb.Helper()
	return MustOpenDSN(tb, DSN(tb, dialect))
}

// MustOpenDSN opens and migrates the database at dsn, closed at cleanup.
func MustOpenDSN(tb testing.TB, dsn string) *sqlstore.DB {
	tb.Helper()
	db, err := sqlstore.Open(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return db
}

// Dump returns every text value stored in every table of db, to check that
// no secret is kept in plaintext.
func Dump(tb testing.TB, dsn string) string {
	tb.Helper()
	if strings.HasPrefix(dsn, "sqlite:") {
		path := strings.TrimPrefix(dsn, "sqlite:")
		var b strings.Builder
		for _, p := range []string{path, path + "-wal"} {
			if data, err := os.ReadFile(p); err == nil {
				b.Write(data)
			}
		}
		return b.String()
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`)
	if err != nil {
		tb.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var t string
		rows.Scan(&t)
		tables = append(tables, t)
	}
	rows.Close()
	var b strings.Builder
	for _, t := range tables {
		var s sql.NullString
		if err := db.QueryRow(`SELECT string_agg(x::text, E'\n') FROM ` + t + ` x`).Scan(&s); err != nil {
			tb.Fatal(err)
		}
		b.WriteString(s.String)
	}
	return b.String()
}
