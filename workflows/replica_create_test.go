package workflows

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"

	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/guest"
)

// replicaInput is a create of a replica of primary-1: no databases or users of its own.
func replicaInput() CreateInstanceInput {
	in := createInput()
	in.Databases, in.Users, in.ReplicaOf = nil, nil, "primary-1"
	return in
}

// mockReplicaGuests mocks the replication activities of the primary's and the replica's
// guests: the primary serves the replica's slot; seed answers seedErr.
func (h *harness) mockReplicaGuests(seedErr error) {
	slot := guest.ReplicationSlot(instanceID)
	src := guest.ReplicationSource{Host: "127.10.0.9", Port: 5432, User: "coffer_replicator", Password: "pw", AgentPassword: "apw", Slot: slot}
	h.env.OnActivity(guest.ReplicationSourceActivity, mock.Anything, guest.ReplicationSourceInput{Slot: slot}).Return(src, nil)
	h.env.OnActivity(guest.SeedReplicaActivity, mock.Anything, guest.SeedReplicaInput{Source: src}).Return(seedErr)
	h.env.OnActivity(guest.DropReplicationSlotActivity, mock.Anything, guest.ReplicationSlotRef{Slot: slot}).Return(nil).Maybe()
}

func TestReplicaCreateSeedsFromItsPrimaryInsteadOfPreparing(t *testing.T) {
	h := newHarness(t)
	h.mockReplicaGuests(nil)
	h.mockCatalog(catalog.Resources{})
	h.mockCreate()
	h.env.ExecuteWorkflow(CreateInstance, replicaInput())
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("create of a replica failed: %v", err)
	}
	want := slices.Clone(everythingUpToPrepare[:len(everythingUpToPrepare)-1])
	h.checkCalls(append(want, "ReplicationSource", "SeedReplica", "MarkActive"))
	if got := h.queues["ReplicationSource"]; got != "guestagent.primary-1" {
		t.Errorf("ReplicationSource's task queue: got %q, want the primary's", got)
	}
	if got := h.queues["SeedReplica"]; got != "guestagent."+instanceID {
		t.Errorf("SeedReplica's task queue: got %q, want the replica's", got)
	}
}

func TestReplicaCreateThatCannotSeedDropsItsSlotOnThePrimary(t *testing.T) {
	h := newHarness(t)
	h.mockReplicaGuests(temporal.NewNonRetryableApplicationError("pg_basebackup: no pg_hba entry", guest.ErrInvalid, nil))
	h.mockCatalog(catalog.Resources{})
	h.mockDeletes()
	h.mockCreate()
	h.env.ExecuteWorkflow(CreateInstance, replicaInput())
	if err := h.env.GetWorkflowError(); err == nil {
		t.Fatal("create of a replica that cannot seed: got no error")
	}
	if h.count("DropReplicationSlot") != 1 || h.queues["DropReplicationSlot"] != "guestagent.primary-1" {
		t.Errorf("got %d slot drops on %q, want one on the primary (calls %q)", h.count("DropReplicationSlot"), h.queues["DropReplicationSlot"], h.calls())
	}
	if f := h.onlyFault(); f.InstanceID != instanceID {
		t.Errorf("fault on %s, want on the replica", f.InstanceID)
	}
}

func TestDeleteOfAReplicaDropsItsSlotOnThePrimaryOnceItsEngineStopped(t *testing.T) {
	h := newHarness(t)
	h.mockReplicaGuests(nil)
	h.env.OnActivity(guest.StopEngineActivity, mock.Anything).Return(nil)
	h.mockDeletesOf(recorded)
	h.mockCatalog(recorded)
	in := deleteInput()
	in.ReplicaOf = "primary-1"
	h.env.ExecuteWorkflow(DeleteInstance, in)
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("delete failed: %v", err)
	}
	want := slices.Insert(slices.Clone(deleteEverything), 3, "DropReplicationSlot")
	h.checkCalls(want)
	if got := h.queues["DropReplicationSlot"]; got != "guestagent.primary-1" {
		t.Errorf("DropReplicationSlot's task queue: got %q, want the primary's", got)
	}
}
