package api

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/workflows"
)

// maxAllowedCIDRs bounds an instance's source ranges: each is a security group rule.
const maxAllowedCIDRs = 20

// AccessRequest is Trove's instance access, on create and on update. A field left out is
// false or empty, as in Trove: an update gives the whole access.
type AccessRequest struct {
	IsPublic     bool     `json:"is_public,omitempty" doc:"Whether the instance is public. Recorded and shown; Coffer's instances have their fixed IP only."`
	AllowedCIDRs []string `json:"allowed_cidrs,omitempty" maxItems:"20" doc:"Source ranges (IPv4 or IPv6 CIDRs) that may reach the engine's port; none: everywhere (0.0.0.0/0)." example:"[\"202.78.240.0/24\"]"`
}

// AccessView is an instance's access as Trove shows it.
type AccessView struct {
	IsPublic     bool     `json:"is_public"`
	AllowedCIDRs []string `json:"allowed_cidrs"`
}

func accessView(a coffer.Access) *AccessView {
	return &AccessView{IsPublic: a.IsPublic, AllowedCIDRs: a.CIDRs()}
}

// checkAccess turns a request's access into the instance's: each CIDR parsed and written
// in its canonical form (the network address, as Neutron stores a rule's prefix), listed once.
func checkAccess(field string, req *AccessRequest) (coffer.Access, error) {
	if req == nil {
		return coffer.Access{}, nil
	}
	if len(req.AllowedCIDRs) > maxAllowedCIDRs {
		return coffer.Access{}, badRequest("Invalid request: %s.allowed_cidrs: at most %d ranges, got %d.", field, maxAllowedCIDRs, len(req.AllowedCIDRs))
	}
	a := coffer.Access{IsPublic: req.IsPublic}
	for i, c := range req.AllowedCIDRs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return coffer.Access{}, badRequest("Invalid request: %s.allowed_cidrs[%d]: %q is not a CIDR (such as 202.78.240.0/24).", field, i, c)
		}
		canonical := p.Masked().String()
		if !slices.Contains(a.AllowedCIDRs, canonical) {
			a.AllowedCIDRs = append(a.AllowedCIDRs, canonical)
		}
	}
	return a, nil
}

// updateAccess is the access change of an update: it starts UpdateAccess, which sets the
// security group's rules and then records the access (status UPDATE, then ACTIVE).
func (s *Server) updateAccess(ctx context.Context, inst *coffer.Instance, req *AccessRequest) error {
	access, err := checkAccess("instance.access", req)
	if err != nil {
		return err
	}
	if err := canAct(inst); err != nil {
		return err
	}
	if inst.SecurityGroupID == "" {
		return unprocessableEntity("Instance %s has no security group to change.", inst.ID)
	}
	dv, err := s.catalog.FindDatastoreVersion(ctx, inst.Datastore, inst.Version)
	if err != nil {
		return faultFor(ctx, s.log, fmt.Errorf("find datastore version of instance %s: %w", inst.ID, err), "Instance "+inst.ID)
	}
	return s.startTask(ctx, inst, coffer.TaskUpdating, workflows.AccessWorkflowID(inst.ID), func() error {
		return s.workflows.StartUpdateAccess(ctx, workflows.UpdateAccessInput{
			InstanceID: inst.ID, ProjectID: inst.ProjectID, InstanceName: inst.Name, SecurityGroupID: inst.SecurityGroupID, Port: dv.Port,
			Access: access, Timeouts: s.timeouts(),
		})
	})
}
