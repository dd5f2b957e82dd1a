package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/coffer-dbaas/coffer/dev/freeport"
	"github.com/coffer-dbaas/coffer/dev/stack"
)

// cloud is the one stack every test and benchmark of the package shares.
var cloud *stack.Stack

// cofferBinary is the `coffer` built for the run, which a test's own stack runs too.
var cofferBinary string

// Health and parking in seconds rather than minutes, so that the tests see them happen.
const (
	healthInterval  = 2 * time.Second
	heartbeatExpiry = 10 * time.Second
	parkTimeout     = 45 * time.Second
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) (code int) {
	dir, err := os.MkdirTemp("", "coffer-e2e-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// A failed run keeps its folder: the stack's logs and the servers' consoles are what
	// explain it.
	defer func() {
		if code == 0 {
			os.RemoveAll(dir)
			return
		}
		fmt.Fprintf(os.Stderr, "the run failed: its logs stay in %s\n", filepath.Join(dir, "data"))
	}()
	bin := filepath.Join(dir, "coffer")
	cofferBinary = bin
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
	// The devcloud leases a /16 that no other stack on the machine uses (a coffer-dev, another
	// package's tests), and every port is a free one; a port that another process takes
	// between its pick and the bind fails the start, which then runs again on new ports.
	for attempt := 1; ; attempt++ {
		// Held until the run ends, as the stack may use it for a while after Start.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cloud, err = stack.Start(ctx, stack.Options{
			DataDir: filepath.Join(dir, "data"), CofferBinary: bin,
			// The worker and the API run as processes, so that crash tests can kill them.
			WorkerProcess: true, APIProcess: true,
			HealthInterval: healthInterval, HeartbeatExpiry: heartbeatExpiry, ParkTimeout: parkTimeout,
			// The Web UI and its codec front run too, for the test that drives a browser.
			TemporalPort: freePort(), UIPort: freePort(), CodecPort: freePort(), CloudPort: freePort(), APIPort: freePort(), CatalogPort: freePort(), GatewayPort: freePort(),
			GuestStartTimeout: 2 * time.Minute,
			Log:               slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
		})
		if err == nil {
			break
		}
		if !freeport.InUse(err) || attempt == 3 {
			fmt.Fprintln(os.Stderr, "start the stack:", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "start the stack (attempt %d): a port was taken meanwhile, again on other ports: %v\n", attempt, err)
		if err := os.RemoveAll(filepath.Join(dir, "data")); err != nil {
			fmt.Fprintln(os.Stderr, "start the stack:", err)
			return 1
		}
	}
	defer cloud.Stop()
	code = m.Run()
	// Over every guest activity the tests ran: what a guest received holds no token nor
	// password of the control plane's.
	checkCtx, cancelCheck := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancelCheck()
	read, err := guestInputsCarryNoControlPlaneSecret(checkCtx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: guest activity inputs (%d read) carry control-plane secrets or could not be read:\n%v\n", read, err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "guest activity inputs: %d read, none carries a control-plane token or password\n", read)
	return code
}

// freePort is a port of 127.0.0.1 that nothing listens on, outside the range from which
// outgoing connections take theirs (freeport).
func freePort() int { return freeport.MustPort() }
