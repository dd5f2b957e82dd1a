package workflows

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/coffer-dbaas/coffer"
)

// Starter starts every workflow Coffer starts from outside a workflow (the API's
// operations, backups, guest calls) and keeps the backup schedules. It is the one place
// that decides, per operation, the workflow ID, what a second start of the same ID does,
// the task queue and the search attributes; callers name the operation and its input.
//
// A start returns once Temporal has recorded the workflow; it does not wait for it to run.
type Starter struct {
	Client client.Client
}

// startPolicy is what a start does when a workflow of the same ID ran or runs.
type startPolicy struct {
	reuse    enumspb.WorkflowIdReusePolicy
	conflict enumspb.WorkflowIdConflictPolicy
}

var (
	// onceJoined: the ID runs once ever (an instance is created once, a backup taken
	// once); a repeated start joins the one that runs.
	onceJoined = startPolicy{enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE, enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING}
	// againJoined: a finished run (one that failed) may run again, a running one is joined
	// (deletes, replication operations).
	againJoined = startPolicy{enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE, enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING}
	// againRefused: a finished run may run again (a second resize), a running one is never
	// joined: the catalog's task already admits one operation at a time, so a conflict is a
	// bug to report, not a retry to absorb.
	againRefused = startPolicy{enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE, enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL}
	// againIfFailed: only a run that failed may run again (a scheduled backup's children:
	// a backup that completed is never taken twice).
	againIfFailed = startPolicy{enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY, enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL}
)

// start starts workflow (a workflow function of this package) as id on ControlTaskQueue.
func (s Starter) start(ctx context.Context, id string, p startPolicy, l labels, workflow, in any) (client.WorkflowRun, error) {
	opts := client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                ControlTaskQueue,
		WorkflowIDReusePolicy:    p.reuse,
		WorkflowIDConflictPolicy: p.conflict,
		TypedSearchAttributes:    l.attrs,
		StaticSummary:            l.summary,
		StaticDetails:            l.details,
	}
	run, err := s.Client.ExecuteWorkflow(ctx, opts, workflow, in)
	if err != nil {
		return nil, fmt.Errorf("start workflow %s: %w", id, err)
	}
	return run, nil
}

// childOptions are the options of a child workflow that outlives its parent (a replica's
// resize, the health monitor, a fence, a scheduled backup): its ID, what a second start of the ID does, and
// its search attributes, as start decides them for the workflows the API starts.
func childOptions(id string, p startPolicy, l labels) workflow.ChildWorkflowOptions {
	return workflow.ChildWorkflowOptions{
		WorkflowID:            id,
		TaskQueue:             ControlTaskQueue,
		WorkflowIDReusePolicy: p.reuse,
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
		TypedSearchAttributes: l.attrs,
		StaticSummary:         l.summary,
		StaticDetails:         l.details,
	}
}

// searchAttributes are the attributes every workflow of an instance carries from its start.
func searchAttributes(instanceID, projectID, operation string) temporal.SearchAttributes {
	return temporal.NewSearchAttributes(
		InstanceIDAttr.ValueSet(instanceID),
		ProjectIDAttr.ValueSet(projectID),
		OperationAttr.ValueSet(operation),
	)
}

// StartCreate starts CreateInstance (also a restore or a replica create), once per
// instance. With in.Record set, the workflow records the instance as its first step and
// StartCreate waits for that claim: a *catalog.QuotaExceededError when the project is over
// a quota, another error when the outcome is unknown (see startClaimed).
func (s Starter) StartCreate(ctx context.Context, in CreateInstanceInput) error {
	change := fmt.Sprintf("(%s %s, flavor %s, %d GiB)", in.Datastore, in.Version, in.FlavorID, in.VolumeSize)
	switch {
	case in.ReplicaOf != "":
		change += ", replica of " + in.ReplicaOf
	case in.Restore != nil:
		change += ", restored from backup " + in.Restore.BackupID
	}
	attrs := instanceLabels(in.InstanceID, in.Name, in.ProjectID, "create", change)
	if in.Record == nil {
		_, err := s.start(ctx, CreateWorkflowID(in.InstanceID), onceJoined, attrs, CreateInstance, in)
		return err
	}
	return s.startClaimed(ctx, CreateWorkflowID(in.InstanceID), in.ProjectID, onceJoined, attrs, in.Timeouts.Claim, CreateInstance, in)
}

