package guestagent

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"
)

// keepAlive heartbeats the running activity every few seconds, until the returned stop is
// called, when its caller asked for heartbeats (a HeartbeatTimeout, as guest.Boot calls
// have): an attempt whose agent died, or whose task Temporal handed to a poll that never
// delivered it, is then seen lost within that timeout and tried again, instead of holding
// the operation for its whole run time.
func keepAlive(ctx context.Context) (stop func()) {
	timeout := activity.GetInfo(ctx).HeartbeatTimeout
	if timeout <= 0 {
		return func() {}
	}
	return heartbeat(ctx, min(backupHeartbeatInterval, max(timeout/3, time.Second)), func() { activity.RecordHeartbeat(ctx) })
}

// heartbeat runs beat (which records the running activity's heartbeat) every period, until
// the returned stop is called or ctx ends.
func heartbeat(ctx context.Context, every time.Duration, beat func()) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				beat()
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
