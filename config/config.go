// Package config is Coffer's one typed configuration, read by every role (api, worker,
// migrate) from a YAML file, COFFER_* environment variables (COFFER_CATALOG_URL for
// catalog.url, ...) and flags, in that order of precedence from weakest to strongest. The
// Config struct is the one list of keys: its mapstructure tags name each key, its variable
// and its flag, and Defaults gives each key's default. Each role validates the keys it uses.
package config

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"reflect"
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
	// Gateway configures `coffer guest-gateway`, the only way guests reach the control plane.
	Gateway Gateway `mapstructure:"gateway"`
	// Metrics configures the Prometheus endpoints of the api and the worker.
	Metrics Metrics `mapstructure:"metrics"`
	// Tracing configures where OpenTelemetry spans go.
	Tracing Tracing `mapstructure:"tracing"`
}

// Metrics says where each role serves Prometheus' /metrics. Empty, the default, serves
// none; the address is the operators' own, apart from the tenants' API.
type Metrics struct {
	// APIListen is `coffer api`'s metrics address (host:port).
	APIListen string `mapstructure:"api_listen"`
	// WorkerListen is `coffer worker`'s metrics address (host:port).
	WorkerListen string `mapstructure:"worker_listen"`
}

// Tracing says where OpenTelemetry spans go. Empty endpoints export none.
type Tracing struct {
	// OTLPEndpoint is the OTLP/gRPC collector the control plane sends its spans to:
	// http://host:4317 in plain text, https://host:4317 or host:4317 over TLS.
	OTLPEndpoint string `mapstructure:"otlp_endpoint"`
	// GuestOTLPEndpoint is the collector as guests reach it, handed to new instances in
	// user_data; empty, guests export no span. Guests are the tenants' servers: give them
	// a collector that accepts spans and nothing else.
	GuestOTLPEndpoint string `mapstructure:"guest_otlp_endpoint"`
}

// Gateway configures `coffer guest-gateway`: guests enroll with it and poll their own task
// queue through it, never Temporal itself.
type Gateway struct {
	// Listen is the gRPC address guests reach (guest.gateway_host_port as they see it).
	Listen string `mapstructure:"listen"`
	// TLSCertFile and TLSKeyFile are the gateway's TLS certificate and key (PEM). Empty
	// serves plain gRPC, for the dev stack on loopback only: a guest's credential crosses
	// this connection.
	TLSCertFile string `mapstructure:"tls_cert_file"`
	TLSKeyFile  string `mapstructure:"tls_key_file"`
	// CredentialCacheTTL is how long the gateway trusts a credential it checked against
	// the catalog: an instance's credential works at most this long after its delete.
	CredentialCacheTTL time.Duration `mapstructure:"credential_cache_ttl"`
	// HealthFlushInterval is how often the gateway writes the health reports it received
	// to the catalog, all in one statement (1s by default).
	HealthFlushInterval time.Duration `mapstructure:"health_flush_interval"`
}

// Backup configures backups. Backups live in Container of the control plane's project;
// guests write and read them directly with Swift temporary URLs that the control plane
// signs for one backup's objects, one backup or restore at a time.
type Backup struct {
	// Key is the base64 32-byte key that wraps each backup's data key (`openssl rand
	// -base64 32`). Without it, backups are refused.
	Key string `mapstructure:"key"`
	// TempURLKey signs the Swift temporary URLs guests get; the control plane sets it as
	// the container's X-Container-Meta-Temp-URL-Key and never hands it out. Empty derives
	// one from Key (see TempURLKey).
	TempURLKey string `mapstructure:"temp_url_key"`
	// Container is the Swift container backups are stored in.
	Container string `mapstructure:"container"`
	// SegmentSize is the size of each Swift segment of a backup, in bytes.
	SegmentSize int64 `mapstructure:"segment_size"`
}

