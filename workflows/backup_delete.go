package workflows

import (
	"errors"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/activities"
)

// Step names of DeleteBackup.
const (
	StepReadBackup          = "read backup"
	StepDeleteBackupObjects = "delete backup objects"
	StepDeleteBackupRecord  = "delete backup record"
)

// DeleteBackup deletes a backup. Its steps:
//
//  1. read backup: its location; a backup the catalog no longer has is deleted already.
//     A running backup is refused (the API refuses it first).
//  2. delete backup objects: every segment and the manifest, from Swift.
//  3. delete backup record.
//
// It runs on operation.run, holding no task. Swift calls are retried a few times; a delete
// that still fails marks the backup DELETE_FAILED with the reason, and may be asked for
// again.
func DeleteBackup(ctx workflow.Context, in DeleteBackupInput) error {
	op := operation{
		// It holds no task: a backup's delete leaves its instance (which may be gone) alone.
		name: "delete backup", projectID: in.ProjectID, subject: in.BackupID,
		fault: func(ctx workflow.Context, err error, _ []string) error {
			var app *temporal.ApplicationError
			if errors.As(err, &app) && (app.Type() == activities.ErrorTypeNotInCatalog || app.Type() == activities.ErrorTypeCloudNotFound) {
				return nil
			}
			return workflow.ExecuteActivity(callOptions(ctx), acts.FailBackupRecord,
				activities.FailBackupInput{BackupID: in.BackupID, Reason: faultMessage("delete backup", err), Deleting: true}).Get(ctx, nil)
		},
	}
	return op.run(ctx, func(t *tracker, _ *parking, _ *undo) error {
		return deleteBackup(ctx, in, t)
	})
}

func deleteBackup(ctx workflow.Context, in DeleteBackupInput, t *tracker) error {
	call := callOptions(ctx)
	var b *coffer.Backup
	err := t.step(StepReadBackup, func() error {
		err := workflow.ExecuteActivity(call, acts.GetBackup, in.BackupID).Get(ctx, &b)
		var app *temporal.ApplicationError
		if errors.As(err, &app) && app.Type() == activities.ErrorTypeNotInCatalog {
			b = nil
			return nil
		}
		if err == nil && b.Status.Running() {
			return temporal.NewNonRetryableApplicationError("backup "+in.BackupID+" is still running", activities.ErrorTypeConflict, nil)
		}
		return err
	})
	if err != nil || b == nil {
		return err
	}
	err = t.step(StepDeleteBackupObjects, func() error {
		return workflow.ExecuteActivity(call, acts.DeleteBackupObjects,
			activities.DeleteBackupObjectsInput{Container: b.Container, Object: b.Object}).Get(ctx, nil)
	})
	if err != nil {
		return err
	}
	return t.step(StepDeleteBackupRecord, func() error {
		return workflow.ExecuteActivity(call, acts.DeleteBackupRecord, in.BackupID).Get(ctx, nil)
	})
}
