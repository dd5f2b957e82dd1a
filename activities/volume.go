package activities

import (
	"context"
	"net/http"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
)

// CreateVolumeInput is CreateVolume's input.
type CreateVolumeInput struct {
	InstanceID string `json:"instance_id"`
	// Size is in GiB.
	Size int `json:"size"`
	// Type is the Cinder volume type; empty takes the cloud's default.
	Type string `json:"type,omitempty"`
}

// CreateVolume makes the instance's data volume, coffer-<instance-id>, tagged with the
// instance ID in its metadata, and returns its ID; it finds one an earlier try made. It does
// not wait: WaitVolumeAvailable does.
func (a *Activities) CreateVolume(ctx context.Context, in CreateVolumeInput) (string, error) {
	what := "create volume for instance " + in.InstanceID
	found, err := a.findVolumes(ctx, in.InstanceID)
	if err != nil {
		return "", cloudError(err, what)
	}
	if len(found) > 0 {
		return found[0].ID, nil
	}
	v, err := volumes.Create(ctx, a.BlockStorage, volumes.CreateOpts{
		Name:        ResourceName(in.InstanceID),
		Description: "Coffer database instance " + in.InstanceID,
		Size:        in.Size,
		VolumeType:  in.Type,
		Metadata:    map[string]string{MetadataInstanceID: in.InstanceID},
	}, nil).Extract()
	if err != nil {
		return "", cloudError(err, what)
	}
	return v.ID, nil
}

func (a *Activities) findVolumes(ctx context.Context, instanceID string) ([]volumes.Volume, error) {
	pages, err := volumes.List(a.BlockStorage, volumes.ListOpts{Name: ResourceName(instanceID)}).AllPages(ctx)
	if err != nil {
		return nil, err
	}
	all, err := volumes.ExtractVolumes(pages)
	if err != nil {
		return nil, err
	}
	var named []volumes.Volume
	for _, v := range all {
		if v.Name == ResourceName(instanceID) {
			named = append(named, v)
		}
	}
	return named, nil
}

// volumeIDs resolves a ref to volume IDs: its ID, or the volumes named for the instance.
func (a *Activities) volumeIDs(ctx context.Context, ref ResourceRef) ([]string, error) {
	if ref.ID != "" {
		return []string{ref.ID}, nil
	}
	found, err := a.findVolumes(ctx, ref.InstanceID)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(found))
	for _, v := range found {
		ids = append(ids, v.ID)
	}
	return ids, nil
}

// WaitVolumeAvailable polls the volume until Cinder says it is available, heartbeating its
// status. A volume in error fails at once (VolumeFailed), as does a volume that is gone.
func (a *Activities) WaitVolumeAvailable(ctx context.Context, ref ResourceRef) error {
	what := "wait for volume " + ref.ID + " of instance " + ref.InstanceID
	poll := a.newPoller()
	for {
		v, err := volumes.Get(ctx, a.BlockStorage, pathSegment(ref.ID)).Extract()
		if err != nil {
			return cloudError(err, what)
		}
		switch {
		case v.Status == "available" || v.Status == "in-use":
			return nil
		case strings.HasPrefix(v.Status, "error"):
			return temporal.NewNonRetryableApplicationError(what+": cinder put the volume in status "+v.Status, ErrorTypeVolumeFailed, nil)
		}
		activity.RecordHeartbeat(ctx, v.Status)
		if err := poll.wait(ctx); err != nil {
			return err
		}
	}
}

// DeleteVolume deletes the instance's volume (by ID, or every volume named
// coffer-<instance-id>) and waits until Cinder no longer lists it. It first waits while the
// volume is still attached or busy (the server's delete detaches it). Gone already is done.
func (a *Activities) DeleteVolume(ctx context.Context, ref ResourceRef) error {
	what := "delete volume of instance " + ref.InstanceID
	ids, err := a.volumeIDs(ctx, ref)
	if err != nil {
		return cloudError(err, what)
	}
	for _, id := range ids {
		if err := a.deleteVolume(ctx, id, what+": volume "+id); err != nil {
			return err
		}
	}
	return nil
}

func (a *Activities) deleteVolume(ctx context.Context, id, what string) error {
	poll := a.newPoller()
	for {
		v, err := volumes.Get(ctx, a.BlockStorage, pathSegment(id)).Extract()
		if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			return nil
		}
		if err != nil {
			return cloudError(err, what)
		}
		switch v.Status {
		case "in-use", "attaching", "detaching", "reserved", "creating", "deleting",
			"extending", "downloading", "uploading", "backing-up", "restoring-backup":
			// Busy, or going already: look again.
		default: // available, error, error_deleting, ...
			err := volumes.Delete(ctx, a.BlockStorage, pathSegment(id), volumes.DeleteOpts{}).ExtractErr()
			switch {
			case err == nil, gophercloud.ResponseCodeIs(err, http.StatusNotFound):
			case gophercloud.ResponseCodeIs(err, http.StatusBadRequest), gophercloud.ResponseCodeIs(err, http.StatusConflict):
				// Its status changed under us (attached again, or deleting): look again.
			default:
				return cloudError(err, what)
			}
		}
		activity.RecordHeartbeat(ctx, v.Status)
		if err := poll.wait(ctx); err != nil {
			return err
		}
	}
}