// StartDelete starts DeleteInstance and waits for its claim of the instance's task
// (DELETING): ErrInstanceBusy when another operation holds it, also a delete that runs
// already. A finished delete (one that failed and left the instance in ERROR) may be
// started again.
func (s Starter) StartDelete(ctx context.Context, in DeleteInstanceInput) error {
	return s.startClaimed(ctx, DeleteWorkflowID(in.InstanceID), in.ProjectID, againRefused,
		instanceLabels(in.InstanceID, in.InstanceName, in.ProjectID, "delete", ""), in.Timeouts.Claim, DeleteInstance, in)
}

// StartRestart starts RestartInstance, instance/<id>/restart, and waits for its claim of
// the instance's task (REBOOTING): ErrInstanceBusy when another operation holds it.
func (s Starter) StartRestart(ctx context.Context, in RestartInstanceInput) error {
	op, change := "restart", "(the engine)"
	if in.Reboot {
		op, change = "reboot", "(the server)"
	}
	return s.startClaimed(ctx, RestartWorkflowID(in.InstanceID), in.ProjectID, againRefused,
		instanceLabels(in.InstanceID, in.InstanceName, in.ProjectID, op, change), in.Timeouts.Claim, RestartInstance, in)
}

// StartResizeFlavor starts ResizeFlavor, instance/<id>/resize, and waits for its claim
// (RESIZING), as StartRestart does.
func (s Starter) StartResizeFlavor(ctx context.Context, in ResizeFlavorInput) error {
	return s.startClaimed(ctx, ResizeWorkflowID(in.InstanceID), in.ProjectID, againRefused,
		instanceLabels(in.InstanceID, in.InstanceName, in.ProjectID, "resize", fmt.Sprintf("from flavor %s to %s", in.OldFlavorID, in.NewFlavorID)),
		in.Timeouts.Claim, ResizeFlavor, in)
}

// StartResizeVolume starts ResizeVolume, instance/<id>/resize, and waits for its claim
// (RESIZING), as StartRestart does.
func (s Starter) StartResizeVolume(ctx context.Context, in ResizeVolumeInput) error {
	return s.startClaimed(ctx, ResizeWorkflowID(in.InstanceID), in.ProjectID, againRefused,
		instanceLabels(in.InstanceID, in.InstanceName, in.ProjectID, "resize volume", sizeChange(in.OldSize, in.NewSize)),
		in.Timeouts.Claim, ResizeVolume, in)
}

// StartApplyConfiguration starts ApplyConfiguration for one API request (request is
// unique per request): a change of a group, or an instance's attach or detach. It holds no
// task, so it needs no claim; two that run side by side converge on the latest values.
func (s Starter) StartApplyConfiguration(ctx context.Context, in ApplyConfigurationInput, request string) error {
	instanceID := ""
	if len(in.InstanceIDs) == 1 {
		instanceID = in.InstanceIDs[0]
	}
	l := labels{attrs: temporal.NewSearchAttributes(ProjectIDAttr.ValueSet(in.ProjectID), OperationAttr.ValueSet("apply configuration")),
		summary: fmt.Sprintf("apply configuration to %d instances", len(in.InstanceIDs))}
	if instanceID != "" {
		l = instanceLabels(instanceID, "", in.ProjectID, "apply configuration", "")
	}
	_, err := s.start(ctx, ConfigurationWorkflowID(in, request), onceJoined, l, ApplyConfiguration, in)
	return err
}

// StartUpdateAccess starts UpdateAccess, instance/<id>/access, and waits for its claim
// (UPDATING), as StartRestart does.
func (s Starter) StartUpdateAccess(ctx context.Context, in UpdateAccessInput) error {
	return s.startClaimed(ctx, AccessWorkflowID(in.InstanceID), in.ProjectID, againRefused,
		instanceLabels(in.InstanceID, in.InstanceName, in.ProjectID, "update access", accessChange(in.Access)),
		in.Timeouts.Claim, UpdateAccess, in)
}

