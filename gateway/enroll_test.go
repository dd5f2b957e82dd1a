package gateway_test

import (
	"bytes"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/coffer-dbaas/coffer/guestauth"
)

func TestEnrollment(t *testing.T) {
	s := newStack(t)
	conn := s.conn(t)
	enroll := func(id, bootstrap string) (guestauth.EnrollResponse, error) {
		return guestauth.Enroll(t.Context(), conn, guestauth.EnrollRequest{InstanceID: id, Bootstrap: bootstrap})
	}

	id, bootstrap := s.newInstance(t)
	resp, err := enroll(id, bootstrap)
	if err != nil {
		t.Fatalf("first enrollment: %v", err)
	}
	key, _ := guestauth.InstanceKey(s.master, id)
	if !bytes.Equal(resp.Key, key) || resp.InstanceID != id || resp.Credential == "" {
		t.Errorf("first enrollment: got instance %s, a credential of %d bytes and a key that is the instance's: %v",
			resp.InstanceID, len(resp.Credential), bytes.Equal(resp.Key, key))
	}
	_, err = enroll(id, bootstrap)
	wantCode(t, "second enrollment with the same secret", err, codes.PermissionDenied)

	other, otherBootstrap := s.newInstance(t)
	_, err = enroll(other, bootstrap)
	wantCode(t, "another instance's secret", err, codes.PermissionDenied)
	_, err = enroll(other, "")
	wantCode(t, "no secret", err, codes.PermissionDenied)
	_, err = enroll("00000000-0000-4000-8000-000000000000", otherBootstrap)
	wantCode(t, "an unknown instance", err, codes.PermissionDenied)
	_, err = enroll("not-a-uuid", otherBootstrap)
	wantCode(t, "not an instance ID", err, codes.PermissionDenied)

	if err := s.catalog.RevokeGuestIdentity(t.Context(), other); err != nil {
		t.Fatal(err)
	}
	_, err = enroll(other, otherBootstrap)
	wantCode(t, "a revoked instance", err, codes.PermissionDenied)

	// A rebuilt server gets the next generation's secret; the old one is dead.
	renewed, renewedBootstrap := s.newInstance(t)
	gen, err := s.catalog.RenewGuestIdentity(t.Context(), renewed)
	if err != nil {
		t.Fatal(err)
	}
	_, err = enroll(renewed, renewedBootstrap)
	wantCode(t, "the previous generation's secret", err, codes.PermissionDenied)
	next, _ := guestauth.Bootstrap(s.master, renewed, gen)
	if _, err := enroll(renewed, next); err != nil {
		t.Errorf("the new generation's secret: %v", err)
	}
}