// Temporal says where the Temporal frontend is.
type Temporal struct {
	HostPort  string `mapstructure:"host_port"`
	Namespace string `mapstructure:"namespace"`
	// APIKey authenticates the control plane to Temporal (Temporal Cloud, or a cluster
	// with an authorizer); it turns TLS on.
	APIKey string `mapstructure:"api_key"`
	// TLSCAFile (PEM) verifies the frontend's certificate; with TLSCertFile and
	// TLSKeyFile the control plane presents a client certificate (mTLS). TLSServerName
	// overrides the name checked in the frontend's certificate. All empty: plain gRPC, as
	// the dev stack's Temporal on loopback speaks.
	TLSCAFile     string `mapstructure:"tls_ca_file"`
	TLSCertFile   string `mapstructure:"tls_cert_file"`
	TLSKeyFile    string `mapstructure:"tls_key_file"`
	TLSServerName string `mapstructure:"tls_server_name"`
}

// Catalog says where the catalog database is.
type Catalog struct {
	// URL is a PostgreSQL connection string (postgres://user:pass@host:port/db).
	URL string `mapstructure:"url"`
	// MaxConns bounds the connections each process keeps open to the catalog: the requests
	// (or activities) that query it at once; 0 leaves it to the URL's pool_max_conns, or
	// pgx's default (4, or the number of CPUs when more).
	MaxConns int `mapstructure:"max_conns"`
}

// API configures `coffer api`.
type API struct {
	Listen string `mapstructure:"listen"`
	// MaxVolumeSize is the largest volume, in GiB, a create or resize may ask for.
	MaxVolumeSize int `mapstructure:"max_volume_size"`
	// Region is the region name instance views show.
	Region string `mapstructure:"region"`
	// TokenCacheTTL is how long a token Keystone validated is trusted without asking again:
	// a token revoked at Keystone keeps working at most this long. 0 asks Keystone on every
	// request.
	TokenCacheTTL time.Duration `mapstructure:"token_cache_ttl"`
	// TrustedProxies lists, comma-separated, the addresses or CIDR ranges of the proxies
	// whose X-Forwarded-Host and X-Forwarded-Proto the API believes (for the links in its
	// bodies). Empty, the default, trusts no one.
	TrustedProxies string `mapstructure:"trusted_proxies"`
	// CodecOrigins lists, comma-separated, the browser origins (scheme://host:port) that
	// may call the codec server at /codec: the Temporal Web UI's. Empty allows none; the
	// Temporal CLI is no browser and needs none.
	CodecOrigins string `mapstructure:"codec_origins"`
}

