package workflows

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/activities"
	"github.com/coffer-dbaas/coffer/guest"
)

const backupID = "b0000000-0000-4000-8000-000000000001"

var backupAccess = activities.BackupAccess{
	Swift:     guest.SwiftAccess{URL: "http://swift/v1/AUTH_service", Prefix: "backups/" + backupID, Expires: 1, Put: "put-signature", Delete: "delete-signature"},
	Container: "coffer-backups", SegmentSize: 1 << 20, MasterKey: make([]byte, 32),
}

// backupHarness is the harness with the guest's backup activities and the backup's catalog
// activities mocked, remembering how the record ended.
type backupHarness struct {
	*harness
	completed []activities.CompleteBackupInput
	failed    []activities.FailBackupInput
	deleted   []activities.DeleteBackupObjectsInput
}

func newBackupHarness(t *testing.T) *backupHarness {
	h := &backupHarness{harness: newHarness(t)}
	h.env.OnActivity(a.GetBackupAccess, mock.Anything, mock.Anything).Return(backupAccess, nil)
	h.env.OnActivity(a.StartBackupRecord, mock.Anything, activities.StartBackupInput{
		BackupID: backupID, Container: "coffer-backups", Object: "backups/" + backupID,
	}).Return(nil)
	h.env.OnActivity(a.RecordBackupProgress, mock.Anything, mock.Anything).Return(nil).Maybe()
	h.env.OnActivity(a.CompleteBackupRecord, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CompleteBackupInput) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.completed = append(h.completed, in)
			return nil
		}).Maybe()
	h.env.OnActivity(a.FailBackupRecord, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.FailBackupInput) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.failed = append(h.failed, in)
			return nil
		}).Maybe()
	h.env.OnActivity(a.DeleteBackupObjects, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.DeleteBackupObjectsInput) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.deleted = append(h.deleted, in)
			return nil
		}).Maybe()
	return h
}

func backupInput() BackupInstanceInput {
	return BackupInstanceInput{BackupID: backupID, InstanceID: instanceID, ProjectID: "demo-project"}
}

func TestBackupStreamsOnTheGuestAndRecordsTheResult(t *testing.T) {
	h := newBackupHarness(t)
	result := guest.BackupResult{Container: "coffer-backups", Object: "backups/" + backupID,
		RawSize: 100 << 20, StoredSize: 20 << 20, SHA256: strings.Repeat("ab", 32), WrappedKey: "wrapped", Segments: 1}
	h.env.OnActivity(guest.BackupActivity, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in guest.BackupInput) (guest.BackupResult, error) {
			if in.Swift != backupAccess.Swift || in.Object != "backups/"+backupID || len(in.MasterKey) != 32 {
				return guest.BackupResult{}, temporal.NewNonRetryableApplicationError("wrong input", "Test", nil)
			}
			return result, nil
		}).After(time.Minute)
	var mid BackupProgress
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(guest.BackupProgressSignal, guest.BackupProgress{Raw: 42 << 20, Stored: 9 << 20})
	}, 10*time.Second)
	h.env.RegisterDelayedCallback(func() {
		v, err := h.env.QueryWorkflow(ProgressQuery)
		if err != nil {
			t.Errorf("query progress: %v", err)
			return
		}
		_ = v.Get(&mid)
	}, 30*time.Second)

	h.env.ExecuteWorkflow(BackupInstance, backupInput())
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("backup: %v", err)
	}
	if mid.Step != StepStreamBackup || mid.BytesDone != 42<<20 || mid.BytesStored != 9<<20 {
		t.Errorf("progress while streaming: got %+v, want step %q with 42 MiB done, 9 MiB stored", mid, StepStreamBackup)
	}
	if len(h.completed) != 1 || h.completed[0].Result != result {
		t.Errorf("completed: got %+v, want the guest's result once", h.completed)
	}
	if len(h.failed) != 0 || len(h.deleted) != 0 {
		t.Errorf("a good backup failed %+v / deleted %+v", h.failed, h.deleted)
	}
	if h.queues[guest.BackupActivity] != guest.TaskQueue(instanceID) {
		t.Errorf("backup ran on %q, want the guest's queue", h.queues[guest.BackupActivity])
	}
	h.checkSearchAttributes(instanceID, "demo-project", "backup")
}

