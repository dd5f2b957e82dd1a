package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/databases"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/instances"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/users"
	"github.com/jackc/pgx/v5"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/dev/devcloud"
	"github.com/coffer-dbaas/coffer/pgcluster"
	"github.com/coffer-dbaas/coffer/workflows"
)

// database is an ACTIVE instance with a database "shop" and its user "clerk".
type database struct {
	id       string
	address  string
	password string
}

// newDatabase creates an instance of flavor ds512M with shop and clerk, and waits until it
// is ACTIVE.
func newDatabase(t *testing.T, demo tenant, name string) database {
	t.Helper()
	password := randomPassword(t)
	opts := postgresOpts(name)
	opts.Databases = databases.BatchCreateOpts{{Name: "shop"}}
	opts.Users = users.BatchCreateOpts{{Name: "clerk", Password: password, Databases: databases.BatchCreateOpts{{Name: "shop"}}}}
	created, err := instances.Create(context.Background(), demo.db, opts).Extract()
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	inst := waitStatus(t, demo.db, created.ID, "ACTIVE", 3*time.Minute)
	t.Cleanup(func() { deleteQuietly(demo, created.ID) })
	return database{id: created.ID, address: inst.IP[0], password: password}
}

// deleteQuietly deletes an instance at the end of a test, whatever its state.
func deleteQuietly(demo tenant, id string) {
	_ = instances.Delete(context.Background(), demo.db, id).ExtractErr()
}

