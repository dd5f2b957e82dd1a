package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/databases"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/datastores"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/flavors"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/instances"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/users"

	"github.com/coffer-dbaas/coffer"
)

func TestDatabasesUsersAndRootThroughGophercloud(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	ctx := context.Background()
	id := h.addInstance(demo.projectID, "shop", coffer.TaskNone)

	err := databases.Create(ctx, demo.db, id, databases.BatchCreateOpts{{Name: "orders"}, {Name: "stock", CharSet: "UTF8"}}).ExtractErr()
	if err != nil {
		t.Fatalf("create databases: %v", err)
	}
	err = users.Create(ctx, demo.db, id, users.BatchCreateOpts{{Name: "clerk", Password: "clerk-secret", Databases: databases.BatchCreateOpts{{Name: "orders"}}}}).ExtractErr()
	if err != nil {
		t.Fatalf("create users: %v", err)
	}
	page, err := databases.List(demo.db, id).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dbs, _ := databases.ExtractDBs(page)
	if len(dbs) != 2 || dbs[0].Name != "orders" || dbs[1].Name != "stock" {
		t.Fatalf("databases: got %+v, want orders and stock", dbs)
	}
	page, err = users.List(demo.db, id).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	us, _ := users.ExtractUsers(page)
	if len(us) != 1 || us[0].Name != "clerk" || len(us[0].Databases) != 1 || us[0].Databases[0].Name != "orders" {
		t.Fatalf("users: got %+v, want clerk with orders", us)
	}

	root, err := instances.EnableRootUser(ctx, demo.db, id).Extract()
	if err != nil || root.Name != "root" || len(root.Password) < 16 {
		t.Fatalf("enable root: got %+v, %v", root, err)
	}
	if on, err := instances.IsRootEnabled(ctx, demo.db, id).Extract(); err != nil || !on {
		t.Fatalf("root enabled: got %v, %v", on, err)
	}
	if r := h.do(http.MethodDelete, "/v1.0/"+demo.projectID+"/instances/"+id+"/root", demo.token, nil); r.status != http.StatusNoContent {
		t.Fatalf("disable root: got %d %s", r.status, r.body)
	}
	if on, _ := instances.IsRootEnabled(ctx, demo.db, id).Extract(); on {
		t.Fatal("root still enabled after disable")
	}

	if err := users.Delete(ctx, demo.db, id, "clerk").ExtractErr(); err != nil {
		t.Fatal(err)
	}
	if err := databases.Delete(ctx, demo.db, id, "stock").ExtractErr(); err != nil {
		t.Fatal(err)
	}
	if got := h.workflows.snapshot(id); strings.Contains(got, "clerk") || strings.Contains(got, "stock") {
		t.Fatalf("after the deletes the engine holds %s", got)
	}
}

