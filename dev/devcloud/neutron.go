package devcloud

import (
	"crypto/rand"
	"fmt"
	"net/netip"
	"slices"
)

// routeNetwork registers Neutron v2.0 under /network/v2.0.
func (c *Cloud) routeNetwork() {}

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

// createPortLocked makes a port on a network with the next free fixed IP of its first
// subnet. The caller holds c.mu and saves.
func (c *Cloud) createPortLocked(projectID, networkID, name, deviceID, deviceOwner string, groupIDs []string) (*port, error) {
	n := c.st.Networks[networkID]
	if n == nil || len(n.Subnets) == 0 {
		return nil, fmt.Errorf("network %s not found", networkID)
	}
	sub := c.st.Subnets[n.Subnets[0]]
	ip, err := c.freeIPLocked(sub)
	if err != nil {
		return nil, err
	}
	now := c.now()
	p := &port{
		ID: newID(), Name: name, NetworkID: networkID, SubnetID: sub.ID, ProjectID: projectID,
		IPAddress: ip, MACAddress: randomMAC(), DeviceID: deviceID, DeviceOwner: deviceOwner,
		SecurityGroups: slices.Clone(groupIDs), Tags: []string{}, Created: now, Updated: now,
	}
	if p.SecurityGroups == nil {
		p.SecurityGroups = []string{}
	}
	c.st.Ports[p.ID] = p
	return p, nil
}

// freeIPLocked returns the lowest address of the subnet that no port holds, skipping the
// network address, the gateway, the broadcast address and 127.0.0.1.
func (c *Cloud) freeIPLocked(sub *subnet) (string, error) {
	prefix := netip.MustParsePrefix(sub.CIDR)
	used := map[string]bool{sub.GatewayIP: true, "127.0.0.1": true}
	for _, p := range c.st.Ports {
		if p.SubnetID == sub.ID {
			used[p.IPAddress] = true
		}
	}
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
