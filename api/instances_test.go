package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/databases"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/instances"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/users"
	"github.com/gophercloud/gophercloud/v2/pagination"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/workflows"
)

// TestInstanceLifecycleThroughGophercloud drives create, list, show and delete with
// gophercloud's Trove client, found through the devcloud's service catalog, and checks what
// it parses and which workflows the API started.
func TestInstanceLifecycleThroughGophercloud(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	ctx := context.Background()

	created, err := instances.Create(ctx, demo.db, instances.CreateOpts{
		Name:      "orders",
		FlavorRef: "ds1G",
		Size:      2,
		Datastore: &instances.DatastoreOpts{Type: "postgresql", Version: "15"},
		Databases: databases.BatchCreateOpts{{Name: "orders"}, {Name: "audit", CharSet: "UTF8"}},
		Users: users.BatchCreateOpts{{
			Name: "app", Password: "s3cret-pw", Databases: databases.BatchCreateOpts{{Name: "orders"}},
		}},
	}).Extract()
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if uuid.Validate(created.ID) != nil || created.Name != "orders" || created.Status != "BUILD" {
		t.Errorf("create: got id %q name %q status %q, want a UUID, orders, BUILD", created.ID, created.Name, created.Status)
	}
	if created.Flavor.ID != "ds1G" || created.Volume.Size != 2 ||
		created.Datastore.Type != "postgresql" || created.Datastore.Version != "15" {
		t.Errorf("create: got flavor %q volume %d datastore %+v, want ds1G, 2, postgresql 15", created.Flavor.ID, created.Volume.Size, created.Datastore)
	}
	if since := time.Since(created.Created); since < -time.Second || since > time.Minute {
		t.Errorf("create: got created %v, want about now", created.Created)
	}
	if len(created.Links) == 0 || !strings.HasPrefix(created.Links[0].Href, h.url+"/v1.0/"+demo.projectID+"/instances/"+created.ID) {
		t.Errorf("create: got links %+v, want a self link under %s", created.Links, h.url)
	}

	creates, _ := h.workflows.started()
	if len(creates) != 1 {
		t.Fatalf("got %d create workflows started, want 1", len(creates))
	}
	in := creates[0]
	if in.InstanceID != created.ID || in.ProjectID != demo.projectID || in.FlavorID != "ds1G" || in.VolumeSize != 2 ||
		in.Datastore != "postgresql" || in.Version != "15" || in.Port != 5432 || in.ImageID == "" {
		t.Errorf("create workflow input: got %+v", in)
	}
	if in.Timeouts.GuestStart != h.cfg.Guest.StartTimeout || in.Timeouts.GuestPrepare != h.cfg.Guest.PrepareTimeout {
		t.Errorf("create workflow timeouts: got %+v, want the config's guest timeouts", in.Timeouts)
	}
	wantUsers := []coffer.User{{Name: "app", Password: "s3cret-pw", Databases: []string{"orders"}}}
	if fmt.Sprint(in.Databases) != fmt.Sprint([]coffer.Database{{Name: "orders"}, {Name: "audit", CharacterSet: "UTF8"}}) ||
		len(in.Users) != 1 || in.Users[0].Password != "s3cret-pw" || fmt.Sprint(in.Users[0].Databases) != fmt.Sprint(wantUsers[0].Databases) {
		t.Errorf("create workflow databases and users: got %+v %+v", in.Databases, in.Users)
	}

	pages, err := instances.List(demo.db).AllPages(ctx)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	list, err := instances.ExtractInstances(pages)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != created.ID || list[0].Status != "BUILD" {
		t.Errorf("list: got %+v, want the one instance in BUILD", list)
	}

	// An instance still building cannot be deleted (Trove's 422).
	err = instances.Delete(ctx, demo.db, created.ID).ExtractErr()
	if !gophercloud.ResponseCodeIs(err, http.StatusUnprocessableEntity) {
		t.Fatalf("delete while building: got %v, want HTTP 422", err)
	}
	r := h.do(http.MethodDelete, "/v1.0/"+demo.projectID+"/instances/"+created.ID, demo.token, nil)
	wantFault(t, "delete while building", r, http.StatusUnprocessableEntity, "unprocessableEntity")

	// The workflow finished: the server is up and the guest reports healthy.
	h.update(created.ID, func(i *coffer.Instance) {
		i.Task, i.ServerStatus, i.Address = coffer.TaskNone, "ACTIVE", "127.10.0.5"
		i.ServiceStatus, i.ServiceStatusUpdated = coffer.ServiceHealthy, time.Now()
	})
	got, err := instances.Get(ctx, demo.db, created.ID).Extract()
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if got.Status != "ACTIVE" || len(got.Addresses) != 1 || got.Addresses[0].Address != "127.10.0.5" || fmt.Sprint(got.IP) != "[127.10.0.5]" {
		t.Errorf("get: got status %q addresses %+v ip %v, want ACTIVE at 127.10.0.5", got.Status, got.Addresses, got.IP)
	}
	var show struct {
		Instance map[string]any `json:"instance"`
	}
	r = h.do(http.MethodGet, "/v1.0/"+demo.projectID+"/instances/"+created.ID, demo.token, nil)
	if err := json.Unmarshal(r.body, &show); err != nil || r.status != http.StatusOK {
		t.Fatalf("show: got HTTP %d %s", r.status, r.body)
	}
	for key, want := range map[string]any{"operating_status": "HEALTHY", "region": "RegionOne"} {
		if show.Instance[key] != want {
			t.Errorf("show: got %s %v, want %v", key, show.Instance[key], want)
		}
	}
	for _, key := range []string{"created", "updated", "service_status_updated"} {
		s, _ := show.Instance[key].(string)
		if _, err := time.Parse("2006-01-02T15:04:05", s); err != nil {
			t.Errorf("show: got %s %q, want Trove's 2006-01-02T15:04:05", key, s)
		}
	}
	if _, ok := show.Instance["$schema"]; ok {
		t.Errorf("show: got a $schema key in %s", r.body)
	}

	if err := instances.Delete(ctx, demo.db, created.ID).ExtractErr(); err != nil {
		t.Fatalf("delete: %v", err)
	}
	_, deletes := h.workflows.started()
	wantDelete := workflows.DeleteInstanceInput{InstanceID: created.ID, ProjectID: demo.projectID, InstanceName: created.Name, Timeouts: workflows.Timeouts{
		GuestStart: h.cfg.Guest.StartTimeout, GuestPrepare: h.cfg.Guest.PrepareTimeout,
		Park: h.cfg.Operations.ParkTimeout, HealthInterval: h.cfg.Guest.HealthInterval,
	}}
	if len(deletes) != 1 || deletes[0] != wantDelete {
		t.Errorf("delete workflows: got %+v, want one for %s", deletes, created.ID)
	}
	got, err = instances.Get(ctx, demo.db, created.ID).Extract()
	if err != nil || got.Status != "SHUTDOWN" {
		t.Errorf("get after delete: got %v %v, want status SHUTDOWN", got, err)
	}
}

