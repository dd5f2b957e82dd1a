package redis

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestagent"
)

var _ guestagent.Replicator = (*Driver)(nil)

// Redis replication. A replica follows its primary with replicaof, authenticating as
// replicationUser (an ACL user that may only run what replication needs and reach no key),
// and is read-only for the tenant (replica-read-only). Redis replicates no ACL user, so a
// replica takes the primary's replication password and the tenant's password hash from
// guest.ReplicationSource. Every setting lives in the configuration the driver writes at
// each start, from marks on the volume, and is applied live too. A position is
// "<replid>:<offset>": the replication history's ID and a byte offset in it; offsets of
// different histories never compare.
const (
	// replicationUser is the ACL user replicas connect as.
	replicationUser = "coffer_repl"
	// replicationRules let replicationUser stream and nothing else: no key, no channel.
	replicationRules = "+psync +replconf +ping"
	// replicationSecret (on the volume) holds replicationUser's password, made once on the
	// first primary and handed to every replica, which keeps it for when it is promoted.
	replicationSecret = "replication.secret"
	// replicaFile marks a replica and holds its primary's "host port"; fencedFile an
	// engine ejected from its group, which the tenant may not write for good;
	// writesStoppedFile a primary whose writes a switchover stopped (Start lifts it).
	replicaFile       = "replica"
	fencedFile        = "fenced"
	writesStoppedFile = "writes-stopped"
	// pollStep is how often the agent looks at a replica's progress while it waits.
	pollStep = 50 * time.Millisecond
)

// validHost is an address a primary may have (an IP or a host name): nothing the
// configuration file would read as more than one word.
var validHost = regexp.MustCompile(`^[A-Za-z0-9.:-]{1,253}$`)

// validRootHash is the hex SHA-256 of a password.
var validRootHash = regexp.MustCompile(`^[0-9a-f]{64}$`)

// validSecret is a password EnsureSecret makes (base64url).
var validSecret = regexp.MustCompile(`^[A-Za-z0-9_-]{16,256}$`)

func (d *Driver) marks() guestagent.Marks { return guestagent.Marks(d.volume) }

// writesBlocked says whether the tenant may not write on a primary: its writes were
// stopped for a switchover, or it was fenced.
func (d *Driver) writesBlocked() bool {
	return d.marks().Has(writesStoppedFile) || d.marks().Has(fencedFile)
}

