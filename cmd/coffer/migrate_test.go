package main

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/coffer-dbaas/coffer/pgcluster/pgclustertest"
)

// TestMigrateRunsWithOnlyACatalogURL runs `coffer migrate --catalog-url ...` against a real
// PostgreSQL with no config file and no COFFER_* variable: no OpenStack credentials, no codec
// key.
func TestMigrateRunsWithOnlyACatalogURL(t *testing.T) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "COFFER_") {
			t.Setenv(k, "") // restored when the test ends
			os.Unsetenv(k)
		}
	}
	cluster := pgclustertest.Start(t)
	url := pgclustertest.DSN(cluster, "postgres")
	if err := run(t.Context(), []string{"migrate", "--catalog-url", url}); err != nil {
		t.Fatalf("coffer migrate --catalog-url: %v", err)
	}
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var table *string
	if err := conn.QueryRow(t.Context(), "SELECT to_regclass('instances')::text").Scan(&table); err != nil {
		t.Fatal(err)
	}
	if table == nil {
		t.Errorf("after coffer migrate: got no instances table, want the catalog's tables")
	}
}
