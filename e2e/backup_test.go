package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/databases"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/instances"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/users"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"
	"github.com/jackc/pgx/v5"

	"github.com/coffer-dbaas/coffer/dev/devcloud"
)

// backupView is what the tests read of a backup.
type backupView struct {
	ID          string  `json:"id"`
	Status      string  `json:"status"`
	InstanceID  string  `json:"instance_id"`
	LocationRef string  `json:"locationRef"`
	Size        float64 `json:"size"`
	SizeBytes   int64   `json:"size_bytes"`
	RawBytes    int64   `json:"raw_bytes"`
	Checksum    string  `json:"checksum"`
	FailReason  string  `json:"fail_reason"`
}

// call sends a JSON request to the API as the tenant and decodes the answer into out.
func call(t testing.TB, who tenant, method, path string, body, out any) int {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, cloud.APIURL+"/v1.0/"+who.projectID+path, r)
	req.Header.Set("X-Auth-Token", who.provider.Token())
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	if resp.StatusCode >= 300 && out == nil {
		t.Logf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode
}

func startBackup(t testing.TB, who tenant, instanceID, name string) backupView {
	t.Helper()
	var out struct{ Backup backupView }
	code := call(t, who, http.MethodPost, "/backups", map[string]any{"backup": map[string]any{"name": name, "instance": instanceID}}, &out)
	if code != http.StatusAccepted {
		t.Fatalf("create backup of %s: got HTTP %d, want 202", instanceID, code)
	}
	return out.Backup
}

func getBackup(t testing.TB, who tenant, id string) (backupView, int) {
	t.Helper()
	var out struct{ Backup backupView }
	code := call(t, who, http.MethodGet, "/backups/"+id, nil, &out)
	return out.Backup, code
}

// waitBackup polls a backup until it is in one of the states, and returns it.
func waitBackup(t testing.TB, who tenant, id string, timeout time.Duration, states ...string) backupView {
	t.Helper()
	return waitBackupEvery(t, who, id, timeout, time.Second, states...)
}

// waitBackupEvery is waitBackup polling every interval (a benchmark's timing needs less slack
// than a second).
func waitBackupEvery(t testing.TB, who tenant, id string, timeout, interval time.Duration, states ...string) backupView {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, code := getBackup(t, who, id)
		if code != http.StatusOK {
			t.Fatalf("get backup %s: HTTP %d", id, code)
		}
		for _, s := range states {
			if b.Status == s {
				return b
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("backup %s is %s after %s (reason %q), want one of %v", id, b.Status, timeout, b.FailReason, states)
		}
		time.Sleep(interval)
	}
}

func deleteBackupAndWait(t testing.TB, who tenant, id string) {
	t.Helper()
	if code := call(t, who, http.MethodDelete, "/backups/"+id, nil, nil); code != http.StatusAccepted {
		t.Fatalf("delete backup %s: got HTTP %d, want 202", id, code)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, code := getBackup(t, who, id); code == http.StatusNotFound {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("backup %s still there 2 minutes after its delete", id)
		}
		time.Sleep(time.Second)
	}
}

