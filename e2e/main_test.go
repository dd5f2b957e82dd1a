package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/coffer-dbaas/coffer/dev/stack"
)

// cloud is the one stack every test and benchmark of the package shares.
var cloud *stack.Stack

// dataDir is the stack's folder (the devcloud's volumes are under devcloud/volumes).
var dataDir string

// Health and parking in seconds rather than minutes, so that the tests see them happen.
const (
	healthInterval  = 2 * time.Second
	heartbeatExpiry = 10 * time.Second
	parkTimeout     = 45 * time.Second
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "coffer-e2e-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "coffer")
	build := exec.Command("go", "build", "-o", bin, "github.com/coffer-dbaas/coffer/cmd/coffer")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build coffer:", err)
		return 1
	}
	level := slog.LevelWarn
	if os.Getenv("COFFER_E2E_DEBUG") != "" {
		level = slog.LevelDebug
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// A /16 of its own, so that a concurrent run of another package's devcloud never hands
	// out the same addresses.
	cidr := fmt.Sprintf("127.%d.0.0/16", 100+rand.IntN(100))
	dataDir = filepath.Join(dir, "data")
	cloud, err = stack.Start(ctx, stack.Options{
		DataDir: dataDir, CofferBinary: bin, NetworkCIDR: cidr,
		// The worker and the API run as processes, so that crash tests can kill them.
		WorkerProcess: true, APIProcess: true,
		HealthInterval: healthInterval, HeartbeatExpiry: heartbeatExpiry, ParkTimeout: parkTimeout,
		TemporalPort: freePort(), UIPort: -1, CloudPort: freePort(), APIPort: freePort(), CatalogPort: freePort(),
		GuestStartTimeout: 2 * time.Minute,
		Log:               slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start the stack:", err)
		return 1
	}
	defer cloud.Stop()
	return m.Run()
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
