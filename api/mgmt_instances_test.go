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
