package workflows

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/coffer-dbaas/coffer/activities"
	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/guest"
)

// a names the activities in mocks, as the workflows do.
var a *activities.Activities

// harness runs one workflow in the test environment with every activity mocked, and
// remembers what the workflow did: the activities in the order they started (each attempt),
// their task queues, the search attributes and what reached the catalog.
type harness struct {
	t   *testing.T
	env *testsuite.TestWorkflowEnvironment

	mu      sync.Mutex
	started []string
	queues  map[string]string
	// heartbeats holds each activity's heartbeat timeout, as last started.
	heartbeats map[string]time.Duration
	// attrs holds each search attribute's last upserted value.
	attrs     map[string]any
	resources catalog.Resources
	faults    []activities.RecordFaultInput
	notes     []activities.NoteFaultInput
	finished  []activities.FinishTaskInput
	// restartRequired holds what SetRestartRequired recorded, in order.
	restartRequired []activities.SetRestartRequiredInput
	// createRuns makes the instance's create a running workflow that other workflows
	// signal and cancel (a delete that ends it); otherwise it is gone.
	createRuns bool
	// external holds the signals ("<workflow ID> <signal>") and cancellations
	// ("<workflow ID> cancel") sent to other workflows, in order.
	external []string
}

func newHarness(t *testing.T, setup ...func(*testsuite.WorkflowTestSuite)) *harness {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	for _, f := range setup {
		f(&s)
	}
	h := &harness{t: t, env: s.NewTestWorkflowEnvironment(), queues: map[string]string{}, heartbeats: map[string]time.Duration{}, attrs: map[string]any{}}
	Register(h.env)
	h.env.RegisterActivity(a)
	// The guest's activities live in another program: stand-ins of the contract's
	// signatures, which tests mock.
	for name, fn := range guest.StandIns(errors.New("not mocked")) {
		h.env.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}

	h.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.started = append(h.started, info.ActivityType.Name)
		h.queues[info.ActivityType.Name] = info.TaskQueue
		h.heartbeats[info.ActivityType.Name] = info.HeartbeatTimeout
	})
	h.env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(
		func(_, workflowID, _, signalName string, _ any) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			if workflowID == CreateWorkflowID(instanceID) && !h.createRuns {
				return errors.New("unknown external workflow execution")
			}
			h.external = append(h.external, workflowID+" "+signalName)
			return nil
		})
	h.env.OnRequestCancelExternalWorkflow(mock.Anything, mock.Anything, mock.Anything).Return(
		func(_, workflowID, _ string) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.external = append(h.external, workflowID+" cancel")
			return nil
		})
	h.env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		h.mu.Lock()
		defer h.mu.Unlock()
		for k, v := range args.Get(0).(temporal.SearchAttributes).GetUntypedValues() {
			h.attrs[k.GetName()] = v
		}
	}).Return()
	return h
}

// mockCatalog answers the catalog activities and keeps what they were given. Tests that
// want a catalog activity to fail mock it before calling this.
func (h *harness) mockCatalog(r catalog.Resources) {
	h.env.OnActivity(a.RecordResources, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.RecordResourcesInput) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			merge(&h.resources, in.Resources)
			return nil
		})
	h.env.OnActivity(a.RecordFault, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.RecordFaultInput) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.faults = append(h.faults, in)
			return nil
		})
	h.env.OnActivity(a.NoteFault, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.NoteFaultInput) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.notes = append(h.notes, in)
			return nil
		})
	h.env.OnActivity(a.FinishTask, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.FinishTaskInput) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.finished = append(h.finished, in)
			return nil
		})
	h.env.OnActivity(a.ClaimTask, mock.Anything, mock.Anything).Return(nil)
	h.env.OnActivity(a.SetRestartRequired, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.SetRestartRequiredInput) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.restartRequired = append(h.restartRequired, in)
			return nil
		})
	h.env.OnActivity(a.MarkActive, mock.Anything, mock.Anything).Return(nil)
	h.env.OnActivity(a.GetInstanceResources, mock.Anything, mock.Anything).Return(r, nil)
	h.env.OnActivity(a.DeleteInstanceRecord, mock.Anything, mock.Anything).Return(nil)
	h.env.OnActivity(a.RevokeGuestIdentity, mock.Anything, mock.Anything).Return(nil)
}