// StartRebuild starts RebuildInstance, instance/<id>/upgrade for an upgrade and
// instance/<id>/rebuild for an admin's rebuild, and waits for its claim (UPGRADING or
// REBUILDING), as StartRestart does.
func (s Starter) StartRebuild(ctx context.Context, in RebuildInstanceInput) error {
	id, op, change := RebuildWorkflowID(in.InstanceID), "rebuild", "onto image "+in.ImageID
	if in.Upgrade {
		id, op, change = UpgradeWorkflowID(in.InstanceID), "upgrade", fmt.Sprintf("from %s %s to %s", in.Datastore, in.OldVersion, in.Version)
	}
	return s.startClaimed(ctx, id, in.ProjectID, againRefused,
		instanceLabels(in.InstanceID, in.InstanceName, in.ProjectID, op, change), in.Timeouts.Claim, RebuildInstance, in)
}

// StartSilent starts GuestSilent, instance/<id>/silent, for one silence of the
// instance's guest. A run of the same ID that still runs refuses it (an error): the
// caller tries again later; a finished one (an earlier silence's) does not.
func (s Starter) StartSilent(ctx context.Context, in GuestSilentInput) error {
	_, err := s.start(ctx, SilentWorkflowID(in.InstanceID), againRefused,
		instanceLabels(in.InstanceID, in.InstanceName, in.ProjectID, "silent",
			fmt.Sprintf("(no health report since %s)", in.LastReport.UTC().Format(time.RFC3339))), GuestSilent, in)
	return err
}

// StartStop starts StopInstance, instance/<id>/stop.
func (s Starter) StartStop(ctx context.Context, in StopInstanceInput) error {
	_, err := s.start(ctx, StopWorkflowID(in.InstanceID), againRefused,
		instanceLabels(in.InstanceID, in.InstanceName, in.ProjectID, "stop", "(the engine)"), StopInstance, in)
	return err
}

// replicationWorkflows are the workflows of the replication operations, by the operation's
// name.
var replicationWorkflows = map[string]struct {
	workflow   any
	workflowID func(string) string
}{
	"promote": {PromoteReplica, PromoteWorkflowID},
	"eject":   {EjectReplicaSource, EjectWorkflowID},
	"detach":  {DetachReplica, DetachWorkflowID},
}

// ReplicationWorkflowID is the workflow ID of a replication operation ("promote", "eject"
// or "detach") on an instance; "" for another operation.
func ReplicationWorkflowID(operation, instanceID string) string {
	op, ok := replicationWorkflows[operation]
	if !ok {
		return ""
	}
	return op.workflowID(instanceID)
}

// StartReplication starts PromoteReplica ("promote"), EjectReplicaSource ("eject") or
// DetachReplica ("detach") on in.InstanceID and waits for its claim of the group's tasks
// (in.Tasks): ErrInstanceBusy when another operation holds a member, also when the same
// operation runs already. A finished one may run again.
func (s Starter) StartReplication(ctx context.Context, operation string, in ReplicationInput) error {
	op, ok := replicationWorkflows[operation]
	if !ok {
		return fmt.Errorf("start replication workflow: no operation %q", operation)
	}
	return s.startClaimed(ctx, op.workflowID(in.InstanceID), in.ProjectID, againRefused,
		instanceLabels(in.InstanceID, in.InstanceName, in.ProjectID, operation, ""), in.Timeouts.Claim, op.workflow, in)
}

// StartBackup starts BackupInstance, once per backup. With in.Record set, the workflow
// records the backup as its first step and StartBackup waits for that claim:
// ErrBackupRunning when another backup holds the instance, ErrInstanceBusy when a task
// does, another error when the outcome is unknown (see startClaimed).
func (s Starter) StartBackup(ctx context.Context, in BackupInstanceInput) error {
	attrs := instanceLabels(in.InstanceID, in.InstanceName, in.ProjectID, "backup", "(backup "+in.BackupID+")")
	if in.Record == nil {
		_, err := s.start(ctx, BackupWorkflowID(in.BackupID), onceJoined, attrs, BackupInstance, in)
		return err
	}
	return s.startClaimed(ctx, BackupWorkflowID(in.BackupID), in.ProjectID, onceJoined, attrs, in.Claim, BackupInstance, in)
}

