package guestagent

import (
	"context"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"

	"github.com/coffer-dbaas/coffer"
)

// Error types of the failures of the database, user and root activities that the API
// answers with 404 and 400: the request names something missing, or something that exists.
const (
	ErrorTypeNotFound = "NotFound"
	ErrorTypeExists   = "AlreadyExists"
)

// registerEveryday registers the activities that manage the tenant's databases, users and
// root.
func (a *activities) registerEveryday(w worker.Registry) {
	for name, fn := range map[string]any{
		ListDatabasesActivity:   a.ListDatabases,
		DeleteDatabaseActivity:  a.DeleteDatabase,
		ListUsersActivity:       a.ListUsers,
		GetUserActivity:         a.GetUser,
		UpdateUserActivity:      a.UpdateUser,
		DeleteUserActivity:      a.DeleteUser,
		ChangePasswordsActivity: a.ChangePasswords,
		GrantAccessActivity:     a.GrantAccess,
		RevokeAccessActivity:    a.RevokeAccess,
		ListAccessActivity:      a.ListAccess,
		EnableRootActivity:      a.EnableRoot,
		DisableRootActivity:     a.DisableRoot,
		RootEnabledActivity:     a.RootEnabled,
	} {
		w.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
}

// ListDatabases lists the tenant's databases; see ListDatabasesActivity.
func (a *activities) ListDatabases(ctx context.Context) ([]coffer.Database, error) {
	dbs, err := a.driver.ListDatabases(ctx)
	if err != nil {
		return nil, a.fail(ctx, ListDatabasesActivity, err)
	}
	return dbs, nil
}

// DeleteDatabase drops a database; see DeleteDatabaseActivity.
func (a *activities) DeleteDatabase(ctx context.Context, in DatabaseRef) error {
	a.logger(ctx).Info("deleting database", "database", in.Name)
	if err := a.driver.DeleteDatabase(ctx, in.Name); err != nil {
		return a.fail(ctx, DeleteDatabaseActivity, err)
	}
	return nil
}

// ListUsers lists the tenant's users; see ListUsersActivity.
func (a *activities) ListUsers(ctx context.Context) ([]UserInfo, error) {
	users, err := a.driver.ListUsers(ctx)
	if err != nil {
		return nil, a.fail(ctx, ListUsersActivity, err)
	}
	return users, nil
}

// GetUser shows a user; see GetUserActivity.
func (a *activities) GetUser(ctx context.Context, in UserRef) (UserInfo, error) {
	u, err := a.driver.GetUser(ctx, in)
	if err != nil {
		return UserInfo{}, a.fail(ctx, GetUserActivity, err)
	}
	return u, nil
}

// UpdateUser changes a user; see UpdateUserActivity.
func (a *activities) UpdateUser(ctx context.Context, in UpdateUserInput) error {
	a.logger(ctx).Info("updating user", "user", in.Name, "new_name", in.NewName, "new_host", in.NewHost, "new_password", in.Password != "")
	if err := a.driver.UpdateUser(ctx, in); err != nil {
		return a.fail(ctx, UpdateUserActivity, err)
	}
	return nil
}

// DeleteUser drops a user; see DeleteUserActivity.
func (a *activities) DeleteUser(ctx context.Context, in UserRef) error {
	a.logger(ctx).Info("deleting user", "user", in.Name)
	if err := a.driver.DeleteUser(ctx, in); err != nil {
		return a.fail(ctx, DeleteUserActivity, err)
	}
	return nil
}

// ChangePasswords sets users' passwords; see ChangePasswordsActivity.
func (a *activities) ChangePasswords(ctx context.Context, users []coffer.User) error {
	a.logger(ctx).Info("changing passwords", "users", userNames(users))
	if err := a.driver.ChangePasswords(ctx, users); err != nil {
		return a.fail(ctx, ChangePasswordsActivity, err)
	}
	return nil
}

// GrantAccess grants databases to a user; see GrantAccessActivity.
func (a *activities) GrantAccess(ctx context.Context, in AccessInput) error {
	a.logger(ctx).Info("granting access", "user", in.Name, "databases", in.Databases)
	if err := a.driver.GrantAccess(ctx, in); err != nil {
		return a.fail(ctx, GrantAccessActivity, err)
	}
	return nil
}

// RevokeAccess revokes databases from a user; see RevokeAccessActivity.
func (a *activities) RevokeAccess(ctx context.Context, in AccessInput) error {
	a.logger(ctx).Info("revoking access", "user", in.Name, "databases", in.Databases)
	if err := a.driver.RevokeAccess(ctx, in); err != nil {
		return a.fail(ctx, RevokeAccessActivity, err)
	}
	return nil
}

// ListAccess lists a user's databases; see ListAccessActivity.
func (a *activities) ListAccess(ctx context.Context, in UserRef) ([]string, error) {
	dbs, err := a.driver.ListAccess(ctx, in)
	if err != nil {
		return nil, a.fail(ctx, ListAccessActivity, err)
	}
	return dbs, nil
}

// EnableRoot enables root; see EnableRootActivity.
func (a *activities) EnableRoot(ctx context.Context, in EnableRootInput) error {
	a.logger(ctx).Info("enabling root")
	if err := a.driver.EnableRoot(ctx, in.Password); err != nil {
		return a.fail(ctx, EnableRootActivity, err)
	}
	return nil
}

// DisableRoot disables root; see DisableRootActivity.
func (a *activities) DisableRoot(ctx context.Context) error {
	a.logger(ctx).Info("disabling root")
	if err := a.driver.DisableRoot(ctx); err != nil {
		return a.fail(ctx, DisableRootActivity, err)
	}
	return nil
}

// RootEnabled reports whether root can log in; see RootEnabledActivity.
func (a *activities) RootEnabled(ctx context.Context) (bool, error) {
	enabled, err := a.driver.RootEnabled(ctx)
	if err != nil {
		return false, a.fail(ctx, RootEnabledActivity, err)
	}
	return enabled, nil
}
