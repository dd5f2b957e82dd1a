package workflows

import (
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/coffer-dbaas/coffer/activities"
	"github.com/coffer-dbaas/coffer/guest"
)

// StepRestoreBackup is the step of CreateInstance that restores a backup.
const StepRestoreBackup = "restore backup"

// RestoreTimeout bounds one attempt of a restore (Trove's restore_usage_timeout is 1 h).
const RestoreTimeout = 6 * time.Hour

// restoreBackup is CreateInstance's step for an instance made from a backup, between the
// server going ACTIVE and Prepare: the guest gets Swift access and the backup's location,
// key and checksum, and unpacks the verified backup before the engine ever starts. A
// corrupt backup fails at once (ErrorTypeChecksum, not retried), so the create ends in
// ERROR with that fault, never ACTIVE with bad data.
func restoreBackup(ctx workflow.Context, in CreateInstanceInput, t *tracker) error {
	if in.Restore == nil {
		return nil
	}
	r := in.Restore
	guestStart := orDefault(in.Timeouts.GuestStart, DefaultGuestStartTimeout)
	return t.step(StepRestoreBackup, func() error {
		var access activities.BackupAccess
		if err := workflow.ExecuteActivity(callOptions(ctx), acts.GetBackupAccess).Get(ctx, &access); err != nil {
			return err
		}
		gctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			TaskQueue:              GuestTaskQueue(in.InstanceID),
			ScheduleToStartTimeout: guestStart,
			StartToCloseTimeout:    RestoreTimeout,
			HeartbeatTimeout:       DefaultBackupHeartbeatTimeout,
			RetryPolicy: &temporal.RetryPolicy{
				InitialInterval:        5 * time.Second,
				BackoffCoefficient:     2,
				MaximumAttempts:        3,
				NonRetryableErrorTypes: []string{guest.ErrChecksum, guest.ErrInvalid},
			},
		})
		err := workflow.ExecuteActivity(gctx, guest.RestoreActivity, guest.RestoreInput{
			BackupID: r.BackupID, Swift: access.Swift, Container: r.Container, Object: r.Object,
			MasterKey: access.MasterKey, WrappedKey: r.WrappedKey, SHA256: r.SHA256,
		}).Get(ctx, nil)
		switch {
		case isTimeout(err, enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START):
			return because(err, "the guest agent did not start polling %s within %s", GuestTaskQueue(in.InstanceID), guestStart)
		case isTimeout(err, enumspb.TIMEOUT_TYPE_HEARTBEAT):
			return because(err, "the guest agent stopped reporting during the restore")
		}
		return err
	})
}
