package activities

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/guest"
)

// The activities of the day-2 operations (restart, resize, reboot, the health monitor) and
// of parked steps: each one OpenStack call, wait or catalog change, idempotent so that a
// worker killed at any point and started again does nothing twice.

// OperationsCatalog is the part of the catalog the operations change; *catalog.Store
// implements it.
type OperationsCatalog interface {
	FinishTask(ctx context.Context, id string, e catalog.TaskEnd) error
	NoteFault(ctx context.Context, id string, f *coffer.Fault) error
	NoteSilenceFault(ctx context.Context, id string, notedAt time.Time, f coffer.Fault) (bool, error)
	RecordHealth(ctx context.Context, id string, status coffer.ServiceStatus, at time.Time) (coffer.Task, error)
}

var _ OperationsCatalog = (*catalog.Store)(nil)

// ClaimTaskInput is ClaimTask's input.
type ClaimTaskInput struct {
	InstanceID string      `json:"instance_id"`
	Task       coffer.Task `json:"task"`
	// WorkflowID is the workflow that claims (the catalog records it as the task's holder).
	WorkflowID string `json:"workflow_id"`
	// NotAfter, when set, is when the claim's window ends: a claim later fails with
	// ErrorTypeClaimTooLate, since whoever started the workflow has stopped waiting for it.
	NotAfter time.Time `json:"not_after,omitempty"`
	// Resize, when set, claims a resize within the project's quotas.
	Resize *ResizeQuota `json:"resize,omitempty"`
}

// ResizeQuota is what a resize asks of its project's quotas: the new flavor's RAM (0 when
// the flavor stays) and the new volume size (0 when the volume stays), with Quotas as the
// defaults of a project that has none of its own.
type ResizeQuota struct {
	RAMMB      int                 `json:"ram_mb,omitempty"`
	VolumeSize int                 `json:"volume_size,omitempty"`
	Quotas     catalog.QuotaLimits `json:"quotas,omitempty"`
}

// ClaimTask sets the instance's task for the workflow that runs the operation, when no
// other task holds it (catalog.Store.StartTask); an instance that is busy fails with
// ErrorTypeInstanceBusy, a resize past its project's quotas with
// ErrorTypeProjectQuotaExceeded (details: the []catalog.Quota exceeded), neither retried.
//
// The instance holding in.Task for in.WorkflowID already counts as claimed: the task was
// set by an attempt of this activity whose answer was lost, or by a run of the workflow
// that crashed.
func (a *Activities) ClaimTask(ctx context.Context, in ClaimTaskInput) error {
	what := fmt.Sprintf("claim task %s on instance %s", in.Task, in.InstanceID)
	if err := claimWindow(in.NotAfter, what); err != nil {
		return err
	}
	var err error
	if r := in.Resize; r != nil {
		// The claim holds what the resize asks for until its task ends, so that it counts
		// while the resize runs (catalog.Store.StartResizeWithinQuota).
		_, err = a.Catalog.StartResizeWithinQuota(ctx, "", in.InstanceID, r.RAMMB, r.VolumeSize, r.Quotas, in.WorkflowID)
	} else {
		_, err = a.Catalog.StartTask(ctx, "", in.InstanceID, in.Task, in.WorkflowID)
	}
	if qe, ok := errors.AsType[*catalog.QuotaExceededError](err); ok {
		return temporal.NewNonRetryableApplicationError(what+": "+qe.Error(), ErrorTypeProjectQuotaExceeded, nil, qe.Over)
	}
	return claimError(err, what, in.InstanceID)
}

// ClaimTasksInput is ClaimTasks' input.
type ClaimTasksInput struct {
	// Tasks are the task to set on each member of a replication group, by instance ID.
	Tasks map[string]coffer.Task `json:"tasks"`
	// InstanceID is the instance the operation was asked for, which a busy error names.
	InstanceID string `json:"instance_id"`
	// WorkflowID and NotAfter are as in ClaimTaskInput.
	WorkflowID string    `json:"workflow_id"`
	NotAfter   time.Time `json:"not_after,omitempty"`
}

