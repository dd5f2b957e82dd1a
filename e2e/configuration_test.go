package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/configurations"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/databases"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/instances"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/users"
)

// waitSetting polls a new session's SHOW of the setting until it is want.
func (d database) waitSetting(t *testing.T, setting, want string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		got := d.query(t, "SHOW "+setting)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance %s: SHOW %s is %s after a minute, want %s", d.id, setting, got, want)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// restart restarts the instance through the API and waits until it is ACTIVE again.
func (d database) restart(t *testing.T, demo tenant) {
	t.Helper()
	if err := instances.Restart(context.Background(), demo.db, d.id).ExtractErr(); err != nil {
		t.Fatalf("restart %s: %v", d.id, err)
	}
	waitSeen(t, demo, d.id, "REBOOT", 10*time.Second)
	waitStatus(t, demo.db, d.id, "ACTIVE", 2*time.Minute)
}

// wantStatus400 checks that err is the API's 400.
func wantStatus400(t *testing.T, what string, err error) {
	t.Helper()
	var e gophercloud.ErrUnexpectedResponseCode
	if !errors.As(err, &e) || e.Actual != http.StatusBadRequest {
		t.Errorf("%s: got %v, want a 400", what, err)
	}
}

// TestConfigurationGroupAppliesLiveAtRestartAndDetachesToDefaults is the scenario
// through gophercloud: a dynamic setting takes effect at once, a restart-only one sets
// RESTART_REQUIRED until a restart, bad values change nothing, and detaching goes back to
// the defaults.
func TestConfigurationGroupAppliesLiveAtRestartAndDetachesToDefaults(t *testing.T) {
	ctx := context.Background()
	demo := login(t, "demo")
	d := newDatabase(t, demo, "tuned")
	sizedWorkMem := d.query(t, "SHOW work_mem")

	group, err := configurations.Create(ctx, demo.db, configurations.CreateOpts{
		Name: "reports", Values: map[string]any{"work_mem": 8192},
		Datastore: &configurations.DatastoreOpts{Type: "postgresql", Version: "15"},
	}).Extract()
	if err != nil {
		t.Fatalf("create the group: %v", err)
	}
	t.Cleanup(func() { _ = configurations.Delete(ctx, demo.db, group.ID).ExtractErr() })

	// A dynamic setting: a new session sees it, with no restart.
	started := d.query(t, "SELECT pg_postmaster_start_time()::text")
	if err := instances.AttachConfigurationGroup(ctx, demo.db, d.id, group.ID).ExtractErr(); err != nil {
		t.Fatalf("attach: %v", err)
	}
	d.waitSetting(t, "work_mem", "8MB")
	if got := d.query(t, "SELECT pg_postmaster_start_time()::text"); got != started {
		t.Errorf("the engine restarted for a dynamic setting (started %s, then %s)", started, got)
	}
	if inst := waitStatus(t, demo.db, d.id, "ACTIVE", 10*time.Second); inst.Status != "ACTIVE" {
		t.Errorf("status after a dynamic change: %s", inst.Status)
	}

	// A restart-only setting: RESTART_REQUIRED until the restart, which applies it.
	if err := configurations.Update(ctx, demo.db, group.ID, configurations.UpdateOpts{Values: map[string]any{"max_connections": 50}}).ExtractErr(); err != nil {
		t.Fatalf("set max_connections: %v", err)
	}
	waitStatus(t, demo.db, d.id, "RESTART_REQUIRED", time.Minute)
	if got := d.query(t, "SHOW max_connections"); got != "100" {
		t.Errorf("max_connections before the restart: got %s, want 100", got)
	}

	// Bad values are 400s and change nothing.
	for _, values := range []map[string]any{{"max_connections": 0}, {"work_mem": "lots"}, {"no_such_setting": 1}} {
		wantStatus400(t, "set a bad value", configurations.Update(ctx, demo.db, group.ID, configurations.UpdateOpts{Values: values}).ExtractErr())
	}
	shown, err := configurations.Get(ctx, demo.db, group.ID).Extract()
	if err != nil || len(shown.Values) != 2 || shown.Values["work_mem"] != float64(8192) || shown.Values["max_connections"] != float64(50) {
		t.Errorf("the group after bad values: got %v, %v", shown.Values, err)
	}

	d.restart(t, demo)
	if got := d.query(t, "SHOW max_connections"); got != "50" {
		t.Errorf("max_connections after the restart: got %s, want 50", got)
	}
	if got := d.query(t, "SHOW work_mem"); got != "8MB" {
		t.Errorf("work_mem after the restart: got %s, want 8MB", got)
	}
	code, body := rawGet(t, demo.provider.Token(), cloud.APIURL+"/v1.0/"+demo.projectID+"/instances/"+d.id+"/configuration")
	var effective struct {
		Instance struct {
			Configuration map[string]string `json:"configuration"`
		} `json:"instance"`
	}
	if err := json.Unmarshal([]byte(body), &effective); code != http.StatusOK || err != nil ||
		effective.Instance.Configuration["max_connections"] != "50" || effective.Instance.Configuration["work_mem"] != "8MB" {
		t.Errorf("GET /instances/%s/configuration: got %d %s", d.id, code, body)
	}

	// Detaching goes back to the defaults: work_mem at once, max_connections at the restart.
	if err := instances.DetachConfigurationGroup(ctx, demo.db, d.id).ExtractErr(); err != nil {
		t.Fatalf("detach: %v", err)
	}
	d.waitSetting(t, "work_mem", sizedWorkMem)
	waitStatus(t, demo.db, d.id, "RESTART_REQUIRED", time.Minute)
	d.restart(t, demo)
	if got := d.query(t, "SHOW max_connections"); got != "100" {
		t.Errorf("max_connections after detach and restart: got %s, want 100", got)
	}
	if err := configurations.Delete(ctx, demo.db, group.ID).ExtractErr(); err != nil {
		t.Errorf("delete the detached group: %v", err)
	}
}

var troveID = regexp.MustCompile(`\|\s*id\s*\|\s*([0-9a-f-]{36})\s*\|`)

// TestTroveClientConfigurationCommands runs python-troveclient's configuration commands
// against Coffer.
func TestTroveClientConfigurationCommands(t *testing.T) {
	if _, err := exec.LookPath("trove"); err != nil {
		t.Skip("python-troveclient's trove command is not installed (Debian: python3-troveclient)")
	}
	demo := login(t, "demo")
	d := newDatabase(t, demo, "cli-tuned")

	out := troveCLI(t, "configuration-create", "cli-group", `{"work_mem": 4096}`, "--datastore", "postgresql", "--datastore_version", "15")
	m := troveID.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("configuration-create printed no id:\n%s", out)
	}
	id := m[1]
	t.Cleanup(func() { _ = configurations.Delete(context.Background(), demo.db, id).ExtractErr() })
	if out := troveCLI(t, "configuration-show", id); !strings.Contains(out, "work_mem") || !strings.Contains(out, "cli-group") {
		t.Errorf("configuration-show:\n%s", out)
	}
	if out := troveCLI(t, "configuration-list"); !strings.Contains(out, id) {
		t.Errorf("configuration-list:\n%s", out)
	}
	if out := troveCLI(t, "configuration-parameter-list", "15", "--datastore", "postgresql"); !strings.Contains(out, "max_connections") {
		t.Errorf("configuration-parameter-list:\n%s", out)
	}
	troveCLI(t, "configuration-attach", d.id, id)
	d.waitSetting(t, "work_mem", "4MB")
	if out := troveCLI(t, "configuration-instances", id); !strings.Contains(out, d.id) {
		t.Errorf("configuration-instances:\n%s", out)
	}
	if out := troveCLI(t, "configuration-default", d.id); !strings.Contains(out, "work_mem") || !strings.Contains(out, "4MB") {
		t.Errorf("configuration-default:\n%s", out)
	}
	troveCLI(t, "configuration-detach", d.id)
	eventually(t, "the group detached", func() bool {
		return !strings.Contains(troveCLI(t, "configuration-instances", id), d.id)
	})
	eventually(t, "work_mem back to the flavor's after detach", func() bool {
		return d.query(t, "SHOW work_mem") != "4MB"
	})
	troveCLI(t, "configuration-delete", id)
}

