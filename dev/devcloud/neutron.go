package devcloud

import (
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// neutronTime is the timestamp format Neutron writes.
const neutronTime = "2006-01-02T15:04:05Z"

// neutronFault is a Neutron error with its specific type ("PortNotFound"). A handler that
// finds one under c.mu writes it once the lock is released.
type neutronFault struct {
	status int
	typ    string
	msg    string
}

func (f *neutronFault) Error() string { return f.msg }

func neutronFaultf(status int, typ, format string, args ...any) *neutronFault {
	return &neutronFault{status: status, typ: typ, msg: fmt.Sprintf(format, args...)}
}

func (c *Cloud) writeNeutronFault(w http.ResponseWriter, f *neutronFault) {
	c.failNeutron(w, f.status, f.typ, f.msg)
}

// routeNetwork registers Neutron v2.0 under /network/v2.0.
//
//	GET                 /network/ (no token)         version: the versions document
//	GET                 /networks[/{id}]             network.list, network.get
//	GET                 /subnets[/{id}]              subnet.list, subnet.get
//	POST GET PUT DELETE /ports[/{id}]                port.create, .list, .get, .update, .delete
//	POST GET PUT DELETE /security-groups[/{id}]      security_group.create, ...
//	POST GET DELETE     /security-group-rules[/{id}] security_group_rule.create, ...
func (c *Cloud) routeNetwork() {
	const base = "/network/v2.0"
	// gophercloud reads the versions document of the unversioned endpoint in the catalog.
	c.routePublic("network", "version", "GET /network/{$}", c.networkVersions)
	c.route("network", "network.list", "GET "+base+"/networks", c.listNetworks)
	c.route("network", "network.get", "GET "+base+"/networks/{id}", c.showNetwork)
	c.route("network", "subnet.list", "GET "+base+"/subnets", c.listSubnets)
	c.route("network", "subnet.get", "GET "+base+"/subnets/{id}", c.showSubnet)
	c.route("network", "port.create", "POST "+base+"/ports", c.createPort)
	c.route("network", "port.list", "GET "+base+"/ports", c.listPorts)
	c.route("network", "port.get", "GET "+base+"/ports/{id}", c.showPort)
	c.route("network", "port.update", "PUT "+base+"/ports/{id}", c.updatePort)
	c.route("network", "port.delete", "DELETE "+base+"/ports/{id}", c.deletePort)
	c.route("network", "security_group.create", "POST "+base+"/security-groups", c.createSecurityGroup)
	c.route("network", "security_group.list", "GET "+base+"/security-groups", c.listSecurityGroups)
	c.route("network", "security_group.get", "GET "+base+"/security-groups/{id}", c.showSecurityGroup)
	c.route("network", "security_group.update", "PUT "+base+"/security-groups/{id}", c.updateSecurityGroup)
	c.route("network", "security_group.delete", "DELETE "+base+"/security-groups/{id}", c.deleteSecurityGroup)
	c.route("network", "security_group_rule.create", "POST "+base+"/security-group-rules", c.createSecurityRule)
	c.route("network", "security_group_rule.list", "GET "+base+"/security-group-rules", c.listSecurityRules)
	c.route("network", "security_group_rule.get", "GET "+base+"/security-group-rules/{id}", c.showSecurityRule)
	c.route("network", "security_group_rule.delete", "DELETE "+base+"/security-group-rules/{id}", c.deleteSecurityRule)
}

func (c *Cloud) networkVersions(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"versions": []any{map[string]any{
		"id": "v2.0", "status": "CURRENT",
		"links": []any{map[string]any{"rel": "self", "href": c.baseURL + "/network/v2.0/"}},
	}}})
}

// seedLocked makes the seeded shared network and its subnet when they are missing, and the
// "default" security group is made per project on first use (see defaultGroupLocked). The
// caller holds c.mu.
func (c *Cloud) seedLocked() {
	netID := stableID("network", c.cfg.Network.Name)
	subID := stableID("subnet", c.cfg.Network.Name)
	if _, ok := c.st.Networks[netID]; ok {
		return
	}
	prefix := netip.MustParsePrefix(c.cfg.Network.CIDR).Masked()
	now := c.now()
	admin := c.projectIDByName("admin")
	c.st.Networks[netID] = &network{ID: netID, Name: c.cfg.Network.Name, ProjectID: admin, Shared: true, Subnets: []string{subID}, Created: now}
	c.st.Subnets[subID] = &subnet{
		ID: subID, Name: c.cfg.Network.Name + "-subnet", NetworkID: netID, ProjectID: admin,
		CIDR: prefix.String(), GatewayIP: prefix.Addr().Next().String(), Created: now,
	}
}

// neutronList is the common part of Neutron's list calls: the filters of the query string
// (a repeated key matches any of its values), limit/marker paging and the "next" link.
type neutronList struct {
	q      url.Values
	limit  int
	marker string
}

func (c *Cloud) parseNeutronList(w http.ResponseWriter, r *http.Request) (neutronList, bool) {
	q := r.URL.Query()
	limit, err := queryLimit(q, 0, 0)
	if err != nil {
		c.fail(w, "network", http.StatusBadRequest, "Bad limit request: %v.", err)
		return neutronList{}, false
	}
	return neutronList{q: q, limit: limit, marker: q.Get("marker")}, true
}

// match tells whether a resource's attribute passes the filter on key, if any.
func (l neutronList) match(key, value string) bool {
	vals, ok := l.q[key]
	return !ok || slices.Contains(vals, value)
}

// matchBool is match for a boolean attribute, which clients write true, True or 1.
func (l neutronList) matchBool(key string, value bool) bool {
	vals, ok := l.q[key]
	return !ok || slices.ContainsFunc(vals, func(v string) bool {
		b, err := strconv.ParseBool(v)
		return err == nil && b == value
	})
}

// neutronPage writes the page of views after the marker under the collection's key, and
// <collection>_links with a "next" link when more follow.
func (c *Cloud) neutronPage(w http.ResponseWriter, r *http.Request, l neutronList, collection string, ids []string, views []any, notFound *neutronFault) {
	type item struct {
		id   string
		view any
	}
	items := make([]item, len(ids))
	for i := range ids {
		items[i] = item{ids[i], views[i]}
	}
	page, more, found := pageByMarker(items, func(it item) string { return it.id }, l.marker, l.limit)
	if !found {
		c.writeNeutronFault(w, notFound)
		return
	}
	out := make([]any, 0, len(page))
	for _, it := range page {
		out = append(out, it.view)
	}
	resp := map[string]any{collection: out}
	if more {
		resp[collection+"_links"] = []any{map[string]any{"rel": "next", "href": c.nextPageURL(r, page[len(page)-1].id)}}
	}
	writeJSON(w, http.StatusOK, resp)
}

