// Package config is Coffer's one typed configuration, read by every role (api, worker,
// migrate) from a YAML file, COFFER_* environment variables (COFFER_CATALOG_URL for
// catalog.url, ...) and flags, in that order of precedence from weakest to strongest.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// Config is the whole configuration. Defaults gives the values a key has when set nowhere.
type Config struct {
	Temporal  Temporal  `mapstructure:"temporal"`
	Catalog   Catalog   `mapstructure:"catalog"`
	API       API       `mapstructure:"api"`
	OpenStack OpenStack `mapstructure:"openstack"`
	Guest     Guest     `mapstructure:"guest"`
	// CodecKey is the base64 AES-256 key that encrypts every Temporal payload (workflow
	// inputs, results, activity arguments), so that no secret is in a history in plain text.
	CodecKey string `mapstructure:"codec_key"`
	Log      Log    `mapstructure:"log"`
	// Backup configures backups to Swift.
	Backup Backup `mapstructure:"backup"`
	// Operations configures parked steps.
	Operations Operations `mapstructure:"operations"`
	// Quotas are the default limits of every project and the shortest user password.
	Quotas Quotas `mapstructure:"quotas"`
}

// Backup configures backups. Backups live in Container of the control plane's project;
// guests write and read them directly with a token of that project that the control plane
// hands them (encrypted by the payload codec) for one backup or restore.
type Backup struct {
	// Key is the base64 32-byte key that wraps each backup's data key (`openssl rand
	// -base64 32`). Without it, backups are refused.
	Key string `mapstructure:"key"`
	// Container is the Swift container backups are stored in.
	Container string `mapstructure:"container"`
	// SegmentSize is the size of each Swift segment of a backup, in bytes.
	SegmentSize int64 `mapstructure:"segment_size"`
}

// Temporal says where the Temporal frontend is.
type Temporal struct {
	HostPort  string `mapstructure:"host_port"`
	Namespace string `mapstructure:"namespace"`
}

// Catalog says where the catalog database is.
type Catalog struct {
	// URL is a PostgreSQL connection string (postgres://user:pass@host:port/db).
	URL string `mapstructure:"url"`
}

// API configures `coffer api`.
type API struct {
	Listen string `mapstructure:"listen"`
	// MaxVolumeSize is the largest volume, in GiB, a create or resize may ask for.
	MaxVolumeSize int `mapstructure:"max_volume_size"`
	// Region is the region name instance views show.
	Region string `mapstructure:"region"`
}

// OpenStack holds the control plane's own credentials; every service is found in the catalog.
type OpenStack struct {
	AuthURL           string `mapstructure:"auth_url"`
	Username          string `mapstructure:"username"`
	Password          string `mapstructure:"password"`
	ProjectName       string `mapstructure:"project_name"`
	UserDomainName    string `mapstructure:"user_domain_name"`
	ProjectDomainName string `mapstructure:"project_domain_name"`
	Region            string `mapstructure:"region"`
	// Network is the name or ID of the network instances get their port on.
	Network string `mapstructure:"network"`
}

// Guest configures what instances' guest agents are told and how long they may take.
type Guest struct {
	// TemporalHostPort is the Temporal frontend as guests reach it (may differ from
	// Temporal.HostPort behind NAT).
	TemporalHostPort string `mapstructure:"temporal_host_port"`
	// StartTimeout bounds how long a new guest agent may take to poll its task queue before
	// the create fails clearly.
	StartTimeout time.Duration `mapstructure:"start_timeout"`
	// PrepareTimeout bounds Prepare once started.
	PrepareTimeout time.Duration `mapstructure:"prepare_timeout"`
	// HeartbeatExpiry is how old an instance's last health report may be before its
	// operating_status shows ERROR (Trove's agent_heartbeat_expiry, 90 s).
	HeartbeatExpiry time.Duration `mapstructure:"heartbeat_expiry"`
	// HealthInterval is how often each instance's monitor asks its guest for its health;
	// keep it well under HeartbeatExpiry.
	HealthInterval time.Duration `mapstructure:"health_interval"`
}

// Operations configures how workflows treat a step that failed after its retries.
type Operations struct {
	// ParkTimeout is how long such a step waits for an operator's retry, skip or abort
	// signal before its workflow aborts by itself.
	ParkTimeout time.Duration `mapstructure:"park_timeout"`
}

// Log configures logging.
type Log struct {
	Level string `mapstructure:"level"` // debug, info, warn, error
}

