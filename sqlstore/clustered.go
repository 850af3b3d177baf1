package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/pressly/goose/v3"
)

// clusteredVersion is the migration that stores SQLite's sessions and
// known_devices tables in their primary key's order (WITHOUT ROWID).
const clusteredVersion = 16

// clusteredMigration rebuilds SQLite's sessions and known_devices tables
// as WITHOUT ROWID tables. A table with a TEXT primary key is otherwise
// two b-trees, the key's index and the rows by rowid: finding a session by
// its id (every signed-in request) read both, and a sign-in, which deletes
// one session and inserts another, changed a page of each for each row.
// Clustered, the rows are the key's b-tree: one search and one page fewer
// to read, change and flush. PostgreSQL has no such distinction (its
// tables are heaps); there the migration only records its version.
func clusteredMigration(dialect string) *goose.Migration {
	run := func(stmts []string) *goose.GoFunc {
		return &goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
			if dialect != SQLite {
				return nil
			}
			for _, q := range stmts {
				if _, err := tx.ExecContext(ctx, q); err != nil {
					return fmt.Errorf("%.60s…: %w", q, err)
				}
			}
			return nil
		}}
	}
	return goose.NewGoMigration(clusteredVersion, run(rebuildTables(" WITHOUT ROWID")), run(rebuildTables("")))
}

// rebuildTables copies sessions and known_devices into tables declared
// with suffix ("" or " WITHOUT ROWID"), with the same columns, keys,
// references and indexes, in one transaction.
func rebuildTables(suffix string) []string {
	return []string{
		`CREATE TABLE sessions_rebuilt (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    level         TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    reauth_at     BIGINT NOT NULL DEFAULT 0,
    user_agent    TEXT NOT NULL DEFAULT '',
    ip            TEXT NOT NULL DEFAULT '',
    auth_epoch    BIGINT NOT NULL DEFAULT 0,
    amr           TEXT NOT NULL DEFAULT ''
)` + suffix,
		`INSERT INTO sessions_rebuilt (id, user_id, level, created_at, last_seen_at, reauth_at, user_agent, ip, auth_epoch, amr)
    SELECT id, user_id, level, created_at, last_seen_at, reauth_at, user_agent, ip, auth_epoch, amr FROM sessions`,
		`DROP TABLE sessions`,
		`ALTER TABLE sessions_rebuilt RENAME TO sessions`,
		`CREATE INDEX sessions_user ON sessions (user_id)`,
		`CREATE INDEX sessions_last_seen ON sessions (last_seen_at)`,
		`CREATE INDEX sessions_created ON sessions (created_at)`,
		`CREATE TABLE known_devices_rebuilt (
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_hash   TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_hash)
)` + suffix,
		`INSERT INTO known_devices_rebuilt (user_id, device_hash, created_at, last_seen_at)
    SELECT user_id, device_hash, created_at, last_seen_at FROM known_devices`,
		`DROP TABLE known_devices`,
		`ALTER TABLE known_devices_rebuilt RENAME TO known_devices`,
	}
}
