package api

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/workflows"
)

// ConfigurationRef is an instance's configuration group, as a show has it.
type ConfigurationRef struct {
	ID    string `json:"id" format:"uuid"`
	Name  string `json:"name"`
	Links []Link `json:"links"`
}

// configurationUpdate is the change an update body asks of the instance's configuration
// group, nil when none: the configuration key attaches (an ID) or detaches (null or ""),
// and a PUT with no key at all detaches (gophercloud's and Trove's detach).
func (s *Server) configurationUpdate(ctx context.Context, u InstanceUpdate, put bool) func(*coffer.Instance) error {
	raw := u.Configuration
	if raw == nil {
		if !put || u.Name != "" || u.ReplicaOf != nil || u.SlaveOf != nil || u.DatastoreVersion != nil || u.Access != nil {
			return nil
		}
		raw = json.RawMessage("null")
	}
	return func(inst *coffer.Instance) error {
		var id *string
		if err := json.Unmarshal(raw, &id); err != nil {
			return badRequest("Invalid request: instance.configuration: give a configuration group's ID, or null to detach.")
		}
		if id == nil || *id == "" {
			return s.detachConfiguration(ctx, inst)
		}
		return s.attachConfiguration(ctx, inst, *id)
	}
}

// attachConfiguration gives the instance the group and applies its values. An instance
// that has another group must be detached from it first, as in Trove.
func (s *Server) attachConfiguration(ctx context.Context, inst *coffer.Instance, id string) error {
	if inst.ConfigurationID != "" && inst.ConfigurationID != id {
		return badRequest("Instance %s has configuration group %s already: detach it first.", inst.ID, inst.ConfigurationID)
	}
	if _, err := s.getConfiguration(ctx, inst.ProjectID, id); err != nil {
		return err
	}
	if err := s.setInstanceConfiguration(ctx, inst, id); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "configuration group attached", "instance_id", inst.ID, "project_id", inst.ProjectID, "configuration_id", id)
	return s.applyConfiguration(ctx, workflows.ApplyConfigurationInput{ProjectID: inst.ProjectID, InstanceIDs: []string{inst.ID}})
}

// detachConfiguration takes the instance's group away and sets its engine back to the
// defaults; an instance with no group is left alone.
func (s *Server) detachConfiguration(ctx context.Context, inst *coffer.Instance) error {
	if inst.ConfigurationID == "" {
		return nil
	}
	if err := s.setInstanceConfiguration(ctx, inst, ""); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "configuration group detached", "instance_id", inst.ID, "project_id", inst.ProjectID, "configuration_id", inst.ConfigurationID)
	return s.applyConfiguration(ctx, workflows.ApplyConfigurationInput{ProjectID: inst.ProjectID, InstanceIDs: []string{inst.ID}})
}

func (s *Server) setInstanceConfiguration(ctx context.Context, inst *coffer.Instance, id string) error {
	err := s.catalog.SetInstanceConfiguration(ctx, inst.ProjectID, inst.ID, id)
	switch {
	case errors.Is(err, catalog.ErrOtherVersion):
		return badRequest("Configuration group %s is for another datastore version than instance %s's (%s %s).", id, inst.ID, inst.Datastore, inst.Version)
	case errors.Is(err, catalog.ErrTaskRunning):
		return unprocessableEntity("Instance %s is not ready (status %s): wait for its operation to end.", inst.ID, inst.Status())
	case err != nil:
		return faultFor(ctx, s.log, err, "Instance "+inst.ID)
	}
	return nil
}

// createConfigurationFor checks the group a create names, and returns its ID as the
// catalog keeps it: it must be the project's, and of the new instance's datastore version.
func (s *Server) createConfigurationFor(ctx context.Context, projectID, id string, dv catalog.DatastoreVersion) (string, error) {
	if id == "" {
		return "", nil
	}
	c, err := s.getConfiguration(ctx, projectID, id)
	if err != nil {
		return "", err
	}
	if c.VersionID != dv.ID {
		return "", badRequest("Configuration group %s is for %s %s, not %s %s.", id, c.Datastore, c.Version, dv.Datastore, dv.Name)
	}
	return c.ID, nil
}

// configurationRef is the instance's group for a show; nil when it has none (or it could
// not be read: the show goes on without it).
func (s *Server) configurationRef(ctx context.Context, inst *coffer.Instance) *ConfigurationRef {
	if inst.ConfigurationID == "" {
		return nil
	}
	c, err := s.catalog.GetConfiguration(ctx, inst.ProjectID, inst.ConfigurationID)
	if err != nil {
		s.log.WarnContext(ctx, "read the instance's configuration group", "instance_id", inst.ID, "error", err)
		return nil
	}
	base := baseURLFrom(ctx)
	return &ConfigurationRef{ID: c.ID, Name: c.Name, Links: []Link{
		{Href: base + "/v1.0/" + inst.ProjectID + "/configurations/" + c.ID, Rel: "self"},
		{Href: base + "/configurations/" + c.ID, Rel: "bookmark"},
	}}
}
