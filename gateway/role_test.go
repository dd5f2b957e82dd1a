package gateway_test

import (
	"encoding/base64"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/worker"

	"github.com/coffer-dbaas/coffer/guest"
)

// TestCofferGuestGatewayRoleServesGuestsAndStopsOnSIGTERM runs `coffer guest-gateway` as
// production does, from its configuration in COFFER_* variables, with a guest worker
// through it, and stops it as a service manager would.
func TestCofferGuestGatewayRoleServesGuestsAndStopsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the coffer binary")
	}
	s := newControlPlane(t)
	bin := filepath.Join(t.TempDir(), "coffer")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/coffer-dbaas/coffer/cmd/coffer").CombinedOutput(); err != nil {
		t.Fatalf("build coffer: %v\n%s", err, out)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = lis.Addr().String()
	lis.Close()

	cmd := exec.Command(bin, "guest-gateway")
	cmd.Env = append(os.Environ(),
		"COFFER_TEMPORAL_HOST_PORT="+s.temporal.GetFrontendHostPort(),
		"COFFER_TEMPORAL_NAMESPACE="+s.namespace,
		"COFFER_CATALOG_URL="+s.catalogURL,
		"COFFER_CODEC_KEY="+base64.StdEncoding.EncodeToString(s.master),
		"COFFER_GATEWAY_LISTEN="+s.addr,
	)
	cmd.Stdout, cmd.Stderr = testWriter{t}, testWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	})
	for deadline := time.Now().Add(time.Minute); ; {
		conn, err := net.Dial("tcp", s.addr)
		if err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("coffer guest-gateway does not listen on %s: %v", s.addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	g := s.enroll(t)
	w := worker.New(s.guestClient(t, g), guest.TaskQueue(g.instanceID), worker.Options{DisableWorkflowWorker: true})
	w.RegisterActivityWithOptions(func(in string) (string, error) { return "echo: " + in, nil }, activityName("Echo"))
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	out, err := s.callGuest(t, g.instanceID, "Echo", "through the binary")
	w.Stop()
	if err != nil || out != "echo: through the binary" {
		t.Fatalf("Echo through coffer guest-gateway: got %q, %v", out, err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("coffer guest-gateway after SIGTERM: %v, want a clean exit", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("coffer guest-gateway still runs a minute after SIGTERM")
	}
}
