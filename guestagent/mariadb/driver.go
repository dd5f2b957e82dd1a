package mariadb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"path/filepath"
	"strings"
	"sync"

	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestagent"
	"github.com/go-sql-driver/mysql"
)

var (
	_ guestagent.Driver     = (*Driver)(nil)
	_ guestagent.AheadMaker = (*Driver)(nil)
)

const (
	// Datastore is the datastore name this driver serves.
	Datastore = "mariadb"
	// Port is where MariaDB listens on the instance's fixed IP.
	Port = 3306
	// agentUser is the account the agent connects as, over the socket only; tenants may
	// not use the name.
	agentUser = "coffer_agent"
)

// Driver runs MariaDB for one instance. Make it with New.
type Driver struct {
	server     *server
	volume     string
	secretFile string
	ramMB      int
	// DataVolume is the mounted data volume (the Driver's volume methods).
	guestagent.DataVolume
	// serverID is the instance's server_id, unique in its replication group.
	serverID uint32

	// mu serializes what changes the server's lifecycle (install, start, stop).
	mu sync.Mutex
	// ahead is the data folder mariadb-install-db made at the agent's boot (MakeAhead).
	ahead guestagent.Ahead
}

// New returns the driver for the instance on host; cfg gives its ID. The server keeps its
// data on the volume and listens on the server's address. New touches nothing on disk.
func New(cfg guest.Config, host guestagent.Host) (guestagent.Driver, error) {
	if host.Volume == nil || host.Volume.Path() == "" {
		return nil, errors.New("mariadb driver: the instance has no volume to keep its data on")
	}
	if host.Address == "" {
		return nil, errors.New("mariadb driver: the instance has no address to listen on")
	}
	volume, err := filepath.Abs(host.Volume.Path())
	if err != nil {
		return nil, fmt.Errorf("mariadb driver: volume path: %w", err)
	}
	runDir := guestagent.RunDir(volume, cfg.InstanceID, socketName, Datastore)
	return &Driver{
		server: &server{
			DataDir:    filepath.Join(volume, "mariadb"),
			RunDir:     runDir,
			ConfigFile: filepath.Join(volume, "coffer.cnf"),
			LogFile:    filepath.Join(volume, "mariadb.log"),
			Address:    host.Address,
			Port:       Port,
			Daemon: guestagent.Daemon{
				PIDFile:    filepath.Join(runDir, pidName),
				Programs:   []string{"mariadbd", "mysqld"},
				SystemUser: "mysql",
			},
		},
		volume:     volume,
		secretFile: filepath.Join(volume, "agent.secret"),
		ramMB:      host.RAMMB,
		DataVolume: guestagent.DataVolume{Data: host.Volume},
		serverID:   serverID(cfg.InstanceID, volume),
		ahead:      guestagent.Ahead{Dir: filepath.Join(volume, "mariadb.ahead")},
	}, nil
}

// serverID derives the instance's server_id from its ID (from the volume's path when it has
// none): 1 to 2^32-1, distinct within a group but by a 1 in 4 billion chance.
func serverID(instanceID, volume string) uint32 {
	h := fnv.New32a()
	if instanceID != "" {
		h.Write([]byte(instanceID))
	} else {
		h.Write([]byte(volume))
	}
	if id := h.Sum32(); id != 0 {
		return id
	}
	return 1
}

// connect opens a pool of one session to the server as the agent, over the socket. Values
// are quoted by the client (interpolateParams), so that statements that take no bind
// parameters on the server (CREATE USER ... IDENTIFIED BY) still get their values quoted.
func (d *Driver) connect(ctx context.Context) (*sql.DB, error) {
	password, err := guestagent.ReadSecret(d.secretFile)
	if err != nil {
		return nil, err
	}
	cfg := mysql.NewConfig()
	cfg.User = agentUser
	cfg.Passwd = password
	cfg.Net = "unix"
	cfg.Addr = d.server.socket()
	cfg.InterpolateParams = true
	// The agent's statements carry passwords (CREATE USER ... IDENTIFIED BY): none of its
	// sessions writes to the general or the slow query log.
	cfg.Params = map[string]string{"sql_log_off": "1", "slow_query_log": "0"}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to mariadb: %w", err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to mariadb as %s: %w", agentUser, err)
	}
	return db, nil
}

// Stop stops the server cleanly; a stopped server is no error.
func (d *Driver) Stop(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.server.Stop(ctx)
}

// classify marks the engine's refusals of the request itself (an unknown character set or
// collation, a bad name, a grant refused: MariaDB's client errors 1xxx that a retry cannot
// mend) as guestagent.ErrInvalid; anything else (a connection lost) stays retryable.
func classify(err error) error {
	var my *mysql.MySQLError
	if errors.As(err, &my) {
		switch my.Number {
		case 1044, 1045, 1049, 1064, 1102, 1115, 1141, 1142, 1227, 1253, 1273, 1396, 1470:
			return fmt.Errorf("%w: %w", guestagent.ErrInvalid, err)
		}
	}
	return err
}

// quoteName quotes a validated database name as a MariaDB identifier.
func quoteName(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}
