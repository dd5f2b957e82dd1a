package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/coffer-dbaas/coffer/activities"
	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/guest"
)

// Step names of the replication workflows.
const (
	StepReadGroup        = "read replication group"
	StepStopWrites       = "stop writes on the primary"
	StepCatchUp          = "catch up"
	StepPromote          = "promote"
	StepRepointReplicas  = "re-point replicas"
	StepRejoinOldPrimary = "rejoin old primary"
	StepRegroup          = "record the new group"
)

// CatchUpTimeout bounds the wait for the candidate to replay the old primary's last record.
const CatchUpTimeout = 2 * time.Minute

// PromoteReplica is a planned switchover (Trove's promote_to_replica_source): the replica
// in.InstanceID becomes its group's primary and no committed transaction is lost. It claims
// task PROMOTING on every member of the group as its first step (claimTasks). Steps:
//
//  1. read replication group: the primary and the replicas, from the catalog.
//  2. stop writes on the primary: StopWrites shuts it down cleanly; its WAL senders send
//     every record (the shutdown checkpoint last) to the replicas before it exits, and it
//     answers with that last LSN. From here on nothing is written anywhere.
//  3. catch up: WaitReplay on the candidate until it has replayed past that LSN (at most
//     CatchUpTimeout); the other replicas are waited for too, at most as long.
//  4. promote: Promote on the candidate (pg_promote): it opens for writes on a new timeline.
//  5. re-point replicas: each other replica gets a slot on the new primary
//     (ReplicationSource) and Follows it.
//  6. rejoin old primary: a slot for it, then Follow: pg_rewind onto the new primary (a
//     no-op after a clean switchover) and start as its standby.
//  7. record the new group: the candidate is the primary, the others its replicas, tasks
//     NONE.
//
// Steps 1 and 4 are parked for an operator when a retry may mend them (retry, skip, abort;
// see parking); steps 2 and 3 are not, since the primary takes no writes meanwhile. A
// failure before the promotion starts the old primary again (StartEngine), records the
// fault on the candidate and ends the other tasks: the group is as it was. After the
// promotion the new group is recorded whatever happens; a replica or the old primary that
// could not follow gets the fault (task ERROR) and can be mended by a detach or a delete.
func PromoteReplica(ctx workflow.Context, in ReplicationInput) error {
	t, p, claimed, err := startReplicationWorkflow(ctx, in, "promote")
	if err != nil || !claimed {
		return err
	}
	var g activities.ReplicationGroup
	if err := p.step(ctx, StepReadGroup, func() error {
		return workflow.ExecuteActivity(callOptions(ctx), acts.GetReplicationGroup, in.InstanceID).Get(ctx, &g)
	}); err != nil {
		return failReplication(ctx, t, in, "promote", nil, err)
	}
	members := groupIDs(g)
	if g.Primary.ID == in.InstanceID {
		err := temporal.NewNonRetryableApplicationError(fmt.Sprintf("instance %s is the primary of its group already", in.InstanceID), "AlreadyPrimary", nil)
		return failReplication(ctx, t, in, "promote", members, err)
	}
	others := replicasExcept(g, in.InstanceID)

	var lsn guest.LSN
	if err := t.step(StepStopWrites, func() error {
		var err error
		lsn, err = guest.For(g.Primary.ID).StopWrites(ctx)
		return err
	}); err != nil {
		restartEngine(ctx, g.Primary.ID)
		return failReplication(ctx, t, in, "promote", members, err)
	}
	if err := t.step(StepCatchUp, func() error {
		// The others catch up meanwhile; one that does not is re-pointed all the same (it
		// streams the rest from the new primary).
		var waits []workflow.Future
		for _, r := range others {
			waits = append(waits, waitReplay(ctx, r.ID, lsn))
		}
		err := waitReplay(ctx, in.InstanceID, lsn).Get(ctx, nil)
		for _, w := range waits {
			_ = w.Get(ctx, nil)
		}
		return err
	}); err != nil {
		restartEngine(ctx, g.Primary.ID)
		return failReplication(ctx, t, in, "promote", members, err)
	}
	if err := p.step(ctx, StepPromote, func() error {
		return guest.For(in.InstanceID).Promote(ctx)
	}); err != nil {
		// The promotion may have happened nonetheless: the old primary stays down rather
		// than risk two primaries; the fault tells the operator.
		return failReplication(ctx, t, in, "promote", members, err)
	}

	// From here on the candidate is the primary: record it whatever else fails.
	failed := map[string]error{}
	_ = t.step(StepRepointReplicas, func() error {
		for _, r := range others {
			if err := follow(ctx, in.InstanceID, r.ID); err != nil {
				failed[r.ID] = err
			}
		}
		return nil
	})
	_ = t.step(StepRejoinOldPrimary, func() error {
		if err := follow(ctx, in.InstanceID, g.Primary.ID); err != nil {
			failed[g.Primary.ID] = err
		}
		return nil
	})
	replicas := []string{g.Primary.ID}
	for _, r := range others {
		replicas = append(replicas, r.ID)
	}
	return finishRegroup(ctx, t, in, "promote", catalog.Regroup{Primary: in.InstanceID, Replicas: replicas}, failed)
}