// TestCreateRefusesBadInput sends every kind of bad create and checks that each gets a
// Trove 400 (never a 500) that names the problem, and that nothing was made.
func TestCreateRefusesBadInput(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	path := "/v1.0/" + demo.projectID + "/instances"

	// create is a valid body changed by edit.
	create := func(edit func(inst map[string]any)) map[string]any {
		inst := map[string]any{
			"name": "orders", "flavorRef": "ds1G", "volume": map[string]any{"size": 2},
			"datastore": map[string]any{"type": "postgresql", "version": "15"},
			"databases": []any{map[string]any{"name": "orders"}},
			"users":     []any{map[string]any{"name": "app", "password": "app-secret", "databases": []any{map[string]any{"name": "orders"}}}},
		}
		edit(inst)
		return map[string]any{"instance": inst}
	}
	tests := []struct {
		name string
		body any
		code int
		// fault is the fault's name; message must be in its message.
		fault, message string
	}{
		{"body not JSON", "{not json", 400, "badRequest", "request body"},
		{"empty body", "", 400, "badRequest", "body"},
		{"no instance key", map[string]any{"name": "x"}, 400, "badRequest", "instance"},
		{"no name", create(func(i map[string]any) { delete(i, "name") }), 400, "badRequest", "name"},
		{"blank name", create(func(i map[string]any) { i["name"] = "  " }), 400, "badRequest", "instance.name"},
		{"no flavor", create(func(i map[string]any) { delete(i, "flavorRef") }), 400, "badRequest", "flavorRef"},
		{"unknown flavor", create(func(i map[string]any) { i["flavorRef"] = "huge" }), 400, "badRequest", "Flavor huge not found"},
		{"unknown flavor href", create(func(i map[string]any) { i["flavorRef"] = "http://nova/v2.1/flavors/huge" }), 400, "badRequest", "Flavor huge not found"},
		{"unknown integer flavor", create(func(i map[string]any) { i["flavorRef"] = 7 }), 400, "badRequest", "Flavor 7 not found"},
		{"flavor of wrong type", create(func(i map[string]any) { i["flavorRef"] = true }), 400, "badRequest", "flavorRef"},
		{"no volume", create(func(i map[string]any) { delete(i, "volume") }), 400, "badRequest", "volume"},
		{"volume size 0", create(func(i map[string]any) { i["volume"] = map[string]any{"size": 0} }), 400, "badRequest", "instance.volume.size"},
		{"volume size negative", create(func(i map[string]any) { i["volume"] = map[string]any{"size": -3} }), 400, "badRequest", "instance.volume.size"},
		{"volume size above max", create(func(i map[string]any) { i["volume"] = map[string]any{"size": maxVolumeSize + 1} }), 400, "badRequest", "instance.volume.size"},
		{"volume size not integer", create(func(i map[string]any) { i["volume"] = map[string]any{"size": 1.5} }), 400, "badRequest", "instance.volume.size"},
		{"volume size string", create(func(i map[string]any) { i["volume"] = map[string]any{"size": "2"} }), 400, "badRequest", "instance.volume.size"},
		{"unknown datastore", create(func(i map[string]any) { i["datastore"] = map[string]any{"type": "oracle"} }), 400, "badRequest", "oracle"},
		{"unknown datastore version", create(func(i map[string]any) { i["datastore"] = map[string]any{"type": "postgresql", "version": "7"} }), 400, "badRequest", "postgresql version 7 not found"},
		{"inactive datastore version", create(func(i map[string]any) { i["datastore"] = map[string]any{"type": "postgresql", "version": "9.6"} }), 400, "badRequest", "9.6"},
		{"datastore version without image", create(func(i map[string]any) { i["datastore"] = map[string]any{"type": "postgresql", "version": "16"} }), 400, "badRequest", "no image"},
		{"empty database name", create(func(i map[string]any) { i["databases"] = []any{map[string]any{"name": ""}} }), 400, "badRequest", "databases[0].name"},
		{"invalid database name", create(func(i map[string]any) { i["databases"] = []any{map[string]any{"name": "drop table;"}} }), 400, "badRequest", "databases[0].name"},
		{"database name too long", create(func(i map[string]any) { i["databases"] = []any{map[string]any{"name": strings.Repeat("d", 64)}} }), 400, "badRequest", "databases[0].name"},
		{"reserved database name", create(func(i map[string]any) { i["databases"] = []any{map[string]any{"name": "template1"}} }), 400, "badRequest", "reserved"},
		{"duplicate database", create(func(i map[string]any) {
			i["databases"] = []any{map[string]any{"name": "orders"}, map[string]any{"name": "orders"}}
		}), 400, "badRequest", "twice"},
		{"bad character set", create(func(i map[string]any) {
			i["databases"] = []any{map[string]any{"name": "orders", "character_set": "utf8'; drop"}}
		}), 400, "badRequest", "character_set"},
		{"empty user name", create(func(i map[string]any) { i["users"] = []any{map[string]any{"name": "", "password": "app-secret"}} }), 400, "badRequest", "users[0].name"},
		{"invalid user name", create(func(i map[string]any) { i["users"] = []any{map[string]any{"name": "9lives", "password": "app-secret"}} }), 400, "badRequest", "users[0].name"},
		{"reserved user name", create(func(i map[string]any) {
			i["users"] = []any{map[string]any{"name": "postgres", "password": "app-secret"}}
		}), 400, "badRequest", "reserved"},
		{"reserved agent user", create(func(i map[string]any) {
			i["users"] = []any{map[string]any{"name": "coffer_agent", "password": "app-secret"}}
		}), 400, "badRequest", "reserved"},
		{"duplicate user", create(func(i map[string]any) {
			i["users"] = []any{map[string]any{"name": "app", "password": "app-secret"}, map[string]any{"name": "app", "password": "app-secret2"}}
		}), 400, "badRequest", "twice"},
		{"user without password", create(func(i map[string]any) { i["users"] = []any{map[string]any{"name": "app"}} }), 400, "badRequest", "password"},
		{"user with empty password", create(func(i map[string]any) { i["users"] = []any{map[string]any{"name": "app", "password": ""}} }), 400, "badRequest", "password"},
		{"user of unknown database", create(func(i map[string]any) {
			i["users"] = []any{map[string]any{"name": "app", "password": "app-secret", "databases": []any{map[string]any{"name": "billing"}}}}
		}), 400, "badRequest", "billing"},
		{"replica that names its flavor and volume", create(func(i map[string]any) { i["replica_of"] = uuid.NewString() }), 400, "badRequest", "replica"},
		{"replica_count without replica_of", create(func(i map[string]any) { i["replica_count"] = 2 }), 400, "badRequest", "replica_of"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do(http.MethodPost, path, demo.token, tt.body)
			msg := wantFault(t, tt.name, r, tt.code, tt.fault)
			if !strings.Contains(msg, tt.message) {
				t.Errorf("got message %q, want it to mention %q", msg, tt.message)
			}
			if strings.Contains(msg, "pw2") || strings.Contains(msg, "s3cret-pw") {
				t.Errorf("got message %q, which shows a password", msg)
			}
			if got := h.instances(); len(got) != 0 {
				t.Errorf("got %d instances recorded, want none", len(got))
			}
			if creates, _ := h.workflows.started(); len(creates) != 0 {
				t.Errorf("got %d workflows started, want none", len(creates))
			}
		})
	}
}

