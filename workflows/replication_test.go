package workflows

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/activities"
	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/guest"
)

// fakeGroup stands in for the guests of a replication group: it records each guest call
// as "<activity> <instance>" and answers from what the test set.
type fakeGroup struct {
	mu    sync.Mutex
	calls []string
	// dead guests fail every call; received are the replicas' positions; fail makes one
	// "<activity> <instance>" fail.
	dead     map[string]bool
	healthy  map[string]bool
	received map[string]guest.LSN
	fail     map[string]error

	isolateErr error
	isolated   []string

	regroups []catalog.Regroup
	ended    [][]string
	faults   []activities.RecordFaultInput
	notes    []activities.NoteFaultInput
}

func instanceOf(ctx context.Context) string {
	return strings.TrimPrefix(activity.GetInfo(ctx).TaskQueue, "guestagent.")
}

func (f *fakeGroup) call(ctx context.Context, name string) error {
	id := instanceOf(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, name+" "+id)
	if f.dead[id] {
		return fmt.Errorf("guest %s is dead", id)
	}
	if err := f.fail[name+" "+id]; err != nil {
		return err
	}
	return nil
}

func (f *fakeGroup) callsOf(name string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		if strings.HasPrefix(c, name+" ") {
			out = append(out, strings.TrimPrefix(c, name+" "))
		}
	}
	return out
}

func newReplicationEnv(t *testing.T, g activities.ReplicationGroup, f *fakeGroup) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	Register(env)
	env.RegisterActivity(a)
	reg := func(name string, fn any) { env.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name}) }
	reg(guest.ReplicationSourceActivity, func(ctx context.Context, in guest.ReplicationSourceInput) (guest.ReplicationSource, error) {
		err := f.call(ctx, guest.ReplicationSourceActivity)
		return guest.ReplicationSource{Host: instanceOf(ctx), Port: 5432, Slot: in.Slot, User: "r", Password: "pw", AgentPassword: "apw"}, err
	})
	reg(guest.StopWritesActivity, func(ctx context.Context) (guest.Position, error) {
		return "0/3000060", f.call(ctx, guest.StopWritesActivity)
	})
	reg(guest.WaitReplayActivity, func(ctx context.Context, in guest.WaitReplayInput) error {
		if in.Position != "0/3000060" {
			return fmt.Errorf("wait for %s, want the old primary's last position", in.Position)
		}
		return f.call(ctx, guest.WaitReplayActivity)
	})
	for _, name := range []string{guest.PromoteActivity, guest.FenceActivity, guest.StartEngineActivity} {
		reg(name, func(ctx context.Context) error { return f.call(ctx, name) })
	}
	reg(guest.FollowActivity, func(ctx context.Context, in guest.FollowInput) error {
		f.call(ctx, "Follow->"+in.Source.Host)
		return f.call(ctx, guest.FollowActivity)
	})
	reg(guest.DropReplicationSlotActivity, func(ctx context.Context, in guest.ReplicationSlotRef) error {
		return f.call(ctx, guest.DropReplicationSlotActivity)
	})
	reg(guest.HealthActivity, func(ctx context.Context) (guest.HealthReport, error) {
		err := f.call(ctx, guest.HealthActivity)
		if f.healthy[instanceOf(ctx)] {
			return guest.HealthReport{Status: coffer.ServiceHealthy}, err
		}
		return guest.HealthReport{Status: coffer.ServiceShutdown}, err
	})
	reg(guest.ReplicationStatusActivity, func(ctx context.Context) (guest.ReplicationStatus, error) {
		err := f.call(ctx, guest.ReplicationStatusActivity)
		return guest.ReplicationStatus{Role: guest.RoleReplica, ReceivedLSN: f.received[instanceOf(ctx)]}, err
	})

	env.OnActivity(a.GetReplicationGroup, mock.Anything, mock.Anything).Return(g, nil)
	env.OnActivity(a.Regroup, mock.Anything, mock.Anything).Return(func(_ context.Context, r catalog.Regroup) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.regroups = append(f.regroups, r)
		return nil
	})
	env.OnActivity(a.IsolateServer, mock.Anything, mock.Anything).Return(func(_ context.Context, id string) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.isolated = append(f.isolated, id)
		return f.isolateErr
	})
	env.OnActivity(a.EndTasks, mock.Anything, mock.Anything).Return(func(_ context.Context, ids []string) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.ended = append(f.ended, ids)
		return nil
	})
	env.OnActivity(a.NoteFault, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.NoteFaultInput) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.notes = append(f.notes, in)
		return nil
	}).Maybe()
	env.OnActivity(a.RecordFault, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.RecordFaultInput) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.faults = append(f.faults, in)
		return nil
	})
	return env
}