// ParseTrustedProxies reads a TrustedProxies list: each item an address or a CIDR range.
func ParseTrustedProxies(list string) ([]netip.Prefix, error) {
	var prefixes []netip.Prefix
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if p, err := netip.ParsePrefix(item); err == nil {
			prefixes = append(prefixes, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR range", item)
		}
		prefixes = append(prefixes, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return prefixes, nil
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
	// GatewayHostPort is the guest gateway as guests reach it (may differ from
	// Gateway.Listen behind NAT; empty: gateway.listen). Guests never reach Temporal.
	GatewayHostPort string `mapstructure:"gateway_host_port"`
	// GatewayCAFile is the PEM CA that signed the gateway's certificate, handed to guests in
	// user_data (it is no secret). Empty: guests speak plain gRPC to the gateway (dev only).
	GatewayCAFile string `mapstructure:"gateway_ca_file"`
	// SwiftHostPort is the object store's host:port as guests reach it, put in place of
	// the catalog endpoint's in the Swift URL a guest is given for a backup or a restore;
	// empty gives the catalog's as it is. (Guests on qemu's user-mode network reach the
	// host's loopback at 10.0.2.2.)
	SwiftHostPort string `mapstructure:"swift_host_port"`
	// StartTimeout bounds how long a new guest agent may take to poll its task queue before
	// the create fails clearly.
	StartTimeout time.Duration `mapstructure:"start_timeout"`
	// PrepareTimeout bounds Prepare once started.
	PrepareTimeout time.Duration `mapstructure:"prepare_timeout"`
	// HeartbeatExpiry is how old an instance's last health report may be before its
	// operating_status shows ERROR (Trove's agent_heartbeat_expiry, 90 s) and the worker's
	// sweep starts the instance's GuestSilent workflow.
	HeartbeatExpiry time.Duration `mapstructure:"heartbeat_expiry"`
	// HealthInterval is how often each guest reports its health (the gateway tells it), and
	// how often the worker sweeps for silent guests; keep it well under HeartbeatExpiry.
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
	// Format is json (one object a line, with trace_id and span_id where a span is
	// current) or text.
	Format string `mapstructure:"format"`
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
		Catalog:  Catalog{MaxConns: 16},
		API:      API{Listen: "127.0.0.1:8779", MaxVolumeSize: 100, Region: "RegionOne", TokenCacheTTL: 30 * time.Second},
		OpenStack: OpenStack{
			UserDomainName: "Default", ProjectDomainName: "Default", Region: "RegionOne", Network: "private",
		},
		Guest: Guest{StartTimeout: 5 * time.Minute, PrepareTimeout: 10 * time.Minute,
			HeartbeatExpiry: 90 * time.Second, HealthInterval: 30 * time.Second},
		Operations: Operations{ParkTimeout: time.Hour},
		Log:        Log{Level: "info", Format: "json"},
		Backup:     Backup{Container: "coffer-backups", SegmentSize: 64 << 20},
		// Trove's defaults, but volumes: ten instances of the largest volume (api.max_volume_size).
		Quotas:  Quotas{Instances: 10, RAM: -1, Volumes: 1000, Backups: 50, MinPasswordLength: 8},
		Gateway: Gateway{Listen: "127.0.0.1:7243", CredentialCacheTTL: 10 * time.Second, HealthFlushInterval: time.Second},
	}
}

// Role is a coffer subcommand that loads the configuration. Each role validates only the
// keys it uses, so that `coffer migrate` needs nothing but catalog.url.
type Role string

// The roles. RoleGuestGateway is for `coffer guest-gateway`, which is still to come.
const (
	RoleAPI          Role = "api"
	RoleWorker       Role = "worker"
	RoleGuestGateway Role = "guest-gateway"
	RoleMigrate      Role = "migrate"
)

// section is a group of keys that are validated together.
type section int

const (
	sectionTemporal section = iota
	sectionCatalog
	sectionAPI
	sectionOpenStack
	sectionGuest
	sectionOperations
	sectionCodecKey
	sectionBackup
	sectionQuotas
	sectionLog
	sectionGateway
)

// sections lists what r reads; ok is false for an unknown role.
func (r Role) sections() (_ []section, ok bool) {
	switch r {
	case RoleAPI:
		// The API starts workflows with the guest and park timeouts and derives
		// operating_status from the heartbeat expiry; it never touches backup data.
		return []section{sectionTemporal, sectionCatalog, sectionAPI, sectionOpenStack, sectionGuest,
			sectionOperations, sectionCodecKey, sectionQuotas, sectionLog}, true
	case RoleWorker:
		return []section{sectionTemporal, sectionCatalog, sectionOpenStack, sectionGuest, sectionOperations,
			sectionCodecKey, sectionBackup, sectionLog}, true
	case RoleGuestGateway:
		// It relays guests' polls and health reports: Temporal, the master key, the catalog.
		return []section{sectionTemporal, sectionCatalog, sectionCodecKey, sectionGateway, sectionLog}, true
	case RoleMigrate:
		return []section{sectionCatalog, sectionLog}, true
	}
	return nil, false
}

// Load reads file (when not empty), then COFFER_* variables, then the flags that are set
// (flag "catalog-url" sets key catalog.url), over Defaults, and validates the keys role uses.
func Load(role Role, file string, flags *pflag.FlagSet) (Config, error) {
	c, err := read(file, flags)
	if err != nil {
		return Config{}, err
	}
	if err := c.Validate(role); err != nil {
		return Config{}, err
	}
	return c, nil
}

// read layers file, COFFER_* variables and flags over Defaults without validating. Every
// leaf of Config is a key, named by its mapstructure tags (catalog.url), with its variable
// (COFFER_CATALOG_URL) and its flag (--catalog-url): the struct is the only list of keys.
func read(file string, flags *pflag.FlagSet) (Config, error) {
	v := viper.New()
	v.SetEnvPrefix("COFFER")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	for _, l := range leaves(Defaults()) {
		v.SetDefault(l.key, l.value.Interface())
		if err := v.BindEnv(l.key); err != nil {
			return Config{}, err
		}
		if flags == nil {
			continue
		}
		if f := flags.Lookup(flagName(l.key)); f != nil && f.Changed {
			v.Set(l.key, f.Value.String())
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
	return c, nil
}

// flagName is the command-line flag that sets key: "catalog.url" is --catalog-url.
func flagName(key string) string {
	return strings.NewReplacer(".", "-", "_", "-").Replace(key)
}

// envVar is the environment variable that sets key: "catalog.url" is COFFER_CATALOG_URL.
func envVar(key string) string {
	return "COFFER_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// Env is c as COFFER_* variables (KEY=value), one per key, for starting a role as a process
// with this configuration.
func (c Config) Env() []string {
	var env []string
	for _, l := range leaves(c) {
		val := l.value.Interface()
		if d, ok := val.(time.Duration); ok {
			val = d.String()
		}
		env = append(env, fmt.Sprintf("%s=%v", envVar(l.key), val))
	}
	return env
}

// leaf is one key of the configuration with its value.
type leaf struct {
	key   string
	value reflect.Value
}

// leaves lists every key of c with its value, walking the mapstructure tags: a struct field
// is a section, any other field a key.
func leaves(c Config) []leaf {
	var out []leaf
	var walk func(prefix string, v reflect.Value)
	walk = func(prefix string, v reflect.Value) {
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			name := f.Tag.Get("mapstructure")
			if name == "" || name == "-" {
				continue
			}
			key := prefix + name
			if f.Type.Kind() == reflect.Struct {
				walk(key+".", v.Field(i))
				continue
			}
			out = append(out, leaf{key: key, value: v.Field(i)})
		}
	}
	walk("", reflect.ValueOf(c))
	return out
}

// Validate names each key that is missing or wrong among those that roles use; with no role,
// every key (as for a process that runs every role, such as coffer-dev).
func (c Config) Validate(roles ...Role) error {
	check := map[section]bool{}
	for _, r := range roles {
		u, ok := r.sections()
		if !ok {
			return fmt.Errorf("config: unknown role %q", r)
		}
		for _, s := range u {
			check[s] = true
		}
	}
	all := len(roles) == 0
	want := func(s section) bool { return all || check[s] }

	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config key %s: %s", key, fmt.Sprintf(format, args...)))
	}
	if want(sectionTemporal) {
		if _, _, err := net.SplitHostPort(c.Temporal.HostPort); err != nil {
			bad("temporal.host_port", "%q is not host:port", c.Temporal.HostPort)
		}
		if c.Temporal.Namespace == "" {
			bad("temporal.namespace", "must not be empty")
		}
		if (c.Temporal.TLSCertFile == "") != (c.Temporal.TLSKeyFile == "") {
			bad("temporal.tls_cert_file/tls_key_file", "give both or neither")
		}
	}
	if want(sectionCatalog) && c.Catalog.URL == "" {
		bad("catalog.url", "must be a PostgreSQL connection string, e.g. postgres://coffer:secret@127.0.0.1:5432/coffer")
	}
	if want(sectionCatalog) && c.Catalog.MaxConns < 0 {
		bad("catalog.max_conns", "%d is negative", c.Catalog.MaxConns)
	}
	if want(sectionAPI) {
		if _, _, err := net.SplitHostPort(c.API.Listen); err != nil {
			bad("api.listen", "%q is not host:port", c.API.Listen)
		}
		if c.API.MaxVolumeSize < 1 {
			bad("api.max_volume_size", "must be at least 1 (GiB), got %d", c.API.MaxVolumeSize)
		}
		if c.API.TokenCacheTTL < 0 {
			bad("api.token_cache_ttl", "must not be negative, got %s", c.API.TokenCacheTTL)
		}
		if _, err := ParseTrustedProxies(c.API.TrustedProxies); err != nil {
			bad("api.trusted_proxies", "%v", err)
		}
		for o := range strings.SplitSeq(c.API.CodecOrigins, ",") {
			if o = strings.TrimSpace(o); o == "" {
				continue
			}
			if u, err := url.Parse(o); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.TrimSuffix(u.Path, "/") != "" {
				bad("api.codec_origins", "%q is not an origin (scheme://host[:port]), e.g. https://temporal-ui.example.com", o)
			}
		}
	}
	if want(sectionOpenStack) {
		if u, err := url.Parse(c.OpenStack.AuthURL); err != nil || u.Scheme == "" || u.Host == "" {
			bad("openstack.auth_url", "must be the Keystone v3 URL, e.g. https://keystone.example.com:5000/v3/")
		}
		if c.OpenStack.Username == "" || c.OpenStack.Password == "" || c.OpenStack.ProjectName == "" {
			bad("openstack.username/password/project_name", "the control plane's credentials are required")
		}
		if c.OpenStack.Network == "" {
			bad("openstack.network", "must name the network instances are attached to")
		}
	}
	if want(sectionGuest) {
		if c.Guest.StartTimeout <= 0 || c.Guest.PrepareTimeout <= 0 {
			bad("guest.start_timeout/prepare_timeout", "must be positive durations such as 5m")
		}
		if c.Guest.HeartbeatExpiry <= 0 || c.Guest.HealthInterval <= 0 || c.Guest.HealthInterval >= c.Guest.HeartbeatExpiry {
			bad("guest.heartbeat_expiry/health_interval", "must be positive durations, the interval shorter than the expiry (90s and 30s by default)")
		}
		if _, _, err := net.SplitHostPort(c.GuestGatewayHostPort()); err != nil {
			bad("guest.gateway_host_port", "%q is not host:port", c.GuestGatewayHostPort())
		}
	}
	if want(sectionOperations) && c.Operations.ParkTimeout <= 0 {
		bad("operations.park_timeout", "must be a positive duration such as 1h")
	}
	if want(sectionCodecKey) {
		if _, err := c.CodecKeyBytes(); err != nil {
			bad("codec_key", "%v", err)
		}
	}
	if want(sectionBackup) {
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
	}
	if want(sectionQuotas) {
		for key, limit := range map[string]int{"quotas.instances": c.Quotas.Instances, "quotas.ram": c.Quotas.RAM,
			"quotas.volumes": c.Quotas.Volumes, "quotas.backups": c.Quotas.Backups} {
			if limit < -1 {
				bad(key, "must be -1 (no limit) or more, got %d", limit)
			}
		}
		if c.Quotas.MinPasswordLength < 1 {
			bad("quotas.min_password_length", "must be at least 1, got %d", c.Quotas.MinPasswordLength)
		}
	}
	if want(sectionGateway) {
		if _, _, err := net.SplitHostPort(c.Gateway.Listen); err != nil {
			bad("gateway.listen", "%q is not host:port", c.Gateway.Listen)
		}
		if (c.Gateway.TLSCertFile == "") != (c.Gateway.TLSKeyFile == "") {
			bad("gateway.tls_cert_file/tls_key_file", "give both or neither")
		}
		if c.Gateway.HealthFlushInterval <= 0 {
			bad("gateway.health_flush_interval", "must be positive, got %s", c.Gateway.HealthFlushInterval)
		}
		if c.Gateway.CredentialCacheTTL < 0 {
			bad("gateway.credential_cache_ttl", "must not be negative, got %s", c.Gateway.CredentialCacheTTL)
		}
	}
	if want(sectionLog) {
		switch c.Log.Level {
		case "debug", "info", "warn", "error":
		default:
			bad("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
		}
		if c.Log.Format != "json" && c.Log.Format != "text" {
			bad("log.format", "%q is not json or text", c.Log.Format)
		}
		for key, addr := range map[string]string{"metrics.api_listen": c.Metrics.APIListen, "metrics.worker_listen": c.Metrics.WorkerListen} {
			if _, _, err := net.SplitHostPort(addr); addr != "" && err != nil {
				bad(key, "%q is not host:port", addr)
			}
		}
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

// TempURLKey is backup.temp_url_key, or, when that is empty, a key derived from backup.key
// (HKDF-SHA256), so that a deployment that sets only backup.key signs with a key of its own
// that is not the backup key.
func (c Config) TempURLKey() (string, error) {
	if c.Backup.TempURLKey != "" {
		return c.Backup.TempURLKey, nil
	}
	master, err := c.BackupKeyBytes()
	if err != nil {
		return "", err
	}
	k, err := hkdf.Key(sha256.New, master, nil, "coffer swift temp url key", 32)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(k), nil
}

// GuestGatewayHostPort is where guests reach the guest gateway.
func (c Config) GuestGatewayHostPort() string {
	if c.Guest.GatewayHostPort != "" {
		return c.Guest.GatewayHostPort
	}
	return c.Gateway.Listen
}