// TestCreateAcceptsTroveClientsBodies checks the forms clients send: a flavor href, extra
// keys (python-troveclient's nics, locality, ...), no datastore (the default one).
func TestCreateAcceptsTroveClientsBodies(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	r := h.do(http.MethodPost, "/v1.0/"+demo.projectID+"/instances", demo.token, map[string]any{"instance": map[string]any{
		"name": "web", "flavorRef": h.url + "/v1.0/" + demo.projectID + "/flavors/ds2G",
		"volume": map[string]any{"size": maxVolumeSize, "type": "ssd"},
		"nics":   []any{map[string]any{"net-id": uuid.NewString()}}, "locality": nil, "modules": []any{}, "region_name": "RegionOne",
		"availability_zone": "nova",
	}})
	if r.status != http.StatusOK {
		t.Fatalf("create: got HTTP %d %s, want 200", r.status, r.body)
	}
	var got struct {
		Instance struct {
			Flavor    struct{ ID string }
			Datastore struct{ Type, Version string }
			Volume    struct{ Size int }
		}
	}
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Instance.Flavor.ID != "ds2G" || got.Instance.Datastore.Type != "postgresql" || got.Instance.Datastore.Version != "15" || got.Instance.Volume.Size != maxVolumeSize {
		t.Errorf("create: got %+v, want flavor ds2G, postgresql 15, volume %d", got.Instance, maxVolumeSize)
	}
	insts := h.instances()
	if len(insts) != 1 || insts[0].VolumeType != "ssd" || insts[0].Task != coffer.TaskBuilding {
		t.Errorf("catalog: got %+v, want one BUILDING instance with volume type ssd", insts)
	}
}

