package catalog_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/catalog"
)

func TestRecordHealthReportsInOneBatch(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	a, b := newOperationsInstance(t, s), newOperationsInstance(t, s)
	now := time.Now().UTC().Truncate(time.Millisecond)
	if _, err := s.GetGuestVolume(ctx, a.ID); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("guest volume before any report: got %v, want ErrNotFound", err)
	}
	n, err := s.RecordHealthReports(ctx, []catalog.HealthReport{
		{InstanceID: a.ID, Status: coffer.ServiceHealthy, At: now, VolumeSizeGB: 2, VolumeUsedGB: 0.25},
		{InstanceID: b.ID, Status: coffer.ServiceShutdown, At: now, Replica: true, LagBytes: 42, LagSeconds: 1.5},
		{InstanceID: "00000000-0000-0000-0000-000000000000", Status: coffer.ServiceHealthy, At: now},
		{InstanceID: "not-a-uuid", Status: coffer.ServiceHealthy, At: now},
	})
	if err != nil || n != 2 {
		t.Fatalf("RecordHealthReports: %d updated, err %v; want 2", n, err)
	}
	got, _ := s.GetInstance(ctx, "", a.ID)
	if got.ServiceStatus != coffer.ServiceHealthy || !got.ServiceStatusUpdated.Equal(now) {
		t.Errorf("a: service status %s at %s, want HEALTHY at %s", got.ServiceStatus, got.ServiceStatusUpdated, now)
	}
	if v, err := s.GetGuestVolume(ctx, a.ID); err != nil || v.SizeGB != 2 || v.UsedGB != 0.25 {
		t.Errorf("a's guest volume: %+v, %v; want 2 GiB, 0.25 used", v, err)
	}
	got, _ = s.GetInstance(ctx, "", b.ID)
	if got.ServiceStatus != coffer.ServiceShutdown {
		t.Errorf("b: service status %s, want SHUTDOWN", got.ServiceStatus)
	}

	// A later report without the volume keeps the last known usage; an older one is dropped.
	if _, err := s.RecordHealthReports(ctx, []catalog.HealthReport{
		{InstanceID: a.ID, Status: coffer.ServiceShutdown, At: now.Add(time.Second)},
		{InstanceID: b.ID, Status: coffer.ServiceHealthy, At: now.Add(-time.Second)},
	}); err != nil {
		t.Fatal(err)
	}
	if v, err := s.GetGuestVolume(ctx, a.ID); err != nil || v.UsedGB != 0.25 {
		t.Errorf("a's guest volume after a report without it: %+v, %v; want 0.25 used", v, err)
	}
	if got, _ := s.GetInstance(ctx, "", a.ID); got.ServiceStatus != coffer.ServiceShutdown {
		t.Errorf("a: service status %s, want SHUTDOWN", got.ServiceStatus)
	}
	if got, _ := s.GetInstance(ctx, "", b.ID); got.ServiceStatus != coffer.ServiceShutdown {
		t.Errorf("b after an older report: %s, want SHUTDOWN still", got.ServiceStatus)
	}
}
