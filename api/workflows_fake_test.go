package api_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/activities"
	"github.com/coffer-dbaas/coffer/api"
	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/workflows"
)

// fakeWorkflows records the workflows the API starts and the signals it sends, answers
// progress queries from what a test put there, and fails starts when told to. It is also
// the instances' guest agents (guest_fake_test.go). Temporal itself would be out of
// proportion for the API's tests; the e2e tests run the real one.
type fakeWorkflows struct {
	mu      sync.Mutex
	creates []workflows.CreateInstanceInput
	deletes []workflows.DeleteInstanceInput
	fail    error
	// catalog is where the operations' workflows claim their instance's task, as the real
	// ones do as their first step (workflows/claim.go).
	catalog *catalog.Store
	// operations are the day-2 operations started and steered.
	operations *operationsLog
	// replications are the replication workflows started, "<operation> <instance>".
	replications []string
	// backups, backupDeletes and schedules are the backup workflows started and the
	// Temporal schedules kept.
	backups       []workflows.BackupInstanceInput
	backupDeletes []workflows.DeleteBackupInput
	schedules     []coffer.BackupSchedule
	// guest is the instances' engines.
	guest fakeGuest
	// applies are the ApplyConfiguration workflows started.
	applies []workflows.ApplyConfigurationInput
}

var (
	_ api.Workflows = (*fakeWorkflows)(nil)
	_ api.Guest     = (*fakeWorkflows)(nil)
)

var errTemporalDown = errors.New("temporal: connection refused")

// operationsLog is what the actions started and signalled, and the progress of parked
// steps to answer the progress query with.
type operationsLog struct {
	restarts      []workflows.RestartInstanceInput
	resizeFlavors []workflows.ResizeFlavorInput
	resizeVolumes []workflows.ResizeVolumeInput
	stops         []workflows.StopInstanceInput
	accesses      []workflows.UpdateAccessInput
	rebuilds      []workflows.RebuildInstanceInput
	signals       []string
	progress      map[string]workflows.Progress
	// ended says how workflows ended, by ID; Ended answers that the others run.
	ended map[string]*workflows.RunEnd
}

func newFakeWorkflows() *fakeWorkflows {
	return &fakeWorkflows{operations: &operationsLog{progress: map[string]workflows.Progress{}, ended: map[string]*workflows.RunEnd{}}}
}

func (w *fakeWorkflows) ops() *operationsLog { return w.operations }

func (w *fakeWorkflows) StartApplyConfiguration(_ context.Context, in workflows.ApplyConfigurationInput, _ string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fail != nil {
		return w.fail
	}
	w.applies = append(w.applies, in)
	return nil
}

func (w *fakeWorkflows) applied() []workflows.ApplyConfigurationInput {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.applies)
}

func (w *fakeWorkflows) StartCreate(_ context.Context, in workflows.CreateInstanceInput) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fail != nil {
		return w.fail
	}
	if err := w.record(in.Record); err != nil {
		return err
	}
	w.creates = append(w.creates, in)
	return nil
}

func (w *fakeWorkflows) StartDelete(_ context.Context, in workflows.DeleteInstanceInput) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fail != nil {
		return w.fail
	}
	if err := w.claim(in.InstanceID, coffer.TaskDeleting); err != nil {
		return err
	}
	w.deletes = append(w.deletes, in)
	return nil
}

// claim sets the instance's task as a workflow's claim does: workflows.ErrInstanceBusy when
// another task holds it.
func (w *fakeWorkflows) claim(id string, task coffer.Task) error {
	if _, err := w.catalog.StartTask(context.Background(), "", id, task, ""); err != nil {
		if errors.Is(err, catalog.ErrTaskRunning) {
			return fmt.Errorf("claim %s: %w", id, workflows.ErrInstanceBusy)
		}
		return err
	}
	return nil
}

// claimResize claims a resize as ClaimTask does: within the project's quotas when quota
// is set, else as claim.
func (w *fakeWorkflows) claimResize(id string, quota *activities.ResizeQuota) error {
	if quota == nil {
		return w.claim(id, coffer.TaskResizing)
	}
	_, err := w.catalog.StartResizeWithinQuota(context.Background(), "", id, quota.RAMMB, quota.VolumeSize, quota.Quotas, "")
	if errors.Is(err, catalog.ErrTaskRunning) {
		return fmt.Errorf("claim %s: %w", id, workflows.ErrInstanceBusy)
	}
	return err
}

// record makes a new instance's record as CreateInstance's claim does (RecordInstance).
func (w *fakeWorkflows) record(rec *activities.RecordInstanceInput) error {
	if rec == nil {
		return nil
	}
	ctx, inst := context.Background(), rec.Instance
	var err error
	if rec.Quotas != nil {
		err = w.catalog.CreateInstanceWithinQuota(ctx, &inst, rec.RAMMB, *rec.Quotas)
	} else {
		err = w.catalog.CreateInstance(ctx, &inst)
	}
	if err == nil && rec.ReplicaOf != "" {
		err = w.catalog.SetReplicaOf(ctx, inst.ID, rec.ReplicaOf)
	}
	return err
}

func (w *fakeWorkflows) setFail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.fail = err
}

