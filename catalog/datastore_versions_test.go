package catalog_test

import (
	"errors"
	"testing"

	"github.com/coffer-dbaas/coffer/catalog"
)

func TestAdminsManageDatastoreVersions(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	v, err := s.CreateVersion(ctx, catalog.NewVersion{Datastore: "postgresql", Name: "16", Manager: "postgresql",
		ImageTag: "coffer-postgresql-16", Port: 5432, Active: true, Flavors: []string{"ds1G", "ds512M"}})
	if err != nil {
		t.Fatal(err)
	}
	if v.Default || v.Datastore != "postgresql" || len(v.Flavors) != 2 || !v.Active {
		t.Fatalf("created %+v", v)
	}
	if _, err := s.CreateVersion(ctx, catalog.NewVersion{Datastore: "postgresql", Name: "16", ImageTag: "x", Port: 5432}); !errors.Is(err, catalog.ErrExists) {
		t.Fatalf("duplicate: got %v, want ErrExists", err)
	}
	yes := true
	v, err = s.UpdateVersion(ctx, v.ID, catalog.VersionChange{Default: &yes, Flavors: &[]string{}})
	if err != nil || !v.Default || len(v.Flavors) != 0 {
		t.Fatalf("update: got %+v, %v", v, err)
	}
	if found, err := s.FindDatastoreVersion(ctx, "postgresql", ""); err != nil || found.Name != "16" {
		t.Fatalf("default version: got %+v, %v", found, err)
	}
	all, err := s.ListVersionDetails(ctx)
	if err != nil || len(all) < 5 {
		t.Fatalf("list: got %d, %v", len(all), err)
	}
	if err := s.DeleteVersion(ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetVersionDetail(ctx, v.ID); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("after delete: got %v", err)
	}
	if _, err := s.CreateVersion(ctx, catalog.NewVersion{Datastore: "cassandra", Name: "4", ImageTag: "coffer-cassandra-4", Port: 9042}); err != nil {
		t.Fatalf("a version of a new datastore: %v", err)
	}
}
