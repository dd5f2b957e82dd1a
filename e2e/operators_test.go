package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/instances"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/coffer-dbaas/coffer/dev/devcloud"
	"github.com/coffer-dbaas/coffer/workflows"
)

// Operators steer operations in Temporal directly (the Web UI, the temporal CLI): cancel,
// terminate, and answers to parked steps sent too early. Each ends with the instance in a
// true state that needs no reset_status.

// parkedResize makes an ACTIVE instance whose volume resize to 2 GiB is parked at its
// extend volume step (Cinder's extend fails), and returns it with the function that mends
// Cinder.
func parkedResize(t *testing.T, demo, admin tenant, name string) (database, func()) {
	t.Helper()
	ctx := context.Background()
	d := newDatabase(t, demo, name)
	fault, err := devcloud.InjectFault(ctx, admin.provider, cloud.Cloud.URL(), devcloud.Fault{
		Service: "volume", Operation: "volume.action.os-extend", Status: http.StatusInternalServerError, Message: "the storage backend is down",
	})
	if err != nil {
		t.Fatal(err)
	}
	mended := false
	mend := func() {
		if !mended {
			mended = true
			if err := devcloud.RemoveFault(ctx, admin.provider, cloud.Cloud.URL(), fault.ID); err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(mend)
	if err := instances.ResizeVolume(ctx, demo.db, d.id, 2).ExtractErr(); err != nil {
		t.Fatalf("resize volume: %v", err)
	}
	waitParked(t, admin, d.id, workflows.StepExtendVolume)
	return d, mend
}

// wantNoRunNeedingAttention lists, as the README's filter does, the running workflows of the
// instance that need attention, and wants none.
func wantNoRunNeedingAttention(t *testing.T, id string) {
	t.Helper()
	query := fmt.Sprintf("CofferNeedsAttention = 'true' AND ExecutionStatus = 'Running' AND CofferInstanceID = '%s'", id)
	resp, err := cloud.Client.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: query})
	if err != nil {
		t.Fatalf("list workflows %q: %v", query, err)
	}
	for _, e := range resp.GetExecutions() {
		t.Errorf("workflow %s matches %q, want none", e.GetExecution().GetWorkflowId(), query)
	}
}

// wantResizedAgain resizes the volume to 2 GiB once Cinder works again, as a client would,
// and wants it done: the instance needs no reset_status after what the operator did.
func wantResizedAgain(t *testing.T, demo tenant, d database, mend func()) {
	t.Helper()
	mend()
	if err := instances.ResizeVolume(context.Background(), demo.db, d.id, 2).ExtractErr(); err != nil {
		t.Fatalf("a new resize: %v, want it accepted", err)
	}
	waitSeen(t, demo, d.id, "RESIZE", 10*time.Second)
	inst := waitStatus(t, demo.db, d.id, "ACTIVE", 2*time.Minute)
	if inst.Volume.Size != 2 {
		t.Errorf("volume after the new resize: got %d GiB, want 2", inst.Volume.Size)
	}
	d.wantDataKept(t)
}

func TestCancelOfAParkedResizeEndsCanceledWithTheInstanceActive(t *testing.T) {
	ctx := context.Background()
	demo, admin := login(t, "demo"), login(t, "admin")
	d, mend := parkedResize(t, demo, admin, "cancel-me")
	d.keepData(t)
	id := workflows.ResizeWorkflowID(d.id)

	// What `temporal workflow cancel` does.
	if err := cloud.Client.CancelWorkflow(ctx, id, ""); err != nil {
		t.Fatal(err)
	}
	err := cloud.Client.GetWorkflow(ctx, id, "").Get(ctx, nil)
	var canceled *temporal.CanceledError
	if !errors.As(err, &canceled) {
		t.Fatalf("the canceled resize: got %v, want it CANCELED", err)
	}
	if strings.Contains(err.Error(), "no operator answered") {
		t.Errorf("the canceled resize: got %v, want a cancellation, not the park's timeout", err)
	}
	inst := waitStatus(t, demo.db, d.id, "ACTIVE", time.Minute)
	if inst.Fault == nil || !strings.Contains(inst.Fault.Message, "canceled by an operator") || inst.Volume.Size != 1 {
		t.Errorf("instance after the cancel: fault %+v, volume %d GiB; want the cancellation as its fault and the old 1 GiB", inst.Fault, inst.Volume.Size)
	}
	wantNoRunNeedingAttention(t, d.id)
	wantResizedAgain(t, demo, d, mend)
}

