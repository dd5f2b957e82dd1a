package postgres

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestagent"
)

var _ guestagent.Replicator = (*Driver)(nil)

const (
	// replicationRole is the role replicas stream as; tenants may not use the name.
	replicationRole = "coffer_replicator"
	// passFile (on the volume, beside the data folder) holds the passwords the engine's
	// own connections to another instance use: the replication role's for streaming, the
	// agent's for pg_rewind. Only the postgres user reads it.
	passFile = "replication.pgpass"
	// fencedFile marks an engine that was ejected from its group: it stays a standby of no
	// one, whatever starts it.
	fencedFile = "fenced"
)

// standbySettings are the lines of postgresql.auto.conf that make the cluster a standby of
// a primary; writeStandby replaces them.
var standbySettings = []string{"primary_conninfo", "primary_slot_name", "recovery_target_timeline"}

// ReplicationSource lets replicas stream from this primary: the replication role (its
// password made once and kept in the pass file), the pg_hba line that lets it connect for
// replication, and the replica's physical slot, made now so that the primary keeps every
// WAL record from here on until the replica has it.
func (d *Driver) ReplicationSource(ctx context.Context, slot string) (guest.ReplicationSource, error) {
	if err := validSlot(slot); err != nil {
		return guest.ReplicationSource{}, fmt.Errorf("replication source: %w", err)
	}
	// Replicas created at once ask together: one of them makes the password and the role.
	d.mu.Lock()
	defer d.mu.Unlock()
	agentPassword, err := d.readSecret()
	if err != nil {
		return guest.ReplicationSource{}, fmt.Errorf("replication source: %w", err)
	}
	password, err := d.replicationPassword()
	if err != nil {
		return guest.ReplicationSource{}, fmt.Errorf("replication source: %w", err)
	}
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		return guest.ReplicationSource{}, fmt.Errorf("replication source: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var standby bool
	if err := conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&standby); err != nil {
		return guest.ReplicationSource{}, fmt.Errorf("replication source: %w", err)
	}
	if standby {
		return guest.ReplicationSource{}, fmt.Errorf("replication source: %w: this engine is a replica, not a primary", guestagent.ErrInvalid)
	}
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", replicationRole).Scan(&exists); err != nil {
		return guest.ReplicationSource{}, fmt.Errorf("replication source: %w", err)
	}
	template := "CREATE ROLE %I WITH REPLICATION LOGIN PASSWORD %L"
	if exists {
		template = "ALTER ROLE %I WITH REPLICATION LOGIN PASSWORD %L"
	}
	var ddl string
	if err := conn.QueryRow(ctx, "SELECT format($1::text, $2::text, $3::text)", template, replicationRole, password).Scan(&ddl); err != nil {
		return guest.ReplicationSource{}, fmt.Errorf("replication source: quote the password: %w", err)
	}
	if _, err := conn.Exec(ctx, ddl); err != nil {
		return guest.ReplicationSource{}, fmt.Errorf("replication source: make role %s: %w", replicationRole, err)
	}
	changed, err := d.allowReplication()
	if err != nil {
		return guest.ReplicationSource{}, fmt.Errorf("replication source: %w", err)
	}
	if changed {
		if _, err := conn.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
			return guest.ReplicationSource{}, fmt.Errorf("replication source: reload pg_hba.conf: %w", err)
		}
	}
	_, err = conn.Exec(ctx, `SELECT pg_create_physical_replication_slot($1, true)
		WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)`, slot)
	if err != nil {
		return guest.ReplicationSource{}, fmt.Errorf("replication source: make slot %s: %w", slot, err)
	}
	return guest.ReplicationSource{
		Host: d.cluster.Host, Port: d.cluster.Port, User: replicationRole,
		Password: password, AgentPassword: agentPassword, Slot: slot,
	}, nil
}

// validSlot checks a slot name as PostgreSQL would, so that a bad one fails as invalid.
func validSlot(slot string) error {
	if slot == "" || len(slot) > 63 {
		return fmt.Errorf("slot %q: %w: 1 to 63 characters", slot, guestagent.ErrInvalid)
	}
	for _, r := range slot {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return fmt.Errorf("slot %q: %w: only a-z, 0-9 and _", slot, guestagent.ErrInvalid)
		}
	}
	return nil
}

