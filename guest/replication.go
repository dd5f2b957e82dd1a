package guest

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"go.temporal.io/sdk/workflow"
)

// Replication activities (PostgreSQL streaming replication, MariaDB GTID replication). A
// primary serves each replica under a name of its own, ReplicationSlot(replica ID):
// PostgreSQL's replication slot, so that it keeps the WAL the replica has not received yet;
// MariaDB needs no slot and only checks the name.
const (
	// ReplicationSourceActivity, on a primary: makes the replication role (once), lets it
	// connect for replication, makes the replica's slot (ReplicationSourceInput), and returns
	// how to reach the primary (ReplicationSource). Idempotent.
	ReplicationSourceActivity = "ReplicationSource"
	// SeedReplicaActivity, on a new replica (instead of Prepare): copies the primary's
	// cluster over the network (pg_basebackup through the slot) and starts it as a standby
	// that streams from the primary (SeedReplicaInput).
	SeedReplicaActivity = "SeedReplica"
	// ReplicationStatusActivity reports the engine's role and WAL positions
	// (ReplicationStatus).
	ReplicationStatusActivity = "ReplicationStatus"
	// StopWritesActivity, on the primary of a planned switchover: stops every write for
	// good (PostgreSQL shuts down cleanly, which sends every WAL record to the connected
	// replicas first; MariaDB turns read-only) and returns the last position it wrote
	// (Position). Nothing committed is lost and nothing more is written.
	StopWritesActivity = "StopWrites"
	// WaitReplayActivity, on a replica: waits until it has replayed up to a position
	// (WaitReplayInput); it heartbeats while it waits.
	WaitReplayActivity = "WaitReplay"
	// PromoteActivity makes a replica a primary; a primary already is no error.
	PromoteActivity = "Promote"
	// FollowActivity makes the engine a replica of another primary (FollowInput): a
	// replica is pointed at it; a former primary is rewound (pg_rewind) onto the new
	// primary's timeline first and starts as its replica.
	FollowActivity = "Follow"
	// FenceActivity makes sure an ejected primary never accepts writes again: it runs
	// from then on as a standby of no one, read-only.
	FenceActivity = "Fence"
	// DropReplicationSlotActivity, on a primary: drops a replica's slot (ReplicationSlotRef);
	// a missing slot is no error.
	DropReplicationSlotActivity = "DropReplicationSlot"
)

// ReplicationSlot is the name of the slot a primary keeps for a replica.
func ReplicationSlot(replicaID string) string {
	return "coffer_" + strings.ReplaceAll(strings.ToLower(replicaID), "-", "_")
}

// LSN is a replication position as a number: the positions of one group compare as numbers
// (PostgreSQL's pg_lsn, a WAL byte position; MariaDB's GTID sequence number in the group's
// replication domain). ReplicationStatus reports them so that a failover picks the replica
// that received most.
type LSN uint64

// ParseLSN reads PostgreSQL's "X/Y" text form.
func ParseLSN(s string) (LSN, error) {
	hi, lo, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return 0, fmt.Errorf("lsn %q: want X/Y", s)
	}
	h, err := strconv.ParseUint(hi, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("lsn %q: %w", s, err)
	}
	l, err := strconv.ParseUint(lo, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("lsn %q: %w", s, err)
	}
	return LSN(h<<32 | l), nil
}

// String is PostgreSQL's "X/Y" form.
func (l LSN) String() string { return fmt.Sprintf("%X/%X", uint64(l)>>32, uint64(l)&0xffffffff) }

// Position is a point in an engine's replication stream in the engine's own text form
// (PostgreSQL's LSN "X/Y", MariaDB's GTID position "0-1-42"): StopWrites returns the last
// one a primary wrote, WaitReplay waits for a replica to reach it. Only the engine that
// made it reads it. It travels as a JSON string; a JSON number (an LSN, as the histories
// of workflows from before positions were engine-neutral hold) reads as that LSN's "X/Y".
type Position string

// UnmarshalJSON takes a string, or a number that is an LSN.
func (p *Position) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] != '"' && string(b) != "null" {
		var l LSN
		if err := json.Unmarshal(b, (*uint64)(&l)); err != nil {
			return fmt.Errorf("position: %w", err)
		}
		*p = Position(l.String())
		return nil
	}
	var s *string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("position: %w", err)
	}
	if s != nil {
		*p = Position(*s)
	}
	return nil
}

// ReplicationSourceInput is ReplicationSource's input.
type ReplicationSourceInput struct {
	// Slot is the replica's slot, ReplicationSlot(replica ID).
	Slot string `json:"slot"`
}