func (w *fakeWorkflows) started() ([]workflows.CreateInstanceInput, []workflows.DeleteInstanceInput) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.creates), slices.Clone(w.deletes)
}

func (w *fakeWorkflows) StartUpdateAccess(_ context.Context, in workflows.UpdateAccessInput) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fail != nil {
		return w.fail
	}
	if err := w.claim(in.InstanceID, coffer.TaskUpdating); err != nil {
		return err
	}
	w.operations.accesses = append(w.operations.accesses, in)
	return nil
}

func (w *fakeWorkflows) StartRebuild(_ context.Context, in workflows.RebuildInstanceInput) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fail != nil {
		return w.fail
	}
	task := coffer.TaskRebuilding
	if in.Upgrade {
		task = coffer.TaskUpgrading
	}
	if err := w.claim(in.InstanceID, task); err != nil {
		return err
	}
	w.operations.rebuilds = append(w.operations.rebuilds, in)
	return nil
}

func (w *fakeWorkflows) StartRestart(_ context.Context, in workflows.RestartInstanceInput) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fail != nil {
		return w.fail
	}
	if err := w.claim(in.InstanceID, coffer.TaskRebooting); err != nil {
		return err
	}
	w.operations.restarts = append(w.operations.restarts, in)
	return nil
}

func (w *fakeWorkflows) StartResizeFlavor(_ context.Context, in workflows.ResizeFlavorInput) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.claimResize(in.InstanceID, in.Quota); err != nil {
		return err
	}
	w.operations.resizeFlavors = append(w.operations.resizeFlavors, in)
	return nil
}

func (w *fakeWorkflows) StartResizeVolume(_ context.Context, in workflows.ResizeVolumeInput) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.claimResize(in.InstanceID, in.Quota); err != nil {
		return err
	}
	w.operations.resizeVolumes = append(w.operations.resizeVolumes, in)
	return nil
}

func (w *fakeWorkflows) StartStop(_ context.Context, in workflows.StopInstanceInput) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.operations.stops = append(w.operations.stops, in)
	return nil
}

func (w *fakeWorkflows) Progress(_ context.Context, workflowID string) (workflows.Progress, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	p, ok := w.operations.progress[workflowID]
	if !ok {
		return p, errors.New("workflow not found")
	}
	return p, nil
}

// Answer answers as a workflow's update validator does: refused unless the progress a
// test set shows a parked step.
func (w *fakeWorkflows) Answer(_ context.Context, workflowID, answer string) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.operations.ended[workflowID] != nil {
		return "", workflows.ErrRunEnded
	}
	if p := w.operations.progress[workflowID]; p.Parked == nil {
		return "", workflows.ErrNotParked
	}
	w.operations.signals = append(w.operations.signals, workflowID+" "+answer)
	return answer, nil
}

// Ended answers from what a test set in ended; a workflow it does not name runs.
func (w *fakeWorkflows) Ended(_ context.Context, workflowID string) (*workflows.RunEnd, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.operations.ended[workflowID], nil
}

func (w *fakeWorkflows) StartReplication(_ context.Context, operation string, in workflows.ReplicationInput) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	// The group's claim, as the workflow makes it as its first step.
	if err := w.catalog.StartTasks(context.Background(), "", workflows.ReplicationWorkflowID(operation, in.InstanceID), in.Tasks); err != nil {
		if errors.Is(err, catalog.ErrTaskRunning) {
			return fmt.Errorf("claim %s: %w", in.InstanceID, workflows.ErrInstanceBusy)
		}
		return err
	}
	w.replications = append(w.replications, operation+" "+in.InstanceID)
	return nil
}

func (w *fakeWorkflows) StartBackup(_ context.Context, in workflows.BackupInstanceInput) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fail != nil {
		return w.fail
	}
	// The backup's record, as the workflow makes it as its first step (CreateBackupRecord).
	if rec := in.Record; rec != nil {
		var quotas catalog.QuotaLimits
		if rec.Quotas != nil {
			quotas = *rec.Quotas
		}
		err := w.catalog.CreateBackupWithinQuota(context.Background(), &coffer.Backup{
			ID: rec.BackupID, ProjectID: rec.ProjectID, InstanceID: rec.InstanceID, Name: rec.Name, Description: rec.Description,
		}, quotas)
		switch {
		case errors.Is(err, catalog.ErrBackupRunning):
			return fmt.Errorf("record backup %s: %w", rec.BackupID, workflows.ErrBackupRunning)
		case errors.Is(err, catalog.ErrTaskRunning):
			return fmt.Errorf("record backup %s: %w", rec.BackupID, workflows.ErrInstanceBusy)
		case err != nil:
			return err
		}
	}
	w.backups = append(w.backups, in)
	return nil
}

func (w *fakeWorkflows) StartBackupDelete(_ context.Context, in workflows.DeleteBackupInput) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.backupDeletes = append(w.backupDeletes, in)
	return nil
}

func (w *fakeWorkflows) CreateBackupSchedule(_ context.Context, sc coffer.BackupSchedule) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.schedules = append(w.schedules, sc)
	return nil
}

func (w *fakeWorkflows) DeleteBackupSchedule(_ context.Context, _, id string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.schedules = slices.DeleteFunc(w.schedules, func(sc coffer.BackupSchedule) bool { return sc.ID == id })
	return nil
}
