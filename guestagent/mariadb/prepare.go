package mariadb

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestagent"
)

// Prepare validates the whole request first, then installs the server if the volume has
// none, starts it with the flavor's settings, and creates the databases and then the users.
func (d *Driver) Prepare(ctx context.Context, in guest.PrepareInput) error {
	if in.Datastore != "" && in.Datastore != Datastore {
		return fmt.Errorf("prepare: datastore %q: %w: this is a %s instance", in.Datastore, guestagent.ErrInvalid, Datastore)
	}
	for _, db := range in.Databases {
		if err := validateDatabase(db); err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
	}
	for _, u := range in.Users {
		if err := validateUser(u); err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
	}
	if in.Configuration != nil {
		if err := validateValues(in.Configuration); err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
		if err := d.writeGroup(groupText(in.Configuration)); err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
	}
	if err := d.installAndStart(ctx); err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	if err := d.CreateDatabases(ctx, in.Databases); err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	if err := d.CreateUsers(ctx, in.Users); err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	return nil
}

func (d *Driver) installAndStart(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.server.Installed() {
		// The data came otherwise (a restore): the folder made at boot is not needed.
		if err := d.ahead.Discard(ctx); err != nil {
			return err
		}
		return d.start(ctx)
	}
	made, err := d.ahead.Take(ctx)
	if err != nil {
		return err
	}
	if made {
		if err := os.Rename(d.ahead.Dir, d.server.DataDir); err != nil {
			return fmt.Errorf("move the data folder made at boot into place: %w", err)
		}
		if err := d.ahead.Adopted(); err != nil {
			return err
		}
	} else if err := d.server.Install(ctx); err != nil {
		return err
	}
	return d.start(ctx)
}

// MakeAhead runs mariadb-install-db at the agent's boot, before Prepare asks for a server,
// into the staging folder d.ahead (see guestagent.AheadMaker), which installAndStart adopts.
func (d *Driver) MakeAhead(ctx context.Context) (bool, error) {
	d.mu.Lock()
	claimed := !d.server.Installed() && d.ahead.Claim()
	d.mu.Unlock()
	if !claimed {
		return false, nil
	}
	return true, d.ahead.Fill(ctx, func(ctx context.Context) error { return d.server.installInto(ctx, d.ahead.Dir) })
}

// Start starts a server that Prepare installed before; see guestagent.Driver. A running
// server takes the current flavor's settings at once (both are dynamic in MariaDB 10.11).
// A primary whose writes a switchover stopped takes writes again (the switchover did not
// happen); a replica and a fenced engine stay read-only.
func (d *Driver) Start(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.server.Installed() {
		return nil
	}
	// A folder made ahead that a restore or a seed made needless, left by a crash.
	if err := d.ahead.Discard(ctx); err != nil {
		return err
	}
	if err := d.unmark(writesStoppedFile); err != nil {
		return err
	}
	return d.start(ctx)
}

// start writes the configuration file for the flavor and starts the server with an init
// file that (re)makes the agent's account with its password, so that a first start, a start
// after a crash halfway through the first one, and every later one converge. The init file
// holds the password: it is the system user's alone and removed once the server is up.
func (d *Driver) start(ctx context.Context) error {
	sized, err := d.sizedByFlavor()
	if err != nil {
		return err
	}
	if err := d.writeConfig(); err != nil {
		return err
	}
	if d.server.Running() {
		return d.applySized(ctx, sized)
	}
	password, err := guestagent.EnsureSecret(d.secretFile)
	if err != nil {
		return err
	}
	initFile := filepath.Join(filepath.Dir(d.server.ConfigFile), "coffer-init.sql")
	if err := d.server.WriteOwned(initFile, []byte(initSQL(password))); err != nil {
		return fmt.Errorf("write the init file: %w", err)
	}
	defer os.Remove(initFile)
	if err := d.server.Start(ctx, initFile); err != nil {
		return err
	}
	// The init file runs before the server takes connections; a session proves it ran.
	db, err := d.connect(ctx)
	if err != nil {
		return err
	}
	return db.Close()
}

