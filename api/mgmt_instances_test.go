package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/coffer-dbaas/coffer"
)

func TestAdminSeesEveryProjectAndOthersSeeNothing(t *testing.T) {
	h := newHarness(t)
	demo, alt, admin := h.login("demo"), h.login("alt_demo"), h.login("admin")
	id := h.addInstance(demo.projectID, "shop", coffer.TaskNone)
	h.addInstance(alt.projectID, "other", coffer.TaskNone)
	r := h.do(http.MethodGet, "/v1.0/"+admin.projectID+"/mgmt/instances", admin.token, nil)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"tenant_id":"`+demo.projectID+`"`) || !strings.Contains(string(r.body), `"tenant_id":"`+alt.projectID+`"`) {
		t.Fatalf("admin lists: got %d %s", r.status, r.body)
	}
	for _, path := range []string{"/mgmt/instances", "/mgmt/instances/" + id, "/mgmt/instances/" + id + "/root", "/mgmt/quotas/" + demo.projectID, "/mgmt/datastore-versions"} {
		if r := h.do(http.MethodGet, "/v1.0/"+demo.projectID+path, demo.token, nil); r.status != http.StatusForbidden {
			t.Errorf("member GET %s: got %d %s, want 403", path, r.status, r.body)
		}
	}
	for _, path := range []string{"/databases", "/users", "/users/clerk", "/root", "/users/clerk/databases"} {
		r := h.do(http.MethodGet, "/v1.0/"+alt.projectID+"/instances/"+id+path, alt.token, nil)
		wantFault(t, "another project GET "+path, r, http.StatusNotFound, "itemNotFound")
	}
	r = h.do(http.MethodGet, "/v1.0/"+admin.projectID+"/mgmt/instances/"+id+"/root", admin.token, nil)
	if !strings.Contains(string(r.body), `"enabled":"Never"`) {
		t.Fatalf("root history: got %s", r.body)
	}
}

// TestAdminReachesAnotherProjectsInstanceThroughOwnPath is Trove's find_by for an admin
// context: show, act on and delete any project's instance through the admin's own project
// path, acting in the instance's own project; a member still gets 404 there, and lists stay
// the path project's.
func TestAdminReachesAnotherProjectsInstanceThroughOwnPath(t *testing.T) {
	h := newHarness(t)
	demo, alt, admin := h.login("demo"), h.login("alt_demo"), h.login("admin")
	id := h.addInstance(demo.projectID, "shop", coffer.TaskNone)
	path := "/v1.0/" + admin.projectID + "/instances/" + id

	r := h.do(http.MethodGet, path, admin.token, nil)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"name":"shop"`) {
		t.Fatalf("admin shows demo's instance: got %d %s, want 200 with it", r.status, r.body)
	}
	r = h.do(http.MethodGet, "/v1.0/"+alt.projectID+"/instances/"+id, alt.token, nil)
	wantFault(t, "member shows another project's instance", r, http.StatusNotFound, "itemNotFound")
	r = h.do(http.MethodPost, "/v1.0/"+alt.projectID+"/instances/"+id+"/action", alt.token, map[string]any{"restart": map[string]any{}})
	wantFault(t, "member restarts another project's instance", r, http.StatusNotFound, "itemNotFound")
	r = h.do(http.MethodDelete, "/v1.0/"+alt.projectID+"/instances/"+id, alt.token, nil)
	wantFault(t, "member deletes another project's instance", r, http.StatusNotFound, "itemNotFound")
	r = h.do(http.MethodGet, "/v1.0/"+admin.projectID+"/instances", admin.token, nil)
	if r.status != http.StatusOK || strings.Contains(string(r.body), id) {
		t.Fatalf("admin's own list: got %d %s, want 200 without demo's instance", r.status, r.body)
	}

	r = h.do(http.MethodPost, path+"/action", admin.token, map[string]any{"restart": map[string]any{}})
	if r.status != http.StatusAccepted {
		t.Fatalf("admin restarts demo's instance: got %d %s, want 202", r.status, r.body)
	}
	if got := h.workflows.ops().restarts; len(got) != 1 || got[0].ProjectID != demo.projectID {
		t.Fatalf("restarts started: got %+v, want one in project %s", got, demo.projectID)
	}
	h.update(id, func(i *coffer.Instance) { i.Task = coffer.TaskNone })
	r = h.do(http.MethodPut, path, admin.token, map[string]any{"instance": map[string]any{"name": "shop2"}})
	if r.status != http.StatusAccepted {
		t.Fatalf("admin renames demo's instance: got %d %s, want 202", r.status, r.body)
	}
	r = h.do(http.MethodDelete, path, admin.token, nil)
	if r.status != http.StatusAccepted {
		t.Fatalf("admin deletes demo's instance: got %d %s, want 202", r.status, r.body)
	}
	if len(h.workflows.deletes) != 1 || h.workflows.deletes[0].ProjectID != demo.projectID {
		t.Fatalf("deletes started: got %+v, want one in project %s", h.workflows.deletes, demo.projectID)
	}
	inst, err := h.catalog.GetInstance(t.Context(), demo.projectID, id)
	if err != nil || inst.Name != "shop2" {
		t.Fatalf("demo's instance after the admin's rename: got %+v, %v", inst, err)
	}
}
