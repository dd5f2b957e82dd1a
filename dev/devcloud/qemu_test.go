package devcloud_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/coffer-dbaas/coffer/dev/devcloud"
)

// fakeQemu stands for qemu-system-x86_64: it writes its arguments to args.txt in the server's
// folder (its working folder) and runs until stopped, as a VM does.
const fakeQemu = `#!/bin/sh
echo $$ > guest.pid
printf '%s\n' "$@" > args.txt
exec sleep 1000
`

// TestQemuHypervisorBootsFromTheImageAndDeleteLeavesNothing checks what the qemu hypervisor
// makes for a server (everything but qemu itself, which a fake stands for): a root disk on
// the image, a config-2 ISO, the volume's raw disk of its size with the volume ID as serial,
// the fixed IP forwarded; and that a delete removes the VM's files and process.
func TestQemuHypervisorBootsFromTheImageAndDeleteLeavesNothing(t *testing.T) {
	for _, tool := range []string{"qemu-img", "xorriso"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the qemu hypervisor needs %s: %v", tool, err)
		}
	}
	dir := t.TempDir()
	writeGuest(t, dir, "qemu", fakeQemu)
	image := filepath.Join(dir, "image.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", image, "1G").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v: %s", err, out)
	}
	tc := startCloud(t, func(cfg *devcloud.Config) {
		cfg.Hypervisor.Kind = devcloud.HypervisorQemu
		cfg.Hypervisor.Qemu = devcloud.QemuConfig{
			Binary: filepath.Join(dir, "qemu"), Accel: "tcg", ForwardPorts: []int{5432},
			Images: map[string]string{"coffer-postgresql-15": image},
		}
	})
	ctx := context.Background()
	nova := tc.compute("demo")
	vol := createServerVolume(t, tc, "data")
	s := bootServer(t, tc, nova, servers.CreateOpts{
		Name: "vm", UserData: []byte("guest-config"),
		BlockDevice: []servers.BlockDevice{{
			SourceType: servers.SourceVolume, DestinationType: servers.DestinationVolume, UUID: vol.ID, BootIndex: -1,
		}},
	})
	serverDir := filepath.Join(tc.cfg.DataDir, "servers", s.ID)
	pid := guestPID(t, tc, s.ID)
	b, err := os.ReadFile(filepath.Join(serverDir, "args.txt"))
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Join(strings.Fields(string(b)), " ")
	s, err = servers.Get(ctx, nova, s.ID).Extract()
	if err != nil {
		t.Fatal(err)
	}
	ip := s.Addresses["private"].([]any)[0].(map[string]any)["addr"].(string)
	for _, want := range []string{
		"-accel tcg", "-m 1024",
		"file=" + filepath.Join(serverDir, "disk.qcow2") + ",if=none,id=root",
		"file=" + filepath.Join(serverDir, "config-drive.iso") + ",if=none,id=config-drive,media=cdrom",
		"serial=" + vol.ID[:20],
		"hostfwd=tcp:" + ip + ":5432-:5432",
	} {
		if !strings.Contains(args, want) {
			t.Errorf("qemu arguments: got %q, want them to hold %q", args, want)
		}
	}
	if out, err := exec.Command("qemu-img", "info", filepath.Join(serverDir, "disk.qcow2")).CombinedOutput(); err != nil || !strings.Contains(string(out), "backing file: "+image) {
		t.Errorf("root disk: got %s (%v), want an overlay on %s", out, err, image)
	}
	disk := filepath.Join(tc.cfg.DataDir, "volumes", vol.ID, "disk.raw")
	if st, err := os.Stat(disk); err != nil || st.Size() != 1<<30 {
		t.Errorf("volume disk: got %v (%v), want 1 GiB", st, err)
	}

	// A stopped VM's disk grows at once; its next boot opens the grown file.
	if err := servers.Stop(ctx, nova, s.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	waitServer(t, nova, s.ID, "SHUTOFF")
	waitGone(t, pid)
	if err := volumes.ExtendSize(ctx, tc.blockStorage("demo"), vol.ID, volumes.ExtendSizeOpts{NewSize: 2}).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	waitVolumeStatus(t, tc, vol.ID, "in-use")
	if st, err := os.Stat(disk); err != nil || st.Size() != 2<<30 {
		t.Errorf("volume disk after extend: got %v (%v), want 2 GiB", st, err)
	}

	if err := servers.Delete(ctx, nova, s.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	waitServer(t, nova, s.ID, "deleted")
	if _, err := os.Stat(serverDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("server folder after delete: got %v, want it gone (root disk, ISO, console)", err)
	}
}
