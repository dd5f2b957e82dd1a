package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/api"
)

type instanceBody struct {
	Instance struct {
		ID        string `json:"id"`
		Name      string `json:"name"`
		Status    string `json:"status"`
		ReplicaOf *struct {
			ID    string     `json:"id"`
			Links []api.Link `json:"links"`
		} `json:"replica_of"`
		Replicas []struct {
			ID string `json:"id"`
		} `json:"replicas"`
		Configuration *struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"configuration"`
	} `json:"instance"`
}

func (h *harness) show(u user, id string) instanceBody {
	h.t.Helper()
	r := h.do(http.MethodGet, "/v1.0/"+u.projectID+"/instances/"+id, u.token, nil)
	if r.status != http.StatusOK {
		h.t.Fatalf("show %s: got %d %s", id, r.status, r.body)
	}
	var b instanceBody
	if err := json.Unmarshal(r.body, &b); err != nil {
		h.t.Fatal(err)
	}
	return b
}

func TestCreateReplicasInheritThePrimaryAndShowInBothViews(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	primary := h.addInstance(demo.projectID, "orders", coffer.TaskNone)
	path := "/v1.0/" + demo.projectID + "/instances"

	r := h.do(http.MethodPost, path, demo.token, map[string]any{"instance": map[string]any{
		"name": "orders-replica", "replica_of": primary, "replica_count": 2,
	}})
	if r.status != http.StatusOK {
		t.Fatalf("create replicas: got %d %s, want 200", r.status, r.body)
	}
	var created instanceBody
	if err := json.Unmarshal(r.body, &created); err != nil {
		t.Fatal(err)
	}
	if created.Instance.ReplicaOf == nil || created.Instance.ReplicaOf.ID != primary || created.Instance.Name != "orders-replica-1" {
		t.Errorf("create answer: got %+v, want orders-replica-1, replica of %s", created.Instance, primary)
	}
	creates, _ := h.workflows.started()
	if len(creates) != 2 {
		t.Fatalf("got %d creates started, want 2", len(creates))
	}
	for _, c := range creates {
		if c.ReplicaOf != primary || c.FlavorID != "ds1G" || c.VolumeSize != 1 || c.Datastore != "postgresql" {
			t.Errorf("create input: got %+v, want a replica of %s with its flavor, volume and datastore", c, primary)
		}
	}
	shown := h.show(demo, primary)
	var ids []string
	for _, rep := range shown.Instance.Replicas {
		ids = append(ids, rep.ID)
	}
	if !slices.Equal(ids, []string{creates[0].InstanceID, creates[1].InstanceID}) {
		t.Errorf("primary's replicas: got %v, want both replicas", ids)
	}
	if got := h.show(demo, creates[1].InstanceID).Instance.ReplicaOf; got == nil || got.ID != primary || len(got.Links) != 2 {
		t.Errorf("replica's replica_of: got %+v, want %s with links", got, primary)
	}
}

func TestCreateReplicaRefusesWhatTroveRefuses(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	primary := h.addInstance(demo.projectID, "orders", coffer.TaskNone)
	replica := h.addInstance(demo.projectID, "replica", coffer.TaskNone)
	if err := h.catalog.SetReplicaOf(context.Background(), replica, primary); err != nil {
		t.Fatal(err)
	}
	building := h.addInstance(demo.projectID, "building", coffer.TaskBuilding)
	// A datastore whose driver does not replicate (every one in the catalog does).
	other := h.record(&coffer.Instance{
		ID: uuid.NewString(), ProjectID: demo.projectID, Name: "cache", FlavorID: "ds1G", VolumeSize: 1,
		Datastore: "nosuchstore", Version: "1", Task: coffer.TaskNone, ServerStatus: "ACTIVE",
		ServiceStatus: coffer.ServiceHealthy, ServiceStatusUpdated: time.Now().UTC(),
	})
	path := "/v1.0/" + demo.projectID + "/instances"
	tests := []struct {
		name     string
		instance map[string]any
		code     int
		fault    string
	}{
		{"another flavor", map[string]any{"name": "r", "replica_of": primary, "flavorRef": "ds512M"}, 400, "badRequest"},
		{"another volume size", map[string]any{"name": "r", "replica_of": primary, "volume": map[string]any{"size": 2}}, 400, "badRequest"},
		{"another volume type", map[string]any{"name": "r", "replica_of": primary, "volume": map[string]any{"size": 1, "type": "fast"}}, 400, "badRequest"},
		{"a datastore", map[string]any{"name": "r", "replica_of": primary, "datastore": map[string]any{"type": "postgresql"}}, 400, "badRequest"},
		{"users", map[string]any{"name": "r", "replica_of": primary, "users": []any{map[string]any{"name": "u", "password": "p"}}}, 400, "badRequest"},
		{"four replicas", map[string]any{"name": "r", "replica_of": primary, "replica_count": 4}, 400, "badRequest"},
		{"a replica of a replica", map[string]any{"name": "r", "replica_of": replica}, 400, "badRequest"},
		{"a primary still building", map[string]any{"name": "r", "replica_of": building}, 422, "unprocessableEntity"},
		{"a datastore that does not replicate", map[string]any{"name": "r", "replica_of": other}, 400, "badRequest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do(http.MethodPost, path, demo.token, map[string]any{"instance": tt.instance})
			wantFault(t, tt.name, r, tt.code, tt.fault)
		})
	}
	if creates, _ := h.workflows.started(); len(creates) != 0 {
		t.Errorf("got %d creates started, want none", len(creates))
	}
}

// python-troveclient's `trove create r ds1G --size 1 --replica_of <primary>` sends the
// flavor and the volume (its type null) with replica_of: the primary's are accepted.
func TestCreateReplicaTakesThePrimarysFlavorAndVolumeAsTroveClientSendsThem(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	primary := h.addInstance(demo.projectID, "orders", coffer.TaskNone)
	r := h.do(http.MethodPost, "/v1.0/"+demo.projectID+"/instances", demo.token,
		`{"instance": {"name": "orders-replica", "flavorRef": "ds1G", "volume": {"size": 1, "type": null}, "replica_of": "`+primary+`", "replica_count": 1}}`)
	if r.status != http.StatusOK {
		t.Fatalf("create a replica with the primary's flavor and volume: got %d %s, want 200", r.status, r.body)
	}
	creates, _ := h.workflows.started()
	if len(creates) != 1 || creates[0].ReplicaOf != primary || creates[0].FlavorID != "ds1G" || creates[0].VolumeSize != 1 {
		t.Errorf("creates started: got %+v, want one replica of %s on ds1G with 1 GiB", creates, primary)
	}
}

func TestDeletingAPrimaryWithReplicasIsForbidden(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	primary := h.addInstance(demo.projectID, "orders", coffer.TaskNone)
	replica := h.addInstance(demo.projectID, "replica", coffer.TaskNone)
	if err := h.catalog.SetReplicaOf(context.Background(), replica, primary); err != nil {
		t.Fatal(err)
	}
	r := h.do(http.MethodDelete, "/v1.0/"+demo.projectID+"/instances/"+primary, demo.token, nil)
	wantFault(t, "delete primary", r, http.StatusForbidden, "forbidden")
	if r := h.do(http.MethodDelete, "/v1.0/"+demo.projectID+"/instances/"+replica, demo.token, nil); r.status != http.StatusAccepted {
		t.Errorf("delete replica: got %d %s, want 202", r.status, r.body)
	}
}

func TestReplicationActionsLockTheGroupAndStartTheirWorkflows(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	primary := h.addInstance(demo.projectID, "orders", coffer.TaskNone)
	r1 := h.addInstance(demo.projectID, "r1", coffer.TaskNone)
	r2 := h.addInstance(demo.projectID, "r2", coffer.TaskNone)
	for _, r := range []string{r1, r2} {
		if err := h.catalog.SetReplicaOf(context.Background(), r, primary); err != nil {
			t.Fatal(err)
		}
	}
	wantFault(t, "promote a primary", h.action(demo, primary, `{"promote_to_replica_source": {}}`), 400, "badRequest")
	wantFault(t, "eject a replica", h.action(demo, r1, `{"eject_replica_source": {}}`), 400, "badRequest")

	if r := h.action(demo, r1, `{"promote_to_replica_source": {}}`); r.status != http.StatusAccepted {
		t.Fatalf("promote: got %d %s, want 202", r.status, r.body)
	}
	for _, id := range []string{primary, r1, r2} {
		if got := h.show(demo, id).Instance.Status; got != "PROMOTE" {
			t.Errorf("instance %s: got status %s during the promote, want PROMOTE", id, got)
		}
	}
	// Nothing else runs on the group meanwhile.
	wantFault(t, "detach during a promote", h.do(http.MethodPut, "/v1.0/"+demo.projectID+"/instances/"+r2, demo.token,
		`{"instance": {"replica_of": null}}`), 422, "unprocessableEntity")
	for _, id := range []string{primary, r1, r2} {
		h.update(id, func(i *coffer.Instance) { i.Task = coffer.TaskNone })
	}

	if r := h.do(http.MethodPut, "/v1.0/"+demo.projectID+"/instances/"+r2, demo.token, `{"instance": {"replica_of": null}}`); r.status != http.StatusAccepted {
		t.Fatalf("detach: got %d %s, want 202", r.status, r.body)
	}
	if got := h.show(demo, r2).Instance.Status; got != "DETACH" {
		t.Errorf("detached replica: got status %s, want DETACH", got)
	}
	wantFault(t, "detach a primary", h.do(http.MethodPut, "/v1.0/"+demo.projectID+"/instances/"+primary, demo.token,
		`{"instance": {"replica_of": null}}`), 400, "badRequest")
	// Trove detaches when the key is there at all; clients send "" (python-troveclient's
	// detach-replica), through PATCH too.
	if r := h.do(http.MethodPatch, "/v1.0/"+demo.projectID+"/instances/"+r1, demo.token, `{"instance": {"replica_of": ""}}`); r.status != http.StatusAccepted {
		t.Fatalf("detach with \"\": got %d %s, want 202", r.status, r.body)
	}
	if got := h.show(demo, r1).Instance.Status; got != "DETACH" {
		t.Errorf("replica detached with \"\": got status %s, want DETACH", got)
	}

	h.update(r1, func(i *coffer.Instance) { i.Task = coffer.TaskNone })
	h.update(r2, func(i *coffer.Instance) { i.Task = coffer.TaskNone })
	if r := h.action(demo, primary, `{"eject_replica_source": {}}`); r.status != http.StatusAccepted {
		t.Fatalf("eject: got %d %s, want 202", r.status, r.body)
	}
	got := h.workflows.replications
	want := []string{"promote " + r1, "detach " + r2, "detach " + r1, "eject " + primary}
	if !slices.Equal(got, want) {
		t.Errorf("got workflows %v, want %v", got, want)
	}
}

// The primary's ResizeVolume workflow resizes its replicas
// (workflows.TestResizeVolumeOfAPrimaryResizesItsSmallerReplicas): the API starts the
// primary's only, and leaves the replicas' tasks to their own workflows.
func TestResizingAPrimarysVolumeStartsOnlyThePrimarysResize(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	primary := h.addInstance(demo.projectID, "orders", coffer.TaskNone)
	replica := h.addInstance(demo.projectID, "replica", coffer.TaskNone)
	if err := h.catalog.SetReplicaOf(context.Background(), replica, primary); err != nil {
		t.Fatal(err)
	}
	if r := h.action(demo, primary, `{"resize": {"volume": {"size": 3}}}`); r.status != http.StatusAccepted {
		t.Fatalf("resize volume: got %d %s, want 202", r.status, r.body)
	}
	var got []string
	for _, in := range h.workflows.ops().resizeVolumes {
		got = append(got, fmt.Sprintf("%s:%d", in.InstanceID, in.NewSize))
	}
	want := []string{primary + ":3"}
	if !slices.Equal(got, want) {
		t.Errorf("volume resizes: got %v, want %v", got, want)
	}
	if s := h.show(demo, replica).Instance.Status; s != "ACTIVE" {
		t.Errorf("replica: got status %s, want ACTIVE until its own resize claims it", s)
	}
}

// Redis replicates: a replica of a Redis primary is created with its datastore.
func TestCreateReplicaOfARedisPrimary(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	primary := h.record(&coffer.Instance{
		ID: uuid.NewString(), ProjectID: demo.projectID, Name: "cache", FlavorID: "ds1G", VolumeSize: 1,
		Datastore: "redis", Version: "7", Task: coffer.TaskNone, ServerStatus: "ACTIVE",
		ServiceStatus: coffer.ServiceHealthy, ServiceStatusUpdated: time.Now().UTC(),
	})
	r := h.do(http.MethodPost, "/v1.0/"+demo.projectID+"/instances", demo.token, map[string]any{"instance": map[string]any{
		"name": "cache-replica", "replica_of": primary,
	}})
	if r.status != http.StatusOK {
		t.Fatalf("create a replica of a redis instance: got %d %s, want 200", r.status, r.body)
	}
	creates, _ := h.workflows.started()
	if len(creates) != 1 || creates[0].ReplicaOf != primary || creates[0].Datastore != "redis" || creates[0].Version != "7" {
		t.Fatalf("creates: got %+v, want one redis 7 replica of %s", creates, primary)
	}
}
