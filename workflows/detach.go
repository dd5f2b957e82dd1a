package workflows

import (
	"fmt"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/coffer-dbaas/coffer/activities"
	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/guest"
)

// StepDropSlot is DetachReplica's step that drops the replica's slot on its primary.
const StepDropSlot = "drop the slot on the primary"

// DetachReplica makes the replica in.InstanceID a standalone instance (Trove's PUT
// {"instance": {"replica_of": null}}). It claims task DETACHING on it as its first step (claimTasks). Steps:
//
//  1. read replication group.
//  2. promote: the replica stops streaming and opens for writes with the data it has.
//  3. drop the slot on the primary, so that the primary stops keeping WAL for it (best
//     effort: a primary that does not answer within 30 s keeps the slot, which a later
//     create or delete finds).
//  4. record the new group: the instance streams from no one, task NONE.
//
// Steps 1 and 2 are parked for an operator when a retry may mend them (retry, skip, abort;
// see parking). A failure of the promotion records the fault on the replica (task ERROR)
// and changes nothing else. It runs on operation.run (replicationOperation).
func DetachReplica(ctx workflow.Context, in ReplicationInput) error {
	var g activities.ReplicationGroup
	op := replicationOperation(in, "detach", &g, false)
	return op.run(ctx, func(t *tracker, p *parking, _ *undo) error {
		if err := p.step(ctx, StepReadGroup, func() error {
			return workflow.ExecuteActivity(callOptions(ctx), acts.GetReplicationGroup, in.InstanceID).Get(ctx, &g)
		}); err != nil {
			return err
		}
		if g.Primary.ID == in.InstanceID {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("instance %s is a primary, not a replica", in.InstanceID), "NotReplica", nil)
		}
		if err := p.step(ctx, StepPromote, func() error {
			return guest.For(in.InstanceID).Promote(ctx)
		}); err != nil {
			return err
		}
		_ = t.step(StepDropSlot, func() error {
			if err := dropSlot(ctx, g.Primary.ID, in.InstanceID); err != nil {
				workflow.GetLogger(ctx).Warn("drop the detached replica's slot", "instance_id", in.InstanceID, "primary", g.Primary.ID, "error", err)
			}
			return nil
		})
		return finishRegroup(ctx, t, "detach", catalog.Regroup{Primary: in.InstanceID}, nil)
	})
}