func TestTerminatedResizeIsNoticedAndTheInstanceUsableAgain(t *testing.T) {
	ctx := context.Background()
	demo, admin := login(t, "demo"), login(t, "admin")
	d, mend := parkedResize(t, demo, admin, "terminate-me")
	d.keepData(t)
	id := workflows.ResizeWorkflowID(d.id)

	// What `temporal workflow terminate --reason ...` does: the workflow runs no more code.
	if err := cloud.Client.TerminateWorkflow(ctx, id, "", "stuck: taking over by hand"); err != nil {
		t.Fatal(err)
	}
	desc, err := cloud.Client.DescribeWorkflowExecution(ctx, id, "")
	if err != nil || desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED {
		t.Fatalf("the resize after terminate: %v, %v", desc.GetWorkflowExecutionInfo().GetStatus(), err)
	}

	// The next request notices: the task is given back, with a fault that says why.
	inst := waitStatus(t, demo.db, d.id, "ACTIVE", 30*time.Second)
	if inst.Fault == nil || !strings.Contains(inst.Fault.Message, "terminated in Temporal") {
		t.Errorf("fault after the terminate: got %+v, want it to say the resize was terminated", inst.Fault)
	}
	r := rawPost(t, admin, "/mgmt/instances/"+d.id+"/action", `{"retry-task": {}}`)
	if r.code != http.StatusUnprocessableEntity {
		t.Errorf("retry-task after the terminate: got %d %s, want 422 with the reason", r.code, r.body)
	}
	wantNoRunNeedingAttention(t, d.id)
	wantResizedAgain(t, demo, d, mend)
}

func TestATooEarlyRetryIsRefusedAndARememberedSignalAnswersThePark(t *testing.T) {
	ctx := context.Background()
	demo, admin := login(t, "demo"), login(t, "admin")
	clear := failVolumes(t, admin)
	inst, err := instances.Create(ctx, demo.db, postgresOpts("too-early")).Extract()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteQuietly(demo, inst.ID) })
	id := workflows.CreateWorkflowID(inst.ID)
	// Cinder's create fails; its activity retries for about 15 s before the step parks.
	waitStep(t, id, workflows.StepCreateVolume, time.Minute)

	// An update sent now is refused: the operator learns that it answered nothing.
	r := rawPost(t, admin, "/mgmt/instances/"+inst.ID+"/action", `{"retry-task": {}}`)
	if r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, "not parked") {
		t.Errorf("retry-task during the step's retries: got %d %s, want 422: not parked", r.code, r.body)
	}
	h, err := cloud.Client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: id, UpdateName: workflows.RetrySignal, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, nil)
	}
	if err == nil || !strings.Contains(err.Error(), "rejected: the step is not parked") {
		t.Errorf("retry update during the step's retries: got %v, want it rejected", err)
	}
	// A signal cannot be refused: it is remembered, and answers the park when it comes (the
	// step runs again at once, and parks a second time only when that fails too).
	if err := cloud.Client.SignalWorkflow(ctx, id, "", workflows.RetrySignal, nil); err != nil {
		t.Fatal(err)
	}
	parked := waitParked(t, admin, inst.ID, workflows.StepCreateVolume)
	if parked.Parked.Attempts != 2 {
		t.Errorf("parked step: got attempt %d, want 2 (the remembered retry answered the first park)", parked.Parked.Attempts)
	}

	clear()
	if r := rawPost(t, admin, "/mgmt/instances/"+inst.ID+"/action", `{"retry-task": {}}`); r.code != http.StatusAccepted {
		t.Fatalf("retry-task while parked: got %d %s", r.code, r.body)
	}
	waitStatus(t, demo.db, inst.ID, "ACTIVE", 3*time.Minute)
	wantNoRunNeedingAttention(t, inst.ID)
}
