package workflows

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/activities"
	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/guest"
)

const instanceID = "0b4c53f1-6b0e-4b8b-9d4e-3a0a2f7b1c11"

func createInput() CreateInstanceInput {
	return CreateInstanceInput{
		InstanceID: instanceID, ProjectID: "demo-project", Name: "orders",
		FlavorID: "ds1G", VolumeSize: 2, Datastore: "postgresql", Version: "15", Port: 5432,
		Databases: []coffer.Database{{Name: "orders"}},
		Users:     []coffer.User{{Name: "app", Password: "s3cret", Databases: []string{"orders"}}},
	}
}

func ref(id string) activities.ResourceRef {
	return activities.ResourceRef{InstanceID: instanceID, ID: id}
}

// mockCreate answers every create step with success, each returning a recognizable ID.
// Tests that want a step to fail mock it before calling this.
func (h *harness) mockCreate() {
	// The monitor a create starts outlives it; its own tests run it.
	h.env.OnWorkflow(MonitorInstance, mock.Anything, mock.Anything).Return(nil).Maybe()
	h.env.OnActivity(a.ResolveImage, mock.Anything, activities.ResolveImageInput{InstanceID: instanceID, Tag: "coffer-postgresql-15"}).Return("image-1", nil)
	h.env.OnActivity(a.CreateSecurityGroup, mock.Anything, activities.CreateSecurityGroupInput{InstanceID: instanceID, Port: 5432}).Return("sg-1", nil)
	h.env.OnActivity(a.CreatePort, mock.Anything, activities.CreatePortInput{InstanceID: instanceID, SecurityGroupID: "sg-1"}).Return(activities.Port{ID: "port-1", Address: "127.10.0.5"}, nil)
	h.env.OnActivity(a.CreateVolume, mock.Anything, activities.CreateVolumeInput{InstanceID: instanceID, Size: 2}).Return("vol-1", nil)
	h.env.OnActivity(a.WaitVolumeAvailable, mock.Anything, ref("vol-1")).Return(nil)
	h.env.OnActivity(a.CreateServer, mock.Anything, activities.CreateServerInput{
		InstanceID: instanceID, ProjectID: "demo-project", Name: "orders", FlavorID: "ds1G", ImageID: "image-1",
		PortID: "port-1", VolumeID: "vol-1", Datastore: "postgresql", Version: "15",
	}).Return("server-1", nil)
	h.env.OnActivity(a.WaitServerActive, mock.Anything, ref("server-1")).Return(nil)
	// The server keeps running: the watch ends only when the create stops it.
	h.env.OnActivity(a.WatchServerRunning, mock.Anything, ref("server-1")).After(24 * time.Hour).Return(nil).Maybe()
	h.env.OnActivity(guest.PrepareActivity, mock.Anything, guest.PrepareInput{
		Datastore: "postgresql", Version: "15", Databases: createInput().Databases, Users: createInput().Users,
	}).Return(nil)
}

// everythingUpToPrepare is what a create runs before the guest's Prepare.
var everythingUpToPrepare = []string{
	"ResolveImage",
	"CreateSecurityGroup", "RecordResources",
	"CreatePort", "RecordResources",
	"CreateVolume", "RecordResources", "WaitVolumeAvailable",
	"CreateServer", "RecordResources", "WaitServerActive", "RecordResources",
	"Prepare",
}

// cleanupOfEverything is the compensation of a create that made every piece: the guest is
// cut off before its server goes.
var cleanupOfEverything = []string{"RevokeGuestIdentity", "DeleteServer", "WaitServerDeleted", "DeletePort", "DeleteSecurityGroup", "DeleteVolume", "RecordFault"}

