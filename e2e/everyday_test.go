package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/databases"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/datastores"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/flavors"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/instances"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/users"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/coffer-dbaas/coffer/api"
)

// hostileSQL is what a tenant who owns the database tries in order to reach the server's OS or
// the agent's roles; every one must be refused for want of privilege (plpython3u may also
// be missing from the image).
var hostileSQL = []string{
	"COPY (SELECT 1) TO PROGRAM 'id'",
	"CREATE TEMP TABLE loot (line text); COPY loot FROM PROGRAM 'id'",
	"CREATE TEMP TABLE loot (line text); COPY loot FROM '/etc/passwd'",
	"COPY (SELECT 1) TO '/tmp/coffer-escape'",
	"SELECT pg_read_file('PG_VERSION')",
	"SELECT pg_read_binary_file('/etc/passwd')",
	"SELECT lo_import('/etc/passwd')",
	"CREATE EXTENSION plpython3u",
	"CREATE EXTENSION adminpack",
	"CREATE EXTENSION file_fdw",
	"CREATE LANGUAGE escape HANDLER plpgsql_call_handler",
	"CREATE FUNCTION pg_temp.escape() RETURNS int LANGUAGE c AS 'libc.so.6', 'getpid'",
	"ALTER SYSTEM SET work_mem = '1MB'",
	"GRANT pg_execute_server_program TO CURRENT_USER",
	"GRANT pg_read_server_files TO CURRENT_USER",
	"ALTER ROLE CURRENT_USER SUPERUSER",
	"CREATE ROLE escape SUPERUSER",
	"ALTER ROLE coffer_agent PASSWORD 'taken'",
	"SET ROLE coffer_agent",
}

// canConnect reports whether user connects to db on the instance with password.
func canConnect(inst *instances.Instance, user, password, db string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, fmt.Sprintf("host=%s port=5432 user=%s password=%s dbname=%s sslmode=disable", inst.IP[0], user, password, db))
	if err != nil {
		return false
	}
	conn.Close(ctx)
	return true
}

