package activities

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"

	"github.com/coffer-dbaas/coffer"
)

// CreateSecurityGroupInput is CreateSecurityGroup's input.
type CreateSecurityGroupInput struct {
	InstanceID string `json:"instance_id"`
	// Port is the engine's TCP port, opened to AllowedCIDRs.
	Port int `json:"port"`
	// AllowedCIDRs are the sources the port is open to (Trove's access.allowed_cidrs); none
	// opens it to 0.0.0.0/0, Trove's default rule CIDR.
	AllowedCIDRs []string `json:"allowed_cidrs,omitempty"`
}

// CreateSecurityGroup makes the instance's security group, coffer-<instance-id>, with an
// ingress rule for the engine's TCP port from each allowed source, and returns its ID. It
// finds a group an earlier try made, and adds the rules if that try stopped before them.
func (a *Activities) CreateSecurityGroup(ctx context.Context, in CreateSecurityGroupInput) (string, error) {
	what := "create security group for instance " + in.InstanceID
	found, err := a.findSecurityGroups(ctx, in.InstanceID)
	if err != nil {
		return "", cloudError(err, what)
	}
	var group groups.SecGroup
	if len(found) > 0 {
		group = found[0]
	} else {
		g, err := groups.Create(ctx, a.Network, groups.CreateOpts{
			Name:        ResourceName(in.InstanceID),
			Description: "Coffer database instance " + in.InstanceID,
		}).Extract()
		if err != nil {
			return "", cloudError(err, what)
		}
		group = *g
	}
	if in.Port > 0 {
		if err := a.setEngineRules(ctx, group, in.Port, coffer.Access{AllowedCIDRs: in.AllowedCIDRs}.SourceRanges(), what); err != nil {
			return "", err
		}
	}
	return group.ID, nil
}

// SetAccessRulesInput is SetAccessRules' input.
type SetAccessRulesInput struct {
	InstanceID      string   `json:"instance_id"`
	SecurityGroupID string   `json:"security_group_id"`
	Port            int      `json:"port"`
	AllowedCIDRs    []string `json:"allowed_cidrs,omitempty"`
}

// SetAccessRules makes the security group's ingress rules for the engine's port exactly one
// per allowed source (0.0.0.0/0 when none): missing ones are added, the others deleted, so a
// retry finds its work done. Rules for other ports are left alone.
func (a *Activities) SetAccessRules(ctx context.Context, in SetAccessRulesInput) error {
	what := "set access rules of instance " + in.InstanceID
	group, err := groups.Get(ctx, a.Network, pathSegment(in.SecurityGroupID)).Extract()
	if err != nil {
		return cloudError(err, what)
	}
	return a.setEngineRules(ctx, *group, in.Port, coffer.Access{AllowedCIDRs: in.AllowedCIDRs}.SourceRanges(), what)
}

// setEngineRules adds the missing ingress rules for port from each source, then deletes
// the port's rules from sources no longer wanted (adding first: a narrowing never closes
// the port altogether on the way).
func (a *Activities) setEngineRules(ctx context.Context, group groups.SecGroup, port int, sources []string, what string) error {
	have := map[string]string{} // source -> rule ID, of the engine port's ingress rules
	for _, r := range group.Rules {
		if r.Direction == string(rules.DirIngress) && r.Protocol == string(rules.ProtocolTCP) &&
			r.PortRangeMin == port && r.PortRangeMax == port && r.RemoteGroupID == "" {
			have[r.RemoteIPPrefix] = r.ID
		}
	}
	want := map[string]bool{}
	for _, src := range sources {
		want[src] = true
		if _, ok := have[src]; ok {
			continue
		}
		etherType := rules.EtherType4
		if strings.Contains(src, ":") {
			etherType = rules.EtherType6
		}
		_, err := rules.Create(ctx, a.Network, rules.CreateOpts{
			Direction:      rules.DirIngress,
			EtherType:      etherType,
			Protocol:       rules.ProtocolTCP,
			PortRangeMin:   port,
			PortRangeMax:   port,
			RemoteIPPrefix: src,
			SecGroupID:     group.ID,
			Description:    "database engine",
		}).Extract()
		// 409: the same rule exists already (a retry whose first answer was lost).
		if err != nil && !gophercloud.ResponseCodeIs(err, http.StatusConflict) {
			return cloudError(err, fmt.Sprintf("%s: add rule for tcp port %d from %s", what, port, src))
		}
	}
	for src, id := range have {
		if want[src] {
			continue
		}
		err := rules.Delete(ctx, a.Network, pathSegment(id)).ExtractErr()
		if err != nil && !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			return cloudError(err, fmt.Sprintf("%s: delete rule for tcp port %d from %s", what, port, src))
		}
	}
	return nil
}

