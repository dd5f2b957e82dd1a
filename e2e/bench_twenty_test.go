package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/instances"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/coffer-dbaas/coffer/workflows"
)

// atOnce is how many creates BenchmarkTwentyAtOnce starts at once.
const atOnce = 20

// BenchmarkTwentyAtOnce starts 20 creates at once (in alt_demo's project, whose quotas an
// admin raises for it: the stack's default allows 10 instances) and measures each one's time
// to ACTIVE and the batch's throughput, beside the floor: 20 bare initdb + starts of
// PostgreSQL run 20 at once on the same machine. Goals: the creates' throughput at least 70%
// of the floor's, and no create slower than 3x the creates' median. Its name holds no
// "Create", so that `-bench Create` runs BenchmarkCreateToActive alone.
func BenchmarkTwentyAtOnce(b *testing.B) {
	ctx := context.Background()
	alt, admin := login(b, "alt_demo"), login(b, "admin")
	quotas := map[string]any{"quotas": map[string]any{"instances": 2 * atOnce, "ram": 2 * atOnce * 1024, "volumes": 4 * atOnce}}
	if code := call(b, admin, http.MethodPut, "/mgmt/quotas/"+alt.projectID, quotas, nil); code != http.StatusOK {
		b.Fatalf("raise alt_demo's quotas: HTTP %d", code)
	}
	for b.Loop() {
		type create struct {
			id          string
			start, seen time.Time
		}
		var (
			mu      sync.Mutex
			creates []create
			wg      sync.WaitGroup
		)
		start := time.Now()
		for i := range atOnce {
			wg.Go(func() {
				t0 := time.Now()
				inst, err := instances.Create(ctx, alt.db, postgresOpts(fmt.Sprintf("par-%02d", i))).Extract()
				if err != nil {
					// Said at once: a run that then hangs on the others shows why.
					fmt.Printf("create par-%02d: %v\n", i, err)
					b.Error(err)
					return
				}
				mu.Lock()
				creates = append(creates, create{id: inst.ID, start: t0})
				mu.Unlock()
			})
		}
		wg.Wait()
		var ids []string
		for _, c := range creates {
			ids = append(ids, c.id)
		}
		// One list a poll sees all of them: twenty GETs a poll would load the machine
		// that the creates share.
		if !b.Failed() {
			seen := waitAllActive(b, alt, ids, 10*time.Minute, 100*time.Millisecond)
			for i := range creates {
				creates[i].seen = seen[creates[i].id]
			}
		}
		batch := time.Since(start)
		var took []time.Duration
		for _, c := range creates {
			took = append(took, c.seen.Sub(c.start))
		}
		var med, slowest create
		if !b.Failed() {
			slices.SortFunc(creates, func(x, y create) int { return int(x.seen.Sub(x.start) - y.seen.Sub(y.start)) })
			med, slowest = creates[len(creates)/2], creates[len(creates)-1]
			medianDown := createBreakdown(b, med.id, med.start, med.seen)
			slowestDown := createBreakdown(b, slowest.id, slowest.start, slowest.seen)
			fmt.Println("  the median create:")
			printBreakdown(os.Stdout, "this create", med.seen.Sub(med.start), [][]stepTook{medianDown})
			printTimeline(b, med.id, start)
			fmt.Println("  the slowest create:")
			printBreakdown(os.Stdout, "this create", slowest.seen.Sub(slowest.start), [][]stepTook{slowestDown})
			printTimeline(b, slowest.id, start)
		}
		for _, c := range creates {
			if err := instances.Delete(ctx, alt.db, c.id).ExtractErr(); err != nil {
				fmt.Printf("delete %s: %v\n", c.id, err)
				b.Error(err)
			}
		}
		waitAllGone(b, alt, ids, 5*time.Minute)
		if b.Failed() {
			b.FailNow()
		}

		var bare []time.Duration
		start = time.Now()
		for range atOnce {
			wg.Go(func() {
				d := bareInitdbAndStart(b)
				mu.Lock()
				bare = append(bare, d)
				mu.Unlock()
			})
		}
		wg.Wait()
		floor := time.Since(start)

		rate := float64(atOnce) / batch.Seconds() * 60
		floorRate := float64(atOnce) / floor.Seconds() * 60
		m, s := median(took), slices.Max(took)
		b.ReportMetric(rate, "creates/min")
		b.ReportMetric(floorRate, "initdb+start/min")
		b.ReportMetric(rate/floorRate, "throughput-ratio")
		b.ReportMetric(float64(s)/float64(m), "slowest/median")
		fmt.Printf("%d creates at once: all ACTIVE in %s (%.1f/min), median %s, slowest %s (%.1fx the median; goal <= 3x)\n",
			atOnce, batch.Round(time.Millisecond), rate, m.Round(time.Millisecond), s.Round(time.Millisecond), float64(s)/float64(m))
		fmt.Printf("floor, %d bare initdb+starts at once: %s (%.1f/min), median %s; throughput ratio %.2f (goal >= 0.70)\n",
			atOnce, floor.Round(time.Millisecond), floorRate, median(bare).Round(time.Millisecond), rate/floorRate)
	}
}

