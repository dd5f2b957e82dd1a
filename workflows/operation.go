package workflows

import (
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/activities"
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

// runOperation runs the steps of an operation that holds the instance's task: search
// attributes, the progress query and parking first; on a failure, the fault (task ERROR).
func runOperation(ctx workflow.Context, operation, instanceID, projectID string, timeouts Timeouts, steps func(*tracker, *parking) error) error {
	if err := setSearchAttributes(ctx, instanceID, projectID, operation); err != nil {
		return err
	}
	t, err := track(ctx, operation)
	if err != nil {
		return fmt.Errorf("%s instance %s: %w", operation, instanceID, err)
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

// claimTask sets the instance's task for this workflow as its first step, when the
// workflow was started without the task set for it (a replica's resize started by its
// primary's). It reports false when another operation holds the instance: the workflow
// then ends without touching the instance.
func claimTask(ctx workflow.Context, instanceID string, task coffer.Task) (bool, error) {
	err := workflow.ExecuteActivity(callOptions(ctx), acts.ClaimTask,
		activities.ClaimTaskInput{InstanceID: instanceID, Task: task}).Get(ctx, nil)
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.Type() == activities.ErrInstanceBusy {
		workflow.GetLogger(ctx).Warn("instance busy; leaving it alone", "instance_id", instanceID, "task", task, "reason", app.Message())
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim task %s on instance %s: %w", task, instanceID, err)
	}
	return true, nil
}
