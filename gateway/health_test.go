package gateway_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/guestauth"
)

// enrollInstance is enroll for an instance the catalog holds, so that its reports land.
func (s *stack) enrollInstance(t *testing.T) enrolled {
	t.Helper()
	inst := &coffer.Instance{ProjectID: "demo", Name: "reporter", FlavorID: "ds512M", VolumeSize: 1, Datastore: "postgresql", Version: "15"}
	if err := s.catalog.CreateInstance(t.Context(), inst); err != nil {
		t.Fatal(err)
	}
	gen, err := s.catalog.EnsureGuestIdentity(t.Context(), inst.ID)
	if err != nil {
		t.Fatal(err)
	}
	bootstrap, err := guestauth.Bootstrap(s.master, inst.ID, gen)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := guestauth.Enroll(t.Context(), s.conn(t), guestauth.EnrollRequest{InstanceID: inst.ID, Bootstrap: bootstrap})
	if err != nil {
		t.Fatalf("enroll: %v", err)
	}
	return enrolled{instanceID: inst.ID, credential: resp.Credential, key: resp.Key}
}

func TestReportHealthReachesTheCatalogAsTheCallerOnly(t *testing.T) {
	s := newStack(t)
	a, b := s.enrollInstance(t), s.enrollInstance(t)
	conn := s.conn(t)
	withKey := func(g enrolled) guestauth.BearerCredentials {
		return guestauth.BearerCredentials{APIKey: guestauth.APIKey(g.instanceID, g.credential), Insecure: true}
	}

	// No credential, or another's instance ID with one's credential: refused.
	_, err := guestauth.ReportHealth(t.Context(), conn, guestauth.HealthReport{Status: "HEALTHY"})
	if status.Code(errors.Unwrap(err)) != codes.Unauthenticated {
		t.Errorf("a report without a credential: got %v, want Unauthenticated", err)
	}
	forged := guestauth.BearerCredentials{APIKey: guestauth.APIKey(b.instanceID, a.credential), Insecure: true}
	_, err = guestauth.ReportHealth(t.Context(), conn, guestauth.HealthReport{Status: "SHUTDOWN"}, grpcCreds(forged))
	if status.Code(errors.Unwrap(err)) != codes.Unauthenticated {
		t.Errorf("a report for another instance: got %v, want Unauthenticated", err)
	}
	_, err = guestauth.ReportHealth(t.Context(), conn, guestauth.HealthReport{Status: "FINE"}, grpcCreds(withKey(a)))
	if status.Code(errors.Unwrap(err)) != codes.InvalidArgument {
		t.Errorf("a report with an unknown status: got %v, want InvalidArgument", err)
	}

	at := time.Now().UTC().Truncate(time.Millisecond)
	ack, err := guestauth.ReportHealth(t.Context(), conn, guestauth.HealthReport{
		Status: "HEALTHY", At: at, VolumeSizeGB: 1, VolumeUsedGB: 0.1}, grpcCreds(withKey(a)))
	if err != nil {
		t.Fatalf("report health: %v", err)
	}
	if ack.Interval <= 0 {
		t.Errorf("the gateway's answer names no interval: %+v", ack)
	}
	if _, err := guestauth.ReportHealth(t.Context(), conn, guestauth.HealthReport{Status: "SHUTDOWN", At: at},
		grpcCreds(withKey(b))); err != nil {
		t.Fatalf("report health: %v", err)
	}

	// The next flush (a second by default) writes both.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ia, _ := s.catalog.GetInstance(context.Background(), "", a.instanceID)
		ib, _ := s.catalog.GetInstance(context.Background(), "", b.instanceID)
		v, verr := s.catalog.GetGuestVolume(context.Background(), a.instanceID)
		if ia.ServiceStatus == coffer.ServiceHealthy && ia.ServiceStatusUpdated.Equal(at) &&
			ib.ServiceStatus == coffer.ServiceShutdown && verr == nil && v.UsedGB == 0.1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the flush: a %s at %s, b %s, a's volume %+v (%v)", ia.ServiceStatus, ia.ServiceStatusUpdated, ib.ServiceStatus, v, verr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func grpcCreds(c guestauth.BearerCredentials) grpc.CallOption { return grpc.PerRPCCredentials(c) }
