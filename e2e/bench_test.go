package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/instances"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/pgcluster"
	"github.com/coffer-dbaas/coffer/workflows"
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
		printBreakdown(os.Stdout, create, breakdowns)
	}
}

// stepTook is how long one part of an operation took.
type stepTook struct {
	step string
	took time.Duration
}

// Parts of a create that are no step of its workflow.
const (
	partUntilWorkflow = "(POST until the workflow starts)"
	partBetween       = "(between steps)"
	partUntilSeen     = "(mark active until the client sees ACTIVE)"
	// The two parts of prepare guest, which its line holds.
	partPrepareQueued = "  of which Prepare waits for the guest's poll"
	partPrepareRuns   = "  of which the guest runs Prepare"
)

// activityTimes is when the last activity of a type in a workflow's history was scheduled,
// started (a worker polled it) and completed.
func activityTimes(b *testing.B, workflowID, activityType string) (scheduled, started, completed time.Time) {
	b.Helper()
	it := cloud.Client.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var id int64
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			b.Fatalf("history of %s: %v", workflowID, err)
		}
		switch e.EventType {
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			if e.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName() == activityType {
				id, scheduled = e.EventId, e.EventTime.AsTime()
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
			if e.GetActivityTaskStartedEventAttributes().GetScheduledEventId() == id {
				started = e.EventTime.AsTime()
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			if e.GetActivityTaskCompletedEventAttributes().GetScheduledEventId() == id {
				completed = e.EventTime.AsTime()
			}
		}
	}
	if completed.IsZero() {
		b.Fatalf("no completed %s in %s", activityType, workflowID)
	}
	return scheduled, started, completed
}

// createBreakdown is where the time of instance id's create went, from the POST (start) to
// the client seeing ACTIVE (seen): its steps up to mark active, as its progress query
// times them, and what lies outside them. The parts add up to seen - start.
func createBreakdown(b *testing.B, id string, start, seen time.Time) []stepTook {
	b.Helper()
	v, err := cloud.Client.QueryWorkflow(context.Background(), workflows.CreateWorkflowID(id), "", workflows.ProgressQuery)
	if err != nil {
		b.Fatalf("query the progress of %s's create: %v", id, err)
	}
	var p workflows.Progress
	if err := v.Get(&p); err != nil {
		b.Fatalf("decode the progress of %s's create: %v", id, err)
	}
	parts := []stepTook{{partUntilWorkflow, p.Started.Sub(start)}}
	last, between := p.Started, time.Duration(0)
	for _, s := range p.Timings {
		between += s.Started.Sub(last)
		parts = append(parts, stepTook{s.Step, s.Took()})
		last = s.Ended
		if s.Step == workflows.StepPrepareGuest {
			// Split by the guest's activity: its boot and first poll, then its work.
			scheduled, started, completed := activityTimes(b, workflows.CreateWorkflowID(id), guest.PrepareActivity)
			parts = append(parts,
				stepTook{partPrepareQueued, started.Sub(scheduled)},
				stepTook{partPrepareRuns, completed.Sub(started)})
		}
		if s.Step == workflows.StepMarkActive {
			break
		}
	}
	return append(parts, stepTook{partBetween, between}, stepTook{partUntilSeen, seen.Sub(last)})
}

// printBreakdown prints each part's median over the creates and its share of the median
// create, in the order the first create ran them.
func printBreakdown(w io.Writer, create time.Duration, breakdowns [][]stepTook) {
	var order []string
	took := map[string][]time.Duration{}
	for _, parts := range breakdowns {
		for _, p := range parts {
			if _, ok := took[p.step]; !ok {
				order = append(order, p.step)
			}
			took[p.step] = append(took[p.step], p.took)
		}
	}
	fmt.Fprintf(w, "  where a create's time goes (median of each part over %d creates; share of the median create):\n", len(breakdowns))
	for _, step := range order {
		// A part some creates lack (a retried step) counts as zero in those.
		ds := took[step]
		for len(ds) < len(breakdowns) {
			ds = append(ds, 0)
		}
		m := median(ds)
		fmt.Fprintf(w, "    %-44s %8s %5.1f%%\n", step, m.Round(time.Millisecond), 100*float64(m)/float64(create))
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
