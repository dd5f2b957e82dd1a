package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/activities"
	"github.com/coffer-dbaas/coffer/guest"
)

func TestMonitorRecordsHealthUntilTheInstanceIsGone(t *testing.T) {
	h := newHarness(t)
	var recorded []activities.RecordHealthInput
	rounds := 0
	h.env.OnActivity(a.RecordHealth, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.RecordHealthInput) (coffer.Task, error) {
			recorded = append(recorded, in)
			rounds++
			if rounds == 4 {
				return "", temporal.NewNonRetryableApplicationError("the catalog has no such instance", activities.ErrorTypeNotInCatalog, nil)
			}
			return coffer.TaskNone, nil
		})
	// Healthy, then the engine stopped behind the agent's back, then the agent is gone.
	h.env.OnActivity(guest.HealthActivity, mock.Anything).Return(healthy(), nil).Once()
	h.env.OnActivity(guest.HealthActivity, mock.Anything).Return(guest.HealthReport{Status: coffer.ServiceShutdown}, nil).Once()
	h.env.OnActivity(guest.HealthActivity, mock.Anything).Return(guest.HealthReport{}, errors.New("no poller"))
	h.env.OnActivity(guest.VolumeUsageActivity, mock.Anything).Return(guest.VolumeUsage{SizeGB: 1, UsedGB: 0.04}, nil)
	var mid MonitorState
	h.env.RegisterDelayedCallback(func() {
		v, err := h.env.QueryWorkflow(HealthQuery)
		if err != nil {
			t.Errorf("query health: %v", err)
			return
		}
		if err := v.Get(&mid); err != nil {
			t.Error(err)
		}
	}, 5*time.Second)
	start := h.env.Now()

	h.env.ExecuteWorkflow(MonitorInstance, MonitorInstanceInput{InstanceID: instanceID, ProjectID: "demo-project", Interval: 10 * time.Second})

	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("monitor failed: %v", err)
	}
	if len(recorded) != 4 {
		t.Fatalf("health records: got %d, want 4", len(recorded))
	}
	for i, want := range []coffer.ServiceStatus{coffer.ServiceHealthy, coffer.ServiceShutdown, "", ""} {
		got := coffer.ServiceStatus("")
		if recorded[i].Report != nil {
			got = recorded[i].Report.Status
		}
		if got != want {
			t.Errorf("health record %d: got %q, want %q", i, got, want)
		}
	}
	if took := h.env.Now().Sub(start); took < 30*time.Second || took > 60*time.Second {
		t.Errorf("4 probes 10s apart took %s", took)
	}
	if mid.Report == nil || mid.Report.Status != coffer.ServiceHealthy || mid.Volume == nil || mid.Volume.UsedGB != 0.04 {
		t.Errorf("health query after the first probe: got %+v, want HEALTHY with the volume's usage", mid)
	}
	h.checkSearchAttributes(instanceID, "demo-project", "monitor")
}

func TestMonitorContinuesAsNew(t *testing.T) {
	h := newHarness(t)
	h.env.OnActivity(a.RecordHealth, mock.Anything, mock.Anything).Return(coffer.TaskNone, nil)
	h.env.OnActivity(guest.HealthActivity, mock.Anything).Return(healthy(), nil)
	h.env.OnActivity(guest.VolumeUsageActivity, mock.Anything).Return(guest.VolumeUsage{}, nil)

	h.env.ExecuteWorkflow(MonitorInstance, MonitorInstanceInput{InstanceID: instanceID, Interval: time.Second})

	var can *workflow.ContinueAsNewError
	if !errors.As(h.env.GetWorkflowError(), &can) {
		t.Fatalf("monitor ended with %v, want it to continue as new", h.env.GetWorkflowError())
	}
	if n := h.count("Health"); n != probesPerRun {
		t.Errorf("probes in one run: got %d, want %d", n, probesPerRun)
	}
}