// eventually retries check for up to 30 s: a change answered 202 may still run.
func eventually(t *testing.T, what string, check func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !check() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after 30 s", what)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// raw sends a request with a token and returns the status and the body.
func raw(t testing.TB, token, method, url string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, r)
	req.Header.Set("X-Auth-Token", token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func dbNames(t *testing.T, who tenant, id string) []string {
	t.Helper()
	page, err := databases.List(who.db, id).AllPages(context.Background())
	if err != nil {
		t.Fatalf("list databases: %v", err)
	}
	dbs, err := databases.ExtractDBs(page)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range dbs {
		names = append(names, d.Name)
	}
	return names
}

func userList(t *testing.T, who tenant, id string) []users.User {
	t.Helper()
	page, err := users.List(who.db, id).AllPages(context.Background())
	if err != nil {
		t.Fatalf("list users: %v", err)
	}
	us, err := users.ExtractUsers(page)
	if err != nil {
		t.Fatal(err)
	}
	return us
}

func TestEverydayAPIOnOneInstance(t *testing.T) {
	ctx := context.Background()
	demo, alt, admin := login(t, "demo"), login(t, "alt_demo"), login(t, "admin")
	clerkPassword := randomPassword(t)
	inst := sourceInstance(t, demo, "everyday", clerkPassword)
	id := inst.ID
	base := "/instances/" + id

	t.Run("CompatibilityDatabases", func(t *testing.T) {
		err := databases.Create(ctx, demo.db, id, databases.BatchCreateOpts{{Name: "ledger"}, {Name: "latin", CharSet: "LATIN1", Collate: "C"}}).ExtractErr()
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		eventually(t, "databases listed", func() bool {
			return slices.Equal(dbNames(t, demo, id), []string{"latin", "ledger", "shop"})
		})
		// Pages of one follow databases_links to the end.
		var pages int
		page := cloud.APIURL + "/v1.0/" + demo.projectID + base + "/databases?limit=1"
		var seen []string
		for page != "" && pages < 10 {
			pages++
			code, body := raw(t, demo.provider.Token(), http.MethodGet, page, nil)
			var out struct {
				Databases []struct{ Name string }      `json:"databases"`
				Links     []struct{ Href, Rel string } `json:"databases_links"`
			}
			if code != http.StatusOK || json.Unmarshal(body, &out) != nil {
				t.Fatalf("page %s: %d %s", page, code, body)
			}
			for _, d := range out.Databases {
				seen = append(seen, d.Name)
			}
			page = ""
			if len(out.Links) == 1 {
				page = out.Links[0].Href
			}
		}
		if fmt.Sprint(seen) != "[latin ledger shop]" || pages != 3 {
			t.Fatalf("paging by one: got %v in %d pages", seen, pages)
		}
		if err := databases.Delete(ctx, demo.db, id, "latin").ExtractErr(); err != nil {
			t.Fatal(err)
		}
		eventually(t, "latin gone", func() bool { return !slices.Contains(dbNames(t, demo, id), "latin") })
	})

	t.Run("CompatibilityUsersConnectOnlyToTheirDatabases", func(t *testing.T) {
		pw := randomPassword(t)
		err := users.Create(ctx, demo.db, id, users.BatchCreateOpts{{Name: "auditor", Password: pw, Databases: databases.BatchCreateOpts{{Name: "ledger"}}}}).ExtractErr()
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		eventually(t, "auditor listed with ledger", func() bool {
			for _, u := range userList(t, demo, id) {
				if u.Name == "auditor" && len(u.Databases) == 1 && u.Databases[0].Name == "ledger" {
					return true
				}
			}
			return false
		})
		if !canConnect(inst, "auditor", pw, "ledger") {
			t.Fatal("auditor cannot connect to its database")
		}
		if canConnect(inst, "auditor", pw, "shop") {
			t.Fatal("auditor connects to shop, which it was not given")
		}
		// Grant and revoke.
		if code := call(t, demo, http.MethodPut, base+"/users/auditor/databases", map[string]any{"databases": []any{map[string]any{"name": "shop"}}}, nil); code != http.StatusAccepted {
			t.Fatalf("grant: %d", code)
		}
		eventually(t, "auditor reaches shop after the grant", func() bool { return canConnect(inst, "auditor", pw, "shop") })
		var access struct {
			Databases []struct{ Name string } `json:"databases"`
		}
		if code := call(t, demo, http.MethodGet, base+"/users/auditor/databases", nil, &access); code != http.StatusOK || len(access.Databases) != 2 {
			t.Fatalf("access: %d %+v", code, access)
		}
		if code := call(t, demo, http.MethodDelete, base+"/users/auditor/databases/shop", nil, nil); code != http.StatusAccepted {
			t.Fatalf("revoke: %d", code)
		}
		eventually(t, "auditor loses shop", func() bool { return !canConnect(inst, "auditor", pw, "shop") })

		// A new password: the old one fails, the new one works.
		newPw := randomPassword(t)
		if code := call(t, demo, http.MethodPut, base+"/users", map[string]any{"users": []any{map[string]any{"name": "auditor", "password": newPw}}}, nil); code != http.StatusAccepted {
			t.Fatalf("change password: %d", code)
		}
		eventually(t, "the new password works", func() bool { return canConnect(inst, "auditor", newPw, "ledger") })
		if canConnect(inst, "auditor", pw, "ledger") {
			t.Fatal("the old password still works")
		}

		// Rename with a host: name@host round-trips.
		if code := call(t, demo, http.MethodPut, base+"/users/auditor", map[string]any{"user": map[string]any{"name": "inspector", "host": "10.1.%"}}, nil); code != http.StatusAccepted {
			t.Fatalf("update: %d", code)
		}
		var shown struct {
			User struct{ Name, Host string } `json:"user"`
		}
		eventually(t, "inspector@10.1.% shown", func() bool {
			return call(t, demo, http.MethodGet, base+"/users/"+url.PathEscape("inspector@10.1.%"), nil, &shown) == http.StatusOK
		})
		if shown.User.Host != "10.1.%" || !canConnect(inst, "inspector", newPw, "ledger") || canConnect(inst, "auditor", newPw, "ledger") {
			t.Fatalf("after the rename: got %+v; inspector must connect and auditor not", shown.User)
		}
		if err := users.Delete(ctx, demo.db, id, url.PathEscape("inspector@10.1.%")).ExtractErr(); err != nil {
			t.Fatal(err)
		}
		eventually(t, "inspector gone", func() bool { return !canConnect(inst, "inspector", newPw, "ledger") })
		for _, u := range userList(t, demo, id) {
			if u.Name != "clerk" {
				t.Fatalf("users left: %+v, want only clerk", u)
			}
		}
	})

	t.Run("CompatibilityRootIsAMasterUserThatCannotLeaveTheDatabase", func(t *testing.T) {
		if on, err := instances.IsRootEnabled(ctx, demo.db, id).Extract(); err != nil || on {
			t.Fatalf("root before enable: %v, %v", on, err)
		}
		root, err := instances.EnableRootUser(ctx, demo.db, id).Extract()
		if err != nil || root.Name != "root" || root.Password == "" {
			t.Fatalf("enable root: %+v, %v", root, err)
		}
		conn := connectAs(t, inst, "root", root.Password, "postgres")
		var super bool
		if err := conn.QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super); err != nil || super {
			t.Fatalf("root is superuser: %v, %v, want false", super, err)
		}
		conn.Close(ctx)
		// What a tenant who owns the database tries, as root and as a user the API made.
		for _, who := range []struct{ user, password string }{{"root", root.Password}, {"clerk", clerkPassword}} {
			for _, sql := range hostileSQL {
				conn := connectAs(t, inst, who.user, who.password, "shop")
				_, err := conn.Exec(ctx, sql)
				var pgErr *pgconn.PgError
				if !errors.As(err, &pgErr) || (pgErr.Code != "42501" && !(strings.Contains(sql, "plpython3u") && pgErr.Code == "0A000")) {
					t.Errorf("%s: %s: got %v, want it refused for want of privilege (SQLSTATE 42501)", who.user, sql, err)
				}
				conn.Close(ctx)
			}
		}
		// What a master user still does: databases, roles, and everyone's tables.
		clerk := connectAs(t, inst, "clerk", clerkPassword, "shop")
		execSQL(t, clerk, "CREATE TABLE till (id int PRIMARY KEY, note text); INSERT INTO till VALUES (1, 'clerk')")
		conn = connectAs(t, inst, "root", root.Password, "shop")
		for _, sql := range []string{
			"CREATE DATABASE rootmade",
			"CREATE ROLE reporter LOGIN PASSWORD 'reporter-secret'",
			"GRANT CONNECT ON DATABASE shop TO reporter",
			"GRANT pg_read_all_data TO reporter",
			"UPDATE till SET note = 'root was here' WHERE id = 1",
			"INSERT INTO till VALUES (2, 'root')",
			"CREATE TABLE rootmade (id int)",
		} {
			execSQL(t, conn, sql)
		}
		var notes int
		reporter := connectAs(t, inst, "reporter", "reporter-secret", "shop")
		if err := reporter.QueryRow(ctx, "SELECT count(*) FROM till WHERE note IN ('root was here', 'root')").Scan(&notes); err != nil || notes != 2 {
			t.Fatalf("root's writes to clerk's table: got %d, %v, want 2", notes, err)
		}
		reporter.Close(ctx)
		execSQL(t, conn, "DROP TABLE rootmade; REVOKE CONNECT ON DATABASE shop FROM reporter; DROP ROLE reporter")
		execSQL(t, conn, "DROP DATABASE rootmade")
		execSQL(t, clerk, "DROP TABLE till")
		clerk.Close(ctx)
		conn.Close(ctx)
		if on, err := instances.IsRootEnabled(ctx, demo.db, id).Extract(); err != nil || !on {
			t.Fatalf("root after enable: %v, %v", on, err)
		}
		var history struct {
			RootHistory struct{ Enabled, ID, User string } `json:"root_history"`
		}
		if code := call(t, admin, http.MethodGet, "/mgmt/instances/"+id+"/root", nil, &history); code != http.StatusOK || history.RootHistory.ID != id || history.RootHistory.Enabled == "Never" {
			t.Fatalf("root history: %d %+v", code, history)
		}
		code, body := raw(t, demo.provider.Token(), http.MethodDelete, cloud.APIURL+"/v1.0/"+demo.projectID+base+"/root", nil)
		if code != http.StatusNoContent {
			t.Fatalf("disable root: %d %s", code, body)
		}
		if canConnect(inst, "root", root.Password, "postgres") {
			t.Fatal("root connects after disable")
		}
		wantNoSecretInHistories(t, id, root.Password)
	})

	t.Run("CompatibilityFlavorsDatastoresQuotas", func(t *testing.T) {
		page, err := flavors.List(demo.db).AllPages(ctx)
		if err != nil {
			t.Fatal(err)
		}
		fs, _ := flavors.ExtractFlavors(page)
		if len(fs) != 6 || !slices.ContainsFunc(fs, func(f flavors.Flavor) bool { return f.StrID == "ds512M" && f.RAM == 512 && f.ID == 0 }) {
			t.Fatalf("flavors: got %+v", fs)
		}
		f, err := flavors.Get(ctx, demo.db, "ds2G").Extract()
		if err != nil || f.RAM != 2048 || f.Name != "ds2G" {
			t.Fatalf("flavor ds2G: %+v, %v", f, err)
		}
		page, err = datastores.List(demo.db).AllPages(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ds, _ := datastores.ExtractDatastores(page)
		// Sorted by name: mariadb 10.11, postgresql 15 and redis 7 are offered.
		if len(ds) != 3 || ds[0].Name != "mariadb" || ds[1].Name != "postgresql" || ds[2].Name != "redis" || len(ds[1].Versions) != 1 || ds[1].DefaultVersion != ds[1].Versions[0].ID {
			t.Fatalf("datastores: got %+v, want mariadb, postgresql with its default version 15, and redis", ds)
		}
		d, err := datastores.Get(ctx, demo.db, ds[1].ID).Extract()
		if err != nil || d.Name != "postgresql" {
			t.Fatalf("datastore by ID: %+v, %v", d, err)
		}
		page, err = datastores.ListVersions(demo.db, "postgresql").AllPages(ctx)
		if err != nil {
			t.Fatal(err)
		}
		vs, _ := datastores.ExtractVersions(page)
		if len(vs) != 1 || vs[0].Name != "15" {
			t.Fatalf("versions: %+v", vs)
		}
		v, err := datastores.GetVersion(ctx, demo.db, "postgresql", vs[0].ID).Extract()
		if err != nil || v.Name != "15" {
			t.Fatalf("version: %+v, %v", v, err)
		}
		// gophercloud v2.15 has no quotas package; this is its Get's shape.
		var quotas struct {
			Quotas []struct {
				Resource string `json:"resource"`
				Limit    int    `json:"limit"`
				InUse    int    `json:"in_use"`
				Reserved int    `json:"reserved"`
			} `json:"quotas"`
		}
		if code := call(t, admin, http.MethodGet, "/mgmt/quotas/"+demo.projectID, nil, &quotas); code != http.StatusOK {
			t.Fatalf("quotas: %d", code)
		}
		got := map[string][2]int{}
		for _, q := range quotas.Quotas {
			got[q.Resource] = [2]int{q.Limit, q.InUse}
		}
		if got["instances"][1] < 1 || got["volumes"][1] < 1 || got["ram"][1] < 512 || got["instances"][0] != 10 {
			t.Fatalf("quotas: got %+v, want this instance counted", quotas)
		}
		var limits struct {
			Limits []map[string]any `json:"limits"`
		}
		if code := call(t, demo, http.MethodGet, "/limits", nil, &limits); code != http.StatusOK || len(limits.Limits) != 1 || limits.Limits[0]["verb"] != "ABSOLUTE" {
			t.Fatalf("limits: %d %+v", code, limits)
		}
	})

	t.Run("BadInputChangesNothing", func(t *testing.T) {
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
		state := func() string {
			return fmt.Sprint(dbNames(t, demo, id), userList(t, demo, id))
		}
		before := state()
		for _, tt := range []struct {
			name, method, path string
			body               any
			code               int
			fault              string
		}{
			{"blank database", http.MethodPost, "/databases", dbs(""), 400, "badRequest"},
			{"over-long database", http.MethodPost, "/databases", dbs(strings.Repeat("d", 64)), 400, "badRequest"},
			{"quoted database", http.MethodPost, "/databases", dbs(`it's`), 400, "badRequest"},
			{"semicolon database", http.MethodPost, "/databases", dbs("a;b"), 400, "badRequest"},
			{"injected database", http.MethodPost, "/databases", dbs(injected), 400, "badRequest"},
			{"system database", http.MethodPost, "/databases", dbs("postgres"), 400, "badRequest"},
			{"existing database", http.MethodPost, "/databases", dbs("shop"), 400, "badRequest"},
			{"drop template1", http.MethodDelete, "/databases/template1", nil, 400, "badRequest"},
			{"drop injected", http.MethodDelete, "/databases/" + url.PathEscape(injected), nil, 400, "badRequest"},
			{"drop missing database", http.MethodDelete, "/databases/nothere", nil, 404, "itemNotFound"},
			{"blank user", http.MethodPost, "/users", user("", "long-enough"), 400, "badRequest"},
			{"injected user", http.MethodPost, "/users", user(injected, "long-enough"), 400, "badRequest"},
			{"agent user", http.MethodPost, "/users", user("coffer_agent", "long-enough"), 400, "badRequest"},
			{"existing user", http.MethodPost, "/users", user("clerk", "long-enough"), 400, "badRequest"},
			{"short password", http.MethodPost, "/users", user("newbie", "short"), 400, "badRequest"},
			{"user of a missing database", http.MethodPost, "/users", user("newbie", "long-enough", "nothere"), 400, "badRequest"},
			{"grant a missing database", http.MethodPut, "/users/clerk/databases", dbs("nothere"), 404, "itemNotFound"},
			{"grant an injected database", http.MethodPut, "/users/clerk/databases", dbs(injected), 400, "badRequest"},
			{"delete postgres user", http.MethodDelete, "/users/postgres", nil, 400, "badRequest"},
			{"delete missing user", http.MethodDelete, "/users/nobody", nil, 404, "itemNotFound"},
			{"short root password", http.MethodPost, "/root", map[string]any{"password": "abc"}, 400, "badRequest"},
		} {
			code, body := raw(t, demo.provider.Token(), tt.method, cloud.APIURL+"/v1.0/"+demo.projectID+base+tt.path, tt.body)
			var fault map[string]struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			}
			if code != tt.code || json.Unmarshal(body, &fault) != nil || len(fault) != 1 || fault[tt.fault].Code != tt.code || fault[tt.fault].Message == "" {
				t.Errorf("%s: got %d %s, want %d %s", tt.name, code, body, tt.code, tt.fault)
			}
		}
		if after := state(); after != before {
			t.Fatalf("the instance changed: %s, was %s", after, before)
		}
		if !canConnect(inst, "clerk", clerkPassword, "shop") {
			t.Fatal("clerk no longer connects")
		}
	})

	t.Run("AnotherProjectSeesOnly403Or404", func(t *testing.T) {
		bodies := map[string]any{
			"POST /instances/{id}/databases":             map[string]any{"databases": []any{map[string]any{"name": "stolen"}}},
			"POST /instances/{id}/users":                 map[string]any{"users": []any{map[string]any{"name": "thief", "password": "long-enough"}}},
			"PUT /instances/{id}/users":                  map[string]any{"users": []any{map[string]any{"name": "clerk", "password": "long-enough"}}},
			"PUT /instances/{id}/users/{user}":           map[string]any{"user": map[string]any{"password": "long-enough"}},
			"PUT /instances/{id}/users/{user}/databases": map[string]any{"databases": []any{map[string]any{"name": "shop"}}},
			"POST /instances/{id}/root":                  map[string]any{},
			"PUT /instances/{id}":                        map[string]any{"instance": map[string]any{"name": "stolen"}},
			"POST /instances/{id}/action":                map[string]any{"restart": map[string]any{}},
		}
		params := map[string]string{"id": id, "name": "shop", "user": "clerk", "database": "shop", "flavor_id": "ds512M",
			"datastore": "postgresql", "version": "15", "project": demo.projectID}
		fill := func(path, project string) string {
			path = strings.ReplaceAll(path, "{project_id}", project)
			for {
				i := strings.Index(path, "{")
				if i < 0 {
					return path
				}
				j := strings.Index(path[i:], "}") + i
				v, ok := params[path[i+1:j]]
				if !ok {
					v = id
				}
				path = path[:i] + v + path[j+1:]
			}
		}
		spec := api.Spec()
		walked := 0
		for path, item := range spec.Paths {
			if !strings.HasPrefix(path, "/v1.0/{project_id}") {
				continue
			}
			for method, op := range map[string]*huma.Operation{"GET": item.Get, "POST": item.Post, "PUT": item.Put, "PATCH": item.Patch, "DELETE": item.Delete} {
				if op == nil {
					continue
				}
				key := method + " " + strings.TrimPrefix(path, "/v1.0/{project_id}")
				body := bodies[key]
				if body == nil && method != "GET" && method != "DELETE" {
					body = map[string]any{}
				}
				// The owner's project in the path: 403, whatever the route.
				code, got := raw(t, alt.provider.Token(), method, cloud.APIURL+fill(path, demo.projectID), body)
				if code != http.StatusForbidden || strings.Contains(string(got), "clerk") {
					t.Errorf("%s with the owner's project: got %d %s, want 403", key, code, got)
				}
				walked++
				// The other project's own path naming the owner's instance: 404 (403 for mgmt).
				if !strings.Contains(path, "{id}") || (method != "GET" && method != "DELETE" && bodies[key] == nil) {
					continue
				}
				code, got = raw(t, alt.provider.Token(), method, cloud.APIURL+fill(path, alt.projectID), body)
				if (code != http.StatusNotFound && code != http.StatusForbidden) || strings.Contains(string(got), "clerk") || strings.Contains(string(got), `"shop"`) {
					t.Errorf("%s with its own project: got %d %s, want 403 or 404", key, code, got)
				}
			}
		}
		if walked < 25 {
			t.Fatalf("walked %d routes, want every route", walked)
		}
		if got := fmt.Sprint(dbNames(t, demo, id)); strings.Contains(got, "stolen") {
			t.Fatalf("another project changed the instance: %s", got)
		}
	})
}

// wantNoSecretInHistories checks that no workflow of the instance holds secret in plain
// text.
func wantNoSecretInHistories(t *testing.T, instanceID, secret string) {
	t.Helper()
	resp, err := cloud.Client.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: "CofferInstanceID = '" + instanceID + "'"})
	if err != nil {
		t.Fatal(err)
	}
	for _, ex := range resp.Executions {
		wantNoSecretInHistory(t, ex.Execution.WorkflowId, secret)
	}
}

