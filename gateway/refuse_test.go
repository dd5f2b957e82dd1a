package gateway_test

import (
	"context"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/coffer-dbaas/coffer/codec"
	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestauth"
)

// raw is a WorkflowService client on the gateway and a context that carries authorization
// (none when it is empty), as a hostile guest would call.
func (s *stack) raw(t *testing.T, authorization string) (workflowservice.WorkflowServiceClient, context.Context) {
	t.Helper()
	ctx := t.Context()
	if authorization != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", authorization)
	}
	return workflowservice.NewWorkflowServiceClient(s.conn(t)), ctx
}

func bearer(g enrolled) string { return "Bearer " + guestauth.APIKey(g.instanceID, g.credential) }

func wantCode(t *testing.T, what string, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Errorf("%s: got %v (%v), want %v", what, got, err, want)
	}
}

func TestGuestIsRefusedAllButItsOwnQueue(t *testing.T) {
	s := newStack(t)
	a, b := s.enroll(t), s.enroll(t)
	ws, ctx := s.raw(t, bearer(a))
	ns := s.namespace
	queue := func(name string) *taskqueuepb.TaskQueue {
		return &taskqueuepb.TaskQueue{Name: name, Kind: enumspb.TASK_QUEUE_KIND_NORMAL}
	}
	execution := &commonpb.WorkflowExecution{WorkflowId: "instance/" + b.instanceID + "/create"}
	calls := map[string]func() error{
		"poll another instance's queue": func() error {
			_, err := ws.PollActivityTaskQueue(ctx, &workflowservice.PollActivityTaskQueueRequest{Namespace: ns, TaskQueue: queue(guest.TaskQueue(b.instanceID))})
			return err
		},
		"poll the control plane's activities": func() error {
			_, err := ws.PollActivityTaskQueue(ctx, &workflowservice.PollActivityTaskQueueRequest{Namespace: ns, TaskQueue: queue(controlQueue)})
			return err
		},
		"poll the control plane's workflows": func() error {
			_, err := ws.PollWorkflowTaskQueue(ctx, &workflowservice.PollWorkflowTaskQueueRequest{Namespace: ns, TaskQueue: queue(controlQueue)})
			return err
		},
		"poll its own queue's workflow tasks": func() error {
			_, err := ws.PollWorkflowTaskQueue(ctx, &workflowservice.PollWorkflowTaskQueueRequest{Namespace: ns, TaskQueue: queue(guest.TaskQueue(a.instanceID))})
			return err
		},
		"poll its own queue in another namespace": func() error {
			_, err := ws.PollActivityTaskQueue(ctx, &workflowservice.PollActivityTaskQueueRequest{Namespace: "default", TaskQueue: queue(guest.TaskQueue(a.instanceID))})
			return err
		},
		"start a workflow": func() error {
			_, err := ws.StartWorkflowExecution(ctx, &workflowservice.StartWorkflowExecutionRequest{Namespace: ns, WorkflowId: "evil",
				WorkflowType: &commonpb.WorkflowType{Name: "callGuest"}, TaskQueue: queue(controlQueue)})
			return err
		},
		"signal a workflow": func() error {
			_, err := ws.SignalWorkflowExecution(ctx, &workflowservice.SignalWorkflowExecutionRequest{Namespace: ns, WorkflowExecution: execution, SignalName: "abort"})
			return err
		},
		"terminate a workflow": func() error {
			_, err := ws.TerminateWorkflowExecution(ctx, &workflowservice.TerminateWorkflowExecutionRequest{Namespace: ns, WorkflowExecution: execution})
			return err
		},
		"list workflows": func() error {
			_, err := ws.ListWorkflowExecutions(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: ns})
			return err
		},
		"describe a workflow": func() error {
			_, err := ws.DescribeWorkflowExecution(ctx, &workflowservice.DescribeWorkflowExecutionRequest{Namespace: ns, Execution: execution})
			return err
		},
		"read a workflow's history": func() error {
			_, err := ws.GetWorkflowExecutionHistory(ctx, &workflowservice.GetWorkflowExecutionHistoryRequest{Namespace: ns, Execution: execution})
			return err
		},
		"query a workflow": func() error {
			_, err := ws.QueryWorkflow(ctx, &workflowservice.QueryWorkflowRequest{Namespace: ns, Execution: execution})
			return err
		},
		"list namespaces": func() error {
			_, err := ws.ListNamespaces(ctx, &workflowservice.ListNamespacesRequest{})
			return err
		},
		"describe another namespace": func() error {
			_, err := ws.DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"})
			return err
		},
		"answer an activity by workflow ID": func() error {
			_, err := ws.RespondActivityTaskCompletedById(ctx, &workflowservice.RespondActivityTaskCompletedByIdRequest{Namespace: ns, WorkflowId: execution.WorkflowId, ActivityId: "1"})
			return err
		},
		"heartbeat an activity by workflow ID": func() error {
			_, err := ws.RecordActivityTaskHeartbeatById(ctx, &workflowservice.RecordActivityTaskHeartbeatByIdRequest{Namespace: ns, WorkflowId: execution.WorkflowId, ActivityId: "1"})
			return err
		},
		"answer with a forged task token": func() error {
			_, err := ws.RespondActivityTaskCompleted(ctx, &workflowservice.RespondActivityTaskCompletedRequest{Namespace: ns, TaskToken: []byte("ct1-forged-token-of-some-length")})
			return err
		},
		"fail with a forged task token": func() error {
			_, err := ws.RespondActivityTaskFailed(ctx, &workflowservice.RespondActivityTaskFailedRequest{Namespace: ns, TaskToken: []byte("forged")})
			return err
		},
		"stop another queue's pollers": func() error {
			_, err := ws.ShutdownWorker(ctx, &workflowservice.ShutdownWorkerRequest{Namespace: ns, TaskQueue: controlQueue})
			return err
		},
	}
	for what, call := range calls {
		wantCode(t, what, call(), codes.PermissionDenied)
	}

	// What its SDK worker needs still works.
	if _, err := ws.GetSystemInfo(ctx, &workflowservice.GetSystemInfoRequest{}); err != nil {
		t.Errorf("GetSystemInfo: %v", err)
	}
	if _, err := ws.DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: ns}); err != nil {
		t.Errorf("DescribeNamespace of its own namespace: %v", err)
	}
}