// ClaimTasks sets the tasks of a replication group's members for the workflow that runs
// the operation, all of them or none (catalog.Store.StartTasks); a member that another
// operation holds fails it with ErrorTypeInstanceBusy, not retried. Members that hold their
// task for in.WorkflowID already count as claimed, as in ClaimTask.
func (a *Activities) ClaimTasks(ctx context.Context, in ClaimTasksInput) error {
	what := fmt.Sprintf("claim the tasks of the replication group of instance %s", in.InstanceID)
	if err := claimWindow(in.NotAfter, what); err != nil {
		return err
	}
	return claimError(a.Catalog.StartTasks(ctx, "", in.WorkflowID, in.Tasks), what, in.InstanceID)
}

// claimWindow fails a claim whose window ended at notAfter (zero: no window).
func claimWindow(notAfter time.Time, what string) error {
	if !notAfter.IsZero() && time.Now().After(notAfter) {
		return temporal.NewNonRetryableApplicationError(what+": the claim's window ended at "+notAfter.UTC().Format(time.RFC3339), ErrorTypeClaimTooLate, nil)
	}
	return nil
}

// claimError is a claim's outcome: ErrorTypeInstanceBusy when another operation holds the
// instance (or a member of its group).
func claimError(err error, what, instanceID string) error {
	if errors.Is(err, catalog.ErrTaskRunning) {
		return temporal.NewNonRetryableApplicationError("instance "+instanceID+" is busy: "+err.Error(), ErrorTypeInstanceBusy, err)
	}
	return catalogError(err, what)
}

// RecordInstanceInput is RecordInstance's input.
type RecordInstanceInput struct {
	// Instance is the new instance, with task BUILDING.
	Instance coffer.Instance `json:"instance"`
	// RAMMB is its flavor's RAM, counted against the project's quotas with Quotas as the
	// defaults; nil Quotas records the instance without a quota check (a replica).
	RAMMB  int                  `json:"ram_mb,omitempty"`
	Quotas *catalog.QuotaLimits `json:"quotas,omitempty"`
	// ReplicaOf is the primary of a replica.
	ReplicaOf string `json:"replica_of,omitempty"`
	// WorkflowID is the create that records it, which holds its task (BUILDING).
	WorkflowID string `json:"workflow_id,omitempty"`
	// NotAfter is when the claim's window ends, as in ClaimTaskInput.
	NotAfter time.Time `json:"not_after,omitempty"`
}

// RecordInstance records a new instance, the claim of a create: within the project's
// quotas (a project past one fails with ErrorTypeProjectQuotaExceeded, not retried, the
// quotas exceeded in its details), with its primary for a replica. A record that exists
// already is this create's own (instance IDs are new for each create): no error.
func (a *Activities) RecordInstance(ctx context.Context, in RecordInstanceInput) error {
	what := "record instance " + in.Instance.ID
	if err := claimWindow(in.NotAfter, what); err != nil {
		return err
	}
	inst := in.Instance
	inst.TaskWorkflowID = in.WorkflowID
	var err error
	if in.Quotas != nil {
		err = a.Catalog.CreateInstanceWithinQuota(ctx, &inst, in.RAMMB, *in.Quotas)
	} else {
		err = a.Catalog.CreateInstance(ctx, &inst)
	}
	var qe *catalog.QuotaExceededError
	if errors.As(err, &qe) {
		return temporal.NewNonRetryableApplicationError(what+": "+qe.Error(), ErrorTypeProjectQuotaExceeded, nil, qe.Over)
	}
	if err != nil {
		if _, gerr := a.Catalog.GetInstance(ctx, "", inst.ID); gerr != nil {
			return catalogError(err, what)
		}
	}
	if in.ReplicaOf != "" {
		return catalogError(a.Catalog.SetReplicaOf(ctx, inst.ID, in.ReplicaOf), what)
	}
	return nil
}

// FinishTaskInput is FinishTask's input.
type FinishTaskInput struct {
	InstanceID string `json:"instance_id"`
	// FlavorID and VolumeSize are what a resize changed (empty and zero: unchanged).
	FlavorID   string `json:"flavor_id,omitempty"`
	VolumeSize int    `json:"volume_size,omitempty"`
	// Version is the datastore version an upgrade moved to (empty: unchanged).
	Version string `json:"version,omitempty"`
	// FaultMessage, when set, stays on the instance as its fault (a rolled-back resize).
	FaultMessage string `json:"fault_message,omitempty"`
	FaultDetails string `json:"fault_details,omitempty"`
}