// TestCreateLeavesNothingWhenTheWorkflowCannotStart checks that a create whose workflow
// Temporal refuses answers 503 and removes the instance again.
func TestCreateLeavesNothingWhenTheWorkflowCannotStart(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	h.workflows.setFail(errTemporalDown)
	_, err := instances.Create(context.Background(), demo.db, instances.CreateOpts{Name: "orders", FlavorRef: "ds1G", Size: 1}).Extract()
	if !gophercloud.ResponseCodeIs(err, http.StatusServiceUnavailable) {
		t.Fatalf("create: got %v, want HTTP 503", err)
	}
	if got := h.instances(); len(got) != 0 {
		t.Errorf("got instances %+v left in the catalog, want none", got)
	}
}

// TestDeleteGivesTheTaskBackWhenTheWorkflowCannotStart checks that a delete Temporal
// refuses answers 503 and leaves the instance as it was, so it can be deleted later.
func TestDeleteGivesTheTaskBackWhenTheWorkflowCannotStart(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	id := h.addInstance(demo.projectID, "orders", coffer.TaskError)
	h.update(id, func(i *coffer.Instance) { i.Fault = &coffer.Fault{Message: "server failed", Created: time.Now()} })
	h.workflows.setFail(errTemporalDown)
	r := h.do(http.MethodDelete, "/v1.0/"+demo.projectID+"/instances/"+id, demo.token, nil)
	wantFault(t, "delete", r, http.StatusServiceUnavailable, "serviceUnavailable")
	got := h.instances()[0]
	if got.Task != coffer.TaskError || got.Fault == nil || got.Fault.Message != "server failed" {
		t.Errorf("got task %s fault %+v, want ERROR with the fault it had", got.Task, got.Fault)
	}

	h.workflows.setFail(nil)
	if err := instances.Delete(context.Background(), demo.db, id).ExtractErr(); err != nil {
		t.Fatalf("delete of an instance in ERROR: %v", err)
	}
}

