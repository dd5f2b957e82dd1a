package devcloud

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// kvmProbeTimeout is how long the probe VM gets to go through its firmware with KVM: a KVM
// vCPU that works gets there in well under a second; one that hangs never does, and one that
// gets there slowly hangs later in the guest's kernel.
const kvmProbeTimeout = 3 * time.Second

// kvmProbes is how many probes in a row must get through: on a machine whose vCPUs hang now
// and then, one may get through by luck.
const kvmProbes = 3

// qemuDefaultBinary is the qemu program when the configuration names none.
const qemuDefaultBinary = "qemu-system-x86_64"

// qemu makes each server a qemu VM, as Nova's libvirt driver does with a real one: booted
// from its image (a qcow2 overlay on the file the configuration names for it), with a
// config-2 ISO9660 drive, each attached volume a virtio disk whose serial is the volume ID,
// its serial port written to the console log, user-mode networking with the server's fixed
// IP on the host forwarded to the guest's engine ports, and a QMP socket through which the
// hypervisor powers it down and grows its disks. The hypervisor runs the qemu process as it
// runs any server's process (process group, console log, stop and crash).
//
// Under user-mode networking the guest reaches the host's loopback at 10.0.2.2: what it is
// told to dial (Temporal, Swift) must name that address, which is the control plane's
// configuration (the guest's Temporal address), not the hypervisor's.
type qemu struct {
	c   *Cloud
	cfg QemuConfig

	accelOnce sync.Once
	accel     string // "kvm" or "tcg", decided once
}

func newQemu(c *Cloud) *qemu { return &qemu{c: c, cfg: c.cfg.Hypervisor.Qemu} }

func (q *qemu) binary() string {
	if q.cfg.Binary != "" {
		return q.cfg.Binary
	}
	return qemuDefaultBinary
}

// qemuVM is everything a VM's command line says.
type qemuVM struct {
	Accel        string // kvm or tcg
	RAMMB, CPUs  int
	RootDisk     string // qcow2
	ConfigDrive  string // ISO9660, label config-2
	Console      string // the serial port's log, appended to
	QMP          string // abstract unix socket name
	MAC          string // the port's MAC address; empty lets qemu pick one
	FixedIP      string // the port's fixed IP, where the host forwards the guest's ports
	ForwardPorts []int
	Volumes      []qemuVolume
}

// qemuVolume is an attached volume: a raw file that the guest sees as a virtio disk.
type qemuVolume struct {
	ID   string
	Path string
}

// virtioSerialMax is how much of a disk's serial a virtio-blk device keeps (and udev puts in
// /dev/disk/by-id/virtio-<serial>).
const virtioSerialMax = 20

// driveID is the qemu drive name of a volume, which QMP's block_resize names.
func driveID(volumeID string) string { return "volume-" + volumeID }

// args is the qemu command line of the VM.
func (vm qemuVM) args() []string {
	a := []string{
		"-name", "guest=" + filepath.Base(filepath.Dir(vm.RootDisk)),
		"-accel", vm.Accel,
		"-machine", "pc",
		"-m", strconv.Itoa(vm.RAMMB),
		"-smp", strconv.Itoa(vm.CPUs),
		"-nodefaults", "-display", "none", "-vga", "none",
		"-chardev", "file,id=console,path=" + vm.Console + ",append=on",
		"-device", "isa-serial,chardev=console",
		"-chardev", "socket,id=qmp,path=" + vm.QMP + ",abstract=on,server=on,wait=off",
		"-mon", "chardev=qmp,mode=control",
		"-drive", "file=" + vm.RootDisk + ",if=none,id=root,format=qcow2,discard=unmap",
		"-device", "virtio-blk-pci,drive=root,bootindex=0",
		"-drive", "file=" + vm.ConfigDrive + ",if=none,id=config-drive,media=cdrom,readonly=on,format=raw",
		"-device", "ide-cd,drive=config-drive",
	}
	for _, v := range vm.Volumes {
		serial := v.ID
		if len(serial) > virtioSerialMax {
			serial = serial[:virtioSerialMax]
		}
		a = append(a,
			"-drive", "file="+v.Path+",if=none,id="+driveID(v.ID)+",format=raw,cache=none,aio=threads",
			"-device", "virtio-blk-pci,drive="+driveID(v.ID)+",serial="+serial)
	}
	netdev := "user,id=net0"
	if vm.FixedIP != "" {
		for _, p := range vm.ForwardPorts {
			netdev += fmt.Sprintf(",hostfwd=tcp:%s:%d-:%d", vm.FixedIP, p, p)
		}
	}
	nic := "virtio-net-pci,netdev=net0"
	if vm.MAC != "" {
		nic += ",mac=" + vm.MAC
	}
	return append(a, "-netdev", netdev, "-device", nic)
}

