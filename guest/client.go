package guest

import (
	"encoding/json"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Bounds of the presets.
const (
	// PickUpTimeout is how long a running guest agent may take to pick up a call: a live
	// agent always has a poller waiting, so this is long only for a busy or restarting one.
	PickUpTimeout = time.Minute
	// QuickTimeout bounds a quick query (a list, the root check): the guest must pick it
	// up and answer within it, as Trove's agent_call_low_timeout.
	QuickTimeout = 15 * time.Second
	// ChangeTimeout bounds each attempt of a change once the guest picked it up (a stop or
	// start of the engine, a replication step, a grant).
	ChangeTimeout = 5 * time.Minute
	// BootHeartbeatTimeout is how long a guest running a Boot call may go without a
	// heartbeat: a call whose task never reached the agent (Temporal counts it started once
	// a poll took it), or whose agent ended mid-way, is tried again after this, not after
	// its whole run time. The agent heartbeats every few seconds while it runs one.
	BootHeartbeatTimeout = 30 * time.Second
)

// Options bound one call to a guest. Start from a preset (Quick, Query, Change, LongJob,
// Boot) and adjust it with its methods; every call retries with the one policy of
// retryPolicy.
type Options struct {
	// ScheduleToStart bounds how long the guest may take to pick the call up; zero is no
	// bound. Temporal does not retry a call nobody picked up.
	ScheduleToStart time.Duration
	// StartToClose bounds each attempt once the guest picked it up.
	StartToClose time.Duration
	// Heartbeat, when set, is how long a long job may go without reporting before its
	// attempt counts as lost (the guest died or was cut off).
	Heartbeat time.Duration
	// Attempts is how often the call is tried; zero is once.
	Attempts int32
	// Booting says the guest agent may not run yet (its server boots): a call not picked
	// up in time means the agent never started polling.
	Booting bool
}

// Quick is a quick query: QuickTimeout to be picked up and to answer, one attempt.
func Quick() Options { return Query(QuickTimeout) }

// Query is a query answered at once (a health probe, a position): limit to be picked up
// and as long to answer, one attempt.
func Query(limit time.Duration) Options {
	return Options{ScheduleToStart: limit, StartToClose: limit, Attempts: 1}
}

// Change is a change on a running guest: PickUpTimeout to be picked up, ChangeTimeout
// per attempt, three attempts (every guest activity is idempotent).
func Change() Options {
	return Options{ScheduleToStart: PickUpTimeout, StartToClose: ChangeTimeout, Attempts: 3}
}

// LongJob is a job that runs for a long time and heartbeats (a backup, a wait for a
// replica): PickUpTimeout to be picked up, run per attempt, heartbeat of silence at most,
// two attempts.
func LongJob(run, heartbeat time.Duration) Options {
	return Options{ScheduleToStart: PickUpTimeout, StartToClose: run, Heartbeat: heartbeat, Attempts: 2}
}

// Boot is the first call to a guest whose server has just booted (Prepare, a replica's
// seed, a restore): start bounds how long its agent may take to start polling, run each
// attempt, during which the agent heartbeats within BootHeartbeatTimeout; three attempts.
func Boot(start, run time.Duration) Options {
	return Options{ScheduleToStart: start, StartToClose: run, Heartbeat: BootHeartbeatTimeout, Attempts: 3, Booting: true}
}

// PickUpWithin returns o with the guest given d to pick the call up.
func (o Options) PickUpWithin(d time.Duration) Options { o.ScheduleToStart = d; return o }

// FinishWithin returns o with each attempt bounded by d.
func (o Options) FinishWithin(d time.Duration) Options { o.StartToClose = d; return o }

// ReportWithin returns o with the guest's heartbeats due within d.
func (o Options) ReportWithin(d time.Duration) Options { o.Heartbeat = d; return o }

// Tries returns o with n attempts.
func (o Options) Tries(n int32) Options { o.Attempts = n; return o }

// retryPolicy is the one retry policy of every guest call. The guest marks the failures
// that no retry mends (the error types in errors.go) non-retryable itself.
func retryPolicy(attempts int32) *temporal.RetryPolicy {
	return &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    30 * time.Second,
		MaximumAttempts:    max(attempts, 1),
	}
}