// addInstance records an instance directly in the catalog.
func (h *harness) addInstance(projectID, name string, task coffer.Task) string {
	h.t.Helper()
	return h.record(&coffer.Instance{
		ID: uuid.NewString(), ProjectID: projectID, Name: name, FlavorID: "ds1G", VolumeSize: 1,
		Datastore: "postgresql", Version: "15", Task: task, ServerStatus: "ACTIVE",
		ServiceStatus: coffer.ServiceHealthy, ServiceStatusUpdated: time.Now().UTC(),
	})
}

// TestListPagesWithInstancesLinks checks paging with limit and marker, through both
// Trove's links and the instances_links gophercloud follows.
func TestListPagesWithInstancesLinks(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	alt := h.login("alt_demo")
	var ids []string
	for i := range 45 {
		ids = append(ids, h.addInstance(demo.projectID, fmt.Sprintf("db%02d", i), coffer.TaskNone))
	}
	h.addInstance(alt.projectID, "theirs", coffer.TaskNone)

	// gophercloud pages by the default page size, following instances_links.
	var pageSizes []int
	var seen []string
	err := instances.List(demo.db).EachPage(context.Background(), func(_ context.Context, p pagination.Page) (bool, error) {
		list, err := instances.ExtractInstances(p)
		pageSizes = append(pageSizes, len(list))
		for _, inst := range list {
			seen = append(seen, inst.ID)
		}
		return true, err
	})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if fmt.Sprint(pageSizes) != "[20 20 5]" || fmt.Sprint(seen) != fmt.Sprint(ids) {
		t.Errorf("list: got pages of %v with %d instances, want [20 20 5] with the project's 45 in order", pageSizes, len(seen))
	}

	for _, path := range []string{"/instances", "/instances/detail"} {
		r := h.do(http.MethodGet, "/v1.0/"+demo.projectID+path+"?limit=2&marker="+ids[40], demo.token, nil)
		var page struct {
			Instances      []struct{ ID, Created string }
			Links          []struct{ Href, Rel string }
			InstancesLinks []struct{ Href, Rel string } `json:"instances_links"`
		}
		if err := json.Unmarshal(r.body, &page); err != nil || r.status != http.StatusOK {
			t.Fatalf("GET %s: got HTTP %d %s", path, r.status, r.body)
		}
		if len(page.Instances) != 2 || page.Instances[0].ID != ids[41] || page.Instances[1].ID != ids[42] {
			t.Errorf("GET %s: got %+v, want instances 41 and 42", path, page.Instances)
		}
		if (page.Instances[0].Created != "") != (path == "/instances/detail") {
			t.Errorf("GET %s: got created %q; only details carry it", path, page.Instances[0].Created)
		}
		wantNext := h.url + "/v1.0/" + demo.projectID + path + "?limit=2&marker=" + ids[42]
		for _, links := range [][]struct{ Href, Rel string }{page.Links, page.InstancesLinks} {
			if len(links) != 1 || links[0].Rel != "next" || links[0].Href != wantNext {
				t.Errorf("GET %s: got links %+v, want next %s", path, links, wantNext)
			}
		}
	}

	r := h.do(http.MethodGet, "/v1.0/"+demo.projectID+"/instances?marker="+ids[44], demo.token, nil)
	if r.status != http.StatusOK || strings.Contains(string(r.body), "links") {
		t.Errorf("last page: got HTTP %d %s, want no links", r.status, r.body)
	}
	r = h.do(http.MethodGet, "/v1.0/"+demo.projectID+"/instances?limit=0", demo.token, nil)
	wantFault(t, "limit 0", r, http.StatusBadRequest, "badRequest")
	r = h.do(http.MethodGet, "/v1.0/"+demo.projectID+"/instances?limit=x", demo.token, nil)
	wantFault(t, "limit x", r, http.StatusBadRequest, "badRequest")
	r = h.do(http.MethodGet, "/v1.0/"+demo.projectID+"/instances?marker=nope", demo.token, nil)
	wantFault(t, "marker not an ID", r, http.StatusBadRequest, "badRequest")
}
