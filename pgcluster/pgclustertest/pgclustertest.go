// Package pgclustertest starts a throwaway PostgreSQL cluster for a test, or for all the
// tests of a package (from TestMain), and makes databases on it.
package pgclustertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coffer-dbaas/coffer/dev/freeport"
	"github.com/coffer-dbaas/coffer/pgcluster"
)

// Superuser and Password are the throwaway cluster's superuser credentials.
const (
	Superuser = "coffer_test"
	Password  = "coffer-test-password"
)

// Start initdb's and starts a cluster in a fresh folder on 127.0.0.1 and a free port, and
// stops it when the test ends. It fails the test when PostgreSQL's binaries are missing.
func Start(t testing.TB) *pgcluster.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, stop, err := StartShared(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("stop test cluster: %v", err)
		}
	})
	return c
}

// StartShared starts a cluster as Start does, for the tests of a whole package (from
// TestMain), which no single test owns: stop stops it and removes its folder.
func StartShared(ctx context.Context) (c *pgcluster.Cluster, stop func() error, err error) {
	// t.TempDir is under a root-only folder; the postgres user needs a path it can walk.
	dir, err := os.MkdirTemp("", "coffer-pg-*")
	if err != nil {
		return nil, nil, err
	}
	port, err := freeport.Port("127.0.0.1")
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	c = &pgcluster.Cluster{
		DataDir:   filepath.Join(dir, "data"),
		SocketDir: filepath.Join(dir, "run"),
		Host:      "127.0.0.1",
		Port:      port,
	}
	if err := c.Init(ctx, pgcluster.InitOptions{Superuser: Superuser, Password: Password}); err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	if err := c.Start(ctx, map[string]string{"fsync": "off", "shared_buffers": "32MB"}); err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	stop = func() error {
		defer os.RemoveAll(dir)
		return c.Stop(context.Background())
	}
	return c, stop, nil
}

// CreateDatabase makes database name on the cluster, a copy of template when one is given
// (a template must have no open connections), and returns its DSN.
func CreateDatabase(ctx context.Context, c *pgcluster.Cluster, name, template string) (string, error) {
	conn, err := pgx.Connect(ctx, DSN(c, "postgres"))
	if err != nil {
		return "", fmt.Errorf("connect to the test cluster: %w", err)
	}
	defer conn.Close(context.Background())
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if template != "" {
		sql += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	if _, err := conn.Exec(ctx, sql); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return DSN(c, name), nil
}

// DSN is a TCP connection string to a database of the cluster as the superuser.
func DSN(c *pgcluster.Cluster, database string) string {
	return fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", Superuser, Password, c.Host, c.Port, database)
}

// RunShared is the body of a TestMain whose tests share one cluster: it starts the cluster,
// hands it to setup (which keeps it and prepares what the tests need, such as a template
// database), runs the tests and stops the cluster. It returns the exit code for os.Exit.
func RunShared(m *testing.M, setup func(ctx context.Context, c *pgcluster.Cluster) error) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, stop, err := StartShared(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop test cluster:", err)
		}
	}()
	if err := setup(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "set up the tests' cluster:", err)
		return 1
	}
	return m.Run()
}