// sortedKeys are the IDs of a map of records ordered by creation, then ID: the stable order
// marker paging needs.
func sortedKeys[T any](m map[string]*T, created func(*T) int64) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int {
		ca, cb := created(m[a]), created(m[b])
		switch {
		case ca < cb:
			return -1
		case ca > cb:
			return 1
		}
		return strings.Compare(a, b)
	})
	return ids
}

// ---- networks and subnets

func (t *token) seesNetwork(n *network) bool { return n.Shared || t.owns(n.ProjectID) }

func (c *Cloud) networkView(n *network) map[string]any {
	return map[string]any{
		"id": n.ID, "name": n.Name, "description": "", "admin_state_up": true, "status": "ACTIVE",
		"subnets": slices.Clone(n.Subnets), "tenant_id": n.ProjectID, "project_id": n.ProjectID,
		"shared": n.Shared, "router:external": false, "mtu": 1500, "port_security_enabled": true,
		"availability_zone_hints": []string{}, "availability_zones": []string{"nova"},
		"ipv4_address_scope": nil, "ipv6_address_scope": nil, "tags": []string{},
		"created_at": n.Created.Format(neutronTime), "updated_at": n.Created.Format(neutronTime),
	}
}

func (c *Cloud) subnetView(s *subnet) map[string]any {
	prefix := netip.MustParsePrefix(s.CIDR)
	first, last := prefix.Addr().Next(), lastAddr(prefix).Prev()
	if first.String() == s.GatewayIP {
		first = first.Next()
	}
	return map[string]any{
		"id": s.ID, "name": s.Name, "description": "", "network_id": s.NetworkID,
		"tenant_id": s.ProjectID, "project_id": s.ProjectID, "ip_version": 4, "cidr": s.CIDR,
		"gateway_ip":       s.GatewayIP,
		"allocation_pools": []any{map[string]any{"start": first.String(), "end": last.String()}},
		"dns_nameservers":  []string{}, "host_routes": []any{}, "service_types": []string{},
		"enable_dhcp": true, "ipv6_address_mode": nil, "ipv6_ra_mode": nil, "subnetpool_id": nil,
		"tags": []string{}, "created_at": s.Created.Format(neutronTime), "updated_at": s.Created.Format(neutronTime),
	}
}

// lastAddr is a prefix's broadcast address.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := (uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func (c *Cloud) listNetworks(w http.ResponseWriter, r *http.Request, tok *token) {
	l, ok := c.parseNeutronList(w, r)
	if !ok {
		return
	}
	c.mu.Lock()
	var ids []string
	var views []any
	for _, id := range sortedKeys(c.st.Networks, func(n *network) int64 { return n.Created.UnixNano() }) {
		n := c.st.Networks[id]
		if !tok.seesNetwork(n) || !l.match("id", n.ID) || !l.match("name", n.Name) ||
			!l.matchBool("shared", n.Shared) || !l.matchBool("router:external", false) ||
			!l.match("project_id", n.ProjectID) || !l.match("tenant_id", n.ProjectID) || !l.match("status", "ACTIVE") {
			continue
		}
		ids = append(ids, id)
		views = append(views, c.networkView(n))
	}
	c.mu.Unlock()
	c.neutronPage(w, r, l, "networks", ids, views, neutronFaultf(http.StatusNotFound, "NetworkNotFound", "Network %s could not be found.", l.marker))
}

func (c *Cloud) showNetwork(w http.ResponseWriter, r *http.Request, tok *token) {
	id := r.PathValue("id")
	c.mu.Lock()
	n := c.st.Networks[id]
	var view map[string]any
	var f *neutronFault
	switch {
	case n == nil:
		f = neutronFaultf(http.StatusNotFound, "NetworkNotFound", "Network %s could not be found.", id)
	case !tok.seesNetwork(n):
		f = neutronFaultf(http.StatusForbidden, "HTTPForbidden", "Network %s belongs to another project.", id)
	default:
		view = c.networkView(n)
	}
	c.mu.Unlock()
	if f != nil {
		c.writeNeutronFault(w, f)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"network": view})
}

func (c *Cloud) listSubnets(w http.ResponseWriter, r *http.Request, tok *token) {
	l, ok := c.parseNeutronList(w, r)
	if !ok {
		return
	}
	c.mu.Lock()
	var ids []string
	var views []any
	for _, id := range sortedKeys(c.st.Subnets, func(s *subnet) int64 { return s.Created.UnixNano() }) {
		s := c.st.Subnets[id]
		n := c.st.Networks[s.NetworkID]
		if n == nil || !tok.seesNetwork(n) || !l.match("id", s.ID) || !l.match("name", s.Name) ||
			!l.match("network_id", s.NetworkID) || !l.match("cidr", s.CIDR) || !l.match("gateway_ip", s.GatewayIP) ||
			!l.match("ip_version", "4") || !l.match("project_id", s.ProjectID) || !l.match("tenant_id", s.ProjectID) {
			continue
		}
		ids = append(ids, id)
		views = append(views, c.subnetView(s))
	}
	c.mu.Unlock()
	c.neutronPage(w, r, l, "subnets", ids, views, neutronFaultf(http.StatusNotFound, "SubnetNotFound", "Subnet %s could not be found.", l.marker))
}

func (c *Cloud) showSubnet(w http.ResponseWriter, r *http.Request, tok *token) {
	id := r.PathValue("id")
	c.mu.Lock()
	s := c.st.Subnets[id]
	var view map[string]any
	var f *neutronFault
	switch {
	case s == nil:
		f = neutronFaultf(http.StatusNotFound, "SubnetNotFound", "Subnet %s could not be found.", id)
	case c.st.Networks[s.NetworkID] == nil || !tok.seesNetwork(c.st.Networks[s.NetworkID]):
		f = neutronFaultf(http.StatusForbidden, "HTTPForbidden", "Subnet %s belongs to another project.", id)
	default:
		view = c.subnetView(s)
	}
	c.mu.Unlock()
	if f != nil {
		c.writeNeutronFault(w, f)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"subnet": view})
}

// ---- ports

// portSpec is what a new port asks for; empty fields take Neutron's defaults.
type portSpec struct {
	ProjectID, NetworkID, Name, Description, DeviceID, DeviceOwner string
	MACAddress                                                     string // "" for a random one
	SubnetID, IPAddress                                            string // the fixed IP asked for, if any
	SecurityGroups                                                 []string
	DefaultGroups                                                  bool // SecurityGroups is unset: use the project's "default" group
	Tags                                                           []string
}

