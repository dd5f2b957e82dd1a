package activities_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/coffer-dbaas/coffer/catalog"
)

func TestRevokeGuestIdentityCutsTheGuestOffTwiceOver(t *testing.T) {
	store, acts, env := catalogActivities(t, catalog.QuotaLimits{})
	id := uuid.NewString()
	gen, err := store.EnsureGuestIdentity(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := store.EnrollGuest(t.Context(), id, gen, []byte("hash")); !ok || err != nil {
		t.Fatalf("enroll: %v, %v", ok, err)
	}
	for try := range 2 { // a retried activity finds it revoked already
		if _, err := env.ExecuteActivity(acts.RevokeGuestIdentity, id); err != nil {
			t.Fatalf("revoke, try %d: %v", try+1, err)
		}
	}
	g, err := store.GetGuestIdentity(t.Context(), id)
	if err != nil || !g.Revoked || g.CredentialHash != nil {
		t.Fatalf("after revoke: got %+v, %v; want revoked with no credential", g, err)
	}
	// An instance that never had an identity gets a revoked one: nothing enrolls later.
	never := uuid.NewString()
	if _, err := env.ExecuteActivity(acts.RevokeGuestIdentity, never); err != nil {
		t.Fatalf("revoke an instance with no identity: %v", err)
	}
	if g, err := store.GetGuestIdentity(t.Context(), never); err != nil || !g.Revoked {
		t.Fatalf("after revoke of an instance with no identity: got %+v, %v; want revoked", g, err)
	}
}
