package workflows

import (
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/activities"
	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/guest"
)

// Step names of ResizeFlavor and ResizeVolume.
const (
	StepResizeServer   = "resize server"
	StepWaitResized    = "wait for resized server"
	StepStartEngine    = "start engine"
	StepConfirmResize  = "confirm resize"
	StepRevertResize   = "revert resize"
	StepExtendVolume   = "extend volume"
	StepGrowFilesystem = "grow filesystem"
	StepResizeReplicas = "resize replicas"
)

// ResizeTimeout bounds Nova's resize and revert (Trove's resize_time_out is 15 minutes).
const ResizeTimeout = 15 * time.Minute

// ResizeFlavor moves an instance to another flavor, as Trove does (trove-api.md §3.2):
//
//  0. claim task: task RESIZING, the workflow's first step (claim.go); when another
//     operation holds the instance, or the claim window passed, the workflow ends at once
//     and changes nothing.
//  1. read catalog: the server's ID.
//  2. stop engine: StopEngine, so that the engine is down cleanly while the server moves.
//  3. resize server: Nova's resize to the new flavor.
//  4. wait for resized server: until Nova shows VERIFY_RESIZE with the new flavor (at most
//     15 minutes). The server booted again with the new flavor; its agent starts the engine
//     with a configuration sized for it.
//  5. start engine: StartEngine (restarts an engine that runs with the old sizes, or with
//     settings of its configuration group that wait for a restart: RESTART_REQUIRED is
//     cleared), then Health until HEALTHY.
//  6. confirm resize: Nova keeps the new flavor; wait for ACTIVE.
//  7. finish: the new flavor in the catalog, task NONE: ACTIVE.
//
// A failure of steps 3 to 5 rolls back: revert resize (Nova gives the old flavor back, when
// the server waits for a confirmation), wait for ACTIVE on the old flavor, start engine and
// wait for it to be healthy; the instance ends ACTIVE on its old flavor with the failure as
// its fault. Steps 2 and 6 are parked for an operator when a retry may mend them; an abort
// of step 6 rolls back too. A rollback that fails records a fault (task ERROR).
func ResizeFlavor(ctx workflow.Context, in ResizeFlavorInput) error {
	op := operation{name: "resize", instanceID: in.InstanceID, projectID: in.ProjectID, task: coffer.TaskResizing, resize: in.Quota, timeouts: in.Timeouts}
	return op.run(ctx, func(t *tracker, p *parking, _ *undo) error {
		id := in.InstanceID
		var r catalog.Resources
		err := p.step(ctx, StepReadCatalog, func() error {
			return workflow.ExecuteActivity(callOptions(ctx), acts.GetInstanceResources, activities.GetInstanceInput{InstanceID: id}).Get(ctx, &r)
		})
		if err != nil {
			return err
		}
		server := activities.ResourceRef{InstanceID: id, ID: r.ServerID}
		err = p.step(ctx, StepStopEngine, func() error {
			return guest.For(id).StopEngine(ctx)
		})
		if err != nil {
			return err
		}

		err = t.step(StepResizeServer, func() error {
			return workflow.ExecuteActivity(callOptions(ctx), acts.ResizeServer,
				activities.ResizeServerInput{InstanceID: id, ServerID: server.ID, FlavorID: in.NewFlavorID}).Get(ctx, nil)
		})
		if err == nil {
			err = t.step(StepWaitResized, func() error {
				err := workflow.ExecuteActivity(waitOptions(ctx, ResizeTimeout), acts.WaitServerStatus,
					activities.WaitServerStatusInput{Server: server, Status: "VERIFY_RESIZE", FlavorID: in.NewFlavorID}).Get(ctx, nil)
				return timeoutReason(err, "nova did not resize server %s within %s", server.ID, ResizeTimeout)
			})
		}
		if err == nil {
			err = t.step(StepStartEngine, func() error { return startEngine(ctx, id, in.Timeouts) })
		}
		if err == nil {
			err = p.step(ctx, StepConfirmResize, func() error {
				if err := workflow.ExecuteActivity(callOptions(ctx), acts.ConfirmResize, server).Get(ctx, nil); err != nil {
					return err
				}
				return workflow.ExecuteActivity(waitOptions(ctx, ResizeTimeout), acts.WaitServerStatus,
					activities.WaitServerStatusInput{Server: server, Status: "ACTIVE", FlavorID: in.NewFlavorID}).Get(ctx, nil)
			})
		}
		if err != nil {
			// A cancellation rolls back too (on a context the cancellation does not end),
			// and then ends the workflow CANCELED with the instance on its old flavor.
			if rerr := rollBackResize(ctx, t, p, in, server, err); rerr != nil || !temporal.IsCanceledError(err) {
				return rerr
			}
			return settled{err}
		}
		return t.step(StepFinish, func() error {
			return workflow.ExecuteActivity(callOptions(ctx), acts.FinishTask,
				activities.FinishTaskInput{InstanceID: id, FlavorID: in.NewFlavorID}).Get(ctx, nil)
		})
	})
}