func TestCreateInstanceBuildsEveryPieceInOrder(t *testing.T) {
	h := newHarness(t)
	h.mockCatalog(catalog.Resources{})
	// The server takes a minute to boot: the progress query is asked in the middle.
	h.env.OnActivity(a.WaitServerActive, mock.Anything, ref("server-1")).After(time.Minute).Return(nil)
	h.mockCreate()

	var mid Progress
	h.env.RegisterDelayedCallback(func() { mid = h.progress() }, 30*time.Second)
	h.env.ExecuteWorkflow(CreateInstance, createInput())

	if !h.env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("create failed: %v", err)
	}
	h.checkCalls(append(slices.Clone(everythingUpToPrepare), "MarkActive"))
	h.checkSearchAttributes(instanceID, "demo-project", "create")
	if got, want := h.queues["Prepare"], "guestagent."+instanceID; got != want {
		t.Errorf("Prepare's task queue: got %q, want %q", got, want)
	}
	// A Prepare whose task never reaches the agent, or whose agent dies, is tried again once
	// its heartbeats stop, not after its whole run time.
	if got := h.heartbeats[guest.PrepareActivity]; got != guest.BootHeartbeatTimeout {
		t.Errorf("Prepare's heartbeat timeout: got %s, want %s", got, guest.BootHeartbeatTimeout)
	}
	want := catalog.Resources{ServerID: "server-1", VolumeID: "vol-1", PortID: "port-1", SecurityGroupID: "sg-1", Address: "127.10.0.5", ServerStatus: "ACTIVE"}
	if h.resources != want {
		t.Errorf("catalog resources: got %+v, want %+v", h.resources, want)
	}
	if len(h.faults) != 0 {
		t.Errorf("faults: got %+v, want none", h.faults)
	}

	wantDone := []string{StepResolveImage, StepCreateSecurityGroup, StepCreatePort, StepCreateVolume, StepWaitVolume, StepCreateServer}
	if mid.Operation != "create" || mid.Step != StepWaitServer || !slices.Equal(mid.Done, wantDone) {
		t.Errorf("progress while the server boots: got %+v, want step %q after %q", mid, StepWaitServer, wantDone)
	}
	end := h.progress()
	if end.Step != "" || len(end.Done) != 9 || end.Error != "" || slices.Contains(end.Done, StepStartMonitor) {
		t.Errorf("progress at the end: got %+v, want 9 steps done (no monitor: the guest reports its health) and none running", end)
	}
}

// The progress query says when each step ran, by the workflow's clock (the test
// environment's, which a mocked activity's After moves on): where a create's time goes.
func TestCreateInstanceTimesEachStep(t *testing.T) {
	h := newHarness(t)
	h.mockCatalog(catalog.Resources{})
	h.env.OnActivity(a.WaitServerActive, mock.Anything, ref("server-1")).After(time.Minute).Return(nil)
	h.env.OnActivity(guest.PrepareActivity, mock.Anything, mock.Anything).After(20 * time.Second).Return(nil)
	h.mockCreate()

	var mid Progress
	h.env.RegisterDelayedCallback(func() { mid = h.progress() }, 30*time.Second)
	h.env.ExecuteWorkflow(CreateInstance, createInput())
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("create failed: %v", err)
	}

	if n := len(mid.Timings); n == 0 || mid.Timings[n-1].Step != StepWaitServer || !mid.Timings[n-1].Ended.IsZero() {
		t.Errorf("timings while the server boots: got %+v, want the last %q and not ended", mid.Timings, StepWaitServer)
	}
	end := h.progress()
	var steps []string
	took := map[string]time.Duration{}
	for i, s := range end.Timings {
		steps = append(steps, s.Step)
		took[s.Step] = s.Took()
		if s.Started.IsZero() || s.Ended.Before(s.Started) {
			t.Errorf("timing of %q: got %+v, want a start and an end after it", s.Step, s)
		}
		if i > 0 && s.Started.Before(end.Timings[i-1].Ended) {
			t.Errorf("step %q started at %s, before %q ended at %s", s.Step, s.Started, end.Timings[i-1].Step, end.Timings[i-1].Ended)
		}
	}
	if len(end.Done) == 0 || !slices.Equal(steps, end.Done) {
		t.Errorf("timed steps: got %q, want the steps done, %q", steps, end.Done)
	}
	if took[StepWaitServer] < time.Minute || took[StepPrepareGuest] < 20*time.Second {
		t.Errorf("wait for server took %s and prepare guest %s, want at least 1m and 20s", took[StepWaitServer], took[StepPrepareGuest])
	}
	if end.Started.IsZero() || end.Timings[0].Started.Before(end.Started) {
		t.Errorf("operation started %s, first step %+v: want a start before its steps", end.Started, end.Timings[0])
	}
}

