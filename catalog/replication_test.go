package catalog_test

import (
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/catalog"
)

func TestSwitchoverRegroupsReplicasAndFencesTheEjected(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	primary := mustCreate(t, s, newInstance("p1", "primary"))
	r1 := mustCreate(t, s, newInstance("p1", "replica-1"))
	r2 := mustCreate(t, s, newInstance("p1", "replica-2"))
	for _, id := range []string{primary.ID, r1.ID, r2.ID} {
		if err := s.SetTask(ctx, id, coffer.TaskNone); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []string{r1.ID, r2.ID} {
		if err := s.SetReplicaOf(ctx, r, primary.ID); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.GetReplication(ctx, primary.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ReplicaOf != "" || !slices.Equal(got.Replicas, []string{r1.ID, r2.ID}) {
		t.Fatalf("primary: got replica_of %q replicas %v, want none and [%s %s]", got.ReplicaOf, got.Replicas, r1.ID, r2.ID)
	}

	// The whole group is locked, or nothing is.
	if err := s.StartTasks(ctx, "p1", "", map[string]coffer.Task{r1.ID: coffer.TaskPromoting, primary.ID: coffer.TaskPromoting, r2.ID: coffer.TaskPromoting}); err != nil {
		t.Fatalf("StartTasks: %v", err)
	}
	err = s.StartTasks(ctx, "p1", "", map[string]coffer.Task{r1.ID: coffer.TaskDetaching})
	if !errors.Is(err, catalog.ErrTaskRunning) {
		t.Fatalf("StartTasks on a busy instance: got %v, want ErrTaskRunning", err)
	}

	// r1 becomes the primary; r2 follows it; the old primary is ejected.
	err = s.Regroup(ctx, catalog.Regroup{Primary: r1.ID, Replicas: []string{r2.ID}, Ejected: []string{primary.ID},
		EjectedFault: coffer.Fault{Message: "ejected"}})
	if err != nil {
		t.Fatalf("Regroup: %v", err)
	}
	all, err := s.Replications(ctx, []string{primary.ID, r1.ID, r2.ID})
	if err != nil {
		t.Fatal(err)
	}
	if r := all[r1.ID]; r.ReplicaOf != "" || !slices.Equal(r.Replicas, []string{r2.ID}) || r.Fenced {
		t.Errorf("new primary: got %+v, want no primary and replicas [%s]", r, r2.ID)
	}
	if r := all[r2.ID]; r.ReplicaOf != r1.ID {
		t.Errorf("replica 2: got replica_of %q, want %s", r.ReplicaOf, r1.ID)
	}
	if r := all[primary.ID]; r.ReplicaOf != "" || len(r.Replicas) != 0 || !r.Fenced {
		t.Errorf("old primary: got %+v, want fenced and alone", r)
	}
	if inst := mustGet(t, s, primary.ID); inst.Task != coffer.TaskError || inst.Fault == nil || inst.Fault.Message != "ejected" {
		t.Errorf("old primary: got task %s fault %+v, want ERROR with the ejection fault", inst.Task, inst.Fault)
	}
	for _, id := range []string{r1.ID, r2.ID} {
		if inst := mustGet(t, s, id); inst.Task != coffer.TaskNone {
			t.Errorf("instance %s: got task %s after the regroup, want NONE", id, inst.Task)
		}
	}

	if err := s.SetReplicationLag(ctx, r2.ID, catalog.ReplicationLag{Bytes: 4096, Seconds: 0.5}); err != nil {
		t.Fatal(err)
	}
	lag, err := s.GetReplication(ctx, r2.ID)
	if err != nil {
		t.Fatal(err)
	}
	if lag.Lag == nil || lag.Lag.Bytes != 4096 || lag.Lag.Seconds != 0.5 {
		t.Errorf("lag: got %+v, want 4096 bytes, 0.5 s", lag.Lag)
	}
}

func TestGroupClaimIsTheWorkflowsOwn(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	primary := mustCreate(t, s, newInstance("p1", "primary"))
	r1 := mustCreate(t, s, newInstance("p1", "replica-1"))
	r2 := mustCreate(t, s, newInstance("p1", "replica-2"))
	for _, id := range []string{primary.ID, r1.ID, r2.ID} {
		if err := s.SetTask(ctx, id, coffer.TaskNone); err != nil {
			t.Fatal(err)
		}
	}
	group := func(task coffer.Task) map[string]coffer.Task {
		return map[string]coffer.Task{primary.ID: task, r1.ID: task, r2.ID: task}
	}
	promote1, promote2 := "instance/"+r1.ID+"/promote", "instance/"+r2.ID+"/promote"
	if err := s.StartTasks(ctx, "p1", promote1, group(coffer.TaskPromoting)); err != nil {
		t.Fatalf("claim of the first promote: %v", err)
	}
	// The same workflow's claim, retried (its answer was lost), is claimed again.
	if err := s.StartTasks(ctx, "p1", promote1, group(coffer.TaskPromoting)); err != nil {
		t.Fatalf("retried claim of the first promote: got %v, want it claimed", err)
	}
	for _, id := range []string{primary.ID, r1.ID, r2.ID} {
		if inst := mustGet(t, s, id); inst.Task != coffer.TaskPromoting || inst.TaskWorkflowID != promote1 {
			t.Errorf("instance %s: got task %s held by %q, want PROMOTING held by %s", id, inst.Task, inst.TaskWorkflowID, promote1)
		}
	}
	// A promote of another replica sets the same task on the same members: busy.
	if err := s.StartTasks(ctx, "p1", promote2, group(coffer.TaskPromoting)); !errors.Is(err, catalog.ErrTaskRunning) {
		t.Fatalf("claim of a second promote: got %v, want ErrTaskRunning", err)
	}
	// A single-instance claim of another workflow is busy too; the holder's is its own.
	if _, err := s.StartTask(ctx, "", r1.ID, coffer.TaskPromoting, promote2); !errors.Is(err, catalog.ErrTaskRunning) {
		t.Fatalf("StartTask by another workflow: got %v, want ErrTaskRunning", err)
	}
	if _, err := s.StartTask(ctx, "", r1.ID, coffer.TaskPromoting, promote1); err != nil {
		t.Fatalf("StartTask by the holder: got %v, want it claimed", err)
	}
	// A task that ends is no workflow's: the next operation claims it.
	for _, id := range []string{primary.ID, r1.ID, r2.ID} {
		if err := s.SetTask(ctx, id, coffer.TaskNone); err != nil {
			t.Fatal(err)
		}
		if inst := mustGet(t, s, id); inst.TaskWorkflowID != "" {
			t.Errorf("instance %s: task NONE still held by %q", id, inst.TaskWorkflowID)
		}
	}
	if err := s.StartTasks(ctx, "p1", promote2, group(coffer.TaskPromoting)); err != nil {
		t.Fatalf("claim of the second promote after the first ended: %v", err)
	}
}

func TestCreateRecordsTheWorkflowThatHoldsItsTask(t *testing.T) {
	s, _ := newStore(t)
	inst := newInstance("p1", "db")
	inst.TaskWorkflowID = "instance/" + inst.ID + "/create"
	mustCreate(t, s, inst)
	if got := mustGet(t, s, inst.ID); got.Task != coffer.TaskBuilding || got.TaskWorkflowID != inst.TaskWorkflowID {
		t.Fatalf("got task %s held by %q, want BUILDING held by %s", got.Task, got.TaskWorkflowID, inst.TaskWorkflowID)
	}
	if err := s.RecordFault(t.Context(), inst.ID, coffer.Fault{Message: "boom"}); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, inst.ID); got.TaskWorkflowID != "" {
		t.Fatalf("task ERROR still held by %q", got.TaskWorkflowID)
	}
}

func TestListReplicatedInstancesReadsWhatListAndReplicationsRead(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	primary := mustCreate(t, s, newInstance("p1", "primary"))
	r1 := mustCreate(t, s, newInstance("p1", "replica-1"))
	r2 := mustCreate(t, s, newInstance("p1", "replica-2"))
	mustCreate(t, s, newInstance("p2", "elsewhere"))
	for _, r := range []string{r1.ID, r2.ID} {
		if err := s.SetReplicaOf(ctx, r, primary.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetReplicationLag(ctx, r1.ID, catalog.ReplicationLag{Bytes: 4096, Seconds: 0.5}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordFault(ctx, r2.ID, coffer.Fault{Message: "boom", Details: "why"}); err != nil {
		t.Fatal(err)
	}
	for _, page := range []struct {
		limit  int
		marker string
	}{{0, ""}, {2, ""}, {0, primary.ID}} {
		plain, err := s.ListInstances(ctx, "p1", page.limit, page.marker)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.ListReplicatedInstances(ctx, "p1", page.limit, page.marker)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(plain) {
			t.Fatalf("limit %d marker %q: got %d instances, want %d", page.limit, page.marker, len(got), len(plain))
		}
		ids := make([]string, len(plain))
		for i, inst := range plain {
			ids[i] = inst.ID
		}
		reps, err := s.Replications(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		for i, inst := range plain {
			if !reflect.DeepEqual(got[i].Instance, inst) {
				t.Errorf("limit %d marker %q, instance %d: got %+v, want %+v", page.limit, page.marker, i, got[i].Instance, inst)
			}
			if !reflect.DeepEqual(got[i].Replication, reps[inst.ID]) {
				t.Errorf("limit %d marker %q, instance %s: got replication %+v, want %+v", page.limit, page.marker, inst.ID, got[i].Replication, reps[inst.ID])
			}
		}
	}
	if _, err := s.ListReplicatedInstances(ctx, "p2", 0, primary.ID); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("marker of another project: got %v, want ErrNotFound", err)
	}
}
