package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/api"
	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/workflows"
)

// backupCatalog adds backups and schedules to the fake catalog, with catalog.Store's rules:
// one running backup per instance, none while a task holds it.
type backupCatalog struct {
	*fakeCatalog
	bmu       sync.Mutex
	backups   []*coffer.Backup
	schedules []*coffer.BackupSchedule
}

var _ api.BackupCatalog = (*backupCatalog)(nil)

func (c *backupCatalog) running(instanceID string) bool {
	return slices.ContainsFunc(c.backups, func(b *coffer.Backup) bool { return b.InstanceID == instanceID && b.Status.Running() })
}

func (c *backupCatalog) GetInstance(ctx context.Context, projectID, id string) (*coffer.Instance, error) {
	inst, err := c.fakeCatalog.GetInstance(ctx, projectID, id)
	if err == nil {
		c.bmu.Lock()
		inst.BackupRunning = c.running(inst.ID)
		c.bmu.Unlock()
	}
	return inst, err
}

func (c *backupCatalog) CreateBackup(ctx context.Context, b *coffer.Backup) error {
	inst, err := c.GetInstance(ctx, b.ProjectID, b.InstanceID)
	if err != nil {
		return err
	}
	c.bmu.Lock()
	defer c.bmu.Unlock()
	switch {
	case inst.Task != coffer.TaskNone:
		return catalog.ErrTaskRunning
	case inst.BackupRunning:
		return catalog.ErrBackupRunning
	}
	b.Status, b.Datastore, b.Version, b.VolumeSize = coffer.BackupNew, inst.Datastore, inst.Version, inst.VolumeSize
	cp := *b
	c.backups = append(c.backups, &cp)
	return nil
}

func (c *backupCatalog) GetBackup(_ context.Context, projectID, id string) (*coffer.Backup, error) {
	c.bmu.Lock()
	defer c.bmu.Unlock()
	for _, b := range c.backups {
		if b.ID == id && (projectID == "" || b.ProjectID == projectID) {
			cp := *b
			return &cp, nil
		}
	}
	return nil, catalog.ErrNotFound
}

func (c *backupCatalog) ListBackups(_ context.Context, f catalog.BackupFilter) ([]*coffer.Backup, error) {
	c.bmu.Lock()
	defer c.bmu.Unlock()
	var out []*coffer.Backup
	for _, b := range c.backups {
		if (f.ProjectID == "" || b.ProjectID == f.ProjectID) && (f.InstanceID == "" || b.InstanceID == f.InstanceID) &&
			(f.Datastore == "" || b.Datastore == f.Datastore) {
			cp := *b
			out = append(out, &cp)
		}
	}
	return out, nil
}

func (c *backupCatalog) DeleteBackup(_ context.Context, id string) error {
	c.bmu.Lock()
	defer c.bmu.Unlock()
	c.backups = slices.DeleteFunc(c.backups, func(b *coffer.Backup) bool { return b.ID == id })
	return nil
}

func (c *backupCatalog) setStatus(id string, s coffer.BackupStatus, raw int64) {
	c.bmu.Lock()
	defer c.bmu.Unlock()
	for _, b := range c.backups {
		if b.ID == id {
			b.Status, b.RawSize = s, raw
		}
	}
}

func (c *backupCatalog) CreateBackupSchedule(_ context.Context, sc *coffer.BackupSchedule) error {
	c.bmu.Lock()
	defer c.bmu.Unlock()
	cp := *sc
	c.schedules = append(c.schedules, &cp)
	return nil
}

func (c *backupCatalog) ListBackupSchedules(_ context.Context, projectID, instanceID string) ([]*coffer.BackupSchedule, error) {
	c.bmu.Lock()
	defer c.bmu.Unlock()
	var out []*coffer.BackupSchedule
	for _, sc := range c.schedules {
		if sc.InstanceID == instanceID && (projectID == "" || sc.ProjectID == projectID) {
			out = append(out, sc)
		}
	}
	return out, nil
}

func (c *backupCatalog) DeleteBackupSchedule(_ context.Context, _, _, id string) error {
	c.bmu.Lock()
	defer c.bmu.Unlock()
	c.schedules = slices.DeleteFunc(c.schedules, func(sc *coffer.BackupSchedule) bool { return sc.ID == id })
	return nil
}

// backupWorkflows records the backup workflows and schedules the API starts.
type backupWorkflows struct {
	*fakeWorkflows
	bmu       sync.Mutex
	backups   []workflows.BackupInstanceInput
	deletes   []workflows.DeleteBackupInput
	schedules []coffer.BackupSchedule
}

