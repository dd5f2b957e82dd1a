package catalog_test

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/catalog/catalogtest"
	"github.com/coffer-dbaas/coffer/pgcluster"
	"github.com/coffer-dbaas/coffer/pgcluster/pgclustertest"
)

// cluster is the one PostgreSQL cluster the package's tests share; each test gets a database
// of its own on it.
var cluster *pgcluster.Cluster

func TestMain(m *testing.M) {
	os.Exit(pgclustertest.RunShared(m, func(_ context.Context, c *pgcluster.Cluster) error {
		cluster = c
		return nil
	}))
}

// createDatabase makes an empty database for one test and returns its URL.
func createDatabase(t *testing.T) string {
	t.Helper()
	return catalogtest.NewDatabase(t, cluster, "catalog")
}

// newStore migrates a fresh database and opens the catalog on it. It also returns the
// database's URL, for checks that look under the Store.
func newStore(t *testing.T) (*catalog.Store, string) {
	t.Helper()
	return catalogtest.New(t, cluster, "catalog")
}

// execSQL runs statements on the database at url, for setting up what no Store method does.
func execSQL(t *testing.T, url, sql string, args ...any) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
