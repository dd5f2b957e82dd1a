package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/activities"
	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/guest"
)

// Step names of RebuildInstance.
const (
	StepReadImage      = "read image"
	StepRebuildServer  = "rebuild server"
	StepWaitRebuilt    = "wait for rebuilt server"
	StepRollBackServer = "roll back to the old image"
)

// RebuildTimeout bounds Nova's rebuild of a server.
const RebuildTimeout = 15 * time.Minute

// RebuildInstance moves an instance's server onto another image while its data volume
// stays: a tenant's datastore upgrade (Trove's PATCH datastore_version, onto the new
// version's image) or an admin's rebuild (Trove's mgmt rebuild, onto a given image, the
// version kept):
//
//  0. claim task: task UPGRADING or REBUILDING (claim.go); when another operation holds the
//     instance the workflow ends at once and changes nothing.
//  1. read catalog: the server's and volume's IDs.
//  2. read image: the image the server runs now, to come back to.
//  3. stop engine: StopEngine, so that the engine is down cleanly before its root disk goes.
//  4. rebuild server: Nova's rebuild on the new image with fresh user_data (the guest's
//     identity renewed), keeping the attached volume.
//  5. wait for rebuilt server: until Nova shows it ACTIVE (at most 15 minutes).
//  6. start engine: the agent of the new image starts the engine on the volume's data;
//     StartEngine, then Health until HEALTHY.
//  7. finish: the new version in the catalog (an upgrade), task NONE: ACTIVE.
//
// A failure of steps 4 to 6 rolls back: the server is rebuilt on its old image (with the
// old version in its user_data), waited for and its engine started, and the instance ends
// ACTIVE on it with its data and the failure as its fault. Steps 1 to 3 are parked for an
// operator when a retry may mend them. A rollback that fails records a fault (task ERROR).
func RebuildInstance(ctx workflow.Context, in RebuildInstanceInput) error {
	op := operation{name: "rebuild", instanceID: in.InstanceID, projectID: in.ProjectID, task: coffer.TaskRebuilding, timeouts: in.Timeouts}
	if in.Upgrade {
		op.name, op.task = "upgrade", coffer.TaskUpgrading
	}
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
		var oldImage string
		err = p.step(ctx, StepReadImage, func() error {
			return workflow.ExecuteActivity(callOptions(ctx), acts.ServerImage, server).Get(ctx, &oldImage)
		})
		if err != nil {
			return err
		}
		err = p.step(ctx, StepStopEngine, func() error {
			return guest.For(id).StopEngine(ctx)
		})
		if err != nil {
			return err
		}

		err = rebuildOnto(ctx, t, StepRebuildServer, in, r, in.ImageID, in.Version)
		if err != nil {
			if temporal.IsCanceledError(err) {
				return err
			}
			return rollBackRebuild(ctx, t, op.name, in, r, oldImage, err)
		}
		end := activities.FinishTaskInput{InstanceID: id}
		if in.Upgrade {
			end.Version = in.Version
		}
		return t.step(StepFinish, func() error {
			return workflow.ExecuteActivity(callOptions(ctx), acts.FinishTask, end).Get(ctx, nil)
		})
	})
}

// rebuildOnto rebuilds the server on the image with the version in its user_data, waits
// for it, and starts the engine.
func rebuildOnto(ctx workflow.Context, t *tracker, step string, in RebuildInstanceInput, r catalog.Resources, imageID, version string) error {
	server := activities.ResourceRef{InstanceID: in.InstanceID, ID: r.ServerID}
	err := t.step(step, func() error {
		return workflow.ExecuteActivity(callOptions(ctx), acts.RebuildServer, activities.RebuildServerInput{
			InstanceID: in.InstanceID, ServerID: r.ServerID, ImageID: imageID,
			Datastore: in.Datastore, Version: version, VolumeID: r.VolumeID,
		}).Get(ctx, nil)
	})
	if err == nil {
		err = t.step(StepWaitRebuilt, func() error {
			err := workflow.ExecuteActivity(waitOptions(ctx, RebuildTimeout), acts.WaitServerStatus,
				activities.WaitServerStatusInput{Server: server, Status: "ACTIVE"}).Get(ctx, nil)
			return timeoutReason(err, "nova did not rebuild server %s within %s", server.ID, RebuildTimeout)
		})
	}
	if err == nil {
		err = t.step(StepStartEngine, func() error { return startEngine(ctx, in.InstanceID, in.Timeouts) })
	}
	return err
}

// rollBackRebuild brings the server back to its old image after cause failed the rebuild,
// and ends the task with cause as the fault; an error comes back only when the rollback
// itself failed.
func rollBackRebuild(ctx workflow.Context, t *tracker, name string, in RebuildInstanceInput, r catalog.Resources, oldImage string, cause error) error {
	id := in.InstanceID
	workflow.GetLogger(ctx).Warn(name+" failed; rebuilding on the old image", "instance_id", id, "image_id", oldImage, "error", cause)
	t.failed(faultMessage(name, cause))
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	if err := rebuildOnto(dctx, t, StepRollBackServer, in, r, oldImage, in.OldVersion); err != nil {
		return fmt.Errorf("roll back to image %s: %w (the %s failed: %w)", oldImage, err, name, cause)
	}
	message := fmt.Sprintf("%s; the instance runs on its old image again, with its data", faultMessage(name, cause))
	return t.step(StepFinish, func() error {
		return workflow.ExecuteActivity(callOptions(dctx), acts.FinishTask, activities.FinishTaskInput{
			InstanceID: id, FaultMessage: message, FaultDetails: cause.Error(),
		}).Get(dctx, nil)
	})
}
