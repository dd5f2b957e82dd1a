package devcloud_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/volumeattach"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
	"github.com/gophercloud/gophercloud/v2/openstack/utils"

	"github.com/coffer-dbaas/coffer/configdrive"
	"github.com/coffer-dbaas/coffer/dev/devcloud"
)

// standInGuest is the program the hypervisor runs in these tests in place of the guest
// agent: it records its PID in the server's folder (its working directory), prints its flags
// and what a guest reads from the config drive they name to the console, and sleeps until it
// is stopped. User data containing "fail-boot" makes it exit at once, as a guest that cannot
// start would.
const standInGuest = `#!/bin/sh
echo $$ > guest.pid
echo booted
echo "args: $*"
drive=
while [ $# -gt 0 ]; do
	[ "$1" = --config-drive ] && drive=$2
	shift
done
echo "drive holds: $(cd "$drive" && find . -type f | sort | tr '\n' ' ')"
echo "user_data: $(cat "$drive/openstack/latest/user_data")"
cat "$drive/openstack/latest/network_data.json"
echo
if grep -q fail-boot "$drive/openstack/latest/user_data"; then
	echo "cannot boot" >&2
	exit 3
fi
trap 'echo stopping; exit 0' TERM
exec sleep 1000
`

// startNovaCloud starts a devcloud whose hypervisor runs the stand-in guest.
func startNovaCloud(t *testing.T) *testCloud {
	t.Helper()
	script := filepath.Join(t.TempDir(), "guest.sh")
	if err := os.WriteFile(script, []byte(standInGuest), 0o755); err != nil {
		t.Fatal(err)
	}
	return startCloud(t, func(cfg *devcloud.Config) { cfg.Hypervisor.Command = []string{script} })
}

// privateNetworkID is the ID of the seeded "private" network, as Neutron lists it.
func privateNetworkID(t *testing.T, tc *testCloud) string {
	t.Helper()
	pages, err := networks.List(tc.network("demo"), networks.ListOpts{Name: "private"}).AllPages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	nets, err := networks.ExtractNetworks(pages)
	if err != nil || len(nets) != 1 {
		t.Fatalf("list network private: got %d networks, error %v; want 1", len(nets), err)
	}
	return nets[0].ID
}

// imageID is the ID Glance gives a configured image.
func imageID(t *testing.T, tc *testCloud, name string) string {
	t.Helper()
	pages, err := images.List(tc.image("demo"), images.ListOpts{Name: name}).AllPages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	list, err := images.ExtractImages(pages)
	if err != nil || len(list) != 1 {
		t.Fatalf("find image %s: got %d images (%v), want 1", name, len(list), err)
	}
	return list[0].ID
}

// bootServer creates a server (of flavor ds1G and the PostgreSQL image unless opts say
// otherwise) and waits until it is ACTIVE.
func bootServer(t *testing.T, tc *testCloud, nova *gophercloud.ServiceClient, opts servers.CreateOpts) *servers.Server {
	t.Helper()
	if opts.FlavorRef == "" {
		opts.FlavorRef = "ds1G"
	}
	bootVolume := slices.ContainsFunc(opts.BlockDevice, func(b servers.BlockDevice) bool { return b.BootIndex == 0 })
	if opts.ImageRef == "" && !bootVolume {
		opts.ImageRef = imageID(t, tc, "coffer-postgresql-15")
	}
	s, err := servers.Create(context.Background(), nova, opts, nil).Extract()
	if err != nil {
		t.Fatalf("create server %s: %v", opts.Name, err)
	}
	if s.AdminPass == "" || len(s.Links) == 0 {
		t.Errorf("create server %s: got %+v, want adminPass and links", opts.Name, s)
	}
	return waitServer(t, nova, s.ID, "ACTIVE")
}

