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
