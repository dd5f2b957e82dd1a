package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/workflows"
)

// Guest reaches the guest agents of instances: the database, user and root routes run
// there. TemporalWorkflows implements it with the GuestCall workflow.
//
// Both methods fail with a *GuestError when the guest refused the request (invalid, a
// name that is missing or exists) or did not answer in time.
type Guest interface {
	// CallGuest runs a guest activity and waits for its answer, decoded into out (nil:
	// none), for at most workflows.QuickGuestTimeout to be picked up and as long to run.
	// in is the activity's input; nil is none.
	CallGuest(ctx context.Context, call GuestCall, in, out any) error
	// ChangeGuest starts a guest activity as a change and waits at most wait for it to
	// end: a change still running then is no error (the client got 202 and may poll).
	ChangeGuest(ctx context.Context, call GuestCall, in any, wait time.Duration) error
	// GuestLog publishes or discards one of an instance's logs (the GuestLog workflow) and
	// waits at most wait for the log as the guest then sees it.
	GuestLog(ctx context.Context, in workflows.GuestLogInput, wait time.Duration) (guest.LogInfo, error)
}

// GuestCall names a guest activity of an instance, and the API operation it serves.
type GuestCall struct {
	InstanceID string
	ProjectID  string
	// Operation names the API operation in the workflow ID ("users/create").
	Operation string
	// Activity is the guest activity (guest.ListUsersActivity, ...).
	Activity string
}

// GuestError is a guest call that failed for a reason the client should hear: the guest
// refused the request, or did not answer.
type GuestError struct {
	InstanceID string
	// Kind is guest.ErrInvalid, guest.ErrNotFound, guest.ErrExists, or
	// GuestTimeout.
	Kind    string
	Message string
}

// GuestTimeout is the Kind of a GuestError of a guest that did not answer in time.
const GuestTimeout = "Timeout"

func (e *GuestError) Error() string {
	return fmt.Sprintf("guest of instance %s: %s: %s", e.InstanceID, e.Kind, e.Message)
}

// guestChangeWait is how long a change route waits for the guest before it answers 202
// with the change still running: long enough that a healthy guest has finished, so the
// client sees its change (and its mistakes) at once.
const guestChangeWait = 10 * time.Second

func (t TemporalWorkflows) startGuestCall(ctx context.Context, call GuestCall, in any, quick bool) (client.WorkflowRun, error) {
	input := workflows.GuestCallInput{InstanceID: call.InstanceID, ProjectID: call.ProjectID, Activity: call.Activity}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("guest call %s: %w", call.Activity, err)
		}
		input.Input = b
	}
	timeout := 3 * workflows.QuickGuestTimeout
	if !quick {
		input.ScheduleToStart, input.StartToClose, input.Attempts = workflows.GuestChangeTimeout, workflows.GuestChangeTimeout, 3
		timeout = time.Hour
	}
	run, err := t.StartGuestCall(ctx, call.Operation, input, timeout)
	if err != nil {
		return nil, unavailable("guest call "+call.Operation+" on instance "+call.InstanceID, err)
	}
	return run, nil
}

// CallGuest runs a quick guest call; see Guest.
func (t TemporalWorkflows) CallGuest(ctx context.Context, call GuestCall, in, out any) error {
	run, err := t.startGuestCall(ctx, call, in, true)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*workflows.QuickGuestTimeout)
	defer cancel()
	var raw json.RawMessage
	if err := run.Get(ctx, &raw); err != nil {
		if ctx.Err() != nil {
			return &GuestError{InstanceID: call.InstanceID, Kind: GuestTimeout, Message: "no answer in time"}
		}
		return guestFailure(call.InstanceID, err)
	}
	if out == nil || len(raw) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("guest call %s on instance %s: read the answer: %w", call.Activity, call.InstanceID, err)
	}
	return nil
}

// ChangeGuest starts a guest change and waits a while for it; see Guest.
func (t TemporalWorkflows) ChangeGuest(ctx context.Context, call GuestCall, in any, wait time.Duration) error {
	run, err := t.startGuestCall(ctx, call, in, false)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if err := run.Get(wctx, nil); err != nil {
		if wctx.Err() != nil {
			return nil
		}
		return guestFailure(call.InstanceID, err)
	}
	return nil
}

// GuestLog publishes or discards a log and waits for it; see Guest.
func (t TemporalWorkflows) GuestLog(ctx context.Context, in workflows.GuestLogInput, wait time.Duration) (guest.LogInfo, error) {
	run, err := t.StartGuestLog(ctx, in, wait)
	if err != nil {
		return guest.LogInfo{}, unavailable("log "+in.Log+" of instance "+in.InstanceID, err)
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var info guest.LogInfo
	if err := run.Get(wctx, &info); err != nil {
		if wctx.Err() != nil {
			return guest.LogInfo{}, &GuestError{InstanceID: in.InstanceID, Kind: GuestTimeout, Message: "no answer in time"}
		}
		return guest.LogInfo{}, guestFailure(in.InstanceID, err)
	}
	return info, nil
}

// guestFailure turns a failed GuestCall workflow into a *GuestError when the guest refused
// or did not answer, or returns err as it is.
func guestFailure(instanceID string, err error) error {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		switch app.Type() {
		case guest.ErrInvalid, guest.ErrNotFound, guest.ErrExists:
			return &GuestError{InstanceID: instanceID, Kind: app.Type(), Message: app.Message()}
		}
	}
	var te *temporal.TimeoutError
	if errors.As(err, &te) {
		msg := "it did not finish in time"
		if te.TimeoutType() == enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START {
			msg = "it did not pick the call up in time"
		}
		return &GuestError{InstanceID: instanceID, Kind: GuestTimeout, Message: msg}
	}
	return err
}