// ReplicationSource is how a replica reaches its primary. It carries the passwords of the
// replication role and of the agent's role (a physical replica is a copy of the primary's
// cluster, roles included, so its agent logs in with the primary's agent password): it
// travels only in payloads the codec encrypts, and String keeps it out of logs.
type ReplicationSource struct {
	Host          string `json:"host"`
	Port          int    `json:"port"`
	User          string `json:"user"`
	Password      string `json:"password"`
	AgentPassword string `json:"agent_password"`
	// Slot is the slot the replica streams through on this primary.
	Slot string `json:"slot"`
	// RootHash is the tenant's root password as the primary keeps it (Redis: the SHA-256,
	// hex, of the default user's password), for engines that do not replicate their
	// users: the replica takes it so that the tenant's password works there too. Empty
	// when root is not enabled.
	RootHash string `json:"root_hash,omitempty"`
}

// String keeps the passwords out of logs and error messages.
func (s ReplicationSource) String() string {
	return fmt.Sprintf("replication source %s:%d slot %s", s.Host, s.Port, s.Slot)
}

// SeedReplicaInput is SeedReplica's input.
type SeedReplicaInput struct {
	Source ReplicationSource `json:"source"`
}

// FollowInput is Follow's input: the new primary, and the slot it keeps for this engine.
type FollowInput struct {
	Source ReplicationSource `json:"source"`
}

// WaitReplayInput is WaitReplay's input.
type WaitReplayInput struct {
	// Position is the position the replica must have replayed (StopWrites's answer); its
	// JSON name is the "lsn" it had when it was PostgreSQL's alone.
	Position Position `json:"lsn"`
}

// ReplicationSlotRef names a slot.
type ReplicationSlotRef struct {
	Slot string `json:"slot"`
}

// Replication roles of an engine.
const (
	RolePrimary = "primary"
	RoleReplica = "replica"
)

// ReplicationStatus is an engine's place in replication. On a replica, the lag is how much
// WAL it has received but not replayed yet, and how old the last transaction it replayed
// was when more was waiting; on a primary, Replicas lists the replicas streaming from it.
type ReplicationStatus struct {
	Role string `json:"role"`
	// Fenced is set on an ejected primary (see FenceActivity).
	Fenced bool `json:"fenced,omitempty"`
	// CurrentLSN is a primary's WAL insert position.
	CurrentLSN LSN `json:"current_lsn,omitempty"`
	// ReceivedLSN and ReplayedLSN are a replica's positions.
	ReceivedLSN LSN `json:"received_lsn,omitempty"`
	ReplayedLSN LSN `json:"replayed_lsn,omitempty"`
	// Streaming says whether a replica's WAL receiver is connected to its primary.
	Streaming  bool    `json:"streaming,omitempty"`
	LagBytes   int64   `json:"lag_bytes"`
	LagSeconds float64 `json:"lag_seconds"`
	// Replicas are a primary's replicas, by slot.
	Replicas []ReplicaLag `json:"replicas,omitempty"`
}

// ReplicaLag is one replica as its primary sees it.
type ReplicaLag struct {
	Slot        string  `json:"slot"`
	Streaming   bool    `json:"streaming"`
	ReplayedLSN LSN     `json:"replayed_lsn"`
	LagBytes    int64   `json:"lag_bytes"`
	LagSeconds  float64 `json:"lag_seconds"`
}

// ReplicationSource runs ReplicationSourceActivity on a primary's guest.
func (c Client) ReplicationSource(ctx workflow.Context, in ReplicationSourceInput) (ReplicationSource, error) {
	var src ReplicationSource
	err := c.call(ctx, ReplicationSourceActivity, &src, in)
	return src, err
}

// SeedReplica runs SeedReplicaActivity on a new replica's guest; give it Boot options.
func (c Client) SeedReplica(ctx workflow.Context, in SeedReplicaInput) error {
	return c.call(ctx, SeedReplicaActivity, nil, in)
}

// ReplicationStatus runs ReplicationStatusActivity.
func (c Client) ReplicationStatus(ctx workflow.Context) (ReplicationStatus, error) {
	var st ReplicationStatus
	err := c.call(ctx, ReplicationStatusActivity, &st)
	return st, err
}

// StopWrites runs StopWritesActivity on a primary's guest and returns its last position.
func (c Client) StopWrites(ctx workflow.Context) (Position, error) {
	var pos Position
	err := c.call(ctx, StopWritesActivity, &pos)
	return pos, err
}

// WaitReplay runs WaitReplayActivity on a replica's guest; give it LongJob options.
func (c Client) WaitReplay(ctx workflow.Context, in WaitReplayInput) error {
	return c.call(ctx, WaitReplayActivity, nil, in)
}

// Promote runs PromoteActivity.
func (c Client) Promote(ctx workflow.Context) error {
	return c.call(ctx, PromoteActivity, nil)
}

// Follow runs FollowActivity.
func (c Client) Follow(ctx workflow.Context, in FollowInput) error {
	return c.call(ctx, FollowActivity, nil, in)
}

// Fence runs FenceActivity.
func (c Client) Fence(ctx workflow.Context) error {
	return c.call(ctx, FenceActivity, nil)
}

// DropReplicationSlot runs DropReplicationSlotActivity on a primary's guest.
func (c Client) DropReplicationSlot(ctx workflow.Context, in ReplicationSlotRef) error {
	return c.call(ctx, DropReplicationSlotActivity, nil, in)
}