// swiftAsService is the devcloud's Swift as the control plane's user, who owns the backups.
func swiftAsService(t testing.TB) *gophercloud.ServiceClient {
	t.Helper()
	pc, err := openstack.AuthenticatedClient(context.Background(), gophercloud.AuthOptions{
		IdentityEndpoint: cloud.Cloud.IdentityURL(), Username: "coffer", Password: "coffer",
		DomainName: "Default", TenantName: "service",
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := openstack.NewObjectStorageV1(pc, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// backupObjects lists what Swift holds of a backup: its manifest and segments.
func backupObjects(t testing.TB, backupID string) []string {
	t.Helper()
	container := cloud.Config.Backup.Container
	page, err := objects.List(swiftAsService(t), container, objects.ListOpts{Prefix: "backups/" + backupID}).AllPages(context.Background())
	if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("list container %s: %v", container, err)
	}
	names, err := objects.ExtractNames(page)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func adminProvider(t testing.TB) *gophercloud.ProviderClient {
	t.Helper()
	pc, err := openstack.AuthenticatedClient(context.Background(), gophercloud.AuthOptions{
		IdentityEndpoint: cloud.Cloud.IdentityURL(), Username: "admin", Password: "admin",
		DomainName: "Default", TenantName: "admin",
	})
	if err != nil {
		t.Fatal(err)
	}
	return pc
}

func injectFault(t testing.TB, f devcloud.Fault) {
	t.Helper()
	pc := adminProvider(t)
	base := devcloud.AdminBaseURL(cloud.Cloud.IdentityURL())
	rule, err := devcloud.InjectFault(context.Background(), pc, base, f)
	if err != nil {
		t.Fatalf("inject fault %+v: %v", f, err)
	}
	t.Cleanup(func() { _ = devcloud.RemoveFault(context.Background(), pc, base, rule.ID) })
}

// sourceInstance makes an ACTIVE instance with database shop and user clerk, and deletes it
// at the end of the test.
func sourceInstance(t *testing.T, who tenant, name, password string) *instances.Instance {
	t.Helper()
	opts := postgresOpts(name)
	opts.Databases = databases.BatchCreateOpts{{Name: "shop"}}
	opts.Users = users.BatchCreateOpts{{Name: "clerk", Password: password, Databases: databases.BatchCreateOpts{{Name: "shop"}}}}
	created, err := instances.Create(context.Background(), who.db, opts).Extract()
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	t.Cleanup(func() { deleteInstance(t, who, created.ID) })
	return waitStatus(t, who.db, created.ID, "ACTIVE", 4*time.Minute)
}

func deleteInstance(t testing.TB, who tenant, id string) {
	if err := instances.Delete(context.Background(), who.db, id).ExtractErr(); err != nil {
		if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			return
		}
		t.Logf("delete instance %s: %v", id, err)
		return
	}
	waitGone(t, who.db, id, 3*time.Minute)
}

func connectAs(t testing.TB, inst *instances.Instance, user, password, db string) *pgx.Conn {
	t.Helper()
	addr := inst.IP[0]
	conn, err := pgx.Connect(context.Background(), fmt.Sprintf("host=%s port=5432 user=%s password=%s dbname=%s sslmode=disable", addr, user, password, db))
	if err != nil {
		t.Fatalf("connect to %s as %s: %v", addr, user, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func execSQL(t testing.TB, conn *pgx.Conn, sql string) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// restoreInstance asks for a new instance made from a backup and returns its ID.
func restoreInstance(t *testing.T, who tenant, name, backupID string) string {
	t.Helper()
	var out struct {
		Instance struct {
			ID string `json:"id"`
		} `json:"instance"`
	}
	code := call(t, who, http.MethodPost, "/instances", map[string]any{"instance": map[string]any{
		"name": name, "flavorRef": "ds512M", "volume": map[string]any{"size": 1},
		"restorePoint": map[string]any{"backupRef": backupID},
	}}, &out)
	if code != http.StatusOK {
		t.Fatalf("create %s from backup %s: got HTTP %d, want 200", name, backupID, code)
	}
	t.Cleanup(func() { deleteInstance(t, who, out.Instance.ID) })
	return out.Instance.ID
}

// corruptSegment flips a byte in the middle of the backup's first segment, in the file the
// devcloud keeps it in.
func corruptSegment(t testing.TB, backupID string) {
	t.Helper()
	root := filepath.Join(devcloudDir(t), "swift")
	sidecars, _ := filepath.Glob(filepath.Join(root, "*", cloud.Config.Backup.Container, "*.json"))
	for _, path := range sidecars {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		var rec struct {
			Name string `json:"name"`
			Data string `json:"data"`
		}
		if json.Unmarshal(b, &rec) != nil || rec.Data == "" || !strings.HasPrefix(rec.Name, "backups/"+backupID+"/segments/") {
			continue
		}
		data := filepath.Join(filepath.Dir(path), rec.Data)
		f, err := os.OpenFile(data, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		st, _ := f.Stat()
		one := make([]byte, 1)
		off := st.Size() / 2
		if _, err := f.ReadAt(one, off); err != nil {
			t.Fatal(err)
		}
		one[0] ^= 0xff
		if _, err := f.WriteAt(one, off); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("no segment of backup %s under %s", backupID, root)
}

// devcloudDir is the data folder of this package's own devcloud, as its stack knows it.
func devcloudDir(testing.TB) string { return cloud.Cloud.DataDir() }

func serverOf(t testing.TB, instanceID string) string {
	t.Helper()
	inst, err := cloud.Catalog.GetInstance(context.Background(), "", instanceID)
	if err != nil {
		t.Fatal(err)
	}
	return inst.ServerID
}

func TestBackupFaults(t *testing.T) {
	demo := login(t, "demo")
	password := randomPassword(t)
	src := sourceInstance(t, demo, "backup-faults", password)
	conn := connectAs(t, src, "clerk", password, "shop")
	execSQL(t, conn, "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 50000) g")

	t.Run("SwiftFailing", func(t *testing.T) {
		injectFault(t, devcloud.Fault{Service: "object-store", Operation: "object.put", Status: 500})
		b := startBackup(t, demo, src.ID, "swift-down")
		b = waitBackup(t, demo, b.ID, 4*time.Minute, "COMPLETED", "FAILED")
		if b.Status != "FAILED" || !strings.Contains(b.FailReason, "500") {
			t.Errorf("backup with swift failing: got %s (%q), want FAILED naming the 500", b.Status, b.FailReason)
		}
		if objs := backupObjects(t, b.ID); len(objs) != 0 {
			t.Errorf("a failed backup left %v in swift", objs)
		}
	})
	waitStatus(t, demo.db, src.ID, "ACTIVE", time.Minute)

	t.Run("GuestKilledMidBackup", func(t *testing.T) {
		// Every PUT takes 15 s, so the guest is still streaming when it dies.
		injectFault(t, devcloud.Fault{Service: "object-store", Operation: "object.put", Latency: 15 * time.Second})
		b := startBackup(t, demo, src.ID, "crash")
		waitBackup(t, demo, b.ID, time.Minute, "BUILDING")
		time.Sleep(5 * time.Second)
		pc := adminProvider(t)
		if err := devcloud.CrashServer(context.Background(), pc, devcloud.AdminBaseURL(cloud.Cloud.IdentityURL()), serverOf(t, src.ID)); err != nil {
			t.Fatalf("crash the source's server: %v", err)
		}
		b = waitBackup(t, demo, b.ID, 5*time.Minute, "COMPLETED", "FAILED")
		if b.Status != "FAILED" || b.FailReason == "" {
			t.Errorf("backup of a killed guest: got %s (%q), want FAILED with a reason", b.Status, b.FailReason)
		}
		t.Logf("backup of a killed guest: %s", b.FailReason)
		time.Sleep(16 * time.Second) // a PUT the dead guest started may still land
		if objs := backupObjects(t, b.ID); len(objs) != 0 {
			t.Errorf("a backup whose guest died left %v in swift", objs)
		}
	})
}

func TestScheduledBackupsKeepTheNewest(t *testing.T) {
	demo := login(t, "demo")
	src := sourceInstance(t, demo, "scheduled", randomPassword(t))
	var sc struct {
		BackupSchedule struct {
			ID string `json:"id"`
		} `json:"backup_schedule"`
	}
	code := call(t, demo, http.MethodPost, "/instances/"+src.ID+"/backup-schedules",
		map[string]any{"backup_schedule": map[string]any{"name": "often", "interval": "15s", "keep": 2}}, &sc)
	if code != http.StatusOK {
		t.Fatalf("create schedule: HTTP %d", code)
	}
	stop := func() {
		call(t, demo, http.MethodDelete, "/instances/"+src.ID+"/backup-schedules/"+sc.BackupSchedule.ID, nil, nil)
	}
	t.Cleanup(stop)

	// Wait until the schedule has made more than it keeps, and the oldest went.
	seen := map[string]bool{}
	deadline := time.Now().Add(4 * time.Minute)
	for {
		var list struct{ Backups []backupView }
		call(t, demo, http.MethodGet, "/instances/"+src.ID+"/backups", nil, &list)
		completed := 0
		for _, b := range list.Backups {
			seen[b.ID] = true
			if b.Status == "COMPLETED" {
				completed++
			}
		}
		if len(seen) >= 3 && completed == 2 && len(list.Backups) <= 3 {
			gone := 0
			for id := range seen {
				if _, code := getBackup(t, demo, id); code == http.StatusNotFound {
					gone++
					if objs := backupObjects(t, id); len(objs) != 0 {
						t.Errorf("pruned backup %s left %v in swift", id, objs)
					}
				}
			}
			if gone > 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 4 minutes the schedule made %d backups, %d completed now; want the oldest of 3 gone", len(seen), completed)
		}
		time.Sleep(2 * time.Second)
	}
	stop()
	var list struct {
		BackupSchedules []struct{ ID string } `json:"backup_schedules"`
	}
	call(t, demo, http.MethodGet, "/instances/"+src.ID+"/backup-schedules", nil, &list)
	if len(list.BackupSchedules) != 0 {
		t.Errorf("schedules after delete: %+v", list.BackupSchedules)
	}
	// Clean the schedule's backups up, once none runs.
	time.Sleep(20 * time.Second)
	var rest struct{ Backups []backupView }
	call(t, demo, http.MethodGet, "/instances/"+src.ID+"/backups", nil, &rest)
	for _, b := range rest.Backups {
		b = waitBackup(t, demo, b.ID, 2*time.Minute, "COMPLETED", "FAILED")
		deleteBackupAndWait(t, demo, b.ID)
	}
}
