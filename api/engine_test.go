package api_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/databases"
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
