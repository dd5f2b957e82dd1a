package devcloud_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumetypes"
	"github.com/gophercloud/gophercloud/v2/pagination"

	"github.com/coffer-dbaas/coffer/dev/devcloud"
)

// waitVolume polls a volume until it has the status (or, for "deleted", is gone) and returns
// it.
func waitVolume(t *testing.T, bs *gophercloud.ServiceClient, id, status string) *volumes.Volume {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := volumes.Get(context.Background(), bs, id).Extract()
		switch {
		case status == "deleted" && gophercloud.ResponseCodeIs(err, http.StatusNotFound):
			return nil
		case err != nil:
			t.Fatalf("get volume %s: %v", id, err)
		case v.Status == status:
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("volume %s: got status %q, want %q", id, v.Status, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// createVolume creates a volume and waits until it is available.
func createVolume(t *testing.T, bs *gophercloud.ServiceClient, opts volumes.CreateOpts) *volumes.Volume {
	t.Helper()
	v, err := volumes.Create(context.Background(), bs, opts, nil).Extract()
	if err != nil {
		t.Fatalf("create volume %q: %v", opts.Name, err)
	}
	return waitVolume(t, bs, v.ID, "available")
}

// faultBody decodes the JSON body of a failed gophercloud call, so that a test can check the
// service's error shape (its top-level key, Neutron's type).
func faultBody(t *testing.T, err error) map[string]map[string]any {
	t.Helper()
	var unexpected gophercloud.ErrUnexpectedResponseCode
	if !errors.As(err, &unexpected) {
		t.Fatalf("got error %v (%T), want an unexpected response code", err, err)
	}
	var body map[string]map[string]any
	if err := json.Unmarshal(unexpected.Body, &body); err != nil {
		t.Fatalf("error body %q is not a JSON object of objects: %v", unexpected.Body, err)
	}
	return body
}

// wantFault checks a failed call's status and the top-level key of its Nova-shaped body.
func wantFault(t *testing.T, what string, err error, status int, key string) map[string]any {
	t.Helper()
	wantStatus(t, what, err, status)
	body := faultBody(t, err)
	f, ok := body[key]
	if !ok {
		t.Fatalf("%s: got error body %v, want the key %q", what, body, key)
	}
	if code, _ := f["code"].(float64); int(code) != status {
		t.Fatalf("%s: got code %v in the body, want %d", what, f["code"], status)
	}
	return f
}

func TestVolumeCreateShowUpdateExtendDelete(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	bs := tc.blockStorage("demo")
	project := projectIDOf(t, bs.ProviderClient)

	created, err := volumes.Create(ctx, bs, volumes.CreateOpts{
		Size: 1, Name: "data", Description: "for postgres", VolumeType: "lvmdriver-1",
		Metadata: map[string]string{"coffer_instance": "i-1"},
	}, nil).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if created.Status != "creating" || created.Size != 1 || created.Name != "data" || created.Description != "for postgres" ||
		created.VolumeType != "lvmdriver-1" || created.Metadata["coffer_instance"] != "i-1" || created.Bootable != "false" ||
		created.TenantID != project || created.UserID == "" || created.AvailabilityZone != "nova" || created.CreatedAt.IsZero() {
		t.Fatalf("created volume: got %+v", created)
	}
	v := waitVolume(t, bs, created.ID, "available")
	dir := filepath.Join(tc.cfg.DataDir, "volumes", v.ID)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("volume folder %s: %v", dir, err)
	}
	if v.Name != "data" || v.Size != 1 || len(v.Attachments) != 0 || v.Multiattach || v.Encrypted {
		t.Fatalf("available volume: got %+v", v)
	}

	name, description := "data-renamed", ""
	updated, err := volumes.Update(ctx, bs, v.ID, volumes.UpdateOpts{
		Name: &name, Description: &description, Metadata: map[string]string{"k": "v"},
	}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if updated.Name != name || updated.Description != "" || len(updated.Metadata) != 1 || updated.Metadata["k"] != "v" {
		t.Fatalf("updated volume: got name %q description %q metadata %v", updated.Name, updated.Description, updated.Metadata)
	}

	if err := volumes.ExtendSize(ctx, bs, v.ID, volumes.ExtendSizeOpts{NewSize: 3}).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	if v = waitVolume(t, bs, v.ID, "available"); v.Size != 3 {
		t.Fatalf("extended volume: got size %d, want 3", v.Size)
	}
	err = volumes.ExtendSize(ctx, bs, v.ID, volumes.ExtendSizeOpts{NewSize: 3}).ExtractErr()
	if f := wantFault(t, "extend to the same size", err, http.StatusBadRequest, "badRequest"); !strings.Contains(f["message"].(string), "greater than current size") {
		t.Fatalf("extend to the same size: got message %q", f["message"])
	}

	if err := volumes.Delete(ctx, bs, v.ID, nil).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	waitVolume(t, bs, v.ID, "deleted")
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("volume folder after delete: got %v, want it gone", err)
	}
	_, err = volumes.Get(ctx, bs, v.ID).Extract()
	wantFault(t, "get a deleted volume", err, http.StatusNotFound, "itemNotFound")
	err = volumes.Delete(ctx, bs, v.ID, nil).ExtractErr()
	wantFault(t, "delete a deleted volume", err, http.StatusNotFound, "itemNotFound")
}

func TestVolumeCreateRefusesBadInput(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	bs := tc.blockStorage("demo")
	for _, tt := range []struct {
		name   string
		opts   volumes.CreateOpts
		status int
		key    string
	}{
		{"no size", volumes.CreateOpts{Name: "x"}, http.StatusBadRequest, "badRequest"},
		{"negative size", volumes.CreateOpts{Size: -1}, http.StatusBadRequest, "badRequest"},
		{"unknown type", volumes.CreateOpts{Size: 1, VolumeType: "ssd-gold"}, http.StatusNotFound, "itemNotFound"},
		{"unknown zone", volumes.CreateOpts{Size: 1, AvailabilityZone: "az-9"}, http.StatusBadRequest, "badRequest"},
		{"from a snapshot", volumes.CreateOpts{Size: 1, SnapshotID: "2b1a7c3e-0000-4000-8000-000000000000"}, http.StatusBadRequest, "badRequest"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := volumes.Create(ctx, bs, tt.opts, nil).Extract()
			wantFault(t, "create", err, tt.status, tt.key)
		})
	}
	all, err := volumes.List(bs, volumes.ListOpts{}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if vs, _ := volumes.ExtractVolumes(all); len(vs) != 0 {
		t.Fatalf("after refused creates: got %d volumes, want none", len(vs))
	}
}

func TestVolumeListFiltersAndPages(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	bs := tc.blockStorage("demo")
	var ids []string
	for i, name := range []string{"a", "b", "c", "d", "e"} {
		md := map[string]string{"n": name}
		if i%2 == 0 {
			md["even"] = "yes"
		}
		ids = append(ids, createVolume(t, bs, volumes.CreateOpts{Size: 1, Name: name, Metadata: md}).ID)
	}
	list := func(opts volumes.ListOpts) (names []string, pages int) {
		t.Helper()
		err := volumes.List(bs, opts).EachPage(ctx, func(_ context.Context, p pagination.Page) (bool, error) {
			vs, err := volumes.ExtractVolumes(p)
			for _, v := range vs {
				names = append(names, v.Name)
			}
			pages++
			return true, err
		})
		if err != nil {
			t.Fatalf("list %+v: %v", opts, err)
		}
		return names, pages
	}

	// Newest first, as Cinder sorts by default; two a page.
	if names, pages := list(volumes.ListOpts{Limit: 2}); !slices.Equal(names, []string{"e", "d", "c", "b", "a"}) || pages != 3 {
		t.Fatalf("list two a page: got %v in %d pages, want e..a in 3", names, pages)
	}
	if names, _ := list(volumes.ListOpts{Name: "c"}); !slices.Equal(names, []string{"c"}) {
		t.Fatalf("filter name=c: got %v", names)
	}
	if names, _ := list(volumes.ListOpts{Metadata: map[string]string{"even": "yes"}}); !slices.Equal(names, []string{"e", "c", "a"}) {
		t.Fatalf("filter metadata even=yes: got %v", names)
	}
	if names, _ := list(volumes.ListOpts{Metadata: map[string]string{"even": "yes", "n": "c"}}); !slices.Equal(names, []string{"c"}) {
		t.Fatalf("filter metadata even=yes,n=c: got %v", names)
	}
	if names, _ := list(volumes.ListOpts{Status: "available"}); len(names) != 5 {
		t.Fatalf("filter status=available: got %v", names)
	}
	if names, _ := list(volumes.ListOpts{Status: "error"}); len(names) != 0 {
		t.Fatalf("filter status=error: got %v", names)
	}
	if names, _ := list(volumes.ListOpts{Marker: ids[2]}); !slices.Equal(names, []string{"b", "a"}) {
		t.Fatalf("after the marker c: got %v", names)
	}
	_, err := volumes.List(bs, volumes.ListOpts{Marker: "00000000-0000-4000-8000-000000000000"}).AllPages(ctx)
	wantFault(t, "list after an unknown marker", err, http.StatusBadRequest, "badRequest")

	// GET /volumes is the summary: id, name and links only.
	var summary struct {
		Volumes []map[string]any `json:"volumes"`
	}
	if _, err := bs.Get(ctx, bs.ServiceURL("volumes"), &summary, nil); err != nil {
		t.Fatal(err)
	}
	if len(summary.Volumes) != 5 {
		t.Fatalf("summary list: got %d volumes, want 5", len(summary.Volumes))
	}
	for _, v := range summary.Volumes {
		if len(v) != 3 || v["id"] == nil || v["name"] == nil || v["links"] == nil {
			t.Fatalf("summary list: got entry %v, want id, name and links", v)
		}
	}
}

func TestVolumeOfAnotherProjectIsForbidden(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	demo := tc.blockStorage("demo")
	alt := tc.blockStorage("alt_demo")
	v := createVolume(t, demo, volumes.CreateOpts{Size: 1, Name: "demo-data"})
	mine := createVolume(t, alt, volumes.CreateOpts{Size: 1, Name: "alt-data"})

	_, err := volumes.Get(ctx, alt, v.ID).Extract()
	wantFault(t, "alt_demo gets demo's volume", err, http.StatusForbidden, "forbidden")
	name := "stolen"
	_, err = volumes.Update(ctx, alt, v.ID, volumes.UpdateOpts{Name: &name}).Extract()
	wantFault(t, "alt_demo renames demo's volume", err, http.StatusForbidden, "forbidden")
	err = volumes.ExtendSize(ctx, alt, v.ID, volumes.ExtendSizeOpts{NewSize: 5}).ExtractErr()
	wantFault(t, "alt_demo extends demo's volume", err, http.StatusForbidden, "forbidden")
	err = volumes.Delete(ctx, alt, v.ID, nil).ExtractErr()
	wantFault(t, "alt_demo deletes demo's volume", err, http.StatusForbidden, "forbidden")
	_, err = volumes.Get(ctx, alt, "00000000-0000-4000-8000-000000000000").Extract()
	wantFault(t, "get a volume that does not exist", err, http.StatusNotFound, "itemNotFound")

	// alt_demo's token on demo's endpoint.
	other := &gophercloud.ServiceClient{
		ProviderClient: alt.ProviderClient,
		Endpoint:       strings.Replace(alt.Endpoint, projectIDOf(t, alt.ProviderClient), projectIDOf(t, demo.ProviderClient), 1),
	}
	_, err = volumes.List(other, nil).AllPages(ctx)
	wantFault(t, "alt_demo lists on demo's endpoint", err, http.StatusForbidden, "forbidden")

	all, err := volumes.List(alt, volumes.ListOpts{AllTenants: true}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if vs, _ := volumes.ExtractVolumes(all); len(vs) != 1 || vs[0].ID != mine.ID {
		t.Fatalf("alt_demo lists with all_tenants: got %+v, want its own volume only", vs)
	}
	admin := tc.blockStorage("admin")
	all, err = volumes.List(admin, volumes.ListOpts{AllTenants: true}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if vs, _ := volumes.ExtractVolumes(all); len(vs) != 2 {
		t.Fatalf("admin lists with all_tenants: got %d volumes, want 2", len(vs))
	}
	if got, err := volumes.Get(ctx, admin, v.ID).Extract(); err != nil || got.Name != "demo-data" {
		t.Fatalf("admin gets demo's volume: got %+v, %v", got, err)
	}

	for _, path := range []string{"volumes/detail", "volumes/" + v.ID, "types"} {
		if resp := rawRequest(t, http.MethodGet, demo.ServiceURL(path), "", ""); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without a token: got %d, want 401", path, resp.StatusCode)
		}
	}
}

func TestVolumeDeleteRefusedWhileInUse(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	demo := tc.blockStorage("demo")
	admin := tc.blockStorage("admin")
	v := createVolume(t, demo, volumes.CreateOpts{Size: 1})

	// A member may not reset a status; an admin marks the volume in-use as an attachment would.
	err := volumes.ResetStatus(ctx, demo, v.ID, volumes.ResetStatusOpts{Status: "in-use"}).ExtractErr()
	wantFault(t, "member resets a status", err, http.StatusForbidden, "forbidden")
	if err := volumes.ResetStatus(ctx, admin, v.ID, volumes.ResetStatusOpts{Status: "in-use"}).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	err = volumes.Delete(ctx, demo, v.ID, nil).ExtractErr()
	if f := wantFault(t, "delete an in-use volume", err, http.StatusBadRequest, "badRequest"); !strings.HasPrefix(f["message"].(string), "Invalid volume: Volume status must be available or error") {
		t.Fatalf("delete an in-use volume: got message %q", f["message"])
	}
	if got := waitVolume(t, demo, v.ID, "in-use"); got.Size != 1 {
		t.Fatalf("refused delete changed the volume: %+v", got)
	}
	// An in-use volume can be extended (microversion 3.42) and stays in-use.
	if err := volumes.ExtendSize(ctx, demo, v.ID, volumes.ExtendSizeOpts{NewSize: 2}).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	if got := waitVolume(t, demo, v.ID, "in-use"); got.Size != 2 {
		t.Fatalf("extended in-use volume: got size %d, want 2", got.Size)
	}

	err = volumes.ResetStatus(ctx, admin, v.ID, volumes.ResetStatusOpts{Status: "bogus"}).ExtractErr()
	wantFault(t, "reset to an unknown status", err, http.StatusBadRequest, "badRequest")
	if err := volumes.ResetStatus(ctx, admin, v.ID, volumes.ResetStatusOpts{Status: "available"}).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	if err := volumes.Delete(ctx, demo, v.ID, nil).ExtractErr(); err != nil {
		t.Fatalf("delete once available: %v", err)
	}
	waitVolume(t, demo, v.ID, "deleted")
}

func TestVolumeUnknownActionIsBadRequest(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	bs := tc.blockStorage("demo")
	v := createVolume(t, bs, volumes.CreateOpts{Size: 1})
	_, err := bs.Post(ctx, bs.ServiceURL("volumes", v.ID, "action"), map[string]any{"os-frobnicate": map[string]any{}}, nil, &gophercloud.RequestOpts{OkCodes: []int{202}})
	wantFault(t, "unknown action", err, http.StatusBadRequest, "badRequest")
	_, err = bs.Post(ctx, bs.ServiceURL("volumes", v.ID, "action"), map[string]any{"os-extend": map[string]any{}}, nil, &gophercloud.RequestOpts{OkCodes: []int{202}})
	wantFault(t, "os-extend without new_size", err, http.StatusBadRequest, "badRequest")
}

func TestVolumeTypesListTheDefaultType(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	bs := tc.blockStorage("demo")
	all, err := volumetypes.List(bs, volumetypes.ListOpts{}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	types, err := volumetypes.ExtractVolumeTypes(all)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, vt := range types {
		names = append(names, vt.Name)
		if vt.ID == "" || !vt.IsPublic {
			t.Errorf("volume type %+v: want an ID and public", vt)
		}
	}
	if !slices.Equal(names, []string{"__DEFAULT__", "lvmdriver-1"}) {
		t.Fatalf("volume types: got %v", names)
	}
	got, err := volumetypes.Get(ctx, bs, types[1].ID).Extract()
	if err != nil || got.Name != "lvmdriver-1" || got.ExtraSpecs["volume_backend_name"] != "lvmdriver-1" {
		t.Fatalf("get volume type: got %+v, %v", got, err)
	}
	_, err = volumetypes.Get(ctx, bs, "nope").Extract()
	wantFault(t, "get an unknown volume type", err, http.StatusNotFound, "itemNotFound")

	v := createVolume(t, bs, volumes.CreateOpts{Size: 1})
	if v.VolumeType != "__DEFAULT__" {
		t.Fatalf("volume created without a type: got type %q, want __DEFAULT__", v.VolumeType)
	}
	byID := createVolume(t, bs, volumes.CreateOpts{Size: 1, VolumeType: types[1].ID})
	if byID.VolumeType != "lvmdriver-1" {
		t.Fatalf("volume created with a type ID: got type %q, want lvmdriver-1", byID.VolumeType)
	}
}

func TestVolumesSurviveRestart(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	v := createVolume(t, tc.blockStorage("demo"), volumes.CreateOpts{Size: 2, Name: "kept", Metadata: map[string]string{"a": "b"}})
	tc.restart()
	bs := tc.blockStorage("demo")
	got, err := volumes.Get(ctx, bs, v.ID).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "kept" || got.Size != 2 || got.Status != "available" || got.Metadata["a"] != "b" || !got.CreatedAt.Equal(v.CreatedAt) {
		t.Fatalf("after restart: got %+v, want %+v", got, v)
	}
	if _, err := os.Stat(filepath.Join(tc.cfg.DataDir, "volumes", v.ID)); err != nil {
		t.Fatalf("volume folder after restart: %v", err)
	}
}

func TestInjectedFaultFailsNextVolumeCreateOnly(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	bs := tc.blockStorage("demo")
	if _, err := devcloud.InjectFault(ctx, tc.provider("admin"), tc.cloud.URL(), devcloud.Fault{
		Service: "volume", Operation: "volume.create", Status: http.StatusInternalServerError, Count: 1,
	}); err != nil {
		t.Fatal(err)
	}
	_, err := volumes.Create(ctx, bs, volumes.CreateOpts{Size: 1}, nil).Extract()
	wantFault(t, "create during the fault", err, http.StatusInternalServerError, "computeFault")
	createVolume(t, bs, volumes.CreateOpts{Size: 1})
}

func TestInjectedFaultMatchesTheVolumeActionByItsKey(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	bs := tc.blockStorage("demo")
	v := createVolume(t, bs, volumes.CreateOpts{Size: 1})
	if _, err := devcloud.InjectFault(ctx, tc.provider("admin"), tc.cloud.URL(), devcloud.Fault{
		Service: "volume", Operation: "volume.action.os-extend", Status: http.StatusServiceUnavailable, Count: 1,
	}); err != nil {
		t.Fatal(err)
	}
	err := volumes.ExtendSize(ctx, bs, v.ID, volumes.ExtendSizeOpts{NewSize: 2}).ExtractErr()
	wantFault(t, "extend during the fault", err, http.StatusServiceUnavailable, "serviceUnavailable")
	if err := volumes.ExtendSize(ctx, bs, v.ID, volumes.ExtendSizeOpts{NewSize: 2}).ExtractErr(); err != nil {
		t.Fatalf("extend after the fault: %v", err)
	}
	if got := waitVolume(t, bs, v.ID, "available"); got.Size != 2 {
		t.Fatalf("extended volume: got size %d, want 2", got.Size)
	}
}
