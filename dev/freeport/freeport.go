// Package freeport picks TCP ports for the servers that tests and the dev tools start.
//
// A port the kernel hands out for ":0" lies in the machine's ephemeral range, from which it
// also picks the local port of every outgoing connection: between the pick and the server's
// bind, any connection (a Temporal client, a browser) may take it, and the server fails with
// "address already in use". Ports here come from below that range, where only listeners live,
// and are checked free by listening on them.
package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// lowest is the lowest port handed out: above the well-known and most registered services'.
const lowest = 20000

var (
	mu    sync.Mutex
	given = map[int]bool{} // ports handed out by this process, never handed out twice
)

// Port returns a port of host (an address such as 127.0.0.1) that nothing listens on, below
// the ephemeral range, and not returned before by this process.
func Port(host string) (int, error) {
	top := ephemeralStart()
	if top <= lowest {
		return 0, fmt.Errorf("no ports below the ephemeral range (%d) to pick from", top)
	}
	mu.Lock()
	defer mu.Unlock()
	for range 1000 {
		p := lowest + rand.IntN(top-lowest)
		if given[p] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err != nil {
			continue
		}
		ln.Close()
		given[p] = true
		return p, nil
	}
	return 0, errors.New("no free port found below the ephemeral range in 1,000 tries")
}

// MustPort is Port on 127.0.0.1, panicking when no port is free (tests and dev tools only).
func MustPort() int {
	p, err := Port("127.0.0.1")
	if err != nil {
		panic(err)
	}
	return p
}

// InUse tells whether err is a listener's failure to bind a port some other process took.
func InUse(err error) bool {
	return err != nil && strings.Contains(strings.ToLower(err.Error()), "address already in use")
}

// ephemeralStart is the first port of the kernel's ephemeral range (32768 when unknown).
func ephemeralStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	p, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return p
}
