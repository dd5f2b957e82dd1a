package api_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/instances"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/dev/devcloud"
)

// TestAuthenticationAndProjectScoping checks Keystone auth: no or bad token 401, a path of
// another project 403, another project's instance 404, Keystone failing 503.
func TestAuthenticationAndProjectScoping(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	alt := h.login("alt_demo")
	theirs := h.addInstance(alt.projectID, "theirs", coffer.TaskNone)
	list := "/v1.0/" + demo.projectID + "/instances"

	r := h.do(http.MethodGet, list, "", nil)
	wantFault(t, "no token", r, http.StatusUnauthorized, "unauthorized")
	r = h.do(http.MethodGet, list, "gAAAAAnot-a-token", nil)
	wantFault(t, "unknown token", r, http.StatusUnauthorized, "unauthorized")
	r = h.do(http.MethodPost, list, "", `{"instance": {}}`)
	wantFault(t, "create without token", r, http.StatusUnauthorized, "unauthorized")

	r = h.do(http.MethodGet, "/v1.0/"+alt.projectID+"/instances", demo.token, nil)
	wantFault(t, "another project's path", r, http.StatusForbidden, "forbidden")
	r = h.do(http.MethodDelete, "/v1.0/"+alt.projectID+"/instances/"+theirs, demo.token, nil)
	wantFault(t, "delete in another project's path", r, http.StatusForbidden, "forbidden")

	_, err := instances.Get(context.Background(), demo.db, theirs).Extract()
	if !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		t.Errorf("another project's instance: got %v, want HTTP 404", err)
	}
	r = h.do(http.MethodGet, list+"/"+theirs, demo.token, nil)
	wantFault(t, "another project's instance", r, http.StatusNotFound, "itemNotFound")
	r = h.do(http.MethodDelete, list+"/"+theirs, demo.token, nil)
	wantFault(t, "delete another project's instance", r, http.StatusNotFound, "itemNotFound")
	r = h.do(http.MethodGet, list+"/"+uuid.NewString(), demo.token, nil)
	wantFault(t, "unknown instance", r, http.StatusNotFound, "itemNotFound")
	r = h.do(http.MethodGet, list+"/not-a-uuid", demo.token, nil)
	wantFault(t, "instance ID that is no UUID", r, http.StatusNotFound, "itemNotFound")
	if got := h.instances()[0]; got.Task != coffer.TaskNone {
		t.Errorf("their instance: got task %s, want NONE", got.Task)
	}

	// The token of alt_demo is cached by now; a new token needs Keystone, which fails.
	admin := h.login("admin")
	base := devcloud.AdminBaseURL(h.cloud.IdentityURL())
	if _, err := devcloud.InjectFault(context.Background(), admin.provider, base, devcloud.Fault{
		Service: "identity", Operation: "token.validate", Status: http.StatusServiceUnavailable,
	}); err != nil {
		t.Fatal(err)
	}
	fresh := h.login("demo")
	r = h.do(http.MethodGet, list, fresh.token, nil)
	wantFault(t, "Keystone failing", r, http.StatusServiceUnavailable, "serviceUnavailable")
	r = h.do(http.MethodGet, list, demo.token, nil)
	if r.status != http.StatusOK {
		t.Errorf("cached token while Keystone fails: got HTTP %d %s, want 200", r.status, r.body)
	}
}
