// Package pgclustertest starts a throwaway PostgreSQL cluster for a test.
package pgclustertest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

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
	// t.TempDir is under a root-only folder; the postgres user needs a path it can walk.
	dir, err := os.MkdirTemp("", "coffer-pg-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	c := &pgcluster.Cluster{
		DataDir:   filepath.Join(dir, "data"),
		SocketDir: filepath.Join(dir, "run"),
		Host:      "127.0.0.1",
		Port:      freePort(t),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.Init(ctx, pgcluster.InitOptions{Superuser: Superuser, Password: Password}); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx, map[string]string{"fsync": "off", "shared_buffers": "32MB"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(context.Background()); err != nil {
			t.Errorf("stop test cluster: %v", err)
		}
	})
	return c
}

// DSN is a TCP connection string to a database of the cluster as the superuser.
func DSN(c *pgcluster.Cluster, database string) string {
	return fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", Superuser, Password, c.Host, c.Port, database)
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
