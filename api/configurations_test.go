package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/configurations"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/datastores"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/instances"

	"github.com/coffer-dbaas/coffer"
)

// TestGophercloudConfigurationsWorkUnchanged drives the routes with gophercloud's own
// configurations and instances packages, as its acceptance test does.
func TestGophercloudConfigurationsWorkUnchanged(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	ctx := context.Background()

	cfg, err := configurations.Create(ctx, demo.db, configurations.CreateOpts{
		Name: "tuned", Description: "for reports",
		Values:    map[string]any{"work_mem": 8192, "max_connections": 50},
		Datastore: &configurations.DatastoreOpts{Type: "postgresql", Version: "15"},
	}).Extract()
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if cfg.DatastoreName != "postgresql" || cfg.DatastoreVersionName != "15" || cfg.Values["work_mem"] != float64(8192) {
		t.Errorf("created: got %+v", cfg)
	}
	got, err := configurations.Get(ctx, demo.db, cfg.ID).Extract()
	if err != nil || got.Name != "tuned" || got.Description != "for reports" || got.Created.IsZero() {
		t.Fatalf("get: got %+v, %v", got, err)
	}
	pages, err := configurations.List(demo.db).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all, err := configurations.ExtractConfigs(pages)
	if err != nil || len(all) != 1 || all[0].ID != cfg.ID {
		t.Errorf("list: got %+v, %v", all, err)
	}

	if err := configurations.Update(ctx, demo.db, cfg.ID, configurations.UpdateOpts{Values: map[string]any{"work_mem": 4096}}).ExtractErr(); err != nil {
		t.Fatalf("update (PATCH): %v", err)
	}
	if got, _ := configurations.Get(ctx, demo.db, cfg.ID).Extract(); len(got.Values) != 2 || got.Values["work_mem"] != float64(4096) {
		t.Errorf("after a merge: got values %v, want both, work_mem 4096", got.Values)
	}
	if err := configurations.Replace(ctx, demo.db, cfg.ID, configurations.UpdateOpts{Name: "renamed", Values: map[string]any{"work_mem": 2048}}).ExtractErr(); err != nil {
		t.Fatalf("replace (PUT): %v", err)
	}
	if got, _ := configurations.Get(ctx, demo.db, cfg.ID).Extract(); got.Name != "renamed" || len(got.Values) != 1 {
		t.Errorf("after a replace: got %+v", got)
	}

	version, err := h.catalog.FindDatastoreVersion(ctx, "postgresql", "15")
	if err != nil {
		t.Fatal(err)
	}
	ds, err := datastores.Get(ctx, demo.db, "postgresql").Extract()
	if err != nil {
		t.Fatal(err)
	}
	pages, err = configurations.ListDatastoreParams(demo.db, ds.ID, version.ID).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	params, err := configurations.ExtractParams(pages)
	if err != nil || len(params) < 100 {
		t.Fatalf("parameters: got %d, %v; want PostgreSQL's", len(params), err)
	}
	p, err := configurations.GetDatastoreParam(ctx, demo.db, ds.ID, version.ID, "max_connections").Extract()
	if err != nil || !p.RestartRequired || p.Type != "integer" || p.Min != 1 {
		t.Errorf("max_connections: got %+v, %v", p, err)
	}
	p, err = configurations.GetGlobalParam(ctx, demo.db, version.ID, "work_mem").Extract()
	if err != nil || p.RestartRequired || p.Min != 64 {
		t.Errorf("work_mem by the version's ID: got %+v, %v", p, err)
	}
	pages, err = configurations.ListGlobalParams(demo.db, version.ID).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if global, _ := configurations.ExtractParams(pages); len(global) != len(params) {
		t.Errorf("parameters by the version's ID: got %d, want %d", len(global), len(params))
	}

	// Attach and detach through the instances package.
	id := h.addInstance(demo.projectID, "reports", coffer.TaskNone)
	if err := instances.AttachConfigurationGroup(ctx, demo.db, id, cfg.ID).ExtractErr(); err != nil {
		t.Fatalf("attach: %v", err)
	}
	if shown := h.show(demo, id).Instance; shown.Configuration == nil || shown.Configuration.ID != cfg.ID {
		t.Errorf("show after attach: got configuration %+v, want %s", shown.Configuration, cfg.ID)
	}
	pages, err = configurations.ListInstances(demo.db, cfg.ID).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	attached, err := instances.ExtractInstances(pages)
	if err != nil || len(attached) != 1 || attached[0].ID != id {
		t.Errorf("instances of the group: got %+v, %v", attached, err)
	}
	if err := configurations.Delete(ctx, demo.db, cfg.ID).ExtractErr(); err == nil {
		t.Errorf("delete while attached: succeeded, want a 400")
	}
	if err := instances.DetachConfigurationGroup(ctx, demo.db, id).ExtractErr(); err != nil {
		t.Fatalf("detach: %v", err)
	}
	applies := h.workflows.applied()
	// The PATCH and PUT had no instance to apply to; the attach and the detach did.
	if len(applies) != 2 || applies[0].InstanceIDs[0] != id || applies[1].InstanceIDs[0] != id {
		t.Errorf("ApplyConfiguration started: got %+v, want the attach's and the detach's", applies)
	}
	if err := configurations.Delete(ctx, demo.db, cfg.ID).ExtractErr(); err != nil {
		t.Fatalf("delete: %v", err)
	}
}

