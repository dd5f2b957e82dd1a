package catalog_test

import (
	"errors"
	"testing"
	"time"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/catalog"
)

// readyInstance records an instance whose create finished (task NONE).
func readyInstance(t *testing.T, s *catalog.Store, projectID string) *coffer.Instance {
	t.Helper()
	inst := mustCreate(t, s, newInstance(projectID, "src"))
	if err := s.SetTask(t.Context(), inst.ID, coffer.TaskNone); err != nil {
		t.Fatal(err)
	}
	return inst
}

func TestARunningBackupHoldsItsInstance(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	inst := readyInstance(t, s, "p1")

	b := &coffer.Backup{ProjectID: "p1", InstanceID: inst.ID, Name: "first"}
	if err := s.CreateBackup(ctx, b); err != nil {
		t.Fatalf("CreateBackup: %v", err)
	}
	if b.Status != coffer.BackupNew || b.Datastore != "postgresql" || b.Version != "15" || b.VolumeSize != 2 {
		t.Errorf("created backup: got %+v, want NEW with the instance's datastore, version and volume size", b)
	}
	if got := mustGet(t, s, inst.ID); !got.BackupRunning {
		t.Error("instance with a NEW backup: BackupRunning is false")
	}
	err := s.CreateBackup(ctx, &coffer.Backup{ProjectID: "p1", InstanceID: inst.ID, Name: "second"})
	if !errors.Is(err, catalog.ErrBackupRunning) {
		t.Errorf("second backup: got %v, want ErrBackupRunning", err)
	}
	_, err = s.StartTask(ctx, "p1", inst.ID, coffer.TaskResizing, "")
	if !errors.Is(err, catalog.ErrTaskRunning) || !errors.Is(err, catalog.ErrBackupRunning) {
		t.Errorf("resize during a backup: got %v, want ErrTaskRunning and ErrBackupRunning", err)
	}

	if err := s.StartBackup(ctx, b.ID, "coffer-backups", "backups/"+b.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.SetBackupProgress(ctx, b.ID, 1234); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetBackup(ctx, "p1", b.ID)
	if err != nil || got.Status != coffer.BackupBuilding || got.BytesDone != 1234 || got.Object != "backups/"+b.ID {
		t.Fatalf("started backup: got %+v, %v", got, err)
	}
	err = s.CompleteBackup(ctx, b.ID, catalog.BackupResult{Container: "coffer-backups", Object: "backups/" + b.ID,
		RawSize: 100, Size: 40, Checksum: "abc", WrappedKey: "key", Segments: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, inst.ID); got.BackupRunning {
		t.Error("instance after its backup completed: BackupRunning is still true")
	}
	if _, err := s.StartTask(ctx, "p1", inst.ID, coffer.TaskResizing, ""); err != nil {
		t.Errorf("resize after the backup: %v", err)
	}
	err = s.CreateBackup(ctx, &coffer.Backup{ProjectID: "p1", InstanceID: inst.ID, Name: "during resize"})
	if !errors.Is(err, catalog.ErrTaskRunning) {
		t.Errorf("backup during a resize: got %v, want ErrTaskRunning", err)
	}
	if _, err := s.GetBackup(ctx, "p2", b.ID); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("another project's backup: got %v, want ErrNotFound", err)
	}
}

func TestListBackupsFiltersAndPages(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	a, other := readyInstance(t, s, "p1"), readyInstance(t, s, "p2")
	var ids []string
	for range 3 {
		b := &coffer.Backup{ProjectID: "p1", InstanceID: a.ID, Name: "b", ScheduleID: "s1"}
		if err := s.CreateBackup(ctx, b); err != nil {
			t.Fatal(err)
		}
		if err := s.FailBackup(ctx, b.ID, "test"); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, b.ID)
		time.Sleep(2 * time.Millisecond)
	}
	if err := s.CreateBackup(ctx, &coffer.Backup{ProjectID: "p2", InstanceID: other.ID, Name: "x"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		f    catalog.BackupFilter
		want int
	}{
		{catalog.BackupFilter{ProjectID: "p1"}, 3},
		{catalog.BackupFilter{}, 4},
		{catalog.BackupFilter{InstanceID: other.ID}, 1},
		{catalog.BackupFilter{ProjectID: "p1", Datastore: "mysql"}, 0},
		{catalog.BackupFilter{ScheduleID: "s1", Status: coffer.BackupFailed}, 3},
		{catalog.BackupFilter{ProjectID: "p1", Limit: 2, Marker: ids[0]}, 2},
	} {
		got, err := s.ListBackups(ctx, c.f)
		if err != nil || len(got) != c.want {
			t.Errorf("ListBackups(%+v): got %d, %v; want %d", c.f, len(got), err, c.want)
		}
	}
	if err := s.DeleteBackup(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetBackup(ctx, "", ids[0]); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("deleted backup: got %v, want ErrNotFound", err)
	}
}

func TestBackupSchedules(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	inst := readyInstance(t, s, "p1")
	sc := &coffer.BackupSchedule{ProjectID: "p1", InstanceID: inst.ID, Interval: 10 * time.Second, Keep: 2}
	if err := s.CreateBackupSchedule(ctx, sc); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateBackupSchedule(ctx, &coffer.BackupSchedule{ProjectID: "p2", InstanceID: inst.ID, Cron: "* * * * *", Keep: 1}); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("schedule of another project's instance: got %v, want ErrNotFound", err)
	}
	list, err := s.ListBackupSchedules(ctx, "p1", inst.ID)
	if err != nil || len(list) != 1 || list[0].Interval != 10*time.Second || list[0].Keep != 2 {
		t.Fatalf("schedules: got %+v, %v", list, err)
	}
	if err := s.DeleteBackupSchedule(ctx, "p1", inst.ID, sc.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteBackupSchedule(ctx, "p1", inst.ID, sc.ID); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("second delete: got %v, want ErrNotFound", err)
	}
}
