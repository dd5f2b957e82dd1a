package catalog_test

import (
	"slices"
	"testing"

	"github.com/coffer-dbaas/coffer"
)

func TestAccessIsRecordedAtCreateAndChanged(t *testing.T) {
	s, _ := newStore(t)
	inst := newInstance("project-a", "db1")
	inst.Access = coffer.Access{AllowedCIDRs: []string{"10.1.0.0/16"}}
	mustCreate(t, s, inst)
	if inst.Access.IsPublic || !slices.Equal(inst.Access.AllowedCIDRs, []string{"10.1.0.0/16"}) {
		t.Fatalf("access as created: got %+v", inst.Access)
	}
	plain := newInstance("project-a", "db2")
	mustCreate(t, s, plain)
	if plain.Access.IsPublic || len(plain.Access.AllowedCIDRs) != 0 {
		t.Fatalf("access of an instance made without: got %+v, want private and no CIDRs", plain.Access)
	}

	want := coffer.Access{IsPublic: true, AllowedCIDRs: []string{"192.0.2.0/24", "198.51.100.7/32"}}
	if err := s.SetAccess(t.Context(), inst.ID, want); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetInstance(t.Context(), "project-a", inst.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Access.IsPublic || !slices.Equal(got.Access.AllowedCIDRs, want.AllowedCIDRs) {
		t.Errorf("access after SetAccess: got %+v, want %+v", got.Access, want)
	}
}
