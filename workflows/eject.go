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

// Step names of EjectReplicaSource.
const (
	StepCheckPrimary = "check the primary is dead"
	StepPickReplica  = "pick the most advanced replica"
	StepIsolate      = "isolate the old primary"
	StepStartFence   = "fence the old primary's guest"
)

// Bounds of a failover.
const (
	// PrimaryProbeTimeout is how long the primary's guest may take to pick up and answer a
	// health probe before it counts as dead. A live agent always has a poller waiting, so
	// it picks a task up in milliseconds; the bound is most of a failover's downtime.
	PrimaryProbeTimeout = 3 * time.Second
	// ReplicaProbeTimeout is how long a replica's guest may take to report its position.
	ReplicaProbeTimeout = 20 * time.Second
	// FenceWait is how long a fence waits for an ejected primary's guest to come back.
	FenceWait = 30 * 24 * time.Hour
	// IsolateTimeout bounds the stop of the old primary's server and its volume's detach.
	IsolateTimeout = 3 * time.Minute
)

// EjectReplicaSource is a failover (Trove's eject_replica_source): the primary
// in.InstanceID does not answer, and its most advanced replica takes its place. It claims
// task EJECTING on every member of the group as its first step (claimTasks). Steps:
//
//  1. read replication group.
//  2. check the primary is dead: a health probe its guest must pick up within
//     PrimaryProbeTimeout. A primary whose engine answers HEALTHY is not ejected (that is
//     a switchover's job): the workflow fails and the group is left as it was.
//  3. isolate the old primary before anything is promoted (fence, then promote): its
//     server is stopped and its volume detached (IsolateServer), so that it cannot come
//     back as a second primary: started again, it boots with no database. When the cloud
//     refuses, the failover goes on and step 8 fences its guest instead.
//  4. pick the most advanced replica: ReplicationStatus on each replica (ReplicaProbeTimeout);
//     the one that received the most WAL wins. Replicas that do not answer are left out.
//  5. promote it: it replays everything it received, then opens for writes.
//  6. re-point replicas: the others follow it (they received no more than it did, so none
//     has diverged).
//  7. record the new group: the promoted replica is the primary, the others its replicas;
//     the old primary leaves the group, fenced, in ERROR with a fault that says why.
//  8. only when step 3 failed: FenceInstance (instance/<id>/fence) starts and outlives this
//     workflow: it waits up to FenceWait for the old primary's guest to come back, and
//     makes its engine a read-only standby of no one for good.
//
// Steps 1 and 5 are parked for an operator when a retry may mend them (retry, skip, abort;
// see parking). A failure before the promotion ends every task and records the fault on
// the primary; a replica that cannot follow after it gets the fault. It runs on
// operation.run (replicationOperation).
func EjectReplicaSource(ctx workflow.Context, in ReplicationInput) error {
	var g activities.ReplicationGroup
	op := replicationOperation(in, "eject", &g, true)
	return op.run(ctx, func(t *tracker, p *parking, _ *undo) error {
		if err := p.step(ctx, StepReadGroup, func() error {
			return workflow.ExecuteActivity(callOptions(ctx), acts.GetReplicationGroup, in.InstanceID).Get(ctx, &g)
		}); err != nil {
			return err
		}
		if g.Primary.ID != in.InstanceID {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("instance %s is a replica, not its group's primary", in.InstanceID), "NotPrimary", nil)
		}

		if err := t.step(StepCheckPrimary, func() error { return primaryDead(ctx, in.InstanceID) }); err != nil {
			return settled{refuseEject(ctx, t, in, heldBy(in, g, true), err)}
		}

		isolated := t.step(StepIsolate, func() error {
			return workflow.ExecuteActivity(waitOptions(ctx, IsolateTimeout), acts.IsolateServer, in.InstanceID).Get(ctx, nil)
		}) == nil

		var best activities.GroupMember
		if err := t.step(StepPickReplica, func() error {
			var err error
			best, err = mostAdvanced(ctx, g.Replicas)
			return err
		}); err != nil {
			return err
		}
		if err := p.step(ctx, StepPromote, func() error {
			return guest.For(best.ID).Promote(ctx)
		}); err != nil {
			return err
		}

		failed := map[string]error{}
		others := replicasExcept(g, best.ID)
		_ = t.step(StepRepointReplicas, func() error {
			for _, r := range others {
				if err := follow(ctx, best.ID, r.ID); err != nil {
					failed[r.ID] = err
				}
			}
			return nil
		})
		var replicas []string
		for _, r := range others {
			replicas = append(replicas, r.ID)
		}
		regroup := catalog.Regroup{
			Primary: best.ID, Replicas: replicas, Ejected: []string{in.InstanceID},
			EjectedFault: coffer.Fault{
				Message: fmt.Sprintf("Ejected from its replication group: the primary did not answer, and replica %s was promoted in its place. It is fenced and never accepts writes again; delete the instance.", best.ID),
				Created: workflow.Now(ctx),
			},
		}
		err := finishRegroup(ctx, t, "eject", regroup, failed)
		if isolated {
			return err
		}

		// A fence that cannot start is logged only: the failover is done.
		_ = t.step(StepStartFence, func() error {
			cctx := workflow.WithChildOptions(ctx, childOptions(FenceWorkflowID(in.InstanceID), againJoined,
				instanceLabels(in.InstanceID, in.InstanceName, in.ProjectID, "fence", "(the ejected primary)")))
			f := workflow.ExecuteChildWorkflow(cctx, FenceInstance, ReplicationInput{InstanceID: in.InstanceID, ProjectID: in.ProjectID, Timeouts: in.Timeouts})
			ferr := f.GetChildWorkflowExecution().Get(ctx, nil)
			if ferr != nil {
				workflow.GetLogger(ctx).Error("start the fence of the old primary", "instance_id", in.InstanceID, "error", ferr)
			}
			return ferr
		})
		return err
	})
}

