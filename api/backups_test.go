package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/uuid"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/catalog"
)

// activeInstance records an ACTIVE instance of the project.
func (h *harness) activeInstance(projectID string) string {
	return h.record(&coffer.Instance{
		ID: uuid.NewString(), ProjectID: projectID, Name: "src", FlavorID: "ds1G", VolumeSize: 2, Datastore: "postgresql", Version: "15",
		Task: coffer.TaskNone, ServerStatus: "ACTIVE", ServiceStatus: coffer.ServiceHealthy,
	})
}

func decode[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return v
}

type backupBody struct {
	Backup struct {
		ID         string `json:"id"`
		Status     string `json:"status"`
		InstanceID string `json:"instance_id"`
		Datastore  struct {
			Type    string `json:"type"`
			Version string `json:"version"`
		} `json:"datastore"`
		StorageDriver string `json:"storage_driver"`
	} `json:"backup"`
}

func TestBackupLifecycleThroughTheAPI(t *testing.T) {
	h := newHarness(t)
	demo, alt := h.login("demo"), h.login("alt_demo")
	id := h.activeInstance(demo.projectID)
	base := "/v1.0/" + demo.projectID

	r := h.do(http.MethodPost, base+"/backups", demo.token, map[string]any{"backup": map[string]any{"name": "nightly", "instance": id}})
	if r.status != http.StatusAccepted {
		t.Fatalf("create backup: got %d %s, want 202", r.status, r.body)
	}
	b := decode[backupBody](t, r).Backup
	if b.Status != "NEW" || b.InstanceID != id || b.Datastore.Type != "postgresql" || b.StorageDriver != "swift" {
		t.Errorf("created backup: got %+v, want NEW of %s, postgresql, swift", b, id)
	}
	if len(h.workflows.backups) != 1 || h.workflows.backups[0].BackupID != b.ID || h.workflows.backups[0].InstanceID != id {
		t.Errorf("backup workflows started: got %+v, want one for backup %s", h.workflows.backups, b.ID)
	}

	inst := h.do(http.MethodGet, base+"/instances/"+id, demo.token, nil)
	if st := decode[struct {
		Instance struct{ Status string } `json:"instance"`
	}](t, inst).Instance.Status; st != "BACKUP" {
		t.Errorf("instance while its backup runs: got status %s, want BACKUP", st)
	}
	r = h.do(http.MethodPost, base+"/backups", demo.token, map[string]any{"backup": map[string]any{"name": "again", "instance": id}})
	wantFault(t, "second backup", r, http.StatusUnprocessableEntity, "unprocessableEntity")
	r = h.do(http.MethodDelete, base+"/backups/"+b.ID, demo.token, nil)
	wantFault(t, "delete of a running backup", r, http.StatusUnprocessableEntity, "unprocessableEntity")

	for _, path := range []string{"/backups", "/backups?instance_id=" + id, "/backups?datastore=postgresql", "/instances/" + id + "/backups"} {
		r = h.do(http.MethodGet, base+path, demo.token, nil)
		list := decode[struct {
			Backups []struct{ ID string } `json:"backups"`
		}](t, r)
		if r.status != http.StatusOK || len(list.Backups) != 1 || list.Backups[0].ID != b.ID {
			t.Errorf("GET %s: got %d %s, want the one backup", path, r.status, r.body)
		}
	}
	r = h.do(http.MethodGet, base+"/backups?datastore=mysql", demo.token, nil)
	if list := decode[struct{ Backups []any }](t, r); len(list.Backups) != 0 {
		t.Errorf("backups of mysql: got %s, want none", r.body)
	}
	r = h.do(http.MethodGet, "/v1.0/"+alt.projectID+"/backups/"+b.ID, alt.token, nil)
	wantFault(t, "another project's backup", r, http.StatusNotFound, "itemNotFound")
	r = h.do(http.MethodGet, base+"/backups?all_projects=true", demo.token, nil)
	wantFault(t, "all_projects as a member", r, http.StatusForbidden, "forbidden")

	h.completeBackup(b.ID, 1<<20)
	r = h.do(http.MethodDelete, base+"/backups/"+b.ID, demo.token, nil)
	if r.status != http.StatusAccepted {
		t.Fatalf("delete backup: got %d %s, want 202", r.status, r.body)
	}
	if len(h.workflows.backupDeletes) != 1 || h.workflows.backupDeletes[0].BackupID != b.ID {
		t.Errorf("delete workflows started: got %+v", h.workflows.backupDeletes)
	}
}

func TestBackupOfABusyOrMissingInstanceIsRefused(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	base := "/v1.0/" + demo.projectID
	id := h.activeInstance(demo.projectID)
	if _, err := h.catalog.StartTask(context.Background(), demo.projectID, id, coffer.TaskResizing, ""); err != nil {
		t.Fatal(err)
	}
	r := h.do(http.MethodPost, base+"/backups", demo.token, map[string]any{"backup": map[string]any{"name": "b", "instance": id}})
	wantFault(t, "backup of a resizing instance", r, http.StatusUnprocessableEntity, "unprocessableEntity")
	r = h.do(http.MethodPost, base+"/backups", demo.token, map[string]any{"backup": map[string]any{"name": "b", "instance": uuid.NewString()}})
	wantFault(t, "backup of a missing instance", r, http.StatusNotFound, "itemNotFound")
	r = h.do(http.MethodPost, base+"/backups", demo.token, map[string]any{"backup": map[string]any{"name": "b", "instance": id, "incremental": 1}})
	wantFault(t, "incremental backup", r, http.StatusNotImplemented, "notImplemented")
}

