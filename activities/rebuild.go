package activities

import (
	"context"
	"encoding/base64"
	"fmt"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
)

// RebuildServerInput is RebuildServer's input.
type RebuildServerInput struct {
	InstanceID string `json:"instance_id"`
	ServerID   string `json:"server_id"`
	ImageID    string `json:"image_id"`
	// Datastore, Version and VolumeID go into the guest's configuration (user_data) as at
	// the create: Version is the one the instance runs once rebuilt.
	Datastore string `json:"datastore"`
	Version   string `json:"version"`
	VolumeID  string `json:"volume_id"`
}

// rebuildMicroversion is the first Nova microversion whose rebuild takes user_data.
const rebuildMicroversion = "2.57"

// rebuildOpts is a rebuild with user_data, which gophercloud's RebuildOpts lacks.
type rebuildOpts struct {
	servers.RebuildOpts
	UserData []byte
}

func (o rebuildOpts) ToServerRebuildMap() (map[string]any, error) {
	m, err := o.RebuildOpts.ToServerRebuildMap()
	if err != nil {
		return nil, err
	}
	m["rebuild"].(map[string]any)["user_data"] = base64.StdEncoding.EncodeToString(o.UserData)
	return m, nil
}

// RebuildServer asks Nova to rebuild the instance's server on the image, keeping its
// attached volume (the data), with fresh user_data: a rebuilt root disk holds no
// credential, so the guest's identity moves to its next generation first
// (catalog.RenewGuestIdentity). A server on the image already, or rebuilding, was handled
// by an earlier try: done. It does not wait: WaitServerStatus does.
func (a *Activities) RebuildServer(ctx context.Context, in RebuildServerInput) error {
	what := "rebuild server " + in.ServerID + " of instance " + in.InstanceID + " on image " + in.ImageID
	s, err := servers.Get(ctx, a.Compute, pathSegment(in.ServerID)).Extract()
	if err != nil {
		return cloudError(err, what)
	}
	if s.Status == "REBUILD" || serverImageID(s) == in.ImageID {
		return nil
	}
	generation, err := a.Catalog.RenewGuestIdentity(ctx, in.InstanceID)
	if err != nil {
		return catalogError(err, what+": renew the guest's identity")
	}
	userData, err := a.GuestUserData(GuestServer{InstanceID: in.InstanceID, Datastore: in.Datastore,
		Version: in.Version, VolumeID: in.VolumeID}, generation)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	compute := *a.Compute
	compute.Microversion = rebuildMicroversion
	res := servers.Rebuild(ctx, &compute, pathSegment(in.ServerID), rebuildOpts{
		RebuildOpts: servers.RebuildOpts{ImageRef: in.ImageID},
		UserData:    userData,
	})
	return cloudError(res.Err, what)
}

// ServerImage returns the ID of the image the instance's server runs.
func (a *Activities) ServerImage(ctx context.Context, ref ResourceRef) (string, error) {
	s, err := servers.Get(ctx, a.Compute, pathSegment(ref.ID)).Extract()
	if err != nil {
		return "", cloudError(err, "read the image of server "+ref.ID+" of instance "+ref.InstanceID)
	}
	return serverImageID(s), nil
}

func serverImageID(s *servers.Server) string {
	if id, ok := s.Image["id"].(string); ok {
		return id
	}
	return ""
}
