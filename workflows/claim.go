package workflows

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/activities"
	"github.com/coffer-dbaas/coffer/catalog"
)

// Claiming the instance's task and starting the workflow are one operation: the workflow
// claims the task itself, as its first step (a create claims by recording the instance,
// within its project's quotas), and the API learns the outcome through the claim update
// it sends with the start (Temporal's update-with-start, Starter.startClaimed). So the
// catalog and Temporal cannot disagree after a crash of the API:
//
//   - the API dies before Temporal accepted the start: nothing happened;
//   - it dies after: the workflow runs, claims the task or finds the instance busy and ends
//     without touching it, whether or not anyone waits for the answer;
//   - no worker answers in time: the API answers 503 after ClaimWait, and the workflow,
//     when it runs at last, claims only within ClaimWindow of its own start, which ended
//     before the API gave up. A client's retry finds the instance as it was.

// ClaimUpdate names the update that answers with the outcome of the workflow's claim.
const ClaimUpdate = "claim"

// ClaimWindow is how long after its start a workflow may still claim its instance's task;
// later it gives up without claiming.
const ClaimWindow = 20 * time.Second

// ClaimWait is how long a start waits for the claim's outcome. It is longer than
// ClaimWindow, so that a workflow the caller gave up on never claims afterwards.
const ClaimWait = ClaimWindow + 10*time.Second

// ErrInstanceBusy is what a start returns when another operation holds the instance (its
// claim found the task taken, or a workflow of the same ID runs).
var ErrInstanceBusy = errors.New("another operation holds the instance")

// ErrBackupRunning is the ErrInstanceBusy of a backup whose instance another backup holds.
var ErrBackupRunning = fmt.Errorf("%w: a backup of it runs", ErrInstanceBusy)

// ClaimResult is the outcome of a workflow's claim.
type ClaimResult struct {
	// Claimed is set when the workflow holds the instance's task.
	Claimed bool `json:"claimed"`
	// Busy is set when another operation holds it.
	Busy bool `json:"busy,omitempty"`
	// BackupRunning is set, with Busy, when that operation is another backup.
	BackupRunning bool `json:"backup_running,omitempty"`
	// Quota lists the project's quotas a create would exceed; it then has no record.
	Quota []catalog.Quota `json:"quota,omitempty"`
	// Refused says why the workflow does not hold it.
	Refused string `json:"refused,omitempty"`
}

// claim is a workflow's claim of its instance's task, answered to the claim update.
type claim struct {
	result *ClaimResult
}

// claimTask claims the instance's task as the workflow's first step (a resize within its
// project's quotas, when resize is set) and answers the claim update with the outcome. It
// reports false when the workflow must end without touching the instance: another
// operation holds it, or the claim window had passed. An error is a
// claim that failed (the catalog did not answer): nothing was claimed either.
func claimTask(ctx workflow.Context, instanceID string, task coffer.Task, resize *activities.ResizeQuota, window time.Duration) (bool, error) {
	return runClaim(ctx, instanceID, window, func(actx workflow.Context, deadline time.Time) error {
		return workflow.ExecuteActivity(actx, acts.ClaimTask, activities.ClaimTaskInput{
			InstanceID: instanceID, Task: task, WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID, NotAfter: deadline, Resize: resize,
		}).Get(actx, nil)
	})
}

// claimTasks is a replication operation's claim: the tasks of every member of the group,
// all or none, as claimTask claims one instance's. It is busy when another operation holds
// any member, also another replication operation that set the same task (the catalog
// records which workflow holds each task).
func claimTasks(ctx workflow.Context, instanceID string, tasks map[string]coffer.Task, window time.Duration) (bool, error) {
	return runClaim(ctx, instanceID, window, func(actx workflow.Context, deadline time.Time) error {
		return workflow.ExecuteActivity(actx, acts.ClaimTasks, activities.ClaimTasksInput{
			Tasks: tasks, InstanceID: instanceID, WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID, NotAfter: deadline,
		}).Get(actx, nil)
	})
}

// claimRecord is a create's claim: it records the new instance (task BUILDING) within its
// project's quotas, as claimTask claims a task.
func claimRecord(ctx workflow.Context, rec activities.RecordInstanceInput, window time.Duration) (bool, error) {
	return runClaim(ctx, rec.Instance.ID, window, func(actx workflow.Context, deadline time.Time) error {
		rec.NotAfter = deadline
		rec.WorkflowID = workflow.GetInfo(ctx).WorkflowExecution.ID
		return workflow.ExecuteActivity(actx, acts.RecordInstance, rec).Get(actx, nil)
	})
}

// claimBackup is a backup's claim: it records the backup (NEW), which holds the instance
// while it runs, as claimTask claims a task.
func claimBackup(ctx workflow.Context, rec activities.CreateBackupRecordInput, window time.Duration) (bool, error) {
	return runClaim(ctx, rec.InstanceID, window, func(actx workflow.Context, deadline time.Time) error {
		rec.NotAfter = deadline
		return workflow.ExecuteActivity(actx, acts.CreateBackupRecord, rec).Get(actx, nil)
	})
}

