// Package configdrive reads and writes what a server knows about itself at boot: the files of
// an OpenStack config drive (openstack/latest/meta_data.json, network_data.json, user_data)
// and, beside them, the facts a real VM would read off its hardware (memory, vCPUs, the
// mounted volumes), which the devcloud's hypervisor writes to devcloud/instance.json.
//
// The devcloud writes a config drive for each server and hands its folder to the server's
// process in the COFFER_CONFIG_DRIVE environment variable; the guest agent reads it with Read.
package configdrive

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// EnvVar names the environment variable that holds the config drive folder.
const EnvVar = "COFFER_CONFIG_DRIVE"

// MetaData is openstack/latest/meta_data.json, in the fields Nova writes.
type MetaData struct {
	UUID             string            `json:"uuid"`
	Name             string            `json:"name"`
	Hostname         string            `json:"hostname"`
	ProjectID        string            `json:"project_id"`
	AvailabilityZone string            `json:"availability_zone"`
	LaunchIndex      int               `json:"launch_index"`
	Meta             map[string]string `json:"meta"`
	Devices          []Device          `json:"devices"`
}

// Device is a disk attached to the server, as meta_data.json lists it.
type Device struct {
	Type    string `json:"type"` // "disk"
	Bus     string `json:"bus"`  // "virtio"
	Serial  string `json:"serial"`
	Address string `json:"address"`
}

// NetworkData is openstack/latest/network_data.json (the parts a guest needs).
type NetworkData struct {
	Links    []NetworkLink `json:"links"`
	Networks []Network     `json:"networks"`
}

// NetworkLink is one virtual NIC.
type NetworkLink struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	MAC  string `json:"ethernet_mac_address"`
	MTU  int    `json:"mtu"`
}

// Network is one address on a link.
type Network struct {
	ID        string `json:"id"`
	Type      string `json:"type"` // "ipv4"
	Link      string `json:"link"`
	IPAddress string `json:"ip_address"`
	Netmask   string `json:"netmask"`
	NetworkID string `json:"network_id"`
}

// Instance is devcloud/instance.json: what a real VM would learn from its own hardware.
type Instance struct {
	// FixedIP is the address the server's services listen on.
	FixedIP string `json:"fixed_ip"`
	// Flavor is the server's current size; it changes after a resize.
	Flavor Flavor `json:"flavor"`
	// Volumes are the attached volumes, each a folder with a size.
	Volumes []Volume `json:"volumes"`
}

// Flavor is the server's size.
type Flavor struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	RAMMB int    `json:"ram_mb"`
	VCPUs int    `json:"vcpus"`
	DiskG int    `json:"disk_gb"`
}

// Volume is an attached volume: on a real VM a block device, in the devcloud a folder.
type Volume struct {
	ID     string `json:"id"`
	Device string `json:"device"`
	Path   string `json:"path"`
	SizeGB int    `json:"size_gb"`
}

// Drive is everything in a config drive.
type Drive struct {
	MetaData    MetaData
	NetworkData NetworkData
	UserData    []byte
	Instance    Instance
}

const (
	metaDataFile    = "openstack/latest/meta_data.json"
	networkDataFile = "openstack/latest/network_data.json"
	userDataFile    = "openstack/latest/user_data"
	instanceFile    = "devcloud/instance.json"
)

// Write lays the drive out under dir, each file replaced atomically, so that a process
// reading it at any moment sees either the old or the new version of a file.
func Write(dir string, d Drive) error {
	for _, f := range []struct {
		name string
		v    any
	}{{metaDataFile, d.MetaData}, {networkDataFile, d.NetworkData}, {instanceFile, d.Instance}} {
		b, err := json.MarshalIndent(f.v, "", "  ")
		if err != nil {
			return fmt.Errorf("encode %s: %w", f.name, err)
		}
		if err := writeFile(filepath.Join(dir, f.name), b); err != nil {
			return err
		}
	}
	return writeFile(filepath.Join(dir, userDataFile), d.UserData)
}

func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write config drive: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write config drive: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write config drive: %w", err)
	}
	return nil
}

// Read loads the drive under dir. A missing user_data is no error (a server may have none);
// any other missing file is.
func Read(dir string) (Drive, error) {
	var d Drive
	for _, f := range []struct {
		name string
		v    any
	}{{metaDataFile, &d.MetaData}, {networkDataFile, &d.NetworkData}, {instanceFile, &d.Instance}} {
		b, err := os.ReadFile(filepath.Join(dir, f.name))
		if err != nil {
			return Drive{}, fmt.Errorf("read config drive: %w", err)
		}
		if err := json.Unmarshal(b, f.v); err != nil {
			return Drive{}, fmt.Errorf("read config drive %s: %w", f.name, err)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, userDataFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Drive{}, fmt.Errorf("read config drive: %w", err)
	}
	d.UserData = b
	return d, nil
}

// FromEnv reads the drive named by COFFER_CONFIG_DRIVE.
func FromEnv() (Drive, error) {
	dir := os.Getenv(EnvVar)
	if dir == "" {
		return Drive{}, fmt.Errorf("%s is not set: this process was not started by a hypervisor that hands over a config drive", EnvVar)
	}
	return Read(dir)
}