func group() activities.ReplicationGroup {
	return activities.ReplicationGroup{
		Primary:  activities.GroupMember{ID: "p", Address: "127.10.0.2"},
		Replicas: []activities.GroupMember{{ID: "r1", Address: "127.10.0.3"}, {ID: "r2", Address: "127.10.0.4"}},
	}
}

func TestPromoteStopsWritesCatchesUpPromotesAndRejoinsTheOldPrimary(t *testing.T) {
	f := &fakeGroup{}
	env := newReplicationEnv(t, group(), f)
	env.ExecuteWorkflow(PromoteReplica, ReplicationInput{InstanceID: "r1", ProjectID: "p1"})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("PromoteReplica: %v (calls %v)", err, f.calls)
	}
	// The order is what keeps every committed row: writes stop before the candidate
	// catches up, and it is promoted only once it has.
	var order []string
	for _, c := range f.calls {
		switch c {
		case "StopWrites p", "WaitReplay r1", "Promote r1", "Follow r2", "Follow p":
			order = append(order, c)
		}
	}
	want := []string{"StopWrites p", "WaitReplay r1", "Promote r1", "Follow r2", "Follow p"}
	if !slices.Equal(order, want) {
		t.Errorf("got calls %v, want in order %v", order, want)
	}
	if got := f.callsOf("Follow->r1"); len(got) != 2 {
		t.Errorf("got followers of r1 %v, want r2 and p", got)
	}
	wantGroup := catalog.Regroup{Primary: "r1", Replicas: []string{"p", "r2"}}
	if len(f.regroups) != 1 || f.regroups[0].Primary != wantGroup.Primary || !slices.Equal(f.regroups[0].Replicas, wantGroup.Replicas) {
		t.Errorf("got regroups %+v, want %+v", f.regroups, wantGroup)
	}
	if len(f.faults) != 0 {
		t.Errorf("got faults %+v, want none", f.faults)
	}
}

func TestPromoteThatCannotCatchUpStartsTheOldPrimaryAgainAndChangesNothing(t *testing.T) {
	f := &fakeGroup{fail: map[string]error{
		"WaitReplay r1": temporal.NewNonRetryableApplicationError("replica is broken", guest.ErrInvalid, nil),
	}}
	env := newReplicationEnv(t, group(), f)
	env.ExecuteWorkflow(PromoteReplica, ReplicationInput{InstanceID: "r1", ProjectID: "p1"})
	if err := env.GetWorkflowError(); err == nil {
		t.Fatal("PromoteReplica: got no error")
	}
	if got := f.callsOf(guest.PromoteActivity); len(got) != 0 {
		t.Errorf("promoted %v, want no promotion", got)
	}
	if got := f.callsOf(guest.StartEngineActivity); !slices.Equal(got, []string{"p"}) {
		t.Errorf("started %v again, want the old primary p", got)
	}
	if len(f.regroups) != 0 {
		t.Errorf("got regroups %+v, want none", f.regroups)
	}
	if len(f.faults) != 1 || f.faults[0].InstanceID != "r1" || !strings.Contains(f.faults[0].Message, "catch up") {
		t.Errorf("got faults %+v, want one on r1 naming the catch up", f.faults)
	}
	if len(f.ended) != 1 || !slices.Equal(f.ended[0], []string{"p", "r2"}) {
		t.Errorf("got ended tasks %v, want [[p r2]]", f.ended)
	}
}

