package guestagent

import (
	"context"
	"errors"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/configdrive"
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
	Prepare(ctx context.Context, in PrepareInput) error
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
	Health(ctx context.Context) HealthReport
	// Stop stops the engine cleanly; a stopped engine is no error.
	Stop(ctx context.Context) error
}

// NewDriver makes an engine's driver for the instance: cfg is the agent's configuration, inst
// what the server knows about itself (address, flavor, volumes).
type NewDriver func(cfg Config, inst configdrive.Instance) (Driver, error)

// ErrInvalid marks a request that no retry can mend, such as a reserved or malformed name.
var ErrInvalid = errors.New("invalid request")