// rollBackResize brings the instance back to its old flavor after cause failed the resize,
// and ends its task with cause as the fault; an error comes back only when the rollback
// itself failed.
func rollBackResize(ctx workflow.Context, t *tracker, p *parking, in ResizeFlavorInput, server activities.ResourceRef, cause error) error {
	id := in.InstanceID
	workflow.GetLogger(ctx).Warn("resize failed; reverting to the old flavor", "instance_id", id, "error", cause)
	t.failed(faultMessage("resize", cause))
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	err := p.step(dctx, StepRevertResize, func() error {
		if err := workflow.ExecuteActivity(callOptions(dctx), acts.RevertResize, server).Get(dctx, nil); err != nil {
			return err
		}
		return workflow.ExecuteActivity(waitOptions(dctx, ResizeTimeout), acts.WaitServerStatus,
			activities.WaitServerStatusInput{Server: server, Status: "ACTIVE", FlavorID: in.OldFlavorID}).Get(dctx, nil)
	})
	if err == nil {
		err = p.step(dctx, StepStartEngine, func() error { return startEngine(dctx, id, in.Timeouts) })
	}
	if err != nil {
		return fmt.Errorf("roll back to flavor %s: %w (the resize failed: %w)", in.OldFlavorID, err, cause)
	}
	message := fmt.Sprintf("%s; the instance runs on flavor %s again", faultMessage("resize", cause), in.OldFlavorID)
	return t.step(StepFinish, func() error {
		return workflow.ExecuteActivity(callOptions(dctx), acts.FinishTask, activities.FinishTaskInput{
			InstanceID: id, FaultMessage: message, FaultDetails: cause.Error(),
		}).Get(dctx, nil)
	})
}

// startEngine starts the engine with the server's current flavor (its agent may still be
// booting) and waits until it is healthy.
func startEngine(ctx workflow.Context, instanceID string, timeouts Timeouts) error {
	boot := orDefault(timeouts.GuestStart, DefaultGuestStartTimeout)
	if err := guest.For(instanceID).With(guest.Change().PickUpWithin(boot)).StartEngine(ctx); err != nil {
		return err
	}
	// StartEngine restarts an engine whose configuration group has settings that wait
	// for a restart: none waits now.
	err := workflow.ExecuteActivity(callOptions(ctx), acts.SetRestartRequired, activities.SetRestartRequiredInput{InstanceID: instanceID}).Get(ctx, nil)
	if err != nil {
		return err
	}
	return waitHealthy(ctx, instanceID, HealthyTimeout)
}

