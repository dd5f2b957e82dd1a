package e2e

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/workflows"
)

// stepTook is how long one part of an operation took.
type stepTook struct {
	step string
	took time.Duration
}

// Parts of an operation that are no step of its workflow.
const (
	partUntilWorkflow = "(POST until the workflow starts)"
	partBetween       = "(between steps)"
	partUntilSeen     = "(last step until the client sees it)"
)

// guestActivityOf names the guest activity a step runs, for the steps whose line the
// breakdown splits in two: the time the activity waited for the guest's poll (a booting
// guest's dial is in it), then the time the guest ran it.
var guestActivityOf = map[string]string{
	workflows.StepPrepareGuest:  guest.PrepareActivity,
	workflows.StepStreamBackup:  guest.BackupActivity,
	workflows.StepRestoreBackup: guest.RestoreActivity,
}

// guestParts are the two lines a guest step's line is split into.
func guestParts(activity string) (queued, runs string) {
	return "  of which " + activity + " waits for the guest's poll", "  of which the guest runs " + activity
}

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

// createBreakdown is where the time of instance id's create (or restore) went, from the
// POST (start) to the client seeing ACTIVE (seen).
func createBreakdown(b *testing.B, id string, start, seen time.Time) []stepTook {
	b.Helper()
	return operationBreakdown(b, workflows.CreateWorkflowID(id), start, seen, workflows.StepMarkActive)
}

// operationBreakdown is where the time of an operation went, from the POST (start) to the
// client seeing its end (seen): its steps up to last ("" for all of them), as its progress
// query times them, the guest steps split into the wait for the guest's poll and the
// guest's work, and what lies outside the steps. The parts add up to seen - start.
func operationBreakdown(b *testing.B, workflowID string, start, seen time.Time, last string) []stepTook {
	b.Helper()
	v, err := cloud.Client.QueryWorkflow(context.Background(), workflowID, "", workflows.ProgressQuery)
	if err != nil {
		b.Fatalf("query the progress of %s: %v", workflowID, err)
	}
	var p workflows.Progress
	if err := v.Get(&p); err != nil {
		b.Fatalf("decode the progress of %s: %v", workflowID, err)
	}
	parts := []stepTook{{partUntilWorkflow, p.Started.Sub(start)}}
	end, between := p.Started, time.Duration(0)
	for _, s := range p.Timings {
		if s.Ended.IsZero() {
			break
		}
		between += s.Started.Sub(end)
		parts = append(parts, stepTook{s.Step, s.Took()})
		end = s.Ended
		if activity, ok := guestActivityOf[s.Step]; ok {
			scheduled, started, completed := activityTimes(b, workflowID, activity)
			queued, runs := guestParts(activity)
			parts = append(parts, stepTook{queued, started.Sub(scheduled)}, stepTook{runs, completed.Sub(started)})
		}
		if s.Step == last {
			break
		}
	}
	return append(parts, stepTook{partBetween, between}, stepTook{partUntilSeen, seen.Sub(end)})
}

// printBreakdown prints each part's median over the operations (what names one) and its
// share of the median operation (total), in the order the first one ran them.
func printBreakdown(w io.Writer, what string, total time.Duration, breakdowns [][]stepTook) {
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
	if len(breakdowns) == 1 {
		fmt.Fprintf(w, "  where %s's time goes (share of its %s):\n", what, total.Round(time.Millisecond))
	} else {
		fmt.Fprintf(w, "  where %s's time goes (median of each part over %d; share of the median, %s):\n", what, len(breakdowns), total.Round(time.Millisecond))
	}
	for _, step := range order {
		// A part some lack (a retried step) counts as zero in those.
		ds := took[step]
		for len(ds) < len(breakdowns) {
			ds = append(ds, 0)
		}
		m := median(ds)
		fmt.Fprintf(w, "    %-44s %8s %5.1f%%\n", step, m.Round(time.Millisecond), 100*float64(m)/float64(total))
	}
}
