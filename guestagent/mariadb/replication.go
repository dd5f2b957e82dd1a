package mariadb

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestagent"
)

var _ guestagent.Replicator = (*Driver)(nil)

// MariaDB replication with GTIDs. Every server writes a binary log (row events, with what
// it replays too, so that any replica can become the primary) in GTID domain 0, with its
// own server_id and gtid_strict_mode. A replica follows its primary with MASTER_USE_GTID =
// slave_pos and is read-only; the agent's own account never writes the binary log.
const (
	// replicationUser is the account replicas connect as; tenants may not use the name.
	replicationUser = "coffer_repl"
	// replicationSecret (on the volume) holds replicationUser's password, made once on the
	// first primary and handed to every replica, which keeps it for when it is promoted.
	replicationSecret = "replication.secret"
	// replicaFile marks a replica; fencedFile an engine ejected from its group, read-only
	// for good; writesStoppedFile a primary whose writes a switchover stopped (Start lifts
	// it).
	replicaFile       = "replica"
	fencedFile        = "fenced"
	writesStoppedFile = "writes-stopped"
	// gtidDomain is the replication domain every server writes in.
	gtidDomain = 0
	// binlogKeepSeconds is how long the binary log is kept: a replica that was away longer
	// is seeded again.
	binlogKeepSeconds = 7 * 24 * 3600
	// waitStep is how long one MASTER_GTID_WAIT waits before the context is looked at.
	waitStep = time.Second
	// replicationPrivileges let replicationUser stream the binary log and take the
	// consistent logical copy a new replica is seeded from (mariadb-dump).
	replicationPrivileges = "SELECT, RELOAD, LOCK TABLES, SHOW VIEW, EVENT, TRIGGER, REPLICATION SLAVE, BINLOG MONITOR, REPLICA MONITOR"
)

// replicationSettings are the configuration lines of replication: the binary log and the
// GTIDs, and read_only on a replica, a fenced engine and a primary whose writes stopped.
func (d *Driver) replicationSettings() []string {
	lines := []string{
		"server-id=" + strconv.FormatUint(uint64(d.serverID), 10),
		"log-bin=mariadb-bin",
		"relay-log=relay-bin",
		"binlog-format=ROW",
		"log-slave-updates=ON",
		"gtid-domain-id=" + strconv.Itoa(gtidDomain),
		"gtid-strict-mode=ON",
		"binlog-expire-logs-seconds=" + strconv.Itoa(binlogKeepSeconds),
	}
	if d.readOnly() {
		lines = append(lines, "read-only=ON")
	}
	if d.marked(fencedFile) {
		lines = append(lines, "skip-slave-start")
	}
	return lines
}

func (d *Driver) marked(name string) bool { return guestagent.Marks(d.volume).Has(name) }

func (d *Driver) mark(name string) error { return guestagent.Marks(d.volume).Set(name) }

func (d *Driver) unmark(name string) error { return guestagent.Marks(d.volume).Clear(name) }

// readOnly says whether tenants may not write: on a replica, a fenced engine, or a primary
// whose writes a switchover stopped.
func (d *Driver) readOnly() bool {
	return d.marked(replicaFile) || d.marked(fencedFile) || d.marked(writesStoppedFile)
}

// applyReadOnly sets read_only on a running server as readOnly says. Setting it on waits
// (at most lockWait) for the transactions that commit meanwhile, so that once it returns
// every acknowledged commit is in the binary log and no tenant writes more.
func (d *Driver) applyReadOnly(ctx context.Context, db *sql.DB) error {
	want := 0
	if d.readOnly() {
		want = 1
	}
	var current int
	if err := db.QueryRowContext(ctx, "SELECT @@GLOBAL.read_only").Scan(&current); err != nil {
		return fmt.Errorf("read read_only: %w", err)
	}
	if current == want {
		return nil
	}
	if _, err := db.ExecContext(ctx, "SET SESSION lock_wait_timeout = 30"); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, "SET GLOBAL read_only = "+strconv.Itoa(want)); err != nil {
		return fmt.Errorf("set read_only: %w", err)
	}
	return nil
}