func TestEjectPromotesTheMostAdvancedReplicaAndFencesTheOldPrimary(t *testing.T) {
	f := &fakeGroup{
		dead:     map[string]bool{"p": true},
		received: map[string]guest.LSN{"r1": 0x3000000, "r2": 0x3000100},
	}
	env := newReplicationEnv(t, group(), f)
	env.ExecuteWorkflow(EjectReplicaSource, ReplicationInput{InstanceID: "p", ProjectID: "p1"})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("EjectReplicaSource: %v (calls %v)", err, f.calls)
	}
	if got := f.callsOf(guest.PromoteActivity); !slices.Equal(got, []string{"r2"}) {
		t.Errorf("promoted %v, want r2, the most advanced", got)
	}
	if got := f.callsOf("Follow->r2"); !slices.Equal(got, []string{"r1"}) {
		t.Errorf("followers of r2: got %v, want r1", got)
	}
	if len(f.regroups) != 1 || f.regroups[0].Primary != "r2" || !slices.Equal(f.regroups[0].Replicas, []string{"r1"}) ||
		!slices.Equal(f.regroups[0].Ejected, []string{"p"}) || !strings.Contains(f.regroups[0].EjectedFault.Message, "r2") {
		t.Errorf("got regroups %+v, want r2 primary of r1, p ejected", f.regroups)
	}
	// p is isolated in the cloud before r2 is promoted, so no guest fence is needed.
	if !slices.Equal(f.isolated, []string{"p"}) {
		t.Errorf("isolated %v, want p", f.isolated)
	}
	if got := f.callsOf(guest.FenceActivity); len(got) != 0 {
		t.Errorf("fence calls: got %v, want none once p is isolated", got)
	}
}

func TestEjectFencesTheOldPrimarysGuestWhenTheCloudCannotIsolateIt(t *testing.T) {
	f := &fakeGroup{
		dead:       map[string]bool{"p": true},
		received:   map[string]guest.LSN{"r1": 0x3000000, "r2": 0x3000100},
		isolateErr: temporal.NewNonRetryableApplicationError("nova is down", "CloudError", nil),
	}
	env := newReplicationEnv(t, group(), f)
	env.ExecuteWorkflow(EjectReplicaSource, ReplicationInput{InstanceID: "p", ProjectID: "p1"})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("EjectReplicaSource: %v", err)
	}
	if got := f.callsOf(guest.PromoteActivity); !slices.Equal(got, []string{"r2"}) {
		t.Errorf("promoted %v, want r2 all the same", got)
	}
	// The fence waits for p's guest; it is dead here, so it only tried.
	if got := f.callsOf(guest.FenceActivity); len(got) == 0 || got[0] != "p" {
		t.Errorf("fence calls: got %v, want p's guest fenced", got)
	}
}

func TestEjectLeavesAHealthyPrimaryAlone(t *testing.T) {
	f := &fakeGroup{healthy: map[string]bool{"p": true}}
	env := newReplicationEnv(t, group(), f)
	env.ExecuteWorkflow(EjectReplicaSource, ReplicationInput{InstanceID: "p", ProjectID: "p1"})
	err := env.GetWorkflowError()
	if err == nil || !strings.Contains(err.Error(), "healthy") {
		t.Fatalf("EjectReplicaSource of a live primary: got %v, want a refusal", err)
	}
	if got := f.callsOf(guest.PromoteActivity); len(got) != 0 {
		t.Errorf("promoted %v, want none", got)
	}
	if len(f.ended) != 1 || !slices.Equal(f.ended[0], []string{"p", "r1", "r2"}) {
		t.Errorf("got ended tasks %v, want every member's task ended", f.ended)
	}
	if len(f.faults) != 0 || len(f.notes) != 1 || f.notes[0].InstanceID != "p" || !strings.Contains(f.notes[0].Message, "Not ejected") {
		t.Errorf("got faults %+v and notes %+v, want only a note on the healthy primary", f.faults, f.notes)
	}
}

func TestDetachPromotesTheReplicaAndDropsItsSlot(t *testing.T) {
	f := &fakeGroup{}
	env := newReplicationEnv(t, group(), f)
	env.ExecuteWorkflow(DetachReplica, ReplicationInput{InstanceID: "r2", ProjectID: "p1"})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("DetachReplica: %v", err)
	}
	if got := f.callsOf(guest.PromoteActivity); !slices.Equal(got, []string{"r2"}) {
		t.Errorf("promoted %v, want r2", got)
	}
	if got := f.callsOf(guest.DropReplicationSlotActivity); !slices.Equal(got, []string{"p"}) {
		t.Errorf("dropped slots on %v, want on p", got)
	}
	if len(f.regroups) != 1 || f.regroups[0].Primary != "r2" || len(f.regroups[0].Replicas) != 0 {
		t.Errorf("got regroups %+v, want r2 alone", f.regroups)
	}
}