// newPortLocked makes a port as Neutron would: its network must exist, the fixed IP asked for
// must lie in a subnet of that network and be free (else the next free one is taken), and its
// security groups must be its project's. The caller holds c.mu and saves.
func (c *Cloud) newPortLocked(s portSpec) (*port, *neutronFault) {
	n := c.st.Networks[s.NetworkID]
	if n == nil || len(n.Subnets) == 0 {
		return nil, neutronFaultf(http.StatusNotFound, "NetworkNotFound", "Network %s could not be found.", s.NetworkID)
	}
	sub, ip, f := c.allocateIPLocked(n, s.SubnetID, s.IPAddress)
	if f != nil {
		return nil, f
	}
	mac := strings.ToLower(s.MACAddress)
	if mac == "" {
		mac = c.freeMACLocked()
	} else if hw, err := net.ParseMAC(mac); err != nil || len(hw) != 6 {
		return nil, neutronFaultf(http.StatusBadRequest, "HTTPBadRequest", "Invalid input for mac_address. Reason: '%s' is not a valid MAC address.", s.MACAddress)
	} else {
		for _, p := range c.st.Ports {
			if p.NetworkID == n.ID && p.MACAddress == hw.String() {
				return nil, neutronFaultf(http.StatusConflict, "MacAddressInUse", "Unable to complete operation for network %s. The mac address %s is in use.", n.ID, hw)
			}
		}
		mac = hw.String()
	}
	groups := []string{}
	if s.DefaultGroups {
		groups = append(groups, c.defaultGroupLocked(s.ProjectID).ID)
	} else if f := c.checkPortGroupsLocked(s.ProjectID, s.SecurityGroups); f != nil {
		return nil, f
	} else {
		for _, g := range s.SecurityGroups {
			if !slices.Contains(groups, g) {
				groups = append(groups, g)
			}
		}
	}
	tags := slices.Clone(s.Tags)
	if tags == nil {
		tags = []string{}
	}
	now := c.now()
	p := &port{
		ID: newID(), Name: s.Name, NetworkID: n.ID, SubnetID: sub.ID, ProjectID: s.ProjectID,
		IPAddress: ip, MACAddress: mac, DeviceID: s.DeviceID, DeviceOwner: s.DeviceOwner,
		SecurityGroups: groups, Description: s.Description, Tags: tags, Created: now, Updated: now,
	}
	c.st.Ports[p.ID] = p
	return p, nil
}

// allocateIPLocked picks the subnet and fixed IP of a new port on n: the address asked for
// when there is one (it must be a host address of the subnet that no port holds), else the
// lowest free one of the subnet asked for, or of the network's first subnet.
func (c *Cloud) allocateIPLocked(n *network, subnetID, ip string) (*subnet, string, *neutronFault) {
	var sub *subnet
	if subnetID != "" {
		sub = c.st.Subnets[subnetID]
		if sub == nil {
			return nil, "", neutronFaultf(http.StatusNotFound, "SubnetNotFound", "Subnet %s could not be found.", subnetID)
		}
		if sub.NetworkID != n.ID {
			return nil, "", neutronFaultf(http.StatusBadRequest, "InvalidInput", "Invalid input for operation: Failed to create port on network %s, because fixed_ips included invalid subnet %s.", n.ID, subnetID)
		}
	}
	if ip == "" {
		if sub == nil {
			sub = c.st.Subnets[n.Subnets[0]]
		}
		free, err := c.freeIPLocked(sub)
		if err != nil {
			return nil, "", neutronFaultf(http.StatusConflict, "IpAddressGenerationFailure", "No more IP addresses available on network %s.", n.ID)
		}
		return sub, free, nil
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil || !addr.Is4() {
		return nil, "", neutronFaultf(http.StatusBadRequest, "HTTPBadRequest", "Invalid input for fixed_ips. Reason: '%s' is not a valid IPv4 address.", ip)
	}
	if sub == nil {
		for _, id := range n.Subnets {
			if s := c.st.Subnets[id]; s != nil && netip.MustParsePrefix(s.CIDR).Contains(addr) {
				sub = s
				break
			}
		}
		if sub == nil {
			return nil, "", neutronFaultf(http.StatusBadRequest, "InvalidIpForNetwork", "IP address %s is not a valid IP for any of the subnets on the specified network.", ip)
		}
	}
	prefix := netip.MustParsePrefix(sub.CIDR)
	if !prefix.Contains(addr) || addr == prefix.Addr() || addr == lastAddr(prefix) {
		return nil, "", neutronFaultf(http.StatusBadRequest, "InvalidIpForSubnet", "IP address %s is not a valid IP for the specified subnet.", ip)
	}
	if c.usedIPsLocked(sub)[addr.String()] {
		return nil, "", neutronFaultf(http.StatusConflict, "IpAddressAlreadyAllocated", "IP address %s already allocated in subnet %s", ip, sub.ID)
	}
	return sub, addr.String(), nil
}

// usedIPsLocked are the addresses of a subnet that no new port may get: the ports', the
// gateway, and 127.0.0.1 (where the machine's own services listen).
func (c *Cloud) usedIPsLocked(sub *subnet) map[string]bool {
	used := map[string]bool{sub.GatewayIP: true, "127.0.0.1": true}
	for _, p := range c.st.Ports {
		if p.SubnetID == sub.ID {
			used[p.IPAddress] = true
		}
	}
	return used
}

// freeIPLocked returns the lowest address of the subnet that no port holds, skipping the
// network address, the gateway, the broadcast address and 127.0.0.1.
func (c *Cloud) freeIPLocked(sub *subnet) (string, error) {
	prefix := netip.MustParsePrefix(sub.CIDR)
	used := c.usedIPsLocked(sub)
	for a := prefix.Addr().Next(); prefix.Contains(a); a = a.Next() {
		next := a.Next()
		if !prefix.Contains(next) { // broadcast
			break
		}
		if !used[a.String()] {
			return a.String(), nil
		}
	}
	return "", fmt.Errorf("no more IP addresses available on subnet %s", sub.ID)
}

func randomMAC() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return fmt.Sprintf("fa:16:3e:%02x:%02x:%02x", b[0], b[1], b[2])
}

// freeMACLocked is a random MAC address that no port has.
func (c *Cloud) freeMACLocked() string {
	used := map[string]bool{}
	for _, p := range c.st.Ports {
		used[p.MACAddress] = true
	}
	for {
		if mac := randomMAC(); !used[mac] {
			return mac
		}
	}
}

// groupInUseLocked tells whether a port uses the security group.
func (c *Cloud) groupInUseLocked(id string) bool {
	for _, p := range c.st.Ports {
		if slices.Contains(p.SecurityGroups, id) {
			return true
		}
	}
	return false
}

