package guestagent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/guest"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
)

// activities are the guest's activities, served under the contract's names. Each one logs
// what it did, maps the driver's errors to Temporal's (ErrInvalid is not retried) and
// never logs a password.
type activities struct {
	driver    Driver
	datastore string
	log       *slog.Logger
}

// register serves the contract's activities on w, each under its name in the contract
// (guest.Activities); the replication activities only when the driver replicates.
func (a *activities) register(w worker.ActivityRegistry) {
	for name, fn := range a.served() {
		w.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
}

// served maps the name of each activity the agent serves to the function that serves it.
func (a *activities) served() map[string]any {
	fns := map[string]any{
		guest.PrepareActivity:         a.Prepare,
		guest.CreateDatabasesActivity: a.CreateDatabases,
		guest.CreateUsersActivity:     a.CreateUsers,
		guest.HealthActivity:          a.Health,
		guest.StopEngineActivity:      a.StopEngine,
		guest.BackupActivity:          a.Backup,
		guest.RestoreActivity:         a.Restore,
		guest.StartEngineActivity:     a.StartEngine,
		guest.RestartEngineActivity:   a.RestartEngine,
		guest.GrowFilesystemActivity:  a.GrowFilesystem,
		guest.VolumeUsageActivity:     a.VolumeUsage,
	}
	maps.Copy(fns, a.configurationActivities())
	maps.Copy(fns, a.usersActivities())
	maps.Copy(fns, a.replicationActivities())
	maps.Copy(fns, a.logActivities())
	return fns
}

// Prepare runs the driver's Prepare; see guest.PrepareActivity.
func (a *activities) Prepare(ctx context.Context, in guest.PrepareInput) error {
	if in.Datastore != "" && in.Datastore != a.datastore {
		return a.fail(ctx, guest.PrepareActivity, fmt.Errorf("prepare %s: %w: this agent runs %s", in.Datastore, ErrInvalid, a.datastore))
	}
	defer keepAlive(ctx)()
	a.logger(ctx).Info("preparing the engine", "version", in.Version,
		"databases", databaseNames(in.Databases), "users", userNames(in.Users), "configuration", slices.Sorted(maps.Keys(in.Configuration)))
	if err := a.driver.Prepare(ctx, in); err != nil {
		return a.fail(ctx, guest.PrepareActivity, err)
	}
	a.logger(ctx).Info("engine prepared")
	return nil
}

// CreateDatabases runs the driver's CreateDatabases; see guest.CreateDatabasesActivity.
func (a *activities) CreateDatabases(ctx context.Context, dbs []coffer.Database) error {
	a.logger(ctx).Info("creating databases", "databases", databaseNames(dbs))
	if err := a.driver.CreateDatabases(ctx, dbs); err != nil {
		return a.fail(ctx, guest.CreateDatabasesActivity, err)
	}
	return nil
}

// CreateUsers runs the driver's CreateUsers; see guest.CreateUsersActivity.
func (a *activities) CreateUsers(ctx context.Context, users []coffer.User) error {
	a.logger(ctx).Info("creating users", "users", userNames(users))
	if err := a.driver.CreateUsers(ctx, users); err != nil {
		return a.fail(ctx, guest.CreateUsersActivity, err)
	}
	return nil
}

// Health reports the engine's state; it never fails, a broken engine is a report.
func (a *activities) Health(ctx context.Context) (guest.HealthReport, error) {
	r := a.driver.Health(ctx)
	if r.At.IsZero() {
		r.At = time.Now().UTC()
	}
	if r.Status != coffer.ServiceHealthy {
		a.logger(ctx).Warn("engine is not healthy", "status", r.Status, "detail", r.Detail)
	}
	return r, nil
}

// StopEngine stops the engine; see guest.StopEngineActivity.
func (a *activities) StopEngine(ctx context.Context) error {
	a.logger(ctx).Info("stopping the engine")
	if err := a.driver.Stop(ctx); err != nil {
		return a.fail(ctx, guest.StopEngineActivity, err)
	}
	return nil
}

// StartEngine starts the engine with the current flavor's configuration; see
// guest.StartEngineActivity.
func (a *activities) StartEngine(ctx context.Context) error {
	a.logger(ctx).Info("starting the engine")
	if err := a.driver.Start(ctx); err != nil {
		return a.fail(ctx, guest.StartEngineActivity, err)
	}
	return nil
}

// RestartEngine stops and starts the engine; see guest.RestartEngineActivity.
func (a *activities) RestartEngine(ctx context.Context) error {
	a.logger(ctx).Info("restarting the engine")
	if err := a.driver.Stop(ctx); err != nil {
		return a.fail(ctx, guest.RestartEngineActivity, err)
	}
	if err := a.driver.Start(ctx); err != nil {
		return a.fail(ctx, guest.RestartEngineActivity, err)
	}
	return nil
}

// GrowFilesystem grows the volume's filesystem and reports what the guest sees then; see
// guest.GrowFilesystemActivity.
func (a *activities) GrowFilesystem(ctx context.Context, in guest.GrowFilesystemInput) (guest.VolumeUsage, error) {
	a.logger(ctx).Info("growing the filesystem", "size_gb", in.SizeGB)
	if err := a.driver.GrowFilesystem(ctx, in.SizeGB); err != nil {
		return guest.VolumeUsage{}, a.fail(ctx, guest.GrowFilesystemActivity, err)
	}
	u, err := a.driver.VolumeUsage(ctx)
	if err != nil {
		return guest.VolumeUsage{}, a.fail(ctx, guest.GrowFilesystemActivity, err)
	}
	return u, nil
}

// guest.VolumeUsage reports the volume's size and use; see guest.VolumeUsageActivity.
func (a *activities) VolumeUsage(ctx context.Context) (guest.VolumeUsage, error) {
	u, err := a.driver.VolumeUsage(ctx)
	if err != nil {
		return guest.VolumeUsage{}, a.fail(ctx, guest.VolumeUsageActivity, err)
	}
	return u, nil
}

// fail logs err and turns the driver's ErrInvalid, ErrNotFound and ErrExists into
// non-retryable ApplicationErrors of the contract's error types (guest.ErrInvalid, ...);
// other errors are retried by the caller's retry policy.
func (a *activities) fail(ctx context.Context, name string, err error) error {
	a.logger(ctx).Error("activity failed", "activity", name, "error", err)
	switch {
	case errors.Is(err, ErrInvalid):
		return temporal.NewNonRetryableApplicationError(err.Error(), guest.ErrInvalid, nil)
	case errors.Is(err, ErrNotFound):
		return temporal.NewNonRetryableApplicationError(err.Error(), guest.ErrNotFound, nil)
	case errors.Is(err, ErrExists):
		return temporal.NewNonRetryableApplicationError(err.Error(), guest.ErrExists, nil)
	}
	return err
}

func (a *activities) logger(ctx context.Context) *slog.Logger {
	if !activity.IsActivity(ctx) {
		return a.log
	}
	info := activity.GetInfo(ctx)
	return a.log.With("workflow_id", info.WorkflowExecution.ID, "activity_attempt", info.Attempt)
}

func databaseNames(dbs []coffer.Database) []string {
	names := make([]string, len(dbs))
	for i, db := range dbs {
		names[i] = db.Name
	}
	return names
}

func userNames(users []coffer.User) []string {
	names := make([]string, len(users))
	for i, u := range users {
		names[i] = u.Name
	}
	return names
}
