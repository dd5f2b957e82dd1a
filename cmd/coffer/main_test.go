package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestCofferLinksNothingUnderDev keeps the devcloud, the embedded Temporal server and the
// other dev tooling out of the binary that production runs and every guest image carries.
func TestCofferLinksNothingUnderDev(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/coffer-dbaas/coffer/cmd/coffer").Output()
	if err != nil {
		t.Fatalf("go list -deps ./cmd/coffer: %v", err)
	}
	for pkg := range strings.Lines(string(out)) {
		pkg = strings.TrimSpace(pkg)
		if pkg == "github.com/coffer-dbaas/coffer/dev" || strings.HasPrefix(pkg, "github.com/coffer-dbaas/coffer/dev/") {
			t.Errorf("cmd/coffer depends on %s, want nothing under dev/", pkg)
		}
	}
}
