package e2e

import (
	"context"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/databases"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/instances"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/users"

	"github.com/coffer-dbaas/coffer/dev/devcloud"
	"github.com/coffer-dbaas/coffer/dev/stack"
)

// guestImage builds the guest image with `go tool task image` (seconds when its root
// filesystem is cached, a few minutes the first time; it installs its tools when missing),
// so that the VM runs the agent of this tree, and installs what the qemu hypervisor needs.
func guestImage(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	missing := []string{}
	for tool, pkg := range map[string]string{"qemu-system-x86_64": "qemu-system-x86", "qemu-img": "qemu-utils", "xorriso": "xorriso"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, pkg)
		}
	}
	if len(missing) > 0 {
		install := exec.Command("sh", "-c", "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "+strings.Join(missing, " "))
		if out, err := install.CombinedOutput(); err != nil {
			t.Fatalf("install %v: %v\n%s", missing, err, out)
		}
	}
	start := time.Now()
	build := exec.Command("go", "tool", "task", "image")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go tool task image: %v\n%s", err, out)
	}
	t.Logf("guest image ready in %s", time.Since(start).Round(time.Second))
	return filepath.Join(root, ".data", "image", "coffer-postgresql-15.qcow2")
}

// TestPostgresOnQemuVMs runs the everyday path on real VMs booted from the guest image (the
// devcloud's qemu hypervisor, TCG when KVM does not work): a PostgreSQL instance becomes
// ACTIVE, takes a row over its fixed IP from the host, keeps it through a restart and a
// volume resize (the guest's filesystem grows), and a backup of it restores into a second VM;
// after the deletes no qemu process, disk file or port is left.
func TestPostgresOnQemuVMs(t *testing.T) {
	img := guestImage(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	vms, err := stack.Start(ctx, stack.Options{
		DataDir: filepath.Join(dir, "data"), CofferBinary: cofferBinary,
		Hypervisor: devcloud.HypervisorQemu, GuestImage: img,
		WorkerProcess: true, APIProcess: true,
		HealthInterval: healthInterval, HeartbeatExpiry: heartbeatExpiry, ParkTimeout: parkTimeout,
		TemporalPort: freePort(), UIPort: -1, CloudPort: freePort(), APIPort: freePort(), CatalogPort: freePort(), GatewayPort: freePort(),
		GuestStartTimeout: 8 * time.Minute,
		Log:               slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatalf("start the qemu stack: %v", err)
	}
	// The package's helpers talk to the shared stack; this test runs alone (not parallel),
	// so it points them at its own for its duration. Cleanups run last first: the
	// instances' deletes, then these.
	shared := cloud
	cloud = vms
	t.Cleanup(func() {
		cloud = shared
		vms.Stop()
	})

	start := time.Now()
	step := func(what string) { t.Logf("%s after %s", what, time.Since(start).Round(time.Second)) }
	demo := login(t, "demo")
	password := randomPassword(t)
	opts := postgresOpts("vm-source")
	opts.Databases = databases.BatchCreateOpts{{Name: "shop"}}
	opts.Users = users.BatchCreateOpts{{Name: "clerk", Password: password, Databases: databases.BatchCreateOpts{{Name: "shop"}}}}
	created, err := instances.Create(context.Background(), demo.db, opts).Extract()
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	t.Cleanup(func() { deleteInstance(t, demo, created.ID) })
	src := waitStatus(t, demo.db, created.ID, "ACTIVE", 8*time.Minute)
	step("ACTIVE")
	conn := connectAs(t, src, "clerk", password, "shop")
	execSQL(t, conn, "CREATE TABLE kept (v text)")
	execSQL(t, conn, "INSERT INTO kept VALUES ('on a VM')")
	conn.Close(context.Background())

	if err := instances.Restart(context.Background(), demo.db, src.ID).ExtractErr(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	waitStatus(t, demo.db, src.ID, "ACTIVE", 5*time.Minute)
	wantRow(t, src, password)
	step("restarted")

	if err := instances.ResizeVolume(context.Background(), demo.db, src.ID, 2).ExtractErr(); err != nil {
		t.Fatalf("resize volume: %v", err)
	}
	waitStatus(t, demo.db, src.ID, "ACTIVE", 5*time.Minute)
	deadline := time.Now().Add(time.Minute)
	for {
		// What the guest reports is its mounted filesystem's size.
		if st := guestVolume(t, src.ID); st.SizeGB == 2 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("after the volume resize the guest sees %+v, want a 2 GiB filesystem", st)
		}
		time.Sleep(time.Second)
	}
	wantRow(t, src, password)
	step("volume resized")

	b := startBackup(t, demo, src.ID, "vm-backup")
	b = waitBackup(t, demo, b.ID, 8*time.Minute, "COMPLETED", "FAILED")
	if b.Status != "COMPLETED" {
		t.Fatalf("backup ended %s: %s", b.Status, b.FailReason)
	}
	step("backed up")
	restoredID := restoreInstance(t, demo, "vm-restored", b.ID)
	restored := waitStatus(t, demo.db, restoredID, "ACTIVE", 8*time.Minute)
	wantRow(t, restored, password)
	step("restored into a second VM")

	deleteBackupAndWait(t, demo, b.ID)
	for _, id := range []string{src.ID, restoredID} {
		deleteInstance(t, demo, id)
		if left := leftovers(t, id); len(left) > 0 {
			t.Errorf("after deleting %s the cloud still holds %v", id, left)
		}
	}
	step("deleted")
	for _, inst := range []*instances.Instance{src, restored} {
		addr := net.JoinHostPort(inst.IP[0], "5432")
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after the delete", addr)
		}
	}
	data := vms.Cloud.DataDir()
	if out, _ := exec.Command("pgrep", "-f", "qemu-system.*"+data).Output(); len(out) > 0 {
		t.Errorf("qemu processes left: %s", out)
	}
	_ = filepath.WalkDir(data, func(path string, d os.DirEntry, err error) error {
		if err == nil && (strings.HasSuffix(path, ".qcow2") || strings.HasSuffix(path, ".raw") || strings.HasSuffix(path, ".iso")) {
			t.Errorf("disk file left: %s", path)
		}
		return nil
	})
}

func wantRow(t *testing.T, inst *instances.Instance, password string) {
	t.Helper()
	conn := connectAs(t, inst, "clerk", password, "shop")
	defer conn.Close(context.Background())
	var v string
	if err := conn.QueryRow(context.Background(), "SELECT v FROM kept").Scan(&v); err != nil || v != "on a VM" {
		t.Fatalf("the row on %s: got %q (%v), want %q", inst.ID, v, err, "on a VM")
	}
}
