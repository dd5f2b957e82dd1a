package workflows

import (
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/workflow"

	"github.com/coffer-dbaas/coffer/activities"
	"github.com/coffer-dbaas/coffer/guest"
)

func TestANewMonitorRunEndsAtOnce(t *testing.T) {
	h := newHarness(t)

	h.env.ExecuteWorkflow(MonitorInstance, MonitorInstanceInput{InstanceID: instanceID, ProjectID: "demo-project"})

	if !h.env.IsWorkflowCompleted() || h.env.GetWorkflowError() != nil {
		t.Fatalf("monitor: completed %v, error %v; want it ended cleanly", h.env.IsWorkflowCompleted(), h.env.GetWorkflowError())
	}
	if n := h.count(guest.HealthActivity); n != 0 {
		t.Errorf("probes: got %d, want none", n)
	}
}

func TestAMonitorInFlightEndsAtItsNextRecord(t *testing.T) {
	h := newHarness(t)
	// A run that began before the change replays as the old code ran it.
	h.env.OnGetVersion(HealthOffTemporalChange, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
	// The real RecordHealth: it answers ErrorTypeMonitorRetired.
	h.env.OnActivity(a.RecordHealth, mock.Anything, mock.Anything).Return((&activities.Activities{}).RecordHealth)
	h.env.OnActivity(guest.HealthActivity, mock.Anything).Return(healthy(), nil)
	h.env.OnActivity(guest.VolumeUsageActivity, mock.Anything).Return(guest.VolumeUsage{SizeGB: 1, UsedGB: 0.04}, nil)

	h.env.ExecuteWorkflow(MonitorInstance, MonitorInstanceInput{InstanceID: instanceID, ProjectID: "demo-project"})

	if !h.env.IsWorkflowCompleted() || h.env.GetWorkflowError() != nil {
		t.Fatalf("monitor: completed %v, error %v; want it ended cleanly", h.env.IsWorkflowCompleted(), h.env.GetWorkflowError())
	}
	if n := h.count(guest.HealthActivity); n != 1 {
		t.Errorf("probes: got %d, want the one before its record", n)
	}
}