// waitServer polls a server until it has the status ("deleted": until it is gone) and no task.
func waitServer(t *testing.T, nova *gophercloud.ServiceClient, id, status string) *servers.Server {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s, err := servers.Get(context.Background(), nova, id).Extract()
		switch {
		case status == "deleted" && gophercloud.ResponseCodeIs(err, http.StatusNotFound):
			return nil
		case err != nil:
			t.Fatalf("get server %s: %v", id, err)
		case s.Status == status && s.TaskState == "":
			return s
		case s.Status == "ERROR" && status != "ERROR" && status != "deleted":
			t.Fatalf("server %s: got ERROR (%s), want %s", id, s.Fault.Message, status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("server %s: got status %s task %q, want %s", id, s.Status, s.TaskState, status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// guestPID is the PID the stand-in guest of a server wrote last.
func guestPID(t *testing.T, tc *testCloud, id string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(tc.cfg.DataDir, "servers", id, "guest.pid"))
	if err != nil {
		t.Fatalf("read guest pid of server %s: %v", id, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("guest pid of server %s: %v", id, err)
	}
	return pid
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// waitGone waits until a process no longer exists (it has been reaped).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still runs", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wantRestarted checks that a server's guest runs under a new PID and the old one is gone.
func wantRestarted(t *testing.T, tc *testCloud, id string, oldPID int) int {
	t.Helper()
	pid := guestPID(t, tc, id)
	if pid == oldPID {
		t.Fatalf("server %s: guest PID is still %d, want a new process", id, pid)
	}
	if !alive(pid) {
		t.Fatalf("server %s: guest %d does not run", id, pid)
	}
	waitGone(t, oldPID)
	return pid
}

// wantArgs checks that the server's guest was last started with flags holding want (it
// prints them a moment after it starts).
func wantArgs(t *testing.T, tc *testCloud, id, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(tc.cfg.DataDir, "servers", id, "console.log"))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(b), "\n")
		last := ""
		for i := len(lines) - 1; i >= 0; i-- {
			if args, ok := strings.CutPrefix(lines[i], "args: "); ok {
				last = args
				break
			}
		}
		if strings.Contains(last, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("server %s's guest flags: got %q, want %q in them", id, last, want)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readDrive reads a server's config drive as its guest would.
func readDrive(t *testing.T, tc *testCloud, id string) configdrive.Drive {
	t.Helper()
	d, err := configdrive.Read(filepath.Join(tc.cfg.DataDir, "servers", id, "config-drive"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func createServerVolume(t *testing.T, tc *testCloud, name string) *volumes.Volume {
	t.Helper()
	bs := tc.blockStorage("demo")
	v, err := volumes.Create(context.Background(), bs, volumes.CreateOpts{Name: name, Size: 1}, nil).Extract()
	if err != nil {
		t.Fatalf("create volume %s: %v", name, err)
	}
	return waitVolumeStatus(t, tc, v.ID, "available")
}

func waitVolumeStatus(t *testing.T, tc *testCloud, id, status string) *volumes.Volume {
	t.Helper()
	bs := tc.blockStorage("demo")
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := volumes.Get(context.Background(), bs, id).Extract()
		if err != nil {
			t.Fatalf("get volume %s: %v", id, err)
		}
		if v.Status == status {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("volume %s: got status %s, want %s", id, v.Status, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestFlavorsListedAsNovaShowsThem(t *testing.T) {
	tc := startNovaCloud(t)
	nova := tc.compute("demo")
	ctx := context.Background()

	// Two per page, so that gophercloud follows flavors_links.
	pages, err := flavors.ListDetail(nova, flavors.ListOpts{Limit: 2}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all, err := flavors.ExtractFlavors(pages)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(tc.cfg.Flavors) {
		t.Fatalf("got %d flavors, want %d", len(all), len(tc.cfg.Flavors))
	}
	f, err := flavors.Get(ctx, nova, "ds2G").Extract()
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != "ds2G" || f.RAM != 2048 || f.VCPUs != 2 || f.Disk != 20 || !f.IsPublic || f.RxTxFactor != 1 || f.Swap != 0 {
		t.Errorf("flavor ds2G: got %+v", f)
	}
	_, err = flavors.Get(ctx, nova, "nope").Extract()
	wantStatus(t, "get unknown flavor", err, http.StatusNotFound)
}

func TestNovaAnswersVersionDocumentAndMicroversions(t *testing.T) {
	tc := startNovaCloud(t)
	nova := tc.compute("demo")
	ctx := context.Background()

	mv, err := utils.GetSupportedMicroversions(ctx, nova)
	if err != nil {
		t.Fatal(err)
	}
	if mv.MinMajor != 2 || mv.MinMinor != 1 || mv.MaxMajor != 2 || mv.MaxMinor < 52 {
		t.Errorf("got microversions %+v, want 2.1 to at least 2.52", mv)
	}

	nova.Microversion = "2.47"
	r := flavors.Get(ctx, nova, "ds1G")
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if got := r.Header.Get("X-OpenStack-Nova-API-Version"); got != "2.47" {
		t.Errorf("X-OpenStack-Nova-API-Version: got %q, want 2.47", got)
	}
	if got := r.Header.Get("OpenStack-API-Version"); got != "compute 2.47" {
		t.Errorf("OpenStack-API-Version: got %q, want compute 2.47", got)
	}
	nova.Microversion = "2.999"
	_, err = flavors.Get(ctx, nova, "ds1G").Extract()
	wantStatus(t, "microversion 2.999", err, http.StatusNotAcceptable)
}

func TestServerBootsStandInWithUserDataIPAndVolume(t *testing.T) {
	tc := startNovaCloud(t)
	ctx := context.Background()
	nova := tc.compute("demo")
	nova.Microversion = "2.52"
	netID := privateNetworkID(t, tc)
	vol := createServerVolume(t, tc, "data")

	s := bootServer(t, tc, nova, servers.CreateOpts{
		Name:     "db-1",
		UserData: []byte("guest-config-42"),
		Networks: []servers.Network{{UUID: netID}},
		Metadata: map[string]string{"coffer-instance": "i-1"},
		Tags:     []string{"coffer"},
		BlockDevice: []servers.BlockDevice{{
			SourceType: servers.SourceVolume, DestinationType: servers.DestinationVolume,
			UUID: vol.ID, BootIndex: -1,
		}},
	})
	s, err := servers.Get(ctx, nova, s.ID).Extract()
	if err != nil {
		t.Fatal(err)
	}

	pid := guestPID(t, tc, s.ID)
	if !alive(pid) {
		t.Fatalf("guest %d of server %s does not run", pid, s.ID)
	}

	var addrs map[string][]servers.Address
	if err := remarshalJSON(s.Addresses, &addrs); err != nil || len(addrs["private"]) != 1 {
		t.Fatalf("addresses: got %v (%v), want one on private", s.Addresses, err)
	}
	ip := addrs["private"][0].Address
	if a, err := netip.ParseAddr(ip); err != nil || !netip.MustParsePrefix(tc.cloud.NetworkCIDR()).Contains(a) {
		t.Fatalf("fixed IP: got %q, want one in the cloud's network %s", ip, tc.cloud.NetworkCIDR())
	}
	if s.Metadata["coffer-instance"] != "i-1" || s.Tags == nil || !slices.Equal(*s.Tags, []string{"coffer"}) {
		t.Errorf("metadata and tags: got %v and %v", s.Metadata, s.Tags)
	}
	if len(s.AttachedVolumes) != 1 || s.AttachedVolumes[0].ID != vol.ID {
		t.Errorf("volumes attached: got %+v, want %s", s.AttachedVolumes, vol.ID)
	}
	if s.Flavor["original_name"] != "ds1G" || s.Image["id"] == nil || s.PowerState != servers.RUNNING || s.VmState != "active" {
		t.Errorf("server view: flavor %v, image %v, power %v, vm_state %s", s.Flavor, s.Image, s.PowerState, s.VmState)
	}

	out, err := servers.ShowConsoleOutput(ctx, nova, s.ID, servers.ShowConsoleOutputOpts{}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	volumePath := filepath.Join(tc.cfg.DataDir, "volumes", vol.ID)
	drive := filepath.Join(tc.cfg.DataDir, "servers", s.ID, "config-drive")
	for _, want := range []string{"booted", "user_data: guest-config-42", fmt.Sprintf(`"ip_address": %q`, ip),
		"drive holds: ./openstack/latest/meta_data.json ./openstack/latest/network_data.json ./openstack/latest/user_data \n",
		"--config-drive " + drive, "--volumes-dir " + filepath.Dir(volumePath), "--volume-size-gb " + vol.ID + "=1",
		"--ram-mb 1024 --cpus 1", "--state-dir " + filepath.Join(tc.cfg.DataDir, "servers", s.ID, "guest-state")} {
		if !strings.Contains(out, want) {
			t.Errorf("console output: got %q, want it to contain %q", out, want)
		}
	}
	last, err := servers.ShowConsoleOutput(ctx, nova, s.ID, servers.ShowConsoleOutputOpts{Length: 1}).Extract()
	if err != nil || strings.Count(last, "\n") > 1 {
		t.Errorf("console output, last line: got %q, %v", last, err)
	}

	v := waitVolumeStatus(t, tc, vol.ID, "in-use")
	if len(v.Attachments) != 1 || v.Attachments[0].ServerID != s.ID || v.Attachments[0].Device != "/dev/vdb" {
		t.Errorf("volume attachments: got %+v, want server %s on /dev/vdb", v.Attachments, s.ID)
	}
	d := readDrive(t, tc, s.ID)
	if d.MetaData.UUID != s.ID || d.MetaData.Name != "db-1" || d.MetaData.Meta["coffer-instance"] != "i-1" ||
		len(d.NetworkData.Networks) != 1 || d.NetworkData.Networks[0].IPAddress != ip ||
		len(d.MetaData.Devices) != 1 || d.MetaData.Devices[0].Serial != vol.ID {
		t.Errorf("config drive: got %+v", d)
	}
}

func TestServerPowerActionsRestartTheGuest(t *testing.T) {
	tc := startNovaCloud(t)
	ctx := context.Background()
	nova := tc.compute("demo")
	s := bootServer(t, tc, nova, servers.CreateOpts{Name: "power"})
	pid := guestPID(t, tc, s.ID)

	err := servers.Start(ctx, nova, s.ID).ExtractErr()
	wantStatus(t, "os-start on ACTIVE", err, http.StatusConflict)

	if err := servers.Stop(ctx, nova, s.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	off := waitServer(t, nova, s.ID, "SHUTOFF")
	if off.PowerState != servers.SHUTDOWN || off.VmState != "stopped" {
		t.Errorf("stopped server: power %v, vm_state %s", off.PowerState, off.VmState)
	}
	waitGone(t, pid)
	err = servers.Stop(ctx, nova, s.ID).ExtractErr()
	wantStatus(t, "os-stop on SHUTOFF", err, http.StatusConflict)

	if err := servers.Start(ctx, nova, s.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	waitServer(t, nova, s.ID, "ACTIVE")
	pid = wantRestarted(t, tc, s.ID, pid)

	for _, how := range []servers.RebootMethod{servers.SoftReboot, servers.HardReboot} {
		if err := servers.Reboot(ctx, nova, s.ID, servers.RebootOpts{Type: how}).ExtractErr(); err != nil {
			t.Fatalf("reboot %s: %v", how, err)
		}
		waitServer(t, nova, s.ID, "ACTIVE")
		pid = wantRestarted(t, tc, s.ID, pid)
	}
}

func TestServerResizeConfirmAndRevert(t *testing.T) {
	tc := startNovaCloud(t)
	ctx := context.Background()
	nova := tc.compute("demo")
	s := bootServer(t, tc, nova, servers.CreateOpts{Name: "resize"})
	pid := guestPID(t, tc, s.ID)

	err := servers.Resize(ctx, nova, s.ID, servers.ResizeOpts{FlavorRef: "ds1G"}).ExtractErr()
	wantStatus(t, "resize to the same flavor", err, http.StatusBadRequest)
	err = servers.Resize(ctx, nova, s.ID, servers.ResizeOpts{FlavorRef: "nope"}).ExtractErr()
	wantStatus(t, "resize to an unknown flavor", err, http.StatusBadRequest)
	err = servers.ConfirmResize(ctx, nova, s.ID).ExtractErr()
	wantStatus(t, "confirm without resize", err, http.StatusConflict)

	if err := servers.Resize(ctx, nova, s.ID, servers.ResizeOpts{FlavorRef: "ds2G"}).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	got := waitServer(t, nova, s.ID, "VERIFY_RESIZE")
	if got.Flavor["id"] != "ds2G" {
		t.Errorf("flavor after resize: got %v, want ds2G", got.Flavor["id"])
	}
	pid = wantRestarted(t, tc, s.ID, pid)
	wantArgs(t, tc, s.ID, "--ram-mb 2048 --cpus 2") // ds2G's
	if err := servers.ConfirmResize(ctx, nova, s.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	waitServer(t, nova, s.ID, "ACTIVE")
	if guestPID(t, tc, s.ID) != pid {
		t.Error("confirm resize restarted the guest; it should keep running")
	}

	if err := servers.Resize(ctx, nova, s.ID, servers.ResizeOpts{FlavorRef: "ds4G"}).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	waitServer(t, nova, s.ID, "VERIFY_RESIZE")
	pid = wantRestarted(t, tc, s.ID, pid)
	if err := servers.RevertResize(ctx, nova, s.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	got = waitServer(t, nova, s.ID, "ACTIVE")
	if got.Flavor["id"] != "ds2G" {
		t.Errorf("flavor after revert: got %v, want ds2G", got.Flavor["id"])
	}
	wantRestarted(t, tc, s.ID, pid)
	wantArgs(t, tc, s.ID, "--ram-mb 2048 --cpus 2") // ds2G's again

	// From microversion 2.47 the server shows its flavor itself.
	nova.Microversion = "2.47"
	got, err = servers.Get(ctx, nova, s.ID).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if got.Flavor["original_name"] != "ds2G" || got.Flavor["ram"] != float64(2048) {
		t.Errorf("flavor at 2.47: got %v", got.Flavor)
	}
}

func TestServerDeleteFreesPortVolumeAndFolder(t *testing.T) {
	tc := startNovaCloud(t)
	ctx := context.Background()
	nova := tc.compute("demo")
	vol := createServerVolume(t, tc, "data")
	s := bootServer(t, tc, nova, servers.CreateOpts{
		Name:     "doomed",
		Networks: []servers.Network{{UUID: privateNetworkID(t, tc)}},
		BlockDevice: []servers.BlockDevice{{
			SourceType: servers.SourceVolume, DestinationType: servers.DestinationVolume, UUID: vol.ID, BootIndex: -1,
		}},
	})
	pid := guestPID(t, tc, s.ID)
	pages, err := ports.List(tc.network("demo"), ports.ListOpts{DeviceID: s.ID}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	serverPorts, err := ports.ExtractPorts(pages)
	if err != nil || len(serverPorts) != 1 || serverPorts[0].DeviceOwner != "compute:nova" {
		t.Fatalf("ports of server %s: got %+v (%v), want one owned by compute:nova", s.ID, serverPorts, err)
	}

	if err := servers.Delete(ctx, nova, s.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	waitServer(t, nova, s.ID, "deleted")
	waitGone(t, pid)
	if _, err := os.Stat(filepath.Join(tc.cfg.DataDir, "servers", s.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("server folder after delete: got %v, want it gone", err)
	}
	_, err = ports.Get(ctx, tc.network("demo"), serverPorts[0].ID).Extract()
	wantStatus(t, "get the deleted server's port", err, http.StatusNotFound)
	v := waitVolumeStatus(t, tc, vol.ID, "available")
	if len(v.Attachments) != 0 {
		t.Errorf("volume attachments after delete: got %+v, want none", v.Attachments)
	}
	err = servers.Delete(ctx, nova, s.ID).ExtractErr()
	wantStatus(t, "delete again", err, http.StatusNotFound)
}

func TestServerBootsFromGivenPortAndReleasesIt(t *testing.T) {
	tc := startNovaCloud(t)
	ctx := context.Background()
	neutron := tc.network("demo")
	nova := tc.compute("demo")
	p, err := ports.Create(ctx, neutron, ports.CreateOpts{NetworkID: privateNetworkID(t, tc), Name: "mine"}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	s := bootServer(t, tc, nova, servers.CreateOpts{Name: "on-port", Networks: []servers.Network{{Port: p.ID}}})
	bound, err := ports.Get(ctx, neutron, p.ID).Extract()
	if err != nil || bound.DeviceID != s.ID {
		t.Fatalf("port after boot: got %+v (%v), want bound to %s", bound, err, s.ID)
	}

	_, err = servers.Create(ctx, nova, servers.CreateOpts{
		Name: "steal", FlavorRef: "ds1G", ImageRef: imageID(t, tc, "coffer-redis-7"),
		Networks: []servers.Network{{Port: p.ID}},
	}, nil).Extract()
	wantStatus(t, "boot on a port in use", err, http.StatusConflict)

	if err := servers.Delete(ctx, nova, s.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	waitServer(t, nova, s.ID, "deleted")
	kept, err := ports.Get(ctx, neutron, p.ID).Extract()
	if err != nil || kept.DeviceID != "" {
		t.Fatalf("given port after delete: got %+v (%v), want it kept and unbound", kept, err)
	}
}

func TestServerVolumeAttachAndDetachHotPlug(t *testing.T) {
	tc := startNovaCloud(t)
	ctx := context.Background()
	nova := tc.compute("demo")
	s := bootServer(t, tc, nova, servers.CreateOpts{Name: "hotplug"})
	pid := guestPID(t, tc, s.ID)
	vol := createServerVolume(t, tc, "extra")

	a, err := volumeattach.Create(ctx, nova, s.ID, volumeattach.CreateOpts{VolumeID: vol.ID}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if a.VolumeID != vol.ID || a.ServerID != s.ID || a.Device != "/dev/vdb" {
		t.Errorf("attachment: got %+v", a)
	}
	if devs := readDrive(t, tc, s.ID).MetaData.Devices; len(devs) != 1 || devs[0].Serial != vol.ID {
		t.Errorf("meta_data.json devices after attach: got %+v, want %s", devs, vol.ID)
	}
	pages, err := volumeattach.List(nova, s.ID).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if list, err := volumeattach.ExtractVolumeAttachments(pages); err != nil || len(list) != 1 {
		t.Errorf("attachments: got %+v (%v), want 1", list, err)
	}
	if got, err := volumeattach.Get(ctx, nova, s.ID, vol.ID).Extract(); err != nil || got.Device != "/dev/vdb" {
		t.Errorf("get attachment: got %+v (%v)", got, err)
	}
	waitVolumeStatus(t, tc, vol.ID, "in-use")

	if err := volumeattach.Delete(ctx, nova, s.ID, vol.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	waitVolumeStatus(t, tc, vol.ID, "available")
	if devs := readDrive(t, tc, s.ID).MetaData.Devices; len(devs) != 0 {
		t.Errorf("meta_data.json devices after detach: got %+v, want none", devs)
	}
	_, err = volumeattach.Get(ctx, nova, s.ID, vol.ID).Extract()
	wantStatus(t, "get detached attachment", err, http.StatusNotFound)
	if guestPID(t, tc, s.ID) != pid || !alive(pid) {
		t.Error("hot-plug restarted the guest")
	}
}

// A disk's size is the guest's to see when it starts, as a VM sees its disks'; the
// hypervisor passes a folder volume's size in the guest's flags, so a reboot after an extend
// tells the guest the new size.
func TestRebootedGuestIsToldItsExtendedVolumeSize(t *testing.T) {
	tc := startNovaCloud(t)
	ctx := context.Background()
	nova := tc.compute("demo")
	s := bootServer(t, tc, nova, servers.CreateOpts{Name: "extended"})
	pid := guestPID(t, tc, s.ID)
	vol := createServerVolume(t, tc, "data")
	if _, err := volumeattach.Create(ctx, nova, s.ID, volumeattach.CreateOpts{VolumeID: vol.ID}).Extract(); err != nil {
		t.Fatal(err)
	}
	waitVolumeStatus(t, tc, vol.ID, "in-use")
	if err := volumes.ExtendSize(ctx, tc.blockStorage("demo"), vol.ID, volumes.ExtendSizeOpts{NewSize: 3}).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	if v := waitVolumeStatus(t, tc, vol.ID, "in-use"); v.Size != 3 {
		t.Fatalf("extended volume: got size %d, want 3", v.Size)
	}
	if err := servers.Reboot(ctx, nova, s.ID, servers.RebootOpts{Type: servers.SoftReboot}).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	waitServer(t, nova, s.ID, "ACTIVE")
	wantRestarted(t, tc, s.ID, pid)
	wantArgs(t, tc, s.ID, "--volume-size-gb "+vol.ID+"=3")
}

func TestServerCrashGoesShutoff(t *testing.T) {
	tc := startNovaCloud(t)
	ctx := context.Background()
	nova := tc.compute("demo")
	s := bootServer(t, tc, nova, servers.CreateOpts{Name: "crashy"})
	pid := guestPID(t, tc, s.ID)

	base := devcloud.AdminBaseURL(tc.identityURL())
	err := devcloud.CrashServer(ctx, tc.provider("demo"), base, s.ID)
	wantStatus(t, "crash as a member", err, http.StatusForbidden)
	if err := devcloud.CrashServer(ctx, tc.provider("admin"), base, s.ID); err != nil {
		t.Fatal(err)
	}
	off := waitServer(t, nova, s.ID, "SHUTOFF")
	if off.PowerState != servers.SHUTDOWN {
		t.Errorf("power state after crash: got %v, want SHUTDOWN", off.PowerState)
	}
	waitGone(t, pid)

	if err := servers.Start(ctx, nova, s.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	waitServer(t, nova, s.ID, "ACTIVE")
	wantRestarted(t, tc, s.ID, pid)
}

func TestServerGoesToErrorWhenGuestExitsAtBoot(t *testing.T) {
	tc := startNovaCloud(t)
	ctx := context.Background()
	nova := tc.compute("demo")
	s, err := servers.Create(ctx, nova, servers.CreateOpts{
		Name: "broken", FlavorRef: "ds1G", ImageRef: imageID(t, tc, "coffer-mysql-8.0"), UserData: []byte("fail-boot"),
	}, nil).Extract()
	if err != nil {
		t.Fatal(err)
	}
	got := waitServer(t, nova, s.ID, "ERROR")
	if got.Fault.Code != 500 || !strings.Contains(got.Fault.Message, "exited") || got.Fault.Created.IsZero() {
		t.Errorf("fault: got %+v, want code 500 about the exited process", got.Fault)
	}
	out, err := servers.ShowConsoleOutput(ctx, nova, s.ID, servers.ShowConsoleOutputOpts{}).Extract()
	if err != nil || !strings.Contains(out, "cannot boot") {
		t.Errorf("console of the failed boot: got %q (%v)", out, err)
	}
	if err := servers.Delete(ctx, nova, s.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	waitServer(t, nova, s.ID, "deleted")
}

func TestServerRunsAgainAfterRestart(t *testing.T) {
	tc := startNovaCloud(t)
	ctx := context.Background()
	nova := tc.compute("demo")
	s := bootServer(t, tc, nova, servers.CreateOpts{Name: "survivor"})
	stopped := bootServer(t, tc, nova, servers.CreateOpts{Name: "sleeper"})
	if err := servers.Stop(ctx, nova, stopped.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	waitServer(t, nova, stopped.ID, "SHUTOFF")
	pid := guestPID(t, tc, s.ID)
	sleeperPID := guestPID(t, tc, stopped.ID)

	tc.restart()
	waitGone(t, pid)
	deadline := time.Now().Add(20 * time.Second)
	for guestPID(t, tc, s.ID) == pid {
		if time.Now().After(deadline) {
			t.Fatal("the ACTIVE server did not boot again after the restart")
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitServer(t, nova, s.ID, "ACTIVE")
	wantRestarted(t, tc, s.ID, pid)
	if off := waitServer(t, nova, stopped.ID, "SHUTOFF"); off == nil || guestPID(t, tc, stopped.ID) != sleeperPID {
		t.Error("the SHUTOFF server booted after the restart")
	}

	pages, err := servers.List(nova, servers.ListOpts{}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	list, err := servers.ExtractServers(pages)
	if err != nil || len(list) != 2 {
		t.Fatalf("servers after restart: got %d (%v), want 2", len(list), err)
	}
	fpages, err := flavors.ListDetail(nova, nil).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fl, _ := flavors.ExtractFlavors(fpages); len(fl) != len(tc.cfg.Flavors) {
		t.Errorf("flavors after restart: got %d, want %d", len(fl), len(tc.cfg.Flavors))
	}
}

func TestServerListFiltersAndPages(t *testing.T) {
	tc := startNovaCloud(t)
	ctx := context.Background()
	nova := tc.compute("demo")
	nova.Microversion = "2.52"
	for _, name := range []string{"pg-1", "pg-2", "my-1"} {
		s, err := servers.Create(ctx, nova, servers.CreateOpts{
			Name: name, FlavorRef: "ds512M", ImageRef: imageID(t, tc, "coffer-postgresql-15"), Tags: []string{name[:2]},
			Networks: "auto",
		}, nil).Extract()
		if err != nil {
			t.Fatal(err)
		}
		waitServer(t, nova, s.ID, "ACTIVE")
	}
	names := func(opts servers.ListOpts) []string {
		t.Helper()
		pages, err := servers.List(nova, opts).AllPages(ctx)
		if err != nil {
			t.Fatal(err)
		}
		list, err := servers.ExtractServers(pages)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range list {
			out = append(out, s.Name)
		}
		slices.Sort(out)
		return out
	}
	for _, tt := range []struct {
		opts servers.ListOpts
		want []string
	}{
		{servers.ListOpts{}, []string{"my-1", "pg-1", "pg-2"}},
		{servers.ListOpts{Limit: 1}, []string{"my-1", "pg-1", "pg-2"}},
		{servers.ListOpts{Name: "^pg-"}, []string{"pg-1", "pg-2"}},
		{servers.ListOpts{Status: "SHUTOFF"}, nil},
		{servers.ListOpts{Tags: "my"}, []string{"my-1"}},
		{servers.ListOpts{TagsAny: "my,pg"}, []string{"my-1", "pg-1", "pg-2"}},
	} {
		if got := names(tt.opts); !slices.Equal(got, tt.want) {
			t.Errorf("list %+v: got %v, want %v", tt.opts, got, tt.want)
		}
	}
	if got := len(namesOf(t, tc.compute("alt_demo"), servers.ListOpts{})); got != 0 {
		t.Errorf("alt_demo lists %d servers of demo, want 0", got)
	}
	_, err := servers.List(tc.compute("alt_demo"), servers.ListOpts{AllTenants: true}).AllPages(ctx)
	wantStatus(t, "all_tenants as a member", err, http.StatusForbidden)
	if got := len(namesOf(t, tc.compute("admin"), servers.ListOpts{AllTenants: true})); got != 3 {
		t.Errorf("admin with all_tenants lists %d servers, want 3", got)
	}
}

func namesOf(t *testing.T, nova *gophercloud.ServiceClient, opts servers.ListOpts) []string {
	t.Helper()
	pages, err := servers.ListSimple(nova, opts).AllPages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	list, err := servers.ExtractServers(pages)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range list {
		out = append(out, s.Name)
	}
	return out
}

func TestServerRequestErrors(t *testing.T) {
	tc := startNovaCloud(t)
	ctx := context.Background()
	nova := tc.compute("demo")
	image := imageID(t, tc, "coffer-postgresql-15")
	for _, tt := range []struct {
		name string
		opts servers.CreateOpts
		want int
	}{
		{"unknown flavor", servers.CreateOpts{Name: "x", FlavorRef: "nope", ImageRef: image}, http.StatusBadRequest},
		{"unknown image", servers.CreateOpts{Name: "x", FlavorRef: "ds1G", ImageRef: "0b5c3d5e-0000-4000-8000-000000000000"}, http.StatusBadRequest},
		{"unknown network", servers.CreateOpts{Name: "x", FlavorRef: "ds1G", ImageRef: image, Networks: []servers.Network{{UUID: "0b5c3d5e-0000-4000-8000-000000000000"}}}, http.StatusBadRequest},
		{"unknown port", servers.CreateOpts{Name: "x", FlavorRef: "ds1G", ImageRef: image, Networks: []servers.Network{{Port: "0b5c3d5e-0000-4000-8000-000000000000"}}}, http.StatusBadRequest},
		{"unknown security group", servers.CreateOpts{Name: "x", FlavorRef: "ds1G", ImageRef: image, SecurityGroups: []string{"nope"}}, http.StatusBadRequest},
		{"unknown volume", servers.CreateOpts{Name: "x", FlavorRef: "ds1G", BlockDevice: []servers.BlockDevice{{SourceType: servers.SourceVolume, DestinationType: servers.DestinationVolume, UUID: "0b5c3d5e-0000-4000-8000-000000000000"}}}, http.StatusBadRequest},
		{"no image and no boot volume", servers.CreateOpts{Name: "x", FlavorRef: "ds1G"}, http.StatusBadRequest},
	} {
		_, err := servers.Create(ctx, nova, tt.opts, nil).Extract()
		wantStatus(t, tt.name, err, tt.want)
	}

	// gophercloud encodes user_data itself, so send a body with bad base64 directly.
	_, err := nova.Post(ctx, nova.ServiceURL("servers"), map[string]any{"server": map[string]any{
		"name": "x", "flavorRef": "ds1G", "imageRef": image, "user_data": "not base64!",
	}}, nil, nil)
	wantStatus(t, "bad base64 user_data", err, http.StatusBadRequest)

	_, err = servers.Get(ctx, nova, "0b5c3d5e-0000-4000-8000-000000000000").Extract()
	wantStatus(t, "get a missing server", err, http.StatusNotFound)

	s := bootServer(t, tc, nova, servers.CreateOpts{Name: "private"})
	alt := tc.compute("alt_demo")
	_, err = servers.Get(ctx, alt, s.ID).Extract()
	wantStatus(t, "get another project's server", err, http.StatusForbidden)
	err = servers.Delete(ctx, alt, s.ID).ExtractErr()
	wantStatus(t, "delete another project's server", err, http.StatusForbidden)
	if _, err := servers.Get(ctx, tc.compute("admin"), s.ID).Extract(); err != nil {
		t.Errorf("admin gets another project's server: %v", err)
	}

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, nova.ServiceURL("servers", s.ID), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("get without token: got HTTP %d, want 401", resp.StatusCode)
	}

	_, err = nova.Post(ctx, nova.ServiceURL("servers", s.ID, "action"), map[string]any{"os-frobnicate": nil}, nil, nil)
	wantStatus(t, "unknown action", err, http.StatusBadRequest)
}

func TestServerMetadataCanBeReadAndChanged(t *testing.T) {
	tc := startNovaCloud(t)
	ctx := context.Background()
	nova := tc.compute("demo")
	s := bootServer(t, tc, nova, servers.CreateOpts{Name: "meta", Metadata: map[string]string{"a": "1"}})

	if _, err := servers.UpdateMetadata(ctx, nova, s.ID, servers.MetadataOpts{"b": "2"}).Extract(); err != nil {
		t.Fatal(err)
	}
	if _, err := servers.CreateMetadatum(ctx, nova, s.ID, servers.MetadatumOpts{"c": "3"}).Extract(); err != nil {
		t.Fatal(err)
	}
	if err := servers.DeleteMetadatum(ctx, nova, s.ID, "a").ExtractErr(); err != nil {
		t.Fatal(err)
	}
	got, err := servers.Metadata(ctx, nova, s.ID).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["b"] != "2" || got["c"] != "3" {
		t.Errorf("metadata: got %v, want b=2 c=3", got)
	}
	view, err := servers.Get(ctx, nova, s.ID).Extract()
	if err != nil || view.Metadata["c"] != "3" {
		t.Errorf("metadata in the server view: got %v (%v)", view.Metadata, err)
	}
	_, err = servers.Metadatum(ctx, nova, s.ID, "a").Extract()
	wantStatus(t, "get a deleted metadata key", err, http.StatusNotFound)
}

// remarshalJSON converts gophercloud's loosely typed maps into typed values.
func remarshalJSON(in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

func TestInjectedFaultMatchesTheServerActionByItsKey(t *testing.T) {
	tc := startNovaCloud(t)
	ctx := context.Background()
	nova := tc.compute("demo")
	s := bootServer(t, tc, nova, servers.CreateOpts{Name: "faulty"})
	base := devcloud.AdminBaseURL(tc.identityURL())
	if _, err := devcloud.InjectFault(ctx, tc.provider("admin"), base, devcloud.Fault{
		Service: "compute", Operation: "server.action.reboot", Status: http.StatusServiceUnavailable, Count: 1,
	}); err != nil {
		t.Fatal(err)
	}

	err := servers.Stop(ctx, nova, s.ID).ExtractErr()
	if err != nil {
		t.Fatalf("os-stop under a reboot fault: %v", err)
	}
	waitServer(t, nova, s.ID, "SHUTOFF")
	err = servers.Reboot(ctx, nova, s.ID, servers.RebootOpts{Type: servers.HardReboot}).ExtractErr()
	wantStatus(t, "reboot under its fault", err, http.StatusServiceUnavailable)
	if err := servers.Reboot(ctx, nova, s.ID, servers.RebootOpts{Type: servers.HardReboot}).ExtractErr(); err != nil {
		t.Fatalf("reboot once the fault is used up: %v", err)
	}
	waitServer(t, nova, s.ID, "ACTIVE")
}
