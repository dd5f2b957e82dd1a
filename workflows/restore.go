package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/coffer-dbaas/coffer/activities"
	"github.com/coffer-dbaas/coffer/guest"
)

// StepRestoreBackup is the step of CreateInstance that restores a backup.
const StepRestoreBackup = "restore backup"

// RestoreTimeout bounds one attempt of a restore (Trove's restore_usage_timeout is 1 h).
const RestoreTimeout = 6 * time.Hour

// restoreBackup is CreateInstance's step for an instance made from a backup, between the
// server going ACTIVE and Prepare: the guest gets Swift access (temporary URLs that read
// that backup's objects only) and the backup's location, key and checksum, and unpacks the
// verified backup before the engine ever starts. A corrupt backup fails at once
// (guest.ErrChecksum, not retried), so the create ends in ERROR with that fault, never
// ACTIVE with bad data.
func restoreBackup(ctx workflow.Context, in CreateInstanceInput, t *tracker) error {
	if in.Restore == nil {
		return nil
	}
	r := in.Restore
	guestStart := orDefault(in.Timeouts.GuestStart, DefaultGuestStartTimeout)
	return t.step(StepRestoreBackup, func() error {
		var access activities.BackupAccess
		if err := workflow.ExecuteActivity(callOptions(ctx), acts.GetBackupAccess, activities.BackupAccessInput{
			Object: r.Object, Container: r.Container, Restore: true, Lifetime: guestStart + 2*RestoreTimeout,
		}).Get(ctx, &access); err != nil {
			return err
		}
		g := guest.For(in.InstanceID).With(guest.Boot(guestStart, RestoreTimeout).ReportWithin(DefaultBackupHeartbeatTimeout))
		return g.Restore(ctx, guest.RestoreInput{
			BackupID: r.BackupID, Swift: access.Swift, Container: r.Container, Object: r.Object,
			MasterKey: access.MasterKey, WrappedKey: r.WrappedKey, SHA256: r.SHA256,
		})
	})
}
