package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/instances"

	"github.com/coffer-dbaas/coffer/activities"
)

// TestAdminActsOnAnotherProjectsInstanceThroughOwnPath is Trove's admin reach: through the
// admin's own project path an admin shows, acts on and deletes a tenant's instance, and
// nothing is left behind; a member of another project still gets 404 there. The instance's
// Nova server carries its name, as operators look it up (openstack server list --name orders
// --all-projects).
func TestAdminActsOnAnotherProjectsInstanceThroughOwnPath(t *testing.T) {
	ctx := context.Background()
	demo, alt, admin := login(t, "demo"), login(t, "alt_demo"), login(t, "admin")
	created, err := instances.Create(ctx, demo.db, postgresOpts("orders")).Extract()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteQuietly(demo, created.ID) })
	waitStatus(t, demo.db, created.ID, "ACTIVE", 3*time.Minute)

	// The server is found by the instance's name across projects.
	compute, err := openstack.NewComputeV2(admin.provider, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	pages, err := servers.List(compute, servers.ListOpts{Name: "orders", AllTenants: true}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	named, _ := servers.ExtractServers(pages)
	var mine []string
	for _, s := range named {
		if s.Metadata[activities.MetadataInstanceID] == created.ID {
			mine = append(mine, s.ID)
			if s.Name != "orders" {
				t.Errorf("server %s of instance orders: got name %q, want orders", s.ID, s.Name)
			}
		}
	}
	if len(mine) != 1 || mine[0] != serverOf(t, created.ID) {
		t.Fatalf("servers listed by --name orders --all-projects for instance %s: got %v, want its one server %s", created.ID, mine, serverOf(t, created.ID))
	}

	// Another project's member: 404 through their own path, for a show, an action and a delete.
	if _, err := instances.Get(ctx, alt.db, created.ID).Extract(); !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		t.Fatalf("alt_demo shows demo's instance: got %v, want 404", err)
	}
	if err := instances.Restart(ctx, alt.db, created.ID).ExtractErr(); !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		t.Fatalf("alt_demo restarts demo's instance: got %v, want 404", err)
	}
	if err := instances.Delete(ctx, alt.db, created.ID).ExtractErr(); !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		t.Fatalf("alt_demo deletes demo's instance: got %v, want 404", err)
	}

	// The admin, through the admin project's own path.
	shown, err := instances.Get(ctx, admin.db, created.ID).Extract()
	if err != nil || shown.Name != "orders" || shown.Status != "ACTIVE" {
		t.Fatalf("admin shows demo's instance: got %+v, %v", shown, err)
	}
	if err := instances.Restart(ctx, admin.db, created.ID).ExtractErr(); err != nil {
		t.Fatalf("admin restarts demo's instance: %v", err)
	}
	waitStatus(t, demo.db, created.ID, "ACTIVE", 2*time.Minute)
	if err := instances.Delete(ctx, admin.db, created.ID).ExtractErr(); err != nil {
		t.Fatalf("admin deletes demo's instance: %v", err)
	}
	waitGone(t, demo.db, created.ID, 2*time.Minute)
	if left := leftovers(t, created.ID); len(left) != 0 {
		t.Errorf("left behind by the admin's delete: %v", left)
	}
	wantGoneFromCatalog(t, created.ID)
}