// checkPortGroupsLocked checks that every group exists and belongs to the port's project.
func (c *Cloud) checkPortGroupsLocked(projectID string, ids []string) *neutronFault {
	for _, id := range ids {
		if g := c.st.SecurityGroups[id]; g == nil || g.ProjectID != projectID {
			return neutronFaultf(http.StatusNotFound, "SecurityGroupNotFound", "Security group %s does not exist", id)
		}
	}
	return nil
}

func portStatus(p *port) string {
	if p.DeviceID != "" {
		return "ACTIVE"
	}
	return "DOWN"
}

func (c *Cloud) portView(p *port) map[string]any {
	fixed := []any{}
	if p.IPAddress != "" {
		fixed = append(fixed, map[string]any{"subnet_id": p.SubnetID, "ip_address": p.IPAddress})
	}
	tags := p.Tags
	if tags == nil {
		tags = []string{}
	}
	groups := p.SecurityGroups
	if groups == nil {
		groups = []string{}
	}
	return map[string]any{
		"id": p.ID, "name": p.Name, "description": p.Description, "network_id": p.NetworkID,
		"tenant_id": p.ProjectID, "project_id": p.ProjectID, "mac_address": p.MACAddress,
		"admin_state_up": true, "status": portStatus(p), "device_id": p.DeviceID,
		"device_owner": p.DeviceOwner, "fixed_ips": fixed, "security_groups": groups,
		"tags": tags, "allowed_address_pairs": []any{}, "extra_dhcp_opts": []any{},
		"port_security_enabled": true, "binding:vnic_type": "normal", "dns_name": "",
		"created_at": p.Created.Format(neutronTime), "updated_at": p.Updated.Format(neutronTime),
	}
}

// portBody is the body of a port create or update.
type portBody struct {
	Port *struct {
		NetworkID   *string `json:"network_id"`
		Name        *string `json:"name"`
		Description *string `json:"description"`
		FixedIPs    *[]struct {
			SubnetID  string `json:"subnet_id"`
			IPAddress string `json:"ip_address"`
		} `json:"fixed_ips"`
		SecurityGroups *[]string `json:"security_groups"`
		DeviceID       *string   `json:"device_id"`
		DeviceOwner    *string   `json:"device_owner"`
		MACAddress     *string   `json:"mac_address"`
		Tags           *[]string `json:"tags"`
		ProjectID      *string   `json:"project_id"`
		TenantID       *string   `json:"tenant_id"`
		AdminStateUp   *bool     `json:"admin_state_up"`
	} `json:"port"`
}

func (c *Cloud) readPortBody(w http.ResponseWriter, r *http.Request) (*portBody, bool) {
	var b portBody
	if err := readJSON(r, &b); err != nil {
		c.fail(w, "network", http.StatusBadRequest, "Failed to parse request. %v", err)
		return nil, false
	}
	if b.Port == nil {
		c.fail(w, "network", http.StatusBadRequest, "Resource body required")
		return nil, false
	}
	if b.Port.AdminStateUp != nil && !*b.Port.AdminStateUp {
		c.fail(w, "network", http.StatusBadRequest, "The devcloud keeps every port administratively up.")
		return nil, false
	}
	return &b, true
}

// bodyProject is the project a create body asks for: the token's, or another one for an
// admin. It answers 403 when a member asks for another project.
func (c *Cloud) bodyProject(w http.ResponseWriter, tok *token, projectID, tenantID *string) (string, bool) {
	project := tok.ProjectID
	for _, p := range []*string{projectID, tenantID} {
		if p != nil && *p != "" {
			project = *p
		}
	}
	if project != tok.ProjectID && !tok.isAdmin() {
		c.fail(w, "network", http.StatusForbidden, "Only an admin may create a resource for another project.")
		return "", false
	}
	return project, true
}

func (c *Cloud) createPort(w http.ResponseWriter, r *http.Request, tok *token) {
	b, ok := c.readPortBody(w, r)
	if !ok {
		return
	}
	in := b.Port
	if in.NetworkID == nil || *in.NetworkID == "" {
		c.fail(w, "network", http.StatusBadRequest, "Failed to parse request. Required attribute 'network_id' not specified")
		return
	}
	project, ok := c.bodyProject(w, tok, in.ProjectID, in.TenantID)
	if !ok {
		return
	}
	s := portSpec{
		ProjectID: project, NetworkID: *in.NetworkID, Name: deref(in.Name),
		Description: deref(in.Description), DeviceID: deref(in.DeviceID),
		DeviceOwner: deref(in.DeviceOwner), MACAddress: deref(in.MACAddress),
		DefaultGroups: in.SecurityGroups == nil,
	}
	if in.SecurityGroups != nil {
		s.SecurityGroups = *in.SecurityGroups
	}
	if in.Tags != nil {
		s.Tags = *in.Tags
	}
	if in.FixedIPs != nil {
		switch len(*in.FixedIPs) {
		case 0:
		case 1:
			s.SubnetID, s.IPAddress = (*in.FixedIPs)[0].SubnetID, (*in.FixedIPs)[0].IPAddress
		default:
			c.fail(w, "network", http.StatusBadRequest, "The devcloud gives a port one fixed IP, not %d.", len(*in.FixedIPs))
			return
		}
	}
	c.mu.Lock()
	var p *port
	var f *neutronFault
	if n := c.st.Networks[s.NetworkID]; n != nil && !tok.seesNetwork(n) {
		f = neutronFaultf(http.StatusNotFound, "NetworkNotFound", "Network %s could not be found.", s.NetworkID)
	} else {
		p, f = c.newPortLocked(s)
	}
	var view map[string]any
	if f == nil {
		view = c.portView(p)
		c.saveLocked()
	}
	c.mu.Unlock()
	if f != nil {
		c.writeNeutronFault(w, f)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"port": view})
}