func TestUserAddressedAsNameAtHost(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	id := h.addInstance(demo.projectID, "shop", coffer.TaskNone)
	base := "/v1.0/" + demo.projectID + "/instances/" + id
	r := h.do(http.MethodPost, base+"/users", demo.token, map[string]any{"users": []any{
		map[string]any{"name": "app", "password": "app-secret", "host": "10.0.0.%"},
	}})
	if r.status != http.StatusAccepted {
		t.Fatalf("create: got %d %s", r.status, r.body)
	}
	if r := h.do(http.MethodGet, base+"/users/app", demo.token, nil); r.status != http.StatusNotFound {
		t.Fatalf("app (host %%): got %d %s, want 404", r.status, r.body)
	}
	r = h.do(http.MethodGet, base+"/users/"+url.PathEscape("app@10.0.0.%"), demo.token, nil)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"host":"10.0.0.%"`) {
		t.Fatalf("app@10.0.0.%%: got %d %s", r.status, r.body)
	}
	r = h.do(http.MethodPut, base+"/users/"+url.PathEscape("app@10.0.0.%"), demo.token, map[string]any{"user": map[string]any{"name": "web", "host": "%"}})
	if r.status != http.StatusAccepted {
		t.Fatalf("update: got %d %s", r.status, r.body)
	}
	r = h.do(http.MethodGet, base+"/users/web", demo.token, nil)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"name":"web","host":"%"`) {
		t.Fatalf("web after rename: got %d %s", r.status, r.body)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	id := h.addInstance(demo.projectID, "shop", coffer.TaskNone)
	busy := h.addInstance(demo.projectID, "busy", coffer.TaskResizing)
	base := "/v1.0/" + demo.projectID + "/instances/" + id
	setup := []struct {
		path string
		body any
	}{
		{"/databases", map[string]any{"databases": []any{map[string]any{"name": "orders"}}}},
		{"/users", map[string]any{"users": []any{map[string]any{"name": "clerk", "password": "clerk-secret", "databases": []any{map[string]any{"name": "orders"}}}}}},
	}
	for _, s := range setup {
		if r := h.do(http.MethodPost, base+s.path, demo.token, s.body); r.status != http.StatusAccepted {
			t.Fatalf("setup %s: %d %s", s.path, r.status, r.body)
		}
	}
	injected := `x"; DROP DATABASE y; --`
	dbs := func(names ...string) map[string]any {
		var l []any
		for _, n := range names {
			l = append(l, map[string]any{"name": n})
		}
		return map[string]any{"databases": l}
	}
	user := func(name, password string, dbNames ...string) map[string]any {
		u := map[string]any{"name": name, "password": password}
		if len(dbNames) > 0 {
			u["databases"] = dbs(dbNames...)["databases"]
		}
		return map[string]any{"users": []any{u}}
	}
	for _, tt := range []struct {
		name, method, path string
		body               any
		code               int
		fault, message     string
	}{
		{"blank database", http.MethodPost, "/databases", dbs(""), 400, "badRequest", "name is empty"},
		{"long database", http.MethodPost, "/databases", dbs(strings.Repeat("d", 64)), 400, "badRequest", "databases[0].name"},
		{"quoted database", http.MethodPost, "/databases", dbs(`a"b`), 400, "badRequest", "is not valid"},
		{"semicolon database", http.MethodPost, "/databases", dbs("a;b"), 400, "badRequest", "is not valid"},
		{"injected database", http.MethodPost, "/databases", dbs(injected), 400, "badRequest", "is not valid"},
		{"system database", http.MethodPost, "/databases", dbs("template1"), 400, "badRequest", "reserved"},
		{"existing database", http.MethodPost, "/databases", dbs("orders"), 400, "badRequest", "already exists"},
		{"drop system database", http.MethodDelete, "/databases/postgres", nil, 400, "badRequest", "reserved"},
		{"drop injected database", http.MethodDelete, "/databases/" + url.PathEscape(injected), nil, 400, "badRequest", "is not valid"},
		{"drop missing database", http.MethodDelete, "/databases/nothere", nil, 404, "itemNotFound", "nothere"},
		{"blank user", http.MethodPost, "/users", user("", "long-enough"), 400, "badRequest", "name is empty"},
		{"quoted user", http.MethodPost, "/users", user(`o'neil`, "long-enough"), 400, "badRequest", "is not valid"},
		{"injected user", http.MethodPost, "/users", user(injected, "long-enough"), 400, "badRequest", "is not valid"},
		{"root user", http.MethodPost, "/users", user("root", "long-enough"), 400, "badRequest", "reserved"},
		{"agent user", http.MethodPost, "/users", user("coffer_agent", "long-enough"), 400, "badRequest", "reserved"},
		{"pg user", http.MethodPost, "/users", user("pg_monitor", "long-enough"), 400, "badRequest", "reserved"},
		{"existing user", http.MethodPost, "/users", user("clerk", "long-enough"), 400, "badRequest", "already exists"},
		{"short password", http.MethodPost, "/users", user("bob", "short"), 400, "badRequest", "at least 8"},
		{"user with missing database", http.MethodPost, "/users", user("bob", "long-enough", "nothere"), 400, "badRequest", "create it first"},
		{"bad host", http.MethodPost, "/users", map[string]any{"users": []any{map[string]any{"name": "bob", "password": "long-enough", "host": "a'b"}}}, 400, "badRequest", "host"},
		{"grant missing database", http.MethodPut, "/users/clerk/databases", dbs("nothere"), 404, "itemNotFound", "nothere"},
		{"grant injected database", http.MethodPut, "/users/clerk/databases", dbs(injected), 400, "badRequest", "is not valid"},
		{"grant to missing user", http.MethodPut, "/users/nobody/databases", dbs("orders"), 404, "itemNotFound", "nobody"},
		{"revoke missing database", http.MethodDelete, "/users/clerk/databases/nothere", nil, 404, "itemNotFound", "nothere"},
		{"short new password", http.MethodPut, "/users", map[string]any{"users": []any{map[string]any{"name": "clerk", "password": "x"}}}, 400, "badRequest", "at least 8"},
		{"password of missing user", http.MethodPut, "/users", map[string]any{"users": []any{map[string]any{"name": "nobody", "password": "long-enough"}}}, 404, "itemNotFound", "nobody"},
		{"rename onto root", http.MethodPut, "/users/clerk", map[string]any{"user": map[string]any{"name": "root"}}, 400, "badRequest", "reserved"},
		{"update nothing", http.MethodPut, "/users/clerk", map[string]any{"user": map[string]any{}}, 400, "badRequest", "new name"},
		{"delete missing user", http.MethodDelete, "/users/nobody", nil, 404, "itemNotFound", "nobody"},
		{"show system user", http.MethodGet, "/users/postgres", nil, 400, "badRequest", "reserved"},
		{"short root password", http.MethodPost, "/root", map[string]any{"password": "abc"}, 400, "badRequest", "at least 8"},
		{"databases while resizing", http.MethodPost, "/../" + busy + "/databases", dbs("more"), 422, "unprocessableEntity", "not ready"},
		{"users while resizing", http.MethodGet, "/../" + busy + "/users", nil, 422, "unprocessableEntity", "not ready"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := h.workflows.snapshot(id)
			path := base + tt.path
			if strings.HasPrefix(tt.path, "/../") {
				path = "/v1.0/" + demo.projectID + "/instances/" + strings.TrimPrefix(tt.path, "/../")
			}
			msg := wantFault(t, tt.name, h.do(tt.method, path, demo.token, tt.body), tt.code, tt.fault)
			if !strings.Contains(msg, tt.message) {
				t.Errorf("got message %q, want it to say %q", msg, tt.message)
			}
			if after := h.workflows.snapshot(id); after != before {
				t.Errorf("the engine changed: %s, was %s", after, before)
			}
		})
	}
}

