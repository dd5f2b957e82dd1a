package machine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/coffer-dbaas/coffer/configdrive"
	"github.com/coffer-dbaas/coffer/guestagent"
)

var _ guestagent.Server = (*Machine)(nil)

// Defaults of Machine's empty fields: where Linux and Nova put things.
const (
	DefaultDisksByID    = "/dev/disk/by-id"
	DefaultDisksByLabel = "/dev/disk/by-label"
	DefaultMountDir     = "/var/lib/coffer/volumes"
	// configDriveLabel is the filesystem label Nova gives a config drive.
	configDriveLabel = "config-2"
)

// Timeouts of the metadata service, which answers in milliseconds once the network is up.
const (
	metadataTimeout  = 10 * time.Second
	metadataAttempts = 5
	metadataBackoff  = 2 * time.Second
)

// Machine is the server the agent runs on. The zero value is a real VM's: it finds its config
// drive, or else asks the metadata service, and finds its volumes by serial. Every field
// points it elsewhere, for a hypervisor that has no block devices or cannot limit a process.
type Machine struct {
	// ConfigDrive is a folder that holds a config drive's files (openstack/latest/...). Empty
	// means: mount the drive labelled config-2 read-only, or else ask MetadataURL.
	ConfigDrive string
	// MetadataURL is the metadata service's base URL; empty is configdrive.DefaultMetadataURL.
	MetadataURL string
	// DisksByID and DisksByLabel are where the kernel lists disks by serial and by label.
	DisksByID    string
	DisksByLabel string
	// MountDir holds the mounted volumes, one folder per volume ID.
	MountDir string
	// VolumesDir, when set, holds one folder per volume ID in place of block devices, and
	// VolumeSizesGB their sizes, since a folder has none.
	VolumesDir    string
	VolumeSizesGB map[string]int
	// RAMMB and CPUs, when positive, stand for what the machine says: for a hypervisor that
	// cannot give a process a memory or CPU limit. A real VM never needs them.
	RAMMB int
	CPUs  int
	// Root is where /proc and /sys are found; empty is "/" (tests point it at a fake tree).
	Root string
	// HTTPClient asks the metadata service; nil is a client with a short timeout.
	HTTPClient *http.Client

	// numCPU and interfaces stand for the machine's in tests; nil is the machine's.
	numCPU     func() int
	interfaces func() ([]net.Interface, error)
}

// Metadata reads the config drive folder, else the config-2 drive (mounted read-only for the
// read), else (or when that drive cannot be mounted) the metadata service.
func (m *Machine) Metadata(ctx context.Context) (configdrive.Drive, error) {
	if m.ConfigDrive != "" {
		return configdrive.Read(m.ConfigDrive)
	}
	device := filepath.Join(or(m.DisksByLabel, DefaultDisksByLabel), configDriveLabel)
	if _, err := os.Stat(device); err == nil {
		d, driveErr := readDrive(ctx, device)
		if driveErr == nil {
			return d, nil
		}
		// A drive this agent cannot mount (no root, no iso9660 module) is no reason not to
		// ask the metadata service, which Nova serves beside it.
		d, err := m.fetch(ctx)
		if err != nil {
			return configdrive.Drive{}, errors.Join(driveErr, err)
		}
		return d, nil
	}
	return m.fetch(ctx)
}

// readDrive mounts the config drive read-only in a private folder, reads it and unmounts it.
func readDrive(ctx context.Context, device string) (configdrive.Drive, error) {
	dir, err := os.MkdirTemp("", "config-2-*")
	if err != nil {
		return configdrive.Drive{}, fmt.Errorf("mount config drive: %w", err)
	}
	defer os.Remove(dir)
	var errs []error
	mounted := false
	for _, fstype := range []string{"iso9660", "vfat"} {
		out, err := exec.CommandContext(ctx, "mount", "-o", "ro", "-t", fstype, device, dir).CombinedOutput()
		if err == nil {
			mounted = true
			break
		}
		errs = append(errs, fmt.Errorf("%s: %w: %s", fstype, err, strings.TrimSpace(string(out))))
	}
	if !mounted {
		return configdrive.Drive{}, fmt.Errorf("mount config drive %s: %w", device, errors.Join(errs...))
	}
	defer exec.Command("umount", dir).Run()
	return configdrive.Read(dir)
}

// fetch asks the metadata service, a few times: early in boot the network may not be up yet.
func (m *Machine) fetch(ctx context.Context) (configdrive.Drive, error) {
	client := m.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: metadataTimeout}
	}
	url := or(m.MetadataURL, configdrive.DefaultMetadataURL)
	var err error
	for attempt := 1; ; attempt++ {
		var d configdrive.Drive
		if d, err = configdrive.Fetch(ctx, client, url); err == nil {
			return d, nil
		}
		if attempt == metadataAttempts {
			break
		}
		select {
		case <-ctx.Done():
			return configdrive.Drive{}, fmt.Errorf("no config drive, and the metadata service: %w", ctx.Err())
		case <-time.After(metadataBackoff):
		}
	}
	return configdrive.Drive{}, fmt.Errorf("no config drive, and the metadata service: %w", err)
}

// path is p under Root.
func (m *Machine) path(p string) string { return filepath.Join(or(m.Root, "/"), p) }

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
