package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/coffer-dbaas/coffer/activities"
)

// acts is how workflows name the control-plane activities: methods called through a nil
// pointer, never run here.
var acts *activities.Activities

// Default bounds of the waits, when the input leaves them at zero.
const (
	DefaultServerActiveTimeout = 10 * time.Minute
	DefaultGuestStartTimeout   = 5 * time.Minute
	DefaultGuestPrepareTimeout = 10 * time.Minute
	// VolumeAvailableTimeout bounds the wait for Cinder (Trove's volume_time_out is 60 s;
	// a real cloud's backend may be slower).
	VolumeAvailableTimeout = 5 * time.Minute
	// DeleteWaitTimeout bounds the waits for a server or a volume to go.
	DeleteWaitTimeout = 5 * time.Minute
	// StopEngineScheduleTimeout is how long a delete waits for the guest to pick up
	// StopEngine: a dead guest must not hold up the delete.
	StopEngineScheduleTimeout = 30 * time.Second
)

// cloudRetry retries what may mend itself (a 5xx, a timeout) a few times with backoff, so a
// persistent failure ends the workflow within a minute, not after hours. Errors a retry
// cannot mend are non-retryable application errors and are not retried at all.
var cloudRetry = &temporal.RetryPolicy{
	InitialInterval:    time.Second,
	BackoffCoefficient: 2,
	MaximumInterval:    30 * time.Second,
	MaximumAttempts:    5,
}

// callOptions are for one OpenStack or catalog call.
func callOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         cloudRetry,
	})
}

// waitOptions are for a polling activity that heartbeats: limit bounds all its attempts.
func waitOptions(ctx workflow.Context, limit time.Duration) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		ScheduleToCloseTimeout: limit,
		StartToCloseTimeout:    limit,
		HeartbeatTimeout:       30 * time.Second,
		RetryPolicy:            cloudRetry,
	})
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// tracker keeps an operation's Progress, answered by the "progress" query and shown as the
// workflow's current details in the Web UI (what it does now, and a parked step's wait).
type tracker struct {
	ctx workflow.Context
	p   Progress
}

// show sets the workflow's current details from the progress.
func (t *tracker) show() {
	if t.ctx == nil {
		return
	}
	var d string
	switch {
	case t.p.Parked != nil:
		d = fmt.Sprintf("**%s: step %q is parked**, waiting for an operator's `retry`, `skip` or `abort` (update or signal) until %s.\n\nIts error: %s",
			t.p.Operation, t.p.Parked.Step, t.p.Parked.Deadline.UTC().Format(time.RFC3339), t.p.Parked.Error)
	case t.p.Step != "":
		d = fmt.Sprintf("%s: %s (%d steps done)", t.p.Operation, t.p.Step, len(t.p.Done))
	case t.p.Error != "":
		d = fmt.Sprintf("%s failed: %s", t.p.Operation, t.p.Error)
	}
	workflow.SetCurrentDetails(t.ctx, d)
}

// track starts answering the progress query for an operation.
func track(ctx workflow.Context, operation string) (*tracker, error) {
	return trackAs(ctx, operation, nil)
}

// trackAs is track for an operation whose progress query answers more than its Progress
// (a backup's bytes): view makes the answer from a copy of the Progress; nil answers it.
func trackAs(ctx workflow.Context, operation string, view func(Progress) any) (*tracker, error) {
	t := &tracker{ctx: ctx, p: Progress{Operation: operation, Done: []string{}, Started: workflow.GetInfo(ctx).WorkflowStartTime, Timings: []StepTiming{}}}
	err := workflow.SetQueryHandler(ctx, ProgressQuery, func() (any, error) {
		p := t.p
		p.Done = slices.Clone(t.p.Done)
		p.Timings = slices.Clone(t.p.Timings)
		if view != nil {
			return view(p), nil
		}
		return p, nil
	})
	if err != nil {
		return nil, fmt.Errorf("set progress query handler: %w", err)
	}
	return t, nil
}

// step runs one named step: the progress query shows it while it runs, and in Done after.
// A failure comes back as a *stepError naming the step.
func (t *tracker) step(name string, fn func() error) error {
	t.begin(name)
	err := fn()
	t.ended()
	if err != nil {
		return &stepError{step: name, err: err}
	}
	t.p.Done = append(t.p.Done, name)
	return nil
}

// during shows name as the running step while fn runs: work outside the operation's plan
// (a cleanup, recording its fault), which Done does not list.
func (t *tracker) during(name string, fn func()) {
	t.begin(name)
	fn()
	t.ended()
}

// begin shows name as the running step until the next one begins or the operation ends:
// for a step that runs for the workflow's life (the monitor's probes).
func (t *tracker) begin(name string) {
	t.ended()
	t.p.Step = name
	t.p.Timings = append(t.p.Timings, StepTiming{Step: name, Started: t.now()})
	t.show()
}

// ended closes the timing of the step that runs, if one does.
func (t *tracker) ended() {
	if n := len(t.p.Timings); n > 0 && t.p.Timings[n-1].Ended.IsZero() {
		t.p.Timings[n-1].Ended = t.now()
	}
}

// now is the workflow's clock (zero for a tracker outside a workflow, in unit tests).
func (t *tracker) now() time.Time {
	if t.ctx == nil {
		return time.Time{}
	}
	return workflow.Now(t.ctx)
}

