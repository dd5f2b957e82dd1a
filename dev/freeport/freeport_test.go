package freeport

import (
	"errors"
	"net"
	"strconv"
	"testing"
)

// Ports lie below the ephemeral range, are free, and never repeat within a process.
func TestPortsAreFreeDistinctAndBelowTheEphemeralRange(t *testing.T) {
	seen := map[int]bool{}
	for range 200 {
		p, err := Port("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		if p < lowest || p >= ephemeralStart() {
			t.Fatalf("port %d outside [%d, %d)", p, lowest, ephemeralStart())
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
	}
	p := MustPort()
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		t.Fatalf("listen on the port handed out: %v", err)
	}
	defer ln.Close()
	_, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if !InUse(err) {
		t.Fatalf("a second listen on %d: %v, want address already in use", p, err)
	}
	if InUse(nil) || InUse(errors.New("connection refused")) {
		t.Fatal("InUse said yes to what is no bind failure")
	}
}
