package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/coffer-dbaas/coffer/activities"
)

// DefaultParkTimeout is how long a parked step waits for an operator when the input says
// nothing: long enough for someone to be paged and look, short enough that nothing waits
// for ever.
const DefaultParkTimeout = time.Hour

// operatorAnswers are the answers an operator gives a parked step, as signals and as
// updates of the same names, in a fixed order (workflow code must not range over a map).
var operatorAnswers = []string{RetrySignal, SkipSignal, AbortSignal}

// The update validator's refusal of an operator's answer while no step is parked: the CLI
// shows it instead of a success that answered nothing, the API answers 422.
const (
	notParkedMessage = "rejected: the step is not parked"
	notParkedType    = "NotParked"
)

// canceled is the park's outcome when the workflow was canceled while it waited.
const canceled = "canceled"

// parking parks the steps of one workflow: a step that failed after its activity's retries,
// with an error a retry might mend (a 5xx, a timeout), is not failed at once. The workflow
//
//  1. shows the step and its error in the progress query (Progress.Parked) and as the
//     instance's fault, and sets the search attribute CofferNeedsAttention to "true";
//  2. waits for an operator's answer, as an update (validated: refused while no step is
//     parked, so the caller learns it answered nothing) or a signal: retry (run the step
//     again), skip (count it as done: an operator did it by hand) or abort (fail the step:
//     the workflow compensates and ends in ERROR); it aborts by itself after the timeout,
//     and a cancellation of the workflow ends the wait as a cancellation (the workflow
//     compensates and ends CANCELED);
//  3. clears the attention state and carries on as the answer says.
//
// A signal cannot be refused, so one that comes while the step is still in its activity's
// retries is remembered and answers the step's park at once; one sent during an earlier
// step, which did not park, answered nothing and is dropped when the next step begins.
//
// Errors no retry can mend (non-retryable application errors: quota, invalid input, not
// found, a server in ERROR) and cancellations fail the step at once, as before.
type parking struct {
	t          *tracker
	operation  string
	instanceID string
	timeout    time.Duration
	signals    map[string]workflow.ReceiveChannel
	// answer receives the update that answers the current park; nil while none is parked.
	answer workflow.Settable
}

func newParking(ctx workflow.Context, t *tracker, operation, instanceID string, timeout time.Duration) *parking {
	p := &parking{
		t: t, operation: operation, instanceID: instanceID,
		timeout: orDefault(timeout, DefaultParkTimeout),
		signals: map[string]workflow.ReceiveChannel{},
	}
	for _, name := range operatorAnswers {
		p.signals[name] = workflow.GetSignalChannel(ctx, name)
		err := workflow.SetUpdateHandlerWithOptions(ctx, name, func(ctx workflow.Context) (string, error) {
			step := t.p.Parked.Step
			p.answer.Set(name, nil)
			p.answer = nil
			return fmt.Sprintf("%s: step %q of %s", name, step, operation), nil
		}, workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context) error {
			if p.answer == nil || t.p.Parked == nil {
				return temporal.NewApplicationError(notParkedMessage, notParkedType)
			}
			return nil
		}})
		if err != nil {
			workflow.GetLogger(ctx).Error("set operator update handler", "update", name, "error", err)
		}
	}
	return p
}

// step runs a named step as tracker.step does, parking it when it fails with a parkable
// error. The error it returns after an abort (by the operator or the timeout) or a
// cancellation still names the step and its cause.
func (p *parking) step(ctx workflow.Context, name string, fn func() error) error {
	p.dropEarlySignals(ctx)
	for attempt := 1; ; attempt++ {
		err := p.t.step(name, fn)
		if err == nil || !parkable(err) {
			return err
		}
		switch p.park(ctx, name, err, attempt) {
		case RetrySignal:
			continue
		case SkipSignal:
			p.t.skipped(name)
			return nil
		case AbortSignal:
			return &reasonError{reason: reason(err) + "; aborted by an operator", err: err}
		case canceled:
			return &reasonError{reason: reason(err) + "; canceled by an operator while it waited",
				err: temporal.NewCanceledError(err.Error())}
		default:
			return &reasonError{reason: fmt.Sprintf("%s; no operator answered within %s", reason(err), p.timeout), err: err}
		}
	}
}

