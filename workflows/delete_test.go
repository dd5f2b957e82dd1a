package workflows

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/coffer-dbaas/coffer/activities"
	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/guest"
)

func deleteInput() DeleteInstanceInput {
	return DeleteInstanceInput{InstanceID: instanceID, ProjectID: "demo-project"}
}

// recorded is an instance whose every piece the catalog knows.
var recorded = catalog.Resources{ServerID: "server-1", VolumeID: "vol-1", PortID: "port-1", SecurityGroupID: "sg-1", Address: "127.10.0.5", ServerStatus: "ACTIVE"}

var deleteEverything = []string{
	"ClaimTask", "GetInstanceResources", "StopEngine", "RevokeGuestIdentity",
	"DeleteServer", "WaitServerDeleted", "DeleteVolume", "DeletePort", "DeleteSecurityGroup",
	"DeleteInstanceRecord",
}

// mockDeletesOf answers the deletes only for the given IDs: a delete of anything else finds
// no mock and fails the workflow.
func (h *harness) mockDeletesOf(r catalog.Resources) {
	h.env.OnActivity(a.DeleteServer, mock.Anything, ref(r.ServerID)).Return(nil)
	h.env.OnActivity(a.WaitServerDeleted, mock.Anything, ref(r.ServerID)).Return(nil)
	h.env.OnActivity(a.DeleteVolume, mock.Anything, ref(r.VolumeID)).Return(nil)
	h.env.OnActivity(a.DeletePort, mock.Anything, ref(r.PortID)).Return(nil)
	h.env.OnActivity(a.DeleteSecurityGroup, mock.Anything, ref(r.SecurityGroupID)).Return(nil)
}

func TestDeleteInstanceStopsTheEngineAndDeletesEveryPiece(t *testing.T) {
	h := newHarness(t)
	h.env.OnActivity(guest.StopEngineActivity, mock.Anything).Return(nil)
	h.mockDeletesOf(recorded)
	h.mockCatalog(recorded)

	h.env.ExecuteWorkflow(DeleteInstance, deleteInput())

	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("delete failed: %v", err)
	}
	h.checkCalls(deleteEverything)
	h.checkSearchAttributes(instanceID, "demo-project", "delete")
	if got, want := h.queues["StopEngine"], "guestagent."+instanceID; got != want {
		t.Errorf("StopEngine's task queue: got %q, want %q", got, want)
	}
	h.env.AssertActivityCalled(t, "GetInstanceResources", mock.Anything, activities.GetInstanceInput{InstanceID: instanceID, ProjectID: "demo-project"})
	h.env.AssertActivityCalled(t, "RevokeGuestIdentity", mock.Anything, instanceID)
	if p := h.progress(); p.Operation != "delete" || len(p.Done) != 8 || p.Step != "" {
		t.Errorf("progress at the end: got %+v, want 8 steps done", p)
	}
	if len(h.faults) != 0 {
		t.Errorf("faults: got %+v, want none", h.faults)
	}
}

func TestDeleteInstanceWithDeadGuestStillDeletesEverything(t *testing.T) {
	h := newHarness(t)
	h.env.OnActivity(guest.StopEngineActivity, mock.Anything).
		Return(temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START, nil))
	h.mockDeletesOf(recorded)
	h.mockCatalog(recorded)

	h.env.ExecuteWorkflow(DeleteInstance, deleteInput())

	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("delete failed: %v", err)
	}
	h.checkCalls(deleteEverything)
}

func TestDeleteInstanceWithFailingGuestTriesTwiceThenDeletesEverything(t *testing.T) {
	h := newHarness(t)
	h.env.OnActivity(guest.StopEngineActivity, mock.Anything).
		Return(temporal.NewApplicationError("pg_ctl stop: exit status 1", "EngineError"))
	h.mockDeletesOf(recorded)
	h.mockCatalog(recorded)

	h.env.ExecuteWorkflow(DeleteInstance, deleteInput())

	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("delete failed: %v", err)
	}
	if n := h.count("StopEngine"); n != 2 {
		t.Errorf("StopEngine attempts: got %d, want 2", n)
	}
	if n := h.count("DeleteInstanceRecord"); n != 1 {
		t.Errorf("DeleteInstanceRecord ran %d times, want once", n)
	}
}

