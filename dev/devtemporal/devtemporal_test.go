package devtemporal_test

import (
	"context"
	"net/http"
	"testing"

	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/coffer-dbaas/coffer/dev/devtemporal"
	"github.com/coffer-dbaas/coffer/dev/freeport"
)

func freePort(t *testing.T) int {
	t.Helper()
	p, err := freeport.Port("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func hello(ctx workflow.Context, name string) (string, error) { return "hello " + name, nil }

func TestServerRunsWorkflowsKeepsThemAcrossRestartAndServesTheUI(t *testing.T) {
	opts := devtemporal.Options{
		DataDir: t.TempDir(), FrontendPort: freePort(t), UIPort: freePort(t),
		SearchAttributes: []string{"CofferInstanceID"},
	}
	srv, err := devtemporal.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, err := client.Dial(client.Options{HostPort: srv.FrontendHostPort()})
	if err != nil {
		t.Fatal(err)
	}
	w := worker.New(c, "tq", worker.Options{})
	w.RegisterWorkflow(hello)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "hello-1", TaskQueue: "tq"}, hello, "coffer")
	if err != nil {
		t.Fatal(err)
	}
	var got string
	if err := run.Get(ctx, &got); err != nil || got != "hello coffer" {
		t.Fatalf("got %q (err %v), want hello coffer", got, err)
	}
	sa, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "default"})
	if err != nil || sa.CustomAttributes["CofferInstanceID"] == 0 {
		t.Fatalf("got custom search attributes %v (err %v), want CofferInstanceID", sa.GetCustomAttributes(), err)
	}
	resp, err := http.Get(srv.UIURL() + "/")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("web UI: got %v (err %v), want 200", resp, err)
	}
	resp.Body.Close()
	w.Stop()
	c.Close()
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}

	opts.UIPort = 0
	srv, err = devtemporal.Start(opts)
	if err != nil {
		t.Fatalf("start again: %v", err)
	}
	defer srv.Stop()
	c, err = client.Dial(client.Options{HostPort: srv.FrontendHostPort()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	desc, err := c.DescribeWorkflowExecution(ctx, "hello-1", "")
	if err != nil {
		t.Fatalf("the workflow is gone after a restart: %v", err)
	}
	if s := desc.GetWorkflowExecutionInfo().GetStatus().String(); s != "Completed" {
		t.Fatalf("got status %s, want Completed", s)
	}
}