func TestBackupWhoseGuestDiesIsRetriedThenFailsAndLeavesNoSegment(t *testing.T) {
	h := newBackupHarness(t)
	h.env.OnActivity(guest.BackupActivity, mock.Anything, mock.Anything).Return(
		guest.BackupResult{}, temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_HEARTBEAT, nil))

	h.env.ExecuteWorkflow(BackupInstance, backupInput())
	if err := h.env.GetWorkflowError(); err == nil {
		t.Fatal("backup of a dead guest succeeded")
	}
	if n := h.count(guest.BackupActivity); n != 2 {
		t.Errorf("guest backup attempts: got %d, want 2 (one retry)", n)
	}
	want := activities.DeleteBackupObjectsInput{Container: "coffer-backups", Object: "backups/" + backupID}
	if len(h.deleted) != 1 || h.deleted[0] != want {
		t.Errorf("deleted: got %+v, want %+v once", h.deleted, want)
	}
	if len(h.failed) != 1 || !strings.Contains(h.failed[0].Reason, "stopped reporting") {
		t.Fatalf("failure recorded: got %+v, want one naming the silent guest", h.failed)
	}
	if len(h.completed) != 0 {
		t.Errorf("a failed backup was completed: %+v", h.completed)
	}
}

func TestBackupWhenSwiftFailsEndsFailedWithNothingLeft(t *testing.T) {
	h := newBackupHarness(t)
	h.env.OnActivity(guest.BackupActivity, mock.Anything, mock.Anything).Return(
		guest.BackupResult{}, temporal.NewApplicationError("backup: put segment 3: swift answered 500", "CloudError"))

	h.env.ExecuteWorkflow(BackupInstance, backupInput())
	if err := h.env.GetWorkflowError(); err == nil {
		t.Fatal("backup with Swift failing succeeded")
	}
	if len(h.deleted) != 1 {
		t.Errorf("deleted: got %+v, want the backup's objects deleted once", h.deleted)
	}
	if len(h.failed) != 1 || !strings.Contains(h.failed[0].Reason, "swift answered 500") {
		t.Errorf("failure recorded: got %+v, want Swift's answer in the reason", h.failed)
	}
}

func TestDeleteBackupRemovesObjectsThenRecord(t *testing.T) {
	h := newBackupHarness(t)
	h.env.OnActivity(a.GetBackup, mock.Anything, backupID).Return(&coffer.Backup{
		ID: backupID, Status: coffer.BackupCompleted, Container: "coffer-backups", Object: "backups/" + backupID}, nil)
	h.env.OnActivity(a.DeleteBackupRecord, mock.Anything, backupID).Return(nil)

	h.env.ExecuteWorkflow(DeleteBackup, DeleteBackupInput{BackupID: backupID, ProjectID: "demo-project"})
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("delete backup: %v", err)
	}
	h.checkCalls([]string{"GetBackup", "DeleteBackupObjects", "DeleteBackupRecord"})
}

func TestScheduledBackupDeletesTheOldestBeyondTheRetention(t *testing.T) {
	h := newBackupHarness(t)
	in := ScheduledBackupInput{ScheduleID: "sched-1", InstanceID: instanceID, ProjectID: "demo-project", Keep: 2}
	h.env.OnActivity(a.CreateBackupRecord, mock.Anything, mock.Anything).Return(nil)
	h.env.OnWorkflow(BackupInstance, mock.Anything, mock.Anything).Return(nil)
	h.env.OnActivity(a.BackupsBeyondRetention, mock.Anything, activities.PruneInput{ScheduleID: "sched-1", Keep: 2}).
		Return([]string{"old-1", "old-2"}, nil)
	var deleted []string
	h.env.OnWorkflow(DeleteBackup, mock.Anything, mock.Anything).Return(
		func(_ workflow.Context, in DeleteBackupInput) error {
			deleted = append(deleted, in.BackupID)
			return nil
		})

	h.env.ExecuteWorkflow(ScheduledBackup, in)
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("scheduled backup: %v", err)
	}
	if strings.Join(deleted, ",") != "old-1,old-2" {
		t.Errorf("deleted: got %q, want old-1,old-2", deleted)
	}
}

