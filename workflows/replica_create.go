package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/coffer-dbaas/coffer/guest"
)

// Step names of a replica's create, after the cloud steps CreateInstance shares with every
// instance.
const (
	StepServeReplica = "serve replica"
	StepSeedReplica  = "seed replica"
)

// slotDropTimeout is how long a primary's guest may take to pick up the drop of a
// replica's slot: best effort, a primary that does not answer keeps the slot.
const slotDropTimeout = 30 * time.Second

// createReplica ends the create of a replica (CreateInstance with ReplicaOf set), once its
// server is ACTIVE:
//
//  1. serve replica: ReplicationSource on the primary's guest, which makes the replication
//     role and the replica's slot (from now on the primary keeps the WAL the replica needs)
//     and answers with its address and the passwords, encrypted by the codec. A failure
//     of the create drops the slot again, so that a dead replica does not hold the
//     primary's WAL forever.
//  2. seed replica: SeedReplica on the replica's guest (instead of Prepare): pg_basebackup
//     from the primary through the slot, then start as its standby. The guest timeouts are
//     those of Prepare.
//  3. mark active.
func createReplica(ctx workflow.Context, in CreateInstanceInput, t *tracker, p *parking, u *undo) error {
	slot := guest.ReplicationSlot(in.InstanceID)
	var src guest.ReplicationSource
	u.add("drop the replica's slot on its primary", func(ctx workflow.Context) error {
		return dropSlot(ctx, in.ReplicaOf, in.InstanceID)
	})
	err := p.step(ctx, StepServeReplica, func() error {
		var err error
		src, err = guest.For(in.ReplicaOf).ReplicationSource(ctx, guest.ReplicationSourceInput{Slot: slot})
		return err
	})
	if err != nil {
		return err
	}

	guestStart := orDefault(in.Timeouts.GuestStart, DefaultGuestStartTimeout)
	guestPrepare := orDefault(in.Timeouts.GuestPrepare, DefaultGuestPrepareTimeout)
	err = p.step(ctx, StepSeedReplica, func() error {
		return guest.For(in.InstanceID).With(guest.Boot(guestStart, guestPrepare)).SeedReplica(ctx, guest.SeedReplicaInput{Source: src})
	})
	if err != nil {
		return err
	}
	return p.step(ctx, StepMarkActive, func() error {
		return workflow.ExecuteActivity(callOptions(ctx), acts.MarkActive, in.InstanceID).Get(ctx, nil)
	})
}

// dropSlot drops the slot of the replica replicaID on its primary's guest.
func dropSlot(ctx workflow.Context, primaryID, replicaID string) error {
	g := guest.For(primaryID).With(guest.Change().PickUpWithin(slotDropTimeout))
	return g.DropReplicationSlot(ctx, guest.ReplicationSlotRef{Slot: guest.ReplicationSlot(replicaID)})
}

// StepDropReplicaSlot is DeleteInstance's step that drops a replica's slot on its primary.
const StepDropReplicaSlot = "drop the slot on the primary"

// forgetReplica drops the slot a deleted replica had on its primary (in.ReplicaOf), once
// its engine has stopped streaming; best effort, like the engine's stop: a primary that
// does not answer within 30 s keeps the slot and its WAL until an operator drops it.
func forgetReplica(ctx workflow.Context, t *tracker, in DeleteInstanceInput) {
	if in.ReplicaOf == "" {
		return
	}
	_ = t.step(StepDropReplicaSlot, func() error {
		if err := dropSlot(ctx, in.ReplicaOf, in.InstanceID); err != nil {
			workflow.GetLogger(ctx).Warn("drop the deleted replica's slot on its primary", "instance_id", in.InstanceID,
				"primary", in.ReplicaOf, "reason", reason(err))
		}
		return nil
	})
}
