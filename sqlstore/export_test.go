package sqlstore

// ClusteredMigration is the Go migration, for tests that migrate by hand.
var ClusteredMigration = clusteredMigration

// EventIDsMigration is the Go migration of event ids.
var EventIDsMigration = eventIDsMigration

// FillfactorMigration is the Go migration of PostgreSQL's page room.
var FillfactorMigration = fillfactorMigration

// LogWrites reports the writes SQLite asked of log files opened through
// the portal-wal VFS and the write calls made for them.
func LogWrites() (asked, made int64) { return walVFS.asked.Load(), walVFS.writes.Load() }

// Exec runs a statement on the writer's connection, outside the group
// commit, for tests that need raw SQL.
func (db *DB) Exec(query string, args ...any) error {
	_, err := db.rw.Exec(query, args...)
	return err
}

// Checkpointing tells whether the SQLite checkpointer still runs.
func (db *DB) Checkpointing() bool {
	select {
	case <-db.stopped:
		return false
	default:
		return true
	}
}
