package e2e

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/instances"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"

	"github.com/coffer-dbaas/coffer/activities"
	"github.com/coffer-dbaas/coffer/catalog"
)

// tenant is a devcloud user with its Trove client.
type tenant struct {
	provider  *gophercloud.ProviderClient
	db        *gophercloud.ServiceClient
	projectID string
}

// login authenticates as a devcloud user (password = name, project = name) and finds the
// database service in the catalog, as python-troveclient would.
func login(t testing.TB, user string) tenant {
	t.Helper()
	ctx := context.Background()
	pc, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
		IdentityEndpoint: cloud.Cloud.IdentityURL(), Username: user, Password: user,
		DomainName: "Default", TenantName: user, AllowReauth: true,
	})
	if err != nil {
		t.Fatalf("log in as %s: %v", user, err)
	}
	db, err := openstack.NewDBV1(pc, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatalf("database endpoint for %s: %v", user, err)
	}
	project, err := pc.GetAuthResult().(tokens.CreateResult).ExtractProject()
	if err != nil {
		t.Fatal(err)
	}
	return tenant{provider: pc, db: db, projectID: project.ID}
}

// waitStatus polls an instance until it shows want, and fails the test on ERROR (unless
// ERROR is wanted) or after timeout.
func waitStatus(t testing.TB, c *gophercloud.ServiceClient, id, want string, timeout time.Duration) *instances.Instance {
	t.Helper()
	return waitStatusEvery(t, c, id, want, timeout, 500*time.Millisecond)
}

// waitStatusEvery is waitStatus asking every interval: a benchmark asks often, so that its
// figure is the instance's, not the poll's.
func waitStatusEvery(t testing.TB, c *gophercloud.ServiceClient, id, want string, timeout, interval time.Duration) *instances.Instance {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		inst, err := instances.Get(context.Background(), c, id).Extract()
		if err != nil {
			t.Fatalf("get instance %s: %v", id, err)
		}
		if inst.Status == want {
			return inst
		}
		if inst.Status == "ERROR" {
			t.Fatalf("instance %s went ERROR (fault %+v), want %s", id, inst.Fault, want)
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance %s is %s after %s, want %s", id, inst.Status, timeout, want)
		}
		time.Sleep(interval)
	}
}

// waitGone polls until the instance is 404 to its owner.
func waitGone(t testing.TB, c *gophercloud.ServiceClient, id string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		_, err := instances.Get(context.Background(), c, id).Extract()
		if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			return
		}
		if err != nil {
			t.Fatalf("get instance %s while deleting: %v", id, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance %s still there %s after its delete", id, timeout)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// leftovers lists what the cloud still holds of an instance: servers, volumes, ports and
// security groups of the instance: servers by the instance ID in their metadata, the rest
// named coffer-<id>, as the control plane makes them.
func leftovers(t testing.TB, id string) []string {
	t.Helper()
	ctx := context.Background()
	pc, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
		IdentityEndpoint: cloud.Cloud.IdentityURL(), Username: "coffer", Password: "coffer",
		DomainName: "Default", TenantName: "service",
	})
	if err != nil {
		t.Fatal(err)
	}
	name := "coffer-" + id
	var found []string
	compute, _ := openstack.NewComputeV2(pc, gophercloud.EndpointOpts{})
	// Servers carry the instance's name; they are the instance's by their metadata.
	page, err := servers.List(compute, servers.ListOpts{AllTenants: true}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ss, _ := servers.ExtractServers(page)
	for _, s := range ss {
		if s.Metadata[activities.MetadataInstanceID] == id {
			found = append(found, "server "+s.ID+" ("+s.Status+")")
		}
	}
	block, _ := openstack.NewBlockStorageV3(pc, gophercloud.EndpointOpts{})
	page, err = volumes.List(block, volumes.ListOpts{Name: name, AllTenants: true}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	vs, _ := volumes.ExtractVolumes(page)
	for _, v := range vs {
		found = append(found, "volume "+v.ID+" ("+v.Status+")")
	}
	network, _ := openstack.NewNetworkV2(pc, gophercloud.EndpointOpts{})
	page, err = ports.List(network, ports.ListOpts{Name: name}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ps, _ := ports.ExtractPorts(page)
	for _, p := range ps {
		found = append(found, "port "+p.ID)
	}
	page, err = groups.List(network, groups.ListOpts{Name: name}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gs, _ := groups.ExtractGroups(page)
	for _, g := range gs {
		found = append(found, "security group "+g.ID)
	}
	return found
}

// wantGoneFromCatalog checks that the catalog no longer knows the instance.
func wantGoneFromCatalog(t testing.TB, id string) {
	t.Helper()
	_, err := cloud.Catalog.GetInstance(context.Background(), "", id)
	if !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("catalog lookup of deleted instance %s: got %v, want ErrNotFound", id, err)
	}
}