// startReplicationWorkflow sets the search attributes, the progress query and the parking
// of the steps that may wait for an operator, and claims the group's tasks (in.Tasks) as
// its first step, as operation.run does for the operations on one instance. It reports
// false when the workflow must end without touching the group: another operation holds a
// member (the error is nil then), or the claim failed.
func startReplicationWorkflow(ctx workflow.Context, in ReplicationInput, operation string) (*tracker, *parking, bool, error) {
	if err := setSearchAttributes(ctx, in.InstanceID, in.ProjectID, operation); err != nil {
		return nil, nil, false, err
	}
	t, err := track(ctx, operation)
	if err != nil {
		return nil, nil, false, fmt.Errorf("%s instance %s: %w", operation, in.InstanceID, err)
	}
	if len(in.Tasks) > 0 {
		var claimed bool
		t.during(StepClaimTask, func() { claimed, err = claimTasks(ctx, in.InstanceID, in.Tasks, in.Timeouts.Claim) })
		t.idle()
		if err != nil {
			// Nothing was claimed: the group is not this workflow's to record a fault on.
			t.failed(faultMessage(operation, err))
			return nil, nil, false, fmt.Errorf("%s instance %s: %w", operation, in.InstanceID, err)
		}
		if !claimed {
			return nil, nil, false, nil
		}
	}
	return t, newParking(ctx, t, operation, in.InstanceID, in.Timeouts.Park), true, nil
}

// groupIDs lists every member of a group.
func groupIDs(g activities.ReplicationGroup) []string {
	ids := []string{g.Primary.ID}
	for _, r := range g.Replicas {
		ids = append(ids, r.ID)
	}
	return ids
}

// replicasExcept lists the group's replicas but id.
func replicasExcept(g activities.ReplicationGroup, id string) []activities.GroupMember {
	var out []activities.GroupMember
	for _, r := range g.Replicas {
		if r.ID != id {
			out = append(out, r)
		}
	}
	return out
}

// replayHeartbeatTimeout is how long a replica's guest may go silent while it waits to
// replay (it heartbeats every 2 s).
const replayHeartbeatTimeout = 15 * time.Second

// waitReplay waits on a replica's guest until it has replayed past lsn.
func waitReplay(ctx workflow.Context, instanceID string, lsn guest.LSN) workflow.Future {
	g := guest.For(instanceID).With(guest.LongJob(CatchUpTimeout, replayHeartbeatTimeout))
	return async(ctx, func(ctx workflow.Context) (struct{}, error) {
		return struct{}{}, g.WaitReplay(ctx, guest.WaitReplayInput{LSN: lsn})
	})
}

// follow makes instanceID a replica of primaryID: a slot on the primary, then Follow.
func follow(ctx workflow.Context, primaryID, instanceID string) error {
	src, err := guest.For(primaryID).ReplicationSource(ctx, guest.ReplicationSourceInput{Slot: guest.ReplicationSlot(instanceID)})
	if err != nil {
		return fmt.Errorf("make a slot for %s on %s: %w", instanceID, primaryID, err)
	}
	if err := guest.For(instanceID).Follow(ctx, guest.FollowInput{Source: src}); err != nil {
		return fmt.Errorf("follow %s: %w", primaryID, err)
	}
	return nil
}

// restartEngine starts an engine again after a switchover that did not happen; a failure
// is only logged (the health monitor shows the engine down).
func restartEngine(ctx workflow.Context, instanceID string) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	if err := guest.For(instanceID).StartEngine(dctx); err != nil {
		workflow.GetLogger(ctx).Error("start the old primary again", "instance_id", instanceID, "error", err)
	}
}

// failReplication ends a replication workflow that changed nothing: the fault on the
// instance it was asked for, the other members' tasks back to NONE.
func failReplication(ctx workflow.Context, t *tracker, in ReplicationInput, operation string, members []string, err error) error {
	log := workflow.GetLogger(ctx)
	log.Error(operation+" failed", "instance_id", in.InstanceID, "error", err)
	t.failed(faultMessage(operation, err))
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	var others []string
	for _, id := range members {
		if id != in.InstanceID {
			others = append(others, id)
		}
	}
	if eerr := workflow.ExecuteActivity(callOptions(dctx), acts.EndTasks, others).Get(dctx, nil); eerr != nil {
		err = errors.Join(err, fmt.Errorf("end tasks: %w", eerr))
	}
	if ferr := recordFault(dctx, in.InstanceID, operation, err, nil); ferr != nil {
		err = errors.Join(err, fmt.Errorf("record fault: %w", ferr))
	}
	t.idle()
	return fmt.Errorf("%s instance %s: %w", operation, in.InstanceID, err)
}

// finishRegroup records a group's new shape, then the faults of the members that could not
// follow it.
func finishRegroup(ctx workflow.Context, t *tracker, in ReplicationInput, operation string, g catalog.Regroup, failed map[string]error) error {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	if err := t.step(StepRegroup, func() error {
		return workflow.ExecuteActivity(callOptions(dctx), acts.Regroup, g).Get(dctx, nil)
	}); err != nil {
		return fmt.Errorf("%s instance %s: %w", operation, in.InstanceID, err)
	}
	var errs []error
	for _, id := range append([]string{g.Primary}, append(g.Replicas, g.Ejected...)...) {
		err, ok := failed[id]
		if !ok {
			continue
		}
		errs = append(errs, fmt.Errorf("instance %s: %w", id, err))
		if ferr := recordFault(dctx, id, operation, err, nil); ferr != nil {
			errs = append(errs, ferr)
		}
	}
	t.idle()
	if len(errs) > 0 {
		t.failed("some members could not follow the new primary")
		return fmt.Errorf("%s instance %s: %w", operation, in.InstanceID, errors.Join(errs...))
	}
	return nil
}
