package workflows

import (
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/guest"
)

// Bounds of the guest calls of the day-2 operations.
const (
	// GuestCallScheduleTimeout is how long a running guest agent may take to pick up a call.
	GuestCallScheduleTimeout = time.Minute
	// EngineRestartTimeout bounds a stop or start of the engine.
	EngineRestartTimeout = 5 * time.Minute
	// HealthyTimeout bounds the wait for the engine to answer after a start.
	HealthyTimeout = 5 * time.Minute
	// healthPoll is the time between two health probes while an operation waits.
	healthPoll = 2 * time.Second
)

// guestOptions are for one call to the instance's guest agent: scheduleToStart bounds how
// long the agent may take to pick it up (longer while its server reboots), a few attempts.
func guestOptions(ctx workflow.Context, instanceID string, scheduleToStart time.Duration) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:              GuestTaskQueue(instanceID),
		ScheduleToStartTimeout: scheduleToStart,
		StartToCloseTimeout:    EngineRestartTimeout,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second, MaximumAttempts: 3,
		},
	})
}

// guestCall runs a guest activity and says in an operator's words what a timeout means.
func guestCall(ctx workflow.Context, instanceID string, scheduleToStart time.Duration, activity string, result any, args ...any) error {
	err := workflow.ExecuteActivity(guestOptions(ctx, instanceID, scheduleToStart), activity, args...).Get(ctx, result)
	switch {
	case isTimeout(err, enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START):
		return because(err, "the guest agent did not pick up %s from %s within %s", activity, GuestTaskQueue(instanceID), scheduleToStart)
	case isTimeout(err, enumspb.TIMEOUT_TYPE_START_TO_CLOSE):
		return because(err, "the guest agent did not finish %s within %s", activity, EngineRestartTimeout)
	}
	return err
}

// waitHealthy probes the guest's health until the engine is HEALTHY, for at most limit. A
// guest that does not answer yet (its server is booting) is asked again.
func waitHealthy(ctx workflow.Context, instanceID string, limit time.Duration) error {
	deadline := workflow.Now(ctx).Add(limit)
	last := "the guest agent did not answer"
	for {
		hctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			TaskQueue:              GuestTaskQueue(instanceID),
			ScheduleToStartTimeout: 30 * time.Second,
			StartToCloseTimeout:    30 * time.Second,
			RetryPolicy:            &temporal.RetryPolicy{MaximumAttempts: 1},
		})
		var r guest.HealthReport
		err := workflow.ExecuteActivity(hctx, guest.HealthActivity).Get(ctx, &r)
		switch {
		case err == nil && r.Status == coffer.ServiceHealthy:
			return nil
		case err == nil:
			last = fmt.Sprintf("the engine is %s", r.Status)
			if r.Detail != "" {
				last += ": " + r.Detail
			}
		case temporal.IsCanceledError(err):
			return err
		}
		if !workflow.Now(ctx).Before(deadline) {
			return temporal.NewApplicationError(fmt.Sprintf("the engine was not healthy within %s: %s", limit, last), "NotHealthy")
		}
		if err := workflow.Sleep(ctx, healthPoll); err != nil {
			return err
		}
	}
}
