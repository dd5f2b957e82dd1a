package guestagent

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/coffer-dbaas/coffer/guest"
)

// waitReplayHeartbeat is how often WaitReplay heartbeats while it waits.
const waitReplayHeartbeat = 2 * time.Second

// replicationActivities are the replication activities, when the driver replicates.
func (a *activities) replicationActivities() map[string]any {
	r, ok := a.driver.(Replicator)
	if !ok {
		return nil
	}
	rep := &replicators{activities: a, r: r}
	return map[string]any{
		guest.ReplicationSourceActivity:   rep.ReplicationSource,
		guest.SeedReplicaActivity:         rep.SeedReplica,
		guest.ReplicationStatusActivity:   rep.ReplicationStatus,
		guest.StopWritesActivity:          rep.StopWrites,
		guest.WaitReplayActivity:          rep.WaitReplay,
		guest.PromoteActivity:             rep.Promote,
		guest.FollowActivity:              rep.Follow,
		guest.FenceActivity:               rep.Fence,
		guest.DropReplicationSlotActivity: rep.DropReplicationSlot,
	}
}

// replicators serve the guest's replication activities; see the contract.
type replicators struct {
	*activities
	r Replicator
}

// ReplicationSource serves a replica; see guest.ReplicationSourceActivity.
func (a *replicators) ReplicationSource(ctx context.Context, in guest.ReplicationSourceInput) (guest.ReplicationSource, error) {
	a.logger(ctx).Info("serving a replica", "slot", in.Slot)
	src, err := a.r.ReplicationSource(ctx, in.Slot)
	if err != nil {
		return guest.ReplicationSource{}, a.fail(ctx, guest.ReplicationSourceActivity, err)
	}
	return src, nil
}

// SeedReplica seeds this engine from its primary; see guest.SeedReplicaActivity.
func (a *replicators) SeedReplica(ctx context.Context, in guest.SeedReplicaInput) error {
	defer keepAlive(ctx)()
	a.logger(ctx).Info("seeding a replica", "source", in.Source.String())
	if err := a.r.SeedReplica(ctx, in.Source); err != nil {
		return a.fail(ctx, guest.SeedReplicaActivity, err)
	}
	a.logger(ctx).Info("replica streaming", "source", in.Source.String())
	return nil
}

// ReplicationStatus reports the engine's role and positions.
func (a *replicators) ReplicationStatus(ctx context.Context) (guest.ReplicationStatus, error) {
	st, err := a.r.ReplicationStatus(ctx)
	if err != nil {
		return guest.ReplicationStatus{}, a.fail(ctx, guest.ReplicationStatusActivity, err)
	}
	return st, nil
}

// StopWrites stops a primary cleanly; see guest.StopWritesActivity.
func (a *replicators) StopWrites(ctx context.Context) (guest.Position, error) {
	a.logger(ctx).Info("stopping writes for a switchover")
	pos, err := a.r.StopWrites(ctx)
	if err != nil {
		return "", a.fail(ctx, guest.StopWritesActivity, err)
	}
	a.logger(ctx).Info("writes stopped", "last_position", string(pos))
	return pos, nil
}

// WaitReplay waits for a replica to replay up to a position, heartbeating meanwhile.
func (a *replicators) WaitReplay(ctx context.Context, in guest.WaitReplayInput) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if activity.IsActivity(ctx) {
		go func() {
			t := time.NewTicker(waitReplayHeartbeat)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					activity.RecordHeartbeat(ctx, string(in.Position))
				}
			}
		}()
	}
	if err := a.r.WaitReplay(ctx, in.Position); err != nil {
		return a.fail(ctx, guest.WaitReplayActivity, fmt.Errorf("wait to replay up to %s: %w", in.Position, err))
	}
	return nil
}

// Promote makes this replica the primary.
func (a *replicators) Promote(ctx context.Context) error {
	a.logger(ctx).Info("promoting to primary")
	if err := a.r.Promote(ctx); err != nil {
		return a.fail(ctx, guest.PromoteActivity, err)
	}
	return nil
}

// Follow makes this engine a replica of a new primary.
func (a *replicators) Follow(ctx context.Context, in guest.FollowInput) error {
	a.logger(ctx).Info("following a new primary", "source", in.Source.String())
	if err := a.r.Follow(ctx, in.Source); err != nil {
		return a.fail(ctx, guest.FollowActivity, err)
	}
	return nil
}

// Fence makes an ejected primary read-only for good.
func (a *replicators) Fence(ctx context.Context) error {
	a.logger(ctx).Warn("fencing: this engine was ejected from its replication group")
	if err := a.r.Fence(ctx); err != nil {
		return a.fail(ctx, guest.FenceActivity, err)
	}
	return nil
}

// DropReplicationSlot drops a replica's slot.
func (a *replicators) DropReplicationSlot(ctx context.Context, in guest.ReplicationSlotRef) error {
	a.logger(ctx).Info("dropping a replication slot", "slot", in.Slot)
	if err := a.r.DropReplicationSlot(ctx, in.Slot); err != nil {
		return a.fail(ctx, guest.DropReplicationSlotActivity, err)
	}
	return nil
}
