package devcloud_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/coffer-dbaas/coffer/dev/devcloud"
)

// envGuest prints a variable of the hypervisor's environment and the config drive its flags
// name, and sleeps; it ignores SIGTERM when told to, as a hung guest would.
const envGuest = `#!/bin/sh
echo $$ > guest.pid
echo "mark=$COFFER_TEST_MARK drive=$2 legacy=${COFFER_CONFIG_DRIVE:-none}"
if [ "$COFFER_TEST_IGNORE_TERM" = 1 ]; then
	trap '' TERM
	while :; do sleep 1; done
fi
exec sleep 1000
`

func writeGuest(t *testing.T, dir, name, script string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// consoleOf returns a server's whole console log through Nova.
func consoleOf(t *testing.T, tc *testCloud, id string) string {
	t.Helper()
	out, err := servers.ShowConsoleOutput(context.Background(), tc.compute("demo"), id, servers.ShowConsoleOutputOpts{}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestHypervisorResolvesRelativeCommandAtNewAndPassesEnv(t *testing.T) {
	dir := t.TempDir()
	writeGuest(t, dir, "guest.sh", envGuest)
	t.Chdir(dir) // the command is relative to the folder the cloud starts in
	tc := startCloud(t, func(cfg *devcloud.Config) {
		cfg.Hypervisor.Command = []string{"./guest.sh"}
		cfg.Hypervisor.Env = []string{"COFFER_TEST_MARK=relative"}
	})
	s := bootServer(t, tc, tc.compute("demo"), servers.CreateOpts{Name: "relative"})
	drive := filepath.Join(tc.cfg.DataDir, "servers", s.ID, "config-drive")
	if out := consoleOf(t, tc, s.ID); !strings.Contains(out, "mark=relative drive="+drive+" legacy=none") {
		t.Errorf("console: got %q, want the configured variable, --config-drive %s and no COFFER_CONFIG_DRIVE", out, drive)
	}
}

func TestHypervisorFindsBareCommandInPath(t *testing.T) {
	dir := t.TempDir()
	writeGuest(t, dir, "coffer-test-guest", envGuest)
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	tc := startCloud(t, func(cfg *devcloud.Config) {
		cfg.Hypervisor.Command = []string{"coffer-test-guest"}
		cfg.Hypervisor.Env = []string{"COFFER_TEST_MARK=bare"}
	})
	s := bootServer(t, tc, tc.compute("demo"), servers.CreateOpts{Name: "bare"})
	if out := consoleOf(t, tc, s.ID); !strings.Contains(out, "mark=bare") {
		t.Errorf("console: got %q, want mark=bare", out)
	}
}

func TestHypervisorMissingCommandPutsServerInError(t *testing.T) {
	tc := startCloud(t, func(cfg *devcloud.Config) { cfg.Hypervisor.Command = []string{"coffer-no-such-program"} })
	nova := tc.compute("demo")
	s, err := servers.Create(context.Background(), nova, servers.CreateOpts{
		Name: "nothing", FlavorRef: "ds1G", ImageRef: imageID(t, tc, "coffer-redis-7"),
	}, nil).Extract()
	if err != nil {
		t.Fatal(err)
	}
	got := waitServer(t, nova, s.ID, "ERROR")
	if !strings.Contains(got.Fault.Message, "coffer-no-such-program") {
		t.Errorf("fault: got %q, want it to name the missing program", got.Fault.Message)
	}
}

func TestHypervisorPutsTheGuestsLastWordsInTheFaultOfAServerThatExitsWhileBooting(t *testing.T) {
	dir := t.TempDir()
	writeGuest(t, dir, "dying-guest", "#!/bin/sh\necho starting\necho 'coffer: guest agent: state folder is not writable' >&2\nexit 1\n")
	tc := startCloud(t, func(cfg *devcloud.Config) { cfg.Hypervisor.Command = []string{filepath.Join(dir, "dying-guest")} })
	nova := tc.compute("demo")
	s, err := servers.Create(context.Background(), nova, servers.CreateOpts{
		Name: "dying", FlavorRef: "ds1G", ImageRef: imageID(t, tc, "coffer-redis-7"),
	}, nil).Extract()
	if err != nil {
		t.Fatal(err)
	}
	got := waitServer(t, nova, s.ID, "ERROR")
	if !strings.Contains(got.Fault.Message, "exited while booting (exit status 1): coffer: guest agent: state folder is not writable") {
		t.Errorf("fault: got %q, want the exit status and the guest's last line", got.Fault.Message)
	}
	if out := consoleOf(t, tc, s.ID); !strings.Contains(out, "devcloud: the server's process exited while booting (exit status 1)") {
		t.Errorf("console: got %q, want the hypervisor's note of the exit", out)
	}
}

func TestHypervisorKillsGuestThatIgnoresTerm(t *testing.T) {
	dir := t.TempDir()
	writeGuest(t, dir, "guest.sh", envGuest)
	tc := startCloud(t, func(cfg *devcloud.Config) {
		cfg.Hypervisor.Command = []string{filepath.Join(dir, "guest.sh")}
		cfg.Hypervisor.Env = []string{"COFFER_TEST_IGNORE_TERM=1"}
		cfg.Hypervisor.StopTimeout = 300 * time.Millisecond
	})
	nova := tc.compute("demo")
	s := bootServer(t, tc, nova, servers.CreateOpts{Name: "stubborn"})
	pid := guestPID(t, tc, s.ID)
	if err := servers.Stop(context.Background(), nova, s.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	waitServer(t, nova, s.ID, "SHUTOFF")
	waitGone(t, pid)
}

// daemonGuest starts a child that leaves the process group, as a database server does, and
// records its PID in the server's folder.
const daemonGuest = `#!/bin/sh
setsid sleep 1000 </dev/null >/dev/null 2>&1 &
echo $! > daemon.pid
exec sleep 1000
`

func daemonPID(t *testing.T, tc *testCloud, id string) int {
	t.Helper()
	path := filepath.Join(tc.cfg.DataDir, "servers", id, "daemon.pid")
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && perr == nil {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("no daemon.pid for server %s", id)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestStopAndCrashTakeDownProcessesThatLeftTheGroup(t *testing.T) {
	dir := t.TempDir()
	writeGuest(t, dir, "guest.sh", daemonGuest)
	tc := startCloud(t, func(cfg *devcloud.Config) { cfg.Hypervisor.Command = []string{filepath.Join(dir, "guest.sh")} })
	ctx := context.Background()
	nova := tc.compute("demo")
	s := bootServer(t, tc, nova, servers.CreateOpts{Name: "daemons"})

	daemon := daemonPID(t, tc, s.ID)
	if err := devcloud.CrashServer(ctx, tc.provider("admin"), devcloud.AdminBaseURL(tc.identityURL()), s.ID); err != nil {
		t.Fatal(err)
	}
	waitServer(t, nova, s.ID, "SHUTOFF")
	waitGone(t, daemon)

	if err := os.Remove(filepath.Join(tc.cfg.DataDir, "servers", s.ID, "daemon.pid")); err != nil {
		t.Fatal(err)
	}
	if err := servers.Start(ctx, nova, s.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	waitServer(t, nova, s.ID, "ACTIVE")
	daemon = daemonPID(t, tc, s.ID)
	if err := servers.Stop(ctx, nova, s.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	waitServer(t, nova, s.ID, "SHUTOFF")
	waitGone(t, daemon)
}
