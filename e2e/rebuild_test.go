package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
)

// imageTagged is the ID of the stack's image with the tag.
func imageTagged(t *testing.T, who tenant, tag string) string {
	t.Helper()
	ic, err := openstack.NewImageV2(who.provider, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	page, err := images.List(ic, images.ListOpts{Tags: []string{tag}}).AllPages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	found, _ := images.ExtractImages(page)
	if len(found) != 1 {
		t.Fatalf("images tagged %s: got %d, want 1", tag, len(found))
	}
	return found[0].ID
}

// serverImage is the image the instance's server runs, as Nova shows it to an admin.
func serverImage(t *testing.T, admin tenant, instanceID string) string {
	t.Helper()
	compute, err := openstack.NewComputeV2(admin.provider, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := servers.Get(context.Background(), compute, serverOf(t, instanceID)).Extract()
	if err != nil {
		t.Fatal(err)
	}
	id, _ := s.Image["id"].(string)
	return id
}

type versionAndFault struct {
	Status    string `json:"status"`
	Datastore struct {
		Version string `json:"version"`
	} `json:"datastore"`
	Fault *struct {
		Message string `json:"message"`
	} `json:"fault"`
}

func showVersionAndFault(t *testing.T, who tenant, id string) versionAndFault {
	t.Helper()
	var out struct {
		Instance versionAndFault `json:"instance"`
	}
	if code := call(t, who, http.MethodGet, "/instances/"+id, nil, &out); code != http.StatusOK {
		t.Fatalf("show %s: HTTP %d", id, code)
	}
	return out.Instance
}

// TestUpgradeAndRebuildKeepTheDataAndABrokenImageRollsBack: an upgrade to a second
// datastore version on another image tag (PATCH datastore_version, as python-troveclient's
// upgrade sends it) keeps every row and shows the new version; an admin's rebuild onto
// another image keeps every row; a rebuild onto a broken image fails and the instance comes
// back on the image it had, with its data and the failure as its fault.
func TestUpgradeAndRebuildKeepTheDataAndABrokenImageRollsBack(t *testing.T) {
	demo, admin := login(t, "demo"), login(t, "admin")
	body := map[string]any{"version": map[string]any{
		"datastore_name": "postgresql", "datastore_manager": "postgresql", "name": "15.18",
		"image_tags": []string{"coffer-postgresql-15-next"}, "active": true, "default": false,
	}}
	// 400 when another test (TestTroveClientUpdatesUpgradesAndChangesAccess) added it.
	if code := call(t, admin, http.MethodPost, "/mgmt/datastore-versions", body, nil); code >= 300 && code != http.StatusBadRequest {
		t.Fatalf("add datastore version 15.18: HTTP %d", code)
	}
	current := imageTagged(t, admin, "coffer-postgresql-15")
	next := imageTagged(t, admin, "coffer-postgresql-15-next")
	broken := imageTagged(t, admin, "coffer-broken")

	d := newDatabase(t, demo, "upgraded")
	d.keepData(t)
	if got := serverImage(t, admin, d.id); got != current {
		t.Fatalf("image before the upgrade: got %s, want %s", got, current)
	}

	if code := call(t, demo, http.MethodPatch, "/instances/"+d.id, map[string]any{"instance": map[string]any{"datastore_version": "15.18"}}, nil); code != http.StatusAccepted {
		t.Fatalf("upgrade: HTTP %d, want 202", code)
	}
	waitStatus(t, demo.db, d.id, "ACTIVE", 4*time.Minute)
	if v := showVersionAndFault(t, demo, d.id); v.Datastore.Version != "15.18" || v.Fault != nil {
		t.Errorf("after the upgrade: got version %s, fault %+v; want 15.18 and none", v.Datastore.Version, v.Fault)
	}
	if got := serverImage(t, admin, d.id); got != next {
		t.Errorf("image after the upgrade: got %s, want %s", got, next)
	}
	d.wantDataKept(t)

	rebuild := func(image string) {
		t.Helper()
		if code := call(t, admin, http.MethodPost, "/mgmt/instances/"+d.id+"/action", map[string]any{"rebuild": map[string]any{"image_id": image}}, nil); code != http.StatusAccepted {
			t.Fatalf("rebuild onto %s: HTTP %d, want 202", image, code)
		}
	}
	rebuild(current)
	waitStatus(t, demo.db, d.id, "ACTIVE", 4*time.Minute)
	if got := serverImage(t, admin, d.id); got != current {
		t.Errorf("image after the rebuild: got %s, want %s", got, current)
	}
	if v := showVersionAndFault(t, demo, d.id); v.Datastore.Version != "15.18" {
		t.Errorf("version after the rebuild: got %s, want 15.18 kept", v.Datastore.Version)
	}
	d.wantDataKept(t)

	rebuild(broken)
	waitStatus(t, demo.db, d.id, "ACTIVE", 5*time.Minute)
	v := showVersionAndFault(t, demo, d.id)
	if v.Fault == nil || !strings.Contains(v.Fault.Message, "old image") {
		t.Errorf("after the broken rebuild: got fault %+v, want one saying it runs on its old image", v.Fault)
	}
	if got := serverImage(t, admin, d.id); got != current {
		t.Errorf("image after the broken rebuild: got %s, want the old %s", got, current)
	}
	d.wantDataKept(t)
}