func TestSilentGuestGivesAGatewayTimeoutNamingTheInstance(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	id := h.addInstance(demo.projectID, "shop", coffer.TaskNone)
	h.workflows.silence(id)
	msg := wantFault(t, "list databases", h.do(http.MethodGet, "/v1.0/"+demo.projectID+"/instances/"+id+"/databases", demo.token, nil), http.StatusGatewayTimeout, "gatewayTimeout")
	if !strings.Contains(msg, id) {
		t.Fatalf("got message %q, want it to name instance %s", msg, id)
	}
}

func TestFlavorsAndDatastoresThroughGophercloud(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	ctx := context.Background()
	page, err := flavors.List(demo.db).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fs, _ := flavors.ExtractFlavors(page)
	if len(fs) != 6 || fs[0].StrID != "ds16G" || fs[0].ID != 0 {
		t.Fatalf("flavors: got %+v, want the devcloud's six, by ID, with str_id", fs)
	}
	f, err := flavors.Get(ctx, demo.db, "ds1G").Extract()
	if err != nil || f.RAM != 1024 || f.StrID != "ds1G" {
		t.Fatalf("flavor ds1G: got %+v, %v", f, err)
	}
	r := h.do(http.MethodGet, "/v1.0/"+demo.projectID+"/flavors/ds1G", demo.token, nil)
	if !strings.Contains(string(r.body), `"id":null`) {
		t.Fatalf("flavor with a string ID: got %s, want id null", r.body)
	}
	// Paging follows flavors_links.
	r = h.do(http.MethodGet, "/v1.0/"+demo.projectID+"/flavors?limit=4", demo.token, nil)
	var listed struct {
		Flavors      []json.RawMessage            `json:"flavors"`
		FlavorsLinks []struct{ Href, Rel string } `json:"flavors_links"`
	}
	if err := json.Unmarshal(r.body, &listed); err != nil || len(listed.Flavors) != 4 || len(listed.FlavorsLinks) != 1 || !strings.Contains(listed.FlavorsLinks[0].Href, "marker=ds4G") {
		t.Fatalf("first page of 4: got %s", r.body)
	}

	page, err = datastores.List(demo.db).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ds, _ := datastores.ExtractDatastores(page)
	pg := slices.IndexFunc(ds, func(d datastores.Datastore) bool { return d.Name == "postgresql" })
	if len(ds) != 2 || pg < 0 || len(ds[pg].Versions) != 2 || ds[pg].DefaultVersion != versionIDs["postgresql 15"] {
		t.Fatalf("datastores: got %+v, want mysql and postgresql with 15 and 16 (default 15)", ds)
	}
	v, err := datastores.GetVersion(ctx, demo.db, "postgresql", "16").Extract()
	if err != nil || v.ID != versionIDs["postgresql 16"] {
		t.Fatalf("version 16: got %+v, %v", v, err)
	}
	if _, err := datastores.GetVersion(ctx, demo.db, "postgresql", "9.6").Extract(); !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		t.Fatalf("inactive version: got %v, want 404", err)
	}
}

