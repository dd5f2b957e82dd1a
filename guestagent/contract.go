package guestagent

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-dbaas/coffer"
)

// Activity names the guest agent registers on its task queue, guestagent.<instance-id>.
// Workflows call them by name with the input types below.
const (
	// PrepareActivity makes the engine ready: initdb on the volume, configuration sized from
	// the flavor, start, the agent's own admin role, then the requested databases and users.
	// Idempotent: a retry after a crash finds the cluster and finishes the job.
	PrepareActivity = "Prepare"
	// CreateDatabasesActivity makes databases; existing ones are left alone.
	CreateDatabasesActivity = "CreateDatabases"
	// CreateUsersActivity makes users with access to their databases.
	CreateUsersActivity = "CreateUsers"
	// HealthActivity reports the engine's state.
	HealthActivity = "Health"
	// StopEngineActivity stops the engine cleanly (before a delete or a resize).
	StopEngineActivity = "StopEngine"
	// StartEngineActivity starts a prepared engine with the configuration of the server's
	// current flavor, restarting one that runs with another flavor's (after a resize).
	StartEngineActivity = "StartEngine"
	// RestartEngineActivity stops and starts the engine (a tenant's restart).
	RestartEngineActivity = "RestartEngine"
	// GrowFilesystemActivity grows the volume's filesystem to the volume's new size (after
	// Cinder extended it) and returns the VolumeUsage the guest sees afterwards.
	GrowFilesystemActivity = "GrowFilesystem"
	// VolumeUsageActivity reports the data volume's size and how much of it is used.
	VolumeUsageActivity = "VolumeUsage"
)

// PrepareInput is Prepare's input.
type PrepareInput struct {
	Datastore string            `json:"datastore"`
	Version   string            `json:"version"`
	Databases []coffer.Database `json:"databases,omitempty"`
	Users     []coffer.User     `json:"users,omitempty"`
}

// HealthReport is Health's result.
type HealthReport struct {
	Status coffer.ServiceStatus `json:"status"`
	Detail string               `json:"detail,omitempty"`
	At     time.Time            `json:"at"`
	// Replication is the engine's replication role and lag, when it answers.
	Replication *ReplicationStatus `json:"replication,omitempty"`
}

// GrowFilesystemInput is GrowFilesystem's input.
type GrowFilesystemInput struct {
	// SizeGB is the volume's new size in GiB.
	SizeGB int `json:"size_gb"`
}

// VolumeUsage is the data volume as the guest sees it.
type VolumeUsage struct {
	// SizeGB is the filesystem's size in GiB.
	SizeGB int `json:"size_gb"`
	// UsedGB is what the data takes, in GiB (fractional).
	UsedGB float64 `json:"used_gb"`
}

// Config is the guest agent's configuration, carried in the server's user_data (JSON), as
// cloud-init would hand it over. It holds the codec key, so user_data is a secret of the
// instance (as Trove's instance_rpc_encr_key).
type Config struct {
	InstanceID string `json:"instance_id"`
	Datastore  string `json:"datastore"`
	Version    string `json:"version"`
	// TemporalHostPort is the Temporal frontend as the guest reaches it.
	TemporalHostPort  string `json:"temporal_host_port"`
	TemporalNamespace string `json:"temporal_namespace"`
	// CodecKey is the base64 AES-256 key of the payload codec.
	CodecKey string `json:"codec_key"`
}

// Activities that manage the tenant's databases, users and root, named as Trove's guest
// calls. System databases and roles (the engine's own, the agent's, root) are never listed,
// changed or dropped through them: naming one fails as invalid. A database or user that
// does not exist fails with type NotFound, one that exists already with AlreadyExists.
const (
	// ListDatabasesActivity lists the tenant's databases by name (no input; []coffer.Database).
	ListDatabasesActivity = "ListDatabases"
	// DeleteDatabaseActivity drops a database (DatabaseRef), closing its sessions.
	DeleteDatabaseActivity = "DeleteDatabase"
	// ListUsersActivity lists the tenant's users by name (no input; []UserInfo).
	ListUsersActivity = "ListUsers"
	// GetUserActivity shows one user (UserRef; UserInfo).
	GetUserActivity = "GetUser"
	// UpdateUserActivity renames a user, sets its password or its host (UpdateUserInput).
	UpdateUserActivity = "UpdateUser"
	// DeleteUserActivity drops a user (UserRef); what it owned passes to the agent's role.
	DeleteUserActivity = "DeleteUser"
	// ChangePasswordsActivity sets the password of existing users ([]coffer.User).
	ChangePasswordsActivity = "ChangePasswords"
	// GrantAccessActivity gives a user all rights on databases (AccessInput).
	GrantAccessActivity = "GrantAccess"
	// RevokeAccessActivity takes a user's rights on databases away (AccessInput).
	RevokeAccessActivity = "RevokeAccess"
	// ListAccessActivity lists the databases a user may connect to (UserRef; []string).
	ListAccessActivity = "ListAccess"
	// EnableRootActivity makes RootUser a superuser that can log in, with the password
	// given (EnableRootInput).
	EnableRootActivity = "EnableRoot"
	// DisableRootActivity stops RootUser from logging in (no input).
	DisableRootActivity = "DisableRoot"
	// RootEnabledActivity reports whether RootUser can log in (no input; bool).
	RootEnabledActivity = "RootEnabled"
)

