package guestagent

import (
	"context"

	"github.com/coffer-dbaas/coffer/configdrive"
	"github.com/coffer-dbaas/coffer/guest"
)

// Server is what the agent learns of the server it runs on, only as any VM learns it: the
// config drive or the metadata service, the machine itself, and the Cinder volume attached
// to it. Package guestagent/machine implements it; nothing behind it knows which cloud or
// hypervisor runs the server.
type Server interface {
	// Metadata reads the server's identity, networks and user_data (which holds the
	// agent's guest.Config), from the config drive or else the metadata service.
	Metadata(ctx context.Context) (configdrive.Drive, error)
	// Address is the IPv4 address the engine listens on: network_data's first, or else the
	// first one of the server's interfaces.
	Address(md configdrive.Drive) (string, error)
	// Size is the memory (MiB) and CPUs the engine may use: the machine's, or its cgroup's
	// limits where they are lower. A resize reboots the server, so it is read at boot.
	Size() (ramMB, cpus int, err error)
	// DataVolume finds the attached Cinder volume volumeID, makes its filesystem on first
	// use and mounts it. Calling it again finds the volume mounted.
	DataVolume(ctx context.Context, volumeID string) (Volume, error)
}

// Volume is the mounted data volume.
type Volume interface {
	// Path is where the volume is mounted.
	Path() string
	// Usage reports the filesystem's size and what its files take.
	Usage(ctx context.Context) (guest.VolumeUsage, error)
	// Grow grows the filesystem to sizeGB after the cloud extended the volume; a filesystem
	// that large already is left alone, so a retry does nothing twice.
	Grow(ctx context.Context, sizeGB int) error
}

// Host is what an engine's driver is given of its server, learned at boot.
type Host struct {
	// Address is the IPv4 address the engine listens on.
	Address string
	// RAMMB and CPUs size the engine's configuration.
	RAMMB int
	CPUs  int
	// Volume holds the engine's data.
	Volume Volume
}
