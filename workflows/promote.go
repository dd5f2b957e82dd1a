package workflows

import (
	"errors"
	"fmt"
	"maps"
	"slices"
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
//  2. stop writes on the primary: StopWrites shuts PostgreSQL down cleanly (its WAL
//     senders send every record, the shutdown checkpoint last, to the replicas before it
//     exits) or turns MariaDB read-only, and answers with the last position it wrote
//     (an LSN, a GTID position). From here on nothing is written anywhere.
//  3. catch up: WaitReplay on the candidate until it has replayed up to that position (at most
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
// It runs on operation.run (replicationOperation).
func PromoteReplica(ctx workflow.Context, in ReplicationInput) error {
	var g activities.ReplicationGroup
	op := replicationOperation(in, "promote", &g, true)
	return op.run(ctx, func(t *tracker, p *parking, _ *undo) error {
		if err := p.step(ctx, StepReadGroup, func() error {
			return workflow.ExecuteActivity(callOptions(ctx), acts.GetReplicationGroup, in.InstanceID).Get(ctx, &g)
		}); err != nil {
			return err
		}
		if g.Primary.ID == in.InstanceID {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("instance %s is the primary of its group already", in.InstanceID), "AlreadyPrimary", nil)
		}
		others := replicasExcept(g, in.InstanceID)

		var last guest.Position
		if err := t.step(StepStopWrites, func() error {
			var err error
			last, err = guest.For(g.Primary.ID).StopWrites(ctx)
			return err
		}); err != nil {
			restartEngine(ctx, g.Primary.ID)
			return err
		}
		if err := t.step(StepCatchUp, func() error {
			// The others catch up meanwhile; one that does not is re-pointed all the same
			// (it streams the rest from the new primary).
			var waits []workflow.Future
			for _, r := range others {
				waits = append(waits, waitReplay(ctx, r.ID, last))
			}
			err := waitReplay(ctx, in.InstanceID, last).Get(ctx, nil)
			for _, w := range waits {
				_ = w.Get(ctx, nil)
			}
			return err
		}); err != nil {
			restartEngine(ctx, g.Primary.ID)
			return err
		}
		if err := p.step(ctx, StepPromote, func() error {
			return guest.For(in.InstanceID).Promote(ctx)
		}); err != nil {
			// The promotion may have happened nonetheless: the old primary stays down
			// rather than risk two primaries; the fault tells the operator.
			return err
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
		return finishRegroup(ctx, t, "promote", catalog.Regroup{Primary: in.InstanceID, Replicas: replicas}, failed)
	})
}

// replicationOperation is the operation of a replication workflow on in.InstanceID: its
// claim is the tasks of the group's members (in.Tasks, claimTasks), and its failure gives
// the other members their tasks back before the fault is recorded on in.InstanceID, so
// that the group is as it was. groupHeld says that the operation holds the whole group
// (promote, eject; a detach holds its replica only): a workflow given no Tasks (one
// started before the workflows claimed, when the API set the tasks) frees the members of
// g, the group as it read it.
func replicationOperation(in ReplicationInput, name string, g *activities.ReplicationGroup, groupHeld bool) operation {
	op := operation{
		name: name, instanceID: in.InstanceID, projectID: in.ProjectID, timeouts: in.Timeouts,
		fault: func(ctx workflow.Context, err error, left []string) error {
			var others []string
			for _, id := range heldBy(in, *g, groupHeld) {
				if id != in.InstanceID {
					others = append(others, id)
				}
			}
			var errs []error
			if len(others) > 0 {
				if eerr := workflow.ExecuteActivity(callOptions(ctx), acts.EndTasks, others).Get(ctx, nil); eerr != nil {
					errs = append(errs, fmt.Errorf("end tasks: %w", eerr))
				}
			}
			if ferr := recordFault(ctx, in.InstanceID, name, err, left); ferr != nil {
				errs = append(errs, ferr)
			}
			return errors.Join(errs...)
		},
	}
	if len(in.Tasks) > 0 {
		op.claim = func(ctx workflow.Context) (bool, error) {
			return claimTasks(ctx, in.InstanceID, in.Tasks, in.Timeouts.Claim)
		}
	}
	return op
}

// heldBy lists the instances whose tasks a replication operation holds: those it claimed
// (in.Tasks), or, for a workflow given no Tasks, the members of g when it holds the whole
// group.
func heldBy(in ReplicationInput, g activities.ReplicationGroup, groupHeld bool) []string {
	switch {
	case len(in.Tasks) > 0:
		return slices.Sorted(maps.Keys(in.Tasks))
	case groupHeld && g.Primary.ID != "":
		return groupIDs(g)
	}
	return nil
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

// waitReplay waits on a replica's guest until it has replayed up to pos.
func waitReplay(ctx workflow.Context, instanceID string, pos guest.Position) workflow.Future {
	g := guest.For(instanceID).With(guest.LongJob(CatchUpTimeout, replayHeartbeatTimeout))
	return async(ctx, func(ctx workflow.Context) (struct{}, error) {
		return struct{}{}, g.WaitReplay(ctx, guest.WaitReplayInput{Position: pos})
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

// finishRegroup records a group's new shape, then the faults of the members that could not
// follow it. It is the operation's outcome whatever happens: a failure comes back settled,
// so that operation.run records no fault of its own over it.
func finishRegroup(ctx workflow.Context, t *tracker, operation string, g catalog.Regroup, failed map[string]error) error {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	if err := t.step(StepRegroup, func() error {
		return workflow.ExecuteActivity(callOptions(dctx), acts.Regroup, g).Get(dctx, nil)
	}); err != nil {
		return settled{err}
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
	if len(errs) > 0 {
		t.failed("some members could not follow the new primary")
		return settled{errors.Join(errs...)}
	}
	return nil
}
