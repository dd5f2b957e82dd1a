package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/workflows"
)

func (h *harness) action(u user, id string, body string) response {
	h.t.Helper()
	return h.do(http.MethodPost, "/v1.0/"+u.projectID+"/instances/"+id+"/action", u.token, body)
}

func TestRestartStartsTheWorkflowAndRefusesASecondAction(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	id := h.addInstance(demo.projectID, "orders", coffer.TaskNone)

	if r := h.action(demo, id, `{"restart": {}}`); r.status != http.StatusAccepted {
		t.Fatalf("restart: got %d %s, want 202", r.status, r.body)
	}
	if got := h.instances()[0]; got.Task != coffer.TaskRebooting || got.Status() != "REBOOT" {
		t.Errorf("after restart: task %s status %s, want REBOOTING, REBOOT", got.Task, got.Status())
	}
	if rs := h.workflows.ops().restarts; len(rs) != 1 || rs[0].InstanceID != id || rs[0].Reboot || rs[0].Timeouts.Park != h.cfg.Operations.ParkTimeout {
		t.Errorf("restart workflows: got %+v", rs)
	}
	r := h.action(demo, id, `{"resize": {"volume": {"size": 4}}}`)
	wantFault(t, "a resize during the restart", r, http.StatusUnprocessableEntity, "unprocessableEntity")
}

func TestResizeChecksItsInput(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	id := h.addInstance(demo.projectID, "orders", coffer.TaskNone)
	for _, tt := range []struct{ name, body string }{
		{"no action", `{}`},
		{"two actions", `{"restart": {}, "resize": {"volume": {"size": 4}}}`},
		{"smaller volume", `{"resize": {"volume": {"size": 1}}}`},
		{"volume over the limit", `{"resize": {"volume": {"size": 51}}}`},
		{"same flavor", `{"resize": {"flavorRef": "ds1G"}}`},
		{"unknown flavor", `{"resize": {"flavorRef": "ds3T"}}`},
		{"flavor and volume", `{"resize": {"flavorRef": "ds2G", "volume": {"size": 4}}}`},
	} {
		r := h.action(demo, id, tt.body)
		wantFault(t, tt.name, r, http.StatusBadRequest, "badRequest")
	}
	if got := h.instances()[0]; got.Task != coffer.TaskNone {
		t.Errorf("refused resizes left task %s, want NONE", got.Task)
	}
}

func TestResizeFlavorAndVolumeStartTheirWorkflows(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	a := h.addInstance(demo.projectID, "a", coffer.TaskNone)
	b := h.addInstance(demo.projectID, "b", coffer.TaskNone)

	if r := h.action(demo, a, `{"resize": {"flavorRef": "ds2G"}}`); r.status != http.StatusAccepted {
		t.Fatalf("resize flavor: got %d %s", r.status, r.body)
	}
	if r := h.action(demo, b, `{"resize": {"volume": {"size": 3}}}`); r.status != http.StatusAccepted {
		t.Fatalf("resize volume: got %d %s", r.status, r.body)
	}
	o := h.workflows.ops()
	if len(o.resizeFlavors) != 1 || o.resizeFlavors[0].OldFlavorID != "ds1G" || o.resizeFlavors[0].NewFlavorID != "ds2G" {
		t.Errorf("flavor resizes: got %+v", o.resizeFlavors)
	}
	if len(o.resizeVolumes) != 1 || o.resizeVolumes[0].NewSize != 3 || o.resizeVolumes[0].InstanceID != b {
		t.Errorf("volume resizes: got %+v", o.resizeVolumes)
	}
	for _, inst := range h.instances() {
		if inst.Status() != "RESIZE" {
			t.Errorf("instance %s: status %s, want RESIZE", inst.Name, inst.Status())
		}
	}
}

func TestResetStatusIsForAdminsOrAForceDelete(t *testing.T) {
	h := newHarness(t)
	demo, admin := h.login("demo"), h.login("admin")
	id := h.addInstance(demo.projectID, "stuck", coffer.TaskResizing)

	wantFault(t, "tenant reset", h.action(demo, id, `{"reset_status": {}}`), http.StatusForbidden, "forbidden")
	if r := h.action(demo, id, `{"reset_status": {"force_delete": true}}`); r.status != http.StatusAccepted {
		t.Fatalf("owner's force delete reset: got %d %s", r.status, r.body)
	}
	if got := h.instances()[0]; got.Task != coffer.TaskNone {
		t.Errorf("after reset: task %s, want NONE", got.Task)
	}
	h.update(id, func(i *coffer.Instance) { i.Task = coffer.TaskBuilding })
	if r := h.action(admin, id, `{"reset_status": {}}`); r.status != http.StatusAccepted {
		t.Fatalf("admin's reset of another project's instance: got %d %s", r.status, r.body)
	}
}

func TestMgmtActionsAreForAdmins(t *testing.T) {
	h := newHarness(t)
	demo, admin := h.login("demo"), h.login("admin")
	id := h.addInstance(demo.projectID, "orders", coffer.TaskNone)
	mgmt := func(u user, body string) response {
		return h.do(http.MethodPost, "/v1.0/"+u.projectID+"/mgmt/instances/"+id+"/action", u.token, body)
	}

	wantFault(t, "tenant stop", mgmt(demo, `{"stop": {}}`), http.StatusForbidden, "forbidden")
	if r := mgmt(admin, `{"stop": {}}`); r.status != http.StatusAccepted {
		t.Fatalf("admin stop: got %d %s", r.status, r.body)
	}
	if r := mgmt(admin, `{"reboot": {}}`); r.status != http.StatusAccepted {
		t.Fatalf("admin reboot: got %d %s", r.status, r.body)
	}
	o := h.workflows.ops()
	if len(o.stops) != 1 || len(o.restarts) != 1 || !o.restarts[0].Reboot {
		t.Errorf("stops %+v, restarts %+v: want one stop and one reboot", o.stops, o.restarts)
	}
	wantFault(t, "reboot while rebooting", mgmt(admin, `{"reboot": {}}`), http.StatusUnprocessableEntity, "unprocessableEntity")
}