// setIfGiven sets *dst to the value of an update's optional field.
func setIfGiven(dst, src *string) {
	if src != nil {
		*dst = *src
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// portLocked finds a port the token may act on.
func (c *Cloud) portLocked(tok *token, id string) (*port, *neutronFault) {
	p := c.st.Ports[id]
	if p == nil {
		return nil, neutronFaultf(http.StatusNotFound, "PortNotFound", "Port %s could not be found.", id)
	}
	if !tok.owns(p.ProjectID) {
		return nil, neutronFaultf(http.StatusForbidden, "HTTPForbidden", "Port %s belongs to another project.", id)
	}
	return p, nil
}

func (c *Cloud) showPort(w http.ResponseWriter, r *http.Request, tok *token) {
	c.mu.Lock()
	p, f := c.portLocked(tok, r.PathValue("id"))
	var view map[string]any
	if f == nil {
		view = c.portView(p)
	}
	c.mu.Unlock()
	if f != nil {
		c.writeNeutronFault(w, f)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"port": view})
}

// listPorts lists the project's ports (every port for an admin) with Neutron's filters,
// including fixed_ips=ip_address=...|subnet_id=...|ip_address_substr=... and tags.
func (c *Cloud) listPorts(w http.ResponseWriter, r *http.Request, tok *token) {
	l, ok := c.parseNeutronList(w, r)
	if !ok {
		return
	}
	var ips, subnets, substrs []string
	for _, v := range l.q["fixed_ips"] {
		key, val, _ := strings.Cut(v, "=")
		switch key {
		case "ip_address":
			ips = append(ips, val)
		case "subnet_id":
			subnets = append(subnets, val)
		case "ip_address_substr":
			substrs = append(substrs, val)
		default:
			c.fail(w, "network", http.StatusBadRequest, "Invalid input for operation: fixed_ips filter %q is not ip_address, subnet_id or ip_address_substr.", v)
			return
		}
	}
	c.mu.Lock()
	var ids []string
	var views []any
	for _, id := range sortedKeys(c.st.Ports, func(p *port) int64 { return p.Created.UnixNano() }) {
		p := c.st.Ports[id]
		switch {
		case !tok.isAdmin() && p.ProjectID != tok.ProjectID,
			!l.match("id", p.ID), !l.match("name", p.Name), !l.match("description", p.Description),
			!l.match("network_id", p.NetworkID), !l.match("device_id", p.DeviceID),
			!l.match("device_owner", p.DeviceOwner), !l.match("mac_address", p.MACAddress),
			!l.match("status", portStatus(p)), !l.match("project_id", p.ProjectID),
			!l.match("tenant_id", p.ProjectID),
			len(ips) > 0 && !slices.Contains(ips, p.IPAddress),
			len(subnets) > 0 && !slices.Contains(subnets, p.SubnetID),
			len(substrs) > 0 && !slices.ContainsFunc(substrs, func(s string) bool { return strings.Contains(p.IPAddress, s) }),
			l.q.Has("security_groups") && !slices.ContainsFunc(l.q["security_groups"], func(g string) bool { return slices.Contains(p.SecurityGroups, g) }),
			!tagsMatch(l.q, p.Tags):
			continue
		}
		ids = append(ids, id)
		views = append(views, c.portView(p))
	}
	c.mu.Unlock()
	c.neutronPage(w, r, l, "ports", ids, views, neutronFaultf(http.StatusNotFound, "PortNotFound", "Port %s could not be found.", l.marker))
}

// tagsMatch applies Neutron's tag filters: tags (all of), tags-any, not-tags, not-tags-any,
// each a comma-separated list.
func tagsMatch(q url.Values, have []string) bool {
	list := func(key string) []string {
		if !q.Has(key) {
			return nil
		}
		return strings.Split(q.Get(key), ",")
	}
	has := func(t string) bool { return slices.Contains(have, t) }
	all, anyOf, notAll, notAny := list("tags"), list("tags-any"), list("not-tags"), list("not-tags-any")
	switch {
	case all != nil && !allOf(all, has),
		anyOf != nil && !slices.ContainsFunc(anyOf, has),
		notAll != nil && allOf(notAll, has),
		notAny != nil && slices.ContainsFunc(notAny, has):
		return false
	}
	return true
}

func allOf(items []string, pred func(string) bool) bool {
	for _, it := range items {
		if !pred(it) {
			return false
		}
	}
	return true
}

// updatePort changes a port's name, description, device, security groups or tags; its
// network, fixed IP and MAC address stay.
func (c *Cloud) updatePort(w http.ResponseWriter, r *http.Request, tok *token) {
	b, ok := c.readPortBody(w, r)
	if !ok {
		return
	}
	in := b.Port
	if in.NetworkID != nil || in.FixedIPs != nil || in.MACAddress != nil || in.ProjectID != nil || in.TenantID != nil {
		c.fail(w, "network", http.StatusBadRequest, "The devcloud cannot change a port's network, fixed IPs, MAC address or project.")
		return
	}
	c.mu.Lock()
	p, f := c.portLocked(tok, r.PathValue("id"))
	if f == nil && in.SecurityGroups != nil {
		f = c.checkPortGroupsLocked(p.ProjectID, *in.SecurityGroups)
	}
	var view map[string]any
	if f == nil {
		setIfGiven(&p.Name, in.Name)
		setIfGiven(&p.Description, in.Description)
		setIfGiven(&p.DeviceID, in.DeviceID)
		setIfGiven(&p.DeviceOwner, in.DeviceOwner)
		if in.SecurityGroups != nil {
			groups := []string{}
			for _, g := range *in.SecurityGroups {
				if !slices.Contains(groups, g) {
					groups = append(groups, g)
				}
			}
			p.SecurityGroups = groups
		}
		if in.Tags != nil {
			p.Tags = append([]string{}, *in.Tags...)
		}
		p.Updated = c.now()
		view = c.portView(p)
		c.saveLocked()
	}
	c.mu.Unlock()
	if f != nil {
		c.writeNeutronFault(w, f)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"port": view})
}

