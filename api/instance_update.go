package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/coffer-dbaas/coffer"
)

// InstanceUpdate is Trove's PUT and PATCH body (PATCH is its deprecated alias): a new name,
// and at most one other change per call.
type InstanceUpdate struct {
	Name             string          `json:"name,omitempty" maxLength:"255" doc:"The new name; it may come with one other change."`
	ReplicaOf        json.RawMessage `json:"replica_of,omitempty" doc:"Present with any value (null, \"\", as clients send): detach the replica from its primary; it becomes a standalone instance with the data it has."`
	SlaveOf          json.RawMessage `json:"slave_of,omitempty" doc:"The legacy name of replica_of."`
	DatastoreVersion *string         `json:"datastore_version,omitempty" doc:"Upgrade to this version (name or ID) of the instance's datastore: its server is rebuilt on that version's image, its volume kept (status UPGRADE, then ACTIVE)."`
	Access           *AccessRequest  `json:"access,omitempty" doc:"The instance's new access, whole: its security group then opens the engine's port to allowed_cidrs only (status UPDATE, then ACTIVE)."`
	// Configuration groups (instance_configuration.go).
	Configuration json.RawMessage `json:"configuration,omitempty" doc:"A configuration group's ID: attach it (its values apply at once, or at the next restart for those that need one: status RESTART_REQUIRED). null or \"\": detach the instance's group. A PUT with no key at all detaches too, as in Trove."`
}

// UpdateInstanceRequest asks to change an instance.
type UpdateInstanceRequest struct {
	InstancePath
	Body struct {
		Instance InstanceUpdate `json:"instance"`
	}
}

func (s *Server) registerInstanceUpdate(g *huma.Group) {
	const description = "Renames the instance ({\"instance\": {\"name\": \"new\"}}) and/or makes one change: " +
		"detach a replica from its primary ({\"instance\": {\"replica_of\": null}}, any value detaches, as in Trove: status DETACH, then ACTIVE), " +
		"attach a configuration group ({\"instance\": {\"configuration\": \"<id>\"}}) or detach it (null; a PUT of {\"instance\": {}} detaches too, as gophercloud and troveclient send it), " +
		"upgrade to another datastore version ({\"instance\": {\"datastore_version\": \"15\"}}: status UPGRADE, then ACTIVE), " +
		"or change who may reach the engine ({\"instance\": {\"access\": {\"allowed_cidrs\": [\"202.78.240.0/24\"]}}}: status UPDATE, then ACTIVE). " +
		"Trove's rule: one attribute besides name per call."
	for _, method := range []string{http.MethodPut, http.MethodPatch} {
		op := huma.Operation{
			OperationID:   "updateInstance",
			Method:        method,
			Path:          "/instances/{id}",
			Summary:       "Update an instance",
			Description:   description,
			Tags:          []string{"Instances"},
			DefaultStatus: http.StatusAccepted,
			Errors:        []int{http.StatusBadRequest, http.StatusNotFound, http.StatusUnprocessableEntity},
		}
		if method == http.MethodPatch {
			op.OperationID, op.Summary = "editInstance", "Update an instance (Trove's deprecated alias of PUT)"
		}
		put := method == http.MethodPut
		huma.Register(g, op, func(ctx context.Context, in *UpdateInstanceRequest) (*struct{}, error) {
			return s.updateInstance(ctx, in, put)
		})
	}
}

// updateInstance is Trove's update: at most one change besides the name, checked before
// anything is done; the change starts first, and the name is written once it has.
// A PUT with nothing to change is Trove's detach of the configuration group.
func (s *Server) updateInstance(ctx context.Context, in *UpdateInstanceRequest, put bool) (*struct{}, error) {
	u := in.Body.Instance
	// One function per key given besides name (replica_of and slave_of are two keys, as
	// Trove counts them); each key's change lives in a function of its own.
	var changes []func(*coffer.Instance) error
	for _, raw := range []json.RawMessage{u.ReplicaOf, u.SlaveOf} {
		if raw != nil {
			changes = append(changes, func(inst *coffer.Instance) error { return s.detachReplica(ctx, inst) })
		}
	}
	if change := s.configurationUpdate(ctx, u, put); change != nil {
		changes = append(changes, change)
	}
	if u.DatastoreVersion != nil {
		changes = append(changes, func(inst *coffer.Instance) error { return s.upgradeInstance(ctx, inst, *u.DatastoreVersion) })
	}
	if u.Access != nil {
		changes = append(changes, func(inst *coffer.Instance) error { return s.updateAccess(ctx, inst, u.Access) })
	}
	if len(changes) > 1 {
		return nil, badRequest("Only one attribute (except 'name') is allowed to update.")
	}
	rename := u.Name != ""
	if rename {
		if strings.TrimSpace(u.Name) == "" {
			return nil, badRequest("Invalid request: instance.name: must not be blank.")
		}
		if err := coffer.ValidText(u.Name, coffer.MaxNameLength); err != nil {
			return nil, badRequest("Invalid request: instance.name: %v.", err)
		}
	}
	if !rename && len(changes) == 0 {
		return nil, badRequest("Invalid request: nothing to update (give a name, replica_of to detach, configuration, datastore_version or access).")
	}
	inst, err := s.getInstance(ctx, in.ProjectID, in.ID)
	if err != nil {
		return nil, err
	}
	for _, change := range changes {
		if err := change(inst); err != nil {
			return nil, err
		}
	}
	if rename {
		return nil, s.renameInstance(ctx, inst, u.Name)
	}
	return nil, nil
}

// renameInstance sets the instance's name in the catalog; its server keeps the name it was
// made with (as in Trove), since servers are found by the instance ID in their metadata.
func (s *Server) renameInstance(ctx context.Context, inst *coffer.Instance, name string) error {
	if err := s.catalog.RenameInstance(ctx, inst.ProjectID, inst.ID, name); err != nil {
		return faultFor(ctx, s.log, err, "Instance "+inst.ID)
	}
	s.log.InfoContext(ctx, "instance renamed", "instance_id", inst.ID, "project_id", inst.ProjectID)
	return nil
}
