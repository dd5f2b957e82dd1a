package workflows

import (
	"errors"
	"fmt"

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

// StepClaimTask is the first step of every operation on an instance (claim.go).
const StepClaimTask = "claim task"

// operation is one operation on an instance, as its workflow runs it: every operation
// goes through run, so that each has the same search attributes, progress query, claim,
// parking, compensations and fault.
type operation struct {
	name       string
	instanceID string
	projectID  string
	// task is claimed as the first step (claimTask); none for an operation that holds no
	// task (stop) or that makes the instance's record (create: record).
	task coffer.Task
	// record is the record a create makes as its first step, its claim (claimRecord); nil
	// when the record exists.
	record   *activities.RecordInstanceInput
	timeouts Timeouts
	// noteFault makes a failure a note on the instance that leaves its task alone, for an
	// operation that holds none; otherwise the fault sets task ERROR.
	noteFault bool
}

// run runs the operation's steps: search attributes and the progress query first, then
// the claim of the instance's task (an instance another operation holds ends the workflow
// at once, untouched), then the steps, which park through p and add their compensations
// to u. When a step fails, or the workflow is canceled, the compensations run in reverse
// and the fault is recorded on the instance.
func (op operation) run(ctx workflow.Context, steps func(t *tracker, p *parking, u *undo) error) error {
	if err := setSearchAttributes(ctx, op.instanceID, op.projectID, op.name); err != nil {
		return err
	}
	t, err := track(ctx, op.name)
	if err != nil {
		return fmt.Errorf("%s instance %s: %w", op.name, op.instanceID, err)
	}
	if op.task != "" || op.record != nil {
		var claimed bool
		t.during(StepClaimTask, func() {
			if op.record != nil {
				claimed, err = claimRecord(ctx, *op.record, op.timeouts.Claim)
			} else {
				claimed, err = claimTask(ctx, op.instanceID, op.task, op.timeouts.Claim)
			}
		})
		t.idle()
		if err != nil {
			// Nothing was claimed: the instance is not this workflow's to record a fault on.
			t.failed(faultMessage(op.name, err))
			return fmt.Errorf("%s instance %s: %w", op.name, op.instanceID, err)
		}
		if !claimed {
			return nil
		}
	}
	var u undo
	err = steps(t, newParking(ctx, t, op.name, op.instanceID, op.timeouts.Park), &u)
	if err == nil {
		t.idle()
		return nil
	}
	return op.fail(ctx, t, &u, err)
}

// fail undoes what the operation made and records its fault (task ERROR), or notes it
// (noteFault), even when the workflow was canceled, and returns the workflow's error.
func (op operation) fail(ctx workflow.Context, t *tracker, u *undo, err error) error {
	log := workflow.GetLogger(ctx)
	log.Error(op.name+" failed", "instance_id", op.instanceID, "error", err)
	t.failed(faultMessage(op.name, err))
	// Disconnected: the cleanup and the fault must happen even when the workflow is canceled.
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	var left []string
	if len(u.fns) > 0 {
		t.during("clean up", func() { left = u.run(dctx) })
	}
	t.during("record fault", func() {
		var ferr error
		if op.noteFault {
			ferr = workflow.ExecuteActivity(callOptions(dctx), acts.NoteFault, activities.NoteFaultInput{
				InstanceID: op.instanceID, Message: faultMessage(op.name, err), Details: err.Error(),
			}).Get(dctx, nil)
		} else {
			ferr = recordFault(dctx, op.instanceID, op.name, err, left)
		}
		if ferr != nil {
			log.Error("record fault failed", "instance_id", op.instanceID, "error", ferr)
			err = errors.Join(err, fmt.Errorf("record fault: %w", ferr))
		}
	})
	t.idle()
	return fmt.Errorf("%s instance %s: %w", op.name, op.instanceID, err)
}
