package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/instances"

	"github.com/coffer-dbaas/coffer/pgcluster"
)

// BenchmarkCreateToActive measures, for a few creates one after another, the time from the
// POST to ACTIVE, beside the physical floor on the same machine: a bare initdb + start of
// PostgreSQL. The ratio says what Coffer's orchestration (Temporal, the cloud calls, the
// guest agent) costs on top of the engine's own start-up.
func BenchmarkCreateToActive(b *testing.B) {
	const n = 5
	ctx := context.Background()
	demo := login(b, "demo")
	for b.Loop() {
		var creates []time.Duration
		for i := range n {
			start := time.Now()
			inst, err := instances.Create(ctx, demo.db, postgresOpts(fmt.Sprintf("bench-%d", i))).Extract()
			if err != nil {
				b.Fatal(err)
			}
			waitStatus(b, demo.db, inst.ID, "ACTIVE", 3*time.Minute)
			creates = append(creates, time.Since(start))
			if err := instances.Delete(ctx, demo.db, inst.ID).ExtractErr(); err != nil {
				b.Fatal(err)
			}
			waitGone(b, demo.db, inst.ID, 2*time.Minute)
		}
		var bare []time.Duration
		for range n {
			bare = append(bare, bareInitdbAndStart(b))
		}
		create, floor := median(creates), median(bare)
		ratio := float64(create) / float64(floor)
		b.ReportMetric(create.Seconds(), "s/create-to-active")
		b.ReportMetric(floor.Seconds(), "s/initdb+start")
		b.ReportMetric(ratio, "ratio")
		fmt.Printf("create to ACTIVE: median %s of %d; bare initdb+start: median %s; ratio %.1fx\n",
			create.Round(time.Millisecond), n, floor.Round(time.Millisecond), ratio)
	}
}

// bareInitdbAndStart times what the guest agent's engine work amounts to with nothing
// around it: initdb, start, ready.
func bareInitdbAndStart(b *testing.B) time.Duration {
	dir, err := os.MkdirTemp("", "coffer-bench-pg-*")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	c := &pgcluster.Cluster{DataDir: filepath.Join(dir, "data"), SocketDir: filepath.Join(dir, "run"), Host: "127.0.0.1", Port: freePort()}
	ctx := context.Background()
	start := time.Now()
	if err := c.Init(ctx, pgcluster.InitOptions{Superuser: "bench", Password: "bench-password"}); err != nil {
		b.Fatal(err)
	}
	if err := c.Start(ctx, nil); err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	if err := c.Stop(ctx); err != nil {
		b.Fatal(err)
	}
	return took
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