// TestBadConfigurationValuesAre400sThatChangeNothing checks that a value is checked
// against the version's parameters, and the fault names the parameter and the rule.
func TestBadConfigurationValuesAre400sThatChangeNothing(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	path := "/v1.0/" + demo.projectID + "/configurations"
	create := func(values string) response {
		return h.do(http.MethodPost, path, demo.token, `{"configuration": {"name": "g", "values": `+values+`}}`)
	}
	for _, c := range []struct{ values, want string }{
		{`{"work_mem": 10}`, "work_mem must be between 64 and 2147483647 (in kB), not 10"},
		{`{"work_mem": "8MB"}`, `work_mem must be an integer, not "8MB"`},
		{`{"work_mem": 1.5}`, "work_mem must be an integer, not 1.5"},
		{`{"no_such_setting": 1}`, `no configuration parameter "no_such_setting"`},
		{`{"archive_command": "rm -rf /"}`, `no configuration parameter "archive_command"`},
		{`{"synchronous_commit": "sometimes"}`, "synchronous_commit must be one of"},
		{`{"jit": "yes"}`, "jit must be true or false"},
	} {
		msg := wantFault(t, c.values, create(c.values), http.StatusBadRequest, "badRequest")
		if !strings.Contains(msg, c.want) {
			t.Errorf("%s: got message %q, want it to say %q", c.values, msg, c.want)
		}
	}
	// Names match whatever their case, as PostgreSQL matches them, and are kept as the
	// parameter's own.
	if r := create(`{"WORK_MEM": 8192, "jit": false, "synchronous_commit": "off", "random_page_cost": 1.1}`); r.status != http.StatusOK {
		t.Fatalf("create good values: got %d %s", r.status, r.body)
	}
	var list struct {
		Configurations []struct{ ID string } `json:"configurations"`
	}
	if err := json.Unmarshal(h.do(http.MethodGet, path, demo.token, nil).body, &list); err != nil || len(list.Configurations) != 1 {
		t.Fatalf("list: got %+v, %v; want only the good group", list, err)
	}
	id := list.Configurations[0].ID
	wantFault(t, "PATCH a bad value", h.do(http.MethodPatch, path+"/"+id, demo.token, `{"configuration": {"values": {"work_mem": -1}}}`), 400, "badRequest")
	var shown struct {
		Configuration struct{ Values map[string]any } `json:"configuration"`
	}
	if err := json.Unmarshal(h.do(http.MethodGet, path+"/"+id, demo.token, nil).body, &shown); err != nil || shown.Configuration.Values["work_mem"] != float64(8192) {
		t.Errorf("after a refused PATCH: got %+v, %v; want work_mem 8192", shown, err)
	}
	alt := h.login("alt_demo")
	wantFault(t, "another project's group", h.do(http.MethodGet, "/v1.0/"+alt.projectID+"/configurations/"+id, alt.token, nil), 404, "itemNotFound")
}

