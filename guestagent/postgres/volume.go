package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestagent"
)

// sizeFile records the filesystem size of a volume that is a folder (the devcloud's
// volumes), where there is no block device to grow: it stands for the filesystem's own
// record of its size, which resize2fs changes on a real VM.
const sizeFile = ".coffer-volume-size"

const gib = 1 << 30

// GrowFilesystem grows the volume's filesystem to sizeGB: resize2fs on the device mounted
// at the volume (a real VM), or the recorded size of a folder volume. A filesystem as large
// already is left alone, so a retry after a crash does nothing twice.
func (d *Driver) GrowFilesystem(ctx context.Context, sizeGB int) error {
	if sizeGB < 1 {
		return fmt.Errorf("grow filesystem to %d GiB: %w: the size must be positive", sizeGB, guestagent.ErrInvalid)
	}
	if device, ok := mountedDevice(d.volume); ok {
		out, err := exec.CommandContext(ctx, "resize2fs", device).CombinedOutput()
		if err != nil {
			return fmt.Errorf("grow filesystem on %s: %w: %s", device, err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	if d.folderSizeGB() >= sizeGB {
		return nil
	}
	if err := writeFileSync(filepath.Join(d.volume, sizeFile), []byte(strconv.Itoa(sizeGB)+"\n"), 0o644); err != nil {
		return fmt.Errorf("grow filesystem to %d GiB: %w", sizeGB, err)
	}
	return nil
}

// VolumeUsage reports the volume's size and use: statfs for a mounted filesystem, else the
// folder volume's recorded size and the bytes its files take.
func (d *Driver) VolumeUsage(ctx context.Context) (guest.VolumeUsage, error) {
	if _, ok := mountedDevice(d.volume); ok {
		var st syscall.Statfs_t
		if err := syscall.Statfs(d.volume, &st); err != nil {
			return guest.VolumeUsage{}, fmt.Errorf("volume usage: %w", err)
		}
		size := float64(st.Blocks) * float64(st.Bsize)
		used := float64(st.Blocks-st.Bfree) * float64(st.Bsize)
		return guest.VolumeUsage{SizeGB: int(size / gib), UsedGB: used / gib}, nil
	}
	var used int64
	err := filepath.WalkDir(d.volume, func(path string, e fs.DirEntry, err error) error {
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
	return guest.VolumeUsage{SizeGB: d.folderSizeGB(), UsedGB: float64(used) / gib}, nil
}

// folderSizeGB is a folder volume's size: the one GrowFilesystem recorded, or the one the
// server was booted with, whichever is larger.
func (d *Driver) folderSizeGB() int {
	size := d.volumeGB
	if b, err := os.ReadFile(filepath.Join(d.volume, sizeFile)); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > size {
			size = n
		}
	}
	return size
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
