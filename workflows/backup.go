package workflows

import (
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/coffer-dbaas/coffer/activities"
	"github.com/coffer-dbaas/coffer/guest"
)

// Step names of BackupInstance.
const (
	StepStartBackup    = "start backup"
	StepStreamBackup   = "stream backup to swift"
	StepCompleteBackup = "complete backup"
	// stepDeletePartialBackup is the compensation of a backup that failed.
	stepDeletePartialBackup = "delete partial backup"
)

// Bounds of a backup.
const (
	// DefaultBackupHeartbeatTimeout: a guest silent this long lost its attempt (it heartbeats
	// every 5 s, even while Swift is slow).
	DefaultBackupHeartbeatTimeout = 30 * time.Second
	// DefaultBackupGuestStartTimeout: each attempt must be picked up by the guest this soon,
	// so a dead guest fails the backup instead of holding it.
	DefaultBackupGuestStartTimeout = time.Minute
	// BackupTimeout bounds one attempt of the stream.
	BackupTimeout = 24 * time.Hour
	// backupProgressEvery is how often the backup record's bytes done are updated.
	backupProgressEvery = 15 * time.Second
)

// BackupInstance makes a backup. The instance shows BACKUP meanwhile (the catalog derives
// it from the running backup) and takes no other task. Its steps:
//
//  0. claim: the backup's record (NEW) when in.Record is set (the API's backups; a
//     schedule records its backups before): another backup or a task that holds the
//     instance ends the workflow at once, untouched, and the API learns it through the
//     claim update (claim.go).
//  1. start backup: the guest's Swift access (temporary URLs for PUT and DELETE over the
//     backup's objects only, the container, the backup key), and the record goes BUILDING
//     with where the backup goes: backups/<id> in the backup container.
//  2. stream backup to swift: Backup on the guest's queue. The guest streams the engine's
//     physical backup compressed and encrypted into Swift, heartbeating every 5 s and
//     signalling its bytes, which the progress query and the record show. A guest that
//     goes silent for HeartbeatTimeout (killed) loses the attempt; one more attempt is
//     made, which the guest must pick up within GuestStart. Swift failures are retried per
//     segment inside the guest.
//  3. complete backup: the record goes COMPLETED with size, checksum and location.
//
// It runs on operation.run. On any failure the backup's objects are deleted (a guest killed
// mid-stream leaves segments behind), and the record goes FAILED with the reason. The
// instance itself is not touched: a failed backup is no fault of the instance.
func BackupInstance(ctx workflow.Context, in BackupInstanceInput) error {
	bytes := &BackupProgress{}
	op := operation{
		name: "backup", instanceID: in.InstanceID, projectID: in.ProjectID,
		subject:  in.BackupID + " of instance " + in.InstanceID,
		timeouts: Timeouts{Claim: in.Claim},
		progress: func(p Progress) any {
			out := *bytes
			out.Progress = p
			return out
		},
		// A failed backup is no fault of the instance: its record goes FAILED, with what
		// the compensation could not delete.
		fault: func(ctx workflow.Context, err error, left []string) error {
			reasonText := faultMessage("backup", err)
			for _, l := range left {
				reasonText += "; its partial objects could not be deleted: " + strings.TrimPrefix(l, stepDeletePartialBackup+" failed: ")
			}
			return workflow.ExecuteActivity(callOptions(ctx), acts.FailBackupRecord,
				activities.FailBackupInput{BackupID: in.BackupID, Reason: reasonText}).Get(ctx, nil)
		},
	}
	if in.Record != nil {
		op.claim = func(ctx workflow.Context) (bool, error) { return claimBackup(ctx, *in.Record, in.Claim) }
	}
	return op.run(ctx, func(t *tracker, _ *parking, u *undo) error {
		return backupInstance(ctx, in, t, bytes, u)
	})
}

