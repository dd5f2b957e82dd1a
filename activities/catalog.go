package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/catalog"
)

// RecordResourcesInput is RecordResources' input.
type RecordResourcesInput struct {
	InstanceID string `json:"instance_id"`
	// Resources holds what was made; empty fields leave the catalog's values as they are.
	Resources catalog.Resources `json:"resources"`
}

// RecordResources records cloud pieces of the instance as they are made, so that a delete or
// a compensation finds each of them.
func (a *Activities) RecordResources(ctx context.Context, in RecordResourcesInput) error {
	return catalogError(a.Catalog.UpdateResources(ctx, in.InstanceID, in.Resources), "record resources of instance "+in.InstanceID)
}

// GetInstanceInput is GetInstanceResources' input.
type GetInstanceInput struct {
	InstanceID string `json:"instance_id"`
	// ProjectID restricts the look-up to one project; empty finds any project's instance.
	ProjectID string `json:"project_id,omitempty"`
}

// GetInstanceResources returns the cloud pieces the catalog holds for the instance. An
// instance the catalog no longer has gives empty resources: a delete then finds its pieces
// by name.
func (a *Activities) GetInstanceResources(ctx context.Context, in GetInstanceInput) (catalog.Resources, error) {
	inst, err := a.Catalog.GetInstance(ctx, in.ProjectID, in.InstanceID)
	if errors.Is(err, catalog.ErrNotFound) {
		return catalog.Resources{}, nil
	}
	if err != nil {
		return catalog.Resources{}, catalogError(err, "get instance "+in.InstanceID)
	}
	return catalog.Resources{
		ServerID:        inst.ServerID,
		VolumeID:        inst.VolumeID,
		PortID:          inst.PortID,
		SecurityGroupID: inst.SecurityGroupID,
		Address:         inst.Address,
		ServerStatus:    inst.ServerStatus,
	}, nil
}

// SetServiceStatusInput is SetServiceStatus' input.
type SetServiceStatusInput struct {
	InstanceID string               `json:"instance_id"`
	Status     coffer.ServiceStatus `json:"status"`
}

// SetServiceStatus records the engine's state, as of now.
func (a *Activities) SetServiceStatus(ctx context.Context, in SetServiceStatusInput) error {
	err := a.Catalog.SetServiceStatus(ctx, in.InstanceID, in.Status, time.Now())
	return catalogError(err, fmt.Sprintf("set service status of instance %s to %s", in.InstanceID, in.Status))
}

// MarkActive ends a task that succeeded: service HEALTHY (as of now), then task NONE, so the
// instance shows ACTIVE and HEALTHY.
func (a *Activities) MarkActive(ctx context.Context, instanceID string) error {
	what := "mark instance " + instanceID + " active"
	if err := a.Catalog.SetServiceStatus(ctx, instanceID, coffer.ServiceHealthy, time.Now()); err != nil {
		return catalogError(err, what)
	}
	return catalogError(a.Catalog.SetTask(ctx, instanceID, coffer.TaskNone), what)
}

// RecordFaultInput is RecordFault's input.
type RecordFaultInput struct {
	InstanceID string `json:"instance_id"`
	// Message says which step failed and why, for the API's fault.message.
	Message string `json:"message"`
	// Details is the whole error chain, for fault.details.
	Details string `json:"details"`
}

// RecordFault records the fault of a failed task and sets the task ERROR.
func (a *Activities) RecordFault(ctx context.Context, in RecordFaultInput) error {
	err := a.Catalog.RecordFault(ctx, in.InstanceID, coffer.Fault{Message: in.Message, Details: in.Details, Created: time.Now()})
	return catalogError(err, "record fault of instance "+in.InstanceID)
}

// DeleteInstanceRecord removes the instance from the catalog, the last step of a delete; a
// missing row is no error.
func (a *Activities) DeleteInstanceRecord(ctx context.Context, instanceID string) error {
	return catalogError(a.Catalog.DeleteInstance(ctx, instanceID), "delete catalog record of instance "+instanceID)
}

// RevokeGuestIdentity cuts the instance's guest off: the guest gateway refuses its
// credential (once its cache of a few seconds expires) and its bootstrap secret from now on.
// Revoking twice, or an instance that never had an identity, is no error.
func (a *Activities) RevokeGuestIdentity(ctx context.Context, instanceID string) error {
	return catalogError(a.Catalog.RevokeGuestIdentity(ctx, instanceID), "revoke guest identity of instance "+instanceID)
}

// catalogError: a missing instance cannot be mended by retries; anything else (the
// database restarting, say) may be.
func catalogError(err error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, catalog.ErrNotFound) {
		return temporal.NewNonRetryableApplicationError(what+": the catalog has no such instance", ErrorTypeNotInCatalog, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// RecordAccessInput is RecordAccess' input.
type RecordAccessInput struct {
	InstanceID   string   `json:"instance_id"`
	IsPublic     bool     `json:"is_public"`
	AllowedCIDRs []string `json:"allowed_cidrs,omitempty"`
}

// RecordAccess records the instance's access once its security group has the rules for it.
func (a *Activities) RecordAccess(ctx context.Context, in RecordAccessInput) error {
	return catalogError(a.Catalog.SetAccess(ctx, in.InstanceID, coffer.Access{IsPublic: in.IsPublic, AllowedCIDRs: in.AllowedCIDRs}),
		"record access of instance "+in.InstanceID)
}
