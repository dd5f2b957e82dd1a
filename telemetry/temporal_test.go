package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

func loggedActivity(ctx context.Context) error {
	activity.GetLogger(ctx).Info("in the activity")
	return nil
}

func loggedWorkflow(ctx workflow.Context) error {
	workflow.GetLogger(ctx).Info("in the workflow")
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	return workflow.ExecuteActivity(ctx, loggedActivity).Get(ctx, nil)
}

// TestWorkflowAndActivityLogsCarryTheirTraceAndSpan runs a workflow and its activity with
// the tracing interceptor and JSON logs: both log lines carry trace_id and span_id, one
// trace.
func TestWorkflowAndActivityLogsCarryTheirTraceAndSpan(t *testing.T) {
	tel := newTelemetry(t, tracetest.NewInMemoryExporter())
	tr, err := tel.Interceptor()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log, err := NewLogger(&buf, "json", "info")
	if err != nil {
		t.Fatal(err)
	}
	var s testsuite.WorkflowTestSuite
	s.SetLogger(sdklog.NewStructuredLogger(log))
	env := s.NewTestWorkflowEnvironment()
	env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{tr}})
	env.RegisterWorkflow(loggedWorkflow)
	env.RegisterActivity(loggedActivity)
	env.ExecuteWorkflow(loggedWorkflow)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}

	traces := map[string]bool{}
	for _, msg := range []string{"in the workflow", "in the activity"} {
		var found map[string]any
		for line := range strings.Lines(buf.String()) {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && rec[slog.MessageKey] == msg {
				found = rec
			}
		}
		if found == nil {
			t.Fatalf("no log line %q in:\n%s", msg, buf.String())
		}
		id, _ := found["trace_id"].(string)
		if id == "" || found["span_id"] == nil {
			t.Errorf("log line %q: got %v, want trace_id and span_id", msg, found)
		}
		traces[id] = true
	}
	if len(traces) != 1 {
		t.Errorf("the workflow's and the activity's lines are in traces %v, want one", traces)
	}
}