// Quotas are what a project may hold when an admin set no limit of its own (Trove's
// max_*_per_tenant), and the shortest password the API accepts for a database user. A limit
// of -1 is no limit.
type Quotas struct {
	Instances int `mapstructure:"instances"`
	// RAM is the flavors' memory in MiB, summed over the project's instances.
	RAM int `mapstructure:"ram"`
	// Volumes is the instances' volume size in GiB, summed.
	Volumes int `mapstructure:"volumes"`
	Backups int `mapstructure:"backups"`
	// MinPasswordLength is the shortest password a database user or root may be given.
	MinPasswordLength int `mapstructure:"min_password_length"`
}

// Defaults returns the configuration's defaults; they fit coffer-dev and the devcloud.
func Defaults() Config {
	return Config{
		Temporal: Temporal{HostPort: "127.0.0.1:7233", Namespace: "default"},
		API:      API{Listen: "127.0.0.1:8779", MaxVolumeSize: 100, Region: "RegionOne"},
		OpenStack: OpenStack{
			UserDomainName: "Default", ProjectDomainName: "Default", Region: "RegionOne", Network: "private",
		},
		Guest: Guest{StartTimeout: 5 * time.Minute, PrepareTimeout: 10 * time.Minute,
			HeartbeatExpiry: 90 * time.Second, HealthInterval: 30 * time.Second},
		Operations: Operations{ParkTimeout: time.Hour},
		Log:        Log{Level: "info"},
		Backup:     Backup{Container: "coffer-backups", SegmentSize: 64 << 20},
		// Trove's defaults, but volumes: ten instances of the largest volume (api.max_volume_size).
		Quotas: Quotas{Instances: 10, RAM: -1, Volumes: 1000, Backups: 50, MinPasswordLength: 8},
	}
}

// defaultValues maps every scalar key to its default, so that viper knows each key and
// COFFER_* variables reach them.
func defaultValues() map[string]any {
	d := Defaults()
	return map[string]any{
		"temporal.host_port": d.Temporal.HostPort, "temporal.namespace": d.Temporal.Namespace,
		"catalog.url": d.Catalog.URL,
		"api.listen":  d.API.Listen, "api.max_volume_size": d.API.MaxVolumeSize, "api.region": d.API.Region,
		"openstack.auth_url": d.OpenStack.AuthURL, "openstack.username": d.OpenStack.Username,
		"openstack.password": d.OpenStack.Password, "openstack.project_name": d.OpenStack.ProjectName,
		"openstack.user_domain_name": d.OpenStack.UserDomainName, "openstack.project_domain_name": d.OpenStack.ProjectDomainName,
		"openstack.region": d.OpenStack.Region, "openstack.network": d.OpenStack.Network,
		"guest.temporal_host_port": d.Guest.TemporalHostPort, "guest.start_timeout": d.Guest.StartTimeout,
		"guest.prepare_timeout":  d.Guest.PrepareTimeout,
		"guest.heartbeat_expiry": d.Guest.HeartbeatExpiry, "guest.health_interval": d.Guest.HealthInterval,
		"operations.park_timeout": d.Operations.ParkTimeout,
		"codec_key":               d.CodecKey, "log.level": d.Log.Level,
		"quotas.instances": d.Quotas.Instances, "quotas.ram": d.Quotas.RAM, "quotas.volumes": d.Quotas.Volumes,
		"quotas.backups": d.Quotas.Backups, "quotas.min_password_length": d.Quotas.MinPasswordLength,
		"backup.key": d.Backup.Key, "backup.container": d.Backup.Container, "backup.segment_size": d.Backup.SegmentSize,
	}
}

