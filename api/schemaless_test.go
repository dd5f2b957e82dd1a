package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/coffer-dbaas/coffer"
)

// A Redis instance has no databases or users: each of their routes answers Trove's
// DatastoreOperationNotSupported (501, notImplemented) naming Trove's operation, and the
// guest is never asked.
func TestRedisDatabaseAndUserRoutesAnswerTrovesNotSupported(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	redis := h.record(&coffer.Instance{
		ID: uuid.NewString(), ProjectID: demo.projectID, Name: "cache", FlavorID: "ds1G", VolumeSize: 1,
		Datastore: "redis", Version: "7", Task: coffer.TaskNone, ServerStatus: "ACTIVE",
		ServiceStatus: coffer.ServiceHealthy, ServiceStatusUpdated: time.Now().UTC(),
	})
	base := "/v1.0/" + demo.projectID + "/instances/" + redis
	for _, tt := range []struct {
		method, path string
		body         any
		operation    string
	}{
		{http.MethodGet, "/databases", nil, "list_databases"},
		{http.MethodPost, "/databases", map[string]any{"databases": []any{map[string]any{"name": "db1"}}}, "create_database"},
		{http.MethodDelete, "/databases/db1", nil, "delete_database"},
		{http.MethodGet, "/users", nil, "list_users"},
		{http.MethodPost, "/users", map[string]any{"users": []any{map[string]any{"name": "ann", "password": "password1"}}}, "create_user"},
		{http.MethodGet, "/users/ann", nil, "get_user"},
		{http.MethodDelete, "/users/ann", nil, "delete_user"},
		{http.MethodGet, "/users/ann/databases", nil, "list_access"},
	} {
		r := h.do(tt.method, base+tt.path, demo.token, tt.body)
		wantFault(t, tt.method+" "+tt.path, r, http.StatusNotImplemented, "notImplemented")
		if want := "The '" + tt.operation + "' operation is not supported for the 'redis' datastore."; !strings.Contains(string(r.body), want) {
			t.Errorf("%s %s: got %s, want %q", tt.method, tt.path, r.body, want)
		}
	}
}
