package catalog_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/catalog"
)

func newOperationsInstance(t *testing.T, s *catalog.Store) *coffer.Instance {
	t.Helper()
	inst := &coffer.Instance{ProjectID: "demo", Name: "orders", FlavorID: "ds512M", VolumeSize: 1, Datastore: "postgresql", Version: "15"}
	if err := s.CreateInstance(context.Background(), inst); err != nil {
		t.Fatal(err)
	}
	return inst
}

func TestFinishTaskRecordsTheResizeAndEndsTheTask(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	inst := newOperationsInstance(t, s)
	if _, err := s.StartTask(ctx, "", inst.ID, coffer.TaskResizing, ""); err == nil {
		t.Fatal("StartTask on a BUILDING instance succeeded")
	}
	if err := s.SetTask(ctx, inst.ID, coffer.TaskResizing); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishTask(ctx, inst.ID, catalog.TaskEnd{FlavorID: "ds1G", VolumeSize: 3}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetInstance(ctx, "", inst.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Task != coffer.TaskNone || got.FlavorID != "ds1G" || got.VolumeSize != 3 || got.ServiceStatus != coffer.ServiceHealthy || got.Fault != nil {
		t.Errorf("after FinishTask: got %+v, want task NONE, ds1G, 3 GiB, HEALTHY, no fault", got)
	}

	// A rolled-back resize keeps the flavor and shows why.
	if err := s.FinishTask(ctx, inst.ID, catalog.TaskEnd{Fault: &coffer.Fault{Message: "resize failed"}}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetInstance(ctx, "", inst.ID)
	if got.FlavorID != "ds1G" || got.Fault == nil || got.Fault.Message != "resize failed" || got.Task != coffer.TaskNone {
		t.Errorf("after a rolled-back resize: got %+v fault %+v", got, got.Fault)
	}
}

func TestNoteFaultLeavesTheTask(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	inst := newOperationsInstance(t, s)
	if err := s.NoteFault(ctx, inst.ID, &coffer.Fault{Message: "create volume failed; waiting for an operator"}); err != nil {
		t.Fatal(err)
	}
	got, _ := s.GetInstance(ctx, "", inst.ID)
	if got.Task != coffer.TaskBuilding || got.Fault == nil || got.Fault.Message != "create volume failed; waiting for an operator" {
		t.Errorf("after NoteFault: task %s fault %+v, want BUILDING with the fault", got.Task, got.Fault)
	}
	if err := s.NoteFault(ctx, inst.ID, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetInstance(ctx, "", inst.ID); got.Fault != nil {
		t.Errorf("after clearing: fault %+v, want none", got.Fault)
	}
}

func TestRecordHealthKeepsTheNewestReport(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	inst := newOperationsInstance(t, s)
	now := time.Now().UTC().Truncate(time.Millisecond)
	if _, err := s.RecordHealth(ctx, inst.ID, coffer.ServiceShutdown, now); err != nil {
		t.Fatal(err)
	}
	// A report taken earlier that arrives late changes nothing.
	task, err := s.RecordHealth(ctx, inst.ID, coffer.ServiceHealthy, now.Add(-time.Second))
	if err != nil || task != coffer.TaskBuilding {
		t.Fatalf("RecordHealth: task %s, err %v", task, err)
	}
	got, _ := s.GetInstance(ctx, "", inst.ID)
	if got.ServiceStatus != coffer.ServiceShutdown || !got.ServiceStatusUpdated.Equal(now) {
		t.Errorf("service status %s at %s, want SHUTDOWN at %s", got.ServiceStatus, got.ServiceStatusUpdated, now)
	}
	if err := s.DeleteInstance(ctx, inst.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordHealth(ctx, inst.ID, "", time.Time{}); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("RecordHealth of a deleted instance: got %v, want ErrNotFound", err)
	}
}

func TestResetStatusForgetsTheTask(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	inst := newOperationsInstance(t, s)
	if err := s.ResetStatus(ctx, "alt_demo", inst.ID); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("reset by another project: got %v, want ErrNotFound", err)
	}
	if err := s.ResetStatus(ctx, "demo", inst.ID); err != nil {
		t.Fatal(err)
	}
	got, _ := s.GetInstance(ctx, "", inst.ID)
	if got.Task != coffer.TaskNone || got.ServiceStatus != coffer.ServiceError {
		t.Errorf("after reset: task %s service %s, want NONE and ERROR", got.Task, got.ServiceStatus)
	}
}

func TestEndOrphanedTaskEndsOnlyTheTaskOfTheEndedWorkflow(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	inst := newOperationsInstance(t, s)
	if err := s.SetTask(ctx, inst.ID, coffer.TaskNone); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StartTask(ctx, "", inst.ID, coffer.TaskResizing, "instance/x/resize"); err != nil {
		t.Fatal(err)
	}
	fault := coffer.Fault{Message: "resize was terminated in Temporal"}

	// Another workflow's end does not touch the task.
	if ended, err := s.EndOrphanedTask(ctx, inst.ID, "instance/x/restart", coffer.TaskNone, fault); err != nil || ended {
		t.Errorf("end with another workflow's ID: got %v, %v, want nothing ended", ended, err)
	}
	if ended, err := s.EndOrphanedTask(ctx, inst.ID, "instance/x/resize", coffer.TaskNone, fault); err != nil || !ended {
		t.Fatalf("end with the holder's ID: got %v, %v, want the task ended", ended, err)
	}
	got, _ := s.GetInstance(ctx, "", inst.ID)
	if got.Task != coffer.TaskNone || got.Fault == nil || got.Fault.Message != fault.Message {
		t.Errorf("after the end: got task %s, fault %+v, want NONE with the termination's fault", got.Task, got.Fault)
	}
	// Ended once: a second reader finds nothing to end.
	if ended, err := s.EndOrphanedTask(ctx, inst.ID, "instance/x/resize", coffer.TaskNone, fault); err != nil || ended {
		t.Errorf("second end: got %v, %v, want nothing ended", ended, err)
	}
}
