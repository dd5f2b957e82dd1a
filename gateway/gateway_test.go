package gateway_test

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.temporal.io/server/temporaltest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/codec"
	"github.com/coffer-dbaas/coffer/gateway"
	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestauth"
)

// stack is a Temporal server, the catalog, a control-plane worker with the master key on
// controlQueue, and a gateway in front of Temporal for guests.
type stack struct {
	master    []byte
	temporal  *temporaltest.TestServer
	control   client.Client // with the master key, as the api and the worker dial
	catalog   *catalog.Store
	namespace string
	addr      string // the gateway's
}

const controlQueue = "coffer-control"

// callGuest is the control plane's side: one activity on the instance's queue, one attempt.
func callGuest(ctx workflow.Context, instanceID, activity, in string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           guest.TaskQueue(instanceID),
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	var out string
	err := workflow.ExecuteActivity(ctx, activity, in).Get(ctx, &out)
	return out, err
}

// testLogger sends the gateway's log to the test's.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func newStack(t *testing.T) *stack {
	t.Helper()
	s := &stack{master: make([]byte, 32)}
	rand.Read(s.master)
	s.temporal = temporaltest.NewServer(temporaltest.WithT(t))
	s.namespace = s.temporal.GetDefaultNamespace()
	dc, err := codec.DataConverter(s.master)
	if err != nil {
		t.Fatal(err)
	}
	s.control, err = client.Dial(client.Options{HostPort: s.temporal.GetFrontendHostPort(), Namespace: s.namespace,
		DataConverter: dc, FailureConverter: codec.FailureConverter(dc)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.control.Close)
	w := worker.New(s.control, controlQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(callGuest, workflow.RegisterOptions{Name: "callGuest"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	s.catalog = newCatalog(t)

	dialOpts, err := gateway.DialOptions(s.master)
	if err != nil {
		t.Fatal(err)
	}
	upstream, err := client.Dial(client.Options{HostPort: s.temporal.GetFrontendHostPort(), Namespace: s.namespace,
		DataConverter: dc, ConnectionOptions: client.ConnectionOptions{DialOptions: dialOpts}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(upstream.Close)
	g, err := gateway.New(gateway.Options{Temporal: upstream.WorkflowService(), Catalog: s.catalog, MasterKey: s.master,
		Namespace: s.namespace, Log: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = lis.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway: %v", err)
		}
	})
	return s
}

// conn is a plain gRPC connection to the gateway, as a guest (or an attacker) makes.
func (s *stack) conn(t *testing.T) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(s.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// enrolled is a guest that enrolled: its instance, credential and instance key.
type enrolled struct {
	instanceID, credential string
	key                    []byte
}

// newInstance gives a new instance a guest identity and returns its bootstrap secret.
func (s *stack) newInstance(t *testing.T) (instanceID, bootstrap string) {
	t.Helper()
	instanceID = uuid.NewString()
	gen, err := s.catalog.EnsureGuestIdentity(t.Context(), instanceID)
	if err != nil {
		t.Fatal(err)
	}
	bootstrap, err = guestauth.Bootstrap(s.master, instanceID, gen)
	if err != nil {
		t.Fatal(err)
	}
	return instanceID, bootstrap
}

func (s *stack) enroll(t *testing.T) enrolled {
	t.Helper()
	id, bootstrap := s.newInstance(t)
	resp, err := guestauth.Enroll(t.Context(), s.conn(t), guestauth.EnrollRequest{InstanceID: id, Bootstrap: bootstrap})
	if err != nil {
		t.Fatalf("enroll: %v", err)
	}
	return enrolled{instanceID: id, credential: resp.Credential, key: resp.Key}
}

// guestClient is the SDK client a guest agent makes: its credential as API key, its
// instance key in the codec, plain gRPC to the gateway.
func (s *stack) guestClient(t *testing.T, g enrolled) client.Client {
	t.Helper()
	dc, err := codec.DataConverter(g.key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(client.Options{
		HostPort: s.addr, Namespace: s.namespace, DataConverter: dc, FailureConverter: codec.FailureConverter(dc),
		Credentials:       client.NewAPIKeyStaticCredentials(guestauth.APIKey(g.instanceID, g.credential)),
		ConnectionOptions: client.ConnectionOptions{TLSDisabled: true},
	})
	if err != nil {
		t.Fatalf("guest dials the gateway: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// startGuestWorker runs an activity worker for g with Echo and Fail.
func (s *stack) startGuestWorker(t *testing.T, g enrolled) {
	t.Helper()
	w := worker.New(s.guestClient(t, g), guest.TaskQueue(g.instanceID), worker.Options{DisableWorkflowWorker: true})
	w.RegisterActivityWithOptions(func(_ context.Context, in string) (string, error) { return "echo: " + in, nil },
		activityName("Echo"))
	w.RegisterActivityWithOptions(func(_ context.Context, in string) (string, error) {
		return "", temporal.NewNonRetryableApplicationError("boom: "+in, "Boom", nil, "detail of "+in)
	}, activityName("Fail"))
	if err := w.Start(); err != nil {
		t.Fatalf("guest worker: %v", err)
	}
	t.Cleanup(w.Stop)
}

func (s *stack) callGuest(t *testing.T, instanceID, activity, in string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	run, err := s.control.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: controlQueue}, "callGuest", instanceID, activity, in)
	if err != nil {
		t.Fatal(err)
	}
	var out string
	err = run.Get(ctx, &out)
	return out, err
}

func TestGuestWorkerRunsItsActivitiesThroughTheGateway(t *testing.T) {
	s := newStack(t)
	g := s.enroll(t)
	s.startGuestWorker(t, g)

	out, err := s.callGuest(t, g.instanceID, "Echo", "secret")
	if err != nil || out != "echo: secret" {
		t.Fatalf("Echo through the gateway: got %q, %v; want %q", out, err, "echo: secret")
	}

	_, err = s.callGuest(t, g.instanceID, "Fail", "x")
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		t.Fatalf("Fail through the gateway: got %v, want an application error", err)
	}
	var detail string
	if appErr.Type() != "Boom" || !strings.Contains(appErr.Error(), "boom: x") || appErr.Details(&detail) != nil || detail != "detail of x" {
		t.Fatalf("Fail through the gateway: got type %q, message %q, detail %q; want Boom, boom: x, detail of x", appErr.Type(), appErr.Error(), detail)
	}
}

func activityName(name string) activity.RegisterOptions { return activity.RegisterOptions{Name: name} }
