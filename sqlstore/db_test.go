package sqlstore_test

import (
	"testing"

	"github.com/clientportal/portal/sqlstore"
	"github.com/clientportal/portal/sqlstore/storetest"
)

func TestStore(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		storetest.Run(t, func(t *testing.T) *sqlstore.DB { return storetest.MustOpen(t, dialect) })
	})
}

func TestMigrateTwice(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		dsn := storetest.DSN(t, dialect)
		storetest.MustOpenDSN(t, dsn)
		storetest.MustOpenDSN(t, dsn) // a second start finds nothing to do
	})
}