// FinishTask ends an operation that did its work or rolled it back: task NONE, service
// HEALTHY as of now, the new flavor or volume size, and the fault when one is given.
func (a *Activities) FinishTask(ctx context.Context, in FinishTaskInput) error {
	end := catalog.TaskEnd{FlavorID: in.FlavorID, VolumeSize: in.VolumeSize, Version: in.Version}
	if in.FaultMessage != "" {
		end.Fault = &coffer.Fault{Message: in.FaultMessage, Details: in.FaultDetails, Created: time.Now()}
	}
	return catalogError(a.Catalog.FinishTask(ctx, in.InstanceID, end), "finish the task of instance "+in.InstanceID)
}

// NoteFaultInput is NoteFault's input.
type NoteFaultInput struct {
	InstanceID string `json:"instance_id"`
	// Message empty clears the fault.
	Message string `json:"message,omitempty"`
	Details string `json:"details,omitempty"`
}

// NoteFault shows a fault on the instance without ending its task (a parked step says why
// it waits), or clears it.
func (a *Activities) NoteFault(ctx context.Context, in NoteFaultInput) error {
	var f *coffer.Fault
	if in.Message != "" {
		f = &coffer.Fault{Message: in.Message, Details: in.Details, Created: time.Now()}
	}
	return catalogError(a.Catalog.NoteFault(ctx, in.InstanceID, f), "note the fault of instance "+in.InstanceID)
}

// NoteSilenceInput is NoteSilence's input: the silence as the sweep noted it.
type NoteSilenceInput struct {
	InstanceID string `json:"instance_id"`
	// NotedAt names the silence (catalog.SilentInstance.NotedAt).
	NotedAt time.Time `json:"noted_at"`
	// LastReport is when the guest last reported; Expiry how old a report may be.
	LastReport time.Time     `json:"last_report"`
	Expiry     time.Duration `json:"expiry"`
}

// NoteSilence shows the guest's silence as the instance's fault while it lasts, and
// reports whether it lasts: false when the guest reported since (then nothing changes).
// The guest's next report clears the fault.
func (a *Activities) NoteSilence(ctx context.Context, in NoteSilenceInput) (bool, error) {
	f := coffer.Fault{
		Message: fmt.Sprintf("The guest agent has not reported since %s (more than %s): its server, its agent or its network may be down",
			in.LastReport.UTC().Format(time.RFC3339), in.Expiry),
		Details: fmt.Sprintf("silence noted at %s; the fault clears when the guest reports again", in.NotedAt.UTC().Format(time.RFC3339)),
	}
	silent, err := a.Catalog.NoteSilenceFault(ctx, in.InstanceID, in.NotedAt, f)
	return silent, catalogError(err, "note the silence of instance "+in.InstanceID)
}

// RecordHealthInput is RecordHealth's input.
type RecordHealthInput struct {
	InstanceID string `json:"instance_id"`
	// Report is the guest's answer; nil when the guest did not answer.
	Report *guest.HealthReport `json:"report,omitempty"`
}

// RecordHealth is what the retired per-instance monitors (MonitorInstance) called after
// each probe. Guests report their health to the gateway on their own schedule now, and
// the gateway records it; RecordHealth records nothing and answers every monitor that
// still runs with a non-retryable ErrorTypeMonitorRetired, on which it ends cleanly.
func (a *Activities) RecordHealth(_ context.Context, in RecordHealthInput) (coffer.Task, error) {
	return "", temporal.NewNonRetryableApplicationError(
		"instance "+in.InstanceID+": health is reported by the guest to the gateway; the monitor is retired",
		ErrorTypeMonitorRetired, nil)
}

// ResizeServerInput is ResizeServer's input.
type ResizeServerInput struct {
	InstanceID string `json:"instance_id"`
	ServerID   string `json:"server_id"`
	FlavorID   string `json:"flavor_id"`
}

