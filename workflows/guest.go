package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/guest"
)

// Workflows call guests only through guest.Client, which holds the bounds and the retry
// policy of every call and says what a timeout means (a *guest.TimeoutError, whose
// Reason the fault message shows). The bounds here are the workflows' own.
const (
	// HealthyTimeout bounds the wait for the engine to answer after a start.
	HealthyTimeout = 5 * time.Minute
	// healthProbeTimeout bounds one health probe while an operation waits for the engine.
	healthProbeTimeout = 30 * time.Second
	// healthPoll is the time between two health probes while an operation waits.
	healthPoll = 2 * time.Second
)

// waitHealthy probes the guest's health until the engine is HEALTHY, for at most limit. A
// guest that does not answer yet (its server is booting) is asked again.
func waitHealthy(ctx workflow.Context, instanceID string, limit time.Duration) error {
	g := guest.For(instanceID).With(guest.Query(healthProbeTimeout))
	deadline := workflow.Now(ctx).Add(limit)
	last := "the guest agent did not answer"
	for {
		r, err := g.Health(ctx)
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

// async runs call in a coroutine of its own and returns the future of its result, for
// guest calls that run side by side or beside a signal channel.
func async[T any](ctx workflow.Context, call func(workflow.Context) (T, error)) workflow.Future {
	f, set := workflow.NewFuture(ctx)
	workflow.Go(ctx, func(ctx workflow.Context) {
		v, err := call(ctx)
		set.Set(v, err)
	})
	return f
}
