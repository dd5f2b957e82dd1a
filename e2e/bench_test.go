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

// BenchmarkCreateToActive measures, per engine (a sub-benchmark each: postgresql, mariadb,
// redis), for a few creates one after another, the time from the POST to ACTIVE, beside the
// physical floor on the same machine: the engine's bare initialise-and-start (PostgreSQL:
// initdb + start; MariaDB: mariadb-install-db + start until it answers; Redis: redis-server
// until PING). The ratio says what Coffer's orchestration (Temporal, the cloud calls, the
// guest agent) costs on top of the engine's own start-up; the breakdown after it, from the
// create's progress query, says where that time goes, step by step.
func BenchmarkCreateToActive(b *testing.B) {
	for _, e := range benchEngines {
		e.run(b, func(b *testing.B) { benchCreates(b, e) })
	}
}

// benchCreates is BenchmarkCreateToActive for one engine.
func benchCreates(b *testing.B, e benchEngine) {
	const n = 5
	ctx := context.Background()
	demo := login(b, "demo")
	for b.Loop() {
		var creates []time.Duration
		var breakdowns [][]stepTook
		for i := range n {
			start := time.Now()
			inst, err := instances.Create(ctx, demo.db, e.opts(fmt.Sprintf("bench-%s-%d", e.name, i))).Extract()
			if err != nil {
				b.Fatal(err)
			}
			waitStatusEvery(b, demo.db, inst.ID, "ACTIVE", 3*time.Minute, 20*time.Millisecond)
			seen := time.Now()
			creates = append(creates, seen.Sub(start))
			breakdowns = append(breakdowns, createBreakdown(b, inst.ID, start, seen))
			if err := instances.Delete(ctx, demo.db, inst.ID).ExtractErr(); err != nil {
				b.Fatal(err)
			}
			waitGone(b, demo.db, inst.ID, 2*time.Minute)
		}
		create := median(creates)
		printFloorRatio(b, e.name+" create to ACTIVE", create, n, e.floor, medianOf(b, n, e.bare))
		printBreakdown(os.Stdout, "a create", create, breakdowns)
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