// ResizeServer asks Nova to resize the server to the flavor. A server that has the flavor
// already (an earlier try got through: it is resizing, waits for confirmation or was
// confirmed) is left alone.
func (a *Activities) ResizeServer(ctx context.Context, in ResizeServerInput) error {
	what := fmt.Sprintf("resize server %s of instance %s to flavor %s", in.ServerID, in.InstanceID, in.FlavorID)
	s, err := servers.Get(ctx, a.Compute, pathSegment(in.ServerID)).Extract()
	if err != nil {
		return cloudError(err, what)
	}
	if hasFlavor(s, in.FlavorID) {
		return nil
	}
	if s.Status == "RESIZE" || s.TaskState != "" {
		return temporal.NewApplicationError(what+": the server is busy ("+s.Status+", "+s.TaskState+")", ErrorTypeInUse)
	}
	return cloudError(servers.Resize(ctx, a.Compute, pathSegment(in.ServerID), servers.ResizeOpts{FlavorRef: in.FlavorID}).ExtractErr(), what)
}

// hasFlavor reports whether Nova shows the server with the flavor, by ID (before
// microversion 2.47) or by name (after, where the flavor's ID is no longer shown; Coffer
// names flavors by ID in the devcloud and by either in a real cloud).
func hasFlavor(s *servers.Server, flavorID string) bool {
	for _, key := range []string{"id", "original_name"} {
		if v, ok := s.Flavor[key].(string); ok && v == flavorID {
			return true
		}
	}
	return false
}

// WaitServerStatusInput is WaitServerStatus' input.
type WaitServerStatusInput struct {
	Server ResourceRef `json:"server"`
	// Status is what to wait for: ACTIVE, VERIFY_RESIZE, SHUTOFF.
	Status string `json:"status"`
	// FlavorID, when set, must be the server's flavor too.
	FlavorID string `json:"flavor_id,omitempty"`
}

// WaitServerStatus polls the server until Nova shows the status (and flavor) with no task
// running, heartbeating what it sees. ERROR fails at once (ServerFailed) with Nova's fault.
func (a *Activities) WaitServerStatus(ctx context.Context, in WaitServerStatusInput) error {
	what := fmt.Sprintf("wait for server %s of instance %s to be %s", in.Server.ID, in.Server.InstanceID, in.Status)
	poll := a.newPoller()
	for {
		s, err := servers.Get(ctx, a.Compute, pathSegment(in.Server.ID)).Extract()
		if err != nil {
			return cloudError(err, what)
		}
		switch {
		case s.Status == in.Status && s.TaskState == "" && (in.FlavorID == "" || hasFlavor(s, in.FlavorID)):
			return nil
		case s.Status == "ERROR":
			msg := what + ": nova put the server in ERROR"
			if s.Fault.Message != "" {
				msg += ": " + s.Fault.Message
			}
			return temporal.NewNonRetryableApplicationError(msg, ErrorTypeServerFailed, nil, s.Fault.Details)
		case s.Status == "DELETED" || s.Status == "SOFT_DELETED":
			return temporal.NewNonRetryableApplicationError(what+": the server is "+s.Status, ErrorTypeServerFailed, nil)
		}
		activity.RecordHeartbeat(ctx, s.Status+"/"+s.TaskState)
		if err := poll.wait(ctx); err != nil {
			return err
		}
	}
}

// ServerStatus returns Nova's status of the server (VERIFY_RESIZE, ACTIVE, ...), for a
// workflow that must decide what to roll back.
func (a *Activities) ServerStatus(ctx context.Context, ref ResourceRef) (string, error) {
	s, err := servers.Get(ctx, a.Compute, pathSegment(ref.ID)).Extract()
	if err != nil {
		return "", cloudError(err, "get server "+ref.ID+" of instance "+ref.InstanceID)
	}
	return s.Status, nil
}

// ConfirmResize keeps the server's new flavor. A server that is no longer waiting for the
// confirmation (an earlier try got through) is left alone.
func (a *Activities) ConfirmResize(ctx context.Context, ref ResourceRef) error {
	what := "confirm the resize of server " + ref.ID + " of instance " + ref.InstanceID
	s, err := servers.Get(ctx, a.Compute, pathSegment(ref.ID)).Extract()
	if err != nil {
		return cloudError(err, what)
	}
	if s.Status != "VERIFY_RESIZE" {
		return nil
	}
	return cloudError(servers.ConfirmResize(ctx, a.Compute, pathSegment(ref.ID)).ExtractErr(), what)
}