func TestQuotaHoldsAgainstConcurrentCreates(t *testing.T) {
	ctx := context.Background()
	demo, admin := login(t, "demo"), login(t, "admin")
	var quotas struct {
		Quotas []struct {
			Resource string `json:"resource"`
			Limit    int    `json:"limit"`
			InUse    int    `json:"in_use"`
		} `json:"quotas"`
	}
	if code := call(t, admin, http.MethodGet, "/mgmt/quotas/"+demo.projectID, nil, &quotas); code != http.StatusOK {
		t.Fatalf("quotas: %d", code)
	}
	inUse, limit := 0, 0
	for _, q := range quotas.Quotas {
		if q.Resource == "instances" {
			inUse, limit = q.InUse, q.Limit
		}
	}
	if code := call(t, admin, http.MethodPut, "/mgmt/quotas/"+demo.projectID, map[string]any{"quotas": map[string]any{"instances": inUse + 1}}, nil); code != http.StatusOK {
		t.Fatalf("set quota: %d", code)
	}
	t.Cleanup(func() {
		call(t, admin, http.MethodPut, "/mgmt/quotas/"+demo.projectID, map[string]any{"quotas": map[string]any{"instances": limit}}, nil)
	})
	const n = 4
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created []string
		over    int
	)
	for i := range n {
		wg.Go(func() {
			inst, err := instances.Create(ctx, demo.db, postgresOpts(fmt.Sprintf("racer-%d", i))).Extract()
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				created = append(created, inst.ID)
			case gophercloud.ResponseCodeIs(err, http.StatusRequestEntityTooLarge):
				over++
				if !strings.Contains(err.Error(), "Quota exceeded for resources: ['instances']") {
					t.Errorf("over quota: got %v, want Trove's message", err)
				}
			default:
				t.Errorf("create racer-%d: %v", i, err)
			}
		})
	}
	wg.Wait()
	for _, id := range created {
		// A building instance cannot be deleted yet (422): it is let finish first.
		t.Cleanup(func() {
			waitStatus(t, demo.db, id, "ACTIVE", 4*time.Minute)
			deleteInstance(t, demo, id)
		})
	}
	if len(created) != 1 || over != n-1 {
		t.Fatalf("got %d creates through and %d refused, want 1 and %d", len(created), over, n-1)
	}
}
