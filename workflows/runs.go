package workflows

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// What the API asks of the runs of operations an operator may have steered in Temporal
// directly (temporal workflow terminate, cancel, update).

// ErrNotParked is what Answer returns when the workflow refused the answer: no step of it
// is parked.
var ErrNotParked = errors.New("no step is parked")

// ErrRunEnded is what Answer returns when the workflow has ended.
var ErrRunEnded = errors.New("the workflow has ended")

// RunEnd is how a workflow's last run ended.
type RunEnd struct {
	// Status is how it ended, in an operator's words: "terminated", "timed out",
	// "canceled", "failed", "completed" or "continued as new".
	Status string
	// Reason is what the operator gave when terminating it, with who they were (when
	// Temporal recorded it).
	Reason string
	At     time.Time
}

// Ended describes the last run of the workflow workflowID: nil while it runs.
func (s Starter) Ended(ctx context.Context, workflowID string) (*RunEnd, error) {
	d, err := s.Client.DescribeWorkflowExecution(ctx, workflowID, "")
	if err != nil {
		return nil, fmt.Errorf("describe workflow %s: %w", workflowID, err)
	}
	info := d.GetWorkflowExecutionInfo()
	status := info.GetStatus()
	if status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return nil, nil
	}
	end := &RunEnd{Status: runStatus(status)}
	if t := info.GetCloseTime(); t != nil {
		end.At = t.AsTime()
	}
	if status == enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED {
		it := s.Client.GetWorkflowHistory(ctx, workflowID, info.GetExecution().GetRunId(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT)
		if it.HasNext() {
			if ev, err := it.Next(); err == nil {
				if a := ev.GetWorkflowExecutionTerminatedEventAttributes(); a != nil {
					end.Reason = strings.TrimSpace(a.GetReason())
					if id := a.GetIdentity(); id != "" {
						end.Reason = strings.TrimSpace(end.Reason + " (by " + id + ")")
					}
				}
			}
		}
	}
	return end, nil
}

// runStatus names a closed workflow's status.
func runStatus(s enumspb.WorkflowExecutionStatus) string {
	switch s {
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		return "terminated"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		return "timed out"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		return "canceled"
	case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:
		return "failed"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		return "continued as new"
	}
	return "completed"
}

// Answer gives a parked step of the workflow an operator's answer (RetrySignal,
// SkipSignal or AbortSignal) as an update, and returns what the workflow said:
// ErrNotParked when it refused it, ErrRunEnded when the workflow has ended.
func (s Starter) Answer(ctx context.Context, workflowID, answer string) (string, error) {
	h, err := s.Client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: workflowID, UpdateName: answer, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	var said string
	if err == nil {
		err = h.Get(ctx, &said)
	}
	var (
		app      *temporal.ApplicationError
		notFound *serviceerror.NotFound
	)
	switch {
	case err == nil:
		return said, nil
	case errors.As(err, &app) && app.Type() == notParkedType:
		return "", fmt.Errorf("%s to %s: %w", answer, workflowID, ErrNotParked)
	case errors.As(err, &notFound):
		return "", fmt.Errorf("%s to %s: %w", answer, workflowID, ErrRunEnded)
	}
	return "", fmt.Errorf("%s to %s: %w", answer, workflowID, err)
}
