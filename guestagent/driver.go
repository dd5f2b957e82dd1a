package guestagent

import (
	"context"
	"errors"
	"io"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/guest"
)

// Driver runs one database engine on the instance's volume. The agent calls it from its
// activities, which Temporal retries, so every method must be safe to call again after a
// failure or a crash halfway through: it finds what the earlier call made and finishes the job.
// Methods may be called concurrently (Health while Prepare runs).
//
// An error that wraps ErrInvalid says the request itself is wrong (a bad name, an unknown
// database): the agent fails the activity without retries. Any other error is retried.
// Errors and logs never carry a user's password.
type Driver interface {
	// Prepare makes the engine ready: creates the cluster on the volume if there is none,
	// configures it for the instance's flavor, starts it, then creates in.Databases and
	// in.Users. Calling it again with the same input changes nothing.
	Prepare(ctx context.Context, in guest.PrepareInput) error
	// Start starts an engine that an earlier Prepare made, with the configuration of the
	// instance's current flavor (the server rebooted, or was resized). It does nothing when
	// the engine was never prepared or runs already with that configuration; an engine that
	// runs with another flavor's configuration is restarted.
	Start(ctx context.Context) error
	// CreateDatabases makes the databases that do not exist yet; existing ones are left alone.
	CreateDatabases(ctx context.Context, dbs []coffer.Database) error
	// CreateUsers makes each user (or sets its password again when it exists) with access to
	// its databases, which must exist; a user cannot connect to databases not granted to it.
	CreateUsers(ctx context.Context, users []coffer.User) error
	// Health reports the engine's state: HEALTHY when it answers a query, SHUTDOWN when it
	// is not running, NEW before it was ever prepared, ERROR (with a detail) otherwise.
	Health(ctx context.Context) guest.HealthReport
	// Stop stops the engine cleanly; a stopped engine is no error.
	Stop(ctx context.Context) error
	// GrowFilesystem grows the data volume's filesystem to sizeGB after the cloud extended
	// the volume; a filesystem that has that size already is left alone.
	GrowFilesystem(ctx context.Context, sizeGB int) error
	// guest.VolumeUsage reports the data volume's size and what the data takes of it.
	VolumeUsage(ctx context.Context) (guest.VolumeUsage, error)

	// The tenant's databases, users and root (see the activities of the same names). Missing
	// databases or users wrap ErrNotFound, existing ones ErrExists, system ones ErrInvalid.

	// ListDatabases lists the tenant's databases, sorted by name.
	ListDatabases(ctx context.Context) ([]coffer.Database, error)
	// DeleteDatabase drops a database, ending its sessions first.
	DeleteDatabase(ctx context.Context, name string) error
	// ListUsers lists the tenant's users, sorted by name, with their databases.
	ListUsers(ctx context.Context) ([]guest.UserInfo, error)
	// GetUser shows one user; a host other than the user's is ErrNotFound.
	GetUser(ctx context.Context, user guest.UserRef) (guest.UserInfo, error)
	// UpdateUser renames a user, or sets its password or host.
	UpdateUser(ctx context.Context, in guest.UpdateUserInput) error
	// DeleteUser drops a user; what it owned passes to the agent.
	DeleteUser(ctx context.Context, user guest.UserRef) error
	// ChangePasswords sets the passwords of existing users; none changes when one is missing.
	ChangePasswords(ctx context.Context, users []coffer.User) error
	// GrantAccess gives the user all rights on each database.
	GrantAccess(ctx context.Context, in guest.AccessInput) error
	// RevokeAccess takes the user's rights on each database away.
	RevokeAccess(ctx context.Context, in guest.AccessInput) error
	// ListAccess lists the databases the user may connect to, sorted.
	ListAccess(ctx context.Context, user guest.UserRef) ([]string, error)
	// EnableRoot makes guest.RootUser the tenant's master user that logs in with password:
	// it manages the tenant's databases, users and data, but is never the engine's
	// superuser, nor reaches the server's programs or files.
	EnableRoot(ctx context.Context, password string) error
	// DisableRoot stops guest.RootUser from logging in; no root is no error.
	DisableRoot(ctx context.Context) error
	// RootEnabled reports whether guest.RootUser can log in.
	RootEnabled(ctx context.Context) (bool, error)

	// ApplyConfiguration sets the values of the instance's configuration group, replacing
	// the ones set before (none: back to the defaults), keeps them for every later start
	// (where they win over the settings sized from the flavor), applies at once what the
	// engine takes without a restart, and returns the changed settings that wait for the
	// engine's next start, sorted. A value the engine refuses wraps ErrInvalid, and then
	// nothing changes.
	ApplyConfiguration(ctx context.Context, values map[string]string) ([]string, error)
	// Configuration reports the settings Coffer set that the engine runs with (sized from
	// the flavor, and the group's values), as the engine shows them.
	Configuration(ctx context.Context) (map[string]string, error)

	// Backup writes a physical backup of the running engine to dst, as a stream the
	// engine's Restore reads back (for PostgreSQL, pg_basebackup's tar). It must not buffer
	// the stream: dst applies the back-pressure.
	Backup(ctx context.Context, dst io.Writer) error
	// Restore makes the engine's data from a backup before the engine was ever prepared:
	// fill writes the stream Backup made into the writer it is given, and Restore unpacks
	// it somewhere the engine does not look yet. Only when fill and the unpacking succeed
	// does the data go into place (with the agent's own admin access set up again), so a
	// failed or corrupt restore leaves nothing an engine would start. An engine that has
	// data already is an ErrInvalid.
	Restore(ctx context.Context, fill func(w io.Writer) error) error

	// Logs lists the logs the engine exposes to its tenant (Trove's guest logs): each with
	// its type (guest.LogUser, guest.LogSys), the file it is written to, and whether it is
	// on. The agent publishes the files; the driver only knows where they are.
	Logs(ctx context.Context) ([]EngineLog, error)
	// SetLog turns a USER log on or off; an unknown name is ErrNotFound, a SYS log
	// ErrInvalid. Setting it as it is changes nothing.
	SetLog(ctx context.Context, name string, enable bool) error
}

