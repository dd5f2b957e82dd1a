package workflows

import (
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/mock"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/activities"
)

func TestUpdateAccessSetsTheRulesThenRecordsTheAccess(t *testing.T) {
	h := newHarness(t)
	h.mockCatalog(recorded)
	cidrs := []string{"192.0.2.0/24"}
	var set activities.SetAccessRulesInput
	var rec activities.RecordAccessInput
	h.env.OnActivity(a.SetAccessRules, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.SetAccessRulesInput) error { set = in; return nil })
	h.env.OnActivity(a.RecordAccess, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.RecordAccessInput) error { rec = in; return nil })

	h.env.ExecuteWorkflow(UpdateAccess, UpdateAccessInput{
		InstanceID: instanceID, ProjectID: "demo-project", SecurityGroupID: "sg-1", Port: 5432,
		Access: coffer.Access{IsPublic: true, AllowedCIDRs: cidrs},
	})

	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("update access failed: %v", err)
	}
	h.checkCalls([]string{"ClaimTask", "SetAccessRules", "RecordAccess", "FinishTask"})
	h.checkSearchAttributes(instanceID, "demo-project", "update access")
	if set.SecurityGroupID != "sg-1" || set.Port != 5432 || !slices.Equal(set.AllowedCIDRs, cidrs) {
		t.Errorf("SetAccessRules input: got %+v", set)
	}
	if !rec.IsPublic || !slices.Equal(rec.AllowedCIDRs, cidrs) {
		t.Errorf("RecordAccess input: got %+v", rec)
	}
}
