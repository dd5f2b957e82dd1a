package api_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/coffer-dbaas/coffer"
)

// TestUpdateTakesPUTAndPATCHWithTrovesOneChangeRule checks the shapes python-troveclient
// sends (PATCH for update --name, detach-replica and upgrade; PUT for the rest) and Trove's
// rule: a name and at most one other change per call.
func TestUpdateTakesPUTAndPATCHWithTrovesOneChangeRule(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	primary := h.addInstance(demo.projectID, "orders", coffer.TaskNone)
	replica := h.addInstance(demo.projectID, "orders-replica", coffer.TaskNone)
	if err := h.catalog.SetReplicaOf(context.Background(), replica, primary); err != nil {
		t.Fatal(err)
	}
	path := func(id string) string { return "/v1.0/" + demo.projectID + "/instances/" + id }

	for _, method := range []string{http.MethodPut, http.MethodPatch} {
		if r := h.do(method, path(primary), demo.token, `{"instance": {"name": "orders-`+method+`"}}`); r.status != http.StatusAccepted {
			t.Fatalf("%s name: got %d %s, want 202", method, r.status, r.body)
		}
		if got := h.show(demo, primary).Instance.Name; got != "orders-"+method {
			t.Errorf("name after %s: got %q, want %q", method, got, "orders-"+method)
		}
	}
	for _, c := range []struct{ name, body string }{
		{"nothing", `{"instance": {}}`},
		{"a blank name", `{"instance": {"name": "  "}}`},
		{"replica_of and slave_of", `{"instance": {"replica_of": "", "slave_of": ""}}`},
	} {
		wantFault(t, "PATCH with "+c.name, h.do(http.MethodPatch, path(replica), demo.token, c.body), 400, "badRequest")
	}
	if got := h.show(demo, replica).Instance.Status; got != "ACTIVE" {
		t.Fatalf("replica after refused updates: got status %s, want ACTIVE", got)
	}

	// A name with one change: both done.
	if r := h.do(http.MethodPatch, path(replica), demo.token, `{"instance": {"name": "standalone", "replica_of": ""}}`); r.status != http.StatusAccepted {
		t.Fatalf("rename and detach: got %d %s, want 202", r.status, r.body)
	}
	shown := h.show(demo, replica).Instance
	if shown.Status != "DETACH" || shown.Name != "standalone" {
		t.Errorf("after rename and detach: got status %s name %q, want DETACH standalone", shown.Status, shown.Name)
	}
	// A change refused leaves the name as it was.
	wantFault(t, "rename and detach a primary", h.do(http.MethodPut, path(primary), demo.token, `{"instance": {"name": "x", "replica_of": null}}`), 400, "badRequest")
	if got := h.show(demo, primary).Instance.Name; got != "orders-PATCH" {
		t.Errorf("name after a refused detach: got %q, want orders-PATCH", got)
	}
}
