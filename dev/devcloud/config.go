package devcloud

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// Config is the devcloud's configuration. DefaultConfig gives a working one; the YAML file
// dev/devcloud.yaml (loaded by the devcloud binary, dev/cmd/devcloud) overrides any part of it.
type Config struct {
	// Listen is the address of the one HTTP listener for every service.
	Listen string `mapstructure:"listen"`
	// PublicURL is the base URL put into the service catalog. Empty means http://<Listen>.
	PublicURL string `mapstructure:"public_url"`
	// DataDir holds all state; a restart with the same folder finds everything again.
	DataDir string `mapstructure:"data_dir"`
	// Region is the catalog's region name.
	Region string `mapstructure:"region"`
	// TokenTTL is how long a Keystone token stays valid.
	TokenTTL time.Duration `mapstructure:"token_ttl"`
	// DatabaseURL is the Coffer API's base URL (up to, not including, /v1.0); the catalog's
	// "database" endpoint is DatabaseURL + "/v1.0/<project_id>".
	DatabaseURL string `mapstructure:"database_url"`

	Users      []User           `mapstructure:"users"`
	Flavors    []Flavor         `mapstructure:"flavors"`
	Images     []Image          `mapstructure:"images"`
	Network    NetworkConfig    `mapstructure:"network"`
	Hypervisor HypervisorConfig `mapstructure:"hypervisor"`
	// Faults are injected from the start, as if posted to /devcloud/faults.
	Faults []Fault `mapstructure:"faults"`
}

// User is a Keystone user with a role set in one project of the "Default" domain.
type User struct {
	Name     string   `mapstructure:"name"`
	Password string   `mapstructure:"password"`
	Project  string   `mapstructure:"project"`
	Roles    []string `mapstructure:"roles"`
}

// Flavor is a Nova flavor. IDs are strings, as Nova allows.
type Flavor struct {
	ID    string `mapstructure:"id" json:"id"`
	Name  string `mapstructure:"name" json:"name"`
	RAM   int    `mapstructure:"ram" json:"ram"`     // MiB
	VCPUs int    `mapstructure:"vcpus" json:"vcpus"` // count
	Disk  int    `mapstructure:"disk" json:"disk"`   // GiB
}

// Image is a Glance image, seeded from the configuration. Its ID is derived from its name, so
// it stays the same across restarts and machines.
type Image struct {
	Name    string   `mapstructure:"name"`
	Tags    []string `mapstructure:"tags"`
	MinDisk int      `mapstructure:"min_disk"`
	MinRAM  int      `mapstructure:"min_ram"`
	// Properties are the image's custom properties, shown as Glance shows them. The process
	// hypervisor honours one: devcloud_boot: fail makes every boot of a server from the
	// image fail (a broken image: the server goes to ERROR and no guest comes up).
	Properties map[string]string `mapstructure:"properties"`
}

// ImageBootFail is the image property value that makes boots from the image fail.
const ImageBootFail = "fail"

// NetworkConfig describes the one seeded tenant network.
type NetworkConfig struct {
	Name string `mapstructure:"name"`
	// CIDR is the subnet ports get their fixed IPs from. It must lie inside 127.0.0.0/8 so
	// that every server's address is a local one; 127.0.0.1 is never handed out. Empty (the
	// default) picks the first /16 from 127.10.0.0/16 up that no other cloud on the machine
	// runs on or keeps for its data folder. A cloud leases its range while it runs, so two
	// clouds never hand out the same address; a data folder keeps the range it was made with.
	CIDR string `mapstructure:"cidr"`
}

// HypervisorConfig says how a server is "booted".
type HypervisorConfig struct {
	// Kind is "process" (the default: each server a local process, booted in milliseconds)
	// or "qemu" (each server a qemu VM booted from its image, see QemuConfig).
	Kind string `mapstructure:"kind"`
	// Command is the program and arguments started for each server, followed by the flags
	// of `coffer guestagent` that point it at the server (--config-drive, --volumes-dir,
	// --volume-size-gb, --ram-mb, --cpus). The process runs in the server's folder, and its
	// output is the server's console log.
	Command []string `mapstructure:"command"`
	// Env is added to the environment of every server process (KEY=VALUE).
	Env []string `mapstructure:"env"`
	// StopTimeout is how long a process gets after SIGTERM before SIGKILL.
	StopTimeout time.Duration `mapstructure:"stop_timeout"`
	// SecurityGroups makes the process hypervisor enforce security groups on the engines'
	// ports (GuardPorts): each server's process listens on an inner address and the cloud
	// admits to its fixed IP only the sources its ingress rules allow (guard.go). Off, every
	// source reaches every server. The qemu hypervisor ignores it.
	SecurityGroups bool `mapstructure:"security_groups"`
	// GuardPorts are the TCP ports guarded on each fixed IP; empty: 5432, 3306 and 6379.
	GuardPorts []int `mapstructure:"guard_ports"`
	// Qemu configures the qemu hypervisor; only read when Kind is "qemu".
	Qemu QemuConfig `mapstructure:"qemu"`
}

// The hypervisor kinds.
const (
	HypervisorProcess = "process"
	HypervisorQemu    = "qemu"
)

