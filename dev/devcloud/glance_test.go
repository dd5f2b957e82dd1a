package devcloud_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/gophercloud/gophercloud/v2/pagination"

	"github.com/coffer-dbaas/coffer/dev/devcloud"
)

func listImages(t *testing.T, ic *gophercloud.ServiceClient, opts images.ListOpts) (names []string, pages int) {
	t.Helper()
	err := images.List(ic, opts).EachPage(context.Background(), func(_ context.Context, p pagination.Page) (bool, error) {
		imgs, err := images.ExtractImages(p)
		for _, img := range imgs {
			names = append(names, img.Name)
		}
		pages++
		return true, err
	})
	if err != nil {
		t.Fatalf("list images %+v: %v", opts, err)
	}
	return names, pages
}

func TestImageListShowsTheConfiguredImages(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	ic := tc.image("demo")
	all, err := images.List(ic, images.ListOpts{Sort: "name:asc"}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := images.ExtractImages(all)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, img := range imgs {
		names = append(names, img.Name)
	}
	if want := []string{"coffer-mariadb-10.11", "coffer-mysql-8.0", "coffer-postgresql-15", "coffer-redis-7"}; !slices.Equal(names, want) {
		t.Fatalf("images sorted by name: got %v, want %v", names, want)
	}
	pg := imgs[2]
	if pg.Status != images.ImageStatusActive || pg.Visibility != images.ImageVisibilityPublic || pg.ContainerFormat != "bare" ||
		pg.DiskFormat != "qcow2" || !slices.Equal(pg.Tags, []string{"coffer", "coffer-postgresql-15"}) || pg.SizeBytes <= 0 ||
		len(pg.Checksum) != 32 || pg.CreatedAt.IsZero() || pg.UpdatedAt.IsZero() || pg.File != "/v2/images/"+pg.ID+"/file" ||
		pg.Schema != "/v2/schemas/image" || pg.Owner == "" {
		t.Fatalf("postgres image: got %+v", pg)
	}

	got, err := images.Get(ctx, ic, pg.ID).Extract()
	if err != nil || got.Name != pg.Name || got.ID != pg.ID || got.Checksum != pg.Checksum {
		t.Fatalf("get image: got %+v, %v", got, err)
	}
	// The ID is derived from the name: the same on every cloud and after a restart.
	tc.restart()
	ic = tc.image("demo")
	if again, err := images.Get(ctx, ic, pg.ID).Extract(); err != nil || again.Name != pg.Name || !again.CreatedAt.Equal(pg.CreatedAt) {
		t.Fatalf("get image after restart: got %+v, %v", again, err)
	}
}

func TestImageListFiltersAndPages(t *testing.T) {
	tc := startCloud(t, func(cfg *devcloud.Config) {
		cfg.Images = append(cfg.Images, devcloud.Image{Name: "plain", MinDisk: 2, MinRAM: 512})
	})
	ic := tc.image("demo")
	for _, tt := range []struct {
		opts images.ListOpts
		want []string
	}{
		{images.ListOpts{Name: "coffer-redis-7"}, []string{"coffer-redis-7"}},
		{images.ListOpts{Tags: []string{"coffer"}, Sort: "name:asc"}, []string{"coffer-mariadb-10.11", "coffer-mysql-8.0", "coffer-postgresql-15", "coffer-redis-7"}},
		{images.ListOpts{Tags: []string{"coffer", "coffer-mysql-8.0"}}, []string{"coffer-mysql-8.0"}},
		{images.ListOpts{Tags: []string{"coffer-mysql-8.0", "coffer-redis-7"}}, nil},
		{images.ListOpts{Status: images.ImageStatusActive, Sort: "name:desc"}, []string{"plain", "coffer-redis-7", "coffer-postgresql-15", "coffer-mysql-8.0", "coffer-mariadb-10.11"}},
		{images.ListOpts{Status: images.ImageStatusQueued}, nil},
		{images.ListOpts{Visibility: images.ImageVisibilityPublic, Name: "plain"}, []string{"plain"}},
		{images.ListOpts{Visibility: images.ImageVisibilityPrivate}, nil},
	} {
		if got, _ := listImages(t, ic, tt.opts); !slices.Equal(got, tt.want) {
			t.Errorf("list images %+v: got %v, want %v", tt.opts, got, tt.want)
		}
	}

	names, pages := listImages(t, ic, images.ListOpts{Limit: 2, SortKey: "name", SortDir: "asc"})
	if want := []string{"coffer-mariadb-10.11", "coffer-mysql-8.0", "coffer-postgresql-15", "coffer-redis-7", "plain"}; !slices.Equal(names, want) || pages != 3 {
		t.Fatalf("list two a page: got %v in %d pages, want %v in 3", names, pages, want)
	}
	// Without a sort, Glance lists newest first, then by ID: every image once, in some order.
	names, pages = listImages(t, ic, images.ListOpts{Limit: 1})
	if slices.Sort(names); len(names) != 5 || pages != 5 || len(slices.Compact(slices.Clone(names))) != 5 {
		t.Fatalf("list one a page: got %v in %d pages, want the 5 images in 5", names, pages)
	}
}

func TestImageErrors(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	ic := tc.image("demo")

	_, err := images.Get(ctx, ic, "00000000-0000-4000-8000-000000000000").Extract()
	wantStatus(t, "get an unknown image", err, http.StatusNotFound)
	var unexpected gophercloud.ErrUnexpectedResponseCode
	if !errors.As(err, &unexpected) || !strings.HasPrefix(string(unexpected.Body), "404 Not Found") ||
		!strings.HasPrefix(unexpected.ResponseHeader.Get("Content-Type"), "text/plain") {
		t.Fatalf("get an unknown image: got %v, want Glance's text/plain 404", err)
	}
	_, err = images.List(ic, images.ListOpts{Marker: "00000000-0000-4000-8000-000000000000"}).AllPages(ctx)
	wantStatus(t, "list after an unknown marker", err, http.StatusBadRequest)
	_, err = images.List(ic, images.ListOpts{SortKey: "colour"}).AllPages(ctx)
	wantStatus(t, "list sorted by an unknown key", err, http.StatusBadRequest)

	for _, path := range []string{"images", "images/" + devcloudImageID(tc)} {
		if resp := rawRequest(t, http.MethodGet, ic.ServiceURL(path), "", ""); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without a token: got %d, want 401", path, resp.StatusCode)
		}
	}
}

// devcloudImageID is the ID of the first configured image, found through the API.
func devcloudImageID(tc *testCloud) string {
	tc.t.Helper()
	all, err := images.List(tc.image("demo"), images.ListOpts{Limit: 1}).AllPages(context.Background())
	if err != nil {
		tc.t.Fatal(err)
	}
	imgs, err := images.ExtractImages(all)
	if err != nil || len(imgs) == 0 {
		tc.t.Fatalf("list images: got %v, %v", imgs, err)
	}
	return imgs[0].ID
}