func (d database) connect(t *testing.T) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), fmt.Sprintf("postgres://clerk:%s@%s:5432/shop?sslmode=disable&connect_timeout=10", d.password, d.address))
	if err != nil {
		t.Fatalf("connect to %s as clerk: %v", d.id, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// query runs one query on the instance's shop database and returns the first column.
func (d database) query(t *testing.T, sql string) string {
	t.Helper()
	var v string
	if err := d.connect(t).QueryRow(context.Background(), sql).Scan(&v); err != nil {
		t.Fatalf("%s on %s: %v", sql, d.id, err)
	}
	return v
}

// keepData writes a row the test checks after the operation.
func (d database) keepData(t *testing.T) {
	t.Helper()
	conn := d.connect(t)
	if _, err := conn.Exec(context.Background(), "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')"); err != nil {
		t.Fatal(err)
	}
}

func (d database) wantDataKept(t *testing.T) {
	t.Helper()
	if got := d.query(t, "SELECT v FROM kept"); got != "still here" {
		t.Fatalf("data of %s after the operation: got %q, want still here", d.id, got)
	}
}

// waitOperatingStatus polls until the instance's operating_status is want.
func waitOperatingStatus(t *testing.T, demo tenant, id, want string, timeout time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last map[string]any
	for {
		last = showRaw(t, demo, id)
		if last["operating_status"] == want {
			return last
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance %s: operating_status %v after %s, want %s (%v)", id, last["operating_status"], timeout, want, last)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// showRaw is the instance as the API shows it, as JSON.
func showRaw(t *testing.T, demo tenant, id string) map[string]any {
	t.Helper()
	code, body := rawGet(t, demo.provider.Token(), cloud.APIURL+"/v1.0/"+demo.projectID+"/instances/"+id)
	if code != http.StatusOK {
		t.Fatalf("show %s: %d %s", id, code, body)
	}
	var v struct {
		Instance map[string]any `json:"instance"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	return v.Instance
}

func flavorOf(t *testing.T, demo tenant, id string) string {
	t.Helper()
	inst, err := instances.Get(context.Background(), demo.db, id).Extract()
	if err != nil {
		t.Fatal(err)
	}
	return inst.Flavor.ID
}

// waitSeen polls until the instance has shown status want once, so that a test knows an
// operation started.
func waitSeen(t *testing.T, demo tenant, id, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		inst, err := instances.Get(context.Background(), demo.db, id).Extract()
		if err != nil {
			t.Fatal(err)
		}
		if inst.Status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance %s never showed %s within %s (it is %s)", id, want, timeout, inst.Status)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestRestartRestartsTheEngineAndKeepsTheData(t *testing.T) {
	demo := login(t, "demo")
	d := newDatabase(t, demo, "restart-me")
	d.keepData(t)
	before := d.query(t, "SELECT pg_postmaster_start_time()::text")

	if err := instances.Restart(context.Background(), demo.db, d.id).ExtractErr(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	waitSeen(t, demo, d.id, "REBOOT", 10*time.Second)
	waitStatus(t, demo.db, d.id, "ACTIVE", 2*time.Minute)
	waitOperatingStatus(t, demo, d.id, "HEALTHY", 30*time.Second)

	if after := d.query(t, "SELECT pg_postmaster_start_time()::text"); after == before {
		t.Errorf("the engine started at %s before and after the restart: it did not restart", after)
	}
	d.wantDataKept(t)
}

func TestResizeFlavorUpAndDownKeepsDataAndSizesTheEngine(t *testing.T) {
	demo := login(t, "demo")
	d := newDatabase(t, demo, "resize-me")
	d.keepData(t)
	if got := d.query(t, "SHOW shared_buffers"); got != "128MB" {
		t.Fatalf("shared_buffers on ds512M: got %s, want 128MB (25%% of RAM)", got)
	}
	for _, step := range []struct{ flavor, sharedBuffers string }{{"ds1G", "256MB"}, {"ds512M", "128MB"}} {
		if err := instances.Resize(context.Background(), demo.db, d.id, step.flavor).ExtractErr(); err != nil {
			t.Fatalf("resize to %s: %v", step.flavor, err)
		}
		waitSeen(t, demo, d.id, "RESIZE", 10*time.Second)
		waitStatus(t, demo.db, d.id, "ACTIVE", 3*time.Minute)
		if got := flavorOf(t, demo, d.id); got != step.flavor {
			t.Errorf("flavor after the resize: got %s, want %s", got, step.flavor)
		}
		if got := d.query(t, "SHOW shared_buffers"); got != step.sharedBuffers {
			t.Errorf("shared_buffers on %s: got %s, want %s", step.flavor, got, step.sharedBuffers)
		}
		d.wantDataKept(t)
	}
}

func TestResizeVolumeGrowsWhatTheGuestSees(t *testing.T) {
	demo := login(t, "demo")
	d := newDatabase(t, demo, "grow-me")
	d.keepData(t)

	if err := instances.ResizeVolume(context.Background(), demo.db, d.id, 2).ExtractErr(); err != nil {
		t.Fatalf("resize volume: %v", err)
	}
	waitStatus(t, demo.db, d.id, "ACTIVE", 2*time.Minute)
	d.wantDataKept(t)

	// The guest sees the new size (the workflow checked it; the guest reports it to the
	// gateway), and a show reports what the data takes.
	deadline := time.Now().Add(30 * time.Second)
	for {
		v := showRaw(t, demo, d.id)
		volume, _ := v["volume"].(map[string]any)
		state := guestVolume(t, d.id)
		if volume["size"] == float64(2) && state.SizeGB == 2 && volume["used"] != nil {
			if used, _ := volume["used"].(float64); used <= 0 || used >= 2 {
				t.Errorf("volume.used: got %v GiB, want a real, positive use below the size", volume["used"])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the resize: volume %v, the guest sees %+v; want 2 GiB in both and volume.used", volume, state)
		}
		time.Sleep(time.Second)
	}
	r := rawPost(t, demo, "/instances/"+d.id+"/action", `{"resize": {"volume": {"size": 2}}}`)
	if r.code != http.StatusBadRequest {
		t.Errorf("a resize to the same size: got %d %s, want 400", r.code, r.body)
	}
}

// guestVolume is the data volume as the instance's guest last reported it to the gateway
// (zero before its first report).
func guestVolume(t *testing.T, id string) catalog.GuestVolume {
	t.Helper()
	v, _ := cloud.Catalog.GetGuestVolume(context.Background(), id)
	return v
}

func TestResizeWhoseNovaResizeFailsEndsActiveOnTheOldFlavor(t *testing.T) {
	ctx := context.Background()
	demo, admin := login(t, "demo"), login(t, "admin")
	d := newDatabase(t, demo, "resize-fails")
	d.keepData(t)
	fault, err := devcloud.InjectFault(ctx, admin.provider, cloud.Cloud.URL(), devcloud.Fault{
		Service: "compute", Operation: "server.action.resize", Status: http.StatusInternalServerError, Message: "no host has room",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = devcloud.RemoveFault(ctx, admin.provider, cloud.Cloud.URL(), fault.ID) })

	if err := instances.Resize(ctx, demo.db, d.id, "ds1G").ExtractErr(); err != nil {
		t.Fatalf("resize: %v", err)
	}
	waitSeen(t, demo, d.id, "RESIZE", 10*time.Second)
	inst := waitStatus(t, demo.db, d.id, "ACTIVE", 3*time.Minute)
	if inst.Flavor.ID != "ds512M" {
		t.Errorf("flavor after the failed resize: got %s, want ds512M", inst.Flavor.ID)
	}
	if inst.Fault == nil || !strings.Contains(inst.Fault.Message, "no host has room") {
		t.Errorf("fault after the failed resize: got %+v, want Nova's reason", inst.Fault)
	}
	if got := d.query(t, "SHOW shared_buffers"); got != "128MB" {
		t.Errorf("shared_buffers after the failed resize: got %s, want ds512M's 128MB", got)
	}
	d.wantDataKept(t)
	waitOperatingStatus(t, demo, d.id, "HEALTHY", 30*time.Second)
}

// rawResponse is an API answer.
type rawResponse struct {
	code int
	body string
}

// rawPost posts body to a path under the tenant's /v1.0/{project_id}.
func rawPost(t *testing.T, u tenant, path, body string) rawResponse {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, cloud.APIURL+"/v1.0/"+u.projectID+path, strings.NewReader(body))
	req.Header.Set("X-Auth-Token", u.provider.Token())
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rawResponse{resp.StatusCode, string(b)}
}

// taskView is GET /mgmt/instances/{id}/task.
type taskView struct {
	Task           string `json:"task"`
	Step           string `json:"step"`
	NeedsAttention bool   `json:"needs_attention"`
	Parked         *struct {
		Step     string `json:"step"`
		Error    string `json:"error"`
		Attempts int    `json:"attempts"`
	} `json:"parked"`
}

func mgmtTask(t *testing.T, admin tenant, id string) taskView {
	t.Helper()
	code, body := rawGet(t, admin.provider.Token(), cloud.APIURL+"/v1.0/"+admin.projectID+"/mgmt/instances/"+id+"/task")
	if code != http.StatusOK {
		t.Fatalf("mgmt task of %s: %d %s", id, code, body)
	}
	var v struct {
		Task taskView `json:"task"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	return v.Task
}

// waitParked polls the admin API until the instance's create is parked at step.
func waitParked(t *testing.T, admin tenant, id, step string) taskView {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		v := mgmtTask(t, admin, id)
		if v.NeedsAttention && v.Parked != nil && v.Parked.Step == step {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance %s not parked at %s after 90s: %+v", id, step, v)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// wantNeedsAttentionInTemporal lists, as an operator would in the Web UI, the workflows
// that need attention, and wants the instance's create among them (or not).
func wantNeedsAttentionInTemporal(t *testing.T, id string, want bool) {
	t.Helper()
	query := fmt.Sprintf("CofferNeedsAttention = 'true' AND CofferInstanceID = '%s'", id)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := cloud.Client.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		if err != nil {
			t.Fatalf("list workflows %q: %v", query, err)
		}
		found := false
		for _, e := range resp.GetExecutions() {
			if e.GetExecution().GetWorkflowId() == workflows.CreateWorkflowID(id) {
				found = true
			}
		}
		if found == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("workflows matching %q: create found %v, want %v", query, found, want)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// failVolumes makes every volume create fail until the returned function is called.
func failVolumes(t *testing.T, admin tenant) (clear func()) {
	t.Helper()
	ctx := context.Background()
	fault, err := devcloud.InjectFault(ctx, admin.provider, cloud.Cloud.URL(), devcloud.Fault{
		Service: "volume", Operation: "volume.create", Status: http.StatusInternalServerError, Message: "the storage backend is down",
	})
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	clear = func() {
		once.Do(func() {
			if err := devcloud.RemoveFault(ctx, admin.provider, cloud.Cloud.URL(), fault.ID); err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(clear)
	return clear
}

func TestParkedCreateContinuesWhenAnOperatorRetries(t *testing.T) {
	ctx := context.Background()
	demo, admin := login(t, "demo"), login(t, "admin")
	clear := failVolumes(t, admin)
	inst, err := instances.Create(ctx, demo.db, postgresOpts("parked-retry")).Extract()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteQuietly(demo, inst.ID) })

	parked := waitParked(t, admin, inst.ID, workflows.StepCreateVolume)
	if !strings.Contains(parked.Parked.Error, "the storage backend is down") {
		t.Errorf("parked error: got %q, want cinder's reason", parked.Parked.Error)
	}
	wantNeedsAttentionInTemporal(t, inst.ID, true)
	if shown := showRaw(t, demo, inst.ID); shown["status"] != "BUILD" {
		t.Errorf("a parked create shows %v, want BUILD", shown["status"])
	}
	// Tenants cannot steer.
	if r := rawPost(t, demo, "/mgmt/instances/"+inst.ID+"/action", `{"retry-task": {}}`); r.code != http.StatusForbidden {
		t.Errorf("tenant retry-task: got %d %s, want 403", r.code, r.body)
	}

	clear()
	if r := rawPost(t, admin, "/mgmt/instances/"+inst.ID+"/action", `{"retry-task": {}}`); r.code != http.StatusAccepted {
		t.Fatalf("retry-task: got %d %s", r.code, r.body)
	}
	waitStatus(t, demo.db, inst.ID, "ACTIVE", 3*time.Minute)
	wantNeedsAttentionInTemporal(t, inst.ID, false)
}

func TestParkedCreatesAbortedOrTimedOutEndInErrorWithNothingLeft(t *testing.T) {
	ctx := context.Background()
	demo, admin := login(t, "demo"), login(t, "admin")
	failVolumes(t, admin)
	aborted, err := instances.Create(ctx, demo.db, postgresOpts("parked-abort")).Extract()
	if err != nil {
		t.Fatal(err)
	}
	timedOut, err := instances.Create(ctx, demo.db, postgresOpts("parked-timeout")).Extract()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{aborted.ID, timedOut.ID} {
		t.Cleanup(func() { deleteQuietly(demo, id) })
	}

	waitParked(t, admin, aborted.ID, workflows.StepCreateVolume)
	if r := rawPost(t, admin, "/mgmt/instances/"+aborted.ID+"/action", `{"abort-task": {}}`); r.code != http.StatusAccepted {
		t.Fatalf("abort-task: got %d %s", r.code, r.body)
	}
	failed := waitStatus(t, demo.db, aborted.ID, "ERROR", 2*time.Minute)
	if failed.Fault == nil || !strings.Contains(failed.Fault.Message, "aborted by an operator") {
		t.Errorf("fault of the aborted create: got %+v", failed.Fault)
	}
	if left := leftovers(t, aborted.ID); len(left) > 0 {
		t.Errorf("the aborted create left %v in the cloud", left)
	}

	// Nobody answers for the other: it aborts by itself after the park timeout.
	failed = waitStatus(t, demo.db, timedOut.ID, "ERROR", parkTimeout+2*time.Minute)
	if failed.Fault == nil || !strings.Contains(failed.Fault.Message, "no operator answered within "+parkTimeout.String()) {
		t.Errorf("fault of the timed-out create: got %+v", failed.Fault)
	}
	if left := leftovers(t, timedOut.ID); len(left) > 0 {
		t.Errorf("the timed-out create left %v in the cloud", left)
	}
}

// wantOneServerAndVolume checks that the cloud holds exactly one server and one volume of
// the instance: nothing was made twice.
func wantOneServerAndVolume(t *testing.T, id string) {
	t.Helper()
	var nServers, nVolumes int
	for _, r := range leftovers(t, id) {
		switch {
		case strings.HasPrefix(r, "server "):
			nServers++
		case strings.HasPrefix(r, "volume "):
			nVolumes++
		}
	}
	if nServers != 1 || nVolumes != 1 {
		t.Errorf("instance %s has %d servers and %d volumes in the cloud, want 1 and 1: %v", id, nServers, nVolumes, leftovers(t, id))
	}
}

// waitStep polls the workflow's progress until it runs step (or has done it).
func waitStep(t *testing.T, workflowID, step string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v, err := cloud.Client.QueryWorkflow(context.Background(), workflowID, "", workflows.ProgressQuery)
		if err == nil {
			var p workflows.Progress
			if v.Get(&p) == nil && (p.Step == step || containsString(p.Done, step)) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not reach step %q within %s", workflowID, step, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestCrashedWorkerAndAPIFinishCreateAndResizeWithNothingTwice(t *testing.T) {
	ctx := context.Background()
	demo := login(t, "demo")

	inst, err := instances.Create(ctx, demo.db, postgresOpts("crash-create")).Extract()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteQuietly(demo, inst.ID) })
	// The API goes down and comes back: what it started goes on.
	if err := cloud.KillAPI(); err != nil {
		t.Fatal(err)
	}
	if err := cloud.StartAPI(); err != nil {
		t.Fatal(err)
	}
	// The worker dies as the create makes the server, and comes back.
	waitStep(t, workflows.CreateWorkflowID(inst.ID), workflows.StepCreateServer, time.Minute)
	if err := cloud.KillWorker(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if err := cloud.StartWorker(); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, demo.db, inst.ID, "ACTIVE", 4*time.Minute)
	wantOneServerAndVolume(t, inst.ID)

	if err := instances.Resize(ctx, demo.db, inst.ID, "ds1G").ExtractErr(); err != nil {
		t.Fatalf("resize: %v", err)
	}
	waitStep(t, workflows.ResizeWorkflowID(inst.ID), workflows.StepResizeServer, time.Minute)
	if err := cloud.KillWorker(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if err := cloud.StartWorker(); err != nil {
		t.Fatal(err)
	}
	done := waitStatus(t, demo.db, inst.ID, "ACTIVE", 5*time.Minute)
	if done.Flavor.ID != "ds1G" {
		t.Errorf("flavor after the crashed resize: got %s, want ds1G", done.Flavor.ID)
	}
	wantOneServerAndVolume(t, inst.ID)
}

func TestHealthFollowsTheEngineAndTheGuest(t *testing.T) {
	ctx := context.Background()
	demo, admin := login(t, "demo"), login(t, "admin")
	d := newDatabase(t, demo, "watched")
	shown := waitOperatingStatus(t, demo, d.id, "HEALTHY", 30*time.Second)
	if shown["service_status_updated"] == nil {
		t.Errorf("show has no service_status_updated: %v", shown)
	}
	// The guest reports to the gateway: no workflow watches the instance.
	if _, err := cloud.Client.DescribeWorkflowExecution(ctx, workflows.MonitorWorkflowID(d.id), ""); err == nil {
		t.Errorf("instance %s has a monitor workflow, want none: its guest reports its health itself", d.id)
	}
	rec, err := cloud.Catalog.GetInstance(ctx, "", d.id)
	if err != nil {
		t.Fatal(err)
	}
	volume := filepath.Join(devcloudDir(t), "volumes", rec.VolumeID)
	engine := &pgcluster.Cluster{DataDir: filepath.Join(volume, "pgdata"), Host: d.address, Port: 5432, LogFile: filepath.Join(volume, "postgresql.log")}
	engine.SocketDir = socketDirOf(t, engine.DataDir)
	// The engine started by hand belongs to the server, as the agent's does: it carries the
	// mark the devcloud's hypervisor finds the server's processes by.
	t.Setenv("DEVCLOUD_SERVER", filepath.Join(devcloudDir(t), "servers", rec.ServerID))

	// PostgreSQL stopped behind the agent's back: SHUTDOWN, then HEALTHY once it is back.
	if err := engine.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	waitOperatingStatus(t, demo, d.id, "SHUTDOWN", 3*healthInterval+5*time.Second)
	if err := engine.Start(ctx, nil); err != nil {
		t.Fatal(err)
	}
	waitOperatingStatus(t, demo, d.id, "HEALTHY", 3*healthInterval+5*time.Second)

	// The guest agent and its server gone: ERROR once the last report is too old.
	if err := devcloud.CrashServer(ctx, admin.provider, cloud.Cloud.URL(), rec.ServerID); err != nil {
		t.Fatal(err)
	}
	crashed := time.Now()
	waitOperatingStatus(t, demo, d.id, "ERROR", heartbeatExpiry+3*healthInterval+10*time.Second)
	if took := time.Since(crashed); took < heartbeatExpiry-healthInterval {
		t.Errorf("ERROR after %s, before the staleness limit %s", took, heartbeatExpiry)
	}
	// The silence starts one workflow, once: it notes the silence as the instance's fault
	// and asks for an operator's attention, and ends; later sweeps start no other.
	silentRuns := fmt.Sprintf("WorkflowId = '%s'", workflows.SilentWorkflowID(d.id))
	waitRuns(t, silentRuns+" AND ExecutionStatus = 'Completed' AND CofferNeedsAttention = 'true'", 1, time.Minute)
	faulted := waitFault(t, demo, d.id, "has not reported", 30*time.Second)
	time.Sleep(3 * healthInterval) // sweeps that must start nothing
	if n := countRuns(t, silentRuns); n != 1 {
		t.Errorf("runs of %s while the guest is silent: %d, want 1", workflows.SilentWorkflowID(d.id), n)
	}

	// The server started again: its agent starts the engine and reports HEALTHY.
	compute := serviceCompute(t)
	if err := waitServerShutoff(ctx, compute, rec.ServerID); err != nil {
		t.Fatal(err)
	}
	if err := servers.Start(ctx, compute, rec.ServerID).ExtractErr(); err != nil {
		t.Fatalf("start the server again: %v", err)
	}
	back := waitOperatingStatus(t, demo, d.id, "HEALTHY", 2*time.Minute)
	// The report that ended the silence cleared its fault, and started nothing.
	if back["fault"] != nil {
		t.Errorf("fault once the guest reports again: %v, want none (it was %v)", back["fault"], faulted)
	}
	if n := countRuns(t, silentRuns); n != 1 {
		t.Errorf("runs of %s after the guest came back: %d, want 1", workflows.SilentWorkflowID(d.id), n)
	}
}

// countRuns counts the workflow runs that match a visibility query.
func countRuns(t *testing.T, query string) int {
	t.Helper()
	resp, err := cloud.Client.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: query})
	if err != nil {
		t.Fatalf("list workflows %q: %v", query, err)
	}
	return len(resp.GetExecutions())
}

// waitRuns polls until want runs match query.
func waitRuns(t *testing.T, query string, want int, timeout time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(timeout); ; time.Sleep(500 * time.Millisecond) {
		n := countRuns(t, query)
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("runs matching %q after %s: %d, want %d", query, timeout, n, want)
		}
	}
}

// waitFault polls until the instance shows a fault whose message holds part, and returns it.
func waitFault(t *testing.T, demo tenant, id, part string, timeout time.Duration) map[string]any {
	t.Helper()
	for deadline := time.Now().Add(timeout); ; time.Sleep(500 * time.Millisecond) {
		shown := showRaw(t, demo, id)
		if f, ok := shown["fault"].(map[string]any); ok {
			if msg, _ := f["message"].(string); strings.Contains(msg, part) {
				return f
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance %s after %s: fault %v, want one saying %q", id, timeout, shown["fault"], part)
		}
	}
}

// socketDirOf reads the socket folder of a running cluster from its postmaster.pid.
func socketDirOf(t *testing.T, dataDir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 5 {
		t.Fatalf("postmaster.pid of %s has %d lines", dataDir, len(lines))
	}
	return strings.TrimSpace(lines[4])
}

// waitServerShutoff waits until Nova has noticed the crash.
func waitServerShutoff(ctx context.Context, compute *gophercloud.ServiceClient, id string) error {
	deadline := time.Now().Add(time.Minute)
	for {
		s, err := servers.Get(ctx, compute, id).Extract()
		if err != nil {
			return err
		}
		if s.Status == "SHUTOFF" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server %s is %s a minute after its crash, want SHUTOFF", id, s.Status)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// The API cannot claim an instance's task and then die before the workflow exists: the
// workflow claims it as its first step. With no worker to run that step, the API answers
// 503 after workflows.ClaimWait, and the workflow, when a worker runs it at last, finds its
// claim window over and leaves the instance as it was: a retry then works.
func TestRestartThatNoWorkerClaimedInTimeLeavesTheInstanceAsItWas(t *testing.T) {
	ctx := context.Background()
	demo := login(t, "demo")
	d := newDatabase(t, demo, "unclaimed")

	if err := cloud.KillWorker(); err != nil {
		t.Fatal(err)
	}
	workerUp := false
	t.Cleanup(func() {
		if !workerUp {
			_ = cloud.StartWorker()
		}
	})
	asked := time.Now()
	err := instances.Restart(ctx, demo.db, d.id).ExtractErr()
	if !gophercloud.ResponseCodeIs(err, http.StatusServiceUnavailable) {
		t.Fatalf("restart with no worker: got %v, want 503", err)
	}
	if took := time.Since(asked); took < workflows.ClaimWindow {
		t.Errorf("503 after %s, before the claim window %s ended", took, workflows.ClaimWindow)
	}
	if inst, err := instances.Get(ctx, demo.db, d.id).Extract(); err != nil || inst.Status != "ACTIVE" {
		t.Fatalf("after the 503: got %+v (%v), want the instance ACTIVE, its task free", inst, err)
	}

	if err := cloud.StartWorker(); err != nil {
		t.Fatal(err)
	}
	workerUp = true
	run := cloud.Client.GetWorkflow(ctx, workflows.RestartWorkflowID(d.id), "")
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := run.Get(wctx, nil); err != nil {
		t.Fatalf("the unclaimed restart did not end cleanly: %v", err)
	}
	if inst, err := instances.Get(ctx, demo.db, d.id).Extract(); err != nil || inst.Status != "ACTIVE" {
		t.Fatalf("after the late workflow: got %+v (%v), want the instance ACTIVE, untouched", inst, err)
	}

	if err := instances.Restart(ctx, demo.db, d.id).ExtractErr(); err != nil {
		t.Fatalf("restart again: %v", err)
	}
	waitSeen(t, demo, d.id, "REBOOT", 10*time.Second)
	waitStatus(t, demo.db, d.id, "ACTIVE", 2*time.Minute)
}