// refuseEject ends an eject of a primary that is alive: every member's task goes back to
// NONE, and the primary shows why (a fault noted without ERROR: it is healthy). It returns
// the eject's error, which the caller returns settled.
func refuseEject(ctx workflow.Context, t *tracker, in ReplicationInput, members []string, err error) error {
	t.failed(faultMessage("eject", err))
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	if eerr := workflow.ExecuteActivity(callOptions(dctx), acts.EndTasks, members).Get(dctx, nil); eerr != nil {
		return fmt.Errorf("%w; end tasks: %w", err, eerr)
	}
	_ = workflow.ExecuteActivity(callOptions(dctx), acts.NoteFault, activities.NoteFaultInput{
		InstanceID: in.InstanceID, Message: "Not ejected: " + reason(err), Details: err.Error(),
	}).Get(dctx, nil)
	return err
}

// primaryDead fails unless the primary's guest does not pick up a health probe in time, or
// answers that its engine is not healthy.
func primaryDead(ctx workflow.Context, instanceID string) error {
	r, err := guest.For(instanceID).With(guest.Query(PrimaryProbeTimeout)).Health(ctx)
	if err == nil && r.Status == coffer.ServiceHealthy {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("the primary %s answers and its engine is healthy: use promote_to_replica_source for a planned switchover", instanceID),
			"PrimaryAlive", nil)
	}
	if temporal.IsCanceledError(err) {
		return err
	}
	return nil
}

// mostAdvanced asks every replica for its position and returns the one that received the
// most WAL.
func mostAdvanced(ctx workflow.Context, replicas []activities.GroupMember) (activities.GroupMember, error) {
	futures := make([]workflow.Future, len(replicas))
	for i, r := range replicas {
		g := guest.For(r.ID).With(guest.Query(ReplicaProbeTimeout).Tries(2))
		futures[i] = async(ctx, g.ReplicationStatus)
	}
	var (
		best    activities.GroupMember
		bestLSN guest.LSN
		found   bool
		errs    []string
	)
	for i, f := range futures {
		var st guest.ReplicationStatus
		if err := f.Get(ctx, &st); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %s", replicas[i].ID, reason(err)))
			continue
		}
		if st.Role != guest.RoleReplica || st.Fenced {
			errs = append(errs, fmt.Sprintf("%s: not a replica (%s)", replicas[i].ID, st.Role))
			continue
		}
		if !found || st.ReceivedLSN > bestLSN {
			best, bestLSN, found = replicas[i], st.ReceivedLSN, true
		}
	}
	if !found {
		return best, temporal.NewNonRetryableApplicationError(fmt.Sprintf("no replica can take over: %v", errs), "NoReplica", nil)
	}
	workflow.GetLogger(ctx).Info("most advanced replica", "instance_id", best.ID, "received_lsn", bestLSN.String())
	return best, nil
}

// FenceInstance makes sure an ejected primary never accepts writes again: it waits (up to
// FenceWait) for the instance's guest to come back and runs Fence, which turns its engine
// into a read-only standby of no one, for good (a mark on the volume keeps it so across
// restarts). It ends at once when the instance was deleted meanwhile (its guest never
// answers then; the wait simply times out).
func FenceInstance(ctx workflow.Context, in ReplicationInput) error {
	op := operation{
		// It holds no task: the ejected instance keeps its ERROR and the ejection's fault,
		// which a failed fence leaves as they are (the failure is in the workflow's
		// history and its progress).
		name: "fence", instanceID: in.InstanceID, projectID: in.ProjectID, timeouts: in.Timeouts,
		fault: func(workflow.Context, error, []string) error { return nil },
	}
	return op.run(ctx, func(t *tracker, _ *parking, _ *undo) error {
		return t.step(StepStartFence, func() error {
			return guest.For(in.InstanceID).With(guest.Change().PickUpWithin(FenceWait).Tries(5)).Fence(ctx)
		})
	})
}
