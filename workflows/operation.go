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

// setSearchAttributes sets the attributes every Coffer workflow carries; an empty
// instanceID (a backup's delete, whose instance may be gone) sets none for the instance.
func setSearchAttributes(ctx workflow.Context, instanceID, projectID, operation string) error {
	attrs := []temporal.SearchAttributeUpdate{
		ProjectIDAttr.ValueSet(projectID),
		OperationAttr.ValueSet(operation),
		NeedsAttentionAttr.ValueSet("false"),
	}
	if instanceID != "" {
		attrs = append(attrs, InstanceIDAttr.ValueSet(instanceID))
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, attrs...); err != nil {
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
	record *activities.RecordInstanceInput
	// resize is what a resize's claim asks of the project's quotas; nil claims no quota.
	resize   *activities.ResizeQuota
	timeouts Timeouts
	// claim is the operation's own claim, made as its first step in place of task's or
	// record's: a backup's record (claimBackup), a replication group's tasks (claimTasks).
	// nil: task's or record's, if any.
	claim func(ctx workflow.Context) (bool, error)
	// noteFault makes a failure a note on the instance that leaves its task alone, for an
	// operation that holds none; otherwise the fault sets task ERROR.
	noteFault bool
	// fault records a failure in place of the instance's fault (and noteFault), for an
	// operation whose failure is not the instance's (a backup's record goes FAILED) or is
	// more than its (the other members of a replication group get their tasks back); left
	// is what the compensations could not undo.
	fault func(ctx workflow.Context, err error, left []string) error
	// progress makes what the progress query answers from the operation's Progress (a
	// backup's adds its bytes); nil answers the Progress.
	progress func(Progress) any
	// subject names what the operation works on in its errors ("backup <id>"); empty
	// names the instance.
	subject string
	// superseded, when set and true at the end, says that another operation (a delete of
	// an instance being created) took the instance over: a failure, or the cancellation
	// that operation sent, still undoes what this one made but records no fault, since the
	// instance's task is no longer this operation's.
	superseded func() bool
}

// about is what the operation's errors name: "<name> <subject>".
func (op operation) about() string {
	if op.subject != "" {
		return op.name + " " + op.subject
	}
	return op.name + " instance " + op.instanceID
}

// settled is a failure whose outcome the steps recorded themselves (a replication group
// regrouped after its promotion, with a fault on each member that could not follow): run
// returns it with no compensation and no fault of its own.
type settled struct{ err error }

func (e settled) Error() string { return e.err.Error() }
func (e settled) Unwrap() error { return e.err }

// run runs the operation's steps: search attributes and the progress query first, then
// the claim of the instance's task (an instance another operation holds ends the workflow
// at once, untouched), then the steps, which park through p and add their compensations
// to u. When a step fails, or the workflow is canceled, the compensations run in reverse
// and the fault is recorded on the instance.
func (op operation) run(ctx workflow.Context, steps func(t *tracker, p *parking, u *undo) error) (err error) {
	started, outcome := workflow.Now(ctx), ""
	defer func() {
		if outcome == "" {
			outcome = outcomeOf(ctx, err)
		}
		recordOutcome(ctx, op.name, started, outcome)
	}()
	if err := setSearchAttributes(ctx, op.instanceID, op.projectID, op.name); err != nil {
		return err
	}
	t, err := trackAs(ctx, op.name, op.progress)
	if err != nil {
		return fmt.Errorf("%s: %w", op.about(), err)
	}
	if claim := op.claimFn(); claim != nil {
		var claimed bool
		t.during(StepClaimTask, func() { claimed, err = claim(ctx) })
		t.idle()
		if err != nil {
			// Nothing was claimed: the instance is not this workflow's to record a fault on.
			t.failed(faultMessage(op.name, err))
			return fmt.Errorf("%s: %w", op.about(), err)
		}
		if !claimed {
			outcome = OutcomeBusy
			return nil
		}
	}
	var u undo
	err = steps(t, newParking(ctx, t, op.name, op.instanceID, op.timeouts.Park), &u)
	var done settled
	switch {
	case err == nil:
		t.idle()
		return nil
	case errors.As(err, &done):
		t.idle()
		return fmt.Errorf("%s: %w", op.about(), done.err)
	}
	return op.fail(ctx, t, &u, err)
}

// claimFn is the operation's claim, nil when it claims nothing.
func (op operation) claimFn() func(workflow.Context) (bool, error) {
	switch {
	case op.claim != nil:
		return op.claim
	case op.record != nil:
		return func(ctx workflow.Context) (bool, error) { return claimRecord(ctx, *op.record, op.timeouts.Claim) }
	case op.task != "":
		return func(ctx workflow.Context) (bool, error) {
			return claimTask(ctx, op.instanceID, op.task, op.resize, op.timeouts.Claim)
		}
	}
	return nil
}

// releasesOnCancel reports whether a cancellation (err) ends the operation by giving the
// instance's task back, with the cancellation as its fault, once its compensations undid
// what it made: a resize or a restart leaves the instance as it was before, so ERROR would
// be a lie. A create or a delete, which leave an instance half made or half gone, record
// the fault (task ERROR) as any failure does.
func (op operation) releasesOnCancel(err error) bool {
	return temporal.IsCanceledError(err) && op.fault == nil && !op.noteFault && op.claim == nil &&
		(op.task == coffer.TaskResizing || op.task == coffer.TaskRebooting)
}

// fail undoes what the operation made and records its fault (task ERROR), or notes it
// (noteFault), even when the workflow was canceled, and returns the workflow's error: a
// cancellation's error is a *temporal.CanceledError, so that the workflow ends CANCELED.
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
		switch {
		case op.superseded != nil && op.superseded():
			log.Info(op.name+" ended by the operation that took the instance over; no fault recorded", "instance_id", op.instanceID, "left", left)
		case op.releasesOnCancel(err) && len(left) == 0:
			ferr = workflow.ExecuteActivity(callOptions(dctx), acts.FinishTask, activities.FinishTaskInput{
				InstanceID: op.instanceID, FaultMessage: faultMessage(op.name, err) + "; nothing it changed is left", FaultDetails: err.Error(),
			}).Get(dctx, nil)
		case op.fault != nil:
			ferr = op.fault(dctx, err, left)
		case op.noteFault:
			ferr = workflow.ExecuteActivity(callOptions(dctx), acts.NoteFault, activities.NoteFaultInput{
				InstanceID: op.instanceID, Message: faultMessage(op.name, err), Details: err.Error(),
			}).Get(dctx, nil)
		default:
			ferr = recordFault(dctx, op.instanceID, op.name, err, left)
		}
		if ferr != nil {
			log.Error("record fault failed", "instance_id", op.instanceID, "error", ferr)
			err = errors.Join(err, fmt.Errorf("record fault: %w", ferr))
		}
	})
	t.idle()
	return fmt.Errorf("%s: %w", op.about(), err)
}