// idle says that no step runs: the operation ended, or waits between its steps.
func (t *tracker) idle() { t.ended(); t.p.Step = ""; t.show() }

// failed keeps why the operation failed, for the progress query.
func (t *tracker) failed(message string) { t.p.Error = message }

// skipped counts a step an operator did by hand as done.
func (t *tracker) skipped(name string) {
	t.p.Done = append(t.p.Done, name+" (skipped by an operator)")
}

// parked shows the step that waits for an operator; nil when none waits any more.
func (t *tracker) parked(p *Parked) { t.p.Parked = p; t.show() }

// stepError is a failed step: the fault's message names it.
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return e.step + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

// reasonError says in an operator's words why something failed, where the error itself
// would not (a timeout, for example).
type reasonError struct {
	reason string
	err    error
}

func (e *reasonError) Error() string { return e.reason + ": " + e.err.Error() }
func (e *reasonError) Unwrap() error { return e.err }

// because wraps err with a reason for the fault message.
func because(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return &reasonError{reason: fmt.Sprintf(format, args...), err: err}
}

// faultMessage says which step failed and why, in one line: "create volume failed: create
// volume for instance 42: cinder answered 413: VolumeSizeExceedsAvailableQuota ...".
func faultMessage(operation string, err error) string {
	step := operation
	var se *stepError
	if errors.As(err, &se) {
		step = se.step
	}
	return step + " failed: " + reason(err)
}

// reason is the first explanation in err's chain: one of ours, an activity's own message,
// or what a timeout means.
func reason(err error) string {
	for e := err; e != nil; e = errors.Unwrap(e) {
		switch e := e.(type) {
		case *reasonError:
			return e.reason
		case interface{ Reason() string }: // a *guest.TimeoutError
			return e.Reason()
		case *temporal.ApplicationError:
			return e.Message()
		case *temporal.CanceledError:
			return "the operation was canceled"
		case *temporal.TimeoutError:
			switch e.TimeoutType() {
			case enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START:
				return "no worker picked up the work in time"
			case enumspb.TIMEOUT_TYPE_HEARTBEAT:
				return "the worker stopped reporting progress"
			default:
				return "it did not finish in time"
			}
		}
	}
	return err.Error()
}

// isTimeout reports whether err's first explanation is a timeout of the given type.
func isTimeout(err error, typ enumspb.TimeoutType) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		switch e := e.(type) {
		case *temporal.TimeoutError:
			return e.TimeoutType() == typ
		case *temporal.ApplicationError, *temporal.CanceledError:
			return false
		}
	}
	return false
}

// undo is a list of compensations, run last-in first-out.
type undo struct {
	names []string
	fns   []func(workflow.Context) error
}

func (u *undo) add(name string, fn func(workflow.Context) error) {
	u.names = append(u.names, name)
	u.fns = append(u.fns, fn)
}

// run runs every compensation in reverse order, each even when one before it failed, and
// returns what each failure left behind.
func (u *undo) run(ctx workflow.Context) []string {
	var left []string
	for i := len(u.fns) - 1; i >= 0; i-- {
		if err := u.fns[i](ctx); err != nil {
			workflow.GetLogger(ctx).Error("compensation failed", "step", u.names[i], "error", err)
			left = append(left, u.names[i]+" failed: "+reason(err))
		}
	}
	return left
}

// recordFault records the fault of a failed operation on the instance (task ERROR), with a
// context that outlives a cancellation.
func recordFault(ctx workflow.Context, instanceID, operation string, err error, cleanup []string) error {
	details := err.Error()
	if len(cleanup) > 0 {
		details += "\ncleanup left resources behind:\n" + strings.Join(cleanup, "\n")
	}
	return workflow.ExecuteActivity(callOptions(ctx), acts.RecordFault, activities.RecordFaultInput{
		InstanceID: instanceID,
		Message:    faultMessage(operation, err),
		Details:    details,
	}).Get(ctx, nil)
}

// deleteServer deletes a server and waits until Nova no longer has it.
func deleteServer(ctx workflow.Context, ref activities.ResourceRef) error {
	if err := workflow.ExecuteActivity(callOptions(ctx), acts.DeleteServer, ref).Get(ctx, nil); err != nil {
		return err
	}
	return workflow.ExecuteActivity(waitOptions(ctx, DeleteWaitTimeout), acts.WaitServerDeleted, ref).Get(ctx, nil)
}

// deleteVolume deletes a volume once it is detached, and waits until it is gone.
func deleteVolume(ctx workflow.Context, ref activities.ResourceRef) error {
	return workflow.ExecuteActivity(waitOptions(ctx, DeleteWaitTimeout), acts.DeleteVolume, ref).Get(ctx, nil)
}

func deletePort(ctx workflow.Context, ref activities.ResourceRef) error {
	return workflow.ExecuteActivity(callOptions(ctx), acts.DeletePort, ref).Get(ctx, nil)
}

func deleteSecurityGroup(ctx workflow.Context, ref activities.ResourceRef) error {
	return workflow.ExecuteActivity(callOptions(ctx), acts.DeleteSecurityGroup, ref).Get(ctx, nil)
}