// TestCreateWithAConfigurationGroupRecordsIt checks that a create takes the group, and
// refuses another version's or a missing one.
func TestCreateWithAConfigurationGroupRecordsIt(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	ctx := context.Background()
	cfg, err := configurations.Create(ctx, demo.db, configurations.CreateOpts{Name: "tuned", Values: map[string]any{"work_mem": 8192}}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	created, err := instances.Create(ctx, demo.db, instances.CreateOpts{Name: "db", FlavorRef: "ds1G", Size: 1, Configuration: cfg.ID}).Extract()
	if err != nil {
		t.Fatalf("create with a group: %v", err)
	}
	creates := h.workflows.creates
	if len(creates) != 1 || creates[0].ConfigurationID != cfg.ID {
		t.Errorf("create workflow input: got %+v, want configuration %s", creates, cfg.ID)
	}
	if shown := h.show(demo, created.ID).Instance; shown.Configuration == nil || shown.Configuration.Name != "tuned" {
		t.Errorf("show: got configuration %+v, want tuned", shown.Configuration)
	}
	r := h.do(http.MethodPost, "/v1.0/"+demo.projectID+"/instances", demo.token,
		`{"instance": {"name": "db2", "flavorRef": "ds1G", "volume": {"size": 1}, "configuration": "6f1c7c1e-6d1e-4a7a-9f3e-000000000000"}}`)
	wantFault(t, "create with a missing group", r, 404, "itemNotFound")
}

// TestMgmtParametersAreForAdmins checks that an admin adds, changes and removes a
// version's parameters, and a tenant may not.
func TestMgmtParametersAreForAdmins(t *testing.T) {
	h := newHarness(t)
	demo, admin := h.login("demo"), h.login("admin")
	version, err := h.catalog.FindDatastoreVersion(context.Background(), "postgresql", "15")
	if err != nil {
		t.Fatal(err)
	}
	path := "/v1.0/" + admin.projectID + "/mgmt/datastores/versions/" + version.ID + "/parameters"
	body := `{"configuration-parameter": {"name": "pg_stat_statements.max", "data_type": "integer", "min_size": 100, "max_size": 100000, "restart_required": true}}`
	if r := h.do(http.MethodPost, "/v1.0/"+demo.projectID+"/mgmt/datastores/versions/"+version.ID+"/parameters", demo.token, body); r.status != http.StatusForbidden {
		t.Errorf("a tenant adds a parameter: got %d, want 403", r.status)
	}
	if r := h.do(http.MethodPost, path, admin.token, body); r.status != http.StatusOK {
		t.Fatalf("add: got %d %s", r.status, r.body)
	}
	wantFault(t, "add it again", h.do(http.MethodPost, path, admin.token, body), 400, "badRequest")
	if r := h.do(http.MethodPut, path+"/pg_stat_statements.max", admin.token,
		`{"configuration-parameter": {"data_type": "integer", "min_size": 100, "max_size": 5000, "restart_required": true}}`); r.status != http.StatusOK {
		t.Fatalf("change: got %d %s", r.status, r.body)
	}
	r := h.do(http.MethodPost, "/v1.0/"+demo.projectID+"/configurations", demo.token,
		`{"configuration": {"name": "g", "values": {"pg_stat_statements.max": 10000}}}`)
	if msg := wantFault(t, "a value past the changed max", r, 400, "badRequest"); !strings.Contains(msg, "between 100 and 5000") {
		t.Errorf("message: got %q", msg)
	}
	if r := h.do(http.MethodDelete, path+"/pg_stat_statements.max", admin.token, nil); r.status != http.StatusNoContent {
		t.Fatalf("delete: got %d %s", r.status, r.body)
	}
	wantFault(t, "delete it again", h.do(http.MethodDelete, path+"/pg_stat_statements.max", admin.token, nil), 404, "itemNotFound")
}

// A group attached to a primary, or changed while attached, is applied to the primary's
// replicas too (first): they must run with at least the primary's hot-standby settings.
func TestConfigurationOfAPrimaryReachesItsReplicas(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	ctx := context.Background()
	primary := h.addInstance(demo.projectID, "orders", coffer.TaskNone)
	replica := h.addInstance(demo.projectID, "orders-replica", coffer.TaskNone)
	if err := h.catalog.SetReplicaOf(ctx, replica, primary); err != nil {
		t.Fatal(err)
	}
	cfg, err := configurations.Create(ctx, demo.db, configurations.CreateOpts{
		Name: "more connections", Values: map[string]any{"max_connections": 200},
		Datastore: &configurations.DatastoreOpts{Type: "postgresql", Version: "15"},
	}).Extract()
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := instances.AttachConfigurationGroup(ctx, demo.db, primary, cfg.ID).ExtractErr(); err != nil {
		t.Fatalf("attach: %v", err)
	}
	if err := configurations.Update(ctx, demo.db, cfg.ID, configurations.UpdateOpts{Values: map[string]any{"max_connections": 300}}).ExtractErr(); err != nil {
		t.Fatalf("update: %v", err)
	}
	applies := h.workflows.applied()
	if len(applies) != 2 {
		t.Fatalf("ApplyConfiguration started: got %+v, want the attach's and the update's", applies)
	}
	for i, a := range applies {
		if !slices.Equal(a.InstanceIDs, []string{primary}) || !slices.Equal(a.Replicas, []string{replica}) {
			t.Errorf("apply %d: got instances %v and replicas %v, want %s and its replica %s", i, a.InstanceIDs, a.Replicas, primary, replica)
		}
	}
}
