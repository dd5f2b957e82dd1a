// Package configdrive reads and writes what OpenStack tells a server about itself at boot:
// the files of a config drive (label config-2: openstack/latest/meta_data.json,
// network_data.json, user_data), which the metadata service serves under the same paths.
//
// Nothing here is the devcloud's own: the devcloud writes a config-2 folder for each server
// with Write, and the guest agent reads a drive with Read or the metadata service with Fetch.
package configdrive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

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

// Drive is everything in a config drive.
type Drive struct {
	MetaData    MetaData
	NetworkData NetworkData
	UserData    []byte
}

const (
	metaDataFile    = "openstack/latest/meta_data.json"
	networkDataFile = "openstack/latest/network_data.json"
	userDataFile    = "openstack/latest/user_data"
)

// Write lays the drive out under dir, each file replaced atomically, so that a process
// reading it at any moment sees either the old or the new version of a file.
func Write(dir string, d Drive) error {
	for _, f := range []struct {
		name string
		v    any
	}{{metaDataFile, d.MetaData}, {networkDataFile, d.NetworkData}} {
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
	}{{metaDataFile, &d.MetaData}, {networkDataFile, &d.NetworkData}} {
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

// DefaultMetadataURL is the metadata service as every OpenStack server reaches it.
const DefaultMetadataURL = "http://169.254.169.254"

// Fetch loads the same files from the metadata service at baseURL
// (<baseURL>/openstack/latest/meta_data.json, ...). A user_data the service does not have
// (404) is no error, as on a drive.
func Fetch(ctx context.Context, client *http.Client, baseURL string) (Drive, error) {
	var d Drive
	get := func(name string) ([]byte, int, error) {
		u := strings.TrimSuffix(baseURL, "/") + "/" + name
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, 0, fmt.Errorf("read metadata service: %w", err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, 0, fmt.Errorf("read metadata service: %w", err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxFileSize))
		if err != nil {
			return nil, 0, fmt.Errorf("read metadata service %s: %w", u, err)
		}
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotFound {
			return nil, resp.StatusCode, fmt.Errorf("read metadata service %s: %s", u, resp.Status)
		}
		return b, resp.StatusCode, nil
	}
	for _, f := range []struct {
		name string
		v    any
	}{{metaDataFile, &d.MetaData}, {networkDataFile, &d.NetworkData}} {
		b, status, err := get(f.name)
		if err != nil {
			return Drive{}, err
		}
		if status == http.StatusNotFound {
			return Drive{}, fmt.Errorf("read metadata service: %s: not found", f.name)
		}
		if err := json.Unmarshal(b, f.v); err != nil {
			return Drive{}, fmt.Errorf("read metadata service %s: %w", f.name, err)
		}
	}
	b, status, err := get(userDataFile)
	if err != nil {
		return Drive{}, err
	}
	if status == http.StatusOK {
		d.UserData = b
	}
	return d, nil
}

// maxFileSize bounds what Fetch reads of one file (Nova limits user_data to 64 KiB encoded).
const maxFileSize = 1 << 20
