package activities_test

import (
	"context"
	"os"
	"testing"

	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/catalog/catalogtest"
	"github.com/coffer-dbaas/coffer/pgcluster"
	"github.com/coffer-dbaas/coffer/pgcluster/pgclustertest"
)

// The activities run against the real catalog: one PostgreSQL cluster for the package, and
// a migrated database of its own for each test that needs one.

// cluster is the PostgreSQL cluster the package's tests share.
var cluster *pgcluster.Cluster

func TestMain(m *testing.M) {
	os.Exit(pgclustertest.RunShared(m, func(_ context.Context, c *pgcluster.Cluster) error {
		cluster = c
		return nil
	}))
}

// newCatalog migrates a fresh database and opens the catalog on it.
func newCatalog(t *testing.T) *catalog.Store {
	t.Helper()
	store, _ := catalogtest.New(t, cluster, "activities")
	return store
}