// QemuConfig says how the qemu hypervisor runs its VMs.
type QemuConfig struct {
	// Binary is the qemu program; empty means qemu-system-x86_64 from PATH.
	Binary string `mapstructure:"binary"`
	// Accel is "auto" (the default: KVM when a probe VM gets through its firmware with it,
	// TCG otherwise), "kvm" or "tcg".
	Accel string `mapstructure:"accel"`
	// Images maps a Glance image name to the qcow2 file that holds it (the one `go tool task
	// image` builds). A server whose image has no file here goes to ERROR.
	Images map[string]string `mapstructure:"images"`
	// ForwardPorts are the guest's TCP ports forwarded from the server's fixed IP on the
	// host (hostfwd=tcp:<fixed ip>:<port>-:<port>); the default is the engines' ports.
	ForwardPorts []int `mapstructure:"forward_ports"`
}

// DefaultConfig returns the configuration the devcloud binary uses when a key is not set.
func DefaultConfig() Config {
	return Config{
		Listen:      "127.0.0.1:5000",
		DataDir:     ".data/devcloud",
		Region:      "RegionOne",
		TokenTTL:    12 * time.Hour,
		DatabaseURL: "http://127.0.0.1:8779",
		Users: []User{
			{Name: "admin", Password: "admin", Project: "admin", Roles: []string{"admin", "member"}},
			{Name: "coffer", Password: "coffer", Project: "service", Roles: []string{"admin", "service"}},
			{Name: "demo", Password: "demo", Project: "demo", Roles: []string{"member"}},
			{Name: "alt_demo", Password: "alt_demo", Project: "alt_demo", Roles: []string{"member"}},
		},
		Flavors: []Flavor{
			{ID: "ds512M", Name: "ds512M", RAM: 512, VCPUs: 1, Disk: 5},
			{ID: "ds1G", Name: "ds1G", RAM: 1024, VCPUs: 1, Disk: 10},
			{ID: "ds2G", Name: "ds2G", RAM: 2048, VCPUs: 2, Disk: 20},
			{ID: "ds4G", Name: "ds4G", RAM: 4096, VCPUs: 2, Disk: 40},
			{ID: "ds8G", Name: "ds8G", RAM: 8192, VCPUs: 4, Disk: 80},
			{ID: "ds16G", Name: "ds16G", RAM: 16384, VCPUs: 8, Disk: 160},
		},
		Images: []Image{
			{Name: "coffer-postgresql-15", Tags: []string{"coffer", "coffer-postgresql-15"}},
			{Name: "coffer-mysql-8.0", Tags: []string{"coffer", "coffer-mysql-8.0"}},
			{Name: "coffer-mariadb-10.11", Tags: []string{"coffer", "coffer-mariadb-10.11"}},
			{Name: "coffer-redis-7", Tags: []string{"coffer", "coffer-redis-7"}},
		},
		Network: NetworkConfig{Name: "private"},
		Hypervisor: HypervisorConfig{
			Kind:        HypervisorProcess,
			Command:     []string{"coffer", "guestagent"},
			StopTimeout: 10 * time.Second,
			Qemu:        QemuConfig{Accel: "auto", ForwardPorts: []int{5432, 3306, 6379}},
		},
	}
}

// Validate reports the first key that is missing or wrong, naming it.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen: %q is not host:port: %w", c.Listen, err))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir: must not be empty"))
	}
	if c.TokenTTL <= 0 {
		errs = append(errs, fmt.Errorf("token_ttl: must be positive, got %s", c.TokenTTL))
	}
	if len(c.Users) == 0 {
		errs = append(errs, errors.New("users: at least one user is needed"))
	}
	for i, u := range c.Users {
		if u.Name == "" || u.Password == "" || u.Project == "" {
			errs = append(errs, fmt.Errorf("users[%d]: name, password and project are required", i))
		}
	}
	for i, f := range c.Flavors {
		if f.ID == "" || f.RAM <= 0 || f.VCPUs <= 0 {
			errs = append(errs, fmt.Errorf("flavors[%d]: id, ram and vcpus are required", i))
		}
	}
	prefix, err := netip.ParsePrefix(c.Network.CIDR)
	switch {
	case c.Network.CIDR == "":
		// picked at New
	case err != nil:
		errs = append(errs, fmt.Errorf("network.cidr: %w", err))
	case !netip.MustParsePrefix("127.0.0.0/8").Contains(prefix.Addr()) || prefix.Bits() < 8:
		errs = append(errs, fmt.Errorf("network.cidr: %s is not inside 127.0.0.0/8", c.Network.CIDR))
	case prefix.Bits() > 29:
		errs = append(errs, fmt.Errorf("network.cidr: %s is too small", c.Network.CIDR))
	}
	switch c.Hypervisor.Kind {
	case "", HypervisorProcess, HypervisorQemu:
	default:
		errs = append(errs, fmt.Errorf("hypervisor.kind: %q is neither %q nor %q", c.Hypervisor.Kind, HypervisorProcess, HypervisorQemu))
	}
	switch c.Hypervisor.Qemu.Accel {
	case "", "auto", "kvm", "tcg":
	default:
		errs = append(errs, fmt.Errorf("hypervisor.qemu.accel: %q is not auto, kvm or tcg", c.Hypervisor.Qemu.Accel))
	}
	if len(c.Hypervisor.Command) == 0 && c.Hypervisor.Kind != HypervisorQemu {
		errs = append(errs, errors.New("hypervisor.command: must name a program"))
	}
	return errors.Join(errs...)
}
