package guest_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/coffer-dbaas/coffer/guest"
)

func TestActivitiesListEveryStandInOnceSorted(t *testing.T) {
	names := guest.Activities()
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("Activities() = %q, want sorted names, each once", names)
	}
	standIns := guest.StandIns(nil)
	if len(standIns) != len(names) {
		t.Errorf("StandIns has %d activities, Activities() %d", len(standIns), len(names))
	}
	for _, name := range names {
		fn, ok := standIns[name]
		if !ok {
			t.Errorf("no stand-in for %s", name)
			continue
		}
		if got, want := reflect.TypeOf(fn), guest.Signature(name); got != want {
			t.Errorf("stand-in of %s: got %v, want %v", name, got, want)
		}
		if !guest.Serves(name) {
			t.Errorf("Serves(%q) = false", name)
		}
	}
	if guest.Serves("RunShell") || guest.Signature("RunShell") != nil {
		t.Errorf("the contract serves RunShell, which it does not list")
	}
}

// env runs workflows that call a guest whose activities are the contract's stand-ins.
func env(t *testing.T) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	e := s.NewTestWorkflowEnvironment()
	for name, fn := range guest.StandIns(errors.New("not mocked")) {
		e.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
	return e
}

func TestClientRunsOnTheGuestQueueWithItsOptions(t *testing.T) {
	e := env(t)
	var got *activity.Info
	e.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		got = info
	})
	want := guest.VolumeUsage{SizeGB: 3, UsedGB: 0.5}
	e.OnActivity(guest.GrowFilesystemActivity, mock.Anything, guest.GrowFilesystemInput{SizeGB: 3}).Return(want, nil)
	e.ExecuteWorkflow(func(ctx workflow.Context) (guest.VolumeUsage, error) {
		return guest.For("i-1").With(guest.Change().FinishWithin(time.Minute)).GrowFilesystem(ctx, guest.GrowFilesystemInput{SizeGB: 3})
	})
	var u guest.VolumeUsage
	if err := e.GetWorkflowResult(&u); err != nil || u != want {
		t.Fatalf("GrowFilesystem: got %+v, %v; want %+v", u, err, want)
	}
	if got == nil || got.TaskQueue != "guestagent.i-1" || got.ActivityType.Name != "GrowFilesystem" {
		t.Fatalf("activity started: %+v, want GrowFilesystem on guestagent.i-1", got)
	}
}

func TestClientSaysWhatATimeoutMeans(t *testing.T) {
	for _, c := range []struct {
		name    string
		opts    guest.Options
		timeout enumspb.TimeoutType
		want    string
	}{
		{"a booting guest never polls", guest.Boot(2*time.Minute, 10*time.Minute), enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START,
			"the guest agent did not start polling guestagent.i-1 within 2m0s"},
		{"a running guest does not pick up", guest.Change(), enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START,
			"the guest agent did not pick up Prepare from guestagent.i-1 within 1m0s"},
		{"an attempt runs too long", guest.Boot(time.Minute, 10*time.Minute), enumspb.TIMEOUT_TYPE_START_TO_CLOSE,
			"the guest agent of instance i-1 did not finish Prepare within 10m0s"},
		{"a long job goes silent", guest.LongJob(time.Hour, 30*time.Second), enumspb.TIMEOUT_TYPE_HEARTBEAT,
			"the guest agent of instance i-1 stopped reporting during Prepare for 30s (killed or cut off)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := env(t)
			e.OnActivity(guest.PrepareActivity, mock.Anything, mock.Anything).Return(temporal.NewTimeoutError(c.timeout, nil))
			var got string
			e.ExecuteWorkflow(func(ctx workflow.Context) error {
				err := guest.For("i-1").With(c.opts).Prepare(ctx, guest.PrepareInput{})
				var te *guest.TimeoutError
				if errors.As(err, &te) {
					got = te.Reason()
				}
				var tte *temporal.TimeoutError
				if !errors.As(err, &tte) || tte.TimeoutType() != c.timeout {
					t.Errorf("the error %v does not wrap Temporal's %v", err, c.timeout)
				}
				return nil
			})
			if got != c.want {
				t.Errorf("reason:\n got  %q\n want %q", got, c.want)
			}
		})
	}
}

func TestClientLeavesTheGuestsErrorsAsTheyAre(t *testing.T) {
	e := env(t)
	e.OnActivity(guest.StartEngineActivity, mock.Anything).Return(
		temporal.NewNonRetryableApplicationError("shared_buffers too large", guest.ErrInvalid, nil))
	e.ExecuteWorkflow(func(ctx workflow.Context) error { return guest.For("i-1").StartEngine(ctx) })
	var app *temporal.ApplicationError
	if err := e.GetWorkflowError(); !errors.As(err, &app) || app.Type() != guest.ErrInvalid {
		t.Fatalf("got %v, want the guest's %s", err, guest.ErrInvalid)
	}
}

func TestCallRefusesANameOutsideTheContract(t *testing.T) {
	e := env(t)
	e.ExecuteWorkflow(func(ctx workflow.Context) (json.RawMessage, error) {
		return guest.For("i-1").With(guest.Quick()).Call(ctx, "RunShell", json.RawMessage(`{"cmd":"id"}`))
	})
	var app *temporal.ApplicationError
	if err := e.GetWorkflowError(); !errors.As(err, &app) || app.Type() != guest.ErrInvalid || !app.NonRetryable() {
		t.Fatalf("got %v, want a non-retryable %s", err, guest.ErrInvalid)
	}
}

func TestCallRunsAContractActivityWithItsJSON(t *testing.T) {
	e := env(t)
	e.OnActivity(guest.GetUserActivity, mock.Anything, guest.UserRef{Name: "clerk"}).
		Return(guest.UserInfo{Name: "clerk", Host: "%", Databases: []string{"shop"}}, nil)
	e.ExecuteWorkflow(func(ctx workflow.Context) (json.RawMessage, error) {
		return guest.For("i-1").With(guest.Quick()).Call(ctx, guest.GetUserActivity, json.RawMessage(`{"name":"clerk"}`))
	})
	var raw json.RawMessage
	if err := e.GetWorkflowResult(&raw); err != nil {
		t.Fatal(err)
	}
	var u guest.UserInfo
	if err := json.Unmarshal(raw, &u); err != nil || u.Name != "clerk" || !slices.Equal(u.Databases, []string{"shop"}) {
		t.Fatalf("GetUser: got %s (%v), want clerk with shop", raw, err)
	}
}