func (c *Cloud) rootDiskPath(id string) string {
	return filepath.Join(c.serverDir(id), "disk.qcow2")
}

func (c *Cloud) configDriveISO(id string) string {
	return filepath.Join(c.serverDir(id), "config-drive.iso")
}

// volumeDisk is the raw file that backs a volume under the qemu hypervisor, inside the
// volume's folder, so that deleting the volume deletes it.
func (c *Cloud) volumeDisk(id string) string { return filepath.Join(c.volumeDir(id), "disk.raw") }

// qmpName is the abstract unix socket of a server's QMP monitor: abstract, so that no path
// length limit applies and nothing is left on disk; server IDs are UUIDs.
func qmpName(serverID string) string { return "coffer-devcloud-qmp-" + serverID }

const gib = int64(1) << 30

// prepare makes what a server's VM boots from (its root disk the first time, its volumes'
// disks, a fresh config-2 ISO from the config drive Nova just wrote) and returns qemu's
// arguments.
func (q *qemu) prepare(id string) ([]string, error) {
	c := q.c
	c.mu.Lock()
	s := c.st.Servers[id]
	if s == nil {
		c.mu.Unlock()
		return nil, fmt.Errorf("server %s is gone", id)
	}
	vm := qemuVM{
		RAMMB: s.Flavor.RAM, CPUs: s.Flavor.VCPUs,
		RootDisk: c.rootDiskPath(id), ConfigDrive: c.configDriveISO(id),
		Console: c.consolePath(id), QMP: qmpName(id), ForwardPorts: q.cfg.ForwardPorts,
	}
	if len(s.Ports) > 0 {
		if p := c.st.Ports[s.Ports[0]]; p != nil {
			vm.MAC, vm.FixedIP = p.MACAddress, p.IPAddress
		}
	}
	sizes := map[string]int{}
	for _, sv := range s.Volumes {
		if v := c.st.Volumes[sv.VolumeID]; v != nil {
			vm.Volumes = append(vm.Volumes, qemuVolume{ID: sv.VolumeID, Path: c.volumeDisk(sv.VolumeID)})
			sizes[sv.VolumeID] = v.Size
		}
	}
	img, _ := c.imageByID(s.ImageID)
	c.mu.Unlock()

	if _, err := os.Stat(vm.RootDisk); errors.Is(err, os.ErrNotExist) {
		base := q.cfg.Images[img.Name]
		if base == "" {
			return nil, fmt.Errorf("image %q has no file: set hypervisor.qemu.images.%s to the qcow2 `go tool task image` builds", img.Name, img.Name)
		}
		if base, err = filepath.Abs(base); err != nil {
			return nil, err
		}
		if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base, vm.RootDisk).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("create root disk on %s: %w: %s", base, err, bytes.TrimSpace(out))
		}
	}
	for _, v := range vm.Volumes {
		if err := growFile(v.Path, int64(sizes[v.ID])*gib); err != nil {
			return nil, fmt.Errorf("volume %s disk: %w", v.ID, err)
		}
	}
	if err := makeConfigDriveISO(c.configDriveDir(id), vm.ConfigDrive); err != nil {
		return nil, err
	}
	vm.Accel = q.accelerator()
	return vm.args(), nil
}

// growFile makes path a sparse file of at least size bytes; it never shrinks one.
func growFile(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() >= size {
		return nil
	}
	return f.Truncate(size)
}

// makeConfigDriveISO writes the config drive's folder as an ISO9660 image labelled
// config-2, with the options Nova gives genisoimage (Rock Ridge and Joliet, so that the
// guest sees the names as written).
func makeConfigDriveISO(dir, iso string) error {
	tool, args, err := isoTool()
	if err != nil {
		return err
	}
	tmp := iso + ".tmp"
	args = append(args, "-o", tmp, "-ldots", "-allow-lowercase", "-allow-multidot", "-l",
		"-publisher", "Coffer devcloud", "-quiet", "-J", "-r", "-V", "config-2", dir)
	if out, err := exec.Command(tool, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("make config drive ISO with %s: %w: %s", tool, err, bytes.TrimSpace(out))
	}
	return os.Rename(tmp, iso)
}

// isoTool finds a program that writes ISO9660 images: genisoimage or mkisofs as Nova runs
// them, or xorriso in their manner.
func isoTool() (string, []string, error) {
	for _, name := range []string{"genisoimage", "mkisofs"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil, nil
		}
	}
	if p, err := exec.LookPath("xorriso"); err == nil {
		return p, []string{"-as", "mkisofs"}, nil
	}
	return "", nil, errors.New("no genisoimage, mkisofs or xorriso to write the config drive: apt-get install xorriso")
}

