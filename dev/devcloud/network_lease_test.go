package devcloud_test

import (
	"strings"
	"testing"

	"github.com/coffer-dbaas/coffer/dev/devcloud"
)

// TestCloudsOnOneMachineNeverShareANetwork starts several clouds side by side, as a
// `go tool task dev` and a test suite would run: each gets a /16 of its own, a cloud told to
// use a range another one runs on refuses to start and names that one, and a stopped
// cloud's range stays kept for its data folder until it starts again.
func TestCloudsOnOneMachineNeverShareANetwork(t *testing.T) {
	a := startCloud(t)
	b := startCloud(t)
	if a.cloud.NetworkCIDR() == b.cloud.NetworkCIDR() {
		t.Fatalf("two running clouds both got %s, want a /16 each", a.cloud.NetworkCIDR())
	}
	rangeOfA := a.cloud.NetworkCIDR()

	cfg := devcloud.DefaultConfig()
	cfg.DataDir, cfg.Listen, cfg.Network.CIDR = t.TempDir(), freeAddr(t), rangeOfA
	if c, err := devcloud.New(cfg, nil); err == nil {
		c.Close()
		t.Fatalf("a cloud on %s, where another runs: got no error, want it refused", rangeOfA)
	} else if !strings.Contains(err.Error(), a.cfg.DataDir) {
		t.Errorf("refusal %q does not name the running cloud's data_dir %s", err, a.cfg.DataDir)
	}

	a.stop()
	c := startCloud(t)
	if c.cloud.NetworkCIDR() == rangeOfA {
		t.Errorf("a new cloud took %s, which the stopped cloud's data folder still keeps", rangeOfA)
	}
	a.start()
	if got := a.cloud.NetworkCIDR(); got != rangeOfA {
		t.Errorf("restarted cloud: got network %s, want its own %s again", got, rangeOfA)
	}
}