func TestDeleteInstanceFindsUnrecordedPiecesByName(t *testing.T) {
	h := newHarness(t)
	h.env.OnActivity(guest.StopEngineActivity, mock.Anything).Return(nil)
	h.mockDeletesOf(catalog.Resources{}) // every ref without an ID: found by name
	h.mockCatalog(catalog.Resources{})

	h.env.ExecuteWorkflow(DeleteInstance, deleteInput())

	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("delete failed: %v", err)
	}
	h.checkCalls(deleteEverything)
}

func TestDeleteInstanceRecordsFaultWhenVolumeWillNotGo(t *testing.T) {
	h := newHarness(t)
	h.env.OnActivity(guest.StopEngineActivity, mock.Anything).Return(nil)
	h.env.OnActivity(a.DeleteVolume, mock.Anything, mock.Anything).Return(
		temporal.NewApplicationError("delete volume of instance "+instanceID+": volume vol-1: cinder answered 503: service unavailable", activities.ErrorTypeCloud))
	h.mockDeletesOf(recorded)
	h.mockCatalog(recorded)

	h.env.ExecuteWorkflow(DeleteInstance, deleteInput())

	if h.env.GetWorkflowError() == nil {
		t.Fatal("delete succeeded, want it to fail")
	}
	if n := h.count("DeleteVolume"); n != 5 {
		t.Errorf("DeleteVolume attempts: got %d, want 5", n)
	}
	for _, name := range []string{"DeletePort", "DeleteSecurityGroup", "DeleteInstanceRecord"} {
		if n := h.count(name); n != 0 {
			t.Errorf("%s ran %d times after the volume delete failed, want 0", name, n)
		}
	}
	f := h.onlyFault()
	if !strings.HasPrefix(f.Message, "delete volume failed: ") || !strings.Contains(f.Message, "cinder answered 503") {
		t.Errorf("fault message %q does not say the volume delete failed and why", f.Message)
	}
}

func TestDeleteInstanceEndsARunningCreateFirstAndDeletesWhatItLeft(t *testing.T) {
	h := newHarness(t)
	h.createRuns = true
	h.mockDeletesOf(recorded)
	h.mockCatalog(recorded)
	// The create undoes what it made, then says so.
	h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(CreateEndedSignal, nil) }, 2*time.Minute)
	start := h.env.Now()

	h.env.ExecuteWorkflow(DeleteInstance, deleteInput())

	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("delete failed: %v", err)
	}
	want := []string{
		CreateWorkflowID(instanceID) + " " + CreateSupersededSignal,
		CreateWorkflowID(instanceID) + " cancel",
	}
	if !slices.Equal(h.external, want) {
		t.Errorf("signals and cancellations sent: got %q, want %q", h.external, want)
	}
	// No engine was prepared: stop engine is skipped, the rest deleted as usual.
	h.checkCalls(slices.DeleteFunc(slices.Clone(deleteEverything), func(s string) bool { return s == "StopEngine" }))
	if took := h.env.Now().Sub(start); took < 2*time.Minute || took >= CreateEndTimeout {
		t.Errorf("the delete took %s, want it to wait for the create to end (2m), not for the timeout", took)
	}
	if p := h.progress(); len(p.Done) == 0 || p.Done[0] != StepEndCreate {
		t.Errorf("progress at the end: got %+v, want %q done first", p, StepEndCreate)
	}
}

func TestDeleteInstanceGoesOnWhenTheCanceledCreateNeverAnswers(t *testing.T) {
	h := newHarness(t)
	h.createRuns = true
	h.mockDeletesOf(recorded)
	h.mockCatalog(recorded)
	start := h.env.Now()

	h.env.ExecuteWorkflow(DeleteInstance, deleteInput())

	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("delete failed: %v", err)
	}
	if took := h.env.Now().Sub(start); took < CreateEndTimeout {
		t.Errorf("the delete took %s, want it to wait %s for the create first", took, CreateEndTimeout)
	}
	h.checkCalls(slices.DeleteFunc(slices.Clone(deleteEverything), func(s string) bool { return s == "StopEngine" }))
}
