package workflows

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/coffer-dbaas/coffer/activities"
	"github.com/coffer-dbaas/coffer/catalog"
)

// cinderOutage is what CreateVolume answers while the volume service is down.
var cinderOutage = temporal.NewApplicationError("create volume for instance "+instanceID+": cinder answered 500: the cloud is on fire", activities.ErrorTypeCloud)

// parkCreateOnVolume makes CreateVolume fail one round of retries (5 attempts), then
// succeed, and schedules an operator's signal while the step is parked.
func parkCreateOnVolume(h *harness, signal string) (parked *Progress) {
	h.mockCatalog(catalog.Resources{})
	h.env.OnActivity(a.CreateVolume, mock.Anything, mock.Anything).Return("", cinderOutage).Times(5)
	h.mockDeletes()
	h.mockCreate()
	parked = &Progress{}
	h.env.RegisterDelayedCallback(func() {
		*parked = h.progress()
		h.mu.Lock()
		attention := h.attrs[NeedsAttentionAttr.GetName()]
		h.mu.Unlock()
		if attention != "true" {
			h.t.Errorf("search attribute %s while parked: got %v, want true", NeedsAttentionAttr.GetName(), attention)
		}
		h.env.SignalWorkflow(signal, nil)
	}, 10*time.Minute)
	return parked
}

func TestParkedCreateContinuesWhenTheOperatorRetries(t *testing.T) {
	h := newHarness(t)
	parked := parkCreateOnVolume(h, RetrySignal)

	h.env.ExecuteWorkflow(CreateInstance, createInput())

	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("create failed after the retry: %v", err)
	}
	if parked.Parked == nil || parked.Parked.Step != StepCreateVolume || !strings.Contains(parked.Parked.Error, "the cloud is on fire") || parked.Parked.Attempts != 1 {
		t.Errorf("progress while parked: got %+v, want the create volume step parked with cinder's error", parked)
	}
	if d := parked.Parked.Deadline.Sub(parked.Parked.Since); d != DefaultParkTimeout {
		t.Errorf("park deadline: %s after it parked, want %s", d, DefaultParkTimeout)
	}
	if n := h.count("CreateVolume"); n != 6 {
		t.Errorf("CreateVolume attempts: got %d, want 5 before the park and 1 after the retry", n)
	}
	if n := h.count("MarkActive"); n != 1 {
		t.Errorf("MarkActive ran %d times, want once", n)
	}
	if len(h.faults) != 0 {
		t.Errorf("faults: got %+v, want none", h.faults)
	}
	// The fault said why it waited while parked, and was cleared when it went on.
	if len(h.notes) != 2 || !strings.HasPrefix(h.notes[0].Message, "create volume failed: ") || h.notes[1].Message != "" {
		t.Errorf("faults noted: got %+v, want the park's, then a clear", h.notes)
	}
	if got := h.attrs[NeedsAttentionAttr.GetName()]; got != "false" {
		t.Errorf("search attribute %s at the end: got %v, want false", NeedsAttentionAttr.GetName(), got)
	}
	if p := h.progress(); p.Parked != nil || !slices.Contains(p.Done, StepCreateVolume) {
		t.Errorf("progress at the end: got %+v, want nothing parked and the volume made", p)
	}
}

func TestParkedCreateCountsTheStepDoneWhenTheOperatorSkips(t *testing.T) {
	h := newHarness(t)
	parkCreateOnVolume(h, SkipSignal)
	// The operator made the volume by hand: the wait finds it by name.
	h.env.OnActivity(a.WaitVolumeAvailable, mock.Anything, ref("")).Return(nil)
	h.env.OnActivity(a.CreateServer, mock.Anything, mock.Anything).Return("server-1", nil)

	h.env.ExecuteWorkflow(CreateInstance, createInput())

	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("create failed after the skip: %v", err)
	}
	if n := h.count("CreateVolume"); n != 5 {
		t.Errorf("CreateVolume attempts: got %d, want 5 (none after the skip)", n)
	}
	if p := h.progress(); !slices.Contains(p.Done, StepCreateVolume+" (skipped by an operator)") {
		t.Errorf("progress at the end: got %+v, want the volume step marked skipped", p)
	}
}

