package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/activities"
	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/workflows"
)

// Operations starts and steers the workflows of the day-2 operations (restart, resize,
// stop, parked steps). TemporalWorkflows implements it.
type Operations interface {
	// StartRestart starts RestartInstance (an engine restart, or a server reboot) and
	// returns once it claimed the instance's task; workflows.ErrInstanceBusy when another
	// operation holds it, another error when the outcome is unknown.
	StartRestart(ctx context.Context, in workflows.RestartInstanceInput) error
	// StartResizeFlavor starts ResizeFlavor; it returns as StartRestart does, and a
	// *catalog.QuotaExceededError when the claim finds the project over its quotas.
	StartResizeFlavor(ctx context.Context, in workflows.ResizeFlavorInput) error
	// StartResizeVolume starts ResizeVolume; it returns as StartResizeFlavor does.
	StartResizeVolume(ctx context.Context, in workflows.ResizeVolumeInput) error
	// StartUpdateAccess starts UpdateAccess; it returns as StartRestart does.
	StartUpdateAccess(ctx context.Context, in workflows.UpdateAccessInput) error
	// StartRebuild starts RebuildInstance (an upgrade, or an admin's rebuild); it returns
	// as StartRestart does.
	StartRebuild(ctx context.Context, in workflows.RebuildInstanceInput) error
	// StartStop starts StopInstance, which holds no task.
	StartStop(ctx context.Context, in workflows.StopInstanceInput) error
	// Progress asks a running workflow for its progress.
	Progress(ctx context.Context, workflowID string) (workflows.Progress, error)
	// Answer gives the parked step of a running workflow an operator's answer (retry,
	// skip, abort) and returns what the workflow said: workflows.ErrNotParked when no step
	// is parked, workflows.ErrRunEnded when the workflow has ended.
	Answer(ctx context.Context, workflowID, answer string) (string, error)
	// Ended says how the last run of a workflow ended; nil while it runs.
	Ended(ctx context.Context, workflowID string) (*workflows.RunEnd, error)
}

// ResizeVolumeRequest is the new size of a volume.
type ResizeVolumeRequest struct {
	Size int `json:"size" minimum:"1" doc:"The new size in GiB: larger than the current one, at most the API's max_volume_size." example:"4"`
}

// ResizeRequest changes the flavor or the volume's size; exactly one.
type ResizeRequest struct {
	FlavorRef FlavorRef            `json:"flavorRef,omitempty"`
	Volume    *ResizeVolumeRequest `json:"volume,omitempty"`
}

// ResetStatusRequest is Trove's reset_status.
type ResetStatusRequest struct {
	ForceDelete bool `json:"force_delete,omitempty" doc:"Reset so that the instance can be deleted (the owner may ask); without it, admins only."`
}

// InstanceAction is the body of an instance action: exactly one key.
type InstanceAction struct {
	Restart     *struct{}           `json:"restart,omitempty" doc:"Restart the database engine: status REBOOT, then ACTIVE."`
	Resize      *ResizeRequest      `json:"resize,omitempty" doc:"Move to another flavor (flavorRef) or grow the volume (volume.size): status RESIZE, then ACTIVE."`
	ResetStatus *ResetStatusRequest `json:"reset_status,omitempty" doc:"Forget a stuck task: task NONE, operating status ERROR until the guest reports again."`
	// Replication (replicas.go).
	PromoteToReplicaSource *struct{} `json:"promote_to_replica_source,omitempty" doc:"On a replica: a planned switchover that makes it its group's primary without losing a committed transaction; the old primary becomes its replica. Status PROMOTE, then ACTIVE."`
	EjectReplicaSource     *struct{} `json:"eject_replica_source,omitempty" doc:"On a primary whose guest no longer answers: a failover to its most advanced replica; the old primary is fenced and shows ERROR. Status EJECT."`
}

// InstanceActionRequest asks for an action on an instance.
type InstanceActionRequest struct {
	InstancePath
	Body InstanceAction
}

