package redis

import (
	"context"
	"fmt"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestagent"
)

// Redis has no databases or users in Trove's sense: Trove's Redis guest answers their
// operations with DatastoreOperationNotSupported, which the API answers itself before it
// asks the guest. Here they are ErrInvalid, which the agent does not retry; configuration
// groups and guest logs are not built yet for Redis.
func notSupported(operation string) error {
	return fmt.Errorf("%w: the '%s' operation is not supported for the '%s' datastore", guestagent.ErrInvalid, operation, Datastore)
}

// CreateDatabases: Redis has no databases to make (none asked is no error).
func (d *Driver) CreateDatabases(_ context.Context, dbs []coffer.Database) error {
	if len(dbs) == 0 {
		return nil
	}
	return notSupported("create_database")
}

// CreateUsers: Redis has no users to make (none asked is no error).
func (d *Driver) CreateUsers(_ context.Context, users []coffer.User) error {
	if len(users) == 0 {
		return nil
	}
	return notSupported("create_user")
}

// ListDatabases is not supported for Redis.
func (d *Driver) ListDatabases(context.Context) ([]coffer.Database, error) {
	return nil, notSupported("list_databases")
}

// DeleteDatabase is not supported for Redis.
func (d *Driver) DeleteDatabase(context.Context, string) error {
	return notSupported("delete_database")
}

// ListUsers is not supported for Redis.
func (d *Driver) ListUsers(context.Context) ([]guest.UserInfo, error) {
	return nil, notSupported("list_users")
}

// GetUser is not supported for Redis.
func (d *Driver) GetUser(context.Context, guest.UserRef) (guest.UserInfo, error) {
	return guest.UserInfo{}, notSupported("get_user")
}

// UpdateUser is not supported for Redis.
func (d *Driver) UpdateUser(context.Context, guest.UpdateUserInput) error {
	return notSupported("update_attributes")
}

// DeleteUser is not supported for Redis.
func (d *Driver) DeleteUser(context.Context, guest.UserRef) error {
	return notSupported("delete_user")
}

// ChangePasswords is not supported for Redis.
func (d *Driver) ChangePasswords(context.Context, []coffer.User) error {
	return notSupported("change_passwords")
}

// GrantAccess is not supported for Redis.
func (d *Driver) GrantAccess(context.Context, guest.AccessInput) error {
	return notSupported("grant_access")
}

// RevokeAccess is not supported for Redis.
func (d *Driver) RevokeAccess(context.Context, guest.AccessInput) error {
	return notSupported("revoke_access")
}

// ListAccess is not supported for Redis.
func (d *Driver) ListAccess(context.Context, guest.UserRef) ([]string, error) {
	return nil, notSupported("list_access")
}

// ApplyConfiguration is not built yet for Redis.
func (d *Driver) ApplyConfiguration(context.Context, map[string]string) ([]string, error) {
	return nil, fmt.Errorf("apply configuration: %w: not supported for %s yet", guestagent.ErrInvalid, Datastore)
}

// Configuration is not built yet for Redis.
func (d *Driver) Configuration(context.Context) (map[string]string, error) {
	return nil, fmt.Errorf("configuration: %w: not supported for %s yet", guestagent.ErrInvalid, Datastore)
}

// Logs lists no guest logs for Redis yet.
func (d *Driver) Logs(context.Context) ([]guestagent.EngineLog, error) { return nil, nil }

// SetLog knows no log for Redis yet.
func (d *Driver) SetLog(_ context.Context, name string, _ bool) error {
	return fmt.Errorf("log %s: %w", name, guestagent.ErrNotFound)
}
