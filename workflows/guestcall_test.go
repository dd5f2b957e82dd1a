package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/coffer-dbaas/coffer/guest"
)

func guestCallEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(GuestCall)
	return env
}

func TestGuestCallRunsTheActivityOnTheGuestQueueAndReturnsItsResult(t *testing.T) {
	env := guestCallEnv(t)
	var queue string
	var got guest.UserRef
	env.RegisterActivityWithOptions(func(ctx context.Context, in guest.UserRef) (guest.UserInfo, error) {
		queue = activity.GetInfo(ctx).TaskQueue
		got = in
		return guest.UserInfo{Name: in.Name, Host: "%", Databases: []string{"shop"}}, nil
	}, activity.RegisterOptions{Name: guest.GetUserActivity})
	input, _ := json.Marshal(guest.UserRef{Name: "clerk"})
	env.ExecuteWorkflow(GuestCall, GuestCallInput{InstanceID: "i-1", Activity: guest.GetUserActivity, Input: input})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var out json.RawMessage
	if err := env.GetWorkflowResult(&out); err != nil {
		t.Fatal(err)
	}
	var u guest.UserInfo
	if err := json.Unmarshal(out, &u); err != nil || u.Name != "clerk" || len(u.Databases) != 1 {
		t.Fatalf("got result %s (%v), want clerk with shop", out, err)
	}
	if queue != "guestagent.i-1" || got.Name != "clerk" {
		t.Fatalf("got queue %q and input %+v, want guestagent.i-1 and clerk", queue, got)
	}
}

func TestGuestCallWithoutInputAndItsFailureIsNotRetried(t *testing.T) {
	env := guestCallEnv(t)
	calls := 0
	env.RegisterActivityWithOptions(func(context.Context) ([]string, error) {
		calls++
		return nil, temporal.NewNonRetryableApplicationError("database x: not found", guest.ErrNotFound, nil)
	}, activity.RegisterOptions{Name: guest.ListDatabasesActivity})
	env.ExecuteWorkflow(GuestCall, GuestCallInput{InstanceID: "i-1", Activity: guest.ListDatabasesActivity, Attempts: 3})
	var app *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &app) || app.Type() != guest.ErrNotFound {
		t.Fatalf("got %v, want the guest's NotFound", err)
	}
	if calls != 1 {
		t.Fatalf("got %d calls, want 1", calls)
	}
}

func TestGuestCallToAGuestThatNeverAnswersTimesOut(t *testing.T) {
	env := guestCallEnv(t)
	env.RegisterActivityWithOptions(func(ctx context.Context) (bool, error) {
		// The test environment has no schedule-to-start; a guest that hangs past
		// start-to-close stands in for one that never answers.
		<-ctx.Done()
		return false, ctx.Err()
	}, activity.RegisterOptions{Name: guest.RootEnabledActivity})
	env.SetTestTimeout(time.Minute)
	env.ExecuteWorkflow(GuestCall, GuestCallInput{InstanceID: "i-1", Activity: guest.RootEnabledActivity, StartToClose: time.Second})
	var te *temporal.TimeoutError
	if err := env.GetWorkflowError(); !errors.As(err, &te) || te.TimeoutType() != enumspb.TIMEOUT_TYPE_START_TO_CLOSE {
		t.Fatalf("got %v, want a start-to-close timeout", err)
	}
}
