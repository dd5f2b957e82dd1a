package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/instances"
)

// A delete while the create still runs ends the create, as Trove deletes a BUILD
// instance: 202 at once, nothing left in the cloud, and the record (which counts against
// the project's quota) gone, without waiting for the create's guest-start timeout.
func TestDeleteDuringBuildEndsTheCreateAndLeavesNothing(t *testing.T) {
	ctx := context.Background()
	demo := login(t, "demo")
	inst, err := instances.Create(ctx, demo.db, postgresOpts("deleted-while-building")).Extract()
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if inst.Status != "BUILD" {
		t.Fatalf("a new instance is %s, want BUILD", inst.Status)
	}
	// Let the create get as far as making things in the cloud.
	time.Sleep(2 * time.Second)
	if err := instances.Delete(ctx, demo.db, inst.ID).ExtractErr(); err != nil {
		t.Fatalf("delete while building: %v", err)
	}
	waitGone(t, demo.db, inst.ID, 5*time.Minute)
	wantGoneFromCatalog(t, inst.ID)
	if left := leftovers(t, inst.ID); len(left) > 0 {
		t.Fatalf("the delete during the build left %v in the cloud", left)
	}
}
