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
	StepEndCreate           = "end create"
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
//     and changes nothing. An instance still being built (task BUILDING) is taken over
//     from its create, when the create still runs but the instance shows ERROR (a BUILD one is refused by the API, as Trove).
//     end create: a create that still runs (in BUILD, or in ERROR while it waits for a
//     server that will never come up) is told that a delete took its instance over, then
//     canceled; it undoes what it made, records no fault (the instance is the delete's)
//     and signals the delete when it has ended. The delete waits for that (at most
//     CreateEndTimeout), so that nothing the create was making appears after the delete
//     looked, then goes on with what the create left; stop engine is skipped, since no
//     engine was prepared.
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
	createRan := false
	if workflow.GetVersion(ctx, DeleteEndsCreateChange, workflow.DefaultVersion, 1) == 1 {
		createRan = endCreate(ctx, t, id)
	}
	var r catalog.Resources
	err := p.step(ctx, StepReadCatalog, func() error {
		return workflow.ExecuteActivity(callOptions(ctx), acts.GetInstanceResources,
			activities.GetInstanceInput{InstanceID: id, ProjectID: in.ProjectID}).Get(ctx, &r)
	})
	if err != nil {
		return err
	}

	_ = t.step(StepStopEngine, func() error {
		if createRan {
			// The create never got as far as a prepared engine; its server goes anyway.
			return nil
		}
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

// DeleteEndsCreateChange is the workflow.GetVersion change ID of a delete that ends its
// instance's running create (and of the create that answers it).
const DeleteEndsCreateChange = "delete ends a running create"

// CreateEndTimeout bounds how long a delete waits for the create it canceled to undo what
// it made: its cleanup waits for Nova and Cinder (DeleteWaitTimeout each at most). Past
// it the delete goes on; what the create still makes is found by name by a later delete.
const CreateEndTimeout = 3 * DeleteWaitTimeout

// Signals between a delete and the create it ends.
const (
	// CreateSupersededSignal tells a running create that a delete took its instance over:
	// the cancellation that follows ends it without a fault of its own.
	CreateSupersededSignal = "superseded by delete"
	// CreateEndedSignal tells that delete that the create has undone what it made.
	CreateEndedSignal = "create ended"
)

// endCreate ends the instance's create if it still runs (see DeleteInstance, step "end
// create") and reports whether it did.
func endCreate(ctx workflow.Context, t *tracker, id string) bool {
	createID := CreateWorkflowID(id)
	// The notice goes first, so that the create finds it when the cancellation reaches it.
	// A create that no longer runs cannot take it: there is nothing to end.
	if err := workflow.SignalExternalWorkflow(ctx, createID, "", CreateSupersededSignal, DeleteWorkflowID(id)).Get(ctx, nil); err != nil {
		return false
	}
	_ = t.step(StepEndCreate, func() error {
		log := workflow.GetLogger(ctx)
		log.Info("a create still runs: ending it before deleting", "instance_id", id, "create_workflow_id", createID)
		ended := workflow.GetSignalChannel(ctx, CreateEndedSignal)
		if err := workflow.RequestCancelExternalWorkflow(ctx, createID, "").Get(ctx, nil); err != nil {
			// It ended meanwhile; having taken the notice, it still signals that it has.
			log.Warn("cancel the create", "instance_id", id, "error", err)
		}
		tctx, stopTimer := workflow.WithCancel(ctx)
		defer stopTimer()
		timedOut := false
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(ended, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil) })
		sel.AddFuture(workflow.NewTimer(tctx, CreateEndTimeout), func(workflow.Future) { timedOut = true })
		sel.Select(ctx)
		if timedOut {
			log.Warn("the canceled create did not end in time; deleting what is there", "instance_id", id, "waited", CreateEndTimeout)
		}
		return nil
	})
	return true
}
