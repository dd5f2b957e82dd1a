package catalog_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/catalog"
)

func quotaInstance(project string, size int) *coffer.Instance {
	return &coffer.Instance{ID: uuid.NewString(), ProjectID: project, Name: "q", FlavorID: "ds512M",
		VolumeSize: size, Datastore: "postgresql", Version: "15"}
}

func TestConcurrentCreatesCannotBothTakeTheLastInstance(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	defaults := catalog.QuotaLimits{catalog.ResourceInstances: 10, catalog.ResourceVolumes: 40, catalog.ResourceRAM: -1, catalog.ResourceBackups: 50}
	if err := s.SetQuotas(ctx, "p1", catalog.QuotaLimits{catalog.ResourceInstances: 3}); err != nil {
		t.Fatal(err)
	}
	const n = 12
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		ok, over int
	)
	for range n {
		wg.Go(func() {
			err := s.CreateInstanceWithinQuota(ctx, quotaInstance("p1", 1), 512, defaults)
			var qe *catalog.QuotaExceededError
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.As(err, &qe) && qe.Resources()[0] == catalog.ResourceInstances:
				over++
			default:
				t.Errorf("create: %v", err)
			}
		})
	}
	wg.Wait()
	if ok != 3 || over != n-3 {
		t.Fatalf("got %d creates through and %d over quota, want 3 and %d", ok, over, n-3)
	}
	quotas, err := s.ProjectQuotas(ctx, "p1", defaults)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]int{"instances": {3, 3}, "ram": {-1, 1536}, "volumes": {40, 3}, "backups": {50, 0}}
	for _, q := range quotas {
		if w := want[q.Resource]; q.Limit != w[0] || q.InUse != w[1] {
			t.Errorf("%s: got limit %d in use %d, want %d and %d", q.Resource, q.Limit, q.InUse, w[0], w[1])
		}
	}
	// Another project is not affected.
	if err := s.CreateInstanceWithinQuota(ctx, quotaInstance("p2", 1), 512, defaults); err != nil {
		t.Fatal(err)
	}
}

func TestVolumeAndRAMQuotasCountWhatInstancesHold(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	defaults := catalog.QuotaLimits{catalog.ResourceInstances: 10, catalog.ResourceVolumes: 5, catalog.ResourceRAM: 1024}
	if err := s.CreateInstanceWithinQuota(ctx, quotaInstance("p", 4), 512, defaults); err != nil {
		t.Fatal(err)
	}
	err := s.CreateInstanceWithinQuota(ctx, quotaInstance("p", 2), 1024, defaults)
	var qe *catalog.QuotaExceededError
	if !errors.As(err, &qe) || len(qe.Over) != 2 || qe.Over[0].Resource != "ram" || qe.Over[1].Resource != "volumes" {
		t.Fatalf("got %v, want ram and volumes exceeded", err)
	}
	if err := s.SetQuotas(ctx, "p", catalog.QuotaLimits{"cores": 1}); !errors.Is(err, catalog.ErrUnknownResource) {
		t.Fatalf("set an unknown resource: got %v", err)
	}
}

