package gateway_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/coffer-dbaas/coffer/catalog"
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

var databaseCount atomic.Int64

// newCatalog migrates a fresh database and opens the catalog on it.
func newCatalog(t *testing.T) *catalog.Store {
	t.Helper()
	url, err := pgclustertest.CreateDatabase(t.Context(), cluster, fmt.Sprintf("gateway_test_%d", databaseCount.Add(1)), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := catalog.Migrate(t.Context(), url); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	store, err := catalog.Open(t.Context(), url)
	if err != nil {
		t.Fatalf("open the catalog: %v", err)
	}
	t.Cleanup(store.Close)
	return store
}