func TestQuotaIsEnforcedOnConcurrentCreates(t *testing.T) {
	h := newHarness(t)
	demo, admin := h.login("demo"), h.login("admin")
	r := h.do(http.MethodPut, "/v1.0/"+admin.projectID+"/mgmt/quotas/"+demo.projectID, admin.token, map[string]any{"quotas": map[string]any{"instances": 2}})
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"instances":2`) {
		t.Fatalf("set quotas: got %d %s", r.status, r.body)
	}
	if r := h.do(http.MethodPut, "/v1.0/"+demo.projectID+"/mgmt/quotas/"+demo.projectID, demo.token, map[string]any{"quotas": map[string]any{"instances": 100}}); r.status != http.StatusForbidden {
		t.Fatalf("a member sets quotas: got %d %s, want 403", r.status, r.body)
	}
	var wg sync.WaitGroup
	codes := make(chan response, 6)
	for i := range 6 {
		wg.Go(func() {
			codes <- h.do(http.MethodPost, "/v1.0/"+demo.projectID+"/instances", demo.token, map[string]any{"instance": map[string]any{
				"name": fmt.Sprintf("q%d", i), "flavorRef": "ds512M", "volume": map[string]any{"size": 1}}})
		})
	}
	wg.Wait()
	close(codes)
	ok := 0
	for r := range codes {
		switch r.status {
		case http.StatusOK:
			ok++
		default:
			msg := wantFault(t, "create past the quota", r, http.StatusRequestEntityTooLarge, "overLimit")
			if !strings.HasPrefix(msg, "Quota exceeded for resources: ['instances']") {
				t.Errorf("got message %q", msg)
			}
		}
	}
	if ok != 2 {
		t.Fatalf("got %d creates through, want 2", ok)
	}
	r = h.do(http.MethodGet, "/v1.0/"+admin.projectID+"/mgmt/quotas/"+demo.projectID, admin.token, nil)
	if !strings.Contains(string(r.body), `{"resource":"instances","limit":2,"in_use":2,"reserved":0}`) {
		t.Fatalf("quotas: got %s", r.body)
	}
	r = h.do(http.MethodGet, "/v1.0/"+demo.projectID+"/limits", demo.token, nil)
	if !strings.Contains(string(r.body), `"verb":"ABSOLUTE","max_instances":2,"max_backups":50,"max_volumes":1000`) {
		t.Fatalf("limits: got %s", r.body)
	}
}

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