// Client calls the activities of one instance's guest from a workflow, on its task queue,
// with its Options:
//
//	g := guest.For(instanceID)                                 // a Change
//	err := g.With(guest.Boot(start, prepare)).Prepare(ctx, in)
//	report, err := g.With(guest.Query(30 * time.Second)).Health(ctx)
//
// A timeout comes back as a *TimeoutError that says what it means; any other failure as
// Temporal reports it (an ApplicationError of one of the error types in errors.go, ...).
type Client struct {
	instanceID string
	opts       Options
}

// For is the client of an instance's guest, with the Change preset.
func For(instanceID string) Client { return Client{instanceID: instanceID, opts: Change()} }

// With returns the client with other options.
func (c Client) With(o Options) Client { c.opts = o; return c }

func (c Client) activityOptions() workflow.ActivityOptions {
	return workflow.ActivityOptions{
		TaskQueue:              TaskQueue(c.instanceID),
		ScheduleToStartTimeout: c.opts.ScheduleToStart,
		StartToCloseTimeout:    c.opts.StartToClose,
		HeartbeatTimeout:       c.opts.Heartbeat,
		RetryPolicy:            retryPolicy(c.opts.Attempts),
	}
}

// execute runs the activity name and decodes its result into result (nil: none).
func (c Client) execute(ctx workflow.Context, name string, result any, args ...any) error {
	actx := workflow.WithActivityOptions(ctx, c.activityOptions())
	return workflow.ExecuteActivity(actx, name, args...).Get(ctx, result)
}

// call runs the activity name and says in an operator's words what a timeout means.
func (c Client) call(ctx workflow.Context, name string, result any, args ...any) error {
	return c.explain(name, c.execute(ctx, name, result, args...))
}

// explain wraps a timeout of the call name in a *TimeoutError that says what it means.
func (c Client) explain(name string, err error) error {
	var reason string
	switch timeoutType(err) {
	case enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START:
		if c.opts.Booting {
			reason = fmt.Sprintf("the guest agent did not start polling %s within %s", TaskQueue(c.instanceID), c.opts.ScheduleToStart)
		} else {
			reason = fmt.Sprintf("the guest agent did not pick up %s from %s within %s", name, TaskQueue(c.instanceID), c.opts.ScheduleToStart)
		}
	case enumspb.TIMEOUT_TYPE_START_TO_CLOSE:
		reason = fmt.Sprintf("the guest agent of instance %s did not finish %s within %s", c.instanceID, name, c.opts.StartToClose)
	case enumspb.TIMEOUT_TYPE_HEARTBEAT:
		reason = fmt.Sprintf("the guest agent of instance %s stopped reporting during %s for %s (killed or cut off)", c.instanceID, name, c.opts.Heartbeat)
	default:
		return err
	}
	return &TimeoutError{reason: reason, err: err}
}

// Call runs the activity name with its input as JSON (none when empty) and returns its
// result as JSON: the GuestCall workflow's way for the API, which sends names and inputs
// it took from this package. A name outside the contract fails at once as ErrInvalid.
// Failures, timeouts included, come back as Temporal reports them: the API reads them
// itself.
func (c Client) Call(ctx workflow.Context, name string, input json.RawMessage) (json.RawMessage, error) {
	if !Serves(name) {
		return nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%q is not an activity of the guest's contract", name), ErrInvalid, nil)
	}
	var args []any
	if len(input) > 0 {
		args = append(args, input)
	}
	var out json.RawMessage
	if err := c.execute(ctx, name, &out, args...); err != nil {
		return nil, err
	}
	return out, nil
}
