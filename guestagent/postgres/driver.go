package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestagent"
	"github.com/coffer-dbaas/coffer/pgcluster"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

var (
	_ guestagent.Driver     = (*Driver)(nil)
	_ guestagent.AheadMaker = (*Driver)(nil)
)

const (
	// Port is where PostgreSQL listens on the instance's fixed IP.
	Port = 5432
	// agentRole is the superuser the agent connects as; tenants may not use the name.
	agentRole = "coffer_agent"
	// maxSocketPath is the longest Unix socket path Linux takes (sun_path is 108 bytes).
	maxSocketPath = 107
)

// Driver runs PostgreSQL for one instance. Make it with New.
type Driver struct {
	cluster    *pgcluster.Cluster
	volume     string
	secretFile string
	// valuesFile keeps the configuration group's values (configuration.go).
	valuesFile string
	ramMB      int
	// DataVolume is the mounted data volume (the Driver's volume methods).
	guestagent.DataVolume

	// mu serializes what changes the cluster's lifecycle (init, start, stop).
	mu sync.Mutex
	// ahead is the cluster initdb made at the agent's boot, before Prepare (MakeAhead).
	ahead guestagent.Ahead
}

// New returns the driver for the instance on host; cfg gives its ID. The cluster lives on
// the data volume and listens on the server's address. New touches nothing on disk.
func New(cfg guest.Config, host guestagent.Host) (guestagent.Driver, error) {
	d, err := newDriver(cfg.InstanceID, host)
	if err != nil {
		return nil, err
	}
	d.cluster.BinDir = binDir(cfg.Version)
	return d, nil
}

// binDir is where the binaries of version ("15", "15.4") are, or "" (the newest installed)
// when the image does not have that version; pg_ctl refuses a data folder of another major
// version, so a mismatch shows up as a start error.
func binDir(version string) string {
	major, _, _ := strings.Cut(version, ".")
	if major == "" || strings.ContainsAny(major, "/") {
		return ""
	}
	dir := filepath.Join("/usr/lib/postgresql", major, "bin")
	if _, err := os.Stat(filepath.Join(dir, "initdb")); err != nil {
		return ""
	}
	return dir
}

func newDriver(instanceID string, host guestagent.Host) (*Driver, error) {
	if host.Volume == nil || host.Volume.Path() == "" {
		return nil, errors.New("postgres driver: the instance has no volume to keep its data on")
	}
	if host.Address == "" {
		return nil, errors.New("postgres driver: the instance has no address to listen on")
	}
	volume, err := filepath.Abs(host.Volume.Path())
	if err != nil {
		return nil, fmt.Errorf("postgres driver: volume path: %w", err)
	}
	return &Driver{
		cluster: &pgcluster.Cluster{
			DataDir:   filepath.Join(volume, "pgdata"),
			Host:      host.Address,
			Port:      Port,
			SocketDir: socketDir(volume, instanceID),
			LogFile:   filepath.Join(volume, "postgresql.log"),
		},
		volume:     volume,
		secretFile: filepath.Join(volume, "agent.secret"),
		valuesFile: filepath.Join(volume, "configuration.json"),
		ramMB:      host.RAMMB,
		DataVolume: guestagent.DataVolume{Data: host.Volume},
		ahead:      guestagent.Ahead{Dir: filepath.Join(volume, "pgdata.ahead")},
	}, nil
}

// socketDir is <volume>/run, or a folder under /tmp named for the instance when the socket's
// path would be too long for the kernel.
func socketDir(volume, instanceID string) string {
	dir := filepath.Join(volume, "run")
	if len(filepath.Join(dir, fmt.Sprintf(".s.PGSQL.%d", Port))) <= maxSocketPath {
		return dir
	}
	prefix := instanceID
	if len(prefix) > 8 {
		prefix = prefix[:8]
	}
	if prefix == "" {
		h := fnv.New32a()
		h.Write([]byte(volume))
		prefix = fmt.Sprintf("%08x", h.Sum32())
	}
	return "/tmp/coffer-" + prefix
}

// connect opens a session to database as the agent's superuser over the socket.
func (d *Driver) connect(ctx context.Context, database string) (*pgx.Conn, error) {
	password, err := d.readSecret()
	if err != nil {
		return nil, err
	}
	cfg, err := pgx.ParseConfig(d.cluster.SocketDSN(agentRole, "postgres"))
	if err != nil {
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	cfg.Database = database
	cfg.Password = password
	// The agent's statements carry passwords: never in the server's log, which a tenant
	// may publish (log.go).
	cfg.RuntimeParams["log_statement"] = "none"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to database %s as %s: %w", database, agentRole, err)
	}
	return conn, nil
}

// Stop stops the cluster (fast shutdown: sessions end, nothing committed is lost).
func (d *Driver) Stop(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cluster.Stop(ctx)
}

// classify marks the engine's refusals of the request itself (bad names, unknown locales,
// reserved roles: SQLSTATE classes 22 and 42) as guestagent.ErrInvalid, so they are not
// retried; anything else (a connection lost, the server starting) stays retryable.
func classify(err error) error {
	switch state := sqlState(err); {
	case strings.HasPrefix(state, "22"), strings.HasPrefix(state, "42"):
		return fmt.Errorf("%w: %w", guestagent.ErrInvalid, err)
	}
	return err
}

// sqlState is the SQLSTATE of a server error, or "".
func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}
