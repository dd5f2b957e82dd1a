package workflows

import (
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/activities"
	"github.com/coffer-dbaas/coffer/guest"
)

func healthy() guest.HealthReport {
	return guest.HealthReport{Status: coffer.ServiceHealthy}
}

func TestRestartInstanceRestartsTheEngineAndEndsActive(t *testing.T) {
	h := newHarness(t)
	h.mockCatalog(recorded)
	h.env.OnActivity(guest.RestartEngineActivity, mock.Anything).Return(nil)
	// The engine takes a moment to answer after its start.
	h.env.OnActivity(guest.HealthActivity, mock.Anything).Return(guest.HealthReport{Status: coffer.ServiceShutdown}, nil).Once()
	h.env.OnActivity(guest.HealthActivity, mock.Anything).Return(healthy(), nil)

	h.env.ExecuteWorkflow(RestartInstance, RestartInstanceInput{InstanceID: instanceID, ProjectID: "demo-project"})

	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("restart failed: %v", err)
	}
	h.checkCalls([]string{"RestartEngine", "Health", "Health", "FinishTask"})
	h.checkSearchAttributes(instanceID, "demo-project", "restart")
	if got, want := h.queues["RestartEngine"], guest.TaskQueue(instanceID); got != want {
		t.Errorf("RestartEngine's task queue: got %q, want %q", got, want)
	}
	if len(h.finished) != 1 || h.finished[0] != (activities.FinishTaskInput{InstanceID: instanceID}) {
		t.Errorf("task ends: got %+v, want one plain end", h.finished)
	}
}

func TestRestartInstanceRecordsFaultWhenTheEngineWillNotStart(t *testing.T) {
	h := newHarness(t)
	h.mockCatalog(recorded)
	h.env.OnActivity(guest.RestartEngineActivity, mock.Anything).Return(
		temporal.NewNonRetryableApplicationError("pg_ctl start: invalid configuration", guest.ErrInvalid, nil))

	h.env.ExecuteWorkflow(RestartInstance, RestartInstanceInput{InstanceID: instanceID, ProjectID: "demo-project"})

	if h.env.GetWorkflowError() == nil {
		t.Fatal("restart succeeded, want it to fail")
	}
	if f := h.onlyFault(); f.Message != "restart engine failed: pg_ctl start: invalid configuration" {
		t.Errorf("fault message: got %q", f.Message)
	}
}

func TestRebootInstanceRebootsTheServerAndWaitsForTheEngine(t *testing.T) {
	h := newHarness(t)
	h.mockCatalog(recorded)
	h.env.OnActivity(guest.StopEngineActivity, mock.Anything).Return(nil)
	h.env.OnActivity(a.RebootServer, mock.Anything, ref("server-1")).Return(nil)
	h.env.OnActivity(a.WaitServerStatus, mock.Anything, activities.WaitServerStatusInput{Server: ref("server-1"), Status: "ACTIVE"}).Return(nil)
	h.env.OnActivity(guest.HealthActivity, mock.Anything).Return(healthy(), nil)

	h.env.ExecuteWorkflow(RestartInstance, RestartInstanceInput{InstanceID: instanceID, ProjectID: "demo-project", Reboot: true})

	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("reboot failed: %v", err)
	}
	h.checkCalls([]string{"StopEngine", "GetInstanceResources", "RebootServer", "WaitServerStatus", "Health", "FinishTask"})
	h.checkSearchAttributes(instanceID, "demo-project", "reboot")
}

func TestStopInstanceStopsTheEngineAndRecordsShutdown(t *testing.T) {
	h := newHarness(t)
	h.mockCatalog(recorded)
	h.env.OnActivity(guest.StopEngineActivity, mock.Anything).Return(nil)
	h.env.OnActivity(a.SetServiceStatus, mock.Anything, activities.SetServiceStatusInput{InstanceID: instanceID, Status: coffer.ServiceShutdown}).Return(nil)

	h.env.ExecuteWorkflow(StopInstance, StopInstanceInput{InstanceID: instanceID, ProjectID: "demo-project"})

	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("stop failed: %v", err)
	}
	h.checkCalls([]string{"StopEngine", "SetServiceStatus"})
}

func TestRestartWaitsOutAParkedEngineThenAborts(t *testing.T) {
	h := newHarness(t)
	h.mockCatalog(recorded)
	h.env.OnActivity(guest.RestartEngineActivity, mock.Anything).Return(temporal.NewApplicationError("pg_ctl stop: timed out", "EngineError"))
	start := h.env.Now()

	h.env.ExecuteWorkflow(RestartInstance, RestartInstanceInput{InstanceID: instanceID, ProjectID: "demo-project", Timeouts: Timeouts{Park: 30 * time.Second}})

	if h.env.GetWorkflowError() == nil {
		t.Fatal("restart succeeded, want the park to time out")
	}
	if took := h.env.Now().Sub(start); took < 30*time.Second || took > 2*time.Minute {
		t.Errorf("gave up after %s of workflow time, want the 30s park and the retries", took)
	}
	if f := h.onlyFault(); f.Message != "restart engine failed: pg_ctl stop: timed out; no operator answered within 30s" {
		t.Errorf("fault message: got %q", f.Message)
	}
}