func (a *Activities) findSecurityGroups(ctx context.Context, instanceID string) ([]groups.SecGroup, error) {
	pages, err := groups.List(a.Network, groups.ListOpts{Name: ResourceName(instanceID)}).AllPages(ctx)
	if err != nil {
		return nil, err
	}
	all, err := groups.ExtractGroups(pages)
	if err != nil {
		return nil, err
	}
	var named []groups.SecGroup // Neutron filters exactly, but a filter ignored must not delete others
	for _, g := range all {
		if g.Name == ResourceName(instanceID) {
			named = append(named, g)
		}
	}
	return named, nil
}

// DeleteSecurityGroup deletes the instance's security group (by ID, or every group named
// coffer-<instance-id>). Gone already is done; in use (a port not yet deleted) is retried.
func (a *Activities) DeleteSecurityGroup(ctx context.Context, ref ResourceRef) error {
	what := "delete security group of instance " + ref.InstanceID
	ids := []string{ref.ID}
	if ref.ID == "" {
		found, err := a.findSecurityGroups(ctx, ref.InstanceID)
		if err != nil {
			return cloudError(err, what)
		}
		ids = ids[:0]
		for _, g := range found {
			ids = append(ids, g.ID)
		}
	}
	for _, id := range ids {
		err := groups.Delete(ctx, a.Network, pathSegment(id)).ExtractErr()
		switch {
		case err == nil, gophercloud.ResponseCodeIs(err, http.StatusNotFound):
		case gophercloud.ResponseCodeIs(err, http.StatusConflict):
			return inUse(err, what+": group "+id)
		default:
			return cloudError(err, what+": group "+id)
		}
	}
	return nil
}

// CreatePortInput is CreatePort's input.
type CreatePortInput struct {
	InstanceID      string `json:"instance_id"`
	SecurityGroupID string `json:"security_group_id"`
}

// Port is a port CreatePort made: its ID and the fixed IP the engine listens on.
type Port struct {
	ID      string `json:"id"`
	Address string `json:"address"`
}

// CreatePort makes the instance's port, coffer-<instance-id>, on the configured network
// with the instance's security group, or finds the one an earlier try made.
func (a *Activities) CreatePort(ctx context.Context, in CreatePortInput) (Port, error) {
	what := "create port for instance " + in.InstanceID
	found, err := a.findPorts(ctx, in.InstanceID)
	if err != nil {
		return Port{}, cloudError(err, what)
	}
	if len(found) > 0 {
		return portOf(found[0]), nil
	}
	sgs := []string{in.SecurityGroupID}
	p, err := ports.Create(ctx, a.Network, ports.CreateOpts{
		Name:           ResourceName(in.InstanceID),
		Description:    "Coffer database instance " + in.InstanceID,
		NetworkID:      a.NetworkID,
		SecurityGroups: &sgs,
	}).Extract()
	if err != nil {
		return Port{}, cloudError(err, what)
	}
	return portOf(*p), nil
}

func portOf(p ports.Port) Port {
	out := Port{ID: p.ID}
	if len(p.FixedIPs) > 0 {
		out.Address = p.FixedIPs[0].IPAddress
	}
	return out
}

func (a *Activities) findPorts(ctx context.Context, instanceID string) ([]ports.Port, error) {
	pages, err := ports.List(a.Network, ports.ListOpts{Name: ResourceName(instanceID), NetworkID: a.NetworkID}).AllPages(ctx)
	if err != nil {
		return nil, err
	}
	all, err := ports.ExtractPorts(pages)
	if err != nil {
		return nil, err
	}
	var named []ports.Port
	for _, p := range all {
		if p.Name == ResourceName(instanceID) {
			named = append(named, p)
		}
	}
	return named, nil
}

// DeletePort deletes the instance's port (by ID, or every port named coffer-<instance-id>);
// gone already is done.
func (a *Activities) DeletePort(ctx context.Context, ref ResourceRef) error {
	what := "delete port of instance " + ref.InstanceID
	ids := []string{ref.ID}
	if ref.ID == "" {
		found, err := a.findPorts(ctx, ref.InstanceID)
		if err != nil {
			return cloudError(err, what)
		}
		ids = ids[:0]
		for _, p := range found {
			ids = append(ids, p.ID)
		}
	}
	for _, id := range ids {
		err := ports.Delete(ctx, a.Network, pathSegment(id)).ExtractErr()
		if err != nil && !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			return cloudError(err, what+": port "+id)
		}
	}
	return nil
}
