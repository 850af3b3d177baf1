package sqlstore

// ClusteredMigration is the Go migration, for tests that migrate by hand.
var ClusteredMigration = clusteredMigration