// deletePort removes a port; its fixed IP is free again at once.
func (c *Cloud) deletePort(w http.ResponseWriter, r *http.Request, tok *token) {
	c.mu.Lock()
	p, f := c.portLocked(tok, r.PathValue("id"))
	if f == nil {
		delete(c.st.Ports, p.ID)
		c.saveLocked()
	}
	c.mu.Unlock()
	if f != nil {
		c.writeNeutronFault(w, f)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ---- security groups

// defaultGroupLocked returns the project's "default" security group, making it (with
// Neutron's two egress rules) on first use. The caller holds c.mu and saves.
func (c *Cloud) defaultGroupLocked(projectID string) *securityGroup {
	for _, g := range c.st.SecurityGroups {
		if g.ProjectID == projectID && g.Name == "default" {
			return g
		}
	}
	return c.newGroupLocked(projectID, "default", "Default security group")
}

// securityGroupByNameLocked finds a project's security group by name ("default" is made on
// first use), for Nova's server create, which names groups. It returns nil when there is
// none. The caller holds c.mu and saves.
func (c *Cloud) securityGroupByNameLocked(projectID, name string) *securityGroup {
	if name == "default" {
		return c.defaultGroupLocked(projectID)
	}
	for _, id := range sortedKeys(c.st.SecurityGroups, func(g *securityGroup) int64 { return g.Created.UnixNano() }) {
		if g := c.st.SecurityGroups[id]; g.ProjectID == projectID && g.Name == name {
			return g
		}
	}
	return nil
}

// newGroupLocked makes a security group with the two rules Neutron gives every new group:
// all egress traffic, IPv4 and IPv6.
func (c *Cloud) newGroupLocked(projectID, name, description string) *securityGroup {
	now := c.now()
	g := &securityGroup{ID: newID(), Name: name, Description: description, ProjectID: projectID, Created: now, Updated: now}
	c.st.SecurityGroups[g.ID] = g
	for _, ether := range []string{"IPv4", "IPv6"} {
		rule := &securityRule{ID: newID(), GroupID: g.ID, ProjectID: projectID, Direction: "egress", EtherType: ether, Created: now}
		c.st.SecurityRules[rule.ID] = rule
	}
	return g
}

func (c *Cloud) securityGroupView(g *securityGroup) map[string]any {
	rules := []any{}
	for _, id := range sortedKeys(c.st.SecurityRules, func(r *securityRule) int64 { return r.Created.UnixNano() }) {
		if r := c.st.SecurityRules[id]; r.GroupID == g.ID {
			rules = append(rules, securityRuleView(r))
		}
	}
	return map[string]any{
		"id": g.ID, "name": g.Name, "description": g.Description, "tenant_id": g.ProjectID,
		"project_id": g.ProjectID, "security_group_rules": rules, "stateful": true, "shared": false,
		"tags": []string{}, "created_at": g.Created.Format(neutronTime), "updated_at": g.Updated.Format(neutronTime),
	}
}

// groupLocked finds a security group the token may act on.
func (c *Cloud) groupLocked(tok *token, id string) (*securityGroup, *neutronFault) {
	g := c.st.SecurityGroups[id]
	if g == nil {
		return nil, neutronFaultf(http.StatusNotFound, "SecurityGroupNotFound", "Security group %s does not exist", id)
	}
	if !tok.owns(g.ProjectID) {
		return nil, neutronFaultf(http.StatusForbidden, "HTTPForbidden", "Security group %s belongs to another project.", id)
	}
	return g, nil
}

type securityGroupBody struct {
	SecurityGroup *struct {
		Name        *string `json:"name"`
		Description *string `json:"description"`
		ProjectID   *string `json:"project_id"`
		TenantID    *string `json:"tenant_id"`
		Stateful    *bool   `json:"stateful"`
	} `json:"security_group"`
}

func (c *Cloud) readSecurityGroupBody(w http.ResponseWriter, r *http.Request) (*securityGroupBody, bool) {
	var b securityGroupBody
	if err := readJSON(r, &b); err != nil {
		c.fail(w, "network", http.StatusBadRequest, "Failed to parse request. %v", err)
		return nil, false
	}
	if b.SecurityGroup == nil {
		c.fail(w, "network", http.StatusBadRequest, "Resource body required")
		return nil, false
	}
	if s := b.SecurityGroup.Stateful; s != nil && !*s {
		c.fail(w, "network", http.StatusBadRequest, "The devcloud's security groups are stateful.")
		return nil, false
	}
	return &b, true
}

func (c *Cloud) createSecurityGroup(w http.ResponseWriter, r *http.Request, tok *token) {
	b, ok := c.readSecurityGroupBody(w, r)
	if !ok {
		return
	}
	in := b.SecurityGroup
	project, ok := c.bodyProject(w, tok, in.ProjectID, in.TenantID)
	if !ok {
		return
	}
	if deref(in.Name) == "default" {
		c.failNeutron(w, http.StatusConflict, "SecurityGroupDefaultAlreadyExists", "Default security group already exists.")
		return
	}
	c.mu.Lock()
	c.defaultGroupLocked(project) // Neutron makes it on the project's first security group call
	g := c.newGroupLocked(project, deref(in.Name), deref(in.Description))
	view := c.securityGroupView(g)
	c.saveLocked()
	c.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]any{"security_group": view})
}

func (c *Cloud) listSecurityGroups(w http.ResponseWriter, r *http.Request, tok *token) {
	l, ok := c.parseNeutronList(w, r)
	if !ok {
		return
	}
	c.mu.Lock()
	if n := len(c.st.SecurityGroups); c.defaultGroupLocked(tok.ProjectID) != nil && len(c.st.SecurityGroups) != n {
		c.saveLocked()
	}
	var ids []string
	var views []any
	for _, id := range sortedKeys(c.st.SecurityGroups, func(g *securityGroup) int64 { return g.Created.UnixNano() }) {
		g := c.st.SecurityGroups[id]
		if !tok.isAdmin() && g.ProjectID != tok.ProjectID || !l.match("id", g.ID) || !l.match("name", g.Name) ||
			!l.match("description", g.Description) || !l.match("project_id", g.ProjectID) || !l.match("tenant_id", g.ProjectID) {
			continue
		}
		ids = append(ids, id)
		views = append(views, c.securityGroupView(g))
	}
	c.mu.Unlock()
	c.neutronPage(w, r, l, "security_groups", ids, views, neutronFaultf(http.StatusNotFound, "SecurityGroupNotFound", "Security group %s does not exist", l.marker))
}

func (c *Cloud) showSecurityGroup(w http.ResponseWriter, r *http.Request, tok *token) {
	c.mu.Lock()
	g, f := c.groupLocked(tok, r.PathValue("id"))
	var view map[string]any
	if f == nil {
		view = c.securityGroupView(g)
	}
	c.mu.Unlock()
	if f != nil {
		c.writeNeutronFault(w, f)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"security_group": view})
}

func (c *Cloud) updateSecurityGroup(w http.ResponseWriter, r *http.Request, tok *token) {
	b, ok := c.readSecurityGroupBody(w, r)
	if !ok {
		return
	}
	in := b.SecurityGroup
	if in.ProjectID != nil || in.TenantID != nil {
		c.fail(w, "network", http.StatusBadRequest, "Cannot update read-only attribute project_id")
		return
	}
	c.mu.Lock()
	g, f := c.groupLocked(tok, r.PathValue("id"))
	if f == nil && g.Name == "default" && in.Name != nil && *in.Name != "default" {
		f = neutronFaultf(http.StatusConflict, "SecurityGroupCannotUpdateDefault", "Updating default security group not allowed.")
	}
	var view map[string]any
	if f == nil {
		if in.Name != nil {
			g.Name = *in.Name
		}
		if in.Description != nil {
			g.Description = *in.Description
		}
		g.Updated = c.now()
		view = c.securityGroupView(g)
		c.saveLocked()
	}
	c.mu.Unlock()
	if f != nil {
		c.writeNeutronFault(w, f)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"security_group": view})
}