// waitAllActive polls the tenant's instances, all on one page, every interval until those
// of ids show ACTIVE, and returns when each was first seen so. It fails the benchmark when one
// shows ERROR or timeout passes.
func waitAllActive(b *testing.B, who tenant, ids []string, timeout, interval time.Duration) map[string]time.Time {
	b.Helper()
	deadline := time.Now().Add(timeout)
	seen := map[string]time.Time{}
	for {
		var page struct {
			Instances []struct {
				ID, Status string
				Fault      any
			}
		}
		if code := call(b, who, http.MethodGet, "/instances?limit=100", nil, &page); code != http.StatusOK {
			b.Fatalf("list instances: HTTP %d", code)
		}
		now := time.Now()
		for _, inst := range page.Instances {
			if !slices.Contains(ids, inst.ID) {
				continue
			}
			switch inst.Status {
			case "ACTIVE":
				if _, ok := seen[inst.ID]; !ok {
					seen[inst.ID] = now
				}
			case "ERROR":
				b.Fatalf("instance %s went ERROR (fault %+v)", inst.ID, inst.Fault)
			}
		}
		if len(seen) == len(ids) {
			return seen
		}
		if now.After(deadline) {
			b.Fatalf("%d of %d instances ACTIVE after %s", len(seen), len(ids), timeout)
		}
		time.Sleep(interval)
	}
}

// waitAllGone polls the tenant's instances until none of ids is listed, and fails
// the benchmark after timeout, naming those left.
func waitAllGone(b *testing.B, who tenant, ids []string, timeout time.Duration) {
	b.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var page struct{ Instances []struct{ ID, Status string } }
		if code := call(b, who, http.MethodGet, "/instances?limit=100", nil, &page); code != http.StatusOK {
			b.Fatalf("list instances: HTTP %d", code)
		}
		var left []string
		for _, inst := range page.Instances {
			if slices.Contains(ids, inst.ID) {
				left = append(left, inst.ID+" ("+inst.Status+")")
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d instances still listed %s after their delete: %v", len(left), timeout, left)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// printTimeline prints when each step of instance id's create began and ended, counted from
// the batch's start, and how long its workflow and activity tasks waited in their queues
// (scheduled until a worker or the guest polled them): a worker short of pollers or of CPU
// shows there.
func printTimeline(b *testing.B, id string, batch time.Time) {
	b.Helper()
	ctx := context.Background()
	v, err := cloud.Client.QueryWorkflow(ctx, workflows.CreateWorkflowID(id), "", workflows.ProgressQuery)
	if err != nil {
		b.Fatalf("query the progress of %s's create: %v", id, err)
	}
	var p workflows.Progress
	if err := v.Get(&p); err != nil {
		b.Fatalf("decode the progress of %s's create: %v", id, err)
	}
	at := func(t time.Time) time.Duration { return t.Sub(batch).Round(time.Millisecond) }
	fmt.Printf("    timeline (from the batch's start): workflow started %s\n", at(p.Started))
	for _, s := range p.Timings {
		fmt.Printf("      %-30s %9s .. %9s\n", s.Step, at(s.Started), at(s.Ended))
	}
	var (
		wfTasks, actTasks int
		wfWait, actWait   time.Duration
		wfMax, actMax     time.Duration
		scheduled         = map[int64]time.Time{}
	)
	it := cloud.Client.GetWorkflowHistory(ctx, workflows.CreateWorkflowID(id), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			b.Fatalf("history of %s's create: %v", id, err)
		}
		switch e.EventType {
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			scheduled[e.EventId] = e.EventTime.AsTime()
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
			w := e.EventTime.AsTime().Sub(scheduled[e.GetWorkflowTaskStartedEventAttributes().GetScheduledEventId()])
			wfTasks, wfWait, wfMax = wfTasks+1, wfWait+w, max(wfMax, w)
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
			w := e.EventTime.AsTime().Sub(scheduled[e.GetActivityTaskStartedEventAttributes().GetScheduledEventId()])
			actTasks, actWait, actMax = actTasks+1, actWait+w, max(actMax, w)
		}
	}
	fmt.Printf("    queued: %d workflow tasks waited %s in all (longest %s), %d activity tasks %s (longest %s)\n",
		wfTasks, wfWait.Round(time.Millisecond), wfMax.Round(time.Millisecond), actTasks, actWait.Round(time.Millisecond), actMax.Round(time.Millisecond))
}
