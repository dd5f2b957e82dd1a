// Package catalogtest gives a test a catalog of its own: a fresh database on a shared
// PostgreSQL cluster (pgclustertest), migrated and opened. The catalog's, the gateway's and
// the activities' tests share it, so that each test's catalog is made one way.
package catalogtest

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/pgcluster"
	"github.com/coffer-dbaas/coffer/pgcluster/pgclustertest"
)

// databases numbers the databases made in this test binary, so that no two share a name.
var databases atomic.Int64

// NewDatabase makes an empty database on cluster for one test and returns its URL. prefix
// names the package ("catalog", "gateway"), to tell its databases apart when looking at the
// cluster.
func NewDatabase(t testing.TB, cluster *pgcluster.Cluster, prefix string) string {
	t.Helper()
	name := fmt.Sprintf("%s_test_%d", strings.ToLower(prefix), databases.Add(1))
	url, err := pgclustertest.CreateDatabase(t.Context(), cluster, name, "")
	if err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	return url
}

// New migrates a fresh database on cluster and opens the catalog on it, closed when the
// test ends. It also returns the database's URL, for checks that look under the Store.
func New(t testing.TB, cluster *pgcluster.Cluster, prefix string) (*catalog.Store, string) {
	t.Helper()
	url := NewDatabase(t, cluster, prefix)
	if err := catalog.Migrate(t.Context(), url); err != nil {
		t.Fatalf("migrate the catalog: %v", err)
	}
	store, err := catalog.Open(t.Context(), url, 0)
	if err != nil {
		t.Fatalf("open the catalog: %v", err)
	}
	t.Cleanup(store.Close)
	return store, url
}
