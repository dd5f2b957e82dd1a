package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/datastores"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/flavors"
)

func TestFlavorsAndDatastoresThroughGophercloud(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	ctx := context.Background()
	page, err := flavors.List(demo.db).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fs, _ := flavors.ExtractFlavors(page)
	if len(fs) != 6 || fs[0].StrID != "ds16G" || fs[0].ID != 0 {
		t.Fatalf("flavors: got %+v, want the devcloud's six, by ID, with str_id", fs)
	}
	f, err := flavors.Get(ctx, demo.db, "ds1G").Extract()
	if err != nil || f.RAM != 1024 || f.StrID != "ds1G" {
		t.Fatalf("flavor ds1G: got %+v, %v", f, err)
	}
	r := h.do(http.MethodGet, "/v1.0/"+demo.projectID+"/flavors/ds1G", demo.token, nil)
	if !strings.Contains(string(r.body), `"id":null`) {
		t.Fatalf("flavor with a string ID: got %s, want id null", r.body)
	}
	// Paging follows flavors_links.
	r = h.do(http.MethodGet, "/v1.0/"+demo.projectID+"/flavors?limit=4", demo.token, nil)
	var listed struct {
		Flavors      []json.RawMessage            `json:"flavors"`
		FlavorsLinks []struct{ Href, Rel string } `json:"flavors_links"`
	}
	if err := json.Unmarshal(r.body, &listed); err != nil || len(listed.Flavors) != 4 || len(listed.FlavorsLinks) != 1 || !strings.Contains(listed.FlavorsLinks[0].Href, "marker=ds4G") {
		t.Fatalf("first page of 4: got %s", r.body)
	}

	page, err = datastores.List(demo.db).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ds, _ := datastores.ExtractDatastores(page)
	pg := slices.IndexFunc(ds, func(d datastores.Datastore) bool { return d.Name == "postgresql" })
	if len(ds) != 4 || pg < 0 || len(ds[pg].Versions) != 2 || ds[pg].DefaultVersion != versionIDs["postgresql 15"] {
		t.Fatalf("datastores: got %+v, want mariadb, mysql, postgresql with 15 and 16 (default 15), and redis", ds)
	}
	v, err := datastores.GetVersion(ctx, demo.db, "postgresql", "16").Extract()
	if err != nil || v.ID != versionIDs["postgresql 16"] {
		t.Fatalf("version 16: got %+v, %v", v, err)
	}
	if _, err := datastores.GetVersion(ctx, demo.db, "postgresql", "9.6").Extract(); !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		t.Fatalf("inactive version: got %v, want 404", err)
	}
}
