package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/coffer-dbaas/coffer/activities"
)

// ScheduledBackup is the action of a backup schedule (a Temporal Schedule, ID
// backup-schedule/<instance-id>/<schedule-id>). Each run:
//
//  1. records a NEW backup of the instance, named for the schedule and the time; its ID is
//     the run's ID, so a retried run never makes two. An instance that is busy (another
//     task, another backup) is skipped this time: the run ends without error.
//  2. backs it up with the child workflow BackupInstance (ID backup/<backup-id>).
//  3. after a success, deletes the schedule's oldest COMPLETED backups beyond Keep, each
//     with the child workflow DeleteBackup.
//
// A failed backup fails the run (the schedule goes on); a failed delete is left for the
// next run, which finds the backup beyond the retention again.
func ScheduledBackup(ctx workflow.Context, in ScheduledBackupInput) error {
	log := workflow.GetLogger(ctx)
	if err := workflow.UpsertTypedSearchAttributes(ctx,
		InstanceIDAttr.ValueSet(in.InstanceID),
		ProjectIDAttr.ValueSet(in.ProjectID),
		OperationAttr.ValueSet("scheduled backup"),
	); err != nil {
		return fmt.Errorf("scheduled backup of instance %s: set search attributes: %w", in.InstanceID, err)
	}
	backupID := workflow.GetInfo(ctx).WorkflowExecution.RunID
	name := fmt.Sprintf("scheduled %s", workflow.Now(ctx).UTC().Format(time.RFC3339))
	err := workflow.ExecuteActivity(callOptions(ctx), acts.CreateBackupRecord, activities.CreateBackupRecordInput{
		BackupID: backupID, InstanceID: in.InstanceID, ProjectID: in.ProjectID, Name: name,
		Description: "made by backup schedule " + in.ScheduleID, ScheduleID: in.ScheduleID,
	}).Get(ctx, nil)
	var app *temporal.ApplicationError
	if errors.As(err, &app) && (app.Type() == activities.ErrorTypeInstanceBusy || app.Type() == activities.ErrorTypeBackupRunning) {
		log.Warn("instance busy; skipping this scheduled backup", "instance_id", in.InstanceID, "reason", app.Message())
		return nil
	}
	if err != nil {
		return fmt.Errorf("scheduled backup of instance %s: record backup: %w", in.InstanceID, err)
	}

	child := func(id, operation string) workflow.Context {
		return workflow.WithChildOptions(ctx, childOptions(id, againIfFailed, instanceLabels(in.InstanceID, "", in.ProjectID, operation, "(schedule "+in.ScheduleID+")")))
	}
	err = workflow.ExecuteChildWorkflow(child(BackupWorkflowID(backupID), "backup"), BackupInstance, BackupInstanceInput{
		BackupID: backupID, InstanceID: in.InstanceID, ProjectID: in.ProjectID,
	}).Get(ctx, nil)
	if err != nil {
		return fmt.Errorf("scheduled backup of instance %s: %w", in.InstanceID, err)
	}

	var old []string
	err = workflow.ExecuteActivity(callOptions(ctx), acts.BackupsBeyondRetention,
		activities.PruneInput{ScheduleID: in.ScheduleID, Keep: in.Keep}).Get(ctx, &old)
	if err != nil {
		return fmt.Errorf("scheduled backup of instance %s: find backups beyond retention: %w", in.InstanceID, err)
	}
	var errs []error
	for _, id := range old {
		err := workflow.ExecuteChildWorkflow(child(DeleteBackupWorkflowID(id), "delete backup"), DeleteBackup,
			DeleteBackupInput{BackupID: id, ProjectID: in.ProjectID}).Get(ctx, nil)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("scheduled backup of instance %s: delete backups beyond retention: %w", in.InstanceID, err)
	}
	return nil
}