// merge sets the fields of src that are set, as catalog.Store.UpdateResources does.
func merge(dst *catalog.Resources, src catalog.Resources) {
	for _, f := range []struct {
		d *string
		s string
	}{
		{&dst.ServerID, src.ServerID}, {&dst.VolumeID, src.VolumeID}, {&dst.PortID, src.PortID},
		{&dst.SecurityGroupID, src.SecurityGroupID}, {&dst.Address, src.Address}, {&dst.ServerStatus, src.ServerStatus},
	} {
		if f.s != "" {
			*f.d = f.s
		}
	}
}

// mockDeletes answers every delete and wait-for-delete with success.
func (h *harness) mockDeletes() {
	h.env.OnActivity(a.DeleteServer, mock.Anything, mock.Anything).Return(nil)
	h.env.OnActivity(a.WaitServerDeleted, mock.Anything, mock.Anything).Return(nil)
	h.env.OnActivity(a.DeleteVolume, mock.Anything, mock.Anything).Return(nil)
	h.env.OnActivity(a.DeletePort, mock.Anything, mock.Anything).Return(nil)
	h.env.OnActivity(a.DeleteSecurityGroup, mock.Anything, mock.Anything).Return(nil)
}

// calls returns the activities started so far, in order, each attempt once.
func (h *harness) calls() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.started)
}

// count says how many times the activity started.
func (h *harness) count(name string) int {
	n := 0
	for _, c := range h.calls() {
		if c == name {
			n++
		}
	}
	return n
}

// onlyFault returns the one fault recorded, failing the test when there is not exactly one.
func (h *harness) onlyFault() activities.RecordFaultInput {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.faults) != 1 {
		h.t.Fatalf("faults recorded: got %d (%+v), want 1", len(h.faults), h.faults)
	}
	return h.faults[0]
}

func (h *harness) checkCalls(want []string) {
	h.t.Helper()
	// A create makes its volume alongside its network: the volume's calls are in order
	// among themselves, and so are the others, but not the ones against the others.
	// The server's watch runs alongside the guest's Prepare, for as long as that takes: its
	// own tests check it.
	got := slices.DeleteFunc(h.calls(), func(name string) bool { return name == "WatchServerRunning" })
	alongside := func(name string) bool { return name == "CreateVolume" || name == "WaitVolumeAvailable" }
	apart := func(calls []string) (main, aside []string) {
		for _, c := range calls {
			if alongside(c) {
				aside = append(aside, c)
			} else {
				main = append(main, c)
			}
		}
		return main, aside
	}
	gotMain, gotAside := apart(got)
	wantMain, wantAside := apart(want)
	if !slices.Equal(gotMain, wantMain) || !slices.Equal(gotAside, wantAside) {
		h.t.Errorf("activities, in order (the volume's apart from the others'):\n got  %q\n want %q", got, want)
	}
}

func (h *harness) checkSearchAttributes(instanceID, projectID, operation string) {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range []struct {
		key  temporal.SearchAttributeKeyKeyword
		want string
	}{{InstanceIDAttr, instanceID}, {ProjectIDAttr, projectID}, {OperationAttr, operation}} {
		got, ok := h.attrs[c.key.GetName()]
		if !ok || got != c.want {
			h.t.Errorf("search attribute %s: got %q (set %v), want %q", c.key.GetName(), got, ok, c.want)
		}
	}
}

// progress queries the running workflow's progress.
func (h *harness) progress() Progress {
	h.t.Helper()
	v, err := h.env.QueryWorkflow(ProgressQuery)
	if err != nil {
		h.t.Fatalf("query progress: %v", err)
	}
	var p Progress
	if err := v.Get(&p); err != nil {
		h.t.Fatalf("decode progress: %v", err)
	}
	return p
}
