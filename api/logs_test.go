package api_test

import (
	"net/http"
	"testing"

	"github.com/coffer-dbaas/coffer"
)

// TestGuestLogActionsRefuseBadInputAsTroveFaults sends log actions the API must refuse
// before any guest is asked: Trove's fault bodies with 400, 404 and 422, never a 500.
func TestGuestLogActionsRefuseBadInputAsTroveFaults(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	id := h.addInstance(demo.projectID, "orders", coffer.TaskNone)
	building := h.addInstance(demo.projectID, "building", coffer.TaskBuilding)
	logPath := func(id string) string { return "/v1.0/" + demo.projectID + "/instances/" + id + "/log" }
	for _, tt := range []struct {
		name, id, body string
		status         int
		fault          string
	}{
		{"no name", id, `{"publish": 1}`, http.StatusBadRequest, "badRequest"},
		{"two actions", id, `{"name": "general", "enable": 1, "discard": 1}`, http.StatusBadRequest, "badRequest"},
		{"not JSON", id, `{"name": `, http.StatusBadRequest, "badRequest"},
		{"unknown instance", "00000000-0000-4000-8000-000000000000", `{"name": "general"}`, http.StatusNotFound, "itemNotFound"},
		{"instance not ACTIVE", building, `{"name": "general", "publish": 1}`, http.StatusUnprocessableEntity, "unprocessableEntity"},
	} {
		r := h.do(http.MethodPost, logPath(tt.id), demo.token, tt.body)
		wantFault(t, tt.name, r, tt.status, tt.fault)
	}
	r := h.do(http.MethodGet, logPath(building), demo.token, nil)
	wantFault(t, "list the logs of an instance not ACTIVE", r, http.StatusUnprocessableEntity, "unprocessableEntity")
}