// activeQuotaInstance makes an instance within quota and ends its BUILD, so that it can
// take a resize or a backup.
func activeQuotaInstance(t *testing.T, s *catalog.Store, project string, size, ramMB int) *coffer.Instance {
	t.Helper()
	inst := quotaInstance(project, size)
	if err := s.CreateInstanceWithinQuota(t.Context(), inst, ramMB, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishTask(t.Context(), inst.ID, catalog.TaskEnd{}); err != nil {
		t.Fatal(err)
	}
	return inst
}

func inUse(t *testing.T, s *catalog.Store, project string) map[string]int {
	t.Helper()
	quotas, err := s.ProjectQuotas(t.Context(), project, nil)
	if err != nil {
		t.Fatal(err)
	}
	use := map[string]int{}
	for _, q := range quotas {
		use[q.Resource] = q.InUse
	}
	return use
}

func TestBackupsQuotaRefusesTheBackupPastTheLimitAndRecordsNothing(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	defaults := catalog.QuotaLimits{catalog.ResourceBackups: 1}
	inst := activeQuotaInstance(t, s, "p1", 1, 512)
	if err := s.CreateBackupWithinQuota(ctx, &coffer.Backup{ProjectID: "p1", InstanceID: inst.ID, Name: "first"}, defaults); err != nil {
		t.Fatalf("first backup: %v", err)
	}
	if err := s.FailBackup(ctx, mustOnlyBackup(t, s, "p1").ID, "done with it"); err != nil {
		t.Fatal(err)
	}
	// No project ID: a scheduled backup finds the project through the instance.
	err := s.CreateBackupWithinQuota(ctx, &coffer.Backup{InstanceID: inst.ID, Name: "second"}, defaults)
	var qe *catalog.QuotaExceededError
	if !errors.As(err, &qe) || qe.Resources()[0] != catalog.ResourceBackups || qe.ProjectID != "p1" {
		t.Fatalf("second backup: got %v, want a backups QuotaExceededError of p1", err)
	}
	if got := inUse(t, s, "p1")[catalog.ResourceBackups]; got != 1 {
		t.Errorf("backups in use after the refused one: got %d, want 1", got)
	}
	// Another project's quota is its own.
	other := activeQuotaInstance(t, s, "p2", 1, 512)
	if err := s.CreateBackupWithinQuota(ctx, &coffer.Backup{ProjectID: "p2", InstanceID: other.ID, Name: "theirs"}, defaults); err != nil {
		t.Fatalf("backup of another project: %v", err)
	}
}

func mustOnlyBackup(t *testing.T, s *catalog.Store, project string) *coffer.Backup {
	t.Helper()
	bs, err := s.ListBackups(t.Context(), catalog.BackupFilter{ProjectID: project})
	if err != nil || len(bs) != 1 {
		t.Fatalf("backups of %s: got %d (%v), want 1", project, len(bs), err)
	}
	return bs[0]
}

func TestResizeQuotasCountTheNewSizeWhileTheResizeRuns(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	defaults := catalog.QuotaLimits{catalog.ResourceVolumes: 10, catalog.ResourceRAM: 3072}
	a := activeQuotaInstance(t, s, "p1", 2, 1024)
	b := activeQuotaInstance(t, s, "p1", 2, 1024)

	// A volume resize of a to 7 GiB fits (2+2 -> 7+2); b's to 4 would make 11.
	if _, err := s.StartResizeWithinQuota(ctx, "p1", a.ID, 0, 7, defaults, ""); err != nil {
		t.Fatalf("resize a's volume: %v", err)
	}
	if got := inUse(t, s, "p1")[catalog.ResourceVolumes]; got != 9 {
		t.Errorf("volume GiB in use while a's resize runs: got %d, want 9 (its new size counts)", got)
	}
	_, err := s.StartResizeWithinQuota(ctx, "p1", b.ID, 0, 4, defaults, "")
	var qe *catalog.QuotaExceededError
	if !errors.As(err, &qe) || qe.Resources()[0] != catalog.ResourceVolumes {
		t.Fatalf("resize b's volume past the quota: got %v, want a volumes QuotaExceededError", err)
	}
	if got := mustGet(t, s, b.ID); got.Task != coffer.TaskNone {
		t.Errorf("b after the refused resize: task %s, want NONE", got.Task)
	}
	if err := s.FinishTask(ctx, a.ID, catalog.TaskEnd{VolumeSize: 7}); err != nil {
		t.Fatal(err)
	}
	if got := inUse(t, s, "p1")[catalog.ResourceVolumes]; got != 9 {
		t.Errorf("volume GiB in use after a's resize: got %d, want 9", got)
	}

	// A flavor resize of b to 2048 MiB fits (1024+2048 = 3072); a's to 2048 would not.
	if _, err := s.StartResizeWithinQuota(ctx, "p1", b.ID, 2048, 0, defaults, ""); err != nil {
		t.Fatalf("resize b's flavor: %v", err)
	}
	if _, err := s.StartResizeWithinQuota(ctx, "p1", a.ID, 2048, 0, defaults, ""); !errors.As(err, &qe) || qe.Resources()[0] != catalog.ResourceRAM {
		t.Fatalf("resize a's flavor past the quota: got %v, want a ram QuotaExceededError", err)
	}
	if err := s.FinishTask(ctx, b.ID, catalog.TaskEnd{FlavorID: "ds2G"}); err != nil {
		t.Fatal(err)
	}
	if got := inUse(t, s, "p1")[catalog.ResourceRAM]; got != 3072 {
		t.Errorf("RAM in use after b's flavor resize: got %d, want 3072 (its new flavor's)", got)
	}

	// A resize whose workflow did not start gives its reservation back with its task.
	if _, err := s.StartResizeWithinQuota(ctx, "p1", a.ID, 0, 8, defaults, ""); err != nil {
		t.Fatalf("resize a's volume to 8: %v", err)
	}
	if err := s.SetTask(ctx, a.ID, coffer.TaskNone); err != nil {
		t.Fatal(err)
	}
	if got := inUse(t, s, "p1")[catalog.ResourceVolumes]; got != 9 {
		t.Errorf("volume GiB in use after a resize that did not start: got %d, want 9", got)
	}
}