func TestDetachWhosePromoteFailsParksForAnOperatorAndARetryMendsIt(t *testing.T) {
	f := &fakeGroup{fail: map[string]error{
		guest.PromoteActivity + " r2": temporal.NewApplicationError("pg_promote timed out", "EngineError"),
	}}
	env := newReplicationEnv(t, group(), f)
	var parked Progress
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(ProgressQuery)
		if err == nil {
			_ = v.Get(&parked)
		}
		f.mu.Lock()
		delete(f.fail, guest.PromoteActivity+" r2")
		f.mu.Unlock()
		env.SignalWorkflow(RetrySignal, nil)
	}, 5*time.Minute)

	env.ExecuteWorkflow(DetachReplica, ReplicationInput{InstanceID: "r2", ProjectID: "p1"})

	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("DetachReplica: %v", err)
	}
	if parked.Parked == nil || parked.Parked.Step != StepPromote {
		t.Errorf("progress while failing: got %+v, want the promote step parked", parked)
	}
	if len(f.notes) == 0 || !strings.Contains(f.notes[0].Message, "waiting for an operator") {
		t.Errorf("notes on the replica: got %+v, want the park shown", f.notes)
	}
	if len(f.faults) != 0 {
		t.Errorf("faults: got %+v, want none after the retry", f.faults)
	}
	if len(f.regroups) != 1 || f.regroups[0].Primary != "r2" {
		t.Errorf("got regroups %+v, want r2 alone", f.regroups)
	}
}

func TestPromoteClaimsTheGroupsTasksFirst(t *testing.T) {
	f := &fakeGroup{}
	env := newReplicationEnv(t, group(), f)
	tasks := map[string]coffer.Task{"p": coffer.TaskPromoting, "r1": coffer.TaskPromoting, "r2": coffer.TaskPromoting}
	var claims []activities.ClaimTasksInput
	env.OnActivity(a.ClaimTasks, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ClaimTasksInput) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		claims = append(claims, in)
		if len(f.calls) > 0 {
			return fmt.Errorf("claimed after the guest calls %v", f.calls)
		}
		return nil
	})
	env.ExecuteWorkflow(PromoteReplica, ReplicationInput{InstanceID: "r1", ProjectID: "p1", Tasks: tasks})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("PromoteReplica: %v (calls %v)", err, f.calls)
	}
	if len(claims) != 1 || claims[0].WorkflowID == "" || len(claims[0].Tasks) != 3 || claims[0].Tasks["p"] != coffer.TaskPromoting {
		t.Fatalf("got claims %+v, want one of the three members' PROMOTING by the workflow", claims)
	}
	if len(f.regroups) != 1 {
		t.Errorf("got regroups %+v, want one", f.regroups)
	}
}

func TestPromoteOfABusyGroupLeavesItAlone(t *testing.T) {
	f := &fakeGroup{}
	env := newReplicationEnv(t, group(), f)
	env.OnActivity(a.ClaimTasks, mock.Anything, mock.Anything).Return(
		temporal.NewNonRetryableApplicationError("instance p is busy", activities.ErrorTypeInstanceBusy, nil))
	env.ExecuteWorkflow(PromoteReplica, ReplicationInput{InstanceID: "r2", ProjectID: "p1",
		Tasks: map[string]coffer.Task{"p": coffer.TaskPromoting, "r1": coffer.TaskPromoting, "r2": coffer.TaskPromoting}})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("PromoteReplica: %v", err)
	}
	if len(f.calls) != 0 || len(f.ended) != 0 || len(f.faults) != 0 || len(f.regroups) != 0 {
		t.Errorf("a promote that found the group busy touched it: calls %v, ended %v, faults %+v, regroups %+v",
			f.calls, f.ended, f.faults, f.regroups)
	}
}