func TestRestoreTakesOnlyACompletedBackupThatFits(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	base := "/v1.0/" + demo.projectID
	id := h.activeInstance(demo.projectID)
	r := h.do(http.MethodPost, base+"/backups", demo.token, map[string]any{"backup": map[string]any{"name": "b", "instance": id}})
	b := decode[backupBody](t, r).Backup

	create := func(backupRef string, size int, datastore map[string]any) response {
		inst := map[string]any{"name": "restored", "flavorRef": "ds1G", "volume": map[string]any{"size": size},
			"restorePoint": map[string]any{"backupRef": backupRef}}
		if datastore != nil {
			inst["datastore"] = datastore
		}
		return h.do(http.MethodPost, base+"/instances", demo.token, map[string]any{"instance": inst})
	}
	wantFault(t, "restore of a running backup", create(b.ID, 2, nil), http.StatusUnprocessableEntity, "unprocessableEntity")
	wantFault(t, "restore of a missing backup", create(uuid.NewString(), 2, nil), http.StatusNotFound, "itemNotFound")

	h.completeBackup(b.ID, 3<<30)
	wantFault(t, "restore into a volume too small", create(b.ID, 2, nil), http.StatusBadRequest, "badRequest")
	h.completeBackup(b.ID, 1<<30)
	wantFault(t, "restore into another datastore", create(b.ID, 2, map[string]any{"type": "mysql", "version": "8.0"}), http.StatusBadRequest, "badRequest")

	r = create(b.ID, 2, nil)
	if r.status != http.StatusOK {
		t.Fatalf("restore: got %d %s, want 200", r.status, r.body)
	}
	creates, _ := h.workflows.started()
	if len(creates) != 1 || creates[0].Restore == nil || creates[0].Restore.BackupID != b.ID || creates[0].Datastore != "postgresql" {
		t.Fatalf("create workflows: got %+v, want one restoring backup %s", creates, b.ID)
	}
}

func TestBackupSchedulesThroughTheAPI(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	id := h.activeInstance(demo.projectID)
	path := "/v1.0/" + demo.projectID + "/instances/" + id + "/backup-schedules"

	for _, bad := range []map[string]any{
		{"cron": "0 3 * * *", "interval": "1h", "keep": 2},
		{"keep": 2},
		{"cron": "0 3 *", "keep": 2},
		{"interval": "1s", "keep": 2},
		{"cron": "0 3 * * *", "keep": 0},
	} {
		r := h.do(http.MethodPost, path, demo.token, map[string]any{"backup_schedule": bad})
		wantFault(t, "schedule "+string(r.body), r, http.StatusBadRequest, "badRequest")
	}
	r := h.do(http.MethodPost, path, demo.token, map[string]any{"backup_schedule": map[string]any{"name": "nightly", "cron": "0 3 * * *", "keep": 7}})
	if r.status != http.StatusOK {
		t.Fatalf("create schedule: got %d %s", r.status, r.body)
	}
	sc := decode[struct {
		BackupSchedule struct {
			ID   string `json:"id"`
			Cron string `json:"cron"`
			Keep int    `json:"keep"`
		} `json:"backup_schedule"`
	}](t, r).BackupSchedule
	if sc.Cron != "0 3 * * *" || sc.Keep != 7 || len(h.workflows.schedules) != 1 || h.workflows.schedules[0].ID != sc.ID {
		t.Errorf("schedule: got %+v and temporal schedules %+v", sc, h.workflows.schedules)
	}
	r = h.do(http.MethodGet, path, demo.token, nil)
	if list := decode[struct {
		BackupSchedules []struct{ ID string } `json:"backup_schedules"`
	}](t, r); len(list.BackupSchedules) != 1 {
		t.Errorf("list schedules: got %s", r.body)
	}
	if r = h.do(http.MethodDelete, path+"/"+sc.ID, demo.token, nil); r.status != http.StatusAccepted {
		t.Errorf("delete schedule: got %d %s", r.status, r.body)
	}
	if len(h.workflows.schedules) != 0 {
		t.Errorf("temporal schedules after delete: %+v", h.workflows.schedules)
	}
	wantFault(t, "delete a deleted schedule", h.do(http.MethodDelete, path+"/"+sc.ID, demo.token, nil), http.StatusNotFound, "itemNotFound")
}

// completeBackup marks a backup COMPLETED with rawSize bytes, as its workflow would.
func (h *harness) completeBackup(id string, rawSize int64) {
	h.t.Helper()
	if err := h.catalog.CompleteBackup(context.Background(), id, catalog.BackupResult{RawSize: rawSize, Size: rawSize}); err != nil {
		h.t.Fatalf("complete backup %s: %v", id, err)
	}
}
