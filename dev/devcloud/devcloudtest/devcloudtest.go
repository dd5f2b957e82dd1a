// Package devcloudtest starts a devcloud for one test: in process, in a fresh folder, on a
// free loopback port, with a /16 that no other cloud on the machine uses (Cloud.NetworkCIDR),
// stopped when the test ends.
package devcloudtest

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"

	"github.com/coffer-dbaas/coffer/dev/devcloud"
)

// Start starts a devcloud with the default config, changed by opts, in t.TempDir(). Its
// servers get 2 s to stop.
func Start(t testing.TB, opts ...func(*devcloud.Config)) *devcloud.Cloud {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := devcloud.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Listen = ln.Addr().String()
	cfg.Hypervisor.StopTimeout = 2 * time.Second
	for _, o := range opts {
		o(&cfg)
	}
	cloud, err := devcloud.New(cfg, nil)
	if err != nil {
		ln.Close()
		t.Fatalf("start devcloud: %v", err)
	}
	srv := &http.Server{Handler: cloud.Handler()}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve devcloud: %v", err)
		}
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
		if err := cloud.Close(); err != nil {
			t.Errorf("close devcloud: %v", err)
		}
	})
	return cloud
}

// Login authenticates as a user of the default config (the password is the user's name; the
// project is the user's name, "service" for the coffer user).
func Login(t testing.TB, cloud *devcloud.Cloud, user string) *gophercloud.ProviderClient {
	t.Helper()
	project := user
	if user == "coffer" {
		project = "service"
	}
	pc, err := openstack.AuthenticatedClient(context.Background(), gophercloud.AuthOptions{
		IdentityEndpoint: cloud.IdentityURL(), Username: user, Password: user,
		DomainName: "Default", TenantName: project, AllowReauth: true,
	})
	if err != nil {
		t.Fatalf("log in to the devcloud as %s: %v", user, err)
	}
	return pc
}
