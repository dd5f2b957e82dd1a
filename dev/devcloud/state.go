package devcloud

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// state is every resource record of the cloud but Swift's (which lives in files of its own).
// It is saved whole to state.json after each change, under Cloud.mu.
type state struct {
	Tokens         map[string]*token         `json:"tokens"`
	Servers        map[string]*server        `json:"servers"`
	Volumes        map[string]*volume        `json:"volumes"`
	Networks       map[string]*network       `json:"networks"`
	Subnets        map[string]*subnet        `json:"subnets"`
	Ports          map[string]*port          `json:"ports"`
	SecurityGroups map[string]*securityGroup `json:"security_groups"`
	SecurityRules  map[string]*securityRule  `json:"security_group_rules"`
}

func newState() *state {
	return &state{
		Tokens:         map[string]*token{},
		Servers:        map[string]*server{},
		Volumes:        map[string]*volume{},
		Networks:       map[string]*network{},
		Subnets:        map[string]*subnet{},
		Ports:          map[string]*port{},
		SecurityGroups: map[string]*securityGroup{},
		SecurityRules:  map[string]*securityRule{},
	}
}

// token is a Keystone token, scoped to one project.
type token struct {
	ID          string    `json:"id"`
	UserID      string    `json:"user_id"`
	UserName    string    `json:"user_name"`
	ProjectID   string    `json:"project_id"`
	ProjectName string    `json:"project_name"`
	Roles       []string  `json:"roles"`
	Methods     []string  `json:"methods"`
	IssuedAt    time.Time `json:"issued_at"`
	ExpiresAt   time.Time `json:"expires_at"`
}

func (t *token) hasRole(role string) bool {
	for _, r := range t.Roles {
		if r == role {
			return true
		}
	}
	return false
}

func (t *token) isAdmin() bool { return t.hasRole("admin") }

// owns tells whether the token may act on a resource of projectID: its own project's, or any
// for an admin.
func (t *token) owns(projectID string) bool { return t.ProjectID == projectID || t.isAdmin() }

// server is a Nova server; its process is run by the hypervisor.
type server struct {
	ID               string            `json:"id"`
	Name             string            `json:"name"`
	ProjectID        string            `json:"project_id"`
	UserID           string            `json:"user_id"`
	Flavor           Flavor            `json:"flavor"`
	OldFlavor        *Flavor           `json:"old_flavor,omitempty"` // set while VERIFY_RESIZE
	ImageID          string            `json:"image_id"`
	Status           string            `json:"status"` // BUILD ACTIVE SHUTOFF REBOOT RESIZE VERIFY_RESIZE ERROR
	TaskState        string            `json:"task_state,omitempty"`
	UserData         []byte            `json:"user_data,omitempty"` // decoded
	Metadata         map[string]string `json:"metadata"`
	Tags             []string          `json:"tags"`
	SecurityGroups   []string          `json:"security_groups"` // names
	KeyName          string            `json:"key_name,omitempty"`
	AvailabilityZone string            `json:"availability_zone"`
	Ports            []string          `json:"ports"`       // every port bound to the server
	OwnedPorts       []string          `json:"owned_ports"` // the ones Nova made and deletes with it
	Volumes          []serverVolume    `json:"volumes"`
	Fault            *serverFault      `json:"fault,omitempty"`
	Created          time.Time         `json:"created"`
	Updated          time.Time         `json:"updated"`
	Launched         *time.Time        `json:"launched,omitempty"`
}

type serverVolume struct {
	VolumeID            string `json:"volume_id"`
	AttachmentID        string `json:"attachment_id"`
	Device              string `json:"device"`
	DeleteOnTermination bool   `json:"delete_on_termination"`
}

type serverFault struct {
	Code    int       `json:"code"`
	Message string    `json:"message"`
	Created time.Time `json:"created"`
}

