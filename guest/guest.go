package guest

import (
	"context"
	"maps"
	"reflect"
	"slices"

	"github.com/coffer-dbaas/coffer"
)

// TaskQueue is the task queue the guest agent of an instance polls, and the only one a
// guest may poll.
func TaskQueue(instanceID string) string { return "guestagent." + instanceID }

// signatures holds every activity of the contract with the type of the function that
// serves it: what it takes besides its context, and what it returns besides its error.
func signatures() map[string]reflect.Type {
	return map[string]reflect.Type{
		// The engine (engine.go).
		PrepareActivity:        reflect.TypeFor[func(context.Context, PrepareInput) error](),
		HealthActivity:         reflect.TypeFor[func(context.Context) (HealthReport, error)](),
		StopEngineActivity:     reflect.TypeFor[func(context.Context) error](),
		StartEngineActivity:    reflect.TypeFor[func(context.Context) error](),
		RestartEngineActivity:  reflect.TypeFor[func(context.Context) error](),
		GrowFilesystemActivity: reflect.TypeFor[func(context.Context, GrowFilesystemInput) (VolumeUsage, error)](),
		VolumeUsageActivity:    reflect.TypeFor[func(context.Context) (VolumeUsage, error)](),

		// Databases, users and root (users.go).
		CreateDatabasesActivity: reflect.TypeFor[func(context.Context, []coffer.Database) error](),
		ListDatabasesActivity:   reflect.TypeFor[func(context.Context) ([]coffer.Database, error)](),
		DeleteDatabaseActivity:  reflect.TypeFor[func(context.Context, DatabaseRef) error](),
		CreateUsersActivity:     reflect.TypeFor[func(context.Context, []coffer.User) error](),
		ListUsersActivity:       reflect.TypeFor[func(context.Context) ([]UserInfo, error)](),
		GetUserActivity:         reflect.TypeFor[func(context.Context, UserRef) (UserInfo, error)](),
		UpdateUserActivity:      reflect.TypeFor[func(context.Context, UpdateUserInput) error](),
		DeleteUserActivity:      reflect.TypeFor[func(context.Context, UserRef) error](),
		ChangePasswordsActivity: reflect.TypeFor[func(context.Context, []coffer.User) error](),
		GrantAccessActivity:     reflect.TypeFor[func(context.Context, AccessInput) error](),
		RevokeAccessActivity:    reflect.TypeFor[func(context.Context, AccessInput) error](),
		ListAccessActivity:      reflect.TypeFor[func(context.Context, UserRef) ([]string, error)](),
		EnableRootActivity:      reflect.TypeFor[func(context.Context, EnableRootInput) error](),
		DisableRootActivity:     reflect.TypeFor[func(context.Context) error](),
		RootEnabledActivity:     reflect.TypeFor[func(context.Context) (bool, error)](),

		// Configuration groups (configuration.go).
		ApplyConfigurationActivity: reflect.TypeFor[func(context.Context, ConfigurationInput) (ConfigurationResult, error)](),
		ConfigurationActivity:      reflect.TypeFor[func(context.Context) (map[string]string, error)](),

		// Backup and restore (backup.go).
		BackupActivity:  reflect.TypeFor[func(context.Context, BackupInput) (BackupResult, error)](),
		RestoreActivity: reflect.TypeFor[func(context.Context, RestoreInput) error](),

		// Logs (log.go).
		ListLogsActivity:   reflect.TypeFor[func(context.Context) ([]LogInfo, error)](),
		SetLogActivity:     reflect.TypeFor[func(context.Context, SetLogInput) (LogInfo, error)](),
		PublishLogActivity: reflect.TypeFor[func(context.Context, PublishLogInput) (LogInfo, error)](),
		DiscardLogActivity: reflect.TypeFor[func(context.Context, LogRef) (LogInfo, error)](),

		// Replication (replication.go).
		ReplicationSourceActivity:   reflect.TypeFor[func(context.Context, ReplicationSourceInput) (ReplicationSource, error)](),
		SeedReplicaActivity:         reflect.TypeFor[func(context.Context, SeedReplicaInput) error](),
		ReplicationStatusActivity:   reflect.TypeFor[func(context.Context) (ReplicationStatus, error)](),
		StopWritesActivity:          reflect.TypeFor[func(context.Context) (Position, error)](),
		WaitReplayActivity:          reflect.TypeFor[func(context.Context, WaitReplayInput) error](),
		PromoteActivity:             reflect.TypeFor[func(context.Context) error](),
		FollowActivity:              reflect.TypeFor[func(context.Context, FollowInput) error](),
		FenceActivity:               reflect.TypeFor[func(context.Context) error](),
		DropReplicationSlotActivity: reflect.TypeFor[func(context.Context, ReplicationSlotRef) error](),
	}
}

// Activities lists, sorted, every activity a guest serves: the agent registers exactly
// these, and the guest gateway lets a guest answer nothing else.
func Activities() []string { return slices.Sorted(maps.Keys(signatures())) }

// Serves reports whether name is an activity of the contract.
func Serves(name string) bool {
	_, ok := signatures()[name]
	return ok
}

// Signature is the type of the function that serves the activity name (its context and
// input, its result and error), or nil for a name outside the contract. The agent's tests
// check its activities against it.
func Signature(name string) reflect.Type { return signatures()[name] }

// StandIns are, for tests of workflows that call guests, a function of the contract's
// signature for every activity, each failing with err: register them by name (Temporal's
// test environment mocks only registered activities), then mock what the test needs.
//
//	for name, fn := range guest.StandIns(errors.New("not mocked")) {
//		env.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
//	}
func StandIns(err error) map[string]any {
	fns := map[string]any{}
	for name, typ := range signatures() {
		fns[name] = reflect.MakeFunc(typ, func([]reflect.Value) []reflect.Value {
			out := make([]reflect.Value, typ.NumOut())
			for i := range out {
				out[i] = reflect.Zero(typ.Out(i))
			}
			if err != nil {
				out[len(out)-1] = reflect.ValueOf(&err).Elem()
			}
			return out
		}).Interface()
	}
	return fns
}
