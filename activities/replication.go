package activities

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/volumeattach"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/catalog"
)

// ReplicationCatalog is the part of the catalog that records replication groups;
// *catalog.Store implements it.
type ReplicationCatalog interface {
	Replications(ctx context.Context, ids []string) (map[string]catalog.Replication, error)
	Regroup(ctx context.Context, g catalog.Regroup) error
	SetReplicationLag(ctx context.Context, id string, lag catalog.ReplicationLag) error
	StartTasks(ctx context.Context, projectID, workflowID string, tasks map[string]coffer.Task) error
}

var _ ReplicationCatalog = (*catalog.Store)(nil)

// GroupMember is an instance of a replication group.
type GroupMember struct {
	ID string `json:"id"`
	// Address is where its engine listens.
	Address string `json:"address"`
	// VolumeSize is its volume's size in GiB.
	VolumeSize int `json:"volume_size,omitempty"`
}

// ReplicationGroup is a primary and its replicas, as the catalog holds them.
type ReplicationGroup struct {
	Primary  GroupMember   `json:"primary"`
	Replicas []GroupMember `json:"replicas"`
}

// Member returns the group's member with ID id (the primary or a replica).
func (g ReplicationGroup) Member(id string) (GroupMember, bool) {
	if g.Primary.ID == id {
		return g.Primary, true
	}
	for _, r := range g.Replicas {
		if r.ID == id {
			return r, true
		}
	}
	return GroupMember{}, false
}

// GetReplicationGroup returns the group instanceID belongs to, as a primary or as a replica.
// An instance in no group fails with ErrorTypeNotReplicated, not retried.
func (a *Activities) GetReplicationGroup(ctx context.Context, instanceID string) (ReplicationGroup, error) {
	what := "read the replication group of instance " + instanceID
	reps, err := a.Catalog.Replications(ctx, []string{instanceID})
	if err != nil {
		return ReplicationGroup{}, catalogError(err, what)
	}
	r, ok := reps[instanceID]
	if !ok {
		return ReplicationGroup{}, catalogError(catalog.ErrNotFound, what)
	}
	primaryID := instanceID
	if r.ReplicaOf != "" {
		primaryID = r.ReplicaOf
		if reps, err = a.Catalog.Replications(ctx, []string{primaryID}); err != nil {
			return ReplicationGroup{}, catalogError(err, what)
		}
		if r, ok = reps[primaryID]; !ok {
			return ReplicationGroup{}, catalogError(catalog.ErrNotFound, what)
		}
	}
	if len(r.Replicas) == 0 {
		return ReplicationGroup{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("instance %s is in no replication group", instanceID), ErrorTypeNotReplicated, nil)
	}
	member := func(id string) (GroupMember, error) {
		inst, err := a.Catalog.GetInstance(ctx, "", id)
		if err != nil {
			return GroupMember{}, catalogError(err, what)
		}
		return GroupMember{ID: inst.ID, Address: inst.Address, VolumeSize: inst.VolumeSize}, nil
	}
	var g ReplicationGroup
	if g.Primary, err = member(primaryID); err != nil {
		return ReplicationGroup{}, err
	}
	for _, id := range r.Replicas {
		m, err := member(id)
		if err != nil {
			return ReplicationGroup{}, err
		}
		g.Replicas = append(g.Replicas, m)
	}
	return g, nil
}

// Regroup records a group's new shape and ends the tasks of its members (see
// catalog.Store.Regroup).
func (a *Activities) Regroup(ctx context.Context, g catalog.Regroup) error {
	return catalogError(a.Catalog.Regroup(ctx, g), "regroup the replicas of "+g.Primary)
}

// EndTasks sets the task of each instance back to NONE (an operation on its group ended
// without changing it).
func (a *Activities) EndTasks(ctx context.Context, ids []string) error {
	for _, id := range ids {
		if err := a.Catalog.SetTask(ctx, id, coffer.TaskNone); err != nil {
			return catalogError(err, "end the task of instance "+id)
		}
	}
	return nil
}

// IsolateServer fences an ejected primary in the cloud, so that it can never serve its
// data as a second primary: its server is stopped (Nova's os-stop: a power-off, which a
// hung guest cannot refuse) and its volume detached, so that a later start boots a server
// with no database at all. A server stopped already, or a volume detached already, is no
// error. It heartbeats while it waits for the server to stop.
func (a *Activities) IsolateServer(ctx context.Context, instanceID string) error {
	inst, err := a.Catalog.GetInstance(ctx, "", instanceID)
	if err != nil {
		return catalogError(err, "isolate instance "+instanceID)
	}
	if inst.ServerID == "" {
		return nil
	}
	what := "isolate server " + inst.ServerID + " of instance " + instanceID
	for {
		s, err := servers.Get(ctx, a.Compute, pathSegment(inst.ServerID)).Extract()
		if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			return nil
		}
		if err != nil {
			return cloudError(err, what)
		}
		if s.Status == "SHUTOFF" && s.TaskState == "" {
			break
		}
		if s.Status == "ACTIVE" || s.Status == "ERROR" {
			if err := servers.Stop(ctx, a.Compute, pathSegment(inst.ServerID)).ExtractErr(); err != nil && !gophercloud.ResponseCodeIs(err, http.StatusConflict) {
				return cloudError(err, what)
			}
		}
		if activity.IsActivity(ctx) {
			activity.RecordHeartbeat(ctx, s.Status)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(a.pollInterval()):
		}
	}
	if inst.VolumeID == "" {
		return nil
	}
	err = volumeattach.Delete(ctx, a.Compute, pathSegment(inst.ServerID), pathSegment(inst.VolumeID)).ExtractErr()
	if err != nil && !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		return cloudError(err, what+": detach volume "+inst.VolumeID)
	}
	return nil
}
