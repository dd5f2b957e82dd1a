package catalog_test

import (
	"errors"
	"testing"

	"github.com/coffer-dbaas/coffer/catalog"
)

func TestRootHistoryAndRename(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	inst := quotaInstance("p", 1)
	if err := s.CreateInstance(ctx, inst); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetRootHistory(ctx, inst.ID); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("history before enable: got %v, want ErrNotFound", err)
	}
	if err := s.RecordRootEnabled(ctx, inst.ID, "user-1"); err != nil {
		t.Fatal(err)
	}
	h, err := s.GetRootHistory(ctx, inst.ID)
	if err != nil || h.UserID != "user-1" || h.Enabled.IsZero() || !h.Disabled.IsZero() {
		t.Fatalf("got %+v, %v", h, err)
	}
	if err := s.RecordRootDisabled(ctx, inst.ID); err != nil {
		t.Fatal(err)
	}
	if h, _ := s.GetRootHistory(ctx, inst.ID); h.Disabled.IsZero() {
		t.Fatal("disable not recorded")
	}
	if err := s.RenameInstance(ctx, "other", inst.ID, "x"); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("rename from another project: got %v", err)
	}
	if err := s.RenameInstance(ctx, "p", inst.ID, "renamed"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetInstance(ctx, "p", inst.ID); got.Name != "renamed" {
		t.Fatalf("got name %q", got.Name)
	}
}