func TestParkedCreateCleansUpAndEndsInErrorWhenTheOperatorAborts(t *testing.T) {
	h := newHarness(t)
	parkCreateOnVolume(h, AbortSignal)

	h.env.ExecuteWorkflow(CreateInstance, createInput())

	if h.env.GetWorkflowError() == nil {
		t.Fatal("create succeeded, want the abort to fail it")
	}
	h.checkCalls(slices.Concat(
		[]string{"ResolveImage", "CreateSecurityGroup", "RecordResources", "CreatePort", "RecordResources"},
		[]string{"CreateVolume", "CreateVolume", "CreateVolume", "CreateVolume", "CreateVolume", "NoteFault"},
		[]string{"DeletePort", "DeleteSecurityGroup", "DeleteVolume", "RecordFault"},
	))
	f := h.onlyFault()
	if want := "create volume failed: " + "create volume for instance " + instanceID + ": cinder answered 500: the cloud is on fire; aborted by an operator"; f.Message != want {
		t.Errorf("fault message:\n got  %q\n want %q", f.Message, want)
	}
}

func TestASignalSentDuringTheStepsRetriesAnswersItsPark(t *testing.T) {
	h := newHarness(t)
	h.mockCatalog(catalog.Resources{})
	h.env.OnActivity(a.CreateVolume, mock.Anything, mock.Anything).Return("", cinderOutage).Times(5)
	h.mockDeletes()
	h.mockCreate()
	// The operator answers while CreateVolume is still in its retries (they run at 0, 1, 3,
	// 7 and 15 s): the answer must not be lost, it decides the park that follows.
	h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(AbortSignal, nil) }, 2*time.Second)

	h.env.ExecuteWorkflow(CreateInstance, createInput())

	err := h.env.GetWorkflowError()
	if err == nil || !strings.Contains(err.Error(), "aborted by an operator") {
		t.Fatalf("create: got %v, want it aborted by the early signal", err)
	}
	if n := h.count("CreateVolume"); n != 5 {
		t.Errorf("CreateVolume attempts: got %d, want 5 (none after the abort)", n)
	}
	if len(h.notes) != 0 {
		t.Errorf("faults noted: got %+v, want none: the step never waited for an operator", h.notes)
	}
}

func TestASignalSentBeforeTheStepBeganIsDropped(t *testing.T) {
	h := newHarness(t)
	parkCreateOnVolume(h, RetrySignal)
	// An abort sent before the create's first step answered nothing: it must not decide the
	// park of a later step.
	h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(AbortSignal, nil) }, 0)

	h.env.ExecuteWorkflow(CreateInstance, createInput())

	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("create failed: %v (the early abort decided the park)", err)
	}
}

// answer is the outcome of an operator's answer sent as an update.
type answer struct {
	result  string
	refused error
	done    bool
}

// update sends an operator's answer as an update; its outcome arrives in the returned
// answer once the workflow handled it.
func (h *harness) update(name string) *answer {
	a := &answer{}
	h.env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
		OnReject: func(err error) { a.refused, a.done = err, true },
		OnAccept: func() {},
		OnComplete: func(v any, err error) {
			a.result, _ = v.(string)
			a.refused, a.done = err, true
		},
	})
	return a
}

func TestAnUpdateIsRefusedUnlessTheStepIsParked(t *testing.T) {
	h := newHarness(t)
	h.mockCatalog(catalog.Resources{})
	h.env.OnActivity(a.CreateVolume, mock.Anything, mock.Anything).Return("", cinderOutage).Times(5)
	h.mockDeletes()
	h.mockCreate()
	var early, parked *answer
	h.env.RegisterDelayedCallback(func() { early = h.update(RetrySignal) }, 2*time.Second)
	h.env.RegisterDelayedCallback(func() { parked = h.update(RetrySignal) }, 10*time.Minute)

	h.env.ExecuteWorkflow(CreateInstance, createInput())

	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("create failed after the retry: %v", err)
	}
	if !early.done || early.refused == nil || !strings.Contains(early.refused.Error(), notParkedMessage) {
		t.Errorf("retry update during the step's retries: got %+v, want it refused with %q", early, notParkedMessage)
	}
	if !parked.done || parked.refused != nil || !strings.Contains(parked.result, StepCreateVolume) {
		t.Errorf("retry update while parked: got %+v, want it accepted for the %s step", parked, StepCreateVolume)
	}
	if n := h.count("CreateVolume"); n != 6 {
		t.Errorf("CreateVolume attempts: got %d, want 5 before the park and 1 after the retry", n)
	}
}

