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
