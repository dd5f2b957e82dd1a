package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/coffer-dbaas/coffer/catalog"
)

// hostileRequest is a request a hostile or careless client sends, and the status it must
// get. as names who sends it: "" is demo, the owner of the instance; "admin" and "none" (no
// token) are the others.
type hostileRequest struct {
	name        string
	as          string
	method      string
	path        string // {P} is the caller's project path, {I} demo's instance, {T} alt's
	body        any    // a string is sent as it is
	contentType string // default application/json when there is a body
	status      int
}

// state is everything a request could change: the catalog's instances, backups and quotas,
// the workflows started and the guest's engine.
func (h *harness) state(instanceID, projectID string) string {
	h.t.Helper()
	ctx := context.Background()
	backups, err := h.catalog.ListBackups(ctx, catalog.BackupFilter{})
	if err != nil {
		h.t.Fatal(err)
	}
	quotas, err := h.catalog.ProjectQuotas(ctx, projectID, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	versions, err := h.catalog.ListVersionDetails(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	w := h.workflows
	w.mu.Lock()
	started := fmt.Sprint(len(w.creates), len(w.deletes), len(w.replications), len(w.backups), len(w.backupDeletes), len(w.schedules),
		len(w.operations.restarts), len(w.operations.resizeFlavors), len(w.operations.resizeVolumes), len(w.operations.stops), len(w.operations.signals))
	w.mu.Unlock()
	b, err := json.Marshal([]any{h.instances(), backups, quotas, versions, started, w.snapshot(instanceID)})
	if err != nil {
		h.t.Fatal(err)
	}
	return string(b)
}

// send sends a hostile request as it is: its body unchanged, its content type as given.
func (h *harness) send(method, path, token, contentType string, body any) response {
	h.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, h.url+path, r)
	if err != nil {
		h.t.Fatal(err)
	}
	if body != nil {
		if contentType == "" {
			contentType = "application/json"
		}
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// TestHostileRequestsChangeNothing sends malformed and abusive requests to every kind of
// route: NUL bytes and bad encodings, IDs that are not IDs, names and passwords the engine
// would refuse, wrong types, sizes and content types, missing fields, other projects'
// resources. Each must get its 4xx Trove fault, none a 500, and none may change anything.
func TestHostileRequestsChangeNothing(t *testing.T) {
	h := newHarness(t)
	demo, alt, admin := h.login("demo"), h.login("alt_demo"), h.login("admin")
	id := h.activeInstance(demo.projectID)
	theirs := h.activeInstance(alt.projectID)

	instance := func(change func(map[string]any)) map[string]any {
		i := map[string]any{"name": "hostile", "flavorRef": "ds512M", "volume": map[string]any{"size": 1}}
		change(i)
		return map[string]any{"instance": i}
	}
	withUser := func(u map[string]any) map[string]any {
		return instance(func(i map[string]any) { i["users"] = []any{u} })
	}
	withDatabase := func(d map[string]any) map[string]any {
		return instance(func(i map[string]any) { i["databases"] = []any{d} })
	}
	resize := func(r any) map[string]any { return map[string]any{"resize": r} }
	backup := func(change func(map[string]any)) map[string]any {
		b := map[string]any{"name": "hostile", "instance": id}
		change(b)
		return map[string]any{"backup": b}
	}
	schedule := func(change func(map[string]any)) map[string]any {
		s := map[string]any{"name": "hostile", "cron": "0 3 * * *", "keep": 3}
		change(s)
		return map[string]any{"backup_schedule": s}
	}
	users := func(u map[string]any) map[string]any { return map[string]any{"users": []any{u}} }
	long := strings.Repeat("n", 256)

	const (
		get, post, put, del, patch                                                    = http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch
		bad, unauth, forbid, notFound, badMethod, tooLarge, badMedia, notImpl, unproc = 400, 401, 403, 404, 405, 413, 415, 501, 422
	)
	requests := []hostileRequest{
		// NUL bytes, control characters and bytes that are not UTF-8, wherever text goes.
		{name: "NUL in a list marker", method: get, path: "{P}/instances?marker=%00", status: bad},
		{name: "NUL in a backup filter", method: get, path: "{P}/backups?datastore=%00", status: bad},
		{name: "NUL in a backup instance filter", method: get, path: "{P}/backups?instance_id=%00", status: bad},
		{name: "NUL in a flavor filter", method: get, path: "{P}/flavors?datastore_type=%00", status: bad},
		{name: "NUL in a detail list limit", method: get, path: "{P}/instances/detail?limit=%00", status: bad},
		{name: "NUL in an instance path", method: get, path: "{P}/instances/%00", status: bad},
		{name: "NUL in a datastore path", method: get, path: "{P}/datastores/%00", status: bad},
		{name: "NUL in a datastore version path", method: get, path: "{P}/datastores/postgresql/versions/%00", status: bad},
		{name: "NUL in a quota path", as: "admin", method: get, path: "{P}/mgmt/quotas/%00", status: bad},
		{name: "NUL in a database path", method: del, path: "{P}/instances/{I}/databases/%00", status: bad},
		{name: "NUL in a user path", method: get, path: "{P}/instances/{I}/users/%00", status: bad},
		{name: "NUL in a query key", method: get, path: "{P}/instances?%00=1", status: bad},
		{name: "byte that is not UTF-8 in a marker", method: get, path: "{P}/instances?marker=%ff", status: bad},
		{name: "byte that is not UTF-8 in a path", method: get, path: "{P}/instances/%c3%28", status: bad},
		{name: "newline in a marker", method: get, path: "{P}/instances?marker=a%0Ab", status: bad},
		{name: "malformed query escape", method: get, path: "{P}/instances?marker=%zz", status: bad},
		{name: "NUL in an instance name", method: post, path: "{P}/instances", body: instance(func(i map[string]any) { i["name"] = "a\x00b" }), status: bad},
		{name: "bell in an instance name", method: post, path: "{P}/instances", body: instance(func(i map[string]any) { i["name"] = "a\ab" }), status: bad},
		{name: "body that is not UTF-8", method: post, path: "{P}/instances", body: []byte("{\"instance\": {\"name\": \"\xff\xfe\", \"flavorRef\": \"ds512M\", \"volume\": {\"size\": 1}}}"), status: bad},
		{name: "NUL in a key", method: post, path: "{P}/instances", body: `{"instance": {"name": "x", "flavorRef": "ds512M", "volume": {"size": 1}, "nics\u0000": []}}`, status: bad},
		{name: "NUL in a datastore type", method: post, path: "{P}/instances", body: instance(func(i map[string]any) { i["datastore"] = map[string]any{"type": "postgresql\x00"} }), status: bad},
		{name: "NUL in a datastore version", method: post, path: "{P}/instances", body: instance(func(i map[string]any) { i["datastore"] = map[string]any{"version": "\x0015"} }), status: bad},
		{name: "NUL in a user's password", method: post, path: "{P}/instances", body: withUser(map[string]any{"name": "app", "password": "long-enough\x00"}), status: bad},
		{name: "NUL in a backup name", method: post, path: "{P}/backups", body: backup(func(b map[string]any) { b["name"] = "\x00" }), status: bad},
		{name: "NUL in a backup description", method: post, path: "{P}/backups", body: backup(func(b map[string]any) { b["description"] = "x\x00y" }), status: bad},
		{name: "tab in a backup name", method: post, path: "{P}/backups", body: backup(func(b map[string]any) { b["name"] = "a\tb" }), status: bad},
		{name: "NUL in a database name", method: post, path: "{P}/instances/{I}/databases", body: map[string]any{"databases": []any{map[string]any{"name": "db\x00"}}}, status: bad},
		{name: "NUL in a new user's password", method: post, path: "{P}/instances/{I}/users", body: users(map[string]any{"name": "clerk", "password": "long-enough\x00"}), status: bad},
		{name: "NUL in a changed password", method: put, path: "{P}/instances/{I}/users", body: users(map[string]any{"name": "clerk", "password": "\x00long-enough"}), status: bad},
		{name: "NUL in a user update", method: put, path: "{P}/instances/{I}/users/clerk", body: map[string]any{"user": map[string]any{"password": "long\x00enough"}}, status: bad},
		{name: "NUL in a root password", method: post, path: "{P}/instances/{I}/root", body: map[string]any{"password": "long-enough\x00"}, status: bad},
		{name: "NUL in a rename", method: put, path: "{P}/instances/{I}", body: map[string]any{"instance": map[string]any{"name": "x\x00"}}, status: bad},
		{name: "newline in a rename", method: put, path: "{P}/instances/{I}", body: map[string]any{"instance": map[string]any{"name": "x\ny"}}, status: bad},
		{name: "NUL in a schedule name", method: post, path: "{P}/instances/{I}/backup-schedules", body: schedule(func(s map[string]any) { s["name"] = "\x00" }), status: bad},
		{name: "NUL in a quota resource", as: "admin", method: put, path: "{P}/mgmt/quotas/x", body: map[string]any{"quotas": map[string]any{"instances\x00": 1}}, status: bad},
		{name: "NUL in a version name", as: "admin", method: post, path: "{P}/mgmt/datastore-versions", body: map[string]any{"version": map[string]any{"name": "1\x005", "datastore_name": "postgresql", "datastore_manager": "postgresql", "image_tags": []any{"x"}, "active": true}}, status: bad},

		// Flavor references that are not IDs must not reach Nova's URL.
		{name: "flavorRef with a query", method: post, path: "{P}/instances", body: instance(func(i map[string]any) { i["flavorRef"] = "ds512M?x=1" }), status: bad},
		{name: "flavorRef with a fragment", method: post, path: "{P}/instances", body: instance(func(i map[string]any) { i["flavorRef"] = "ds512M#frag" }), status: bad},
		{name: "flavorRef ..", method: post, path: "{P}/instances", body: instance(func(i map[string]any) { i["flavorRef"] = ".." }), status: bad},
		{name: "flavorRef ending in ..", method: post, path: "{P}/instances", body: instance(func(i map[string]any) { i["flavorRef"] = "ds512M/.." }), status: bad},
		{name: "flavorRef href with a query", method: post, path: "{P}/instances", body: instance(func(i map[string]any) { i["flavorRef"] = "http://nova/flavors/ds1G?x=1" }), status: bad},
		{name: "flavorRef with a space", method: post, path: "{P}/instances", body: instance(func(i map[string]any) { i["flavorRef"] = "ds 1G" }), status: bad},
		{name: "flavorRef with an escape", method: post, path: "{P}/instances", body: instance(func(i map[string]any) { i["flavorRef"] = "%2e%2e" }), status: bad},
		{name: "flavorRef a boolean", method: post, path: "{P}/instances", body: instance(func(i map[string]any) { i["flavorRef"] = true }), status: bad},
		{name: "flavorRef an object", method: post, path: "{P}/instances", body: instance(func(i map[string]any) { i["flavorRef"] = map[string]any{} }), status: bad},
		{name: "flavorRef unknown", method: post, path: "{P}/instances", body: instance(func(i map[string]any) { i["flavorRef"] = "ds1T" }), status: bad},
		{name: "flavorRef too long", method: post, path: "{P}/instances", body: instance(func(i map[string]any) { i["flavorRef"] = long }), status: bad},
		{name: "flavor path traversal", method: get, path: "{P}/flavors/..%2Fflavors%2Fds1G", status: bad},
		{name: "flavor path with a query", method: get, path: "{P}/flavors/ds512M%3Fx%3D1", status: bad},
		{name: "flavor path with a fragment", method: get, path: "{P}/flavors/ds512M%23frag", status: bad},
		{name: "flavor path ..", method: get, path: "{P}/flavors/%2e%2e", status: bad},
		{name: "flavor path unknown", method: get, path: "{P}/flavors/ds1T", status: notFound},
		{name: "resize to a flavorRef with a query", method: post, path: "{P}/instances/{I}/action", body: resize(map[string]any{"flavorRef": "ds512M?x"}), status: bad},
		{name: "resize to a flavorRef with a fragment", method: post, path: "{P}/instances/{I}/action", body: resize(map[string]any{"flavorRef": "ds2G#x"}), status: bad},
		{name: "resize to a flavorRef ..", method: post, path: "{P}/instances/{I}/action", body: resize(map[string]any{"flavorRef": ".."}), status: bad},
		{name: "resize to an unknown flavor", method: post, path: "{P}/instances/{I}/action", body: resize(map[string]any{"flavorRef": "ds1T"}), status: bad},

		// What the guest would refuse later is refused now.
		{name: "user root", method: post, path: "{P}/instances", body: withUser(map[string]any{"name": "root", "password": "long-enough"}), status: bad},
		{name: "user pg_monitor", method: post, path: "{P}/instances", body: withUser(map[string]any{"name": "pg_monitor", "password": "long-enough"}), status: bad},
		{name: "user PG_X", method: post, path: "{P}/instances", body: withUser(map[string]any{"name": "PG_X", "password": "long-enough"}), status: bad},
		{name: "user postgres", method: post, path: "{P}/instances", body: withUser(map[string]any{"name": "postgres", "password": "long-enough"}), status: bad},
		{name: "one-character password", method: post, path: "{P}/instances", body: withUser(map[string]any{"name": "app", "password": "x"}), status: bad},
		{name: "password too long", method: post, path: "{P}/instances", body: withUser(map[string]any{"name": "app", "password": strings.Repeat("p", 256)}), status: bad},
		{name: "host with a shell command", method: post, path: "{P}/instances", body: withUser(map[string]any{"name": "app", "password": "long-enough", "host": "$(id)"}), status: bad},
		{name: "host with a semicolon", method: post, path: "{P}/instances", body: withUser(map[string]any{"name": "app", "password": "long-enough", "host": "a;rm -rf /"}), status: bad},
		{name: "host with a quote", method: post, path: "{P}/instances", body: withUser(map[string]any{"name": "app", "password": "long-enough", "host": "a'b"}), status: bad},
		{name: "user name with SQL", method: post, path: "{P}/instances", body: withUser(map[string]any{"name": `x"; DROP ROLE y; --`, "password": "long-enough"}), status: bad},
		{name: "user name too long", method: post, path: "{P}/instances", body: withUser(map[string]any{"name": strings.Repeat("u", 64), "password": "long-enough"}), status: bad},
		{name: "user without a name", method: post, path: "{P}/instances", body: withUser(map[string]any{"password": "long-enough"}), status: bad},
		{name: "charset with SQL", method: post, path: "{P}/instances", body: withDatabase(map[string]any{"name": "db", "character_set": "UTF8;DROP"}), status: bad},
		{name: "charset the engine does not name so", method: post, path: "{P}/instances", body: withDatabase(map[string]any{"name": "db", "character_set": "UTF-8"}), status: bad},
		{name: "collation with a quote", method: post, path: "{P}/instances", body: withDatabase(map[string]any{"name": "db", "collate": "en_US.UTF-8'"}), status: bad},
		{name: "database template1", method: post, path: "{P}/instances", body: withDatabase(map[string]any{"name": "template1"}), status: bad},
		{name: "database name starting with a digit", method: post, path: "{P}/instances", body: withDatabase(map[string]any{"name": "1db"}), status: bad},
		{name: "volume type with SQL", method: post, path: "{P}/instances", body: instance(func(i map[string]any) { i["volume"] = map[string]any{"size": 1, "type": "'; DROP"} }), status: bad},
		{name: "volume type with a path", method: post, path: "{P}/instances", body: instance(func(i map[string]any) { i["volume"] = map[string]any{"size": 1, "type": "a/../b"} }), status: bad},

		// Types, sizes and missing fields.
		{name: "name too long", method: post, path: "{P}/instances", body: instance(func(i map[string]any) { i["name"] = long }), status: bad},
		{name: "name empty", method: post, path: "{P}/instances", body: instance(func(i map[string]any) { i["name"] = "" }), status: bad},
		{name: "name blank", method: post, path: "{P}/instances", body: instance(func(i map[string]any) { i["name"] = "   " }), status: bad},
		{name: "name a number", method: post, path: "{P}/instances", body: instance(func(i map[string]any) { i["name"] = 7 }), status: bad},
		{name: "no name", method: post, path: "{P}/instances", body: instance(func(i map[string]any) { delete(i, "name") }), status: bad},
		{name: "no flavorRef", method: post, path: "{P}/instances", body: instance(func(i map[string]any) { delete(i, "flavorRef") }), status: bad},
		{name: "no volume", method: post, path: "{P}/instances", body: instance(func(i map[string]any) { delete(i, "volume") }), status: bad},
		{name: "volume size 0", method: post, path: "{P}/instances", body: instance(func(i map[string]any) { i["volume"] = map[string]any{"size": 0} }), status: bad},
		{name: "volume size negative", method: post, path: "{P}/instances", body: instance(func(i map[string]any) { i["volume"] = map[string]any{"size": -1} }), status: bad},
		{name: "volume size a string", method: post, path: "{P}/instances", body: instance(func(i map[string]any) { i["volume"] = map[string]any{"size": "2"} }), status: bad},
		{name: "volume size a fraction", method: post, path: "{P}/instances", body: instance(func(i map[string]any) { i["volume"] = map[string]any{"size": 2.5} }), status: bad},
		{name: "volume size huge", method: post, path: "{P}/instances", body: instance(func(i map[string]any) { i["volume"] = map[string]any{"size": 1e12} }), status: bad},
		{name: "volume size past the maximum", method: post, path: "{P}/instances", body: instance(func(i map[string]any) { i["volume"] = map[string]any{"size": maxVolumeSize + 1} }), status: bad},
		{name: "volume a list", method: post, path: "{P}/instances", body: instance(func(i map[string]any) { i["volume"] = []any{1} }), status: bad},
		{name: "databases a string", method: post, path: "{P}/instances", body: instance(func(i map[string]any) { i["databases"] = "db" }), status: bad},
		{name: "users an object", method: post, path: "{P}/instances", body: instance(func(i map[string]any) { i["users"] = map[string]any{} }), status: bad},
		{name: "replica_count a string", method: post, path: "{P}/instances", body: instance(func(i map[string]any) { i["replica_count"] = "many" }), status: bad},
		{name: "replica of an instance that is no UUID", method: post, path: "{P}/instances", body: map[string]any{"instance": map[string]any{"name": "r", "replica_of": "../x"}}, status: notFound},
		{name: "restore point that is no UUID", method: post, path: "{P}/instances", body: instance(func(i map[string]any) { i["restorePoint"] = map[string]any{"backupRef": "../x"} }), status: notFound},
		{name: "no instance key", method: post, path: "{P}/instances", body: map[string]any{}, status: bad},
		{name: "body a list", method: post, path: "{P}/instances", body: "[]", status: bad},
		{name: "body null", method: post, path: "{P}/instances", body: "null", status: bad},
		{name: "body not JSON", method: post, path: "{P}/instances", body: "nonsense", status: bad},
		{name: "body cut short", method: post, path: "{P}/instances", body: `{"instance":`, status: bad},
		{name: "body empty", method: post, path: "{P}/instances", body: "", status: bad},
		{name: "body of plain text", method: post, path: "{P}/instances", body: `{"instance": {}}`, contentType: "text/plain", status: badMedia},
		{name: "body of a form", method: post, path: "{P}/instances", body: "instance=1", contentType: "application/x-www-form-urlencoded", status: badMedia},
		{name: "body past a megabyte", method: post, path: "{P}/instances", body: `{"instance": {"name": "` + strings.Repeat("x", 2<<20) + `"}}`, status: tooLarge},

		// Actions.
		{name: "action on an ID that is no UUID", method: post, path: "{P}/instances/not-a-uuid/action", body: map[string]any{"restart": map[string]any{}}, status: notFound},
		{name: "action with no action", method: post, path: "{P}/instances/{I}/action", body: map[string]any{}, status: bad},
		{name: "action with two actions", method: post, path: "{P}/instances/{I}/action", body: map[string]any{"restart": map[string]any{}, "resize": map[string]any{"volume": map[string]any{"size": 3}}}, status: bad},
		{name: "unknown action only", method: post, path: "{P}/instances/{I}/action", body: map[string]any{"fly": map[string]any{}}, status: bad},
		{name: "resize the volume smaller", method: post, path: "{P}/instances/{I}/action", body: resize(map[string]any{"volume": map[string]any{"size": 1}}), status: bad},
		{name: "resize the volume past the maximum", method: post, path: "{P}/instances/{I}/action", body: resize(map[string]any{"volume": map[string]any{"size": maxVolumeSize + 1}}), status: bad},
		{name: "resize the volume to a string", method: post, path: "{P}/instances/{I}/action", body: resize(map[string]any{"volume": map[string]any{"size": "big"}}), status: bad},
		{name: "resize both", method: post, path: "{P}/instances/{I}/action", body: resize(map[string]any{"flavorRef": "ds2G", "volume": map[string]any{"size": 3}}), status: bad},
		{name: "resize nothing", method: post, path: "{P}/instances/{I}/action", body: resize(map[string]any{}), status: bad},
		{name: "reset status as a member", method: post, path: "{P}/instances/{I}/action", body: map[string]any{"reset_status": map[string]any{}}, status: forbid},

		// Backups and schedules.
		{name: "backup of an ID that is no UUID", method: post, path: "{P}/backups", body: backup(func(b map[string]any) { b["instance"] = "../x" }), status: bad},
		{name: "backup without a name", method: post, path: "{P}/backups", body: backup(func(b map[string]any) { delete(b, "name") }), status: bad},
		{name: "backup without an instance", method: post, path: "{P}/backups", body: backup(func(b map[string]any) { delete(b, "instance") }), status: bad},
		{name: "backup name too long", method: post, path: "{P}/backups", body: backup(func(b map[string]any) { b["name"] = long }), status: bad},
		{name: "incremental backup", method: post, path: "{P}/backups", body: backup(func(b map[string]any) { b["incremental"] = 1 }), status: notImpl},
		{name: "backup to another container", method: post, path: "{P}/backups", body: backup(func(b map[string]any) { b["swift_container"] = "../other" }), status: bad},
		{name: "show a backup that is no UUID", method: get, path: "{P}/backups/..%2Fx", status: notFound},
		{name: "delete a backup that is no UUID", method: del, path: "{P}/backups/not-a-uuid", status: notFound},
		{name: "schedule every second", method: post, path: "{P}/instances/{I}/backup-schedules", body: schedule(func(s map[string]any) { s["cron"] = "@every 1s" }), status: bad},
		{name: "schedule every nanosecond", method: post, path: "{P}/instances/{I}/backup-schedules", body: schedule(func(s map[string]any) { s["cron"] = "@every 1ns" }), status: bad},
		{name: "schedule at reboot", method: post, path: "{P}/instances/{I}/backup-schedules", body: schedule(func(s map[string]any) { s["cron"] = "@reboot" }), status: bad},
		{name: "schedule with six fields", method: post, path: "{P}/instances/{I}/backup-schedules", body: schedule(func(s map[string]any) { s["cron"] = "* * * * * *" }), status: bad},
		{name: "schedule with a shell command", method: post, path: "{P}/instances/{I}/backup-schedules", body: schedule(func(s map[string]any) { s["cron"] = "$(id) * * * *" }), status: bad},
		{name: "schedule interval of a nanosecond", method: post, path: "{P}/instances/{I}/backup-schedules", body: schedule(func(s map[string]any) { delete(s, "cron"); s["interval"] = "1ns" }), status: bad},
		{name: "schedule keeping none", method: post, path: "{P}/instances/{I}/backup-schedules", body: schedule(func(s map[string]any) { s["keep"] = 0 }), status: bad},
		{name: "schedule keeping too many", method: post, path: "{P}/instances/{I}/backup-schedules", body: schedule(func(s map[string]any) { s["keep"] = 100000 }), status: bad},
		{name: "schedule delete of no UUID", method: del, path: "{P}/instances/{I}/backup-schedules/..%2Fx", status: notFound},

		// Databases, users and root on the instance.
		{name: "database with SQL", method: post, path: "{P}/instances/{I}/databases", body: map[string]any{"databases": []any{map[string]any{"name": `x"; DROP DATABASE y; --`}}}, status: bad},
		{name: "database postgres", method: post, path: "{P}/instances/{I}/databases", body: map[string]any{"databases": []any{map[string]any{"name": "postgres"}}}, status: bad},
		{name: "database with a bad charset", method: post, path: "{P}/instances/{I}/databases", body: map[string]any{"databases": []any{map[string]any{"name": "db", "character_set": "$(id)"}}}, status: bad},
		{name: "delete database template1", method: del, path: "{P}/instances/{I}/databases/template1", status: bad},
		{name: "new user root", method: post, path: "{P}/instances/{I}/users", body: users(map[string]any{"name": "root", "password": "long-enough"}), status: bad},
		{name: "new user with a short password", method: post, path: "{P}/instances/{I}/users", body: users(map[string]any{"name": "clerk", "password": "x"}), status: bad},
		{name: "new user with a shell host", method: post, path: "{P}/instances/{I}/users", body: users(map[string]any{"name": "clerk", "password": "long-enough", "host": "`id`"}), status: bad},
		{name: "update user root", method: put, path: "{P}/instances/{I}/users/root", body: map[string]any{"user": map[string]any{"password": "long-enough"}}, status: bad},
		{name: "show user with two hosts", method: get, path: "{P}/instances/{I}/users/a@b@c", status: bad},
		{name: "show user pg_read_server_files", method: get, path: "{P}/instances/{I}/users/pg_read_server_files", status: bad},
		{name: "root with a short password", method: post, path: "{P}/instances/{I}/root", body: map[string]any{"password": "abc"}, status: bad},

		// Paging.
		{name: "limit negative", method: get, path: "{P}/instances?limit=-1", status: bad},
		{name: "limit not a number", method: get, path: "{P}/instances?limit=abc", status: bad},
		{name: "limit past int64", method: get, path: "{P}/instances?limit=99999999999999999999", status: bad},
		{name: "marker that is no UUID", method: get, path: "{P}/instances?marker=..%2Fx", status: bad},

		// Who may do what.
		{name: "no token", as: "none", method: get, path: "{P}/instances", status: unauth},
		{name: "a token of 9 KiB", as: "huge token", method: get, path: "{P}/instances", status: unauth},
		{name: "another project's path", method: get, path: "/v1.0/" + alt.projectID + "/limits", status: forbid},
		{name: "another project's instance", method: get, path: "{P}/instances/{T}", status: notFound},
		{name: "delete another project's instance", method: del, path: "{P}/instances/{T}", status: notFound},
		{name: "action on another project's instance", method: post, path: "{P}/instances/{T}/action", body: map[string]any{"restart": map[string]any{}}, status: notFound},
		{name: "backup of another project's instance", method: post, path: "{P}/backups", body: backup(func(b map[string]any) { b["instance"] = theirs }), status: notFound},
		{name: "users of another project's instance", method: get, path: "{P}/instances/{T}/users", status: notFound},
		{name: "rename another project's instance", method: put, path: "{P}/instances/{T}", body: map[string]any{"instance": map[string]any{"name": "mine"}}, status: notFound},
		{name: "mgmt list as a member", method: get, path: "{P}/mgmt/instances", status: forbid},
		{name: "set quotas as a member", method: put, path: "{P}/mgmt/quotas/" + demo.projectID, body: map[string]any{"quotas": map[string]any{"instances": 1000}}, status: forbid},
		{name: "mgmt action as a member", method: post, path: "{P}/mgmt/instances/{I}/action", body: map[string]any{"stop": map[string]any{}}, status: forbid},
		{name: "quota of an unknown resource", as: "admin", method: put, path: "{P}/mgmt/quotas/x", body: map[string]any{"quotas": map[string]any{"cpus": 1}}, status: bad},
		{name: "quota below -1", as: "admin", method: put, path: "{P}/mgmt/quotas/x", body: map[string]any{"quotas": map[string]any{"instances": -5}}, status: bad},
		{name: "quota a string", as: "admin", method: put, path: "{P}/mgmt/quotas/x", body: map[string]any{"quotas": map[string]any{"instances": "ten"}}, status: bad},
		{name: "version of an unknown manager", as: "admin", method: post, path: "{P}/mgmt/datastore-versions", body: map[string]any{"version": map[string]any{"name": "1", "datastore_name": "x", "datastore_manager": "oracle", "image_tags": []any{"x"}, "active": true}}, status: bad},

		// Routes and methods.
		{name: "method no route has", method: patch, path: "{P}/instances", body: map[string]any{}, status: badMethod},
		{name: "route that does not exist", method: get, path: "{P}/secrets", status: notFound},
		{name: "path traversal out of the project", method: get, path: "{P}/instances/..%2F..%2Fflavors", status: notFound},
		{name: "instance that is no UUID", method: get, path: "{P}/instances/not-a-uuid", status: notFound},
		{name: "delete an instance that is no UUID", method: del, path: "{P}/instances/..", status: notFound},
	}
	if len(requests) < 100 {
		t.Fatalf("%d hostile requests, want at least 100", len(requests))
	}

	before := h.state(id, demo.projectID)
	for _, req := range requests {
		token, project := demo.token, demo.projectID
		switch req.as {
		case "admin":
			token, project = admin.token, admin.projectID
		case "none":
			token = ""
		case "huge token":
			token = strings.Repeat("t", 9<<10)
		}
		path := strings.NewReplacer("{P}", "/v1.0/"+project, "{I}", id, "{T}", theirs).Replace(req.path)
		r := h.send(req.method, path, token, req.contentType, req.body)
		if r.status != req.status {
			t.Errorf("%s: %s %s: got HTTP %d %.300s, want %d", req.name, req.method, req.path, r.status, r.body, req.status)
			continue
		}
		var fault map[string]struct {
			Code int `json:"code"`
		}
		if err := json.Unmarshal(r.body, &fault); err != nil || len(fault) != 1 {
			t.Errorf("%s: got body %.300s, want a Trove fault", req.name, r.body)
		}
		if after := h.state(id, demo.projectID); after != before {
			t.Fatalf("%s changed something:\n got %s\nwant %s", req.name, after, before)
		}
	}
}