func TestCancelWhileParkedCleansUpAndEndsCanceled(t *testing.T) {
	h := newHarness(t)
	h.mockCatalog(catalog.Resources{})
	h.env.OnActivity(a.CreateVolume, mock.Anything, mock.Anything).Return("", cinderOutage).Times(5)
	h.mockDeletes()
	h.mockCreate()
	h.env.RegisterDelayedCallback(h.env.CancelWorkflow, 10*time.Minute)

	h.env.ExecuteWorkflow(CreateInstance, createInput())

	err := h.env.GetWorkflowError()
	var canceled *temporal.CanceledError
	if !errors.As(err, &canceled) {
		t.Fatalf("create: got %v, want it canceled", err)
	}
	if strings.Contains(err.Error(), "no operator answered") {
		t.Errorf("create: got %v, want a cancellation, not the park's timeout", err)
	}
	if n := h.count("DeleteVolume") + h.count("DeletePort") + h.count("DeleteSecurityGroup"); n != 3 {
		t.Errorf("compensations: got %q, want the volume, port and security group deleted", h.calls())
	}
	if f := h.onlyFault(); !strings.Contains(f.Message, "canceled by an operator") {
		t.Errorf("fault: got %q, want it to say an operator canceled the create", f.Message)
	}
	if got := h.attrs[NeedsAttentionAttr.GetName()]; got != "false" {
		t.Errorf("search attribute %s at the end: got %v, want false", NeedsAttentionAttr.GetName(), got)
	}
}

func TestCancelOfAParkedResizeVolumeGivesTheTaskBack(t *testing.T) {
	h := newHarness(t)
	h.mockCatalog(recorded)
	h.notReplicated()
	h.env.OnActivity(a.ExtendVolume, mock.Anything, mock.Anything).Return(cinderOutage)
	h.env.RegisterDelayedCallback(h.env.CancelWorkflow, 10*time.Minute)

	h.env.ExecuteWorkflow(ResizeVolume, ResizeVolumeInput{InstanceID: instanceID, ProjectID: "demo-project", NewSize: 3})

	var canceled *temporal.CanceledError
	if err := h.env.GetWorkflowError(); !errors.As(err, &canceled) {
		t.Fatalf("resize volume: got %v, want it canceled", err)
	}
	if len(h.faults) != 0 {
		t.Errorf("faults recorded (task ERROR): got %+v, want none", h.faults)
	}
	if len(h.finished) != 1 || h.finished[0].VolumeSize != 0 || !strings.Contains(h.finished[0].FaultMessage, "canceled by an operator") {
		t.Errorf("task ends: got %+v, want task NONE, the old size and the cancellation as the fault", h.finished)
	}
}

func TestParkableErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"cloud error", temporal.NewApplicationError("nova answered 500", activities.ErrorTypeCloud), true},
		{"timeout", temporal.NewTimeoutError(0, nil), true},
		{"quota", temporal.NewNonRetryableApplicationError("over quota", activities.ErrorTypeQuotaExceeded, nil), false},
		{"not found", temporal.NewNonRetryableApplicationError("gone", activities.ErrorTypeCloudNotFound, nil), false},
		{"canceled", temporal.NewCanceledError(), false},
		{"explained cloud error", because(temporal.NewApplicationError("x", activities.ErrorTypeCloud), "why"), true},
	} {
		if got := parkable(&stepError{step: "s", err: tt.err}); got != tt.want {
			t.Errorf("parkable(%s): got %v, want %v", tt.name, got, tt.want)
		}
	}
}
