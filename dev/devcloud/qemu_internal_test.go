package devcloud

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestQemuVMArgsPresentTheServerAsNovaDoes(t *testing.T) {
	vm := qemuVM{
		Accel: "tcg", RAMMB: 1024, CPUs: 2,
		RootDisk: "/d/servers/s1/disk.qcow2", ConfigDrive: "/d/servers/s1/config-drive.iso",
		Console: "/d/servers/s1/console.log", QMP: "coffer-devcloud-qmp-s1",
		MAC: "fa:16:3e:00:00:01", FixedIP: "127.10.0.5", ForwardPorts: []int{5432, 3306},
		Volumes: []qemuVolume{{ID: "0b5c3d5e-1111-4000-8000-000000000000", Path: "/d/volumes/v/disk.raw"}},
	}
	args := strings.Join(vm.args(), " ")
	for _, want := range []string{
		"-accel tcg", "-m 1024", "-smp 2",
		"-chardev file,id=console,path=/d/servers/s1/console.log,append=on",
		"path=coffer-devcloud-qmp-s1,abstract=on,server=on,wait=off",
		"file=/d/servers/s1/disk.qcow2,if=none,id=root,format=qcow2",
		"file=/d/servers/s1/config-drive.iso,if=none,id=config-drive,media=cdrom",
		// udev names the disk /dev/disk/by-id/virtio-<the ID's first 20 characters>
		"virtio-blk-pci,drive=volume-0b5c3d5e-1111-4000-8000-000000000000,serial=0b5c3d5e-1111-4000-8",
		"hostfwd=tcp:127.10.0.5:5432-:5432,hostfwd=tcp:127.10.0.5:3306-:3306",
		"virtio-net-pci,netdev=net0,mac=fa:16:3e:00:00:01",
	} {
		if !strings.Contains(args, want) {
			t.Errorf("qemu args: got %q, want them to hold %q", args, want)
		}
	}
}

func TestGrowFileGrowsSparseAndNeverShrinks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "disk.raw")
	for _, step := range []struct{ size, want int64 }{{gib, gib}, {2 * gib, 2 * gib}, {gib, 2 * gib}} {
		if err := growFile(path, step.size); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() != step.want {
			t.Errorf("after growFile(%d): got size %d, want %d", step.size, st.Size(), step.want)
		}
	}
}

func TestConfigDriveISOIsLabelledConfig2(t *testing.T) {
	if _, _, err := isoTool(); err != nil {
		t.Skip(err) // the qemu hypervisor needs one; the process hypervisor does not
	}
	dir := t.TempDir()
	latest := filepath.Join(dir, "drive", "openstack", "latest")
	if err := os.MkdirAll(latest, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(latest, "meta_data.json"), []byte(`{"uuid":"s1"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	iso := filepath.Join(dir, "config-drive.iso")
	if err := makeConfigDriveISO(filepath.Join(dir, "drive"), iso); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(iso)
	if err != nil {
		t.Fatal(err)
	}
	// The primary volume descriptor is at sector 16: type 1, "CD001", then the volume ID at
	// offset 40.
	pvd := b[16*2048:]
	if string(pvd[1:6]) != "CD001" || strings.TrimSpace(string(pvd[40:72])) != "config-2" {
		t.Errorf("volume descriptor: got %q, want CD001 and label config-2", pvd[:72])
	}
	if !strings.Contains(string(b), `{"uuid":"s1"}`) {
		t.Errorf("the ISO does not hold meta_data.json")
	}
}

// fakeQMP serves QMP on an abstract socket as qemu does: a greeting, an event between
// commands, and the answers it is given by command name.
func fakeQMP(t *testing.T, serverID string, answers map[string]string) <-chan map[string]any {
	t.Helper()
	ln, err := net.Listen("unix", "@"+qmpName(serverID))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan map[string]any, 10)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_, _ = conn.Write([]byte(`{"QMP": {"version": {}, "capabilities": []}}` + "\n"))
				sc := bufio.NewScanner(conn)
				for sc.Scan() {
					var req map[string]any
					if json.Unmarshal(sc.Bytes(), &req) != nil {
						return
					}
					got <- req
					answer, ok := answers[req["execute"].(string)]
					if !ok {
						answer = `{"return": {}}`
					}
					_, _ = conn.Write([]byte(`{"event": "RESUME", "timestamp": {}}` + "\n" + answer + "\n"))
				}
			}()
		}
	}()
	return got
}

func TestQMPNegotiatesThenRunsTheCommand(t *testing.T) {
	id := "qmp-test-" + strings.ReplaceAll(t.Name(), "/", "-") + time.Now().Format("150405.000000")
	got := fakeQMP(t, id, map[string]string{"block_resize": `{"return": {}}`})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := qmp(ctx, id, "block_resize", map[string]any{"device": driveID("v1"), "size": 2 * gib}); err != nil {
		t.Fatal(err)
	}
	first, second := <-got, <-got
	if first["execute"] != "qmp_capabilities" || second["execute"] != "block_resize" {
		t.Errorf("commands: got %v then %v, want qmp_capabilities then block_resize", first, second)
	}
	args, _ := second["arguments"].(map[string]any)
	if args["device"] != "volume-v1" || args["size"] != float64(2*gib) {
		t.Errorf("block_resize arguments: got %v, want device volume-v1 and size %d", args, 2*gib)
	}
}

func TestQMPReportsTheMonitorsError(t *testing.T) {
	id := "qmp-test-error-" + time.Now().Format("150405.000000")
	fakeQMP(t, id, map[string]string{"block_resize": `{"error": {"class": "GenericError", "desc": "Cannot find device"}}`})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := qmp(ctx, id, "block_resize", map[string]any{"device": "x", "size": 1})
	if err == nil || !strings.Contains(err.Error(), "Cannot find device") {
		t.Errorf("error: got %v, want the monitor's GenericError", err)
	}
}

func TestProbeKVMIsFalseWithoutAWorkingQemu(t *testing.T) {
	// A "qemu" that exits at once never reaches the firmware's last words.
	if probeKVM("/bin/true", 2*time.Second) {
		t.Error("probeKVM(/bin/true): got true, want false")
	}
	if _, err := exec.LookPath(qemuDefaultBinary); err != nil {
		return
	}
	// Whatever the machine's KVM does, the probe answers within its timeout.
	start := time.Now()
	probeKVM(qemuDefaultBinary, 3*time.Second)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("probeKVM took %s, want at most its timeout", d)
	}
}