var _ api.BackupWorkflows = (*backupWorkflows)(nil)

func (w *backupWorkflows) StartBackup(_ context.Context, in workflows.BackupInstanceInput) error {
	w.bmu.Lock()
	defer w.bmu.Unlock()
	w.backups = append(w.backups, in)
	return nil
}

func (w *backupWorkflows) StartBackupDelete(_ context.Context, in workflows.DeleteBackupInput) error {
	w.bmu.Lock()
	defer w.bmu.Unlock()
	w.deletes = append(w.deletes, in)
	return nil
}

func (w *backupWorkflows) CreateBackupSchedule(_ context.Context, sc coffer.BackupSchedule) error {
	w.bmu.Lock()
	defer w.bmu.Unlock()
	w.schedules = append(w.schedules, sc)
	return nil
}

func (w *backupWorkflows) DeleteBackupSchedule(_ context.Context, _, id string) error {
	w.bmu.Lock()
	defer w.bmu.Unlock()
	w.schedules = slices.DeleteFunc(w.schedules, func(sc coffer.BackupSchedule) bool { return sc.ID == id })
	return nil
}

// backupHarness serves an API with backups over the harness's devcloud.
type backupHarness struct {
	*harness
	bcat   *backupCatalog
	bflows *backupWorkflows
}

func newBackupHarness(t *testing.T) *backupHarness {
	h := &backupHarness{harness: newHarness(t)}
	h.bcat = &backupCatalog{fakeCatalog: h.catalog}
	h.bflows = &backupWorkflows{fakeWorkflows: h.workflows}
	pc, err := api.ServiceProvider(context.Background(), h.cfg.OpenStack)
	if err != nil {
		t.Fatal(err)
	}
	s, err := api.New(api.Options{Config: h.cfg, Catalog: h.bcat, Workflows: h.bflows, OpenStack: pc})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	h.url = srv.URL
	return h
}

// activeInstance records an ACTIVE instance of the project.
func (h *backupHarness) activeInstance(projectID string) string {
	id := uuid.NewString()
	err := h.catalog.CreateInstance(context.Background(), &coffer.Instance{
		ID: id, ProjectID: projectID, Name: "src", FlavorID: "ds1G", VolumeSize: 2, Datastore: "postgresql", Version: "15",
		Task: coffer.TaskNone, ServerStatus: "ACTIVE", ServiceStatus: coffer.ServiceHealthy,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return id
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
	h := newBackupHarness(t)
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
	if len(h.bflows.backups) != 1 || h.bflows.backups[0].BackupID != b.ID || h.bflows.backups[0].InstanceID != id {
		t.Errorf("backup workflows started: got %+v, want one for backup %s", h.bflows.backups, b.ID)
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

	h.bcat.setStatus(b.ID, coffer.BackupCompleted, 1<<20)
	r = h.do(http.MethodDelete, base+"/backups/"+b.ID, demo.token, nil)
	if r.status != http.StatusAccepted {
		t.Fatalf("delete backup: got %d %s, want 202", r.status, r.body)
	}
	if len(h.bflows.deletes) != 1 || h.bflows.deletes[0].BackupID != b.ID {
		t.Errorf("delete workflows started: got %+v", h.bflows.deletes)
	}
}

func TestBackupOfABusyOrMissingInstanceIsRefused(t *testing.T) {
	h := newBackupHarness(t)
	demo := h.login("demo")
	base := "/v1.0/" + demo.projectID
	id := h.activeInstance(demo.projectID)
	if _, err := h.catalog.StartTask(context.Background(), demo.projectID, id, coffer.TaskResizing); err != nil {
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
	h := newBackupHarness(t)
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

	h.bcat.setStatus(b.ID, coffer.BackupCompleted, 3<<30)
	wantFault(t, "restore into a volume too small", create(b.ID, 2, nil), http.StatusBadRequest, "badRequest")
	h.bcat.setStatus(b.ID, coffer.BackupCompleted, 1<<30)
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
	h := newBackupHarness(t)
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
	if sc.Cron != "0 3 * * *" || sc.Keep != 7 || len(h.bflows.schedules) != 1 || h.bflows.schedules[0].ID != sc.ID {
		t.Errorf("schedule: got %+v and temporal schedules %+v", sc, h.bflows.schedules)
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
	if len(h.bflows.schedules) != 0 {
		t.Errorf("temporal schedules after delete: %+v", h.bflows.schedules)
	}
	wantFault(t, "delete a deleted schedule", h.do(http.MethodDelete, path+"/"+sc.ID, demo.token, nil), http.StatusNotFound, "itemNotFound")
}
