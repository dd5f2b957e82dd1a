package workflows

import (
	"errors"
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/coffer-dbaas/coffer"
)

// The lifecycle every operation on an instance shares: its search attributes, its progress
// (tracker, steps.go), parking for an operator (park.go), compensations (undo, steps.go)
// and the fault recorded when it fails.

// setSearchAttributes sets the attributes every Coffer workflow carries.
func setSearchAttributes(ctx workflow.Context, instanceID, projectID, operation string) error {
	err := workflow.UpsertTypedSearchAttributes(ctx,
		InstanceIDAttr.ValueSet(instanceID),
		ProjectIDAttr.ValueSet(projectID),
		OperationAttr.ValueSet(operation),
		NeedsAttentionAttr.ValueSet("false"),
	)
	if err != nil {
		return fmt.Errorf("%s instance %s: set search attributes: %w", operation, instanceID, err)
	}
	return nil
}

// StepClaimTask is the first step of every operation on an instance (claim.go).
const StepClaimTask = "claim task"

// runOperation runs the steps of an operation on an instance: search attributes and the
// progress query first, then the claim of the instance's task (claimTask; an instance
// another operation holds ends the workflow at once, untouched), parking for the steps;
// on a failure, the fault (task ERROR).
func runOperation(ctx workflow.Context, operation, instanceID, projectID string, task coffer.Task, timeouts Timeouts, steps func(*tracker, *parking) error) error {
	if err := setSearchAttributes(ctx, instanceID, projectID, operation); err != nil {
		return err
	}
	t, err := track(ctx, operation)
	if err != nil {
		return fmt.Errorf("%s instance %s: %w", operation, instanceID, err)
	}
	var claimed bool
	t.during(StepClaimTask, func() { claimed, err = claimTask(ctx, instanceID, task, timeouts.Claim) })
	t.idle()
	if err != nil {
		// Nothing was claimed: the instance is not this workflow's to record a fault on.
		t.failed(faultMessage(operation, err))
		return fmt.Errorf("%s instance %s: %w", operation, instanceID, err)
	}
	if !claimed {
		return nil
	}
	p := newParking(ctx, t, operation, instanceID, timeouts.Park)
	err = steps(t, p)
	if err == nil {
		t.idle()
		return nil
	}
	return failOperation(ctx, t, operation, instanceID, err, nil)
}

// failOperation records the fault of a failed operation (task ERROR), even when the
// workflow was canceled, and returns the workflow's error.
func failOperation(ctx workflow.Context, t *tracker, operation, instanceID string, err error, left []string) error {
	workflow.GetLogger(ctx).Error(operation+" failed", "instance_id", instanceID, "error", err)
	t.failed(faultMessage(operation, err))
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	t.during("record fault", func() {
		if ferr := recordFault(dctx, instanceID, operation, err, left); ferr != nil {
			workflow.GetLogger(ctx).Error("record fault failed", "instance_id", instanceID, "error", ferr)
			err = errors.Join(err, fmt.Errorf("record fault: %w", ferr))
		}
	})
	t.idle()
	return fmt.Errorf("%s instance %s: %w", operation, instanceID, err)
}
