package redis

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestagent"
)

// tenantRules are the default user's ACL rules while root is enabled: every key and
// channel and every command but the administrative ones (CONFIG, ACL SETUSER, DEBUG,
// MODULE, SHUTDOWN, SAVE, REPLICAOF, MONITOR, CLIENT KILL, ...) and MIGRATE (which
// connects to other hosts).
const tenantRules = "~* &* +@all -@admin -migrate"

// Prepare makes the data folder if the volume has none (a restore made it already), starts
// the server with the flavor's settings, and checks that it answers. Redis has no databases
// or users to make: a request with them is ErrInvalid.
func (d *Driver) Prepare(ctx context.Context, in guest.PrepareInput) error {
	if in.Datastore != "" && in.Datastore != Datastore {
		return fmt.Errorf("prepare: datastore %q: %w: this is a %s instance", in.Datastore, guestagent.ErrInvalid, Datastore)
	}
	if len(in.Databases) > 0 || len(in.Users) > 0 {
		return fmt.Errorf("prepare: %w: %s has no databases or users", guestagent.ErrInvalid, Datastore)
	}
	if len(in.Configuration) > 0 {
		return fmt.Errorf("prepare: %w: configuration groups are not supported for %s yet", guestagent.ErrInvalid, Datastore)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.makeDataDir(); err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	if err := d.start(ctx); err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	return nil
}

// makeDataDir makes the data folder if the volume has none (a restore made it already):
// a staging folder renamed into place, so that a crash halfway leaves nothing prepared.
func (d *Driver) makeDataDir() error {
	if d.server.Prepared() {
		return nil
	}
	staging := d.server.DataDir + ".init"
	if err := os.RemoveAll(staging); err != nil {
		return err
	}
	if err := d.server.PrepareDir(staging, 0o750); err != nil {
		return err
	}
	return os.Rename(staging, d.server.DataDir)
}

// Start starts a server that Prepare made before; see guestagent.Driver. A running server
// takes the current flavor's maxmemory at once (it needs no restart). Writes a switchover
// stopped are given back (the switchover did not happen).
func (d *Driver) Start(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.server.Prepared() {
		return nil
	}
	if err := d.marks().Clear(writesStoppedFile); err != nil {
		return err
	}
	return d.start(ctx)
}

// start writes the configuration for the flavor and the replication role and starts the
// server, or sets the flavor's maxmemory and the role (applyRoles) on a running one.
func (d *Driver) start(ctx context.Context) error {
	password, err := guestagent.EnsureSecret(d.secretFile)
	if err != nil {
		return err
	}
	maxmemory := sizedMaxmemory(d.ramMB)
	if err := d.writeConfig(password, maxmemory); err != nil {
		return err
	}
	if d.server.Running() {
		c, err := d.connect(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		if err := applyMaxmemory(c, maxmemory); err != nil {
			return err
		}
		return d.applyRoles(c)
	}
	return d.server.Start(ctx, func(ctx context.Context) error {
		c, err := d.connect(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.str("PING")
		return err
	})
}

// sizedMaxmemory is maxmemory for a flavor with ramMB of memory: three quarters of it (the
// rest is the server's own, and the copy-on-write of a snapshot's fork), in bytes. With no
// RAM known (0) it is 0, Redis's "no limit".
func sizedMaxmemory(ramMB int) string {
	if ramMB <= 0 {
		return "0"
	}
	return strconv.FormatInt(int64(ramMB)*3/4<<20, 10)
}

// defaultUserRules are the tenant's ACL rules: off (no login) without root, else its
// password's hash and tenantRules, without @write while writes are blocked (a
// switchover's, a fence).
func (d *Driver) defaultUserRules() (string, error) {
	hash, err := d.rootHash()
	if err != nil {
		return "", err
	}
	if hash == "" {
		return "reset off", nil
	}
	rules := "reset on #" + hash + " " + tenantRules
	if d.writesBlocked() {
		rules += " -@write"
	}
	return rules, nil
}

// writeConfig writes the server's only configuration file: its own folders, the instance's
// address and port, the agent's socket, the ACL users (password hashes only), RDB
// snapshots (and one at shutdown), diskless replication with no delay (a backup streams the
// snapshot, nothing is written to the volume for it), the flavor's maxmemory, and the
// replication role (replicationConfig; a replica's file holds its primary's replication
// password, and is the redis user's alone).
func (d *Driver) writeConfig(agentPassword, maxmemory string) error {
	tenant, err := d.defaultUserRules()
	if err != nil {
		return err
	}
	lines := []string{
		"# Written by the Coffer guest agent at each start; changes are lost.",
		"bind " + d.server.Address,
		"port " + strconv.Itoa(d.server.Port),
		"protected-mode no",
		"unixsocket " + d.server.socket(),
		"unixsocketperm 700",
		"pidfile " + d.server.PIDFile,
		"daemonize no",
		"logfile \"\"",
		"dir " + d.server.DataDir,
		"dbfilename " + rdbName,
		"save 3600 1 300 100 60 10000",
		"appendonly no",
		"repl-diskless-sync yes",
		"repl-diskless-sync-delay 0",
		"enable-protected-configs no",
		"enable-debug-command no",
		"enable-module-command no",
		"maxmemory " + maxmemory,
		"maxmemory-policy noeviction",
		// The process title would overwrite the environment, where the machine's process
		// supervisor marks a server's processes (a crashed server's redis-server lived on).
		"set-proc-title no",
		"user " + agentUser + " reset on " + passwordHash(agentPassword) + " ~* &* +@all",
		"user default " + tenant,
	}
	repl, err := d.replicationConfig()
	if err != nil {
		return err
	}
	lines = append(append(lines, repl...), "")
	if err := d.server.WriteOwned(d.server.ConfigFile+".tmp", []byte(strings.Join(lines, "\n"))); err != nil {
		return fmt.Errorf("write %s: %w", d.server.ConfigFile, err)
	}
	if err := os.Rename(d.server.ConfigFile+".tmp", d.server.ConfigFile); err != nil {
		return fmt.Errorf("write %s: %w", d.server.ConfigFile, err)
	}
	return nil
}

// applyMaxmemory sets the flavor's maxmemory on a running server where it differs.
func applyMaxmemory(c *conn, maxmemory string) error {
	current, err := c.configGet("maxmemory")
	if err != nil {
		return fmt.Errorf("read maxmemory: %w", err)
	}
	if current == maxmemory {
		return nil
	}
	if _, err := c.str("CONFIG", "SET", "maxmemory", maxmemory); err != nil {
		return fmt.Errorf("set maxmemory: %w", err)
	}
	return nil
}