// deleteSecurityGroup removes a group no port uses, with its rules and the rules of other
// groups that name it as their remote group.
func (c *Cloud) deleteSecurityGroup(w http.ResponseWriter, r *http.Request, tok *token) {
	c.mu.Lock()
	g, f := c.groupLocked(tok, r.PathValue("id"))
	switch {
	case f != nil:
	case c.groupInUseLocked(g.ID):
		f = neutronFaultf(http.StatusConflict, "SecurityGroupInUse", "Security Group %s in use.", g.ID)
	case g.Name == "default" && !tok.isAdmin():
		f = neutronFaultf(http.StatusConflict, "SecurityGroupCannotRemoveDefault", "Insufficient rights for removing default security group.")
	default:
		for id, rule := range c.st.SecurityRules {
			if rule.GroupID == g.ID || rule.RemoteGroupID == g.ID {
				delete(c.st.SecurityRules, id)
			}
		}
		delete(c.st.SecurityGroups, g.ID)
		c.saveLocked()
	}
	c.mu.Unlock()
	if f != nil {
		c.writeNeutronFault(w, f)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ---- security group rules

func securityRuleView(r *securityRule) map[string]any {
	orNil := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	intOrNil := func(n int) any {
		if n == 0 {
			return nil
		}
		return n
	}
	return map[string]any{
		"id": r.ID, "security_group_id": r.GroupID, "direction": r.Direction, "ethertype": r.EtherType,
		"protocol": orNil(r.Protocol), "port_range_min": intOrNil(r.PortRangeMin), "port_range_max": intOrNil(r.PortRangeMax),
		"remote_ip_prefix": orNil(r.RemoteIPPrefix), "remote_group_id": orNil(r.RemoteGroupID),
		"remote_address_group_id": nil, "description": r.Description, "tenant_id": r.ProjectID,
		"project_id": r.ProjectID, "revision_number": 0,
		"created_at": r.Created.Format(neutronTime), "updated_at": r.Created.Format(neutronTime),
	}
}

// ruleLocked finds a security group rule the token may act on.
func (c *Cloud) ruleLocked(tok *token, id string) (*securityRule, *neutronFault) {
	r := c.st.SecurityRules[id]
	if r == nil {
		return nil, neutronFaultf(http.StatusNotFound, "SecurityGroupRuleNotFound", "Security group rule %s does not exist", id)
	}
	if !tok.owns(r.ProjectID) {
		return nil, neutronFaultf(http.StatusForbidden, "HTTPForbidden", "Security group rule %s belongs to another project.", id)
	}
	return r, nil
}

// securityRuleRequest is the body of a rule create. Protocol is a name or a number, in a
// string or not.
type securityRuleRequest struct {
	SecurityGroupID string  `json:"security_group_id"`
	Direction       string  `json:"direction"`
	EtherType       *string `json:"ethertype"`
	Protocol        any     `json:"protocol"`
	PortRangeMin    *int    `json:"port_range_min"`
	PortRangeMax    *int    `json:"port_range_max"`
	RemoteIPPrefix  *string `json:"remote_ip_prefix"`
	RemoteGroupID   *string `json:"remote_group_id"`
	Description     string  `json:"description"`
}

// ruleFromRequest validates a rule create as Neutron does and returns the rule without its
// ID, project and time.
func ruleFromRequest(in securityRuleRequest) (*securityRule, *neutronFault) {
	bad := func(typ, format string, args ...any) (*securityRule, *neutronFault) {
		return nil, neutronFaultf(http.StatusBadRequest, typ, format, args...)
	}
	rule := &securityRule{GroupID: in.SecurityGroupID, Direction: in.Direction, EtherType: "IPv4", Description: in.Description}
	if in.SecurityGroupID == "" {
		return bad("HTTPBadRequest", "Failed to parse request. Required attribute 'security_group_id' not specified")
	}
	if in.Direction != "ingress" && in.Direction != "egress" {
		return bad("HTTPBadRequest", "Invalid input for direction. Reason: '%s' is not in ['ingress', 'egress'].", in.Direction)
	}
	if in.EtherType != nil {
		if *in.EtherType != "IPv4" && *in.EtherType != "IPv6" {
			return bad("HTTPBadRequest", "Invalid input for ethertype. Reason: '%s' is not in ['IPv4', 'IPv6'].", *in.EtherType)
		}
		rule.EtherType = *in.EtherType
	}
	switch p := in.Protocol.(type) {
	case nil:
	case float64:
		if p != float64(int(p)) || p < 0 || p > 255 {
			return bad("SecurityGroupRuleInvalidProtocol", "Security group rule protocol %v not supported. Only protocol values [None, tcp, udp, icmp, icmpv6] and integer representations [0 to 255] are supported.", p)
		}
		rule.Protocol = strconv.Itoa(int(p))
	case string:
		switch n, err := strconv.Atoi(p); {
		case p == "" || p == "any":
		case slices.Contains([]string{"tcp", "udp", "icmp", "icmpv6", "ipv6-icmp"}, p):
			rule.Protocol = p
		case err == nil && n >= 0 && n <= 255:
			rule.Protocol = p
		default:
			return bad("SecurityGroupRuleInvalidProtocol", "Security group rule protocol %s not supported. Only protocol values [None, tcp, udp, icmp, icmpv6] and integer representations [0 to 255] are supported.", p)
		}
	default:
		return bad("SecurityGroupRuleInvalidProtocol", "Security group rule protocol %v not supported.", p)
	}
	if in.PortRangeMin != nil {
		rule.PortRangeMin = *in.PortRangeMin
	}
	if in.PortRangeMax != nil {
		rule.PortRangeMax = *in.PortRangeMax
	}
	lo, hi := rule.PortRangeMin, rule.PortRangeMax
	switch {
	case (lo != 0 || hi != 0) && rule.Protocol == "":
		return bad("SecurityGroupProtocolRequiredWithPorts", "Must also specify protocol if port range is given.")
	case rule.Protocol == "tcp" || rule.Protocol == "udp" || rule.Protocol == "6" || rule.Protocol == "17":
		if lo == 0 && hi == 0 {
			break
		}
		if lo < 1 || hi < 1 || lo > 65535 || hi > 65535 {
			return bad("SecurityGroupInvalidPortValue", "Invalid value for port %d.", pickInvalidPort(lo, hi))
		}
		if lo > hi {
			return bad("SecurityGroupInvalidPortRange", "For TCP/UDP protocols, port_range_min must be <= port_range_max")
		}
	case rule.Protocol == "icmp" || rule.Protocol == "icmpv6" || rule.Protocol == "ipv6-icmp":
		if lo < 0 || lo > 255 {
			return bad("SecurityGroupInvalidIcmpValue", "Invalid value for ICMP port_range_min(type): %d. It must be 0 to 255.", lo)
		}
		if hi < 0 || hi > 255 {
			return bad("SecurityGroupInvalidIcmpValue", "Invalid value for ICMP port_range_max(code): %d. It must be 0 to 255.", hi)
		}
		if hi != 0 && lo == 0 {
			return bad("SecurityGroupMissingIcmpType", "ICMP code (port-range-hi) %d is provided but ICMP type (port-range-lo) is missing.", hi)
		}
	case lo != 0 || hi != 0:
		return bad("SecurityGroupInvalidProtocolForPort", "Invalid protocol %s for port range, only supported for TCP, UDP, UDPLITE, SCTP and DCCP.", rule.Protocol)
	}
	if in.RemoteIPPrefix != nil && *in.RemoteIPPrefix != "" {
		if in.RemoteGroupID != nil && *in.RemoteGroupID != "" {
			return bad("SecurityGroupRemoteGroupAndRemoteIpPrefix", "Only remote_ip_prefix or remote_group_id may be provided.")
		}
		prefix, err := netip.ParsePrefix(*in.RemoteIPPrefix)
		if err != nil {
			addr, aerr := netip.ParseAddr(*in.RemoteIPPrefix)
			if aerr != nil {
				return bad("HTTPBadRequest", "Invalid input for remote_ip_prefix. Reason: '%s' is not a valid IP subnet.", *in.RemoteIPPrefix)
			}
			prefix = netip.PrefixFrom(addr, addr.BitLen())
		}
		if (rule.EtherType == "IPv4") != prefix.Addr().Is4() {
			return bad("SecurityGroupRuleParameterConflict", "Conflicting value ethertype %s for CIDR %s", rule.EtherType, *in.RemoteIPPrefix)
		}
		rule.RemoteIPPrefix = prefix.Masked().String()
	}
	if in.RemoteGroupID != nil {
		rule.RemoteGroupID = *in.RemoteGroupID
	}
	return rule, nil
}

func pickInvalidPort(lo, hi int) int {
	if lo < 1 || lo > 65535 {
		return lo
	}
	return hi
}

// sameRule tells whether two rules allow the same traffic; a prefix of everything is the
// same as none, as Neutron's duplicate check has it.
func sameRule(a, b *securityRule) bool {
	prefix := func(r *securityRule) string {
		if r.RemoteIPPrefix == "0.0.0.0/0" || r.RemoteIPPrefix == "::/0" {
			return ""
		}
		return r.RemoteIPPrefix
	}
	return a.GroupID == b.GroupID && a.Direction == b.Direction && a.EtherType == b.EtherType &&
		a.Protocol == b.Protocol && a.PortRangeMin == b.PortRangeMin && a.PortRangeMax == b.PortRangeMax &&
		prefix(a) == prefix(b) && a.RemoteGroupID == b.RemoteGroupID
}

func (c *Cloud) createSecurityRule(w http.ResponseWriter, r *http.Request, tok *token) {
	var body struct {
		Rule *securityRuleRequest `json:"security_group_rule"`
	}
	if err := readJSON(r, &body); err != nil {
		c.fail(w, "network", http.StatusBadRequest, "Failed to parse request. %v", err)
		return
	}
	if body.Rule == nil {
		c.fail(w, "network", http.StatusBadRequest, "Resource body required")
		return
	}
	rule, f := ruleFromRequest(*body.Rule)
	if f != nil {
		c.writeNeutronFault(w, f)
		return
	}
	c.mu.Lock()
	g := c.st.SecurityGroups[rule.GroupID]
	switch {
	case g == nil || !tok.owns(g.ProjectID):
		f = neutronFaultf(http.StatusNotFound, "SecurityGroupNotFound", "Security group %s does not exist", rule.GroupID)
	case rule.RemoteGroupID != "" && (c.st.SecurityGroups[rule.RemoteGroupID] == nil || !tok.owns(c.st.SecurityGroups[rule.RemoteGroupID].ProjectID)):
		f = neutronFaultf(http.StatusNotFound, "SecurityGroupNotFound", "Security group %s does not exist", rule.RemoteGroupID)
	default:
		for _, other := range c.st.SecurityRules {
			if sameRule(rule, other) {
				f = neutronFaultf(http.StatusConflict, "SecurityGroupRuleExists", "Security group rule already exists. Rule id is %s.", other.ID)
				break
			}
		}
	}
	var view map[string]any
	if f == nil {
		rule.ID, rule.ProjectID, rule.Created = newID(), g.ProjectID, c.now()
		c.st.SecurityRules[rule.ID] = rule
		g.Updated = rule.Created
		view = securityRuleView(rule)
		c.saveLocked()
	}
	c.mu.Unlock()
	if f != nil {
		c.writeNeutronFault(w, f)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"security_group_rule": view})
}

func (c *Cloud) listSecurityRules(w http.ResponseWriter, r *http.Request, tok *token) {
	l, ok := c.parseNeutronList(w, r)
	if !ok {
		return
	}
	c.mu.Lock()
	var ids []string
	var views []any
	for _, id := range sortedKeys(c.st.SecurityRules, func(r *securityRule) int64 { return r.Created.UnixNano() }) {
		rule := c.st.SecurityRules[id]
		view := securityRuleView(rule)
		match := tok.isAdmin() || rule.ProjectID == tok.ProjectID
		for _, key := range []string{"id", "security_group_id", "direction", "ethertype", "protocol",
			"port_range_min", "port_range_max", "remote_ip_prefix", "remote_group_id", "description",
			"project_id", "tenant_id"} {
			s := ""
			if v := view[key]; v != nil {
				s = fmt.Sprint(v)
			}
			match = match && l.match(key, s)
		}
		if match {
			ids = append(ids, id)
			views = append(views, view)
		}
	}
	c.mu.Unlock()
	c.neutronPage(w, r, l, "security_group_rules", ids, views, neutronFaultf(http.StatusNotFound, "SecurityGroupRuleNotFound", "Security group rule %s does not exist", l.marker))
}

func (c *Cloud) showSecurityRule(w http.ResponseWriter, r *http.Request, tok *token) {
	c.mu.Lock()
	rule, f := c.ruleLocked(tok, r.PathValue("id"))
	var view map[string]any
	if f == nil {
		view = securityRuleView(rule)
	}
	c.mu.Unlock()
	if f != nil {
		c.writeNeutronFault(w, f)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"security_group_rule": view})
}

func (c *Cloud) deleteSecurityRule(w http.ResponseWriter, r *http.Request, tok *token) {
	c.mu.Lock()
	rule, f := c.ruleLocked(tok, r.PathValue("id"))
	if f == nil {
		delete(c.st.SecurityRules, rule.ID)
		if g := c.st.SecurityGroups[rule.GroupID]; g != nil {
			g.Updated = c.now()
		}
		c.saveLocked()
	}
	c.mu.Unlock()
	if f != nil {
		c.writeNeutronFault(w, f)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
