package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/instances"

	"github.com/coffer-dbaas/coffer/pgcluster"
)

// BenchmarkRestartAndResize measures, on one instance, the time from the action's POST to
// ACTIVE for a restart, a flavor resize (up, then down) and a volume resize, beside the
// physical floor on the same machine: a bare stop + start of a PostgreSQL cluster. The
// ratios say what the workflow, the cloud and the guest agent cost on top of the engine.
func BenchmarkRestartAndResize(b *testing.B) {
	const n = 3
	ctx := context.Background()
	demo := login(b, "demo")
	for b.Loop() {
		inst, err := instances.Create(ctx, demo.db, postgresOpts("bench-ops")).Extract()
		if err != nil {
			b.Fatal(err)
		}
		waitStatus(b, demo.db, inst.ID, "ACTIVE", 3*time.Minute)
		timeIt := func(act func() error) time.Duration {
			start := time.Now()
			if err := act(); err != nil {
				b.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
			waitStatus(b, demo.db, inst.ID, "ACTIVE", 5*time.Minute)
			return time.Since(start)
		}
		var restarts, resizes []time.Duration
		for range n {
			restarts = append(restarts, timeIt(func() error { return instances.Restart(ctx, demo.db, inst.ID).ExtractErr() }))
		}
		for i := range n {
			flavor := "ds1G"
			if i%2 == 1 {
				flavor = "ds512M"
			}
			resizes = append(resizes, timeIt(func() error { return instances.Resize(ctx, demo.db, inst.ID, flavor).ExtractErr() }))
		}
		volume := timeIt(func() error { return instances.ResizeVolume(ctx, demo.db, inst.ID, 2).ExtractErr() })
		if err := instances.Delete(ctx, demo.db, inst.ID).ExtractErr(); err != nil {
			b.Fatal(err)
		}
		waitGone(b, demo.db, inst.ID, 2*time.Minute)

		floor := median(bareStopAndStart(b, n))
		restart, resize := median(restarts), median(resizes)
		b.ReportMetric(restart.Seconds(), "s/restart")
		b.ReportMetric(resize.Seconds(), "s/resize-flavor")
		b.ReportMetric(volume.Seconds(), "s/resize-volume")
		b.ReportMetric(floor.Seconds(), "s/stop+start")
		fmt.Printf("restart to ACTIVE: median %s of %d (%.1fx); flavor resize to ACTIVE: median %s of %d (%.1fx); volume resize: %s; bare engine stop+start: median %s\n",
			restart.Round(time.Millisecond), n, float64(restart)/float64(floor),
			resize.Round(time.Millisecond), n, float64(resize)/float64(floor),
			volume.Round(time.Millisecond), floor.Round(time.Millisecond))
	}
}

// bareStopAndStart times what a restart of the engine amounts to with nothing around it:
// stop, start, ready, n times on one cluster.
func bareStopAndStart(b *testing.B, n int) []time.Duration {
	dir, err := os.MkdirTemp("", "coffer-bench-pg-*")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	c := &pgcluster.Cluster{DataDir: filepath.Join(dir, "data"), SocketDir: filepath.Join(dir, "run"), Host: "127.0.0.1", Port: freePort()}
	ctx := context.Background()
	if err := c.Init(ctx, pgcluster.InitOptions{Superuser: "bench", Password: "bench-password"}); err != nil {
		b.Fatal(err)
	}
	if err := c.Start(ctx, nil); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = c.Stop(ctx) }()
	var took []time.Duration
	for range n {
		start := time.Now()
		if err := c.Stop(ctx); err != nil {
			b.Fatal(err)
		}
		if err := c.Start(ctx, nil); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	return took
}