// initSQL makes the agent's account (the only one with every privilege, over the socket
// only) and drops the accounts mariadb-install-db made for the OS's root and mysql users:
// the tenant's root is a managed user (root.go), never the engine's superuser. The password
// is base64url, so it needs no escaping in a literal.
func initSQL(password string) string {
	return strings.Join([]string{
		// Nothing of the agent's own account goes to the binary log: a replica replays
		// its primary's log, and its GTIDs are the primary's alone (gtid_strict_mode);
		// nor to the general or slow query log, since it carries the password.
		"SET SESSION sql_log_bin = 0;",
		"SET SESSION sql_log_off = 1;",
		"SET SESSION slow_query_log = 0;",
		"CREATE USER IF NOT EXISTS '" + agentUser + "'@'localhost' IDENTIFIED BY '" + password + "';",
		"ALTER USER '" + agentUser + "'@'localhost' IDENTIFIED BY '" + password + "';",
		"GRANT ALL PRIVILEGES ON *.* TO '" + agentUser + "'@'localhost' WITH GRANT OPTION;",
		"DROP USER IF EXISTS 'root'@'localhost';",
		"DROP USER IF EXISTS 'mysql'@'localhost';",
		"",
	}, "\n")
}

// sizedSettings are the settings sized from a flavor with ramMB of memory:
//
//   - innodb_buffer_pool_size: half the RAM, in whole 128 MiB chunks (InnoDB rounds to
//     them), at least one chunk;
//   - max_connections: one per 8 MiB of RAM, between 50 and 2000.
//
// With no RAM known (0), both keep MariaDB's defaults (128 MiB, 151).
func sizedSettings(ramMB int) map[string]string {
	if ramMB <= 0 {
		return map[string]string{"innodb_buffer_pool_size": "134217728", "max_connections": "151"}
	}
	chunks := max(ramMB/2/128, 1)
	return map[string]string{
		"innodb_buffer_pool_size": strconv.Itoa(chunks * 128 << 20),
		"max_connections":         strconv.Itoa(min(max(ramMB/8, 50), 2000)),
	}
}

// sizedByFlavor are the settings sized from the flavor that the configuration group does
// not set: the group's values win.
func (d *Driver) sizedByFlavor() (map[string]string, error) {
	group, _, err := d.readGroup()
	if err != nil {
		return nil, err
	}
	sized := sizedSettings(d.ramMB)
	for name := range group {
		delete(sized, name)
	}
	return sized, nil
}

// writeConfig writes the server's only configuration file (it starts with --defaults-file,
// so /etc/mysql is never read): its own folders, the instance's address and port, no
// server files for anyone (secure_file_priv on an empty folder, no LOAD DATA LOCAL), and
// the flavor's settings (those the group does not set), the guest logs as they were turned
// on or off, and at its end the configuration group's file, which wins over all before it.
func (d *Driver) writeConfig() error {
	sized, err := d.sizedByFlavor()
	if err != nil {
		return err
	}
	files := filepath.Join(d.volume, "files")
	if err := d.server.PrepareDir(files, 0o700); err != nil {
		return err
	}
	lines := []string{
		"# Written by the Coffer guest agent at each start; changes are lost.",
		"[mariadbd]",
		"datadir=" + d.server.DataDir,
		"socket=" + d.server.socket(),
		"pid-file=" + d.server.PIDFile,
		"log-error=" + d.server.LogFile,
		"bind-address=" + d.server.Address,
		"port=" + strconv.Itoa(d.server.Port),
		"skip-name-resolve",
		"local-infile=0",
		"secure-file-priv=" + files,
		"symbolic-links=0",
		"character-set-server=utf8mb4",
		"collation-server=utf8mb4_general_ci",
	}
	for _, name := range slices.Sorted(maps.Keys(sized)) {
		lines = append(lines, name+"="+sized[name])
	}
	lines = append(lines, d.logSettings()...)
	lines = append(lines, d.replicationSettings()...)
	if _, err := os.Stat(d.groupFile()); errors.Is(err, fs.ErrNotExist) {
		if err := d.writeGroup(nil); err != nil {
			return err
		}
	}
	lines = append(lines, "!include "+d.groupFile(), "")
	if err := guestagent.WriteFileSync(d.server.ConfigFile, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", d.server.ConfigFile, err)
	}
	return nil
}

// applySized sets the flavor's settings on a running server (after a resize of the server
// under it), where they differ, and read_only as the engine's role wants it.
func (d *Driver) applySized(ctx context.Context, sized map[string]string) error {
	db, err := d.connect(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := d.applyReadOnly(ctx, db); err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(sized)) {
		var current string
		if err := db.QueryRowContext(ctx, "SELECT @@GLOBAL."+name).Scan(&current); err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		if current == sized[name] {
			continue
		}
		if _, err := db.ExecContext(ctx, "SET GLOBAL "+name+" = "+sized[name]); err != nil {
			return fmt.Errorf("set %s: %w", name, err)
		}
	}
	return nil
}