func TestScheduledBackupSkipsABusyInstance(t *testing.T) {
	h := newBackupHarness(t)
	h.env.OnActivity(a.CreateBackupRecord, mock.Anything, mock.Anything).Return(
		temporal.NewNonRetryableApplicationError("busy", activities.ErrorTypeInstanceBusy, nil))

	h.env.ExecuteWorkflow(ScheduledBackup, ScheduledBackupInput{ScheduleID: "s", InstanceID: instanceID, ProjectID: "p", Keep: 1})
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("scheduled backup of a busy instance: got %v, want a skipped run", err)
	}
	h.checkCalls([]string{"CreateBackupRecord"})
}

func TestCreateFromACorruptBackupEndsInErrorWithTheChecksumFault(t *testing.T) {
	h := newBackupHarness(t)
	h.mockCatalog(h.resources)
	h.mockDeletes()
	in := createInput()
	in.Restore = &RestoreSource{BackupID: backupID, Container: "coffer-backups", Object: "backups/" + backupID,
		WrappedKey: "wrapped", SHA256: "abc"}
	h.env.OnActivity(guest.RestoreActivity, mock.Anything, mock.Anything).Return(
		temporal.NewNonRetryableApplicationError("restore backup "+backupID+": the backup is corrupt: backup checksum mismatch",
			guest.ErrChecksum, nil))
	h.mockCreate()

	h.env.ExecuteWorkflow(CreateInstance, in)
	if err := h.env.GetWorkflowError(); err == nil {
		t.Fatal("create from a corrupt backup succeeded")
	}
	if n := h.count(guest.RestoreActivity); n != 1 {
		t.Errorf("restore attempts: got %d, want 1 (a checksum error is not retried)", n)
	}
	if n := h.count(guest.PrepareActivity); n != 0 {
		t.Errorf("Prepare ran %d times after a failed restore, want never", n)
	}
	f := h.onlyFault()
	if !strings.HasPrefix(f.Message, StepRestoreBackup+" failed") || !strings.Contains(f.Message, "checksum") {
		t.Errorf("fault: got %q, want the restore step's checksum failure", f.Message)
	}
}

func TestBackupRecordsItselfFirstAndABusyInstanceIsLeftAlone(t *testing.T) {
	rec := &activities.CreateBackupRecordInput{BackupID: backupID, InstanceID: instanceID, ProjectID: "demo-project", Name: "nightly"}

	h := newBackupHarness(t)
	var recorded []activities.CreateBackupRecordInput
	h.env.OnActivity(a.CreateBackupRecord, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CreateBackupRecordInput) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			recorded = append(recorded, in)
			return nil
		})
	h.env.OnActivity(guest.BackupActivity, mock.Anything, mock.Anything).Return(guest.BackupResult{Container: "coffer-backups", Object: "backups/" + backupID}, nil)
	in := backupInput()
	in.Record = rec
	h.env.ExecuteWorkflow(BackupInstance, in)
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("backup: %v", err)
	}
	if len(recorded) != 1 || recorded[0].BackupID != backupID || recorded[0].NotAfter.IsZero() {
		t.Errorf("recorded: got %+v, want the backup once, within the claim's window", recorded)
	}
	if len(h.completed) != 1 {
		t.Errorf("completed: got %+v, want once", h.completed)
	}

	busy := newBackupHarness(t)
	busy.env.OnActivity(a.CreateBackupRecord, mock.Anything, mock.Anything).Return(
		temporal.NewNonRetryableApplicationError("instance is busy", activities.ErrorTypeBackupRunning, nil))
	busy.env.ExecuteWorkflow(BackupInstance, in)
	if err := busy.env.GetWorkflowError(); err != nil {
		t.Fatalf("backup of a busy instance: %v", err)
	}
	if len(busy.completed) != 0 || len(busy.failed) != 0 || len(busy.deleted) != 0 {
		t.Errorf("a backup that found the instance busy touched a record: completed %+v, failed %+v, deleted %+v",
			busy.completed, busy.failed, busy.deleted)
	}
}
