package workflows

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"

	"github.com/coffer-dbaas/coffer/activities"
)

func silence() GuestSilentInput {
	last := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	return GuestSilentInput{InstanceID: instanceID, ProjectID: "demo-project", InstanceName: "orders",
		LastReport: last, NotedAt: last.Add(95 * time.Second), Expiry: 90 * time.Second}
}

func TestASilentGuestIsNotedAndNeedsAttention(t *testing.T) {
	h := newHarness(t)
	var noted []activities.NoteSilenceInput
	h.env.OnActivity(a.NoteSilence, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.NoteSilenceInput) (bool, error) {
			noted = append(noted, in)
			return true, nil
		})

	h.env.ExecuteWorkflow(GuestSilent, silence())

	if !h.env.IsWorkflowCompleted() || h.env.GetWorkflowError() != nil {
		t.Fatalf("silent: completed %v, error %v; want it ended cleanly", h.env.IsWorkflowCompleted(), h.env.GetWorkflowError())
	}
	want := activities.NoteSilenceInput{InstanceID: instanceID, NotedAt: silence().NotedAt, LastReport: silence().LastReport, Expiry: 90 * time.Second}
	if len(noted) != 1 || noted[0] != want {
		t.Errorf("NoteSilence calls: got %+v, want one with %+v", noted, want)
	}
	for attr, want := range map[string]string{"CofferNeedsAttention": "true", "CofferOperation": "silent", "CofferInstanceID": instanceID} {
		if got := h.attrs[attr]; got != want {
			t.Errorf("search attribute %s: got %v, want %q", attr, got, want)
		}
	}
}

func TestAGuestThatReportedAgainNeedsNoAttention(t *testing.T) {
	h := newHarness(t)
	h.env.OnActivity(a.NoteSilence, mock.Anything, mock.Anything).Return(false, nil)

	h.env.ExecuteWorkflow(GuestSilent, silence())

	if !h.env.IsWorkflowCompleted() || h.env.GetWorkflowError() != nil {
		t.Fatalf("silent: completed %v, error %v; want it ended cleanly", h.env.IsWorkflowCompleted(), h.env.GetWorkflowError())
	}
	if got := h.attrs["CofferNeedsAttention"]; got != "false" {
		t.Errorf("CofferNeedsAttention: got %v, want false: the silence ended before it was noted", got)
	}
}
