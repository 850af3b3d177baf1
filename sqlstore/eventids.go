package sqlstore

import (
	"context"
	"database/sql"

	"github.com/pressly/goose/v3"
)

// eventIDsVersion is the migration that gives time-ordered ids to the
// events recorded with random ones.
const eventIDsVersion = 17

// eventIDsMigration rewrites the ids of events the OpenID Connect
// provider recorded with random ids (an app's grant, a reused code or
// token) before it let the store give them time-ordered ones: a random id
// sorts after every time-ordered one, so those events stood at the top of
// the staff's newest-first feed for good. Each gets its creation time's
// prefix (as portal.NewEventID) and the first ten characters of its old id.
// Webhooks are not sent for them: the dispatcher's cursor is past their
// times.
func eventIDsMigration(dialect string) *goose.Migration {
	q := `UPDATE events SET id = printf('%016x', created_at * 1000000000) || substr(id, 1, 10)
		WHERE NOT id GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]*'`
	if dialect == Postgres {
		q = `UPDATE events SET id = lpad(to_hex(created_at * 1000000000), 16, '0') || substr(id, 1, 10)
		WHERE id !~ '^[0-9a-f]{16}'`
	}
	up := &goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, q)
		return err
	}}
	return goose.NewGoMigration(eventIDsVersion, up, &goose.GoFunc{Mode: goose.TransactionEnabled})
}