func TestCreateInstanceUsesTheGivenImage(t *testing.T) {
	h := newHarness(t)
	h.mockCatalog(catalog.Resources{})
	h.mockCreate()
	in := createInput()
	in.ImageID = "image-1"
	h.env.ExecuteWorkflow(CreateInstance, in)

	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("create failed: %v", err)
	}
	if n := h.count("ResolveImage"); n != 0 {
		t.Errorf("ResolveImage ran %d times, want 0 when the image ID is given", n)
	}
}

func TestCreateInstanceCleansUpWhenVolumeFails(t *testing.T) {
	h := newHarness(t)
	h.mockCatalog(catalog.Resources{})
	quota := temporal.NewNonRetryableApplicationError(
		"create volume for instance "+instanceID+": cinder answered 413: VolumeSizeExceedsAvailableQuota",
		activities.ErrorTypeQuotaExceeded, nil)
	h.env.OnActivity(a.CreateVolume, mock.Anything, mock.Anything).Return("", quota)
	// The port and the group are deleted by ID; the volume, whose create answered no ID, by
	// name (in case the create went through and only its answer was lost).
	h.env.OnActivity(a.DeleteVolume, mock.Anything, ref("")).Return(nil).Once()
	h.env.OnActivity(a.DeletePort, mock.Anything, ref("port-1")).Return(nil).Once()
	h.env.OnActivity(a.DeleteSecurityGroup, mock.Anything, ref("sg-1")).Return(nil).Once()
	h.mockCreate()

	h.env.ExecuteWorkflow(CreateInstance, createInput())

	err := h.env.GetWorkflowError()
	if err == nil {
		t.Fatal("create succeeded, want it to fail")
	}
	h.checkCalls([]string{
		"ResolveImage", "CreateSecurityGroup", "RecordResources", "CreatePort", "RecordResources", "CreateVolume",
		"DeletePort", "DeleteSecurityGroup", "DeleteVolume", "RecordFault",
	})
	f := h.onlyFault()
	if want := "create volume failed: create volume for instance " + instanceID + ": cinder answered 413: VolumeSizeExceedsAvailableQuota"; f.Message != want {
		t.Errorf("fault message:\n got  %q\n want %q", f.Message, want)
	}
	if !strings.Contains(f.Details, "QuotaExceeded") {
		t.Errorf("fault details %q do not carry the error chain (type QuotaExceeded)", f.Details)
	}
	if p := h.progress(); p.Error != f.Message {
		t.Errorf("progress error: got %q, want the fault message", p.Error)
	}
	h.env.AssertActivityCalled(t, "DeleteVolume", mock.Anything, ref(""))
	h.env.AssertActivityCalled(t, "DeletePort", mock.Anything, ref("port-1"))
	h.env.AssertActivityCalled(t, "DeleteSecurityGroup", mock.Anything, ref("sg-1"))
}

// The volume is made alongside the network: when the security group fails while Cinder
// still makes the volume, the cleanup waits for it and deletes it by its ID.
func TestCreateInstanceDeletesTheVolumeMadeAlongsideWhenTheSecurityGroupFails(t *testing.T) {
	h := newHarness(t)
	h.mockCatalog(catalog.Resources{})
	h.env.OnActivity(a.CreateSecurityGroup, mock.Anything, mock.Anything).Return("",
		temporal.NewNonRetryableApplicationError("neutron answered 413: quota", activities.ErrorTypeQuotaExceeded, nil))
	h.env.OnActivity(a.CreateVolume, mock.Anything, mock.Anything).After(time.Minute).Return("vol-1", nil)
	h.env.OnActivity(a.DeleteVolume, mock.Anything, ref("vol-1")).Return(nil).Once()
	h.env.OnActivity(a.DeleteSecurityGroup, mock.Anything, ref("")).Return(nil).Once()
	h.mockCreate()

	h.env.ExecuteWorkflow(CreateInstance, createInput())

	if h.env.GetWorkflowError() == nil {
		t.Fatal("create succeeded, want it to fail")
	}
	if h.count("CreateVolume") != 1 || h.count("DeleteVolume") != 1 || h.count("CreatePort") != 0 {
		t.Errorf("CreateVolume ran %d times, DeleteVolume %d, CreatePort %d: want 1, 1 and 0 (calls %q)",
			h.count("CreateVolume"), h.count("DeleteVolume"), h.count("CreatePort"), h.calls())
	}
	if f := h.onlyFault(); !strings.HasPrefix(f.Message, "create security group failed: ") {
		t.Errorf("fault message: got %q, want the security group's", f.Message)
	}
}