func TestCallsWithoutAValidCredentialAreUnauthenticated(t *testing.T) {
	s := newStack(t)
	a, b := s.enroll(t), s.enroll(t)
	revoked := s.enroll(t)
	if err := s.catalog.RevokeGuestIdentity(t.Context(), revoked.instanceID); err != nil {
		t.Fatal(err)
	}
	unenrolled, _ := s.newInstance(t)
	for what, authorization := range map[string]string{
		"no credential":                        "",
		"not a bearer token":                   "Basic " + guestauth.APIKey(a.instanceID, a.credential),
		"no instance ID":                       "Bearer " + a.credential,
		"a wrong credential":                   "Bearer " + guestauth.APIKey(a.instanceID, guestauth.NewCredential()),
		"another instance's credential":        "Bearer " + guestauth.APIKey(b.instanceID, a.credential),
		"a revoked credential":                 bearer(revoked),
		"an instance that never enrolled":      "Bearer " + guestauth.APIKey(unenrolled, a.credential),
		"an instance the catalog doesn't know": "Bearer " + guestauth.APIKey("00000000-0000-4000-8000-000000000000", a.credential),
	} {
		ws, ctx := s.raw(t, authorization)
		_, err := ws.GetSystemInfo(ctx, &workflowservice.GetSystemInfoRequest{})
		wantCode(t, what, err, codes.Unauthenticated)
		_, err = ws.PollActivityTaskQueue(ctx, &workflowservice.PollActivityTaskQueueRequest{Namespace: s.namespace,
			TaskQueue: &taskqueuepb.TaskQueue{Name: guest.TaskQueue(a.instanceID)}})
		wantCode(t, what+", poll", err, codes.Unauthenticated)
	}

	// The health service answers anyone: the SDK checks it when it dials.
	health, err := healthpb.NewHealthClient(s.conn(t)).Check(t.Context(),
		&healthpb.HealthCheckRequest{Service: workflowservice.WorkflowService_ServiceDesc.ServiceName})
	if err != nil || health.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health: got %v, %v; want SERVING", health.GetStatus(), err)
	}
}

