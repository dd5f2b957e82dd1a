package catalog_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/pgcluster"
	"github.com/coffer-dbaas/coffer/pgcluster/pgclustertest"
)

// cluster is the one PostgreSQL cluster the package's tests share; each test gets a database
// of its own on it.
var cluster *pgcluster.Cluster

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

// runTests starts the shared cluster, runs the tests and stops it. It does what
// pgclustertest.Start does, by hand, because that wants a single test to own the cluster.
func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "coffer-catalog-test-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	port, err := freePort()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c := &pgcluster.Cluster{
		DataDir:   filepath.Join(dir, "data"),
		SocketDir: filepath.Join(dir, "run"),
		Host:      "127.0.0.1",
		Port:      port,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.Init(ctx, pgcluster.InitOptions{Superuser: pgclustertest.Superuser, Password: pgclustertest.Password}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := c.Start(ctx, map[string]string{"fsync": "off", "shared_buffers": "32MB"}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := c.Stop(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "stop test cluster:", err)
		}
	}()
	cluster = c
	return m.Run()
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

var databases atomic.Int64

// createDatabase makes an empty database for one test and returns its URL.
func createDatabase(t *testing.T) string {
	t.Helper()
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, pgclustertest.DSN(cluster, "postgres"))
	if err != nil {
		t.Fatalf("connect to the test cluster: %v", err)
	}
	defer conn.Close(context.Background())
	name := fmt.Sprintf("catalog_test_%d", databases.Add(1))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	return pgclustertest.DSN(cluster, name)
}

// newStore migrates a fresh database and opens the catalog on it. It also returns the
// database's URL, for checks that look under the Store.
func newStore(t *testing.T) (*catalog.Store, string) {
	t.Helper()
	url := createDatabase(t)
	if err := catalog.Migrate(t.Context(), url); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	s, err := catalog.Open(t.Context(), url)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(s.Close)
	return s, url
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
