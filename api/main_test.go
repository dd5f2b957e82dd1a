package api_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/pgcluster"
	"github.com/coffer-dbaas/coffer/pgcluster/pgclustertest"
)

// The API's tests run against the real catalog: one PostgreSQL cluster for the package, and
// a database of its own for each test, copied from a template that is migrated once and
// holds the datastore versions the tests use.

// cluster is the PostgreSQL cluster the package's tests share.
var cluster *pgcluster.Cluster

// templateDB is the migrated database each test's catalog is copied from.
const templateDB = "api_test_template"

// versionIDs are the IDs of the template's datastore versions, by "datastore version".
var versionIDs = map[string]string{}

func TestMain(m *testing.M) {
	os.Exit(pgclustertest.RunShared(m, func(ctx context.Context, c *pgcluster.Cluster) error {
		cluster = c
		return makeTemplate(ctx)
	}))
}

// makeTemplate migrates the template database and gives it the datastore versions the tests
// expect: PostgreSQL 15 (the default) and 16, an inactive 9.6, and MySQL 8.0.
func makeTemplate(ctx context.Context) error {
	url, err := pgclustertest.CreateDatabase(ctx, cluster, templateDB, "")
	if err != nil {
		return err
	}
	if err := catalog.Migrate(ctx, url); err != nil {
		return err
	}
	store, err := catalog.Open(ctx, url, 0)
	if err != nil {
		return err
	}
	defer store.Close()
	versions, err := store.ListVersionDetails(ctx)
	if err != nil {
		return err
	}
	active := true
	for _, v := range versions {
		if v.Datastore == "mysql" && v.Name == "8.0" {
			if _, err := store.UpdateVersion(ctx, v.ID, catalog.VersionChange{Active: &active}); err != nil {
				return err
			}
		}
	}
	for _, nv := range []catalog.NewVersion{
		{Datastore: "postgresql", Name: "9.6", Manager: "postgresql", ImageTag: "coffer-postgresql-9.6", Port: 5432},
		{Datastore: "postgresql", Name: "16", Manager: "postgresql", ImageTag: "coffer-postgresql-16", Port: 5432, Active: true},
	} {
		if _, err := store.CreateVersion(ctx, nv); err != nil {
			return err
		}
	}
	versions, err = store.ListVersionDetails(ctx)
	if err != nil {
		return err
	}
	for _, v := range versions {
		versionIDs[v.Datastore+" "+v.Name] = v.ID
	}
	return nil
}

var databaseCount atomic.Int64

// newCatalog opens a catalog of its own for one test, a copy of the template. It also
// returns the database's name, for checks and changes that go under the Store.
func newCatalog(t *testing.T) (*catalog.Store, string) {
	t.Helper()
	name := fmt.Sprintf("api_test_%d", databaseCount.Add(1))
	url, err := pgclustertest.CreateDatabase(t.Context(), cluster, name, templateDB)
	if err != nil {
		t.Fatal(err)
	}
	store, err := catalog.Open(t.Context(), url, 0)
	if err != nil {
		t.Fatalf("open the catalog: %v", err)
	}
	t.Cleanup(store.Close)
	return store, name
}

// execSQL runs a statement on database name, for what no Store method does.
func execSQL(t *testing.T, name, sql string, args ...any) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), pgclustertest.DSN(cluster, name))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
