package guestagent

import (
	"context"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/guest"
)

// usersActivities are the activities that manage the tenant's databases, users and root.
func (a *activities) usersActivities() map[string]any {
	return map[string]any{
		guest.ListDatabasesActivity:   a.ListDatabases,
		guest.DeleteDatabaseActivity:  a.DeleteDatabase,
		guest.ListUsersActivity:       a.ListUsers,
		guest.GetUserActivity:         a.GetUser,
		guest.UpdateUserActivity:      a.UpdateUser,
		guest.DeleteUserActivity:      a.DeleteUser,
		guest.ChangePasswordsActivity: a.ChangePasswords,
		guest.GrantAccessActivity:     a.GrantAccess,
		guest.RevokeAccessActivity:    a.RevokeAccess,
		guest.ListAccessActivity:      a.ListAccess,
		guest.EnableRootActivity:      a.EnableRoot,
		guest.DisableRootActivity:     a.DisableRoot,
		guest.RootEnabledActivity:     a.RootEnabled,
	}
}

// ListDatabases lists the tenant's databases; see guest.ListDatabasesActivity.
func (a *activities) ListDatabases(ctx context.Context) ([]coffer.Database, error) {
	dbs, err := a.driver.ListDatabases(ctx)
	if err != nil {
		return nil, a.fail(ctx, guest.ListDatabasesActivity, err)
	}
	return dbs, nil
}

// DeleteDatabase drops a database; see guest.DeleteDatabaseActivity.
func (a *activities) DeleteDatabase(ctx context.Context, in guest.DatabaseRef) error {
	a.logger(ctx).Info("deleting database", "database", in.Name)
	if err := a.driver.DeleteDatabase(ctx, in.Name); err != nil {
		return a.fail(ctx, guest.DeleteDatabaseActivity, err)
	}
	return nil
}

// ListUsers lists the tenant's users; see guest.ListUsersActivity.
func (a *activities) ListUsers(ctx context.Context) ([]guest.UserInfo, error) {
	users, err := a.driver.ListUsers(ctx)
	if err != nil {
		return nil, a.fail(ctx, guest.ListUsersActivity, err)
	}
	return users, nil
}

// GetUser shows a user; see guest.GetUserActivity.
func (a *activities) GetUser(ctx context.Context, in guest.UserRef) (guest.UserInfo, error) {
	u, err := a.driver.GetUser(ctx, in)
	if err != nil {
		return guest.UserInfo{}, a.fail(ctx, guest.GetUserActivity, err)
	}
	return u, nil
}

// UpdateUser changes a user; see guest.UpdateUserActivity.
func (a *activities) UpdateUser(ctx context.Context, in guest.UpdateUserInput) error {
	a.logger(ctx).Info("updating user", "user", in.Name, "new_name", in.NewName, "new_host", in.NewHost, "new_password", in.Password != "")
	if err := a.driver.UpdateUser(ctx, in); err != nil {
		return a.fail(ctx, guest.UpdateUserActivity, err)
	}
	return nil
}

// DeleteUser drops a user; see guest.DeleteUserActivity.
func (a *activities) DeleteUser(ctx context.Context, in guest.UserRef) error {
	a.logger(ctx).Info("deleting user", "user", in.Name)
	if err := a.driver.DeleteUser(ctx, in); err != nil {
		return a.fail(ctx, guest.DeleteUserActivity, err)
	}
	return nil
}

// ChangePasswords sets users' passwords; see guest.ChangePasswordsActivity.
func (a *activities) ChangePasswords(ctx context.Context, users []coffer.User) error {
	a.logger(ctx).Info("changing passwords", "users", userNames(users))
	if err := a.driver.ChangePasswords(ctx, users); err != nil {
		return a.fail(ctx, guest.ChangePasswordsActivity, err)
	}
	return nil
}

// GrantAccess grants databases to a user; see guest.GrantAccessActivity.
func (a *activities) GrantAccess(ctx context.Context, in guest.AccessInput) error {
	a.logger(ctx).Info("granting access", "user", in.Name, "databases", in.Databases)
	if err := a.driver.GrantAccess(ctx, in); err != nil {
		return a.fail(ctx, guest.GrantAccessActivity, err)
	}
	return nil
}

// RevokeAccess revokes databases from a user; see guest.RevokeAccessActivity.
func (a *activities) RevokeAccess(ctx context.Context, in guest.AccessInput) error {
	a.logger(ctx).Info("revoking access", "user", in.Name, "databases", in.Databases)
	if err := a.driver.RevokeAccess(ctx, in); err != nil {
		return a.fail(ctx, guest.RevokeAccessActivity, err)
	}
	return nil
}

// ListAccess lists a user's databases; see guest.ListAccessActivity.
func (a *activities) ListAccess(ctx context.Context, in guest.UserRef) ([]string, error) {
	dbs, err := a.driver.ListAccess(ctx, in)
	if err != nil {
		return nil, a.fail(ctx, guest.ListAccessActivity, err)
	}
	return dbs, nil
}

// EnableRoot enables root; see guest.EnableRootActivity.
func (a *activities) EnableRoot(ctx context.Context, in guest.EnableRootInput) error {
	a.logger(ctx).Info("enabling root")
	if err := a.driver.EnableRoot(ctx, in.Password); err != nil {
		return a.fail(ctx, guest.EnableRootActivity, err)
	}
	return nil
}

// DisableRoot disables root; see guest.DisableRootActivity.
func (a *activities) DisableRoot(ctx context.Context) error {
	a.logger(ctx).Info("disabling root")
	if err := a.driver.DisableRoot(ctx); err != nil {
		return a.fail(ctx, guest.DisableRootActivity, err)
	}
	return nil
}

// RootEnabled reports whether root can log in; see guest.RootEnabledActivity.
func (a *activities) RootEnabled(ctx context.Context) (bool, error) {
	enabled, err := a.driver.RootEnabled(ctx)
	if err != nil {
		return false, a.fail(ctx, guest.RootEnabledActivity, err)
	}
	return enabled, nil
}