// RevertResize gives the server its old flavor back when it waits for a resize's
// confirmation; a server in any other state is left alone.
func (a *Activities) RevertResize(ctx context.Context, ref ResourceRef) error {
	what := "revert the resize of server " + ref.ID + " of instance " + ref.InstanceID
	s, err := servers.Get(ctx, a.Compute, pathSegment(ref.ID)).Extract()
	if err != nil {
		return cloudError(err, what)
	}
	if s.Status != "VERIFY_RESIZE" {
		return nil
	}
	return cloudError(servers.RevertResize(ctx, a.Compute, pathSegment(ref.ID)).ExtractErr(), what)
}

// RebootServer asks Nova for a soft reboot of the server. A server already rebooting is left
// alone; one that is SHUTOFF is started.
func (a *Activities) RebootServer(ctx context.Context, ref ResourceRef) error {
	what := "reboot server " + ref.ID + " of instance " + ref.InstanceID
	s, err := servers.Get(ctx, a.Compute, pathSegment(ref.ID)).Extract()
	if err != nil {
		return cloudError(err, what)
	}
	switch {
	case strings.HasPrefix(s.TaskState, "reboot") || s.Status == "REBOOT" || s.Status == "HARD_REBOOT":
		return nil
	case s.Status == "SHUTOFF":
		return cloudError(servers.Start(ctx, a.Compute, pathSegment(ref.ID)).ExtractErr(), what)
	}
	return cloudError(servers.Reboot(ctx, a.Compute, pathSegment(ref.ID), servers.RebootOpts{Type: servers.SoftReboot}).ExtractErr(), what)
}

// ExtendVolumeInput is ExtendVolume's input.
type ExtendVolumeInput struct {
	Volume ResourceRef `json:"volume"`
	// Size is the new size in GiB.
	Size int `json:"size"`
}

// ExtendVolume asks Cinder to grow the volume (online: it stays attached). A volume of that
// size already (an earlier try got through) is left alone.
func (a *Activities) ExtendVolume(ctx context.Context, in ExtendVolumeInput) error {
	what := fmt.Sprintf("extend volume %s of instance %s to %d GiB", in.Volume.ID, in.Volume.InstanceID, in.Size)
	v, err := volumes.Get(ctx, a.BlockStorage, pathSegment(in.Volume.ID)).Extract()
	if err != nil {
		return cloudError(err, what)
	}
	if v.Size >= in.Size {
		return nil
	}
	// Extending an attached volume needs microversion 3.42.
	client := *a.BlockStorage
	client.Microversion = "3.42"
	err = volumes.ExtendSize(ctx, &client, pathSegment(in.Volume.ID), volumes.ExtendSizeOpts{NewSize: in.Size}).ExtractErr()
	if gophercloud.ResponseCodeIs(err, http.StatusBadRequest) {
		// Cinder refuses a volume that is busy (extending already, detaching, ...): wait.
		return temporal.NewApplicationErrorWithCause(what+": cinder refused it for now", ErrorTypeInUse, err)
	}
	return cloudError(err, what)
}

// WaitVolumeExtended polls the volume until Cinder shows the size with the volume
// available or in use. error_extending fails at once (VolumeFailed).
func (a *Activities) WaitVolumeExtended(ctx context.Context, in ExtendVolumeInput) error {
	what := fmt.Sprintf("wait for volume %s of instance %s to be %d GiB", in.Volume.ID, in.Volume.InstanceID, in.Size)
	poll := a.newPoller()
	for {
		v, err := volumes.Get(ctx, a.BlockStorage, pathSegment(in.Volume.ID)).Extract()
		if err != nil {
			return cloudError(err, what)
		}
		switch {
		case v.Size >= in.Size && (v.Status == "available" || v.Status == "in-use"):
			return nil
		case strings.HasPrefix(v.Status, "error"):
			return temporal.NewNonRetryableApplicationError(what+": cinder put the volume in status "+v.Status, ErrorTypeVolumeFailed, nil)
		}
		activity.RecordHeartbeat(ctx, v.Status)
		if err := poll.wait(ctx); err != nil {
			return err
		}
	}
}
