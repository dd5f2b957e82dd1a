package redis

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestagent"
)

var _ guestagent.Driver = (*Driver)(nil)

const (
	// Datastore is the datastore name this driver serves.
	Datastore = "redis"
	// Port is where Redis listens on the instance's fixed IP.
	Port = 6379
	// agentUser is the ACL user the agent connects as, over the socket only.
	agentUser = "coffer_agent"
)

// Driver runs Redis for one instance. Make it with New.
type Driver struct {
	guestagent.DataVolume
	server     *server
	volume     string
	secretFile string
	// rootFile holds the SHA-256 of the tenant's password (the default user's) while
	// root is enabled; never the password itself.
	rootFile string
	ramMB    int

	// mu serializes what changes the server's lifecycle (prepare, start, stop, restore).
	mu sync.Mutex
}

// New returns the driver for the instance on host; cfg gives its ID. The server keeps its
// data on the volume and listens on the server's address. New touches nothing on disk.
func New(cfg guest.Config, host guestagent.Host) (guestagent.Driver, error) {
	if host.Volume == nil || host.Volume.Path() == "" {
		return nil, errors.New("redis driver: the instance has no volume to keep its data on")
	}
	if host.Address == "" {
		return nil, errors.New("redis driver: the instance has no address to listen on")
	}
	volume, err := filepath.Abs(host.Volume.Path())
	if err != nil {
		return nil, fmt.Errorf("redis driver: volume path: %w", err)
	}
	runDir := guestagent.RunDir(volume, cfg.InstanceID, socketName, Datastore)
	return &Driver{
		DataVolume: guestagent.DataVolume{Data: host.Volume},
		server: &server{
			Daemon: guestagent.Daemon{
				PIDFile:    filepath.Join(runDir, pidName),
				Programs:   []string{"redis-server"},
				SystemUser: "redis",
			},
			DataDir:    filepath.Join(volume, "redis"),
			RunDir:     runDir,
			ConfigFile: filepath.Join(volume, "redis.conf"),
			LogFile:    filepath.Join(volume, "redis.log"),
			Address:    host.Address,
			Port:       Port,
		},
		volume:     volume,
		secretFile: filepath.Join(volume, "agent.secret"),
		rootFile:   filepath.Join(volume, "root.sha256"),
		ramMB:      host.RAMMB,
	}, nil
}

// connect opens a session as the agent over the socket.
func (d *Driver) connect(ctx context.Context) (*conn, error) {
	password, err := guestagent.ReadSecret(d.secretFile)
	if err != nil {
		return nil, err
	}
	c, err := dial(ctx, "unix", d.server.socket(), agentUser, password)
	if err != nil {
		return nil, fmt.Errorf("connect to redis: %w", err)
	}
	return c, nil
}

// Stop stops the server cleanly (it saves its data first); a stopped server is no error.
func (d *Driver) Stop(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.server.Stop(ctx)
}

// passwordHash is an ACL password rule that holds a password's SHA-256, not the password.
func passwordHash(password string) string {
	sum := sha256.Sum256([]byte(password))
	return "#" + hex.EncodeToString(sum[:])
}