// TestCreateWithAGroupAndResizeKeepTheGroupsValues creates an instance with a group: its
// engine starts with the group's values, and a flavor resize re-sizes only the settings
// the group does not set.
func TestCreateWithAGroupAndResizeKeepTheGroupsValues(t *testing.T) {
	ctx := context.Background()
	demo := login(t, "demo")
	// effective_cache_size counts 8kB pages: 131072 is 1GB, where ds512M sizes it 384MB.
	group, err := configurations.Create(ctx, demo.db, configurations.CreateOpts{
		Name: "big-cache", Values: map[string]any{"effective_cache_size": 131072},
		Datastore: &configurations.DatastoreOpts{Type: "postgresql", Version: "15"},
	}).Extract()
	if err != nil {
		t.Fatalf("create the group: %v", err)
	}
	t.Cleanup(func() { _ = configurations.Delete(ctx, demo.db, group.ID).ExtractErr() })
	password := randomPassword(t)
	opts := postgresOpts("grouped")
	opts.Configuration = group.ID
	opts.Databases = databases.BatchCreateOpts{{Name: "shop"}}
	opts.Users = users.BatchCreateOpts{{Name: "clerk", Password: password, Databases: databases.BatchCreateOpts{{Name: "shop"}}}}
	created, err := instances.Create(ctx, demo.db, opts).Extract()
	if err != nil {
		t.Fatalf("create with the group: %v", err)
	}
	t.Cleanup(func() { deleteQuietly(demo, created.ID) })
	inst := waitStatus(t, demo.db, created.ID, "ACTIVE", 3*time.Minute)
	d := database{id: created.ID, address: inst.IP[0], password: password}
	if got := d.query(t, "SHOW effective_cache_size"); got != "1GB" {
		t.Errorf("effective_cache_size on create: got %s, want the group's 1GB", got)
	}

	if err := instances.Resize(ctx, demo.db, d.id, "ds1G").ExtractErr(); err != nil {
		t.Fatalf("resize: %v", err)
	}
	waitSeen(t, demo, d.id, "RESIZE", 10*time.Second)
	waitStatus(t, demo.db, d.id, "ACTIVE", 3*time.Minute)
	if got := d.query(t, "SHOW shared_buffers"); got != "256MB" {
		t.Errorf("shared_buffers on ds1G: got %s, want 256MB, sized from the new flavor", got)
	}
	if got := d.query(t, "SHOW effective_cache_size"); got != "1GB" {
		t.Errorf("effective_cache_size on ds1G: got %s, want the group's 1GB", got)
	}
}
