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

// operatorSignals are the signals a parked step waits for, in a fixed order (workflow code
// must not range over a map).
var operatorSignals = []string{RetrySignal, SkipSignal, AbortSignal}

// parking parks the steps of one workflow: a step that failed after its activity's retries,
// with an error a retry might mend (a 5xx, a timeout), is not failed at once. The workflow
//
//  1. shows the step and its error in the progress query (Progress.Parked) and as the
//     instance's fault, and sets the search attribute CofferNeedsAttention to "true";
//  2. waits for a signal: retry (run the step again), skip (count it as done: an operator
//     did it by hand) or abort (fail the step: the workflow compensates and ends in
//     ERROR), or aborts by itself after the timeout;
//  3. clears the attention state and carries on as the signal says.
//
// Errors no retry can mend (non-retryable application errors: quota, invalid input, not
// found, a server in ERROR) and cancellations fail the step at once, as before.
type parking struct {
	t          *tracker
	operation  string
	instanceID string
	timeout    time.Duration
	signals    map[string]workflow.ReceiveChannel
}

func newParking(ctx workflow.Context, t *tracker, operation, instanceID string, timeout time.Duration) *parking {
	p := &parking{
		t: t, operation: operation, instanceID: instanceID,
		timeout: orDefault(timeout, DefaultParkTimeout),
		signals: map[string]workflow.ReceiveChannel{},
	}
	for _, name := range operatorSignals {
		p.signals[name] = workflow.GetSignalChannel(ctx, name)
	}
	return p
}

// step runs a named step as tracker.step does, parking it when it fails with a parkable
// error. The error it returns after an abort (by the operator or the timeout) still names
// the step and its cause.
func (p *parking) step(ctx workflow.Context, name string, fn func() error) error {
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
		default:
			return &reasonError{reason: fmt.Sprintf("%s; no operator answered within %s", reason(err), p.timeout), err: err}
		}
	}
}

// park waits for an operator's decision on a failed step: a signal's name, or "" when the
// timeout (or a cancellation) came first.
func (p *parking) park(ctx workflow.Context, step string, err error, attempt int) string {
	log := workflow.GetLogger(ctx)
	// A signal sent while nothing was parked answered nothing: it must not decide this park.
	for _, name := range operatorSignals {
		for p.signals[name].ReceiveAsync(nil) {
			log.Warn("ignoring a signal sent while no step was parked", "signal", name, "instance_id", p.instanceID)
		}
	}
	now := workflow.Now(ctx)
	parked := &Parked{Step: step, Error: reason(err), Since: now, Deadline: now.Add(p.timeout), Attempts: attempt}
	p.t.parked(parked)
	log.Error("step parked: waiting for an operator's retry, skip or abort signal",
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
	for _, name := range operatorSignals {
		sel.AddReceive(p.signals[name], func(c workflow.ReceiveChannel, _ bool) {
			c.Receive(ctx, nil)
			decision = name
		})
	}
	sel.AddFuture(workflow.NewTimer(tctx, p.timeout), func(workflow.Future) {})
	sel.Select(ctx)
	cancelTimer()
	log.Info("parked step decided", "instance_id", p.instanceID, "step", step, "decision", decision)

	p.t.parked(nil)
	// The fault stays for an abort: the compensation records the final one.
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