func TestCreateInstanceCleansUpWhenServerGoesToError(t *testing.T) {
	h := newHarness(t)
	h.mockCatalog(catalog.Resources{})
	novaError := temporal.NewNonRetryableApplicationError(
		"wait for server server-1 of instance "+instanceID+": nova put the server in ERROR: No valid host was found.",
		activities.ErrorTypeServerFailed, nil)
	h.env.OnActivity(a.WaitServerActive, mock.Anything, mock.Anything).Return(novaError)
	h.env.OnActivity(a.DeleteServer, mock.Anything, ref("server-1")).Return(nil).Once()
	h.env.OnActivity(a.WaitServerDeleted, mock.Anything, ref("server-1")).Return(nil).Once()
	h.env.OnActivity(a.DeleteVolume, mock.Anything, ref("vol-1")).Return(nil).Once()
	h.env.OnActivity(a.DeletePort, mock.Anything, ref("port-1")).Return(nil).Once()
	h.env.OnActivity(a.DeleteSecurityGroup, mock.Anything, ref("sg-1")).Return(nil).Once()
	h.mockCreate()

	h.env.ExecuteWorkflow(CreateInstance, createInput())

	if h.env.GetWorkflowError() == nil {
		t.Fatal("create succeeded, want it to fail")
	}
	want := slices.Clone(everythingUpToPrepare[:len(everythingUpToPrepare)-2]) // no ACTIVE, no Prepare
	want = append(want, "RecordResources")                                     // server status ERROR
	h.checkCalls(append(want, cleanupOfEverything...))
	f := h.onlyFault()
	if !strings.HasPrefix(f.Message, "wait for server failed: ") || !strings.Contains(f.Message, "No valid host was found.") {
		t.Errorf("fault message %q does not say the server wait failed with Nova's reason", f.Message)
	}
	if h.resources.ServerStatus != "ERROR" {
		t.Errorf("server status in the catalog: got %q, want ERROR", h.resources.ServerStatus)
	}
	h.env.AssertActivityCalled(t, "DeleteServer", mock.Anything, ref("server-1"))
	h.env.AssertActivityCalled(t, "WaitServerDeleted", mock.Anything, ref("server-1"))
	h.env.AssertActivityCalled(t, "DeleteVolume", mock.Anything, ref("vol-1"))
	h.env.AssertActivityCalled(t, "DeletePort", mock.Anything, ref("port-1"))
	h.env.AssertActivityCalled(t, "DeleteSecurityGroup", mock.Anything, ref("sg-1"))
}

func TestCreateInstanceCleansUpWhenGuestNeverStarts(t *testing.T) {
	h := newHarness(t)
	h.mockCatalog(catalog.Resources{})
	h.env.OnActivity(guest.PrepareActivity, mock.Anything, mock.Anything).
		Return(temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START, nil))
	h.mockDeletes()
	h.mockCreate()
	in := createInput()
	in.Timeouts.GuestStart = 2 * time.Minute

	h.env.ExecuteWorkflow(CreateInstance, in)

	if h.env.GetWorkflowError() == nil {
		t.Fatal("create succeeded, want it to fail")
	}
	// A guest that never starts may be mended (its network, its image): the step is parked
	// first, and nobody answers within the hour.
	want := append(slices.Clone(everythingUpToPrepare), "NoteFault")
	h.checkCalls(append(want, cleanupOfEverything...))
	f := h.onlyFault()
	if want := "prepare guest failed: the guest agent did not start polling guestagent." + instanceID + " within 2m0s; no operator answered within 1h0m0s"; f.Message != want {
		t.Errorf("fault message:\n got  %q\n want %q", f.Message, want)
	}
}