// ResizeVolume grows an instance's volume online as Trove does by default (trove-api.md
// §3.3):
//
//  0. claim task: task RESIZING, the workflow's first step (claim.go); when another
//     operation holds the instance, or the claim window passed, the workflow ends at once
//     and changes nothing.
//  1. read catalog: the volume's ID.
//  2. resize replicas: a primary's replicas must hold all it holds, so each replica whose
//     volume is smaller gets a ResizeVolume of its own (a child workflow that outlives this
//     one and claims the replica's task itself, step 0). A replica that is busy or cannot be
//     started is logged and left alone (the client may resize it); this step never fails.
//  3. extend volume: Cinder's extend to the new size, then wait until Cinder shows it
//     (available or in-use; at most 5 minutes).
//  4. grow filesystem: GrowFilesystem on the guest queue; the guest must then see the new
//     size.
//  5. finish: the new size in the catalog, task NONE: ACTIVE.
//
// A step that fails with an error a retry may mend is parked for an operator. A step that
// fails otherwise, or is aborted, records a fault on the instance (task ERROR).
func ResizeVolume(ctx workflow.Context, in ResizeVolumeInput) error {
	op := operation{name: "resize volume", instanceID: in.InstanceID, projectID: in.ProjectID, task: coffer.TaskResizing, resize: in.Quota, timeouts: in.Timeouts}
	return op.run(ctx, func(t *tracker, p *parking, _ *undo) error {
		id := in.InstanceID
		var r catalog.Resources
		err := p.step(ctx, StepReadCatalog, func() error {
			return workflow.ExecuteActivity(callOptions(ctx), acts.GetInstanceResources, activities.GetInstanceInput{InstanceID: id}).Get(ctx, &r)
		})
		if err != nil {
			return err
		}
		_ = t.step(StepResizeReplicas, func() error {
			resizeReplicaVolumes(ctx, in)
			return nil
		})
		extend := activities.ExtendVolumeInput{Volume: activities.ResourceRef{InstanceID: id, ID: r.VolumeID}, Size: in.NewSize}
		err = p.step(ctx, StepExtendVolume, func() error {
			if err := workflow.ExecuteActivity(callOptions(ctx), acts.ExtendVolume, extend).Get(ctx, nil); err != nil {
				return err
			}
			err := workflow.ExecuteActivity(waitOptions(ctx, VolumeAvailableTimeout), acts.WaitVolumeExtended, extend).Get(ctx, nil)
			return timeoutReason(err, "cinder did not extend volume %s within %s", r.VolumeID, VolumeAvailableTimeout)
		})
		if err != nil {
			return err
		}
		err = p.step(ctx, StepGrowFilesystem, func() error {
			seen, err := guest.For(id).GrowFilesystem(ctx, guest.GrowFilesystemInput{SizeGB: in.NewSize})
			if err != nil {
				return err
			}
			if seen.SizeGB < in.NewSize {
				return temporal.NewApplicationError(fmt.Sprintf("the guest sees a %d GiB volume after growing it to %d GiB", seen.SizeGB, in.NewSize), "VolumeNotGrown")
			}
			return nil
		})
		if err != nil {
			return err
		}
		return p.step(ctx, StepFinish, func() error {
			return workflow.ExecuteActivity(callOptions(ctx), acts.FinishTask,
				activities.FinishTaskInput{InstanceID: id, VolumeSize: in.NewSize}).Get(ctx, nil)
		})
	})
}

// resizeReplicaVolumes starts a ResizeVolume of each of the primary's replicas whose
// volume is smaller than in.NewSize, as Trove does (a replica must hold all its primary
// holds). Each claims its replica's task itself and outlives this workflow; what cannot
// start is logged only: the primary's resize goes on, and the client can resize the replica.
func resizeReplicaVolumes(ctx workflow.Context, in ResizeVolumeInput) {
	log := workflow.GetLogger(ctx)
	var g activities.ReplicationGroup
	err := workflow.ExecuteActivity(callOptions(ctx), acts.GetReplicationGroup, in.InstanceID).Get(ctx, &g)
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.Type() == activities.ErrorTypeNotReplicated {
		return
	}
	if err != nil {
		log.Warn("find the replicas to resize", "instance_id", in.InstanceID, "reason", reason(err))
		return
	}
	if g.Primary.ID != in.InstanceID {
		return // a replica has no replicas of its own
	}
	for _, replica := range g.Replicas {
		if replica.VolumeSize >= in.NewSize {
			continue
		}
		cctx := workflow.WithChildOptions(ctx, childOptions(ResizeWorkflowID(replica.ID), againRefused,
			instanceLabels(replica.ID, "", in.ProjectID, "resize volume", sizeChange(replica.VolumeSize, in.NewSize)+" with its primary "+in.InstanceID)))
		f := workflow.ExecuteChildWorkflow(cctx, ResizeVolume, ResizeVolumeInput{
			InstanceID: replica.ID, ProjectID: in.ProjectID, OldSize: replica.VolumeSize, NewSize: in.NewSize, Timeouts: in.Timeouts,
		})
		if err := f.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
			log.Warn("resize a replica's volume with its primary's", "instance_id", replica.ID, "primary", in.InstanceID, "reason", reason(err))
		}
	}
}

// timeoutReason says what a wait's timeout means.
func timeoutReason(err error, format string, args ...any) error {
	if isTimeout(err, enumspb.TIMEOUT_TYPE_SCHEDULE_TO_CLOSE) || isTimeout(err, enumspb.TIMEOUT_TYPE_START_TO_CLOSE) {
		return because(err, format, args...)
	}
	return err
}
