package workflows

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"

	"github.com/coffer-dbaas/coffer/activities"
	"github.com/coffer-dbaas/coffer/guest"
)

func TestApplyConfigurationReachesEveryInstanceAndRecordsRestartRequired(t *testing.T) {
	h := newHarness(t)
	h.mockCatalog(recorded)
	values := activities.InstanceConfiguration{Values: map[string]string{"work_mem": "8192", "max_connections": "50"}}
	h.env.OnActivity(a.GetInstanceConfiguration, mock.Anything, mock.Anything).Return(values, nil)
	h.env.OnActivity(guest.ApplyConfigurationActivity, mock.Anything, guest.ConfigurationInput{Values: values.Values}).Return(
		guest.ConfigurationResult{PendingRestart: []string{"max_connections"}}, nil).Once()
	h.env.OnActivity(guest.ApplyConfigurationActivity, mock.Anything, guest.ConfigurationInput{Values: values.Values}).Return(
		guest.ConfigurationResult{}, nil).Once()

	h.env.ExecuteWorkflow(ApplyConfiguration, ApplyConfigurationInput{ConfigurationID: "group-1", ProjectID: "demo-project",
		InstanceIDs: []string{"instance-a", "instance-b"}})

	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("apply failed: %v", err)
	}
	want := []activities.SetRestartRequiredInput{{InstanceID: "instance-a", Required: true}, {InstanceID: "instance-b"}}
	if len(h.restartRequired) != 2 || h.restartRequired[0] != want[0] || h.restartRequired[1] != want[1] {
		t.Errorf("restart required: got %+v, want %+v", h.restartRequired, want)
	}
	if got := h.queues[guest.ApplyConfigurationActivity]; got != guest.TaskQueue("instance-b") {
		t.Errorf("ApplyConfiguration's task queue: got %q, want instance-b's", got)
	}
}

func TestApplyConfigurationAppliesAgainWhenTheGroupChangedMeanwhile(t *testing.T) {
	h := newHarness(t)
	h.mockCatalog(recorded)
	first := activities.InstanceConfiguration{Values: map[string]string{"work_mem": "4096"}}
	second := activities.InstanceConfiguration{Values: map[string]string{"work_mem": "8192"}}
	h.env.OnActivity(a.GetInstanceConfiguration, mock.Anything, mock.Anything).Return(first, nil).Once()
	h.env.OnActivity(a.GetInstanceConfiguration, mock.Anything, mock.Anything).Return(second, nil)
	var applied []string
	h.env.OnActivity(guest.ApplyConfigurationActivity, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in guest.ConfigurationInput) (guest.ConfigurationResult, error) {
			applied = append(applied, in.Values["work_mem"])
			return guest.ConfigurationResult{}, nil
		})

	h.env.ExecuteWorkflow(ApplyConfiguration, ApplyConfigurationInput{ProjectID: "demo-project", InstanceIDs: []string{instanceID}})

	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("apply failed: %v", err)
	}
	if len(applied) != 2 || applied[1] != "8192" {
		t.Errorf("values applied: got %v, want the later group's last", applied)
	}
	h.checkSearchAttributes(instanceID, "demo-project", "apply configuration")
}

func TestApplyConfigurationParksAnUnansweringGuestAndGoesOnAfterAnAbort(t *testing.T) {
	h := newHarness(t)
	h.mockCatalog(recorded)
	values := activities.InstanceConfiguration{Values: map[string]string{"work_mem": "8192"}}
	h.env.OnActivity(a.GetInstanceConfiguration, mock.Anything, mock.Anything).Return(values, nil)
	h.env.OnActivity(guest.ApplyConfigurationActivity, mock.Anything, mock.Anything).Return(
		guest.ConfigurationResult{}, temporal.NewApplicationError("the guest agent is unwell", "Unavailable")).Times(3)
	h.env.OnActivity(guest.ApplyConfigurationActivity, mock.Anything, mock.Anything).Return(guest.ConfigurationResult{}, nil)
	h.env.RegisterDelayedCallback(func() {
		if p := h.progress(); p.Parked == nil || p.Parked.Step != StepApplyTo("instance-a") {
			t.Errorf("progress while parked: got %+v, want instance-a's step parked", p)
		}
		h.env.SignalWorkflow(AbortSignal, nil)
	}, time.Minute)

	h.env.ExecuteWorkflow(ApplyConfiguration, ApplyConfigurationInput{ConfigurationID: "group-1", ProjectID: "demo-project",
		InstanceIDs: []string{"instance-a", "instance-b"}})

	if h.env.GetWorkflowError() == nil {
		t.Fatal("apply succeeded, want it to fail for instance-a")
	}
	if len(h.restartRequired) != 1 || h.restartRequired[0].InstanceID != "instance-b" {
		t.Errorf("restart required recorded: got %+v, want instance-b's only", h.restartRequired)
	}
	if len(h.faults) != 0 {
		t.Errorf("faults (task ERROR): got %+v, want none: the instances stay usable", h.faults)
	}
	noted := false
	for _, n := range h.notes {
		noted = noted || n.InstanceID == "instance-a" && n.Message != ""
	}
	if !noted {
		t.Errorf("notes: got %+v, want a fault noted on instance-a", h.notes)
	}
}

func TestApplyConfigurationReachesTheReplicasBeforeTheirPrimary(t *testing.T) {
	h := newHarness(t)
	h.mockCatalog(recorded)
	values := activities.InstanceConfiguration{Values: map[string]string{"max_connections": "200"}}
	h.env.OnActivity(a.GetInstanceConfiguration, mock.Anything, mock.Anything).Return(values, nil)
	h.env.OnActivity(guest.ApplyConfigurationActivity, mock.Anything, mock.Anything).Return(
		guest.ConfigurationResult{PendingRestart: []string{"max_connections"}}, nil)

	h.env.ExecuteWorkflow(ApplyConfiguration, ApplyConfigurationInput{ProjectID: "demo-project",
		InstanceIDs: []string{"primary"}, Replicas: []string{"replica-1", "replica-2"}})

	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("apply failed: %v", err)
	}
	var got []string
	for _, r := range h.restartRequired {
		if r.Required {
			got = append(got, r.InstanceID)
		}
	}
	if want := []string{"replica-1", "replica-2", "primary"}; !slices.Equal(got, want) {
		t.Errorf("instances applied to (restart required): got %v, want %v", got, want)
	}
}