// StartBackupDelete starts DeleteBackup; a running delete of the backup is joined, a
// failed one may be started again. The backup's instance may be gone: the workflow sets
// its search attributes itself once it has read the backup.
func (s Starter) StartBackupDelete(ctx context.Context, in DeleteBackupInput) error {
	_, err := s.start(ctx, DeleteBackupWorkflowID(in.BackupID), againJoined,
		labels{summary: "delete backup " + in.BackupID}, DeleteBackup, in)
	return err
}

// StartGuestCall starts GuestCall for an API request: operation names what the request
// does ("users/create"), and every request gets a workflow of its own, which ends by
// timeout at the latest (the guest's own timeouts in in, with room for retries).
func (s Starter) StartGuestCall(ctx context.Context, operation string, in GuestCallInput, timeout time.Duration) (client.WorkflowRun, error) {
	opts := client.StartWorkflowOptions{
		ID:                       GuestCallWorkflowID(in.InstanceID, operation, uuid.NewString()),
		TaskQueue:                ControlTaskQueue,
		WorkflowExecutionTimeout: timeout,
		TypedSearchAttributes:    searchAttributes(in.InstanceID, in.ProjectID, operation),
	}
	run, err := s.Client.ExecuteWorkflow(ctx, opts, GuestCall, in)
	if err != nil {
		return nil, fmt.Errorf("start workflow %s: %w", opts.ID, err)
	}
	return run, nil
}

// StartGuestLog starts a publish or a discard of one of an instance's logs (GuestLog),
// bounded by timeout, for the caller to wait on.
func (s Starter) StartGuestLog(ctx context.Context, in GuestLogInput, timeout time.Duration) (client.WorkflowRun, error) {
	opts := client.StartWorkflowOptions{
		ID:                       GuestLogWorkflowID(in.InstanceID, in.Log, uuid.NewString()),
		TaskQueue:                ControlTaskQueue,
		WorkflowExecutionTimeout: timeout,
		TypedSearchAttributes:    searchAttributes(in.InstanceID, in.ProjectID, "log"),
	}
	run, err := s.Client.ExecuteWorkflow(ctx, opts, GuestLog, in)
	if err != nil {
		return nil, fmt.Errorf("start workflow %s: %w", opts.ID, err)
	}
	return run, nil
}

// ScheduledBackupWorkflowID is the ID of the runs of a backup schedule.
func ScheduledBackupWorkflowID(instanceID, scheduleID string) string {
	return "scheduled-backup/" + instanceID + "/" + scheduleID
}

// CreateBackupSchedule makes a Temporal Schedule that runs ScheduledBackup on sc's cron
// expression (or interval), never two runs at once.
func (s Starter) CreateBackupSchedule(ctx context.Context, sc coffer.BackupSchedule) error {
	id := BackupScheduleID(sc.InstanceID, sc.ID)
	spec := client.ScheduleSpec{}
	if sc.Interval > 0 {
		spec.Intervals = []client.ScheduleIntervalSpec{{Every: sc.Interval}}
	} else {
		spec.CronExpressions = []string{sc.Cron}
	}
	_, err := s.Client.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:      id,
		Spec:    spec,
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		Action: &client.ScheduleWorkflowAction{
			ID:        ScheduledBackupWorkflowID(sc.InstanceID, sc.ID),
			Workflow:  ScheduledBackup,
			TaskQueue: ControlTaskQueue,
			Args: []any{ScheduledBackupInput{
				ScheduleID: sc.ID, InstanceID: sc.InstanceID, ProjectID: sc.ProjectID, Keep: sc.Keep,
			}},
			TypedSearchAttributes: searchAttributes(sc.InstanceID, sc.ProjectID, "scheduled backup"),
		},
		TypedSearchAttributes: searchAttributes(sc.InstanceID, sc.ProjectID, "backup schedule"),
	})
	if err != nil {
		return fmt.Errorf("create schedule %s: %w", id, err)
	}
	return nil
}

// DeleteBackupSchedule deletes the Temporal Schedule; running backups finish. A schedule
// that is gone already is no error.
func (s Starter) DeleteBackupSchedule(ctx context.Context, instanceID, scheduleID string) error {
	id := BackupScheduleID(instanceID, scheduleID)
	err := s.Client.ScheduleClient().GetHandle(ctx, id).Delete(ctx)
	var notFound *serviceerror.NotFound
	if err != nil && !errors.As(err, &notFound) {
		return fmt.Errorf("delete schedule %s: %w", id, err)
	}
	return nil
}