// primaryAddress is the "host port" a replica follows, "" on a primary or a fenced engine.
func (d *Driver) primaryAddress() (string, error) {
	if d.marks().Has(fencedFile) {
		return "", nil
	}
	b, err := d.marks().Read(replicaFile)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the primary's address: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// replicationConfig are the configuration lines of replication: replicationUser (once a
// replication password exists), and replicaof with its credentials on a replica.
func (d *Driver) replicationConfig() ([]string, error) {
	lines := []string{"replica-read-only yes", "replica-serve-stale-data yes"}
	password, err := guestagent.ReadSecret(d.replicationSecretFile())
	if errors.Is(err, fs.ErrNotExist) {
		return lines, nil
	}
	if err != nil {
		return nil, err
	}
	lines = append(lines, "user "+replicationUser+" reset on "+passwordHash(password)+" "+replicationRules)
	primary, err := d.primaryAddress()
	if err != nil {
		return nil, err
	}
	if primary != "" {
		lines = append(lines, "replicaof "+primary, "masteruser "+replicationUser, "masterauth "+password)
	}
	return lines, nil
}

func (d *Driver) replicationSecretFile() string { return d.marks().Path(replicationSecret) }

// applyRoles brings the running server to what the volume says: replicationUser, whom it
// follows (or no one), then the tenant's rights, in that order, so that a replica turns
// read-only before the tenant may write, and a promoted one writable only after it
// stopped following.
func (d *Driver) applyRoles(c *conn) error {
	password, err := guestagent.ReadSecret(d.replicationSecretFile())
	switch {
	case err == nil:
		if _, err := c.str(append([]string{"ACL", "SETUSER", replicationUser, "reset", "on", passwordHash(password)}, strings.Fields(replicationRules)...)...); err != nil {
			return fmt.Errorf("set the replication user: %w", err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	primary, err := d.primaryAddress()
	if err != nil {
		return err
	}
	info, err := replicationInfo(c)
	if err != nil {
		return err
	}
	if primary != "" {
		host, port, _ := strings.Cut(primary, " ")
		for _, kv := range [][2]string{{"masteruser", replicationUser}, {"masterauth", password}} {
			if _, err := c.str("CONFIG", "SET", kv[0], kv[1]); err != nil {
				return fmt.Errorf("set %s: %w", kv[0], err)
			}
		}
		if info["role"] != "slave" || info["master_host"] != host || info["master_port"] != port {
			if _, err := c.str("REPLICAOF", host, port); err != nil {
				return fmt.Errorf("replicaof %s:%s: %w", host, port, err)
			}
		}
	} else if info["role"] == "slave" {
		if _, err := c.str("REPLICAOF", "NO", "ONE"); err != nil {
			return fmt.Errorf("replicaof no one: %w", err)
		}
	}
	rules, err := d.defaultUserRules()
	if err != nil {
		return err
	}
	if _, err := c.str(append([]string{"ACL", "SETUSER", "default"}, strings.Fields(rules)...)...); err != nil {
		return fmt.Errorf("set the default user: %w", err)
	}
	return nil
}

// replicationInfo is INFO replication, by field.
func replicationInfo(c *conn) (map[string]string, error) {
	out, err := c.str("INFO", "replication")
	if err != nil {
		return nil, fmt.Errorf("info replication: %w", err)
	}
	info := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			info[k] = v
		}
	}
	return info, nil
}

func infoInt(info map[string]string, key string) int64 {
	n, _ := strconv.ParseInt(info[key], 10, 64)
	return n
}

// ReplicationSource makes replicationUser on this primary (its password made once) and
// returns how a replica reaches it, with the tenant's password hash. Redis keeps nothing
// per replica: the slot is only checked.
func (d *Driver) ReplicationSource(ctx context.Context, slot string) (guest.ReplicationSource, error) {
	if err := guestagent.ValidSlot(slot); err != nil {
		return guest.ReplicationSource{}, fmt.Errorf("replication source: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.marks().Has(replicaFile) || d.marks().Has(fencedFile) {
		return guest.ReplicationSource{}, fmt.Errorf("replication source: %w: this engine is not a primary", guestagent.ErrInvalid)
	}
	if !d.server.Prepared() {
		return guest.ReplicationSource{}, fmt.Errorf("replication source: %w: the engine was never prepared", guestagent.ErrInvalid)
	}
	password, err := guestagent.EnsureSecret(d.replicationSecretFile())
	if err != nil {
		return guest.ReplicationSource{}, fmt.Errorf("replication source: %w", err)
	}
	if err := d.start(ctx); err != nil {
		return guest.ReplicationSource{}, fmt.Errorf("replication source: %w", err)
	}
	rootHash, err := d.rootHash()
	if err != nil {
		return guest.ReplicationSource{}, fmt.Errorf("replication source: %w", err)
	}
	return guest.ReplicationSource{
		Host: d.server.Address, Port: d.server.Port, User: replicationUser,
		Password: password, Slot: slot, RootHash: rootHash,
	}, nil
}

// rootHash is the tenant's password hash, "" without root.
func (d *Driver) rootHash() (string, error) {
	b, err := os.ReadFile(d.rootFile)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read root's password hash: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// takeSource keeps what a replica needs of src on the volume: the replication password,
// the tenant's password hash (none: no root), and the primary's address (the replica
// mark).
func (d *Driver) takeSource(src guest.ReplicationSource) error {
	if err := guestagent.WriteFileSync(d.replicationSecretFile(), []byte(src.Password+"\n"), 0o600); err != nil {
		return fmt.Errorf("write the replication password: %w", err)
	}
	if src.RootHash == "" {
		if err := os.Remove(d.rootFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	} else if err := guestagent.WriteFileSync(d.rootFile, []byte(src.RootHash+"\n"), 0o600); err != nil {
		return fmt.Errorf("write root's password hash: %w", err)
	}
	return d.marks().Set(replicaFile, []byte(src.Host+" "+strconv.Itoa(src.Port)+"\n")...)
}

// checkSource refuses a source the configuration file could not hold as it is.
func checkSource(src guest.ReplicationSource) error {
	switch {
	case !validHost.MatchString(src.Host) || src.Port <= 0 || src.Port > 65535:
		return fmt.Errorf("%w: the source's address is not one", guestagent.ErrInvalid)
	case src.User != replicationUser:
		return fmt.Errorf("%w: the source's user is not %s", guestagent.ErrInvalid, replicationUser)
	case !validSecret.MatchString(src.Password):
		return fmt.Errorf("%w: the source's password is not one the agent made", guestagent.ErrInvalid)
	case src.RootHash != "" && !validRootHash.MatchString(src.RootHash):
		return fmt.Errorf("%w: the source's root hash is no SHA-256", guestagent.ErrInvalid)
	}
	return nil
}

// SeedReplica makes this new engine a replica of src: an empty data folder, src's
// passwords, and a start that follows src, which sends it a full copy (an RDB snapshot);
// it returns once the copy is loaded and the replica streams. An engine seeded already is
// only started; one whose seeding was cut short is seeded again.
func (d *Driver) SeedReplica(ctx context.Context, src guest.ReplicationSource) error {
	if err := guestagent.ValidSlot(src.Slot); err != nil {
		return fmt.Errorf("seed replica: %w", err)
	}
	if err := checkSource(src); err != nil {
		return fmt.Errorf("seed replica: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !(d.marks().Has(replicaFile) && d.server.Prepared()) {
		if d.server.Prepared() {
			if err := d.server.Stop(ctx); err != nil {
				return fmt.Errorf("seed replica: %w", err)
			}
			if err := os.RemoveAll(d.server.DataDir); err != nil {
				return fmt.Errorf("seed replica: remove a partial copy: %w", err)
			}
		}
		if err := d.takeSource(src); err != nil {
			return fmt.Errorf("seed replica: %w", err)
		}
		if err := d.makeDataDir(); err != nil {
			return fmt.Errorf("seed replica: %w", err)
		}
	}
	if err := d.start(ctx); err != nil {
		return fmt.Errorf("seed replica: %w", err)
	}
	if err := d.waitStreaming(ctx); err != nil {
		return fmt.Errorf("seed replica from %s: %w", src, err)
	}
	return nil
}

// waitStreaming waits until the replica has loaded its primary's copy and streams.
func (d *Driver) waitStreaming(ctx context.Context) error {
	var last map[string]string
	for {
		c, err := d.connect(ctx)
		if err == nil {
			last, err = replicationInfo(c)
			c.Close()
		}
		if err == nil && last["master_link_status"] == "up" && last["master_sync_in_progress"] == "0" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not streaming (link %s): %w", last["master_link_status"], ctx.Err())
		case <-time.After(pollStep * 4):
		}
	}
}

// ReplicationStatus reports the engine's role and offsets.
func (d *Driver) ReplicationStatus(ctx context.Context) (guest.ReplicationStatus, error) {
	c, err := d.connect(ctx)
	if err != nil {
		return guest.ReplicationStatus{}, fmt.Errorf("replication status: %w", err)
	}
	defer c.Close()
	return d.replicationStatus(c)
}

// replicationStatus reads INFO replication: a replica's offsets (what it read and what it
// applied, in its primary's history), whether its link is up and how long its primary has
// been silent; a primary's offset and its replicas, by address, with how many bytes each
// is behind.
func (d *Driver) replicationStatus(c *conn) (guest.ReplicationStatus, error) {
	info, err := replicationInfo(c)
	if err != nil {
		return guest.ReplicationStatus{}, fmt.Errorf("replication status: %w", err)
	}
	st := guest.ReplicationStatus{Fenced: d.marks().Has(fencedFile)}
	if info["role"] == "slave" || d.marks().Has(replicaFile) || st.Fenced {
		st.Role = guest.RoleReplica
		applied := infoInt(info, "slave_repl_offset")
		read := max(infoInt(info, "slave_read_repl_offset"), applied)
		st.ReceivedLSN, st.ReplayedLSN = guest.LSN(max(read, 0)), guest.LSN(max(applied, 0))
		st.LagBytes = read - applied
		st.Streaming = info["master_link_status"] == "up"
		if st.Streaming {
			// The primary writes at least a PING every repl-ping-replica-period (10 s):
			// silence beyond it is lag.
			if s := infoInt(info, "master_last_io_seconds_ago"); s > 10 {
				st.LagSeconds = float64(s)
			}
		}
		return st, nil
	}
	st.Role = guest.RolePrimary
	current := infoInt(info, "master_repl_offset")
	st.CurrentLSN = guest.LSN(max(current, 0))
	for i := 0; ; i++ {
		line, ok := info["slave"+strconv.Itoa(i)]
		if !ok {
			break
		}
		fields := map[string]string{}
		for _, kv := range strings.Split(line, ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				fields[k] = v
			}
		}
		off, _ := strconv.ParseInt(fields["offset"], 10, 64)
		lag, _ := strconv.ParseFloat(fields["lag"], 64)
		st.Replicas = append(st.Replicas, guest.ReplicaLag{
			Slot: fields["ip"], Streaming: fields["state"] == "online", ReplayedLSN: guest.LSN(max(off, 0)),
			LagBytes: max(current-off, 0), LagSeconds: lag,
		})
	}
	return st, nil
}

// position is a replication position: the history's ID and an offset in it.
func position(info map[string]string) guest.Position {
	return guest.Position(info["master_replid"] + ":" + info["master_repl_offset"])
}

var validPosition = regexp.MustCompile(`^([0-9a-f]{40}):([0-9]+)$`)

// StopWrites stops the tenant's writes on this primary for a switchover: the default user
// loses @write (the ACL is checked at every command, in a transaction's EXEC and a
// script's calls too), a mark keeping it so across a restart until Start, and returns the
// position: since Redis runs one command at a time, every write acknowledged before is
// in the replication stream up to it.
func (d *Driver) StopWrites(ctx context.Context) (guest.Position, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.server.Prepared() {
		return "", fmt.Errorf("stop writes: %w: the engine was never prepared", guestagent.ErrInvalid)
	}
	if d.marks().Has(replicaFile) || d.marks().Has(fencedFile) {
		return "", fmt.Errorf("stop writes: %w: this engine is not a primary", guestagent.ErrInvalid)
	}
	if err := d.marks().Set(writesStoppedFile); err != nil {
		return "", fmt.Errorf("stop writes: %w", err)
	}
	if err := d.start(ctx); err != nil {
		return "", fmt.Errorf("stop writes: %w", err)
	}
	c, err := d.connect(ctx)
	if err != nil {
		return "", fmt.Errorf("stop writes: %w", err)
	}
	defer c.Close()
	info, err := replicationInfo(c)
	if err != nil {
		return "", fmt.Errorf("stop writes: %w", err)
	}
	return position(info), nil
}

// WaitReplay waits until this replica has applied its primary's history up to pos. An
// offset of another history (the replica has not synced with that primary yet) is never
// taken for one of pos's.
func (d *Driver) WaitReplay(ctx context.Context, pos guest.Position) error {
	m := validPosition.FindStringSubmatch(string(pos))
	if m == nil {
		return fmt.Errorf("%w: %q is not a Redis replication position", guestagent.ErrInvalid, pos)
	}
	replid := m[1]
	want, err := strconv.ParseInt(m[2], 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q: %w", guestagent.ErrInvalid, pos, err)
	}
	c, err := d.connect(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	for {
		info, err := replicationInfo(c)
		if err != nil {
			return err
		}
		if info["role"] == "slave" && info["master_replid"] == replid && infoInt(info, "slave_repl_offset") >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("applied %s:%s: %w", info["master_replid"], info["slave_repl_offset"], ctx.Err())
		case <-time.After(pollStep):
		}
	}
}

// Promote makes this replica the primary: it stops following (Redis keeps the old history
// as its second, so the others continue from it) and gives the tenant its writes back. A
// primary is left alone (its stopped writes are given back).
func (d *Driver) Promote(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.marks().Has(fencedFile) {
		return fmt.Errorf("promote: %w: this engine was ejected from its group", guestagent.ErrInvalid)
	}
	if !d.server.Prepared() {
		return fmt.Errorf("promote: %w: the engine was never prepared", guestagent.ErrInvalid)
	}
	for _, m := range []string{replicaFile, writesStoppedFile} {
		if err := d.marks().Clear(m); err != nil {
			return fmt.Errorf("promote: %w", err)
		}
	}
	if err := d.start(ctx); err != nil {
		return fmt.Errorf("promote: %w", err)
	}
	return nil
}

// Follow makes this engine a read-only replica of src. A former primary (a switchover's)
// turns read-only first; its new primary's history continues its own, so it streams on
// from where it is, or takes a full copy.
func (d *Driver) Follow(ctx context.Context, src guest.ReplicationSource) error {
	if err := checkSource(src); err != nil {
		return fmt.Errorf("follow: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.marks().Has(fencedFile) {
		return fmt.Errorf("follow: %w: this engine was ejected from its group", guestagent.ErrInvalid)
	}
	if !d.server.Prepared() {
		return fmt.Errorf("follow: %w: the engine was never prepared", guestagent.ErrInvalid)
	}
	if err := d.takeSource(src); err != nil {
		return fmt.Errorf("follow: %w", err)
	}
	// applyRoles makes it a replica before it touches the tenant's rights.
	if err := d.marks().Clear(writesStoppedFile); err != nil {
		return fmt.Errorf("follow: %w", err)
	}
	if err := d.start(ctx); err != nil {
		return fmt.Errorf("follow: %w", err)
	}
	return nil
}

// Fence makes this engine follow no one and refuse the tenant's writes, for good: a mark
// on the volume keeps it so whatever starts it.
func (d *Driver) Fence(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.marks().Set(fencedFile); err != nil {
		return fmt.Errorf("fence: %w", err)
	}
	if !d.server.Prepared() {
		return nil
	}
	if err := d.start(ctx); err != nil {
		return fmt.Errorf("fence: %w", err)
	}
	return nil
}

// DropReplicationSlot has nothing to drop: a Redis primary keeps nothing per replica.
func (d *Driver) DropReplicationSlot(_ context.Context, slot string) error {
	if err := guestagent.ValidSlot(slot); err != nil {
		return fmt.Errorf("drop replication slot: %w", err)
	}
	return nil
}