// EngineLog is a log of the engine: guest.LogInfo's name, type and state, and its file.
type EngineLog struct {
	Name    string
	Type    string
	Enabled bool
	Path    string
}

// NewDriver makes an engine's driver for the instance: cfg is the agent's configuration, host
// what the agent learned of its server (address, size, the mounted data volume).
type NewDriver func(cfg guest.Config, host Host) (Driver, error)

// A driver's errors that no retry mends; the agent fails the activity with the contract's
// error type of the same name (guest.ErrInvalid, guest.ErrNotFound, guest.ErrExists).

// ErrInvalid marks a request that no retry can mend, such as a reserved or malformed name.
var ErrInvalid = errors.New("invalid request")

// ErrNotFound marks a request naming a database or user that does not exist; ErrExists one
// that would make a database or user that exists already. Neither is retried.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
)

// Replicator is a Driver whose engine replicates (PostgreSQL streaming replication, MariaDB
// GTID replication). The agent serves the replication activities only for drivers that
// implement it. Like the Driver's, every method is safe to call again after a failure or a
// crash halfway through. A slot is the name a primary serves one replica under
// (guest.ReplicationSlot); an engine that keeps nothing per replica only checks it.
type Replicator interface {
	// ReplicationSource makes the engine (a primary) serve replicas: the replication user,
	// its access, and the slot; it returns how a replica reaches it.
	ReplicationSource(ctx context.Context, slot string) (guest.ReplicationSource, error)
	// SeedReplica makes a new engine a copy of src's and starts it as src's standby. An
	// engine seeded already is only started.
	SeedReplica(ctx context.Context, src guest.ReplicationSource) error
	// ReplicationStatus reports the engine's role and positions.
	ReplicationStatus(ctx context.Context) (guest.ReplicationStatus, error)
	// StopWrites makes a primary write nothing more (PostgreSQL shuts down cleanly, its
	// replicas receiving all of its WAL; MariaDB turns read-only once the transactions in
	// flight end) and returns the last position it wrote. An engine stopped already
	// reports its last position; Start lets it write again.
	StopWrites(ctx context.Context) (guest.Position, error)
	// WaitReplay waits until a replica has replayed everything up to pos, or ctx ends.
	WaitReplay(ctx context.Context, pos guest.Position) error
	// Promote makes a replica a primary; a primary is left alone.
	Promote(ctx context.Context) error
	// Follow makes the engine a replica of src, rewinding a former primary first.
	Follow(ctx context.Context, src guest.ReplicationSource) error
	// Fence makes the engine a read-only standby of no one, for good.
	Fence(ctx context.Context) error
	// DropReplicationSlot drops a slot of a primary (when the engine keeps any); a missing
	// slot is no error.
	DropReplicationSlot(ctx context.Context, slot string) error
}