// dropEarlySignals drops the signals sent before the step began: the step they meant did
// not park, so they answered nothing.
func (p *parking) dropEarlySignals(ctx workflow.Context) {
	for _, name := range operatorAnswers {
		for p.signals[name].ReceiveAsync(nil) {
			workflow.GetLogger(ctx).Warn("dropping a signal sent while no step was parked", "signal", name, "instance_id", p.instanceID)
		}
	}
}

// park waits for an operator's answer on a failed step: its name, canceled when the
// workflow was canceled, or "" when the timeout came first.
func (p *parking) park(ctx workflow.Context, step string, err error, attempt int) string {
	log := workflow.GetLogger(ctx)
	// A signal sent during the step's retries was meant for this park.
	for _, name := range operatorAnswers {
		if p.signals[name].ReceiveAsync(nil) {
			log.Info("step failed; a signal sent during its retries answers it", "instance_id", p.instanceID, "step", step, "decision", name, "error", err)
			return name
		}
	}
	// The update's validator accepts an answer from the moment the progress shows the park.
	answered, answer := workflow.NewFuture(ctx)
	p.answer = answer
	now := workflow.Now(ctx)
	parked := &Parked{Step: step, Error: reason(err), Since: now, Deadline: now.Add(p.timeout), Attempts: attempt}
	p.t.parked(parked)
	log.Error("step parked: waiting for an operator's retry, skip or abort",
		"instance_id", p.instanceID, "step", step, "error", err, "deadline", parked.Deadline)
	p.attention(ctx, true, &activities.NoteFaultInput{
		InstanceID: p.instanceID,
		Message: fmt.Sprintf("%s; waiting for an operator (retry-task, skip-task or abort-task) until %s",
			faultMessage(p.operation, err), parked.Deadline.UTC().Format(time.RFC3339)),
		Details: err.Error(),
	})

	decision := ""
	tctx, cancelTimer := workflow.WithCancel(ctx)
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) { decision = canceled })
	for _, name := range operatorAnswers {
		sel.AddReceive(p.signals[name], func(c workflow.ReceiveChannel, _ bool) {
			c.Receive(ctx, nil)
			decision = name
		})
	}
	sel.AddFuture(answered, func(f workflow.Future) { _ = f.Get(ctx, &decision) })
	// The timer also ends when the workflow is canceled: that is no timeout.
	sel.AddFuture(workflow.NewTimer(tctx, p.timeout), func(workflow.Future) {
		if ctx.Err() != nil {
			decision = canceled
		}
	})
	sel.Select(ctx)
	cancelTimer()
	p.answer = nil
	log.Info("parked step decided", "instance_id", p.instanceID, "step", step, "decision", decision)

	p.t.parked(nil)
	// The fault stays for an abort or a cancellation: the compensation records the final one.
	var clear *activities.NoteFaultInput
	if decision == RetrySignal || decision == SkipSignal {
		clear = &activities.NoteFaultInput{InstanceID: p.instanceID}
	}
	p.attention(ctx, false, clear)
	return decision
}

// attention sets the search attribute and notes (or clears) the fault; a failure is logged
// only, since the park itself must go on.
func (p *parking) attention(ctx workflow.Context, on bool, note *activities.NoteFaultInput) {
	if err := workflow.UpsertTypedSearchAttributes(ctx, NeedsAttentionAttr.ValueSet(fmt.Sprint(on))); err != nil {
		workflow.GetLogger(ctx).Error("set search attribute", "attribute", NeedsAttentionAttr.GetName(), "error", err)
	}
	if note == nil {
		return
	}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	if err := workflow.ExecuteActivity(callOptions(dctx), acts.NoteFault, *note).Get(dctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("note fault", "instance_id", p.instanceID, "error", err)
	}
}

// parkable reports whether a failed step may be mended by a retry later: its first
// explanation is a retryable application error or a timeout.
func parkable(err error) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		switch e := e.(type) {
		case *temporal.ApplicationError:
			return !e.NonRetryable()
		case *temporal.TimeoutError:
			return true
		case *temporal.CanceledError, *temporal.TerminatedError:
			return false
		}
	}
	return false
}