func TestCreateInstanceParksPersistentCloudErrorsAndAbortsAfterTheTimeout(t *testing.T) {
	h := newHarness(t)
	h.mockCatalog(catalog.Resources{})
	outage := temporal.NewApplicationError("create port for instance "+instanceID+": neutron answered 500: internal error", activities.ErrorTypeCloud)
	h.env.OnActivity(a.CreatePort, mock.Anything, mock.Anything).Return(activities.Port{}, outage)
	h.mockDeletes()
	h.mockCreate()
	start := h.env.Now()
	in := createInput()
	in.Timeouts.Park = 20 * time.Minute
	var parked Progress
	h.env.RegisterDelayedCallback(func() { parked = h.progress() }, 10*time.Minute)

	h.env.ExecuteWorkflow(CreateInstance, in)

	if h.env.GetWorkflowError() == nil {
		t.Fatal("create succeeded, want it to fail")
	}
	if n := h.count("CreatePort"); n != 5 {
		t.Errorf("CreatePort attempts: got %d, want 5 (one round of retries, then parked)", n)
	}
	if took := h.env.Now().Sub(start); took < 20*time.Minute || took > 25*time.Minute {
		t.Errorf("the create took %s of workflow time to give up, want the park timeout (20m) and the retries", took)
	}
	if parked.Parked == nil || parked.Parked.Step != StepCreatePort || !strings.Contains(parked.Parked.Error, "neutron answered 500") {
		t.Errorf("progress while parked: got %+v, want the create port step parked with neutron's error", parked)
	}
	if len(h.notes) != 1 || !strings.Contains(h.notes[0].Message, "waiting for an operator") {
		t.Errorf("faults noted while parked: got %+v, want one saying it waits for an operator", h.notes)
	}
	if got := h.attrs[NeedsAttentionAttr.GetName()]; got != "false" {
		t.Errorf("search attribute %s after the park: got %v, want false", NeedsAttentionAttr.GetName(), got)
	}
	if n := h.count("DeletePort") + h.count("DeleteSecurityGroup"); n != 2 {
		t.Errorf("deletes of the port and the group: got %d calls, want 2", n)
	}
	if f := h.onlyFault(); !strings.HasPrefix(f.Message, "create port failed: ") || !strings.HasSuffix(f.Message, "no operator answered within 20m0s") {
		t.Errorf("fault message %q does not name the failed step", f.Message)
	}
}

func TestCreateInstanceCleansUpWhenCanceled(t *testing.T) {
	h := newHarness(t)
	h.mockCatalog(catalog.Resources{})
	h.env.OnActivity(a.WaitServerActive, mock.Anything, mock.Anything).After(time.Hour).Return(nil)
	h.mockDeletes()
	h.mockCreate()
	h.env.RegisterDelayedCallback(h.env.CancelWorkflow, time.Minute)

	h.env.ExecuteWorkflow(CreateInstance, createInput())

	if h.env.GetWorkflowError() == nil {
		t.Fatal("create succeeded, want it canceled")
	}
	for _, name := range []string{"DeleteServer", "DeleteVolume", "DeletePort", "DeleteSecurityGroup"} {
		if h.count(name) != 1 {
			t.Errorf("%s ran %d times after the cancellation, want once", name, h.count(name))
		}
	}
	if f := h.onlyFault(); f.Message != "wait for server failed: the operation was canceled" {
		t.Errorf("fault message: got %q", f.Message)
	}
}

