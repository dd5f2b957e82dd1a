package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/activities"
	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/guest"
)

// Step names of DeleteInstance, as the progress query and fault messages show them.
const (
	StepReadCatalog         = "read catalog"
	StepStopEngine          = "stop engine"
	StepRevokeGuest         = "revoke guest"
	StepDeleteServer        = "delete server"
	StepDeleteVolume        = "delete volume"
	StepDeletePort          = "delete port"
	StepDeleteSecurityGroup = "delete security group"
	StepDeleteRecord        = "delete record"
)

// DeleteInstance deletes an instance (also one in ERROR). Its steps:
//
//  0. claim task: task DELETING, the workflow's first step (claim.go); when another
//     operation holds the instance, or the claim window passed, the workflow ends at once
//     and changes nothing.
//  1. read catalog: the IDs of the instance's server, volume, port and security group. A
//     piece without a recorded ID (or an instance the catalog lost) is found by its name,
//     coffer-<id>.
//  2. stop engine: StopEngine on the guest queue, so the engine shuts down cleanly. The
//     guest gets 30 seconds to pick it up and two attempts; a dead guest, or a failure, is
//     logged and the delete goes on.
//  3. revoke guest: the guest gateway refuses the guest's credential from now on (after
//     its cache of gateway.credential_cache_ttl), so a hostile guest is cut off before its
//     server is gone. It comes after stop engine, the last call the guest gets, so that
//     the engine is not left waiting for a call its agent can no longer pick up.
//  4. delete server, and wait until Nova no longer has it (at most 5 minutes).
//  5. delete volume once the server's delete has detached it, and wait until it is gone.
//  6. delete port.
//  7. delete security group.
//  8. delete record: the instance leaves the catalog.
//
// A piece already gone counts as deleted. Cloud calls are retried with backoff a few times;
// a step whose retries are used up by errors a later retry may mend is parked for an
// operator (see parking: retry, skip, abort, and an abort by itself after Timeouts.Park).
// A step that fails otherwise, or is aborted, records a fault on the instance ("<step> failed: <why>"), which
// sets task ERROR so that the delete can be asked for again, and fails the workflow; the
// pieces left keep their IDs in the catalog.
func DeleteInstance(ctx workflow.Context, in DeleteInstanceInput) error {
	op := operation{name: "delete", instanceID: in.InstanceID, projectID: in.ProjectID, task: coffer.TaskDeleting, timeouts: in.Timeouts}
	return op.run(ctx, func(t *tracker, p *parking, _ *undo) error {
		return deleteInstance(ctx, in, t, p)
	})
}

func deleteInstance(ctx workflow.Context, in DeleteInstanceInput, t *tracker, p *parking) error {
	id := in.InstanceID
	var r catalog.Resources
	err := p.step(ctx, StepReadCatalog, func() error {
		return workflow.ExecuteActivity(callOptions(ctx), acts.GetInstanceResources,
			activities.GetInstanceInput{InstanceID: id, ProjectID: in.ProjectID}).Get(ctx, &r)
	})
	if err != nil {
		return err
	}

	_ = t.step(StepStopEngine, func() error {
		g := guest.For(id).With(guest.Change().PickUpWithin(StopEngineScheduleTimeout).FinishWithin(2 * time.Minute).Tries(2))
		if err := g.StopEngine(ctx); err != nil {
			// The server goes anyway; a clean stop is a courtesy to the engine.
			workflow.GetLogger(ctx).Warn("the guest agent did not stop the engine; deleting anyway",
				"instance_id", id, "reason", reason(err))
		}
		return nil
	})
	forgetReplica(ctx, t, in)
	err = p.step(ctx, StepRevokeGuest, func() error {
		return workflow.ExecuteActivity(callOptions(ctx), acts.RevokeGuestIdentity, id).Get(ctx, nil)
	})
	if err != nil {
		return err
	}

	steps := []struct {
		name string
		fn   func(workflow.Context, activities.ResourceRef) error
		id   string
	}{
		{StepDeleteServer, deleteServer, r.ServerID},
		{StepDeleteVolume, deleteVolume, r.VolumeID},
		{StepDeletePort, deletePort, r.PortID},
		{StepDeleteSecurityGroup, deleteSecurityGroup, r.SecurityGroupID},
	}
	for _, s := range steps {
		ref := activities.ResourceRef{InstanceID: id, ID: s.id}
		if err := p.step(ctx, s.name, func() error { return s.fn(ctx, ref) }); err != nil {
			return err
		}
	}
	return p.step(ctx, StepDeleteRecord, func() error {
		return workflow.ExecuteActivity(callOptions(ctx), acts.DeleteInstanceRecord, id).Get(ctx, nil)
	})
}
