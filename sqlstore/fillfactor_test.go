package sqlstore_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/clientportal/portal/sqlstore"
	"github.com/clientportal/portal/sqlstore/storetest"
)

// TestSignInUpdatesInPlace: on PostgreSQL, the updates every sign-in makes
// to its user's row and to the method it used are written on the row's
// own page (heap-only tuples: none of the tables' indexes touched), even
// for users written in bulk, which fill every page they are on.
func TestSignInUpdatesInPlace(t *testing.T) {
	ctx := context.Background()
	dsn := storetest.DSN(t, sqlstore.Postgres)
	db := storetest.MustOpenDSN(t, dsn)
	if err := db.SeedUsers(ctx, 300, sqlstore.SeedOptions{TwoFAPercent: 100, Methods: []string{"totp"}}); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, c := range []struct{ table, update string }{
		// The first row of the table's first page, which the bulk
		// insert filled.
		{"users", `UPDATE users SET last_login_at = 1 WHERE ctid = (SELECT min(ctid) FROM users)`},
		{"methods", `UPDATE methods SET last_step = 1, last_used_at = 1 WHERE ctid = (SELECT min(ctid) FROM methods)`},
	} {
		tx, err := raw.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var rows, hot int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM `+c.table+` WHERE (ctid::text::point)[0] = 0`).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if res, err := tx.ExecContext(ctx, c.update); err != nil {
			t.Fatal(err)
		} else if n, _ := res.RowsAffected(); n != 1 {
			t.Fatalf("%s: %d rows updated, want 1", c.table, n)
		}
		if err := tx.QueryRowContext(ctx, `SELECT pg_stat_get_xact_tuples_hot_updated($1::regclass)`, c.table).Scan(&hot); err != nil {
			t.Fatal(err)
		}
		tx.Rollback()
		if hot != 1 {
			t.Errorf("%s: the update of a row on a page of %d rows moved it to another page and added it to every index (%d updates in place, want 1)", c.table, rows, hot)
		}
	}
}