// runClaim answers the claim update with the outcome of claim, run within the window.
func runClaim(ctx workflow.Context, instanceID string, window time.Duration, claimFn func(workflow.Context, time.Time) error) (bool, error) {
	c := &claim{}
	err := workflow.SetUpdateHandler(ctx, ClaimUpdate, func(ctx workflow.Context) (ClaimResult, error) {
		if err := workflow.Await(ctx, func() bool { return c.result != nil }); err != nil {
			return ClaimResult{}, err
		}
		return *c.result, nil
	})
	if err != nil {
		return false, fmt.Errorf("set the claim update handler: %w", err)
	}
	claimed, err := c.run(ctx, instanceID, orDefault(window, ClaimWindow), claimFn)
	// The caller of the start waits for this answer: let the handler send it.
	_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	return claimed, err
}

func (c *claim) run(ctx workflow.Context, instanceID string, window time.Duration, claimFn func(workflow.Context, time.Time) error) (bool, error) {
	log := workflow.GetLogger(ctx)
	deadline := workflow.GetInfo(ctx).WorkflowStartTime.Add(window)
	left := deadline.Sub(workflow.Now(ctx))
	if left <= 0 {
		log.Warn("too late to claim the instance; the caller gave up", "instance_id", instanceID)
		c.result = &ClaimResult{Refused: "too late"}
		return false, nil
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		ScheduleToCloseTimeout: left,
		StartToCloseTimeout:    left,
		RetryPolicy:            cloudRetry,
	})
	err := claimFn(actx, deadline)
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		switch app.Type() {
		case activities.ErrorTypeInstanceBusy, activities.ErrorTypeBackupRunning, activities.ErrorTypeClaimTooLate, activities.ErrorTypeProjectQuotaExceeded:
			log.Warn("instance not claimed; leaving it alone", "instance_id", instanceID, "reason", app.Message())
			c.result = &ClaimResult{
				Busy:          app.Type() == activities.ErrorTypeInstanceBusy || app.Type() == activities.ErrorTypeBackupRunning,
				BackupRunning: app.Type() == activities.ErrorTypeBackupRunning,
				Refused:       app.Message(),
			}
			if app.Type() == activities.ErrorTypeProjectQuotaExceeded && app.HasDetails() {
				_ = app.Details(&c.result.Quota)
			}
			return false, nil
		}
	}
	if err != nil {
		c.result = &ClaimResult{Refused: reason(err)}
		return false, fmt.Errorf("claim instance %s: %w", instanceID, err)
	}
	c.result = &ClaimResult{Claimed: true}
	return true, nil
}

// startClaimed starts a workflow that claims its instance's task first (claimTask) and
// waits, at most ClaimWait (measured with the workflow's own window, Timeouts.Claim), for
// the claim's outcome: nil when the workflow holds the task, ErrInstanceBusy when another
// operation holds it (ErrBackupRunning when that is a backup), a *catalog.QuotaExceededError when a create's project is over a
// quota, another error when the outcome is unknown (Temporal or the workers did not
// answer in time).
func (s Starter) startClaimed(ctx context.Context, id, projectID string, p startPolicy, l labels, window time.Duration, workflow, in any) error {
	ctx, cancel := context.WithTimeout(ctx, ClaimWait-ClaimWindow+orDefault(window, ClaimWindow))
	defer cancel()
	op := s.Client.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                ControlTaskQueue,
		WorkflowIDReusePolicy:    p.reuse,
		WorkflowIDConflictPolicy: p.conflict,
		TypedSearchAttributes:    l.attrs,
		StaticSummary:            l.summary,
		StaticDetails:            l.details,
	}, workflow, in)
	handle, err := s.Client.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: op,
		UpdateOptions: client.UpdateWorkflowOptions{
			WorkflowID:   id,
			UpdateName:   ClaimUpdate,
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return fmt.Errorf("start workflow %s: %w: it runs already", id, ErrInstanceBusy)
	}
	if err != nil {
		return fmt.Errorf("start workflow %s: %w", id, err)
	}
	var res ClaimResult
	if err := handle.Get(ctx, &res); err != nil {
		return fmt.Errorf("claim of workflow %s: %w", id, err)
	}
	switch {
	case len(res.Quota) > 0:
		return fmt.Errorf("start workflow %s: %w", id, &catalog.QuotaExceededError{ProjectID: projectID, Over: res.Quota})
	case res.BackupRunning:
		return fmt.Errorf("start workflow %s: %w: %s", id, ErrBackupRunning, res.Refused)
	case res.Busy:
		return fmt.Errorf("start workflow %s: %w: %s", id, ErrInstanceBusy, res.Refused)
	case !res.Claimed:
		return fmt.Errorf("start workflow %s: the task was not claimed: %s", id, res.Refused)
	}
	return nil
}
