package guest

import "fmt"

// The tenant's databases, users and root, named as Trove's guest calls. The API reaches
// them through the GuestCall workflow (Client.Call). System databases and roles (the
// engine's own, the agent's, root) are never listed, changed or dropped through them:
// naming one fails with ErrInvalid. A database or user that does not exist fails with
// ErrNotFound, one that exists already with ErrExists.
const (
	// CreateDatabasesActivity makes databases ([]coffer.Database); existing ones are left
	// alone.
	CreateDatabasesActivity = "CreateDatabases"
	// ListDatabasesActivity lists the tenant's databases by name (no input; []coffer.Database).
	ListDatabasesActivity = "ListDatabases"
	// DeleteDatabaseActivity drops a database (DatabaseRef), closing its sessions.
	DeleteDatabaseActivity = "DeleteDatabase"
	// CreateUsersActivity makes users with access to their databases ([]coffer.User).
	CreateUsersActivity = "CreateUsers"
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
	// EnableRootActivity makes RootUser the tenant's master user that can log in, with
	// the password given (EnableRootInput).
	EnableRootActivity = "EnableRoot"
	// DisableRootActivity stops RootUser from logging in (no input).
	DisableRootActivity = "DisableRoot"
	// RootEnabledActivity reports whether RootUser can log in (no input; bool).
	RootEnabledActivity = "RootEnabled"
)

// RootUser is the master user a tenant gets with root enable, as Trove names it; unlike
// Trove's, it is not the engine's superuser.
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
