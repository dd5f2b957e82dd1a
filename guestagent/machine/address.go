package machine

import (
	"fmt"
	"net"
	"strings"

	"github.com/coffer-dbaas/coffer/configdrive"
)

// Address is the first static IPv4 address network_data.json gives; with none (a network
// configured by DHCP), the IPv4 address of the interface whose MAC network_data names, else
// of the first interface that is up and not loopback.
func (m *Machine) Address(md configdrive.Drive) (string, error) {
	for _, n := range md.NetworkData.Networks {
		if n.Type == "ipv4" && n.IPAddress != "" {
			return n.IPAddress, nil
		}
	}
	list := net.Interfaces
	if m.interfaces != nil {
		list = m.interfaces
	}
	ifaces, err := list()
	if err != nil {
		return "", fmt.Errorf("server address: %w", err)
	}
	for _, l := range md.NetworkData.Links {
		for _, i := range ifaces {
			if l.MAC != "" && strings.EqualFold(i.HardwareAddr.String(), l.MAC) {
				if a := ipv4Of(i); a != "" {
					return a, nil
				}
			}
		}
	}
	for _, i := range ifaces {
		if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagLoopback != 0 {
			continue
		}
		if a := ipv4Of(i); a != "" {
			return a, nil
		}
	}
	return "", fmt.Errorf("server address: network_data.json has no IPv4 address and no interface has one")
}

// ipv4Of is an interface's first global IPv4 address, or "".
func ipv4Of(i net.Interface) string {
	addrs, err := i.Addrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
			return n.IP.String()
		}
	}
	return ""
}
