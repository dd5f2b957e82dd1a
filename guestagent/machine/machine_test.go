package machine

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coffer-dbaas/coffer/configdrive"
)

func TestMemTotalMB(t *testing.T) {
	for _, tc := range []struct {
		meminfo string
		want    int
		wantErr bool
	}{
		{"MemTotal:        2030592 kB\nMemFree:          120000 kB\n", 1983, false},
		{"MemFree:          120000 kB\nMemTotal:       16384000 kB\n", 16000, false},
		{"MemFree:          120000 kB\n", 0, true},
		{"MemTotal: lots kB\n", 0, true},
	} {
		got, err := memTotalMB(tc.meminfo)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("memTotalMB(%q): got %d, %v; want %d (error: %v)", tc.meminfo, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestCgroupLimits(t *testing.T) {
	for _, tc := range []struct {
		in   string
		mem  int
		cpus int
		ok   bool
	}{
		{"max", 0, 0, false},
		{"536870912", 512, 0, true},
		{"max 100000", 0, 0, false},
		{"200000 100000", 0, 2, true},
		{"150000 100000", 0, 2, true}, // 1.5 CPUs round up
		{"50000 100000", 0, 1, true},
	} {
		if tc.mem > 0 || tc.in == "max" {
			if got, ok := parseMemoryMax(tc.in); got != tc.mem || ok != tc.ok {
				t.Errorf("parseMemoryMax(%q): got %d, %v; want %d, %v", tc.in, got, ok, tc.mem, tc.ok)
			}
		} else {
			if got, ok := parseCPUMax(tc.in); got != tc.cpus || ok != tc.ok {
				t.Errorf("parseCPUMax(%q): got %d, %v; want %d, %v", tc.in, got, ok, tc.cpus, tc.ok)
			}
		}
	}
}

// fakeRoot lays out files (path: content) under a temp folder that stands for "/".
func fakeRoot(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestSizeFromTheMachineAndItsCgroup(t *testing.T) {
	const meminfo = "MemTotal:        8388608 kB\n" // 8 GiB
	four := func() int { return 4 }
	for _, tc := range []struct {
		name      string
		files     map[string]string
		m         Machine
		ram, cpus int
	}{
		{"no cgroup v2", map[string]string{"proc/meminfo": meminfo}, Machine{}, 8192, 4},
		{"cgroup without limits", map[string]string{"proc/meminfo": meminfo, "proc/self/cgroup": "0::/system.slice/coffer.service\n",
			"sys/fs/cgroup/system.slice/coffer.service/memory.max": "max\n", "sys/fs/cgroup/system.slice/coffer.service/cpu.max": "max 100000\n"},
			Machine{}, 8192, 4},
		{"limits on the cgroup", map[string]string{"proc/meminfo": meminfo, "proc/self/cgroup": "0::/server\n",
			"sys/fs/cgroup/server/memory.max": "1073741824\n", "sys/fs/cgroup/server/cpu.max": "200000 100000\n"},
			Machine{}, 1024, 2},
		{"a parent's limit is lower", map[string]string{"proc/meminfo": meminfo, "proc/self/cgroup": "0::/a/b\n",
			"sys/fs/cgroup/a/b/memory.max": "1073741824\n", "sys/fs/cgroup/a/memory.max": "536870912\n"},
			Machine{}, 512, 4},
		{"a limit above the machine", map[string]string{"proc/meminfo": meminfo, "proc/self/cgroup": "0::/big\n",
			"sys/fs/cgroup/big/memory.max": "17179869184\n", "sys/fs/cgroup/big/cpu.max": "800000 100000\n"},
			Machine{}, 8192, 4},
		{"configured in place of the machine", map[string]string{"proc/meminfo": meminfo},
			Machine{RAMMB: 2048, CPUs: 2}, 2048, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.m
			m.Root, m.numCPU = fakeRoot(t, tc.files), four
			ram, cpus, err := m.Size()
			if err != nil || ram != tc.ram || cpus != tc.cpus {
				t.Errorf("Size: got %d MiB, %d CPUs, %v; want %d MiB, %d CPUs", ram, cpus, err, tc.ram, tc.cpus)
			}
		})
	}
}

func TestFindDiskBySerial(t *testing.T) {
	const volumeID = "4f6b2a8e-1c3d-4e5f-9a7b-0c1d2e3f4a5b"
	root := t.TempDir()
	byID := filepath.Join(root, "dev/disk/by-id")
	if err := os.MkdirAll(byID, 0o755); err != nil {
		t.Fatal(err)
	}
	device := filepath.Join(root, "dev/vdb")
	if err := os.WriteFile(device, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// udev names a virtio disk by the serial Nova gave it: the volume ID's first 20 characters.
	if err := os.Symlink("../../vdb", filepath.Join(byID, "virtio-4f6b2a8e-1c3d-4e5f-9")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../vdc", filepath.Join(byID, "virtio-0000aaaa-1c3d-4e5f-9")); err != nil {
		t.Fatal(err)
	}
	got, err := findDisk(context.Background(), byID, volumeID)
	if err != nil || got != device {
		t.Errorf("findDisk(%s): got %q, %v; want %s", volumeID, got, err, device)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if got, err := findDisk(ctx, byID, "99999999-1c3d-4e5f-9a7b-0c1d2e3f4a5b"); err == nil {
		t.Errorf("findDisk of a volume not attached: got %q, want an error once ctx ends", got)
	}
}

func TestDataVolumeInAFolder(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "vol-1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "vol-1", "data"), make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	m := &Machine{VolumesDir: dir, VolumeSizesGB: map[string]int{"vol-1": 2}}
	ctx := context.Background()
	v, err := m.DataVolume(ctx, "vol-1")
	if err != nil {
		t.Fatal(err)
	}
	if v.Path() != filepath.Join(dir, "vol-1") {
		t.Errorf("Path: got %s, want %s", v.Path(), filepath.Join(dir, "vol-1"))
	}
	u, err := v.Usage(ctx)
	if err != nil || u.SizeGB != 2 || u.UsedGB < 1.0/1024 {
		t.Errorf("Usage: got %+v, %v; want 2 GiB with 1 MiB used", u, err)
	}
	// An extend: the folder takes the new size; a smaller one (a retry's) changes nothing.
	for _, size := range []int{5, 3} {
		if err := v.Grow(ctx, size); err != nil {
			t.Fatal(err)
		}
	}
	if u, _ := v.Usage(ctx); u.SizeGB != 5 {
		t.Errorf("Usage after Grow(5), Grow(3): got %d GiB, want 5", u.SizeGB)
	}
	if _, err := m.DataVolume(ctx, "vol-2"); err == nil {
		t.Error("DataVolume of a volume with no folder: got no error")
	}
	// A detached volume's folder stays in the cloud; the server must not find it.
	if err := os.Mkdir(filepath.Join(dir, "vol-3"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := m.DataVolume(ctx, "vol-3"); err == nil || !strings.Contains(err.Error(), "not attached") {
		t.Errorf("DataVolume of a volume not given to the server: got %v, want not attached", err)
	}
	if _, err := m.DataVolume(ctx, ""); err == nil {
		t.Error("DataVolume with no volume ID: got no error")
	}
}

func TestAddressFromNetworkData(t *testing.T) {
	m := &Machine{interfaces: func() ([]net.Interface, error) { return nil, nil }}
	static := configdrive.Drive{NetworkData: configdrive.NetworkData{Networks: []configdrive.Network{
		{ID: "network0", Type: "ipv6", Link: "tap0", IPAddress: "fd00::5"},
		{ID: "network1", Type: "ipv4", Link: "tap0", IPAddress: "10.0.0.5", Netmask: "255.255.255.0"},
	}}}
	if got, err := m.Address(static); err != nil || got != "10.0.0.5" {
		t.Errorf("Address with a static IPv4 network: got %q, %v; want 10.0.0.5", got, err)
	}
	dhcp := configdrive.Drive{NetworkData: configdrive.NetworkData{Networks: []configdrive.Network{
		{ID: "network0", Type: "ipv4_dhcp", Link: "tap0"},
	}}}
	if got, err := m.Address(dhcp); err == nil {
		t.Errorf("Address with DHCP and no interface: got %q, want an error", got)
	}
}

func TestAddressFromTheInterfaceWhenNetworkDataHasNone(t *testing.T) {
	m := &Machine{}
	ifaces, _ := net.Interfaces()
	var want string
	for _, i := range ifaces {
		if i.Flags&net.FlagUp != 0 && i.Flags&net.FlagLoopback == 0 {
			if want = ipv4Of(i); want != "" {
				break
			}
		}
	}
	if want == "" {
		t.Skip("this machine has no interface with a global IPv4 address")
	}
	dhcp := configdrive.Drive{NetworkData: configdrive.NetworkData{Networks: []configdrive.Network{{ID: "network0", Type: "ipv4_dhcp"}}}}
	if got, err := m.Address(dhcp); err != nil || got != want {
		t.Errorf("Address with DHCP: got %q, %v; want the interface's %s", got, err, want)
	}
}

func TestMetadataFromTheServiceWhenTheDriveCannotBeMounted(t *testing.T) {
	byLabel := t.TempDir()
	// A "drive" that no filesystem driver mounts.
	if err := os.WriteFile(filepath.Join(byLabel, "config-2"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/openstack/latest/meta_data.json":
			w.Write([]byte(`{"uuid": "server-1", "devices": [{"type": "disk", "bus": "virtio", "serial": "vol-1"}]}`))
		case "/openstack/latest/network_data.json":
			w.Write([]byte(`{"links": [], "networks": [{"id": "network0", "type": "ipv4", "ip_address": "10.0.0.7"}]}`))
		default:
			http.NotFound(w, r) // no user_data
		}
	}))
	t.Cleanup(srv.Close)
	m := &Machine{DisksByLabel: byLabel, MetadataURL: srv.URL}
	d, err := m.Metadata(context.Background())
	if err != nil {
		t.Fatalf("Metadata: %v", err)
	}
	if d.MetaData.UUID != "server-1" || len(d.MetaData.Devices) != 1 || d.MetaData.Devices[0].Serial != "vol-1" ||
		len(d.NetworkData.Networks) != 1 || d.NetworkData.Networks[0].IPAddress != "10.0.0.7" || d.UserData != nil {
		t.Errorf("Metadata: got %+v, want the service's, with no user_data", d)
	}
}