// ReplicationSource makes the replication account on this primary (its password made once)
// and returns how a replica reaches it. The account is not written to the binary log:
// replicas get it with their copy.
func (d *Driver) ReplicationSource(ctx context.Context, slot string) (guest.ReplicationSource, error) {
	if err := guestagent.ValidSlot(slot); err != nil {
		return guest.ReplicationSource{}, fmt.Errorf("replication source: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.marked(replicaFile) || d.marked(fencedFile) {
		return guest.ReplicationSource{}, fmt.Errorf("replication source: %w: this engine is not a primary", guestagent.ErrInvalid)
	}
	agentPassword, err := guestagent.ReadSecret(d.secretFile)
	if err != nil {
		return guest.ReplicationSource{}, fmt.Errorf("replication source: %w", err)
	}
	password, err := guestagent.EnsureSecret(filepath.Join(d.volume, replicationSecret))
	if err != nil {
		return guest.ReplicationSource{}, fmt.Errorf("replication source: %w", err)
	}
	db, err := d.connect(ctx)
	if err != nil {
		return guest.ReplicationSource{}, fmt.Errorf("replication source: %w", err)
	}
	defer db.Close()
	for _, stmt := range []string{
		"SET SESSION sql_log_bin = 0",
		"CREATE USER IF NOT EXISTS '" + replicationUser + "'@'%' IDENTIFIED BY ?",
		"ALTER USER '" + replicationUser + "'@'%' IDENTIFIED BY ?",
		"GRANT " + replicationPrivileges + " ON *.* TO '" + replicationUser + "'@'%'",
	} {
		var args []any
		if strings.Contains(stmt, "?") {
			args = append(args, password)
		}
		if _, err := db.ExecContext(ctx, stmt, args...); err != nil {
			return guest.ReplicationSource{}, fmt.Errorf("replication source: make the account %s: %w", replicationUser, err)
		}
	}
	return guest.ReplicationSource{
		Host: d.server.Address, Port: d.server.Port, User: replicationUser,
		Password: password, AgentPassword: agentPassword, Slot: slot,
	}, nil
}

// gtidSlavePosLine is the line of mariadb-dump --master-data=2 --gtid that holds the copy's
// GTID position, commented out.
var gtidSlavePosLine = regexp.MustCompile(`^-- SET GLOBAL gtid_slave_pos='([0-9,-]*)';`)

// SeedReplica makes this new engine a replica of src: a new server (with the primary's
// agent password, since the copy holds the primary's accounts), a consistent copy of
// every database (mariadb-dump --single-transaction from src, streamed into the server
// without going through the binary log), the copy's GTID position as gtid_slave_pos, then
// CHANGE MASTER TO src with MASTER_USE_GTID = slave_pos, read-only, START SLAVE. An engine
// seeded already is only started; one whose seeding was cut short is made again.
func (d *Driver) SeedReplica(ctx context.Context, src guest.ReplicationSource) error {
	if err := guestagent.ValidSlot(src.Slot); err != nil {
		return fmt.Errorf("seed replica: %w", err)
	}
	if src.Host == "" || src.Port == 0 || src.User == "" || src.Password == "" || src.AgentPassword == "" {
		return fmt.Errorf("seed replica: %w: the source lacks its address, account or passwords", guestagent.ErrInvalid)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	// The data comes from the primary: the folder made at boot is not needed.
	if err := d.ahead.Discard(ctx); err != nil {
		return fmt.Errorf("seed replica: %w", err)
	}
	if d.marked(replicaFile) && d.server.Installed() {
		return d.start(ctx)
	}
	if d.server.Installed() {
		// A copy cut short: start over from an empty server.
		if err := d.server.Stop(ctx); err != nil {
			return fmt.Errorf("seed replica: %w", err)
		}
		if err := os.RemoveAll(d.server.DataDir); err != nil {
			return fmt.Errorf("seed replica: remove a partial copy: %w", err)
		}
	}
	if err := guestagent.WriteFileSync(d.secretFile, []byte(src.AgentPassword+"\n"), 0o600); err != nil {
		return fmt.Errorf("seed replica: write the agent's password: %w", err)
	}
	if err := guestagent.WriteFileSync(filepath.Join(d.volume, replicationSecret), []byte(src.Password+"\n"), 0o600); err != nil {
		return fmt.Errorf("seed replica: write the replication password: %w", err)
	}
	if err := d.server.Install(ctx); err != nil {
		return fmt.Errorf("seed replica: %w", err)
	}
	if err := d.start(ctx); err != nil {
		return fmt.Errorf("seed replica: %w", err)
	}
	pos, err := d.copyFrom(ctx, src)
	if err != nil {
		return fmt.Errorf("seed replica from %s: %w", src, err)
	}
	db, err := d.connect(ctx)
	if err != nil {
		return fmt.Errorf("seed replica: %w", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "FLUSH PRIVILEGES"); err != nil {
		return fmt.Errorf("seed replica: %w", err)
	}
	if _, err := db.ExecContext(ctx, "SET GLOBAL gtid_slave_pos = ?", pos); err != nil {
		return fmt.Errorf("seed replica: set gtid_slave_pos: %w", err)
	}
	if err := d.follow(ctx, db, src); err != nil {
		return fmt.Errorf("seed replica: %w", err)
	}
	return nil
}

// copyFrom streams mariadb-dump of src into this server and returns the copy's GTID
// position. Both clients read their passwords from defaults files only the agent reads,
// removed afterwards.
func (d *Driver) copyFrom(ctx context.Context, src guest.ReplicationSource) (string, error) {
	work := filepath.Join(d.volume, "seed-work")
	if err := os.RemoveAll(work); err != nil {
		return "", err
	}
	if err := os.MkdirAll(work, 0o700); err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	agentPassword, err := guestagent.ReadSecret(d.secretFile)
	if err != nil {
		return "", err
	}
	srcCnf := filepath.Join(work, "source.cnf")
	if err := os.WriteFile(srcCnf, []byte("[client]\nuser="+src.User+"\npassword="+src.Password+
		"\nhost="+src.Host+"\nport="+strconv.Itoa(src.Port)+"\nprotocol=tcp\n"), 0o600); err != nil {
		return "", err
	}
	localCnf := filepath.Join(work, "local.cnf")
	if err := os.WriteFile(localCnf, []byte("[client]\nuser="+agentUser+"\npassword="+agentPassword+
		"\nsocket="+d.server.socket()+"\nprotocol=socket\n"), 0o600); err != nil {
		return "", err
	}
	dump := exec.CommandContext(ctx, "/usr/bin/mariadb-dump", "--defaults-file="+srcCnf,
		"--all-databases", "--single-transaction", "--master-data=2", "--gtid",
		"--routines", "--events", "--triggers", "--flush-privileges", "--hex-blob",
		"--ignore-table=mysql.gtid_slave_pos", "--ignore-table=mysql.transaction_registry")
	load := exec.CommandContext(ctx, "/usr/bin/mariadb", "--defaults-file="+localCnf,
		"--init-command=SET SESSION sql_log_bin = 0", "--binary-mode")
	dumpErr, loadErr := &guestagent.TailBuffer{Max: 8192}, &guestagent.TailBuffer{Max: 8192}
	dump.Stderr, load.Stderr = dumpErr, loadErr
	out, err := dump.StdoutPipe()
	if err != nil {
		return "", err
	}
	pr, pw := io.Pipe()
	load.Stdin = pr
	if err := dump.Start(); err != nil {
		return "", fmt.Errorf("mariadb-dump: %w", err)
	}
	if err := load.Start(); err != nil {
		_ = dump.Process.Kill()
		_ = dump.Wait()
		return "", fmt.Errorf("mariadb: %w", err)
	}
	// Copy the dump to the loader, noting the GTID position as it passes.
	var pos string
	found := false
	copied := make(chan error, 1)
	go func() {
		r := bufio.NewReaderSize(out, 1<<20)
		for {
			line, err := r.ReadBytes('\n')
			if len(line) > 0 {
				if !found {
					if m := gtidSlavePosLine.FindSubmatch(line); m != nil {
						pos, found = string(m[1]), true
					}
				}
				if _, werr := pw.Write(line); werr != nil {
					copied <- werr
					return
				}
			}
			if err == io.EOF {
				copied <- nil
				return
			}
			if err != nil {
				copied <- err
				return
			}
		}
	}()
	cerr := <-copied
	pw.CloseWithError(cerr)
	derr := dump.Wait()
	lerr := load.Wait()
	switch {
	case derr != nil:
		return "", fmt.Errorf("mariadb-dump: %w: %s", derr, guestagent.LastLines(dumpErr.B.Bytes(), 5))
	case lerr != nil:
		return "", fmt.Errorf("load the copy: %w: %s", lerr, guestagent.LastLines(loadErr.B.Bytes(), 5))
	case cerr != nil:
		return "", fmt.Errorf("copy: %w", cerr)
	case !found:
		return "", errors.New("mariadb-dump gave no GTID position")
	}
	return pos, nil
}

// follow makes the running server a read-only replica of src from its gtid_slave_pos.
func (d *Driver) follow(ctx context.Context, db *sql.DB, src guest.ReplicationSource) error {
	if err := d.mark(replicaFile); err != nil {
		return err
	}
	if err := d.writeConfig(); err != nil {
		return err
	}
	if err := d.applyReadOnly(ctx, db); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, "STOP SLAVE"); err != nil {
		return fmt.Errorf("stop slave: %w", err)
	}
	_, err := db.ExecContext(ctx, "CHANGE MASTER TO MASTER_HOST = ?, MASTER_PORT = ?, MASTER_USER = ?, MASTER_PASSWORD = ?, "+
		"MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 5", src.Host, src.Port, src.User, src.Password)
	if err != nil {
		return fmt.Errorf("change master to %s:%d: %w", src.Host, src.Port, classify(err))
	}
	if _, err := db.ExecContext(ctx, "START SLAVE"); err != nil {
		return fmt.Errorf("start slave: %w", err)
	}
	return nil
}

// slaveStatus is SHOW SLAVE STATUS's row by column, nil when the server replicates from
// no one.
func slaveStatus(ctx context.Context, db *sql.DB) (map[string]string, error) {
	rows, err := db.QueryContext(ctx, "SHOW SLAVE STATUS")
	if err != nil {
		return nil, fmt.Errorf("show slave status: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	if !rows.Next() {
		return nil, rows.Err()
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	st := make(map[string]string, len(cols))
	for i, c := range cols {
		st[c] = vals[i].String
	}
	if st["Master_Host"] == "" {
		return nil, nil
	}
	return st, nil
}

// gtidSeq is the sequence number of the GTID position's domain gtidDomain ("0-1-42" is 42),
// 0 when it has none.
func gtidSeq(pos string) guest.LSN {
	for _, g := range strings.Split(pos, ",") {
		parts := strings.Split(strings.TrimSpace(g), "-")
		if len(parts) != 3 || parts[0] != strconv.Itoa(gtidDomain) {
			continue
		}
		if n, err := strconv.ParseUint(parts[2], 10, 64); err == nil {
			return guest.LSN(n)
		}
	}
	return 0
}

// validPosition checks a GTID position ("", or domain-server-seq, comma-separated).
var validPosition = regexp.MustCompile(`^([0-9]+-[0-9]+-[0-9]+(,[0-9]+-[0-9]+-[0-9]+)*)?$`)

// ReplicationStatus reports the engine's role and GTID positions (as sequence numbers of the
// group's domain): a replica's received (Gtid_IO_Pos) and replayed (gtid_slave_pos) ones,
// whether both threads run, and its lag; a primary's binary log position and the replicas
// that stream from it, by address.
func (d *Driver) ReplicationStatus(ctx context.Context) (guest.ReplicationStatus, error) {
	db, err := d.connect(ctx)
	if err != nil {
		return guest.ReplicationStatus{}, fmt.Errorf("replication status: %w", err)
	}
	defer db.Close()
	return d.replicationStatus(ctx, db)
}

// replicationStatus is ReplicationStatus over the agent's session db.
func (d *Driver) replicationStatus(ctx context.Context, db *sql.DB) (guest.ReplicationStatus, error) {
	st := guest.ReplicationStatus{Fenced: d.marked(fencedFile)}
	slave, err := slaveStatus(ctx, db)
	if err != nil {
		return st, fmt.Errorf("replication status: %w", err)
	}
	if slave != nil || d.marked(replicaFile) || st.Fenced {
		st.Role = guest.RoleReplica
		var replayed string
		if err := db.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_slave_pos").Scan(&replayed); err != nil {
			return st, fmt.Errorf("replication status: %w", err)
		}
		st.ReplayedLSN = gtidSeq(replayed)
		st.ReceivedLSN = st.ReplayedLSN
		if slave != nil {
			if r := gtidSeq(slave["Gtid_IO_Pos"]); r > st.ReceivedLSN {
				st.ReceivedLSN = r
			}
			st.Streaming = slave["Slave_IO_Running"] == "Yes" && slave["Slave_SQL_Running"] == "Yes"
			if slave["Master_Log_File"] == slave["Relay_Master_Log_File"] {
				read, _ := strconv.ParseInt(slave["Read_Master_Log_Pos"], 10, 64)
				exec, _ := strconv.ParseInt(slave["Exec_Master_Log_Pos"], 10, 64)
				st.LagBytes = max(read-exec, 0)
			}
			if s, err := strconv.ParseFloat(slave["Seconds_Behind_Master"], 64); err == nil {
				st.LagSeconds = s
			}
		}
		return st, nil
	}
	st.Role = guest.RolePrimary
	var current string
	if err := db.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_binlog_pos").Scan(&current); err != nil {
		return st, fmt.Errorf("replication status: %w", err)
	}
	st.CurrentLSN = gtidSeq(current)
	rows, err := db.QueryContext(ctx, "SELECT HOST FROM information_schema.PROCESSLIST WHERE USER = ? AND COMMAND LIKE 'Binlog Dump%' ORDER BY HOST", replicationUser)
	if err != nil {
		return st, fmt.Errorf("replication status: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var host string
		if err := rows.Scan(&host); err != nil {
			return st, fmt.Errorf("replication status: %w", err)
		}
		if h, _, ok := strings.Cut(host, ":"); ok {
			host = h
		}
		st.Replicas = append(st.Replicas, guest.ReplicaLag{Slot: host, Streaming: true})
	}
	return st, rows.Err()
}

// StopWrites makes this primary read-only for a switchover (a mark keeps it so across a
// restart, until Start) and returns its binary log's GTID position: once read_only is set,
// every commit a tenant was told of is in the log, and nothing more is written.
func (d *Driver) StopWrites(ctx context.Context) (guest.Position, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.server.Installed() {
		return "", fmt.Errorf("stop writes: %w: the engine was never prepared", guestagent.ErrInvalid)
	}
	if d.marked(replicaFile) || d.marked(fencedFile) {
		return "", fmt.Errorf("stop writes: %w: this engine is not a primary", guestagent.ErrInvalid)
	}
	if err := d.mark(writesStoppedFile); err != nil {
		return "", fmt.Errorf("stop writes: %w", err)
	}
	if err := d.start(ctx); err != nil {
		return "", fmt.Errorf("stop writes: %w", err)
	}
	db, err := d.connect(ctx)
	if err != nil {
		return "", fmt.Errorf("stop writes: %w", err)
	}
	defer db.Close()
	if err := d.applyReadOnly(ctx, db); err != nil {
		return "", fmt.Errorf("stop writes: %w", err)
	}
	var pos string
	if err := db.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_binlog_pos").Scan(&pos); err != nil {
		return "", fmt.Errorf("stop writes: %w", err)
	}
	return guest.Position(pos), nil
}

// WaitReplay waits until this replica has applied every GTID of pos (MASTER_GTID_WAIT).
func (d *Driver) WaitReplay(ctx context.Context, pos guest.Position) error {
	if !validPosition.MatchString(string(pos)) {
		return fmt.Errorf("%w: %q is not a GTID position", guestagent.ErrInvalid, pos)
	}
	db, err := d.connect(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	for {
		var got int
		if err := db.QueryRowContext(ctx, "SELECT MASTER_GTID_WAIT(?, ?)", string(pos), waitStep.Seconds()).Scan(&got); err != nil {
			return err
		}
		if got == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// Promote makes this replica the primary: it stops receiving, applies what it received,
// forgets its primary and takes writes. A primary is left alone.
func (d *Driver) Promote(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.marked(fencedFile) {
		return fmt.Errorf("promote: %w: this engine was ejected from its group", guestagent.ErrInvalid)
	}
	if !d.server.Installed() {
		return fmt.Errorf("promote: %w: the engine was never prepared", guestagent.ErrInvalid)
	}
	if err := d.start(ctx); err != nil {
		return fmt.Errorf("promote: %w", err)
	}
	db, err := d.connect(ctx)
	if err != nil {
		return fmt.Errorf("promote: %w", err)
	}
	defer db.Close()
	slave, err := slaveStatus(ctx, db)
	if err != nil {
		return fmt.Errorf("promote: %w", err)
	}
	if slave != nil {
		if _, err := db.ExecContext(ctx, "STOP SLAVE IO_THREAD"); err != nil {
			return fmt.Errorf("promote: %w", err)
		}
		if slave, err = slaveStatus(ctx, db); err != nil {
			return fmt.Errorf("promote: %w", err)
		}
		if received := slave["Gtid_IO_Pos"]; received != "" && slave["Slave_SQL_Running"] == "Yes" {
			if err := d.waitApplied(ctx, db, received); err != nil {
				return fmt.Errorf("promote: apply what was received: %w", err)
			}
		}
		if _, err := db.ExecContext(ctx, "STOP SLAVE"); err != nil {
			return fmt.Errorf("promote: %w", err)
		}
		if _, err := db.ExecContext(ctx, "RESET SLAVE ALL"); err != nil {
			return fmt.Errorf("promote: %w", err)
		}
	}
	if err := d.unmark(replicaFile); err != nil {
		return fmt.Errorf("promote: %w", err)
	}
	if err := d.unmark(writesStoppedFile); err != nil {
		return fmt.Errorf("promote: %w", err)
	}
	if err := d.writeConfig(); err != nil {
		return fmt.Errorf("promote: %w", err)
	}
	return d.applyReadOnly(ctx, db)
}

// waitApplied waits until the SQL thread applied pos, or ctx ends.
func (d *Driver) waitApplied(ctx context.Context, db *sql.DB, pos string) error {
	for {
		var got int
		if err := db.QueryRowContext(ctx, "SELECT MASTER_GTID_WAIT(?, ?)", pos, waitStep.Seconds()).Scan(&got); err != nil {
			return err
		}
		if got == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// Follow makes this engine a read-only replica of src. A former primary (a switchover's)
// starts from its own binary log's position, which its new primary applied before it was
// promoted; a replica keeps its gtid_slave_pos.
func (d *Driver) Follow(ctx context.Context, src guest.ReplicationSource) error {
	if src.Host == "" || src.Port == 0 || src.User == "" || src.Password == "" {
		return fmt.Errorf("follow: %w: the source lacks its address or account", guestagent.ErrInvalid)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.marked(fencedFile) {
		return fmt.Errorf("follow: %w: this engine was ejected from its group", guestagent.ErrInvalid)
	}
	if !d.server.Installed() {
		return fmt.Errorf("follow: %w: the engine was never prepared", guestagent.ErrInvalid)
	}
	wasPrimary := !d.marked(replicaFile)
	if wasPrimary {
		// Read-only before it starts, so that no tenant writes in between.
		if err := d.mark(writesStoppedFile); err != nil {
			return fmt.Errorf("follow: %w", err)
		}
	}
	if err := d.start(ctx); err != nil {
		return fmt.Errorf("follow: %w", err)
	}
	db, err := d.connect(ctx)
	if err != nil {
		return fmt.Errorf("follow: %w", err)
	}
	defer db.Close()
	if err := d.applyReadOnly(ctx, db); err != nil {
		return fmt.Errorf("follow: %w", err)
	}
	if wasPrimary {
		if _, err := db.ExecContext(ctx, "STOP SLAVE"); err != nil {
			return fmt.Errorf("follow: %w", err)
		}
		if _, err := db.ExecContext(ctx, "SET GLOBAL gtid_slave_pos = @@GLOBAL.gtid_binlog_pos"); err != nil {
			return fmt.Errorf("follow: take the binary log's position: %w", err)
		}
	}
	if err := guestagent.WriteFileSync(filepath.Join(d.volume, replicationSecret), []byte(src.Password+"\n"), 0o600); err != nil {
		return fmt.Errorf("follow: %w", err)
	}
	if err := d.follow(ctx, db, src); err != nil {
		return fmt.Errorf("follow: %w", err)
	}
	return d.unmark(writesStoppedFile)
}

// Fence makes this engine read-only and a replica of no one, for good: a mark on the volume
// keeps it so (read_only, no replication started) whatever starts it.
func (d *Driver) Fence(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.mark(fencedFile); err != nil {
		return fmt.Errorf("fence: %w", err)
	}
	if !d.server.Installed() {
		return nil
	}
	if err := d.start(ctx); err != nil {
		return fmt.Errorf("fence: %w", err)
	}
	db, err := d.connect(ctx)
	if err != nil {
		return fmt.Errorf("fence: %w", err)
	}
	defer db.Close()
	if err := d.applyReadOnly(ctx, db); err != nil {
		return fmt.Errorf("fence: %w", err)
	}
	if _, err := db.ExecContext(ctx, "STOP SLAVE"); err != nil {
		return fmt.Errorf("fence: %w", err)
	}
	if _, err := db.ExecContext(ctx, "RESET SLAVE ALL"); err != nil {
		return fmt.Errorf("fence: %w", err)
	}
	return nil
}

// DropReplicationSlot has nothing to drop: a MariaDB primary keeps nothing per replica
// (its binary log is kept for binlogKeepSeconds whoever reads it).
func (d *Driver) DropReplicationSlot(_ context.Context, slot string) error {
	if err := guestagent.ValidSlot(slot); err != nil {
		return fmt.Errorf("drop replication slot: %w", err)
	}
	return nil
}