// accelerator is the configured accelerator, or for "auto" KVM when the probe gets through,
// decided once per cloud.
func (q *qemu) accelerator() string {
	switch q.cfg.Accel {
	case "kvm", "tcg":
		return q.cfg.Accel
	}
	q.accelOnce.Do(func() {
		q.accel = "kvm"
		for range kvmProbes {
			if !probeKVM(q.binary(), kvmProbeTimeout) {
				q.accel = "tcg"
				break
			}
		}
		q.c.log.Info("devcloud qemu accelerator chosen", "accel", q.accel)
	})
	return q.accel
}

// probeKVM starts a diskless VM with KVM and watches SeaBIOS's debug port: a vCPU that
// really runs gets to "No bootable device" within a second; on machines where /dev/kvm
// opens but the vCPU hangs (nested virtualization without the features), it never does.
func probeKVM(binary string, timeout time.Duration) bool {
	if _, err := os.Stat("/dev/kvm"); err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "-accel", "kvm", "-machine", "pc", "-m", "64",
		"-nodefaults", "-display", "none", "-no-reboot",
		"-debugcon", "stdio", "-global", "isa-debugcon.iobase=0x402")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return false
	}
	if err := cmd.Start(); err != nil {
		return false
	}
	defer func() {
		cancel()
		_ = cmd.Wait()
	}()
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "No bootable device") {
			return true
		}
	}
	return false
}

// qmp runs one QMP command on a server's monitor and returns its "return" value.
func qmp(ctx context.Context, serverID, command string, arguments any) (json.RawMessage, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", "@"+qmpName(serverID))
	if err != nil {
		return nil, fmt.Errorf("qmp %s: %w", command, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	dec := json.NewDecoder(conn)
	enc := json.NewEncoder(conn)
	var greeting map[string]json.RawMessage
	if err := dec.Decode(&greeting); err != nil {
		return nil, fmt.Errorf("qmp greeting: %w", err)
	}
	call := func(cmd string, args any) (json.RawMessage, error) {
		req := map[string]any{"execute": cmd}
		if args != nil {
			req["arguments"] = args
		}
		if err := enc.Encode(req); err != nil {
			return nil, fmt.Errorf("qmp %s: %w", cmd, err)
		}
		for {
			var resp struct {
				Return json.RawMessage `json:"return"`
				Error  *struct {
					Class string `json:"class"`
					Desc  string `json:"desc"`
				} `json:"error"`
				Event string `json:"event"`
			}
			if err := dec.Decode(&resp); err != nil {
				return nil, fmt.Errorf("qmp %s: %w", cmd, err)
			}
			switch {
			case resp.Event != "":
				continue
			case resp.Error != nil:
				return nil, fmt.Errorf("qmp %s: %s: %s", cmd, resp.Error.Class, resp.Error.Desc)
			default:
				return resp.Return, nil
			}
		}
	}
	if _, err := call("qmp_capabilities", nil); err != nil {
		return nil, err
	}
	return call(command, arguments)
}

// extendVolume grows an extended volume's disk file and, in every running VM it is attached
// to, the disk itself (QMP block_resize), as Cinder and Nova do for an in-use volume.
func (q *qemu) extendVolume(ctx context.Context, volumeID string, sizeGiB int) error {
	c := q.c
	if err := growFile(c.volumeDisk(volumeID), int64(sizeGiB)*gib); err != nil {
		return fmt.Errorf("grow volume %s disk: %w", volumeID, err)
	}
	c.mu.Lock()
	var servers []string
	for id, s := range c.st.Servers {
		for _, sv := range s.Volumes {
			if sv.VolumeID == volumeID {
				servers = append(servers, id)
			}
		}
	}
	c.mu.Unlock()
	var errs []error
	for _, id := range servers {
		if _, running := c.hv.pid(id); !running {
			continue // its next boot opens the grown file
		}
		args := map[string]any{"device": driveID(volumeID), "size": int64(sizeGiB) * gib}
		if _, err := qmp(ctx, id, "block_resize", args); err != nil {
			errs = append(errs, fmt.Errorf("server %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// powerDown asks a server's VM to shut down (the ACPI power button, as Nova's stop does);
// the hypervisor kills it when it has not within the stop timeout.
func (q *qemu) powerDown(serverID string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := qmp(ctx, serverID, "system_powerdown", nil)
	return err
}
