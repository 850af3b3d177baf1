package sqlstore

import (
	"context"
	"database/sql"

	"github.com/pressly/goose/v3"
)

// fillfactorVersion is the migration that leaves room on PostgreSQL's
// pages of users and methods.
const fillfactorVersion = 18

// fillfactorMigration leaves a tenth of each PostgreSQL page of the users
// and methods tables free. Every sign-in updates its user's row
// (last_login_at) and the method it used (the TOTP step, the time of use),
// columns no index covers. PostgreSQL writes such an update in place of a
// kind (a heap-only tuple, no index touched) only when the new version fits
// on the row's own page; on pages filled to the brim it moved the row
// instead and added an entry to each of the table's indexes, nine for
// users. A measured second step on a million users spent 0.55 ms of
// PostgreSQL's time on that one update, more than on any other statement.
// The setting applies to pages written from now on (new rows, and pages
// that vacuum frees); a table's existing pages keep their rows until then.
// SQLite has no such setting; there the migration only records its version.
func fillfactorMigration(dialect string) *goose.Migration {
	run := func(fillfactor string) *goose.GoFunc {
		return &goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
			if dialect != Postgres {
				return nil
			}
			for _, table := range []string{"users", "methods"} {
				if _, err := tx.ExecContext(ctx, `ALTER TABLE `+table+` SET (fillfactor = `+fillfactor+`)`); err != nil {
					return err
				}
			}
			return nil
		}}
	}
	return goose.NewGoMigration(fillfactorVersion, run("90"), run("100"))
}