func (s *Server) registerActions(g *huma.Group) {
	huma.Register(g, huma.Operation{
		OperationID:   "instanceAction",
		Method:        http.MethodPost,
		Path:          "/instances/{id}/action",
		Summary:       "Act on an instance",
		Description:   "Restart the engine ({\"restart\": {}}), resize the flavor ({\"resize\": {\"flavorRef\": \"ds1G\"}}) or the volume ({\"resize\": {\"volume\": {\"size\": 4}}}), or reset a stuck status ({\"reset_status\": {}}). Each starts a workflow and answers 202 at once; an instance that is not ACTIVE, or has an operation running, answers 422.",
		Tags:          []string{"Instances"},
		DefaultStatus: http.StatusAccepted,
		Errors:        []int{http.StatusBadRequest, http.StatusNotFound, http.StatusUnprocessableEntity},
	}, s.instanceAction)
}

func (s *Server) instanceAction(ctx context.Context, in *InstanceActionRequest) (*struct{}, error) {
	body := in.Body
	n := 0
	for _, set := range []bool{body.Restart != nil, body.Resize != nil, body.ResetStatus != nil, body.PromoteToReplicaSource != nil, body.EjectReplicaSource != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, badRequest("Invalid request: the body must hold exactly one action (restart, resize or reset_status), got %d.", n)
	}
	if body.ResetStatus != nil {
		return nil, s.resetStatus(ctx, in.ProjectID, in.ID, body.ResetStatus.ForceDelete)
	}
	if body.PromoteToReplicaSource != nil {
		return nil, s.replicationAction(ctx, in.ProjectID, in.ID, "promote")
	}
	if body.EjectReplicaSource != nil {
		return nil, s.replicationAction(ctx, in.ProjectID, in.ID, "eject")
	}
	ops := s.workflows
	inst, err := s.getInstance(ctx, in.ProjectID, in.ID)
	if err != nil {
		return nil, err
	}
	if err := canAct(inst); err != nil {
		return nil, err
	}
	switch {
	case body.Restart != nil:
		return nil, s.startTask(ctx, inst, coffer.TaskRebooting, workflows.RestartWorkflowID(inst.ID), func() error {
			return ops.StartRestart(ctx, workflows.RestartInstanceInput{InstanceID: inst.ID, ProjectID: inst.ProjectID, InstanceName: inst.Name, Timeouts: s.timeouts()})
		})
	case body.Resize.Volume != nil && body.Resize.FlavorRef != "":
		return nil, badRequest("Invalid request: resize takes a flavorRef or a volume, not both.")
	case body.Resize.Volume != nil:
		size := body.Resize.Volume.Size
		if size <= inst.VolumeSize || size > s.cfg.API.MaxVolumeSize {
			return nil, badRequest("Invalid request: resize.volume.size: %d must be larger than the volume's %d GiB and at most %d.", size, inst.VolumeSize, s.cfg.API.MaxVolumeSize)
		}
		// A primary's replicas grow with it: its ResizeVolume starts theirs.
		return nil, s.startTask(ctx, inst, coffer.TaskResizing, workflows.ResizeWorkflowID(inst.ID), func() error {
			return ops.StartResizeVolume(ctx, workflows.ResizeVolumeInput{InstanceID: inst.ID, ProjectID: inst.ProjectID, InstanceName: inst.Name, OldSize: inst.VolumeSize, NewSize: size, Timeouts: s.timeouts(),
				Quota: &activities.ResizeQuota{VolumeSize: size, Quotas: s.quotaDefaults()}})
		})
	case body.Resize.FlavorRef.ID() != "":
		if err := body.Resize.FlavorRef.Check(); err != nil {
			return nil, badRequest("Invalid request: resize.flavorRef: %v.", err)
		}
		flavorID := body.Resize.FlavorRef.ID()
		if flavorID == inst.FlavorID {
			return nil, badRequest("Invalid request: the instance has flavor %s already.", flavorID)
		}
		flavor, err := s.cloud.flavor(ctx, flavorID)
		if err != nil {
			if errors.Is(err, errNoSuchFlavor) {
				return nil, badRequest("Flavor %s not found.", flavorID)
			}
			return nil, faultFor(ctx, s.log, err, "Flavor "+flavorID)
		}
		return nil, s.startTask(ctx, inst, coffer.TaskResizing, workflows.ResizeWorkflowID(inst.ID), func() error {
			return ops.StartResizeFlavor(ctx, workflows.ResizeFlavorInput{
				InstanceID: inst.ID, ProjectID: inst.ProjectID, InstanceName: inst.Name, OldFlavorID: inst.FlavorID, NewFlavorID: flavorID, Timeouts: s.timeouts(),
				Quota: &activities.ResizeQuota{RAMMB: max(flavor.RAM, 1), Quotas: s.quotaDefaults()},
			})
		})
	}
	return nil, badRequest("Invalid request: resize needs a flavorRef or a volume.size.")
}