func TestCreateInstancePastAQuotaMakesNothingAndAnswersItsClaimWithTheQuota(t *testing.T) {
	h := newHarness(t)
	over := []catalog.Quota{{Resource: "instances", Limit: 2, InUse: 2}}
	h.env.OnActivity(a.RecordInstance, mock.Anything, mock.Anything).Return(
		temporal.NewNonRetryableApplicationError("quota exceeded", activities.ErrorTypeProjectQuotaExceeded, nil, over))
	h.mockCatalog(catalog.Resources{})
	var got ClaimResult
	h.env.RegisterDelayedCallback(func() {
		h.env.UpdateWorkflow(ClaimUpdate, "claim-1", &testsuite.TestUpdateCallback{
			OnAccept:   func() {},
			OnReject:   func(err error) { t.Errorf("claim update rejected: %v", err) },
			OnComplete: func(v any, _ error) { got, _ = v.(ClaimResult) },
		})
	}, 0)
	in := createInput()
	in.Record = &activities.RecordInstanceInput{Instance: coffer.Instance{ID: instanceID, ProjectID: "demo-project", Task: coffer.TaskBuilding}, RAMMB: 1024, Quotas: &catalog.QuotaLimits{}}

	h.env.ExecuteWorkflow(CreateInstance, in)

	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("create past a quota failed: %v", err)
	}
	h.checkCalls([]string{"RecordInstance"})
	if !slices.Equal(got.Quota, over) || got.Claimed {
		t.Errorf("claim update: got %+v, want the quota %+v and nothing claimed", got, over)
	}
	if len(h.faults) != 0 {
		t.Errorf("faults: got %+v, want none (there is no record)", h.faults)
	}
}

func TestCreateInstanceEndedByADeleteCleansUpWithoutAFaultAndTellsTheDelete(t *testing.T) {
	h := newHarness(t)
	h.mockCatalog(catalog.Resources{})
	// The guest never starts: the create waits in prepare guest when the delete comes.
	h.env.OnActivity(guest.PrepareActivity, mock.Anything, mock.Anything).After(time.Hour).Return(nil)
	h.mockDeletes()
	h.mockCreate()
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(CreateSupersededSignal, DeleteWorkflowID(instanceID))
		h.env.CancelWorkflow()
	}, time.Minute)

	h.env.ExecuteWorkflow(CreateInstance, createInput())

	if h.env.GetWorkflowError() == nil {
		t.Fatal("create succeeded, want it canceled")
	}
	h.checkCalls(append(slices.Clone(everythingUpToPrepare), cleanupOfEverything[:len(cleanupOfEverything)-1]...))
	if len(h.faults) != 0 {
		t.Errorf("faults: got %+v, want none (the delete holds the instance)", h.faults)
	}
	if want := []string{DeleteWorkflowID(instanceID) + " " + CreateEndedSignal}; !slices.Equal(h.external, want) {
		t.Errorf("signals to other workflows: got %q, want %q", h.external, want)
	}
}

func TestCreateInstanceFailsAtOnceWhenTheServerStopsWhileTheGuestStarts(t *testing.T) {
	h := newHarness(t)
	h.mockCatalog(catalog.Resources{})
	stopped := temporal.NewNonRetryableApplicationError(
		"server server-1 of instance "+instanceID+" stopped while its guest agent was starting: nova says SHUTOFF; its console ends: guest agent: gateway refused",
		activities.ErrorTypeServerFailed, nil)
	h.env.OnActivity(a.WatchServerRunning, mock.Anything, ref("server-1")).After(time.Minute).Return(stopped)
	// The guest never picks Prepare up.
	h.env.OnActivity(guest.PrepareActivity, mock.Anything, mock.Anything).After(time.Hour).Return(nil)
	h.mockDeletes()
	h.mockCreate()
	start := h.env.Now()

	h.env.ExecuteWorkflow(CreateInstance, createInput())

	if h.env.GetWorkflowError() == nil {
		t.Fatal("create succeeded, want it to fail")
	}
	if took := h.env.Now().Sub(start); took > 10*time.Minute {
		t.Errorf("the create took %s to fail, want it to fail when the server stopped (1m), not after the guest-start timeout", took)
	}
	h.checkCalls(append(slices.Clone(everythingUpToPrepare), cleanupOfEverything...))
	f := h.onlyFault()
	if !strings.HasPrefix(f.Message, "prepare guest failed: ") || !strings.Contains(f.Message, "nova says SHUTOFF") || !strings.Contains(f.Message, "gateway refused") {
		t.Errorf("fault message %q does not say that the server stopped, and why", f.Message)
	}
}
