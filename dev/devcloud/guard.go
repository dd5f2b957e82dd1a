package devcloud

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// guard enforces security groups for the process hypervisor, as Neutron's firewall does for
// a VM's port: a server's process is told (in network_data.json) an inner address, the fixed
// IP's twin in a /16 of its own, and the guard listens on the fixed IP's guarded ports in its
// place. A connection whose source no ingress rule of the port's security groups admits is
// closed at once; the others are relayed to the inner address. Rules are read at each
// connection, so a rule change applies to the next one. Clients on this machine choose their
// source among the loopback addresses (127.0.0.1 unless they bind another), which is how a
// test shows a source outside the allowed ranges being refused.
//
// It serves only when hypervisor.security_groups is set; without it the processes listen on
// their fixed IPs and nothing filters.
type guard struct {
	c     *Cloud
	inner netip.Prefix // the /16 inner addresses are taken from
	lease *networkLease
	ports []int // the TCP ports guarded on each fixed IP

	mu        sync.Mutex
	listeners map[string]net.Listener // by fixed-IP:port
	closed    bool
	wg        sync.WaitGroup
}

// guardedPorts are the engines' ports, guarded when hypervisor.guard_ports is empty.
var guardedPorts = []int{5432, 3306, 6379}

// newGuard leases the /16 of the inner addresses.
func newGuard(c *Cloud) (*guard, error) {
	prefix, lease, err := leaseFreeNetwork(c.cfg.DataDir + "#guard")
	if err != nil {
		return nil, fmt.Errorf("devcloud security groups: inner addresses: %w", err)
	}
	ports := c.cfg.Hypervisor.GuardPorts
	if len(ports) == 0 {
		ports = guardedPorts
	}
	return &guard{c: c, inner: prefix, lease: lease, ports: ports, listeners: map[string]net.Listener{}}, nil
}

// innerAddress is the fixed IP's twin in the inner /16: same last two octets.
func (g *guard) innerAddress(fixedIP string) string {
	a, err := netip.ParseAddr(fixedIP)
	if err != nil || !a.Is4() {
		return fixedIP
	}
	b, in := a.As4(), g.inner.Addr().As4()
	return netip.AddrFrom4([4]byte{in[0], in[1], b[2], b[3]}).String()
}

// open starts guarding the fixed IPs of a server's ports (those not guarded yet). A listener
// outlives its server: it relays to whatever server holds the address then.
func (g *guard) open(serverID string) error {
	g.c.mu.Lock()
	var ips []string
	if s := g.c.st.Servers[serverID]; s != nil {
		for _, pid := range s.Ports {
			if p := g.c.st.Ports[pid]; p != nil && p.IPAddress != "" {
				ips = append(ips, p.IPAddress)
			}
		}
	}
	g.c.mu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return errors.New("the security group guard is closed")
	}
	for _, ip := range ips {
		for _, port := range g.ports {
			addr := net.JoinHostPort(ip, strconv.Itoa(port))
			if _, ok := g.listeners[addr]; ok {
				continue
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("guard %s: %w", addr, err)
			}
			g.listeners[addr] = ln
			g.wg.Add(1)
			go g.serve(ln, ip, port)
		}
	}
	return nil
}

func (g *guard) serve(ln net.Listener, fixedIP string, port int) {
	defer g.wg.Done()
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			g.relay(conn, fixedIP, port)
		}()
	}
}

// relay admits or refuses one connection, and relays an admitted one until either side ends.
func (g *guard) relay(conn net.Conn, fixedIP string, port int) {
	defer conn.Close()
	src, _ := netip.ParseAddrPort(conn.RemoteAddr().String())
	if !g.c.admits(fixedIP, port, src.Addr()) {
		g.c.log.Info("devcloud security group refused a connection", "to", net.JoinHostPort(fixedIP, strconv.Itoa(port)), "from", src.Addr())
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // a reset, as a REJECT rule answers
		}
		return
	}
	ctx, cancel := context.WithTimeout(g.c.ctx, 10*time.Second)
	up, err := (&net.Dialer{}).DialContext(ctx, "tcp", net.JoinHostPort(g.innerAddress(fixedIP), strconv.Itoa(port)))
	cancel()
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, conn); closeWrite(up); done <- struct{}{} }()
	go func() { _, _ = io.Copy(conn, up); closeWrite(conn); done <- struct{}{} }()
	select {
	case <-done:
		<-done
	case <-g.c.ctx.Done():
	}
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

// close stops every listener, ends the relays and gives up the inner /16.
func (g *guard) close() {
	g.mu.Lock()
	g.closed = true
	for _, ln := range g.listeners {
		_ = ln.Close()
	}
	g.mu.Unlock()
	g.wg.Wait()
	g.lease.release()
}

// admits reports whether an ingress rule of a security group of the port with the fixed IP
// admits TCP from src to port, as Neutron's firewall decides: a rule matches when its
// ethertype is the source's, its protocol is tcp or any, its port range holds the port (or
// is any), and its remote_ip_prefix holds the source (or is any); remote-group rules admit
// the addresses of the group's ports. A port with no security group admits nothing.
func (c *Cloud) admits(fixedIP string, tcpPort int, src netip.Addr) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	var p *port
	for _, q := range c.st.Ports {
		if q.IPAddress == fixedIP {
			p = q
			break
		}
	}
	if p == nil {
		return false
	}
	groups := map[string]bool{}
	for _, id := range p.SecurityGroups {
		groups[id] = true
	}
	etherType := "IPv4"
	if src.Is6() && !src.Is4In6() {
		etherType = "IPv6"
	}
	src = src.Unmap()
	for _, r := range c.st.SecurityRules {
		if !groups[r.GroupID] || r.Direction != "ingress" || r.EtherType != etherType {
			continue
		}
		if r.Protocol != "" && r.Protocol != "tcp" && r.Protocol != "6" {
			continue
		}
		if r.PortRangeMin != 0 && (tcpPort < r.PortRangeMin || tcpPort > r.PortRangeMax) {
			continue
		}
		switch {
		case r.RemoteGroupID != "":
			if c.groupHoldsAddressLocked(r.RemoteGroupID, src) {
				return true
			}
		case r.RemoteIPPrefix == "":
			return true
		default:
			if pf, err := netip.ParsePrefix(r.RemoteIPPrefix); err == nil && pf.Contains(src) {
				return true
			}
		}
	}
	return false
}

// groupHoldsAddressLocked reports whether a port of the security group has the address.
func (c *Cloud) groupHoldsAddressLocked(groupID string, a netip.Addr) bool {
	for _, q := range c.st.Ports {
		if q.IPAddress != a.String() {
			continue
		}
		for _, id := range q.SecurityGroups {
			if id == groupID {
				return true
			}
		}
	}
	return false
}