func TestMgmtTaskSignalsOnlyAParkedStep(t *testing.T) {
	h := newHarness(t)
	demo, admin := h.login("demo"), h.login("admin")
	id := h.addInstance(demo.projectID, "orders", coffer.TaskBuilding)
	mgmt := func(body string) response {
		return h.do(http.MethodPost, "/v1.0/"+admin.projectID+"/mgmt/instances/"+id+"/action", admin.token, body)
	}
	wf := workflows.CreateWorkflowID(id)
	h.workflows.ops().progress[wf] = workflows.Progress{Operation: "create", Step: "create volume"}

	wantFault(t, "retry of a running step", mgmt(`{"retry-task": {}}`), http.StatusUnprocessableEntity, "unprocessableEntity")

	began := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	h.workflows.ops().progress[wf] = workflows.Progress{Operation: "create", Step: "create volume",
		Parked: &workflows.Parked{Step: "create volume", Error: "cinder answered 500", Attempts: 1},
		Timings: []workflows.StepTiming{
			{Step: "create port", Started: began, Ended: began.Add(168 * time.Millisecond)},
			{Step: "create volume", Started: began.Add(170 * time.Millisecond)},
		}}
	r := h.do(http.MethodGet, "/v1.0/"+admin.projectID+"/mgmt/instances/"+id+"/task", admin.token, nil)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"needs_attention":true`) || !strings.Contains(string(r.body), "cinder answered 500") {
		t.Fatalf("task of a parked create: got %d %s, want it to need attention with the error", r.status, r.body)
	}
	for _, want := range []string{
		`{"step":"create port","started":"2026-01-02T15:04:05.000Z","ended":"2026-01-02T15:04:05.168Z","took_ms":168}`,
		`{"step":"create volume","started":"2026-01-02T15:04:05.170Z","took_ms":0}`,
	} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("task of a parked create: got %s, want its timings to hold %s", r.body, want)
		}
	}
	for _, body := range []string{`{"retry-task": {}}`, `{"skip-task": {}}`, `{"abort-task": {}}`} {
		if r := mgmt(body); r.status != http.StatusAccepted {
			t.Fatalf("%s: got %d %s", body, r.status, r.body)
		}
	}
	want := []string{wf + " retry", wf + " skip", wf + " abort"}
	if got := h.workflows.ops().signals; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("signals: got %q, want %q", got, want)
	}
}

func TestATerminatedOperationIsNoticedAndItsTaskGivenBack(t *testing.T) {
	h := newHarness(t)
	demo, admin := h.login("demo"), h.login("admin")
	id := h.addInstance(demo.projectID, "opsdemo", coffer.TaskNone)
	wf := workflows.ResizeWorkflowID(id)
	if _, err := h.catalog.StartTask(context.Background(), "", id, coffer.TaskResizing, wf); err != nil {
		t.Fatal(err)
	}
	h.workflows.ops().progress[wf] = workflows.Progress{Operation: "resize volume", Parked: &workflows.Parked{Step: "extend volume"}}
	h.workflows.ops().ended[wf] = &workflows.RunEnd{Status: "terminated", Reason: "stuck (by ops@example)", At: time.Now()}

	// The next request, a list too, notices: the task is given back with a fault that says why.
	if r := h.do(http.MethodGet, "/v1.0/"+demo.projectID+"/instances", demo.token, nil); r.status != http.StatusOK || !strings.Contains(string(r.body), `"status":"ACTIVE"`) {
		t.Errorf("list after the resize was terminated: got %d %s, want the instance ACTIVE", r.status, r.body)
	}
	r := h.do(http.MethodGet, "/v1.0/"+demo.projectID+"/instances/"+id, demo.token, nil)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"status":"ACTIVE"`) || !strings.Contains(string(r.body), "was terminated in Temporal") {
		t.Fatalf("instance after its resize was terminated: got %d %s, want ACTIVE with a fault naming the termination", r.status, r.body)
	}
	wantFault(t, "retry-task of the terminated resize",
		h.do(http.MethodPost, "/v1.0/"+admin.projectID+"/mgmt/instances/"+id+"/action", admin.token, `{"retry-task": {}}`),
		http.StatusUnprocessableEntity, "unprocessableEntity")
	if r := h.action(demo, id, `{"resize": {"volume": {"size": 2}}}`); r.status != http.StatusAccepted {
		t.Errorf("a new resize after the termination: got %d %s, want 202", r.status, r.body)
	}
}

func TestMgmtTaskAnswerOfAnEndedOperationIs422(t *testing.T) {
	h := newHarness(t)
	demo, admin := h.login("demo"), h.login("admin")
	id := h.addInstance(demo.projectID, "orders", coffer.TaskResizing)
	wf := workflows.ResizeWorkflowID(id)
	h.workflows.ops().ended[wf] = &workflows.RunEnd{Status: "terminated"}
	r := h.do(http.MethodPost, "/v1.0/"+admin.projectID+"/mgmt/instances/"+id+"/action", admin.token, `{"retry-task": {}}`)
	if msg := wantFault(t, "retry-task of an ended operation", r, http.StatusUnprocessableEntity, "unprocessableEntity"); !strings.Contains(msg, "has ended") {
		t.Errorf("message: got %q, want it to say the operation has ended", msg)
	}
}