// RootUser is the superuser a tenant gets with root enable, as Trove names it.
const RootUser = "root"

// DefaultHost is the host of a user that names none: any host. PostgreSQL does not restrict
// users by host; the agent keeps the host only so that it reads back as it was given.
const DefaultHost = "%"

// DatabaseRef names a database.
type DatabaseRef struct {
	Name string `json:"name"`
}

// UserRef names a user; an empty Host is DefaultHost.
type UserRef struct {
	Name string `json:"name"`
	Host string `json:"host,omitempty"`
}

// UserInfo is a user as the engine knows it, with the databases it may connect to.
type UserInfo struct {
	Name      string   `json:"name"`
	Host      string   `json:"host"`
	Databases []string `json:"databases"`
}

// UpdateUserInput changes a user: empty fields are left as they are.
type UpdateUserInput struct {
	UserRef
	NewName  string `json:"new_name,omitempty"`
	NewHost  string `json:"new_host,omitempty"`
	Password string `json:"password,omitempty"`
}

// String keeps the password out of logs and error messages.
func (u UpdateUserInput) String() string { return fmt.Sprintf("update of user %s", u.Name) }

// AccessInput names a user and databases to grant or revoke.
type AccessInput struct {
	UserRef
	Databases []string `json:"databases"`
}

// EnableRootInput is the root password; a secret, as coffer.User's.
type EnableRootInput struct {
	Password string `json:"password"`
}

// String keeps the password out of logs and error messages.
func (EnableRootInput) String() string { return "enable root" }

// Backup and restore, between the guest and Swift directly: backup data never passes
// through the control plane.
const (
	// BackupActivity streams a physical backup of the engine (for PostgreSQL, pg_basebackup
	// in tar format) compressed and encrypted into Swift as a static large object, and
	// returns what it stored (a backupstream.Result). It heartbeats a BackupProgress, and
	// signals BackupProgressSignal to its workflow as bytes flow. A failed attempt leaves no
	// segment behind; a retried attempt first deletes what an earlier one left.
	BackupActivity = "Backup"
	// RestoreActivity makes the engine's data folder from a backup before the engine is
	// ever started: download, verify the checksum, decrypt, decompress, unpack. A corrupt
	// backup fails it without retries (ErrorTypeChecksum) and leaves no data folder behind;
	// Prepare then starts what it restored.
	RestoreActivity = "Restore"
	// BackupProgressSignal is the signal the guest sends its backup workflow with a
	// BackupProgress every few seconds.
	BackupProgressSignal = "backup-progress"
	// ErrorTypeChecksum is the ApplicationError type of a restore whose backup does not
	// match its checksum.
	ErrorTypeChecksum = "BackupChecksum"
)

// SwiftAccess is how a guest reaches Swift for one backup or restore: the object store's
// endpoint and a token of the project that holds the backups. It is a secret: it travels
// only inside payloads encrypted by the codec.
type SwiftAccess struct {
	URL   string `json:"url"`
	Token string `json:"token"`
}

// String keeps the token out of logs and error messages.
func (s SwiftAccess) String() string { return "swift at " + s.URL }

// BackupInput is Backup's input. MasterKey is the configured backup key (a secret).
type BackupInput struct {
	BackupID    string      `json:"backup_id"`
	Swift       SwiftAccess `json:"swift"`
	Container   string      `json:"container"`
	Object      string      `json:"object"`
	SegmentSize int64       `json:"segment_size"`
	MasterKey   []byte      `json:"master_key"`
}

// String keeps the secrets out of logs and error messages.
func (in BackupInput) String() string {
	return "backup " + in.BackupID + " to " + in.Container + "/" + in.Object
}

// BackupProgress is how far a backup got: raw bytes read from the engine, bytes stored.
type BackupProgress struct {
	Raw    int64 `json:"raw"`
	Stored int64 `json:"stored"`
}

// RestoreInput is Restore's input: the backup's location and what is needed to read and
// verify it. MasterKey is the configured backup key (a secret).
type RestoreInput struct {
	BackupID   string      `json:"backup_id"`
	Swift      SwiftAccess `json:"swift"`
	Container  string      `json:"container"`
	Object     string      `json:"object"`
	MasterKey  []byte      `json:"master_key"`
	WrappedKey string      `json:"wrapped_key"`
	SHA256     string      `json:"sha256"`
}

// String keeps the secrets out of logs and error messages.
func (in RestoreInput) String() string { return "restore of backup " + in.BackupID }

// Replication activities (PostgreSQL streaming replication). A primary serves each replica
// through a replication slot of its own, named ReplicationSlot(replica ID), so that it keeps
// the WAL the replica has not received yet.
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
	// StopWritesActivity, on the primary of a planned switchover: shuts the engine down
	// cleanly, which sends every WAL record to the connected replicas first, and returns
	// the last LSN it wrote (LSN). Nothing committed is lost and nothing more is written.
	StopWritesActivity = "StopWrites"
	// WaitReplayActivity, on a replica: waits until it has replayed past an LSN
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

// LSN is a WAL position (PostgreSQL's pg_lsn) as a number: positions compare as numbers.
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
	// LSN is the position the replica must have replayed past.
	LSN LSN `json:"lsn"`
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
