package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/configurations"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/databases"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/instances"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/users"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"

	"github.com/coffer-dbaas/coffer/activities"
)

// guestLog sends a log action (Trove's POST /instances/{id}/log) and returns the log.
func guestLog(t *testing.T, demo tenant, id, body string) GuestLog {
	t.Helper()
	res := rawPost(t, demo, "/instances/"+id+"/log", body)
	var out struct {
		Log GuestLog `json:"log"`
	}
	if err := json.Unmarshal([]byte(res.body), &out); res.code != http.StatusOK || err != nil {
		t.Fatalf("POST /instances/%s/log %s: got %d %s", id, body, res.code, res.body)
	}
	return out.Log
}

// GuestLog is a guest log as Trove shows it.
type GuestLog struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Status string `json:"status"`
	Prefix string `json:"prefix"`
}

// TestMariaDBConfigurationGroupAndGeneralLog is issue 16's configuration and logs scenario
// for MariaDB: a group for mariadb 10.11 with a dynamic and a restart-required variable,
// attached to an instance: the dynamic one shows at once, the other after the restart that
// RESTART_REQUIRED asks for; bad values are Trove's 400; the general log turned on through
// the API holds the tenant's statement once published, and no password the agent set.
func TestMariaDBConfigurationGroupAndGeneralLog(t *testing.T) {
	if _, err := os.Stat("/usr/sbin/mariadbd"); err != nil {
		t.Skip("mariadb-server is not installed")
	}
	if _, err := exec.LookPath("mariadb"); err != nil {
		t.Skip("the mariadb client is not installed")
	}
	ctx := context.Background()
	demo := login(t, "demo")
	password := randomPassword(t)
	mariadb1011 := &configurations.DatastoreOpts{Type: "mariadb", Version: "10.11"}

	// Bad values are refused before any group exists: Trove's fault, 400.
	for _, values := range []map[string]any{
		{"max_connections": 0}, {"max_connections": "many"}, {"innodb_flush_method": "bogus"},
		{"server_id": 7}, {"no_such_variable": 1},
	} {
		b, _ := json.Marshal(map[string]any{"configuration": map[string]any{"name": "bad", "values": values,
			"datastore": map[string]string{"type": "mariadb", "version": "10.11"}}})
		res := rawPost(t, demo, "/configurations", string(b))
		if res.code != http.StatusBadRequest || !strings.Contains(res.body, `"badRequest"`) {
			t.Errorf("create a group with %v: got %d %s, want Trove's 400 badRequest", values, res.code, res.body)
		}
	}

	group, err := configurations.Create(ctx, demo.db, configurations.CreateOpts{
		Name: "maria-tuned", Datastore: mariadb1011,
		Values: map[string]any{"max_connections": 99, "innodb_sort_buffer_size": 2097152},
	}).Extract()
	if err != nil {
		t.Fatalf("create the group: %v", err)
	}
	t.Cleanup(func() { _ = configurations.Delete(ctx, demo.db, group.ID).ExtractErr() })

	created, err := instances.Create(ctx, demo.db, instances.CreateOpts{
		Name: "maria-configured", FlavorRef: "ds512M", Size: 1,
		Datastore: &instances.DatastoreOpts{Type: "mariadb", Version: "10.11"},
		Databases: databases.BatchCreateOpts{{Name: "shop"}},
		Users: users.BatchCreateOpts{{Name: "clerk", Password: password, Host: "%",
			Databases: databases.BatchCreateOpts{{Name: "shop"}}}},
	}).Extract()
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	id := created.ID
	t.Cleanup(func() { deleteInstance(t, demo, id) })
	inst := waitStatus(t, demo.db, id, "ACTIVE", 3*time.Minute)
	address := inst.IP[0]
	show := func(variable string) string {
		t.Helper()
		out, err := mariadbRun(address, "clerk", password, "", "SELECT @@"+variable)
		if err != nil {
			t.Fatalf("mariadb -e 'SELECT @@%s': %v: %s", variable, err, out)
		}
		return out
	}
	defaultSortBuffer := show("innodb_sort_buffer_size")

	if err := instances.AttachConfigurationGroup(ctx, demo.db, id, group.ID).ExtractErr(); err != nil {
		t.Fatalf("attach: %v", err)
	}
	waitStatus(t, demo.db, id, "RESTART_REQUIRED", 2*time.Minute)
	if got := show("max_connections"); got != "99" {
		t.Errorf("max_connections once attached: got %s, want the group's 99 (over the flavor's 64)", got)
	}
	if got := show("innodb_sort_buffer_size"); got != defaultSortBuffer {
		t.Errorf("innodb_sort_buffer_size before the restart: got %s, want %s", got, defaultSortBuffer)
	}
	// A bad value for the attached group changes nothing.
	wantStatus400(t, "set max_connections to 0", configurations.Update(ctx, demo.db, group.ID,
		configurations.UpdateOpts{Values: map[string]any{"max_connections": 0}}).ExtractErr())

	if err := instances.Restart(ctx, demo.db, id).ExtractErr(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	waitSeen(t, demo, id, "REBOOT", 10*time.Second)
	waitStatus(t, demo.db, id, "ACTIVE", 2*time.Minute)
	if got := show("innodb_sort_buffer_size"); got != "2097152" {
		t.Errorf("innodb_sort_buffer_size after the restart: got %s, want 2097152", got)
	}
	if got := show("max_connections"); got != "99" {
		t.Errorf("max_connections after the restart: got %s, want 99", got)
	}

	// The guest logs are Trove's MySQL ones.
	code, body := rawGet(t, demo.provider.Token(), cloud.APIURL+"/v1.0/"+demo.projectID+"/instances/"+id+"/log")
	for _, name := range []string{`"general"`, `"slow_query"`, `"guest"`} {
		if code != http.StatusOK || !strings.Contains(body, name) {
			t.Errorf("GET /instances/%s/log: got %d %s, want the %s log", id, code, body, name)
		}
	}
	if l := guestLog(t, demo, id, `{"name": "general", "enable": 1}`); l.Status == "Disabled" {
		t.Fatalf("enable the general log: still Disabled: %+v", l)
	}
	// A statement of the tenant's, and a password the agent sets, after the log is on.
	if out, err := mariadbRun(address, "clerk", password, "shop", "SELECT 'coffer-mariadb-log-marker'"); err != nil {
		t.Fatalf("clerk runs a statement: %v: %s", err, out)
	}
	secret := randomPassword(t)
	if err := users.Create(ctx, demo.db, id, users.BatchCreateOpts{{Name: "auditor", Password: secret, Host: "%"}}).ExtractErr(); err != nil {
		t.Fatalf("create a user: %v", err)
	}
	eventually(t, "auditor connects", func() bool {
		_, err := mariadbRun(address, "auditor", secret, "", "SELECT 1")
		return err == nil
	})

	published := guestLog(t, demo, id, `{"name": "general", "publish": 1}`)
	if want := activities.LogPrefix(id, "mariadb", "general"); published.Prefix != want {
		t.Errorf("publish: prefix %q, want %q", published.Prefix, want)
	}
	names := logObjects(t, published.Prefix)
	if len(names) != 1 {
		t.Fatalf("after a publish: objects %q, want one", names)
	}
	obj := objects.Download(ctx, swiftAsService(t), activities.LogContainer, names[0], nil)
	text, err := io.ReadAll(obj.Body)
	obj.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(text), "coffer-mariadb-log-marker") {
		t.Errorf("the published general log lacks the tenant's statement:\n%s", text)
	}
	if strings.Contains(string(text), secret) || strings.Contains(string(text), password) {
		t.Errorf("the published general log holds a password the agent set")
	}
	guestLog(t, demo, id, `{"name": "general", "discard": 1}`)
}
