package catalog_test

import (
	"context"
	"testing"
	"time"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/catalog"
)

// runningInstance is an instance that serves (task NONE, server ACTIVE) and whose guest
// last reported age ago.
func runningInstance(t *testing.T, s *catalog.Store, url string, age time.Duration) *coffer.Instance {
	t.Helper()
	inst := newOperationsInstance(t, s)
	execSQL(t, url, `UPDATE instances SET task = 'NONE', server_status = 'ACTIVE', service_status = 'HEALTHY',
		service_status_updated = now() - $2 * interval '1 second' WHERE id = $1`, inst.ID, age.Seconds())
	return inst
}

func ids(silent []catalog.SilentInstance) []string {
	out := make([]string, 0, len(silent))
	for _, si := range silent {
		out = append(out, si.ID)
	}
	return out
}

func TestASilenceIsNotedOnceUntilTheGuestReportsAgain(t *testing.T) {
	s, url := newStore(t)
	ctx := context.Background()
	const expiry = 90 * time.Second
	silent := runningInstance(t, s, url, 2*time.Minute)
	runningInstance(t, s, url, 10*time.Second) // reports in time
	busy := runningInstance(t, s, url, 2*time.Minute)
	if err := s.SetTask(ctx, busy.ID, coffer.TaskResizing); err != nil { // its operation watches it
		t.Fatal(err)
	}

	noted, err := s.NoteSilentInstances(ctx, expiry, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(noted) != 1 || noted[0].ID != silent.ID || noted[0].ProjectID != "demo" || noted[0].Name != "orders" {
		t.Fatalf("first sweep noted %+v, want only %s", noted, silent.ID)
	}
	first := noted[0]
	if age := first.NotedAt.Sub(first.LastReport); age < expiry {
		t.Errorf("noted %s after the last report, want more than the expiry %s", age, expiry)
	}
	if again, err := s.NoteSilentInstances(ctx, expiry, 100); err != nil || len(again) != 0 {
		t.Fatalf("second sweep noted %v (%v), want none: the silence is noted already", ids(again), err)
	}

	// The silence's fault shows while it lasts.
	ok, err := s.NoteSilenceFault(ctx, silent.ID, first.NotedAt, coffer.Fault{Message: "the guest is silent", Details: "last report 2m ago"})
	if err != nil || !ok {
		t.Fatalf("NoteSilenceFault: %v, %v; want it noted", ok, err)
	}
	got, _ := s.GetInstance(ctx, "", silent.ID)
	if got.Fault == nil || got.Fault.Message != "the guest is silent" {
		t.Errorf("fault while silent: %+v, want the silence's", got.Fault)
	}

	// A report ends the silence and its fault; the next silence is noted again.
	if _, err := s.RecordHealthReports(ctx, []catalog.HealthReport{{InstanceID: silent.ID, Status: coffer.ServiceHealthy, At: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetInstance(ctx, "", silent.ID)
	if got.Fault != nil {
		t.Errorf("fault after the guest reported: %+v, want none", got.Fault)
	}
	if ok, err := s.NoteSilenceFault(ctx, silent.ID, first.NotedAt, coffer.Fault{Message: "late"}); err != nil || ok {
		t.Errorf("NoteSilenceFault of an ended silence: %v, %v; want false", ok, err)
	}
	if again, err := s.NoteSilentInstances(ctx, expiry, 100); err != nil || len(again) != 0 {
		t.Fatalf("sweep after the report noted %v (%v), want none", ids(again), err)
	}
	execSQL(t, url, `UPDATE instances SET service_status_updated = now() - interval '2 minutes' WHERE id = $1`, silent.ID)
	if again, err := s.NoteSilentInstances(ctx, expiry, 100); err != nil || len(again) != 1 || again[0].ID != silent.ID {
		t.Fatalf("sweep of a second silence noted %v (%v), want %s", ids(again), err, silent.ID)
	}
}

func TestAReportLeavesAFaultThatIsNotTheSilences(t *testing.T) {
	s, url := newStore(t)
	ctx := context.Background()
	inst := runningInstance(t, s, url, 2*time.Minute)
	noted, err := s.NoteSilentInstances(ctx, time.Minute, 10)
	if err != nil || len(noted) != 1 {
		t.Fatalf("sweep noted %v (%v), want one", ids(noted), err)
	}
	// A parked step's fault came after the silence's note: it is not the silence's.
	if err := s.NoteFault(ctx, inst.ID, &coffer.Fault{Message: "resize volume failed; waiting for an operator"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordHealthReports(ctx, []catalog.HealthReport{{InstanceID: inst.ID, Status: coffer.ServiceHealthy, At: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetInstance(ctx, "", inst.ID); got.Fault == nil {
		t.Error("a report cleared a fault the silence did not note")
	}
}

func TestAReleasedSilenceIsNotedAgain(t *testing.T) {
	s, url := newStore(t)
	ctx := context.Background()
	inst := runningInstance(t, s, url, 2*time.Minute)
	noted, err := s.NoteSilentInstances(ctx, time.Minute, 10)
	if err != nil || len(noted) != 1 {
		t.Fatalf("sweep noted %v (%v), want one", ids(noted), err)
	}
	if err := s.ReleaseSilence(ctx, inst.ID, noted[0].NotedAt); err != nil {
		t.Fatal(err)
	}
	if again, err := s.NoteSilentInstances(ctx, time.Minute, 10); err != nil || len(again) != 1 {
		t.Fatalf("sweep after the release noted %v (%v), want the instance again", ids(again), err)
	}
}

func TestTheSweepNotesAtMostItsLimit(t *testing.T) {
	s, url := newStore(t)
	ctx := context.Background()
	for range 3 {
		runningInstance(t, s, url, 2*time.Minute)
	}
	first, err := s.NoteSilentInstances(ctx, time.Minute, 2)
	if err != nil || len(first) != 2 {
		t.Fatalf("first sweep noted %v (%v), want 2", ids(first), err)
	}
	rest, err := s.NoteSilentInstances(ctx, time.Minute, 2)
	if err != nil || len(rest) != 1 {
		t.Fatalf("second sweep noted %v (%v), want the last one", ids(rest), err)
	}
}
