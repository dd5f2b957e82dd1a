package devcloud_test

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/subnets"
	"github.com/gophercloud/gophercloud/v2/pagination"
)

// wantNeutronError checks a failed call's status and the type of its NeutronError body.
func wantNeutronError(t *testing.T, what string, err error, status int, typ string) {
	t.Helper()
	wantStatus(t, what, err, status)
	body := faultBody(t, err)
	ne, ok := body["NeutronError"]
	if !ok {
		t.Fatalf("%s: got error body %v, want a NeutronError", what, body)
	}
	if ne["type"] != typ || ne["message"] == "" {
		t.Fatalf("%s: got NeutronError %v, want type %s with a message", what, ne, typ)
	}
}

// privateNetwork returns the seeded shared network and its subnet.
func privateNetwork(t *testing.T, nc *gophercloud.ServiceClient) (*networks.Network, *subnets.Subnet) {
	t.Helper()
	ctx := context.Background()
	all, err := networks.List(nc, networks.ListOpts{Name: "private"}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nets, err := networks.ExtractNetworks(all)
	if err != nil || len(nets) != 1 {
		t.Fatalf("networks named private: got %+v, %v", nets, err)
	}
	sub, err := subnets.Get(ctx, nc, nets[0].Subnets[0]).Extract()
	if err != nil {
		t.Fatal(err)
	}
	return &nets[0], sub
}

// addr is the address of the subnet's /16 (the cloud picks a free one) that ends in low:
// "0.2" in 127.11.0.0/16 is 127.11.0.2.
func addr(sub *subnets.Subnet, low string) string {
	a := netip.MustParsePrefix(sub.CIDR).Addr().As4()
	return fmt.Sprintf("%d.%d.%s", a[0], a[1], low)
}

func createPort(t *testing.T, nc *gophercloud.ServiceClient, opts ports.CreateOpts) *ports.Port {
	t.Helper()
	p, err := ports.Create(context.Background(), nc, opts).Extract()
	if err != nil {
		t.Fatalf("create port %q: %v", opts.Name, err)
	}
	return p
}

func listPorts(t *testing.T, nc *gophercloud.ServiceClient, opts ports.ListOpts) []ports.Port {
	t.Helper()
	all, err := ports.List(nc, opts).AllPages(context.Background())
	if err != nil {
		t.Fatalf("list ports %+v: %v", opts, err)
	}
	ps, err := ports.ExtractPorts(all)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func portNames(ps []ports.Port) []string {
	var names []string
	for _, p := range ps {
		names = append(names, p.Name)
	}
	return names
}

// defaultGroup returns the project's "default" security group.
func defaultGroup(t *testing.T, nc *gophercloud.ServiceClient) *groups.SecGroup {
	t.Helper()
	all, err := groups.List(nc, groups.ListOpts{Name: "default"}).AllPages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	gs, err := groups.ExtractGroups(all)
	if err != nil || len(gs) != 1 {
		t.Fatalf("default groups: got %+v, %v", gs, err)
	}
	return &gs[0]
}

func TestNetworkAndSubnetAreSeededAndShared(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	nc := tc.network("demo")
	n, sub := privateNetwork(t, nc)
	if !n.Shared || n.Status != "ACTIVE" || !n.AdminStateUp || len(n.Subnets) != 1 || n.ProjectID == projectIDOf(t, nc.ProviderClient) {
		t.Fatalf("private network: got %+v, want shared, active, one subnet, the admin's", n)
	}
	if sub.CIDR != tc.cloud.NetworkCIDR() || !strings.HasPrefix(sub.CIDR, "127.") || !strings.HasSuffix(sub.CIDR, ".0.0/16") || sub.GatewayIP != addr(sub, "0.1") || sub.NetworkID != n.ID || sub.IPVersion != 4 ||
		len(sub.AllocationPools) != 1 || sub.AllocationPools[0].Start != addr(sub, "0.2") || sub.AllocationPools[0].End != addr(sub, "255.254") {
		t.Fatalf("private subnet: got %+v", sub)
	}
	got, err := networks.Get(ctx, nc, n.ID).Extract()
	if err != nil || got.Name != "private" || got.CreatedAt.IsZero() {
		t.Fatalf("get network: got %+v, %v", got, err)
	}

	shared, notShared := true, false
	for _, tt := range []struct {
		opts networks.ListOpts
		want int
	}{
		{networks.ListOpts{}, 1},
		{networks.ListOpts{Shared: &shared}, 1},
		{networks.ListOpts{Shared: &notShared}, 0},
		{networks.ListOpts{ID: n.ID}, 1},
		{networks.ListOpts{Name: "public"}, 0},
	} {
		all, err := networks.List(nc, tt.opts).AllPages(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if nets, _ := networks.ExtractNetworks(all); len(nets) != tt.want {
			t.Errorf("list networks %+v: got %d, want %d", tt.opts, len(nets), tt.want)
		}
	}
	all, err := subnets.List(nc, subnets.ListOpts{NetworkID: n.ID}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if subs, _ := subnets.ExtractSubnets(all); len(subs) != 1 || subs[0].ID != sub.ID {
		t.Fatalf("subnets of the network: got %+v", subs)
	}

	_, err = networks.Get(ctx, nc, "00000000-0000-4000-8000-000000000000").Extract()
	wantNeutronError(t, "get an unknown network", err, http.StatusNotFound, "NetworkNotFound")
	_, err = subnets.Get(ctx, nc, "00000000-0000-4000-8000-000000000000").Extract()
	wantNeutronError(t, "get an unknown subnet", err, http.StatusNotFound, "SubnetNotFound")
	for _, path := range []string{"networks", "subnets", "ports", "security-groups", "security-group-rules"} {
		if resp := rawRequest(t, http.MethodGet, nc.ServiceURL(path), "", ""); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without a token: got %d, want 401", path, resp.StatusCode)
		}
	}
}

func TestPortCreateShowUpdateDeleteReleasesTheIP(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	nc := tc.network("demo")
	n, sub := privateNetwork(t, nc)
	project := projectIDOf(t, nc.ProviderClient)

	p := createPort(t, nc, ports.CreateOpts{NetworkID: n.ID, Name: "db-0", Description: "postgres", DeviceID: "server-1", DeviceOwner: "compute:nova"})
	def := defaultGroup(t, nc)
	if p.Name != "db-0" || p.Description != "postgres" || p.NetworkID != n.ID || p.ProjectID != project || p.TenantID != project ||
		p.Status != "ACTIVE" || !p.AdminStateUp || p.DeviceID != "server-1" || p.DeviceOwner != "compute:nova" ||
		len(p.MACAddress) != 17 || p.CreatedAt.IsZero() || p.Tags == nil ||
		len(p.FixedIPs) != 1 || p.FixedIPs[0].SubnetID != sub.ID || p.FixedIPs[0].IPAddress != addr(sub, "0.2") ||
		!slices.Equal(p.SecurityGroups, []string{def.ID}) {
		t.Fatalf("created port: got %+v", p)
	}
	got, err := ports.Get(ctx, nc, p.ID).Extract()
	if err != nil || got.FixedIPs[0].IPAddress != addr(sub, "0.2") || got.MACAddress != p.MACAddress {
		t.Fatalf("get port: got %+v, %v", got, err)
	}

	name, empty := "db-0-renamed", ""
	updated, err := ports.Update(ctx, nc, p.ID, ports.UpdateOpts{Name: &name, DeviceID: &empty, DeviceOwner: &empty, SecurityGroups: &[]string{}}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if updated.Name != name || updated.Status != "DOWN" || updated.DeviceID != "" || len(updated.SecurityGroups) != 0 || updated.FixedIPs[0].IPAddress != addr(sub, "0.2") {
		t.Fatalf("updated port: got %+v", updated)
	}
	_, err = ports.Update(ctx, nc, p.ID, ports.UpdateOpts{SecurityGroups: &[]string{"00000000-0000-4000-8000-000000000000"}}).Extract()
	wantNeutronError(t, "update with an unknown group", err, http.StatusNotFound, "SecurityGroupNotFound")

	second := createPort(t, nc, ports.CreateOpts{NetworkID: n.ID, Name: "db-1"})
	if second.FixedIPs[0].IPAddress != addr(sub, "0.3") || second.Status != "DOWN" {
		t.Fatalf("second port: got %+v, want %s and DOWN", second, addr(sub, "0.3"))
	}
	if err := ports.Delete(ctx, nc, p.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	_, err = ports.Get(ctx, nc, p.ID).Extract()
	wantNeutronError(t, "get a deleted port", err, http.StatusNotFound, "PortNotFound")
	err = ports.Delete(ctx, nc, p.ID).ExtractErr()
	wantNeutronError(t, "delete a deleted port", err, http.StatusNotFound, "PortNotFound")
	if again := createPort(t, nc, ports.CreateOpts{NetworkID: n.ID}); again.FixedIPs[0].IPAddress != addr(sub, "0.2") {
		t.Fatalf("port after a delete: got IP %s, want the released %s", again.FixedIPs[0].IPAddress, addr(sub, "0.2"))
	}
}

func TestPortCreateWithRequestedIP(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	nc := tc.network("demo")
	n, sub := privateNetwork(t, nc)

	p := createPort(t, nc, ports.CreateOpts{NetworkID: n.ID, FixedIPs: []ports.IP{{IPAddress: addr(sub, "5.5")}}})
	if p.FixedIPs[0].IPAddress != addr(sub, "5.5") || p.FixedIPs[0].SubnetID != sub.ID {
		t.Fatalf("port with a requested IP: got %+v", p.FixedIPs)
	}
	bySubnet := createPort(t, nc, ports.CreateOpts{NetworkID: n.ID, FixedIPs: []ports.IP{{SubnetID: sub.ID}}})
	if bySubnet.FixedIPs[0].IPAddress != addr(sub, "0.2") {
		t.Fatalf("port with a requested subnet: got %+v", bySubnet.FixedIPs)
	}
	for _, tt := range []struct {
		name   string
		opts   ports.CreateOpts
		status int
		typ    string
	}{
		{"IP taken", ports.CreateOpts{NetworkID: n.ID, FixedIPs: []ports.IP{{IPAddress: addr(sub, "5.5")}}}, http.StatusConflict, "IpAddressAlreadyAllocated"},
		{"gateway", ports.CreateOpts{NetworkID: n.ID, FixedIPs: []ports.IP{{IPAddress: addr(sub, "0.1")}}}, http.StatusConflict, "IpAddressAlreadyAllocated"},
		{"outside the subnet", ports.CreateOpts{NetworkID: n.ID, FixedIPs: []ports.IP{{IPAddress: "10.0.0.5"}}}, http.StatusBadRequest, "InvalidIpForNetwork"},
		{"outside the given subnet", ports.CreateOpts{NetworkID: n.ID, FixedIPs: []ports.IP{{SubnetID: sub.ID, IPAddress: "10.0.0.5"}}}, http.StatusBadRequest, "InvalidIpForSubnet"},
		{"broadcast", ports.CreateOpts{NetworkID: n.ID, FixedIPs: []ports.IP{{IPAddress: addr(sub, "255.255")}}}, http.StatusBadRequest, "InvalidIpForSubnet"},
		{"not an IP", ports.CreateOpts{NetworkID: n.ID, FixedIPs: []ports.IP{{IPAddress: "db.local"}}}, http.StatusBadRequest, "HTTPBadRequest"},
		{"unknown network", ports.CreateOpts{NetworkID: "00000000-0000-4000-8000-000000000000"}, http.StatusNotFound, "NetworkNotFound"},
		{"unknown group", ports.CreateOpts{NetworkID: n.ID, SecurityGroups: &[]string{"00000000-0000-4000-8000-000000000000"}}, http.StatusNotFound, "SecurityGroupNotFound"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ports.Create(ctx, nc, tt.opts).Extract()
			wantNeutronError(t, "create port", err, tt.status, tt.typ)
		})
	}
	// gophercloud insists on network_id, so ask without it directly.
	_, err := nc.Post(ctx, nc.ServiceURL("ports"), map[string]any{"port": map[string]any{"name": "x"}}, nil, &gophercloud.RequestOpts{OkCodes: []int{201}})
	wantNeutronError(t, "create port without network_id", err, http.StatusBadRequest, "HTTPBadRequest")
	if ps := listPorts(t, nc, ports.ListOpts{}); len(ps) != 2 {
		t.Fatalf("after the refused creates: got %d ports, want 2", len(ps))
	}
}

func TestPortListFiltersAndPages(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	nc := tc.network("demo")
	n, sub := privateNetwork(t, nc)
	g, err := groups.Create(ctx, nc, groups.CreateOpts{Name: "db"}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	createPort(t, nc, ports.CreateOpts{NetworkID: n.ID, Name: "a", DeviceID: "s1", DeviceOwner: "compute:nova"})
	createPort(t, nc, ports.CreateOpts{NetworkID: n.ID, Name: "b", DeviceID: "s2", DeviceOwner: "compute:nova", SecurityGroups: &[]string{g.ID}})
	createPort(t, nc, ports.CreateOpts{NetworkID: n.ID, Name: "c", FixedIPs: []ports.IP{{IPAddress: addr(sub, "9.9")}}})
	createPort(t, tc.network("alt_demo"), ports.CreateOpts{NetworkID: n.ID, Name: "alt"})

	for _, tt := range []struct {
		opts ports.ListOpts
		want []string
	}{
		{ports.ListOpts{}, []string{"a", "b", "c"}},
		{ports.ListOpts{NetworkID: n.ID}, []string{"a", "b", "c"}},
		{ports.ListOpts{DeviceID: "s2"}, []string{"b"}},
		{ports.ListOpts{DeviceOwner: "compute:nova"}, []string{"a", "b"}},
		{ports.ListOpts{Name: "c"}, []string{"c"}},
		{ports.ListOpts{FixedIPs: []ports.FixedIPOpts{{IPAddress: addr(sub, "9.9")}}}, []string{"c"}},
		{ports.ListOpts{FixedIPs: []ports.FixedIPOpts{{IPAddress: addr(sub, "0.3")}}}, []string{"b"}},
		{ports.ListOpts{SecurityGroups: []string{g.ID}}, []string{"b"}},
		{ports.ListOpts{Status: "DOWN"}, []string{"c"}},
	} {
		if got := portNames(listPorts(t, nc, tt.opts)); !slices.Equal(got, tt.want) {
			t.Errorf("list ports %+v: got %v, want %v", tt.opts, got, tt.want)
		}
	}
	var names []string
	pages := 0
	err = ports.List(nc, ports.ListOpts{Limit: 2}).EachPage(ctx, func(_ context.Context, p pagination.Page) (bool, error) {
		ps, err := ports.ExtractPorts(p)
		names = append(names, portNames(ps)...)
		pages++
		return true, err
	})
	if err != nil || pages != 2 || !slices.Equal(names, []string{"a", "b", "c"}) {
		t.Fatalf("list two a page: got %v in %d pages (err %v), want a, b, c in 2", names, pages, err)
	}
	if got := portNames(listPorts(t, tc.network("admin"), ports.ListOpts{})); len(got) != 4 {
		t.Fatalf("admin lists ports: got %v, want every project's 4", got)
	}
}

func TestPortOfAnotherProjectIsForbidden(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	demo := tc.network("demo")
	alt := tc.network("alt_demo")
	n, _ := privateNetwork(t, demo)
	p := createPort(t, demo, ports.CreateOpts{NetworkID: n.ID, Name: "demo-port"})

	_, err := ports.Get(ctx, alt, p.ID).Extract()
	wantNeutronError(t, "alt_demo gets demo's port", err, http.StatusForbidden, "HTTPForbidden")
	name := "mine"
	_, err = ports.Update(ctx, alt, p.ID, ports.UpdateOpts{Name: &name}).Extract()
	wantNeutronError(t, "alt_demo renames demo's port", err, http.StatusForbidden, "HTTPForbidden")
	err = ports.Delete(ctx, alt, p.ID).ExtractErr()
	wantNeutronError(t, "alt_demo deletes demo's port", err, http.StatusForbidden, "HTTPForbidden")
	if got := listPorts(t, alt, ports.ListOpts{}); len(got) != 0 {
		t.Fatalf("alt_demo lists ports: got %v, want none", portNames(got))
	}
	// A port may not use another project's group.
	_, err = ports.Create(ctx, alt, ports.CreateOpts{NetworkID: n.ID, SecurityGroups: &[]string{defaultGroup(t, demo).ID}}).Extract()
	wantNeutronError(t, "alt_demo's port in demo's group", err, http.StatusNotFound, "SecurityGroupNotFound")
	_, err = ports.Create(ctx, alt, ports.CreateOpts{NetworkID: n.ID, ProjectID: projectIDOf(t, demo.ProviderClient)}).Extract()
	wantStatus(t, "alt_demo creates a port for demo", err, http.StatusForbidden)

	if got, err := ports.Get(ctx, tc.network("admin"), p.ID).Extract(); err != nil || got.Name != "demo-port" {
		t.Fatalf("admin gets demo's port: got %+v, %v", got, err)
	}
}

func TestSecurityGroupCreateShowUpdateDelete(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	nc := tc.network("demo")
	project := projectIDOf(t, nc.ProviderClient)

	g, err := groups.Create(ctx, nc, groups.CreateOpts{Name: "db", Description: "database servers"}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if g.Name != "db" || g.Description != "database servers" || g.ProjectID != project || g.TenantID != project || g.CreatedAt.IsZero() || len(g.Rules) != 2 {
		t.Fatalf("created group: got %+v", g)
	}
	var ethers []string
	for _, r := range g.Rules {
		if r.Direction != "egress" || r.Protocol != "" || r.RemoteIPPrefix != "" || r.SecGroupID != g.ID || r.ProjectID != project {
			t.Fatalf("default rule of a new group: got %+v, want any egress", r)
		}
		ethers = append(ethers, r.EtherType)
	}
	if slices.Sort(ethers); !slices.Equal(ethers, []string{"IPv4", "IPv6"}) {
		t.Fatalf("default rules of a new group: got ethertypes %v", ethers)
	}

	all, err := groups.List(nc, groups.ListOpts{}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gs, _ := groups.ExtractGroups(all)
	var names []string
	for _, g := range gs {
		names = append(names, g.Name)
	}
	if slices.Sort(names); !slices.Equal(names, []string{"db", "default"}) {
		t.Fatalf("groups: got %v, want db and the project's default", names)
	}
	all, err = groups.List(nc, groups.ListOpts{Name: "db"}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if gs, _ := groups.ExtractGroups(all); len(gs) != 1 || gs[0].ID != g.ID {
		t.Fatalf("groups named db: got %+v", gs)
	}

	description := "postgres servers"
	updated, err := groups.Update(ctx, nc, g.ID, groups.UpdateOpts{Name: "pg", Description: &description}).Extract()
	if err != nil || updated.Name != "pg" || updated.Description != description || len(updated.Rules) != 2 {
		t.Fatalf("updated group: got %+v, %v", updated, err)
	}
	got, err := groups.Get(ctx, nc, g.ID).Extract()
	if err != nil || got.Name != "pg" || len(got.Rules) != 2 {
		t.Fatalf("get group: got %+v, %v", got, err)
	}

	n, _ := privateNetwork(t, nc)
	p := createPort(t, nc, ports.CreateOpts{NetworkID: n.ID, SecurityGroups: &[]string{g.ID}})
	err = groups.Delete(ctx, nc, g.ID).ExtractErr()
	wantNeutronError(t, "delete a group a port uses", err, http.StatusConflict, "SecurityGroupInUse")
	if err := ports.Delete(ctx, nc, p.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	if err := groups.Delete(ctx, nc, g.ID).ExtractErr(); err != nil {
		t.Fatalf("delete an unused group: %v", err)
	}
	_, err = groups.Get(ctx, nc, g.ID).Extract()
	wantNeutronError(t, "get a deleted group", err, http.StatusNotFound, "SecurityGroupNotFound")
	all, err = rules.List(nc, rules.ListOpts{SecGroupID: g.ID}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rs, _ := rules.ExtractRules(all); len(rs) != 0 {
		t.Fatalf("rules of a deleted group: got %+v, want none", rs)
	}

	_, err = groups.Create(ctx, nc, groups.CreateOpts{Name: "default"}).Extract()
	wantNeutronError(t, "create a second default group", err, http.StatusConflict, "SecurityGroupDefaultAlreadyExists")
	err = groups.Delete(ctx, nc, defaultGroup(t, nc).ID).ExtractErr()
	wantNeutronError(t, "member deletes the default group", err, http.StatusConflict, "SecurityGroupCannotRemoveDefault")
}

func TestSecurityRuleCreateListShowDelete(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	nc := tc.network("demo")
	g, err := groups.Create(ctx, nc, groups.CreateOpts{Name: "db"}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	opts := rules.CreateOpts{
		SecGroupID: g.ID, Direction: rules.DirIngress, EtherType: rules.EtherType4, Protocol: rules.ProtocolTCP,
		PortRangeMin: 5432, PortRangeMax: 5432, RemoteIPPrefix: "10.1.2.3/8", Description: "postgres",
	}
	r, err := rules.Create(ctx, nc, opts).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if r.SecGroupID != g.ID || r.Direction != "ingress" || r.EtherType != "IPv4" || r.Protocol != "tcp" ||
		r.PortRangeMin != 5432 || r.PortRangeMax != 5432 || r.RemoteIPPrefix != "10.0.0.0/8" || r.Description != "postgres" ||
		r.ProjectID != g.ProjectID || r.CreatedAt.IsZero() {
		t.Fatalf("created rule: got %+v", r)
	}
	_, err = rules.Create(ctx, nc, opts).Extract()
	wantNeutronError(t, "create the same rule again", err, http.StatusConflict, "SecurityGroupRuleExists")
	icmp, err := rules.Create(ctx, nc, rules.CreateOpts{SecGroupID: g.ID, Direction: rules.DirIngress, EtherType: rules.EtherType4, Protocol: rules.ProtocolICMP, RemoteGroupID: g.ID}).Extract()
	if err != nil || icmp.RemoteGroupID != g.ID || icmp.Protocol != "icmp" {
		t.Fatalf("create an icmp rule from the group itself: got %+v, %v", icmp, err)
	}

	got, err := rules.Get(ctx, nc, r.ID).Extract()
	if err != nil || got.ID != r.ID || got.PortRangeMin != 5432 {
		t.Fatalf("get rule: got %+v, %v", got, err)
	}
	withRules, err := groups.Get(ctx, nc, g.ID).Extract()
	if err != nil || len(withRules.Rules) != 4 {
		t.Fatalf("group with its rules: got %+v, %v, want 4 rules", withRules, err)
	}
	for _, tt := range []struct {
		opts rules.ListOpts
		want int
	}{
		{rules.ListOpts{SecGroupID: g.ID}, 4},
		{rules.ListOpts{SecGroupID: g.ID, Direction: "ingress"}, 2},
		{rules.ListOpts{SecGroupID: g.ID, Direction: "egress"}, 2},
		{rules.ListOpts{SecGroupID: g.ID, Protocol: "tcp"}, 1},
		{rules.ListOpts{PortRangeMin: 5432}, 1},
	} {
		all, err := rules.List(nc, tt.opts).AllPages(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rs, _ := rules.ExtractRules(all); len(rs) != tt.want {
			t.Errorf("list rules %+v: got %d, want %d", tt.opts, len(rs), tt.want)
		}
	}

	if err := rules.Delete(ctx, nc, r.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	_, err = rules.Get(ctx, nc, r.ID).Extract()
	wantNeutronError(t, "get a deleted rule", err, http.StatusNotFound, "SecurityGroupRuleNotFound")
	if _, err := rules.Create(ctx, nc, opts).Extract(); err != nil {
		t.Fatalf("create the deleted rule again: %v", err)
	}
}

func TestSecurityRuleCreateRefusesBadInput(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	nc := tc.network("demo")
	g, err := groups.Create(ctx, nc, groups.CreateOpts{Name: "db"}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	altGroup, err := groups.Create(ctx, tc.network("alt_demo"), groups.CreateOpts{Name: "alt"}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	in := func(change func(*rules.CreateOpts)) rules.CreateOpts {
		o := rules.CreateOpts{SecGroupID: g.ID, Direction: rules.DirIngress, EtherType: rules.EtherType4, Protocol: rules.ProtocolTCP, PortRangeMin: 80, PortRangeMax: 80}
		change(&o)
		return o
	}
	for _, tt := range []struct {
		name   string
		opts   rules.CreateOpts
		status int
		typ    string
	}{
		{"bad direction", in(func(o *rules.CreateOpts) { o.Direction = "sideways" }), http.StatusBadRequest, "HTTPBadRequest"},
		{"bad ethertype", in(func(o *rules.CreateOpts) { o.EtherType = "IPv5" }), http.StatusBadRequest, "HTTPBadRequest"},
		{"bad protocol", in(func(o *rules.CreateOpts) { o.Protocol = "carrier-pigeon" }), http.StatusBadRequest, "SecurityGroupRuleInvalidProtocol"},
		{"min above max", in(func(o *rules.CreateOpts) { o.PortRangeMin, o.PortRangeMax = 90, 80 }), http.StatusBadRequest, "SecurityGroupInvalidPortRange"},
		{"port above 65535", in(func(o *rules.CreateOpts) { o.PortRangeMax = 70000 }), http.StatusBadRequest, "SecurityGroupInvalidPortValue"},
		{"ports without protocol", in(func(o *rules.CreateOpts) { o.Protocol = "" }), http.StatusBadRequest, "SecurityGroupProtocolRequiredWithPorts"},
		{"prefix of the other family", in(func(o *rules.CreateOpts) { o.RemoteIPPrefix = "::/0" }), http.StatusBadRequest, "SecurityGroupRuleParameterConflict"},
		{"bad prefix", in(func(o *rules.CreateOpts) { o.RemoteIPPrefix = "10.0.0.0/99" }), http.StatusBadRequest, "HTTPBadRequest"},
		{"prefix and group", in(func(o *rules.CreateOpts) { o.RemoteIPPrefix, o.RemoteGroupID = "10.0.0.0/8", g.ID }), http.StatusBadRequest, "SecurityGroupRemoteGroupAndRemoteIpPrefix"},
		{"unknown group", in(func(o *rules.CreateOpts) { o.SecGroupID = "00000000-0000-4000-8000-000000000000" }), http.StatusNotFound, "SecurityGroupNotFound"},
		{"another project's group", in(func(o *rules.CreateOpts) { o.SecGroupID = altGroup.ID }), http.StatusNotFound, "SecurityGroupNotFound"},
		{"unknown remote group", in(func(o *rules.CreateOpts) { o.RemoteGroupID = "00000000-0000-4000-8000-000000000000" }), http.StatusNotFound, "SecurityGroupNotFound"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rules.Create(ctx, nc, tt.opts).Extract()
			wantNeutronError(t, "create rule", err, tt.status, tt.typ)
		})
	}
}

func TestSecurityGroupOfAnotherProjectIsForbidden(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	demo := tc.network("demo")
	alt := tc.network("alt_demo")
	g, err := groups.Create(ctx, demo, groups.CreateOpts{Name: "db"}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	_, err = groups.Get(ctx, alt, g.ID).Extract()
	wantNeutronError(t, "alt_demo gets demo's group", err, http.StatusForbidden, "HTTPForbidden")
	_, err = groups.Update(ctx, alt, g.ID, groups.UpdateOpts{Name: "mine"}).Extract()
	wantNeutronError(t, "alt_demo renames demo's group", err, http.StatusForbidden, "HTTPForbidden")
	err = groups.Delete(ctx, alt, g.ID).ExtractErr()
	wantNeutronError(t, "alt_demo deletes demo's group", err, http.StatusForbidden, "HTTPForbidden")
	_, err = rules.Get(ctx, alt, g.Rules[0].ID).Extract()
	wantNeutronError(t, "alt_demo gets demo's rule", err, http.StatusForbidden, "HTTPForbidden")
	err = rules.Delete(ctx, alt, g.Rules[0].ID).ExtractErr()
	wantNeutronError(t, "alt_demo deletes demo's rule", err, http.StatusForbidden, "HTTPForbidden")

	all, err := groups.List(alt, groups.ListOpts{}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gs, _ := groups.ExtractGroups(all)
	if len(gs) != 1 || gs[0].Name != "default" || gs[0].ProjectID != projectIDOf(t, alt.ProviderClient) {
		t.Fatalf("alt_demo lists groups: got %+v, want its own default group only", gs)
	}
	all, err = rules.List(alt, rules.ListOpts{SecGroupID: g.ID}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rs, _ := rules.ExtractRules(all); len(rs) != 0 {
		t.Fatalf("alt_demo lists demo's rules: got %+v, want none", rs)
	}
}

func TestNeutronStateSurvivesRestart(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	nc := tc.network("demo")
	n, sub := privateNetwork(t, nc)
	g, err := groups.Create(ctx, nc, groups.CreateOpts{Name: "db"}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	r, err := rules.Create(ctx, nc, rules.CreateOpts{SecGroupID: g.ID, Direction: rules.DirIngress, EtherType: rules.EtherType4, Protocol: rules.ProtocolTCP, PortRangeMin: 3306, PortRangeMax: 3306}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	p := createPort(t, nc, ports.CreateOpts{NetworkID: n.ID, Name: "db-0", FixedIPs: []ports.IP{{IPAddress: addr(sub, "3.4")}}, SecurityGroups: &[]string{g.ID}})
	def := defaultGroup(t, nc)

	tc.restart()
	nc = tc.network("demo")
	gotPort, err := ports.Get(ctx, nc, p.ID).Extract()
	if err != nil || gotPort.FixedIPs[0].IPAddress != addr(sub, "3.4") || gotPort.MACAddress != p.MACAddress || !slices.Equal(gotPort.SecurityGroups, []string{g.ID}) {
		t.Fatalf("port after restart: got %+v, %v", gotPort, err)
	}
	gotGroup, err := groups.Get(ctx, nc, g.ID).Extract()
	if err != nil || gotGroup.Name != "db" || len(gotGroup.Rules) != 3 {
		t.Fatalf("group after restart: got %+v, %v", gotGroup, err)
	}
	if gotRule, err := rules.Get(ctx, nc, r.ID).Extract(); err != nil || gotRule.PortRangeMin != 3306 {
		t.Fatalf("rule after restart: got %+v, %v", gotRule, err)
	}
	if again := defaultGroup(t, nc); again.ID != def.ID {
		t.Fatalf("default group after restart: got %s, want %s", again.ID, def.ID)
	}
	if n2, _ := privateNetwork(t, nc); n2.ID != n.ID {
		t.Fatalf("network after restart: got %s, want %s", n2.ID, n.ID)
	}
	_, err = ports.Create(ctx, nc, ports.CreateOpts{NetworkID: n.ID, FixedIPs: []ports.IP{{IPAddress: addr(sub, "3.4")}}}).Extract()
	wantNeutronError(t, "take the port's IP after restart", err, http.StatusConflict, "IpAddressAlreadyAllocated")
}