// Load reads file (when not empty), then COFFER_* variables, then the flags that are set
// (flag "catalog-url" sets key catalog.url), over Defaults, and validates the result.
func Load(file string, flags *pflag.FlagSet) (Config, error) {
	v := viper.New()
	v.SetEnvPrefix("COFFER")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	defaults := defaultValues()
	for k, val := range defaults {
		v.SetDefault(k, val)
		if err := v.BindEnv(k); err != nil {
			return Config{}, err
		}
	}
	if flags != nil {
		for k := range defaults {
			name := strings.ReplaceAll(strings.ReplaceAll(k, ".", "-"), "_", "-")
			if f := flags.Lookup(name); f != nil && f.Changed {
				v.Set(k, f.Value.String())
			}
		}
	}
	if file != "" {
		v.SetConfigFile(file)
		if err := v.ReadInConfig(); err != nil {
			return Config{}, fmt.Errorf("read config %s: %w", file, err)
		}
	}
	var c Config
	if err := v.Unmarshal(&c); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate names each key that is missing or wrong.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config key %s: %s", key, fmt.Sprintf(format, args...)))
	}
	if _, _, err := net.SplitHostPort(c.Temporal.HostPort); err != nil {
		bad("temporal.host_port", "%q is not host:port", c.Temporal.HostPort)
	}
	if c.Temporal.Namespace == "" {
		bad("temporal.namespace", "must not be empty")
	}
	if c.Catalog.URL == "" {
		bad("catalog.url", "must be a PostgreSQL connection string, e.g. postgres://coffer:secret@127.0.0.1:5432/coffer")
	}
	if _, _, err := net.SplitHostPort(c.API.Listen); err != nil {
		bad("api.listen", "%q is not host:port", c.API.Listen)
	}
	if c.API.MaxVolumeSize < 1 {
		bad("api.max_volume_size", "must be at least 1 (GiB), got %d", c.API.MaxVolumeSize)
	}
	if u, err := url.Parse(c.OpenStack.AuthURL); err != nil || u.Scheme == "" || u.Host == "" {
		bad("openstack.auth_url", "must be the Keystone v3 URL, e.g. https://keystone.example.com:5000/v3/")
	}
	if c.OpenStack.Username == "" || c.OpenStack.Password == "" || c.OpenStack.ProjectName == "" {
		bad("openstack.username/password/project_name", "the control plane's credentials are required")
	}
	if c.OpenStack.Network == "" {
		bad("openstack.network", "must name the network instances are attached to")
	}
	if c.Guest.StartTimeout <= 0 || c.Guest.PrepareTimeout <= 0 {
		bad("guest.start_timeout/prepare_timeout", "must be positive durations such as 5m")
	}
	if c.Guest.HeartbeatExpiry <= 0 || c.Guest.HealthInterval <= 0 || c.Guest.HealthInterval >= c.Guest.HeartbeatExpiry {
		bad("guest.heartbeat_expiry/health_interval", "must be positive durations, the interval shorter than the expiry (90s and 30s by default)")
	}
	if c.Operations.ParkTimeout <= 0 {
		bad("operations.park_timeout", "must be a positive duration such as 1h")
	}
	if _, err := c.CodecKeyBytes(); err != nil {
		bad("codec_key", "%v", err)
	}
	if c.Backup.Key != "" {
		if _, err := c.BackupKeyBytes(); err != nil {
			bad("backup.key", "%v", err)
		}
	}
	if c.Backup.Container == "" {
		bad("backup.container", "must name the Swift container backups go to")
	}
	if c.Backup.SegmentSize < 1<<20 {
		bad("backup.segment_size", "must be at least 1 MiB, got %d bytes", c.Backup.SegmentSize)
	}
	for key, limit := range map[string]int{"quotas.instances": c.Quotas.Instances, "quotas.ram": c.Quotas.RAM,
		"quotas.volumes": c.Quotas.Volumes, "quotas.backups": c.Quotas.Backups} {
		if limit < -1 {
			bad(key, "must be -1 (no limit) or more, got %d", limit)
		}
	}
	if c.Quotas.MinPasswordLength < 1 {
		bad("quotas.min_password_length", "must be at least 1, got %d", c.Quotas.MinPasswordLength)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	return errors.Join(errs...)
}

// CodecKeyBytes decodes the codec key; it must be 32 bytes of base64 (`openssl rand -base64 32`).
func (c Config) CodecKeyBytes() ([]byte, error) {
	if c.CodecKey == "" {
		return nil, errors.New("must be set: 32 random bytes in base64 (openssl rand -base64 32)")
	}
	k, err := base64.StdEncoding.DecodeString(c.CodecKey)
	if err != nil {
		return nil, errors.New("is not valid base64")
	}
	if len(k) != 32 {
		return nil, fmt.Errorf("decodes to %d bytes, want 32", len(k))
	}
	return k, nil
}

// BackupKeyBytes decodes the backup key; like the codec key, 32 bytes of base64.
func (c Config) BackupKeyBytes() ([]byte, error) {
	if c.Backup.Key == "" {
		return nil, errors.New("is not set: backups need 32 random bytes in base64 (openssl rand -base64 32)")
	}
	k, err := base64.StdEncoding.DecodeString(c.Backup.Key)
	if err != nil {
		return nil, errors.New("is not valid base64")
	}
	if len(k) != 32 {
		return nil, fmt.Errorf("decodes to %d bytes, want 32", len(k))
	}
	return k, nil
}

// GuestTemporalHostPort is where guests reach Temporal.
func (c Config) GuestTemporalHostPort() string {
	if c.Guest.TemporalHostPort != "" {
		return c.Guest.TemporalHostPort
	}
	return c.Temporal.HostPort
}
