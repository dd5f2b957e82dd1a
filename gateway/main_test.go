package gateway_test

import (
	"context"
	"os"
	"testing"

	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/catalog/catalogtest"
	"github.com/coffer-dbaas/coffer/pgcluster"
	"github.com/coffer-dbaas/coffer/pgcluster/pgclustertest"
)

// The gateway's tests run against the real catalog and a real Temporal server.

// cluster is the PostgreSQL cluster the package's tests share.
var cluster *pgcluster.Cluster

func TestMain(m *testing.M) {
	os.Exit(pgclustertest.RunShared(m, func(_ context.Context, c *pgcluster.Cluster) error {
		cluster = c
		return nil
	}))
}

// newCatalog migrates a fresh database and opens the catalog on it; it returns the
// database's URL too.
func newCatalog(t *testing.T) (*catalog.Store, string) {
	t.Helper()
	return catalogtest.New(t, cluster, "gateway")
}