// TestTaskTokensAndPayloadsAreTheInstancesOwn plays a guest by hand: it polls its queue,
// and answers its task with another instance's credential, with unencrypted and wrongly
// keyed results, and at last rightly.
func TestTaskTokensAndPayloadsAreTheInstancesOwn(t *testing.T) {
	s := newStack(t)
	a, b := s.enroll(t), s.enroll(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	run, err := s.control.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: controlQueue}, "callGuest", b.instanceID, "Echo", "for b only")
	if err != nil {
		t.Fatal(err)
	}

	wsB, ctxB := s.raw(t, bearer(b))
	pollCtx, cancelPoll := context.WithTimeout(ctxB, 50*time.Second) // Temporal wants a deadline on a poll
	defer cancelPoll()
	task, err := wsB.PollActivityTaskQueue(pollCtx, &workflowservice.PollActivityTaskQueueRequest{Namespace: s.namespace,
		TaskQueue: &taskqueuepb.TaskQueue{Name: guest.TaskQueue(b.instanceID), Kind: enumspb.TASK_QUEUE_KIND_NORMAL}, Identity: "b"})
	if err != nil || len(task.GetTaskToken()) == 0 {
		t.Fatalf("b polls its queue: got %v, %v; want a task", task, err)
	}
	// b receives its input encrypted with its own key, which no other key opens.
	bDC, aDC, masterDC := dataConverter(t, b.key), dataConverter(t, a.key), dataConverter(t, s.master)
	var input string
	if err := bDC.FromPayloads(task.GetInput(), &input); err != nil || input != "for b only" {
		t.Fatalf("b decodes its input: got %q, %v", input, err)
	}
	if err := aDC.FromPayloads(task.GetInput(), &input); err == nil {
		t.Error("a's key decodes b's input")
	}
	if err := masterDC.FromPayloads(task.GetInput(), &input); err == nil {
		t.Error("the master key decodes what b received: the gateway did not re-key it")
	}

	payloads := func(dc converter.DataConverter, v string) *commonpb.Payloads {
		p, err := dc.ToPayloads(v)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	plain := payloads(converter.GetDefaultDataConverter(), "forged")
	respond := func(ws workflowservice.WorkflowServiceClient, ctx context.Context, result *commonpb.Payloads) error {
		_, err := ws.RespondActivityTaskCompleted(ctx, &workflowservice.RespondActivityTaskCompletedRequest{
			Namespace: s.namespace, TaskToken: task.GetTaskToken(), Result: result, Identity: "test"})
		return err
	}
	wsA, ctxA := s.raw(t, bearer(a))
	wantCode(t, "a answers b's task", respond(wsA, ctxA, payloads(aDC, "forged")), codes.PermissionDenied)
	wantCode(t, "a heartbeats b's task", func() error {
		_, err := wsA.RecordActivityTaskHeartbeat(ctxA, &workflowservice.RecordActivityTaskHeartbeatRequest{Namespace: s.namespace, TaskToken: task.GetTaskToken()})
		return err
	}(), codes.PermissionDenied)
	wantCode(t, "b answers with an unencrypted result", respond(wsB, ctxB, plain), codes.PermissionDenied)
	wantCode(t, "b answers with a result in a's key", respond(wsB, ctxB, payloads(aDC, "forged")), codes.PermissionDenied)
	wantCode(t, "b answers with a result in the master key", respond(wsB, ctxB, payloads(masterDC, "forged")), codes.PermissionDenied)
	unsealed := proto.Clone(task).(*workflowservice.PollActivityTaskQueueResponse)
	unsealed.TaskToken = unsealed.TaskToken[3:]
	_, err = wsB.RespondActivityTaskCompleted(ctxB, &workflowservice.RespondActivityTaskCompletedRequest{
		Namespace: s.namespace, TaskToken: unsealed.TaskToken, Result: payloads(bDC, "forged")})
	wantCode(t, "b answers with a tampered token", err, codes.PermissionDenied)

	if err := respond(wsB, ctxB, payloads(bDC, "done by b")); err != nil {
		t.Fatalf("b answers its task rightly: %v", err)
	}
	var out string
	if err := run.Get(ctx, &out); err != nil || out != "done by b" {
		t.Fatalf("workflow result: got %q, %v; want %q", out, err, "done by b")
	}
	// Temporal holds the result in the master key, not in b's.
	history := s.control.GetWorkflowHistory(ctx, run.GetID(), run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var completed *historypb.ActivityTaskCompletedEventAttributes
	for history.HasNext() {
		event, err := history.Next()
		if err != nil {
			t.Fatal(err)
		}
		if attrs := event.GetActivityTaskCompletedEventAttributes(); attrs != nil {
			completed = attrs
		}
	}
	if completed == nil {
		t.Fatal("no ActivityTaskCompleted in the history")
	}
	if err := masterDC.FromPayloads(completed.GetResult(), &out); err != nil || out != "done by b" {
		t.Errorf("the history's result in the master key: got %q, %v", out, err)
	}
	if err := bDC.FromPayloads(completed.GetResult(), &out); err == nil {
		t.Error("b's key decodes the result Temporal holds")
	}
}

func dataConverter(t *testing.T, key []byte) converter.DataConverter {
	t.Helper()
	dc, err := codec.DataConverter(key)
	if err != nil {
		t.Fatal(err)
	}
	return dc
}
