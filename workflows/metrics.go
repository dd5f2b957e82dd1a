package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Operation metrics, through the SDK's metrics handler (which the worker's telemetry sends
// to Prometheus, and which records nothing while a workflow replays):
// coffer_operations_total and coffer_operation_duration_seconds, by operation and outcome.
const (
	operationsMetric        = "coffer_operations"
	operationDurationMetric = "coffer_operation_duration"
)

// Outcomes of an operation, as its metrics tell them.
const (
	OutcomeCompleted = "completed"
	OutcomeFailed    = "failed"
	OutcomeCanceled  = "canceled"
	// OutcomeBusy: another operation held the instance, so this one did nothing.
	OutcomeBusy = "busy"
)

// recordOutcome counts one end of operation and how long it took since started.
func recordOutcome(ctx workflow.Context, operation string, started time.Time, outcome string) {
	h := workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"operation": operation, "outcome": outcome})
	h.Counter(operationsMetric).Inc(1)
	h.Timer(operationDurationMetric).Record(workflow.Now(ctx).Sub(started))
}

// outcomeOf sorts a run's error into an outcome.
func outcomeOf(ctx workflow.Context, err error) string {
	var canceled *temporal.CanceledError
	switch {
	case err == nil:
		return OutcomeCompleted
	case errors.As(err, &canceled), ctx.Err() != nil:
		return OutcomeCanceled
	}
	return OutcomeFailed
}
