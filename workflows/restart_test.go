package workflows

import (
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

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
	h.checkCalls([]string{"ClaimTask", "RestartEngine", "Health", "Health", "SetRestartRequired", "FinishTask"})
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
	h.checkCalls([]string{"ClaimTask", "StopEngine", "GetInstanceResources", "RebootServer", "WaitServerStatus", "Health", "SetRestartRequired", "FinishTask"})
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

func TestRestartAnswersItsClaimUpdateWithTheOutcome(t *testing.T) {
	for _, c := range []struct {
		name  string
		claim error
		want  ClaimResult
	}{
		{"claimed", nil, ClaimResult{Claimed: true}},
		{"busy", temporal.NewNonRetryableApplicationError("instance is busy", activities.ErrorTypeInstanceBusy, nil), ClaimResult{Busy: true, Refused: "instance is busy"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			h.env.OnActivity(a.ClaimTask, mock.Anything, mock.MatchedBy(func(in activities.ClaimTaskInput) bool {
				return in.InstanceID == instanceID && in.Task == coffer.TaskRebooting && !in.NotAfter.IsZero()
			})).Return(c.claim)
			h.mockCatalog(recorded)
			h.env.OnActivity(guest.RestartEngineActivity, mock.Anything).Return(nil)
			h.env.OnActivity(guest.HealthActivity, mock.Anything).Return(healthy(), nil)
			var got ClaimResult
			var updateErr error
			h.env.RegisterDelayedCallback(func() {
				h.env.UpdateWorkflow(ClaimUpdate, "claim-1", &testsuite.TestUpdateCallback{
					OnAccept:   func() {},
					OnReject:   func(err error) { updateErr = err },
					OnComplete: func(v any, err error) { got, _ = v.(ClaimResult); updateErr = err },
				})
			}, 0)

			h.env.ExecuteWorkflow(RestartInstance, RestartInstanceInput{InstanceID: instanceID, ProjectID: "demo-project"})

			if err := h.env.GetWorkflowError(); err != nil {
				t.Fatalf("restart failed: %v", err)
			}
			if updateErr != nil || !reflect.DeepEqual(got, c.want) {
				t.Errorf("claim update: got %+v (error %v), want %+v", got, updateErr, c.want)
			}
			if c.want.Busy && (len(h.faults) != 0 || len(h.finished) != 0 || h.count("RestartEngine") != 0) {
				t.Errorf("a busy instance was touched: faults %+v, task ends %+v, calls %v", h.faults, h.finished, h.calls())
			}
		})
	}
}
