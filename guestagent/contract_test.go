package guestagent

import (
	"log/slog"
	"reflect"
	"testing"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"

	"github.com/coffer-dbaas/coffer/guest"
)

// replicatingDriver is a driver of an engine that replicates; the test only registers its
// activities, it never calls them.
type replicatingDriver struct {
	Driver
	Replicator
}

// recordingRegistry remembers what the agent registers.
type recordingRegistry struct {
	worker.ActivityRegistry
	fns map[string]any
}

func (r *recordingRegistry) RegisterActivityWithOptions(fn any, opts activity.RegisterOptions) {
	r.fns[opts.Name] = fn
}

// TestAgentServesExactlyTheContract checks both sides of the contract: the agent of an
// engine that replicates registers every activity of guest.Activities, with the contract's
// signature, and nothing else.
func TestAgentServesExactlyTheContract(t *testing.T) {
	reg := &recordingRegistry{fns: map[string]any{}}
	(&activities{driver: replicatingDriver{}, datastore: "postgresql", log: slog.New(slog.DiscardHandler)}).register(reg)

	for _, name := range guest.Activities() {
		fn, ok := reg.fns[name]
		if !ok {
			t.Errorf("the agent does not serve %s, which the contract lists", name)
			continue
		}
		if got, want := reflect.TypeOf(fn), guest.Signature(name); got != want {
			t.Errorf("the agent serves %s as %v, the contract says %v", name, got, want)
		}
	}
	for name := range reg.fns {
		if !guest.Serves(name) {
			t.Errorf("the agent serves %s, which the contract does not list", name)
		}
	}
}

// TestAgentWithoutReplicationServesNoReplication checks that an engine that does not
// replicate serves the contract but its replication activities.
func TestAgentWithoutReplicationServesNoReplication(t *testing.T) {
	reg := &recordingRegistry{fns: map[string]any{}}
	(&activities{driver: struct{ Driver }{}, datastore: "postgresql", log: slog.New(slog.DiscardHandler)}).register(reg)
	for _, name := range []string{guest.PrepareActivity, guest.HealthActivity, guest.BackupActivity, guest.ListUsersActivity} {
		if _, ok := reg.fns[name]; !ok {
			t.Errorf("the agent does not serve %s", name)
		}
	}
	for _, name := range []string{guest.ReplicationSourceActivity, guest.SeedReplicaActivity, guest.PromoteActivity} {
		if _, ok := reg.fns[name]; ok {
			t.Errorf("an agent whose engine does not replicate serves %s", name)
		}
	}
}
