package machine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestagent"
)

// virtioSerialLen is how much of a volume ID Nova gives a virtio disk as its serial.
const virtioSerialLen = 20

// diskWait bounds how long DataVolume waits for the disk to show up (udev names it after the
// hot-plug, a moment after boot).
const diskWait = time.Minute

const gib = 1 << 30

// DataVolume finds the volume: its folder under VolumesDir, or the disk whose virtio serial
// is the ID's first 20 characters under DisksByID, which it formats (ext4) when it has no
// filesystem yet and mounts at MountDir/<id>.
func (m *Machine) DataVolume(ctx context.Context, volumeID string) (guestagent.Volume, error) {
	if volumeID == "" {
		return nil, errors.New("data volume: no volume ID (user_data's volume_id, or a disk in meta_data.json's devices)")
	}
	if m.VolumesDir != "" {
		// The folder outlives a detach: only a volume given a size is attached, as only an
		// attached volume is a disk on a VM.
		size, attached := m.VolumeSizesGB[volumeID]
		if !attached {
			return nil, fmt.Errorf("data volume %s: not attached to this server", volumeID)
		}
		dir := filepath.Join(m.VolumesDir, volumeID)
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("data volume %s: no folder %s", volumeID, dir)
		}
		return Folder(dir, size), nil
	}
	waitCtx, cancel := context.WithTimeout(ctx, diskWait)
	defer cancel()
	device, err := findDisk(waitCtx, or(m.DisksByID, DefaultDisksByID), volumeID)
	if err != nil {
		return nil, err
	}
	mountpoint := filepath.Join(or(m.MountDir, DefaultMountDir), volumeID)
	if err := mount(ctx, device, mountpoint); err != nil {
		return nil, fmt.Errorf("data volume %s: %w", volumeID, err)
	}
	return &diskVolume{path: mountpoint, device: device}, nil
}

// findDisk waits until byID lists the volume's disk (virtio-<serial>) and returns its device.
func findDisk(ctx context.Context, byID, volumeID string) (string, error) {
	serial := volumeID[:min(len(volumeID), virtioSerialLen)]
	link := filepath.Join(byID, "virtio-"+serial)
	for {
		device, err := filepath.EvalSymlinks(link)
		if err == nil {
			return device, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("data volume %s: no disk %s: %w", volumeID, link, err)
		case <-time.After(time.Second):
		}
	}
}

// mount mounts device at mountpoint, making an ext4 filesystem on it first if it has none.
// A device mounted there already is left as it is.
func mount(ctx context.Context, device, mountpoint string) error {
	if mounted, ok := mountedDevice(mountpoint); ok {
		if mounted != device {
			return fmt.Errorf("%s is mounted at %s, not %s", mounted, mountpoint, device)
		}
		return nil
	}
	// blkid exits 2 when it finds no filesystem: a new volume.
	out, err := exec.CommandContext(ctx, "blkid", "-p", "-o", "value", "-s", "TYPE", device).Output()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() == 2:
		if out, err := exec.CommandContext(ctx, "mkfs.ext4", "-q", "-F", device).CombinedOutput(); err != nil {
			return fmt.Errorf("format %s: %w: %s", device, err, strings.TrimSpace(string(out)))
		}
	case err != nil:
		return fmt.Errorf("probe %s: %w", device, err)
	case strings.TrimSpace(string(out)) != "ext4":
		return fmt.Errorf("%s holds a %q filesystem, not ext4", device, strings.TrimSpace(string(out)))
	}
	if err := os.MkdirAll(mountpoint, 0o755); err != nil {
		return fmt.Errorf("mount %s: %w", device, err)
	}
	if out, err := exec.CommandContext(ctx, "mount", "-t", "ext4", device, mountpoint).CombinedOutput(); err != nil {
		return fmt.Errorf("mount %s at %s: %w: %s", device, mountpoint, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// diskVolume is a block device's ext4 filesystem, mounted.
type diskVolume struct {
	path, device string
}

func (v *diskVolume) Path() string { return v.path }

// Usage is statfs of the mounted filesystem.
func (v *diskVolume) Usage(context.Context) (guest.VolumeUsage, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(v.path, &st); err != nil {
		return guest.VolumeUsage{}, fmt.Errorf("volume usage: %w", err)
	}
	size := float64(st.Blocks) * float64(st.Bsize)
	used := float64(st.Blocks-st.Bfree) * float64(st.Bsize)
	return guest.VolumeUsage{SizeGB: int(size / gib), UsedGB: used / gib}, nil
}

// Grow runs resize2fs, which grows a mounted ext4 filesystem to its device's size online and
// does nothing to one that has it already.
func (v *diskVolume) Grow(ctx context.Context, sizeGB int) error {
	out, err := exec.CommandContext(ctx, "resize2fs", v.device).CombinedOutput()
	if err != nil {
		return fmt.Errorf("grow filesystem on %s to %d GiB: %w: %s", v.device, sizeGB, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// folderVolume is a folder that stands for a volume. A folder has no size of its own: it has
// the one it was given at boot, or the one Grow was asked for since.
type folderVolume struct {
	path string
	mu   sync.Mutex
	// sizeGB is the size given at boot, raised by Grow.
	sizeGB int
}

// Folder is a folder that stands for a volume of sizeGB, for a hypervisor (or a test) that
// has folders, not disks.
func Folder(path string, sizeGB int) guestagent.Volume {
	return &folderVolume{path: path, sizeGB: sizeGB}
}

func (v *folderVolume) Path() string { return v.path }

// Usage is the folder's size and the bytes its files take.
func (v *folderVolume) Usage(ctx context.Context) (guest.VolumeUsage, error) {
	var used int64
	err := filepath.WalkDir(v.path, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			// Files come and go while the engine runs (WAL segments, temp files).
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if e.Type().IsRegular() {
			if info, err := e.Info(); err == nil {
				used += info.Size()
			}
		}
		return nil
	})
	if err != nil {
		return guest.VolumeUsage{}, fmt.Errorf("volume usage: %w", err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return guest.VolumeUsage{SizeGB: v.sizeGB, UsedGB: float64(used) / gib}, nil
}

// Grow takes the new size, as resize2fs would take the extended device's.
func (v *folderVolume) Grow(_ context.Context, sizeGB int) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.sizeGB = max(v.sizeGB, sizeGB)
	return nil
}

// mountedDevice returns the block device mounted exactly at dir, if any.
func mountedDevice(dir string) (string, bool) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", false
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		// id parent major:minor root mountpoint options ... - fstype source superopts
		fields := strings.Fields(line)
		if len(fields) < 10 || fields[4] != dir {
			continue
		}
		for i, f := range fields {
			if f == "-" && i+2 < len(fields) && strings.HasPrefix(fields[i+2], "/dev/") {
				return fields[i+2], true
			}
		}
	}
	return "", false
}
