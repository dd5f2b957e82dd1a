package devcloud_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack"

	"github.com/coffer-dbaas/coffer/dev/devcloud"
)

func TestInjectedFaultFailsTheNextCallsThenTheServiceWorksAgain(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	admin := tc.provider("admin")
	f, err := devcloud.InjectFault(ctx, admin, tc.cloud.URL(), devcloud.Fault{
		Service: "identity", Operation: "token.create", Status: http.StatusServiceUnavailable, Count: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	if f.ID == "" || f.Remaining != 2 {
		t.Fatalf("got fault %+v, want an ID and 2 calls remaining", f)
	}
	for range 2 {
		_, err := openstack.AuthenticatedClient(ctx, tc.authOptions("demo"))
		wantStatus(t, "authenticate during the fault", err, http.StatusServiceUnavailable)
	}
	if _, err := openstack.AuthenticatedClient(ctx, tc.authOptions("demo")); err != nil {
		t.Fatalf("authenticate after the fault's count is used up: %v", err)
	}
	left, err := devcloud.Faults(ctx, admin, tc.cloud.URL())
	if err != nil || len(left) != 0 {
		t.Fatalf("got faults %+v (err %v), want none left", left, err)
	}
}

func TestFaultWithoutCountLastsUntilRemoved(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	admin := tc.provider("admin")
	demo := tc.provider("demo")
	url := tc.identityURL() + "auth/catalog"
	f, err := devcloud.InjectFault(ctx, admin, tc.cloud.URL(), devcloud.Fault{Service: "identity", Operation: "catalog.get", Status: 500, Probability: 1})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if resp := rawRequest(t, http.MethodGet, url, demo.Token(), ""); resp.StatusCode != 500 {
			t.Fatalf("during the fault: got %d, want 500", resp.StatusCode)
		}
	}
	// Another operation of the same service is untouched.
	if resp := rawRequest(t, http.MethodGet, tc.identityURL()+"auth/projects", demo.Token(), ""); resp.StatusCode != 200 {
		t.Fatalf("another operation: got %d, want 200", resp.StatusCode)
	}
	faults, err := devcloud.Faults(ctx, admin, tc.cloud.URL())
	if err != nil || len(faults) != 1 || faults[0].Hits != 3 {
		t.Fatalf("got faults %+v (err %v), want one with 3 hits", faults, err)
	}
	if err := devcloud.RemoveFault(ctx, admin, tc.cloud.URL(), f.ID); err != nil {
		t.Fatal(err)
	}
	if resp := rawRequest(t, http.MethodGet, url, demo.Token(), ""); resp.StatusCode != 200 {
		t.Fatalf("after removing the fault: got %d, want 200", resp.StatusCode)
	}
}

func TestLatencyFaultSlowsCalls(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	admin := tc.provider("admin")
	demo := tc.provider("demo")
	if _, err := devcloud.InjectFault(ctx, admin, tc.cloud.URL(), devcloud.Fault{Service: "identity", Operation: "catalog.get", Latency: 300 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	resp := rawRequest(t, http.MethodGet, tc.identityURL()+"auth/catalog", demo.Token(), "")
	if took := time.Since(start); resp.StatusCode != 200 || took < 300*time.Millisecond {
		t.Fatalf("got %d after %s, want 200 after at least 300ms", resp.StatusCode, took)
	}
	if err := devcloud.RemoveFault(ctx, admin, tc.cloud.URL(), ""); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	rawRequest(t, http.MethodGet, tc.identityURL()+"auth/catalog", demo.Token(), "")
	if took := time.Since(start); took > 200*time.Millisecond {
		t.Fatalf("after clearing faults a call took %s, want it fast", took)
	}
}

func TestFaultAPIRefusesBadRulesAndNonAdmins(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	admin := tc.provider("admin")
	for _, tt := range []struct {
		name string
		f    devcloud.Fault
	}{
		{"unknown service", devcloud.Fault{Service: "dns", Status: 500}},
		{"no effect", devcloud.Fault{Service: "compute"}},
		{"not an error status", devcloud.Fault{Service: "compute", Status: 200}},
		{"probability above 1", devcloud.Fault{Service: "compute", Status: 500, Probability: 2}},
	} {
		_, err := devcloud.InjectFault(ctx, admin, tc.cloud.URL(), tt.f)
		wantStatus(t, tt.name, err, http.StatusBadRequest)
	}
	_, err := devcloud.InjectFault(ctx, tc.provider("demo"), tc.cloud.URL(), devcloud.Fault{Service: "compute", Status: 500})
	wantStatus(t, "a member injects a fault", err, http.StatusForbidden)
	err = devcloud.RemoveFault(ctx, admin, tc.cloud.URL(), "no-such-fault")
	wantStatus(t, "remove a missing fault", err, http.StatusNotFound)
}

func TestFaultsFromConfigApplyFromTheStart(t *testing.T) {
	tc := startCloud(t, func(c *devcloud.Config) {
		c.Faults = []devcloud.Fault{{Service: "identity", Operation: "token.create", Status: 500, Count: 1}}
	})
	_, err := openstack.AuthenticatedClient(context.Background(), tc.authOptions("demo"))
	wantStatus(t, "first authentication", err, http.StatusInternalServerError)
	if _, err := openstack.AuthenticatedClient(context.Background(), tc.authOptions("demo")); err != nil {
		t.Fatalf("second authentication: %v", err)
	}
}
