package workflows

import (
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/coffer-dbaas/coffer/guestagent"
)

// Step names of a replica's create, after the cloud steps CreateInstance shares with every
// instance.
const (
	StepServeReplica = "serve replica"
	StepSeedReplica  = "seed replica"
)

// ReplicationCallTimeout bounds one replication call to a guest that runs (a slot, a
// promotion, a re-point with pg_rewind).
const ReplicationCallTimeout = 5 * time.Minute

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
	slot := guestagent.ReplicationSlot(in.InstanceID)
	var src guestagent.ReplicationSource
	u.add("drop the replica's slot on its primary", func(ctx workflow.Context) error {
		return guestCall(ctx, in.ReplicaOf, 30*time.Second, guestagent.DropReplicationSlotActivity, nil,
			guestagent.ReplicationSlotRef{Slot: slot})
	})
	err := p.step(ctx, StepServeReplica, func() error {
		return replicationCall(ctx, in.ReplicaOf, guestagent.ReplicationSourceActivity, &src, guestagent.ReplicationSourceInput{Slot: slot})
	})
	if err != nil {
		return err
	}

	guestStart := orDefault(in.Timeouts.GuestStart, DefaultGuestStartTimeout)
	guestPrepare := orDefault(in.Timeouts.GuestPrepare, DefaultGuestPrepareTimeout)
	err = p.step(ctx, StepSeedReplica, func() error {
		gctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			TaskQueue:              GuestTaskQueue(in.InstanceID),
			ScheduleToStartTimeout: guestStart,
			StartToCloseTimeout:    guestPrepare,
			RetryPolicy: &temporal.RetryPolicy{
				InitialInterval: 5 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 3,
				NonRetryableErrorTypes: []string{guestagent.ErrorTypeInvalid},
			},
		})
		err := workflow.ExecuteActivity(gctx, guestagent.SeedReplicaActivity, guestagent.SeedReplicaInput{Source: src}).Get(ctx, nil)
		switch {
		case isTimeout(err, enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START):
			return because(err, "the guest agent did not start polling %s within %s", GuestTaskQueue(in.InstanceID), guestStart)
		case isTimeout(err, enumspb.TIMEOUT_TYPE_START_TO_CLOSE):
			return because(err, "the guest agent did not finish seeding the replica within %s", guestPrepare)
		}
		return err
	})
	if err != nil {
		return err
	}
	return p.step(ctx, StepMarkActive, func() error {
		return workflow.ExecuteActivity(callOptions(ctx), acts.MarkActive, in.InstanceID).Get(ctx, nil)
	})
}

// replicationCall runs a replication activity on a running guest: a minute to pick it up,
// ReplicationCallTimeout to finish, three attempts (each is idempotent).
func replicationCall(ctx workflow.Context, instanceID, activity string, result any, args ...any) error {
	gctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:              GuestTaskQueue(instanceID),
		ScheduleToStartTimeout: GuestCallScheduleTimeout,
		StartToCloseTimeout:    ReplicationCallTimeout,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Second, MaximumAttempts: 3,
			NonRetryableErrorTypes: []string{guestagent.ErrorTypeInvalid},
		},
	})
	err := workflow.ExecuteActivity(gctx, activity, args...).Get(ctx, result)
	switch {
	case isTimeout(err, enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START):
		return because(err, "the guest agent of instance %s did not pick up %s within %s", instanceID, activity, GuestCallScheduleTimeout)
	case isTimeout(err, enumspb.TIMEOUT_TYPE_START_TO_CLOSE):
		return because(err, "the guest agent of instance %s did not finish %s within %s", instanceID, activity, ReplicationCallTimeout)
	}
	return err
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
		err := guestCall(ctx, in.ReplicaOf, 30*time.Second, guestagent.DropReplicationSlotActivity, nil,
			guestagent.ReplicationSlotRef{Slot: guestagent.ReplicationSlot(in.InstanceID)})
		if err != nil {
			workflow.GetLogger(ctx).Warn("drop the deleted replica's slot on its primary", "instance_id", in.InstanceID,
				"primary", in.ReplicaOf, "reason", reason(err))
		}
		return nil
	})
}