// canAct is Trove's validate_can_perform_action: an ACTIVE instance with no task.
func canAct(inst *coffer.Instance) error {
	if inst.Task != coffer.TaskNone || !inst.Ready() {
		return unprocessableEntity("Instance %s is not ready (status %s): an action needs it ACTIVE with no operation running.", inst.ID, inst.Status())
	}
	return nil
}

// startTask starts an operation's workflow, which claims the instance's task (task) as its
// first step and answers with the outcome (workflows/claim.go), so that the catalog and
// Temporal never disagree: 422 when another operation holds the instance, 413 when a
// resize's claim finds the project over its quotas, 503 when the
// outcome is unknown (the workflow then gives up by itself, and the client may retry).
func (s *Server) startTask(ctx context.Context, inst *coffer.Instance, task coffer.Task, workflowID string, start func() error) error {
	log := s.log.With("instance_id", inst.ID, "project_id", inst.ProjectID, "workflow_id", workflowID)
	if err := start(); err != nil {
		if errors.Is(err, workflows.ErrInstanceBusy) {
			return unprocessableEntity("Instance %s is not ready: another operation is running on it.", inst.ID)
		}
		if qe, ok := errors.AsType[*catalog.QuotaExceededError](err); ok {
			return quotaFault(qe)
		}
		log.ErrorContext(ctx, "start workflow", "error", err)
		return serviceUnavailable("The action could not be started now: the workflow service is unavailable. Try again later.")
	}
	log.InfoContext(ctx, "instance action started", "task", task)
	return nil
}

// resetStatus is Trove's reset_status: admins only, or the owner with force_delete (the
// client's "force delete" resets, then deletes).
func (s *Server) resetStatus(ctx context.Context, projectID, id string, forceDelete bool) error {
	admin := principalFrom(ctx).IsAdmin()
	if !admin && !forceDelete {
		return forbidden("Policy doesn't allow instance:reset_status to be performed.")
	}
	scope := projectID
	if admin {
		scope = ""
	}
	if _, err := s.getInstance(ctx, scope, id); err != nil {
		return err
	}
	if err := s.catalog.ResetStatus(ctx, scope, id); err != nil {
		return faultFor(ctx, s.log, err, "Instance "+id)
	}
	s.log.InfoContext(ctx, "instance status reset", "instance_id", id, "project_id", projectID, "force_delete", forceDelete)
	return nil
}

// timeouts are the bounds every workflow the API starts carries.
func (s *Server) timeouts() workflows.Timeouts {
	return workflows.Timeouts{
		GuestStart:     s.cfg.Guest.StartTimeout,
		GuestPrepare:   s.cfg.Guest.PrepareTimeout,
		Park:           s.cfg.Operations.ParkTimeout,
		HealthInterval: s.cfg.Guest.HealthInterval,
	}
}

// heartbeatExpiry is how old a health report may be before operating_status shows ERROR.
func (s *Server) heartbeatExpiry() time.Duration {
	if s.cfg.Guest.HeartbeatExpiry > 0 {
		return s.cfg.Guest.HeartbeatExpiry
	}
	return coffer.HeartbeatExpiry
}

// volumeUsed is the GiB the instance's data takes, as its guest last reported it to the
// gateway (Trove asks the guest for volume.used on a show); nothing before its first report.
func (s *Server) volumeUsed(ctx context.Context, instanceID string) *float64 {
	v, err := s.catalog.GetGuestVolume(ctx, instanceID)
	if err != nil {
		return nil
	}
	used := float64(int(v.UsedGB*100+0.5)) / 100
	return &used
}