// volume is a Cinder volume: a folder under DataDir/volumes with a size.
type volume struct {
	ID          string             `json:"id"`
	Name        string             `json:"name"`
	Description string             `json:"description"`
	ProjectID   string             `json:"project_id"`
	UserID      string             `json:"user_id"`
	Size        int                `json:"size"` // GiB
	Status      string             `json:"status"`
	VolumeType  string             `json:"volume_type"`
	Metadata    map[string]string  `json:"metadata"`
	Bootable    bool               `json:"bootable"`
	Attachments []volumeAttachment `json:"attachments"`
	Created     time.Time          `json:"created"`
	Updated     time.Time          `json:"updated"`
}

type volumeAttachment struct {
	ID         string    `json:"id"`
	ServerID   string    `json:"server_id"`
	Device     string    `json:"device"`
	AttachedAt time.Time `json:"attached_at"`
}

type network struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	ProjectID string    `json:"project_id"`
	Shared    bool      `json:"shared"`
	Subnets   []string  `json:"subnets"`
	Created   time.Time `json:"created"`
}

type subnet struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	NetworkID string    `json:"network_id"`
	ProjectID string    `json:"project_id"`
	CIDR      string    `json:"cidr"`
	GatewayIP string    `json:"gateway_ip"`
	Created   time.Time `json:"created"`
}

type port struct {
	ID             string    `json:"id"`
	Name           string    `json:"name"`
	NetworkID      string    `json:"network_id"`
	SubnetID       string    `json:"subnet_id"`
	ProjectID      string    `json:"project_id"`
	IPAddress      string    `json:"ip_address"`
	MACAddress     string    `json:"mac_address"`
	DeviceID       string    `json:"device_id"`
	DeviceOwner    string    `json:"device_owner"`
	SecurityGroups []string  `json:"security_groups"` // IDs
	Description    string    `json:"description"`
	Tags           []string  `json:"tags"`
	Created        time.Time `json:"created"`
	Updated        time.Time `json:"updated"`
}

type securityGroup struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	ProjectID   string    `json:"project_id"`
	Created     time.Time `json:"created"`
	Updated     time.Time `json:"updated"`
}

type securityRule struct {
	ID             string    `json:"id"`
	GroupID        string    `json:"security_group_id"`
	ProjectID      string    `json:"project_id"`
	Direction      string    `json:"direction"`
	EtherType      string    `json:"ethertype"`
	Protocol       string    `json:"protocol,omitempty"`
	PortRangeMin   int       `json:"port_range_min,omitempty"`
	PortRangeMax   int       `json:"port_range_max,omitempty"`
	RemoteIPPrefix string    `json:"remote_ip_prefix,omitempty"`
	RemoteGroupID  string    `json:"remote_group_id,omitempty"`
	Description    string    `json:"description"`
	Created        time.Time `json:"created"`
}

func (c *Cloud) statePath() string { return filepath.Join(c.cfg.DataDir, "state.json") }

// loadState reads state.json, or starts an empty state when there is none yet.
func (c *Cloud) loadState() error {
	c.st = newState()
	b, err := os.ReadFile(c.statePath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read devcloud state: %w", err)
	}
	if err := json.Unmarshal(b, c.st); err != nil {
		return fmt.Errorf("parse devcloud state %s: %w", c.statePath(), err)
	}
	return nil
}

// saveLocked writes the whole state atomically. The caller holds c.mu. A failure is logged,
// not returned: the in-memory state stays authoritative for this run.
func (c *Cloud) saveLocked() {
	now := c.now()
	for id, t := range c.st.Tokens {
		if now.After(t.ExpiresAt) {
			delete(c.st.Tokens, id)
		}
	}
	b, err := json.MarshalIndent(c.st, "", "  ")
	if err == nil {
		tmp := c.statePath() + ".tmp"
		if err = os.WriteFile(tmp, b, 0o600); err == nil {
			err = os.Rename(tmp, c.statePath())
		}
	}
	if err != nil {
		c.log.Error("save devcloud state", "error", err)
	}
}
