package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/instances"
)

// parallelCreates is how many creates BenchmarkParallelCreates starts at once.
const parallelCreates = 20

// BenchmarkParallelCreates starts 20 creates at once (in alt_demo's project, whose quotas an
// admin raises for it: the stack's default allows 10 instances) and measures each one's time
// to ACTIVE and the batch's throughput, beside the floor: 20 bare initdb + starts of
// PostgreSQL run 20 at once on the same machine. Goals: the creates' throughput at least 70%
// of the floor's, and no create slower than 3x the creates' median.
func BenchmarkParallelCreates(b *testing.B) {
	ctx := context.Background()
	alt, admin := login(b, "alt_demo"), login(b, "admin")
	quotas := map[string]any{"quotas": map[string]any{"instances": 2 * parallelCreates, "ram": 2 * parallelCreates * 1024, "volumes": 4 * parallelCreates}}
	if code := call(b, admin, http.MethodPut, "/mgmt/quotas/"+alt.projectID, quotas, nil); code != http.StatusOK {
		b.Fatalf("raise alt_demo's quotas: HTTP %d", code)
	}
	for b.Loop() {
		var (
			mu      sync.Mutex
			creates []time.Duration
			ids     []string
			wg      sync.WaitGroup
		)
		start := time.Now()
		for i := range parallelCreates {
			wg.Go(func() {
				t0 := time.Now()
				inst, err := instances.Create(ctx, alt.db, postgresOpts(fmt.Sprintf("par-%02d", i))).Extract()
				if err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				ids = append(ids, inst.ID)
				mu.Unlock()
				waitStatusEvery(b, alt.db, inst.ID, "ACTIVE", 10*time.Minute, 100*time.Millisecond)
				mu.Lock()
				creates = append(creates, time.Since(t0))
				mu.Unlock()
			})
		}
		wg.Wait()
		batch := time.Since(start)
		for _, id := range ids {
			if err := instances.Delete(ctx, alt.db, id).ExtractErr(); err != nil {
				b.Error(err)
			}
		}
		for _, id := range ids {
			waitGone(b, alt.db, id, 5*time.Minute)
		}
		if b.Failed() {
			b.FailNow()
		}

		var bare []time.Duration
		start = time.Now()
		for range parallelCreates {
			wg.Go(func() {
				d := bareInitdbAndStart(b)
				mu.Lock()
				bare = append(bare, d)
				mu.Unlock()
			})
		}
		wg.Wait()
		floor := time.Since(start)

		rate := float64(parallelCreates) / batch.Seconds() * 60
		floorRate := float64(parallelCreates) / floor.Seconds() * 60
		med, slowest := median(creates), slices.Max(creates)
		b.ReportMetric(rate, "creates/min")
		b.ReportMetric(floorRate, "initdb+start/min")
		b.ReportMetric(rate/floorRate, "throughput-ratio")
		b.ReportMetric(float64(slowest)/float64(med), "slowest/median")
		fmt.Printf("%d creates at once: all ACTIVE in %s (%.1f/min), median %s, slowest %s (%.1fx the median; goal <= 3x)\n",
			parallelCreates, batch.Round(time.Millisecond), rate, med.Round(time.Millisecond), slowest.Round(time.Millisecond), float64(slowest)/float64(med))
		fmt.Printf("floor, %d bare initdb+starts at once: %s (%.1f/min), median %s; throughput ratio %.2f (goal >= 0.70)\n",
			parallelCreates, floor.Round(time.Millisecond), floorRate, median(bare).Round(time.Millisecond), rate/floorRate)
	}
}
