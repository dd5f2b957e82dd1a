package devcloud_test

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

// testCloud is a devcloud served on a loopback port for one test.
type testCloud struct {
	t     *testing.T
	cfg   devcloud.Config
	cloud *devcloud.Cloud
	srv   *http.Server
	done  chan struct{}
}

// startCloud starts a devcloud in a fresh folder. opts change the default config first.
func startCloud(t *testing.T, opts ...func(*devcloud.Config)) *testCloud {
	t.Helper()
	cfg := devcloud.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Listen = freeAddr(t)
	cfg.Hypervisor.StopTimeout = 2 * time.Second
	for _, o := range opts {
		o(&cfg)
	}
	tc := &testCloud{t: t, cfg: cfg}
	tc.start()
	t.Cleanup(tc.stop)
	return tc
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (tc *testCloud) start() {
	tc.t.Helper()
	cloud, err := devcloud.New(tc.cfg, nil)
	if err != nil {
		tc.t.Fatalf("start devcloud: %v", err)
	}
	var ln net.Listener
	for i := 0; ; i++ { // a restart may find the port in TIME_WAIT for a moment
		ln, err = net.Listen("tcp", tc.cfg.Listen)
		if err == nil || i == 50 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		_ = cloud.Close()
		tc.t.Fatalf("listen %s: %v", tc.cfg.Listen, err)
	}
	tc.cloud = cloud
	tc.srv = &http.Server{Handler: cloud.Handler()}
	tc.done = make(chan struct{})
	go func() {
		defer close(tc.done)
		if err := tc.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			tc.t.Errorf("serve devcloud: %v", err)
		}
	}()
}

func (tc *testCloud) stop() {
	if tc.cloud == nil {
		return
	}
	_ = tc.srv.Close()
	<-tc.done
	if err := tc.cloud.Close(); err != nil {
		tc.t.Errorf("close devcloud: %v", err)
	}
	tc.cloud = nil
}

// restart stops the cloud and starts it again on the same folder and address.
func (tc *testCloud) restart() {
	tc.t.Helper()
	tc.stop()
	// Clients keep idle connections to the old listener; a POST sent on one of them just as
	// it closes fails with EOF and is not retried. A restarted cloud means new connections.
	if tr, ok := http.DefaultTransport.(*http.Transport); ok {
		tr.CloseIdleConnections()
	}
	tc.start()
}

// identityURL is the Keystone endpoint to authenticate against.
func (tc *testCloud) identityURL() string { return tc.cloud.IdentityURL() }

// authOptions are password credentials for a user of the default config (its project has
// the user's name, and the password is the user's name too).
func (tc *testCloud) authOptions(user string) gophercloud.AuthOptions {
	project := user
	if user == "coffer" {
		project = "service"
	}
	return gophercloud.AuthOptions{
		IdentityEndpoint: tc.identityURL(),
		Username:         user,
		Password:         user,
		DomainName:       "Default",
		TenantName:       project,
	}
}

// provider authenticates as a user of the default config.
func (tc *testCloud) provider(user string) *gophercloud.ProviderClient {
	tc.t.Helper()
	pc, err := openstack.AuthenticatedClient(context.Background(), tc.authOptions(user))
	if err != nil {
		tc.t.Fatalf("authenticate as %s: %v", user, err)
	}
	return pc
}

func (tc *testCloud) compute(user string) *gophercloud.ServiceClient {
	tc.t.Helper()
	c, err := openstack.NewComputeV2(tc.provider(user), gophercloud.EndpointOpts{})
	if err != nil {
		tc.t.Fatal(err)
	}
	return c
}

func (tc *testCloud) blockStorage(user string) *gophercloud.ServiceClient {
	tc.t.Helper()
	c, err := openstack.NewBlockStorageV3(tc.provider(user), gophercloud.EndpointOpts{})
	if err != nil {
		tc.t.Fatal(err)
	}
	return c
}

func (tc *testCloud) network(user string) *gophercloud.ServiceClient {
	tc.t.Helper()
	c, err := openstack.NewNetworkV2(tc.provider(user), gophercloud.EndpointOpts{})
	if err != nil {
		tc.t.Fatal(err)
	}
	return c
}

func (tc *testCloud) image(user string) *gophercloud.ServiceClient {
	tc.t.Helper()
	c, err := openstack.NewImageV2(tc.provider(user), gophercloud.EndpointOpts{})
	if err != nil {
		tc.t.Fatal(err)
	}
	return c
}

func (tc *testCloud) objectStorage(user string) *gophercloud.ServiceClient {
	tc.t.Helper()
	c, err := openstack.NewObjectStorageV1(tc.provider(user), gophercloud.EndpointOpts{})
	if err != nil {
		tc.t.Fatal(err)
	}
	return c
}

func (tc *testCloud) identity(user string) *gophercloud.ServiceClient {
	tc.t.Helper()
	c, err := openstack.NewIdentityV3(tc.provider(user), gophercloud.EndpointOpts{})
	if err != nil {
		tc.t.Fatal(err)
	}
	return c
}

// wantStatus checks that err is a gophercloud error with the given HTTP status.
func wantStatus(t *testing.T, what string, err error, status int) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: got no error, want HTTP %d", what, status)
	}
	if !gophercloud.ResponseCodeIs(err, status) {
		t.Fatalf("%s: got error %v, want HTTP %d", what, err, status)
	}
}
