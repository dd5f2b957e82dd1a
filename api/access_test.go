package api_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/coffer-dbaas/coffer"
)

// TestAccessOnCreateAndUpdateIsCheckedShownAndApplied: access on create goes to the
// catalog and the create's security group, is shown; an update starts UpdateAccess with the
// CIDRs in canonical form; bad ranges are 400 and change nothing.
func TestAccessOnCreateAndUpdateIsCheckedShownAndApplied(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	path := "/v1.0/" + demo.projectID + "/instances"
	r := h.do(http.MethodPost, path, demo.token, map[string]any{"instance": map[string]any{
		"name": "orders", "flavorRef": "ds1G", "volume": map[string]any{"size": 1},
		"access": map[string]any{"is_public": false, "allowed_cidrs": []string{"202.78.240.0/24"}},
	}})
	if r.status != http.StatusOK {
		t.Fatalf("create with access: got %d %s, want 200", r.status, r.body)
	}
	var created struct {
		Instance struct {
			ID     string
			Access *struct {
				IsPublic     bool     `json:"is_public"`
				AllowedCIDRs []string `json:"allowed_cidrs"`
			}
		}
	}
	if err := json.Unmarshal(r.body, &created); err != nil {
		t.Fatal(err)
	}
	id := created.Instance.ID
	if a := created.Instance.Access; a == nil || a.IsPublic || !slices.Equal(a.AllowedCIDRs, []string{"202.78.240.0/24"}) {
		t.Fatalf("create's view of access: got %+v", a)
	}
	if got := h.workflows.creates[0].AllowedCIDRs; !slices.Equal(got, []string{"202.78.240.0/24"}) {
		t.Errorf("create workflow's allowed CIDRs: got %v", got)
	}

	for _, c := range []struct{ name, body string }{
		{"not a CIDR", `{"instance": {"name": "x", "flavorRef": "ds1G", "volume": {"size": 1}, "access": {"allowed_cidrs": ["10.0.0.0/33"]}}}`},
		{"a word", `{"instance": {"name": "x", "flavorRef": "ds1G", "volume": {"size": 1}, "access": {"allowed_cidrs": ["anywhere"]}}}`},
	} {
		wantFault(t, "create with "+c.name, h.do(http.MethodPost, path, demo.token, c.body), 400, "badRequest")
	}

	h.update(id, func(i *coffer.Instance) {
		i.Task, i.ServerStatus, i.ServiceStatus = coffer.TaskNone, "ACTIVE", coffer.ServiceHealthy
	})
	execSQL(t, h.database, "UPDATE instances SET security_group_id = 'sg-1' WHERE id = $1", id)
	wantFault(t, "update with a bad CIDR", h.do(http.MethodPut, path+"/"+id, demo.token, `{"instance": {"access": {"allowed_cidrs": ["300.1.1.1/8"]}}}`), 400, "badRequest")
	wantFault(t, "access and detach in one call", h.do(http.MethodPut, path+"/"+id, demo.token, `{"instance": {"access": {}, "replica_of": null}}`), 400, "badRequest")
	if len(h.workflows.ops().accesses) != 0 {
		t.Fatalf("refused updates started %+v", h.workflows.ops().accesses)
	}

	r = h.do(http.MethodPut, path+"/"+id, demo.token, `{"instance": {"access": {"is_public": true, "allowed_cidrs": ["192.0.2.9/24", "192.0.2.0/24", "2001:db8::1/32"]}}}`)
	if r.status != http.StatusAccepted {
		t.Fatalf("update access: got %d %s, want 202", r.status, r.body)
	}
	got := h.workflows.ops().accesses
	want := []string{"192.0.2.0/24", "2001:db8::/32"}
	if len(got) != 1 || got[0].SecurityGroupID != "sg-1" || got[0].Port != 5432 || !got[0].Access.IsPublic || !slices.Equal(got[0].Access.AllowedCIDRs, want) {
		t.Fatalf("UpdateAccess started: got %+v, want one on sg-1 port 5432, public, %v", got, want)
	}
	if st := h.show(demo, id).Instance.Status; st != "UPDATE" {
		t.Errorf("status during the update: got %s, want UPDATE", st)
	}
	wantFault(t, "a second update meanwhile", h.do(http.MethodPatch, path+"/"+id, demo.token, `{"instance": {"access": {}}}`), 422, "unprocessableEntity")
}

// TestReplicasTakeTheAccessTheirCreateGives: a replica create's access goes to each replica's
// record and security group, as a primary's does.
func TestReplicasTakeTheAccessTheirCreateGives(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	primary := h.addInstance(demo.projectID, "orders", coffer.TaskNone)
	r := h.do(http.MethodPost, "/v1.0/"+demo.projectID+"/instances", demo.token, map[string]any{"instance": map[string]any{
		"name": "orders-replica", "replica_of": primary, "access": map[string]any{"is_public": false, "allowed_cidrs": []string{"10.2.0.0/16"}},
	}})
	if r.status != http.StatusOK {
		t.Fatalf("replica create with access: got %d %s", r.status, r.body)
	}
	if len(h.workflows.creates) != 1 || !slices.Equal(h.workflows.creates[0].AllowedCIDRs, []string{"10.2.0.0/16"}) {
		t.Fatalf("replica create workflow: got %+v, want allowed CIDRs [10.2.0.0/16]", h.workflows.creates)
	}
	inst, err := h.catalog.GetInstance(t.Context(), demo.projectID, h.workflows.creates[0].InstanceID)
	if err != nil || !slices.Equal(inst.Access.AllowedCIDRs, []string{"10.2.0.0/16"}) {
		t.Errorf("replica's recorded access: got %+v, %v", inst, err)
	}
}