// replicationPassword returns the replication role's password from the pass file, making
// one the first time.
func (d *Driver) replicationPassword() (string, error) {
	if pw, _, err := d.readPassFile(); err == nil && pw != "" {
		return pw, nil
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make the replication password: %w", err)
	}
	pw := base64.RawURLEncoding.EncodeToString(b)
	agent, err := d.readSecret()
	if err != nil {
		return "", err
	}
	if err := d.writePassFile(pw, agent); err != nil {
		return "", err
	}
	return pw, nil
}

// readPassFile returns the replication role's and the agent's passwords from the pass file.
func (d *Driver) readPassFile() (replication, agent string, err error) {
	b, err := os.ReadFile(filepath.Join(d.volume, passFile))
	if err != nil {
		return "", "", fmt.Errorf("read the replication pass file: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		fields := strings.SplitN(strings.TrimSpace(line), ":", 5)
		if len(fields) != 5 {
			continue
		}
		switch fields[3] {
		case replicationRole:
			replication = fields[4]
		case agentRole:
			agent = fields[4]
		}
	}
	return replication, agent, nil
}

// writePassFile writes the pass file (libpq's format: any host, port and database), owned
// by the postgres user with mode 0600, as libpq demands. The passwords are base64url, with
// no ':' or '\' to escape.
func (d *Driver) writePassFile(replication, agent string) error {
	content := "*:*:*:" + replicationRole + ":" + replication + "\n" + "*:*:*:" + agentRole + ":" + agent + "\n"
	path := filepath.Join(d.volume, passFile)
	if err := d.cluster.WriteOwnedFile(path+".tmp", []byte(content), 0o600); err != nil {
		return err
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return fmt.Errorf("write the replication pass file: %w", err)
	}
	return nil
}

// hbaReplicationLine lets the replication role connect for replication from anywhere, with
// its password; "all" in pg_hba.conf does not cover replication connections.
const hbaReplicationLine = "host replication " + replicationRole + " 0.0.0.0/0 scram-sha-256"

// allowReplication adds hbaReplicationLine to pg_hba.conf; it reports whether it changed it.
func (d *Driver) allowReplication() (bool, error) {
	b, err := os.ReadFile(filepath.Join(d.cluster.DataDir, "pg_hba.conf"))
	if err != nil {
		return false, fmt.Errorf("read pg_hba.conf: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		if strings.Join(strings.Fields(line), " ") == hbaReplicationLine {
			return false, nil
		}
	}
	content := strings.TrimRight(string(b), "\n") + "\n" + hbaReplicationLine + "\n"
	if err := d.cluster.WriteFile("pg_hba.conf", content); err != nil {
		return false, err
	}
	return true, nil
}

// SeedReplica copies src's cluster into a staging folder with pg_basebackup (through the
// replica's slot, streaming the WAL written meanwhile), moves it into place, makes it src's
// standby and starts it. The agent's password is the primary's from now on: the copy holds
// the primary's roles.
func (d *Driver) SeedReplica(ctx context.Context, src guest.ReplicationSource) error {
	if err := validSlot(src.Slot); err != nil {
		return fmt.Errorf("seed replica: %w", err)
	}
	if src.Host == "" || src.Password == "" || src.AgentPassword == "" {
		return fmt.Errorf("seed replica: %w: the source lacks its address or passwords", guestagent.ErrInvalid)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	// The cluster comes from the primary: the one made at boot is not needed, and its
	// initdb gives way to the copy.
	if err := d.ahead.Discard(ctx); err != nil {
		return fmt.Errorf("seed replica: %w", err)
	}
	if d.cluster.Initialized() {
		// Seeded by an earlier attempt: make sure it streams from src, and runs.
		if err := d.writeStandby(src); err != nil {
			return fmt.Errorf("seed replica: %w", err)
		}
		return d.start(ctx)
	}
	if err := writeFileSync(d.secretFile, []byte(src.AgentPassword+"\n"), 0o600); err != nil {
		return fmt.Errorf("seed replica: write the agent's password: %w", err)
	}
	if err := d.writePassFile(src.Password, src.AgentPassword); err != nil {
		return fmt.Errorf("seed replica: %w", err)
	}
	staging := d.cluster.DataDir + ".init"
	if err := os.RemoveAll(staging); err != nil {
		return fmt.Errorf("seed replica: remove the leftovers of an earlier copy: %w", err)
	}
	if err := d.cluster.PrepareDir(staging, 0o700); err != nil {
		return fmt.Errorf("seed replica: %w", err)
	}
	_, err := d.cluster.RunTool(ctx, []string{"PGPASSFILE=" + filepath.Join(d.volume, passFile)}, "pg_basebackup",
		"-d", conninfo(src, ""), "-D", staging, "-R", "-X", "stream", "-S", src.Slot,
		"--checkpoint=fast", "--no-password")
	if err != nil {
		return fmt.Errorf("seed replica from %s: %w", src, err)
	}
	if err := os.Rename(staging, d.cluster.DataDir); err != nil {
		return fmt.Errorf("seed replica: move the copy into place: %w", err)
	}
	if err := d.writeStandby(src); err != nil {
		return fmt.Errorf("seed replica: %w", err)
	}
	return d.start(ctx)
}

// conninfo is a libpq connection string to src as user (the replication role when empty),
// with the password in the pass file, never in the string.
func (d *Driver) conninfoFor(src guest.ReplicationSource, user string) string {
	return conninfo(src, user) + " passfile=" + quoteConninfo(filepath.Join(d.volume, passFile))
}

func conninfo(src guest.ReplicationSource, user string) string {
	if user == "" {
		user = src.User
	}
	return "host=" + quoteConninfo(src.Host) + " port=" + strconv.Itoa(src.Port) + " user=" + quoteConninfo(user) +
		" application_name=" + quoteConninfo(src.Slot)
}

// quoteConninfo quotes a libpq connection string value.
func quoteConninfo(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// writeStandby makes the stopped or running cluster a standby of src (src.Host "" makes it
// a standby of no one, as a fenced engine): standby.signal, and primary_conninfo and
// primary_slot_name in postgresql.auto.conf (settings the server takes at its next start
// or reload).
func (d *Driver) writeStandby(src guest.ReplicationSource) error {
	settings := map[string]string{"recovery_target_timeline": "latest"}
	if src.Host != "" {
		settings["primary_conninfo"] = d.conninfoFor(src, "")
		settings["primary_slot_name"] = src.Slot
	}
	if err := d.rewriteAutoConf(settings); err != nil {
		return err
	}
	return d.cluster.WriteFile("standby.signal", "")
}

// rewriteAutoConf drops the standby settings from postgresql.auto.conf and adds set.
func (d *Driver) rewriteAutoConf(set map[string]string) error {
	b, err := os.ReadFile(filepath.Join(d.cluster.DataDir, "postgresql.auto.conf"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read postgresql.auto.conf: %w", err)
	}
	var out strings.Builder
	for line := range strings.Lines(string(b)) {
		name, _, _ := strings.Cut(strings.TrimSpace(line), "=")
		drop := false
		for _, s := range standbySettings {
			if strings.TrimSpace(name) == s {
				drop = true
			}
		}
		if !drop {
			out.WriteString(strings.TrimRight(line, "\n") + "\n")
		}
	}
	for _, name := range standbySettings {
		if v, ok := set[name]; ok {
			out.WriteString(name + " = '" + strings.ReplaceAll(v, "'", "''") + "'\n")
		}
	}
	return d.cluster.WriteFile("postgresql.auto.conf", out.String())
}

// ReplicationStatus reports the engine's role and positions; see guestagent.Replicator.
func (d *Driver) ReplicationStatus(ctx context.Context) (guest.ReplicationStatus, error) {
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		return guest.ReplicationStatus{}, fmt.Errorf("replication status: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	st, err := d.replicationStatus(ctx, conn)
	if err != nil {
		return guest.ReplicationStatus{}, fmt.Errorf("replication status: %w", err)
	}
	return st, nil
}

func (d *Driver) replicationStatus(ctx context.Context, conn *pgx.Conn) (guest.ReplicationStatus, error) {
	st := guest.ReplicationStatus{Fenced: d.fenced()}
	var standby bool
	if err := conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&standby); err != nil {
		return st, err
	}
	if standby {
		st.Role = guest.RoleReplica
		var received, replayed string
		err := conn.QueryRow(ctx, `
			SELECT coalesce(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn(), '0/0')::text,
			       coalesce(pg_last_wal_replay_lsn(), '0/0')::text,
			       EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming'),
			       greatest(coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0), 0)::bigint,
			       CASE WHEN pg_last_wal_receive_lsn() IS NULL OR pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0
			            ELSE coalesce(extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()), 0) END::float8`,
		).Scan(&received, &replayed, &st.Streaming, &st.LagBytes, &st.LagSeconds)
		if err != nil {
			return st, err
		}
		if st.ReceivedLSN, err = guest.ParseLSN(received); err != nil {
			return st, err
		}
		if st.ReplayedLSN, err = guest.ParseLSN(replayed); err != nil {
			return st, err
		}
		return st, nil
	}
	st.Role = guest.RolePrimary
	var current string
	if err := conn.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&current); err != nil {
		return st, err
	}
	var err error
	if st.CurrentLSN, err = guest.ParseLSN(current); err != nil {
		return st, err
	}
	rows, _ := conn.Query(ctx, `
		SELECT s.slot_name::text, s.active AND coalesce(r.state = 'streaming', false),
		       coalesce(r.replay_lsn, s.restart_lsn, '0/0')::text,
		       greatest(pg_wal_lsn_diff(pg_current_wal_lsn(), coalesce(r.replay_lsn, s.restart_lsn, pg_current_wal_lsn())), 0)::bigint,
		       coalesce(extract(epoch FROM r.replay_lag), 0)::float8
		FROM pg_replication_slots s
		LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid
		WHERE s.slot_type = 'physical'
		ORDER BY s.slot_name`)
	var (
		rl     guest.ReplicaLag
		replay string
	)
	_, err = pgx.ForEachRow(rows, []any{&rl.Slot, &rl.Streaming, &replay, &rl.LagBytes, &rl.LagSeconds}, func() error {
		lsn, err := guest.ParseLSN(replay)
		if err != nil {
			return err
		}
		rl.ReplayedLSN = lsn
		st.Replicas = append(st.Replicas, rl)
		return nil
	})
	return st, err
}

// fenced reports whether this engine was ejected from its group.
func (d *Driver) fenced() bool {
	_, err := os.Stat(filepath.Join(d.volume, fencedFile))
	return err == nil
}

// DropReplicationSlot drops a replica's slot on this primary, ending the replica's
// session first when it still streams through it.
func (d *Driver) DropReplicationSlot(ctx context.Context, slot string) error {
	if err := validSlot(slot); err != nil {
		return fmt.Errorf("drop replication slot: %w", err)
	}
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		return fmt.Errorf("drop replication slot %s: %w", slot, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var standby bool
	if err := conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&standby); err != nil {
		return fmt.Errorf("drop replication slot %s: %w", slot, err)
	}
	if standby {
		// A standby has no slots of its own to drop (they are the primary's).
		return nil
	}
	// A replica that still streams reconnects at once: end its session and drop the slot
	// until the drop wins.
	for range 20 {
		_, err = conn.Exec(ctx, `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
			WHERE slot_name = $1 AND active_pid IS NOT NULL`, slot)
		if err != nil {
			return fmt.Errorf("drop replication slot %s: end its session: %w", slot, err)
		}
		_, err = conn.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
			WHERE slot_name = $1 AND NOT active`, slot)
		if err != nil && sqlState(err) != "55006" { // object in use: it reconnected meanwhile
			return fmt.Errorf("drop replication slot %s: %w", slot, err)
		}
		var exists bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)", slot).Scan(&exists); err != nil {
			return fmt.Errorf("drop replication slot %s: %w", slot, err)
		}
		if !exists {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("drop replication slot %s: a replica still streams through it", slot)
}