func backupInstance(ctx workflow.Context, in BackupInstanceInput, t *tracker, bytes *BackupProgress, u *undo) error {
	call := callOptions(ctx)
	var (
		access   activities.BackupAccess
		location activities.DeleteBackupObjectsInput
	)
	err := t.step(StepStartBackup, func() error {
		// The access outlives both attempts of the guest's backup.
		object := activities.BackupObject(in.BackupID)
		if err := workflow.ExecuteActivity(call, acts.GetBackupAccess, activities.BackupAccessInput{
			Object: object, Lifetime: 2*BackupTimeout + orDefault(in.GuestStart, DefaultBackupGuestStartTimeout),
		}).Get(ctx, &access); err != nil {
			return err
		}
		location.Container, location.Object = access.Container, object
		// A guest killed mid-stream leaves segments behind.
		u.add(stepDeletePartialBackup, func(ctx workflow.Context) error {
			return workflow.ExecuteActivity(callOptions(ctx), acts.DeleteBackupObjects, location).Get(ctx, nil)
		})
		return workflow.ExecuteActivity(call, acts.StartBackupRecord, activities.StartBackupInput{
			BackupID: in.BackupID, Container: location.Container, Object: location.Object,
		}).Get(ctx, nil)
	})
	if err != nil {
		return err
	}

	var result guest.BackupResult
	heartbeat := orDefault(in.HeartbeatTimeout, DefaultBackupHeartbeatTimeout)
	guestStart := orDefault(in.GuestStart, DefaultBackupGuestStartTimeout)
	err = t.step(StepStreamBackup, func() error {
		g := guest.For(in.InstanceID).With(guest.LongJob(BackupTimeout, heartbeat).PickUpWithin(guestStart))
		fut := async(ctx, func(ctx workflow.Context) (guest.BackupResult, error) {
			return g.Backup(ctx, guest.BackupInput{
				BackupID: in.BackupID, Swift: access.Swift, Container: location.Container, Object: location.Object,
				SegmentSize: access.SegmentSize, MasterKey: access.MasterKey,
			})
		})
		return followBackup(ctx, in.BackupID, fut, bytes, &result)
	})
	if err != nil {
		return err
	}
	return t.step(StepCompleteBackup, func() error {
		return workflow.ExecuteActivity(call, acts.CompleteBackupRecord, activities.CompleteBackupInput{
			BackupID: in.BackupID, Result: result,
		}).Get(ctx, nil)
	})
}

// followBackup waits for the guest's backup, taking its progress signals into p and into
// the record now and then (a failure to record progress is only logged).
func followBackup(ctx workflow.Context, backupID string, fut workflow.Future, p *BackupProgress, result *guest.BackupResult) error {
	signals := workflow.GetSignalChannel(ctx, guest.BackupProgressSignal)
	var (
		done         bool
		err          error
		lastRecorded time.Time
		recorded     int64
	)
	for !done {
		sel := workflow.NewSelector(ctx)
		sel.AddFuture(fut, func(f workflow.Future) {
			err = f.Get(ctx, result)
			done = true
		})
		sel.AddReceive(signals, func(c workflow.ReceiveChannel, _ bool) {
			var g guest.BackupProgress
			c.Receive(ctx, &g)
			p.BytesDone, p.BytesStored = g.Raw, g.Stored
		})
		sel.Select(ctx)
		if done || p.BytesDone == recorded || workflow.Now(ctx).Sub(lastRecorded) < backupProgressEvery {
			continue
		}
		lastRecorded, recorded = workflow.Now(ctx), p.BytesDone
		perr := workflow.ExecuteActivity(callOptions(ctx), acts.RecordBackupProgress,
			activities.BackupProgressInput{BackupID: backupID, BytesDone: p.BytesDone}).Get(ctx, nil)
		if perr != nil {
			workflow.GetLogger(ctx).Warn("could not record the backup's progress", "backup_id", backupID, "error", perr)
		}
	}
	if err == nil {
		p.BytesDone, p.BytesStored = result.RawSize, result.StoredSize
	}
	return err
}
