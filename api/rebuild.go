package api

import (
	"context"
	"errors"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/workflows"
)

// upgradeInstance is the datastore_version change of an update (Trove's upgrade): it starts
// RebuildInstance onto the new version's image, the volume kept (status UPGRADE, then
// ACTIVE on the new version, or on the old one with a fault when the new one fails).
func (s *Server) upgradeInstance(ctx context.Context, inst *coffer.Instance, version string) error {
	if version == "" {
		return badRequest("Invalid request: instance.datastore_version: must name a version.")
	}
	dv, err := s.catalog.FindDatastoreVersion(ctx, inst.Datastore, version)
	switch {
	case errors.Is(err, catalog.ErrNotFound) || err == nil && !dv.Active:
		return itemNotFound("Datastore version '%s' cannot be found.", version)
	case err != nil:
		return faultFor(ctx, s.log, err, "Datastore version "+version)
	}
	if dv.Name == inst.Version {
		return badRequest("Invalid request: instance %s runs datastore version %s already.", inst.ID, dv.Name)
	}
	if err := canAct(inst); err != nil {
		return err
	}
	imageID, err := s.cloud.versionImage(ctx, dv.ImageID, dv.ImageTag)
	if errors.Is(err, errNoImage) {
		return badRequest("Datastore %s version %s has no image (no active Glance image %s).", dv.Datastore, dv.Name, imageOf(dv))
	}
	if err != nil {
		return faultFor(ctx, s.log, err, "Image "+imageOf(dv))
	}
	return s.startTask(ctx, inst, coffer.TaskUpgrading, workflows.UpgradeWorkflowID(inst.ID), func() error {
		return s.workflows.StartRebuild(ctx, workflows.RebuildInstanceInput{
			InstanceID: inst.ID, ProjectID: inst.ProjectID, InstanceName: inst.Name, Upgrade: true, ImageID: imageID,
			Datastore: inst.Datastore, Version: dv.Name, OldVersion: inst.Version, Timeouts: s.timeouts(),
		})
	})
}

// RebuildRequest is Trove's mgmt rebuild: the image to rebuild the instance's server on.
type RebuildRequest struct {
	ImageID string `json:"image_id" doc:"The Glance image to rebuild the server on (an active one)."`
}

// rebuildInstance is an admin's rebuild (Trove's mgmt rebuild): RebuildInstance onto the
// image, the version and the volume kept (status REBUILD, then ACTIVE on the new image, or
// on the old one with a fault when the new one fails).
func (s *Server) rebuildInstance(ctx context.Context, inst *coffer.Instance, req *RebuildRequest) error {
	if req.ImageID == "" {
		return badRequest("Invalid request: rebuild.image_id: must name an image.")
	}
	if err := coffer.ValidCloudID(req.ImageID); err != nil {
		return badRequest("Invalid request: rebuild.image_id: %v.", err)
	}
	if err := canAct(inst); err != nil {
		return err
	}
	err := s.cloud.imageActive(ctx, req.ImageID)
	if errors.Is(err, errNoImage) {
		return badRequest("Image %s not found, or not active.", req.ImageID)
	}
	if err != nil {
		return faultFor(ctx, s.log, err, "Image "+req.ImageID)
	}
	return s.startTask(ctx, inst, coffer.TaskRebuilding, workflows.RebuildWorkflowID(inst.ID), func() error {
		return s.workflows.StartRebuild(ctx, workflows.RebuildInstanceInput{
			InstanceID: inst.ID, ProjectID: inst.ProjectID, InstanceName: inst.Name, ImageID: req.ImageID,
			Datastore: inst.Datastore, Version: inst.Version, OldVersion: inst.Version, Timeouts: s.timeouts(),
		})
	})
}
