package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/databases"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/instances"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/users"
	"github.com/jackc/pgx/v5"

	"github.com/coffer-dbaas/coffer/dev/stack"
)

// accessView is the access an instance shows.
type accessView struct {
	IsPublic     bool     `json:"is_public"`
	AllowedCIDRs []string `json:"allowed_cidrs"`
}

func showAccess(t *testing.T, who tenant, id string) accessView {
	t.Helper()
	var out struct {
		Instance struct {
			Access *accessView `json:"access"`
		} `json:"instance"`
	}
	if code := call(t, who, http.MethodGet, "/instances/"+id, nil, &out); code != http.StatusOK || out.Instance.Access == nil {
		t.Fatalf("show %s: HTTP %d, access %+v", id, code, out.Instance.Access)
	}
	return *out.Instance.Access
}

// canConnectFrom reports whether a client whose source address is from (a loopback
// address) reaches the engine and logs in.
func canConnectFrom(address, from, password string) error {
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=5432 user=clerk password=%s dbname=shop sslmode=disable connect_timeout=5", address, password))
	if err != nil {
		return err
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	cfg.DialFunc = d.DialContext
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.Ping(ctx)
}

// TestAccessAllowedCIDRsDecideWhoConnects runs a stack whose devcloud enforces security
// groups (as Neutron does for a VM's port): an instance made with access.allowed_cidrs
// admits a source inside them and refuses one outside; an update of its access (PUT, as
// python-troveclient's update --allowed-cidr sends it) turns that around, and both are shown.
func TestAccessAllowedCIDRsDecideWhoConnects(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	guarded, err := stack.Start(ctx, stack.Options{
		DataDir: filepath.Join(dir, "data"), CofferBinary: cofferBinary, SecurityGroups: true,
		HealthInterval: healthInterval, HeartbeatExpiry: heartbeatExpiry, ParkTimeout: parkTimeout,
		TemporalPort: freePort(), UIPort: -1, CloudPort: freePort(), APIPort: freePort(), CatalogPort: freePort(),
		GuestStartTimeout: 2 * time.Minute,
		Log:               slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatalf("start a stack that enforces security groups: %v", err)
	}
	// The package's helpers talk to the shared stack; this test runs alone (not parallel),
	// so it points them at its own for its duration.
	shared := cloud
	cloud = guarded
	t.Cleanup(func() {
		cloud = shared
		guarded.Stop()
	})

	demo := login(t, "demo")
	password := randomPassword(t)
	opts := instances.CreateOpts{
		Name: "guarded", FlavorRef: "ds512M", Size: 1,
		Datastore: &instances.DatastoreOpts{Type: "postgresql", Version: "15"},
		Databases: databases.BatchCreateOpts{{Name: "shop"}},
		Users:     users.BatchCreateOpts{{Name: "clerk", Password: password, Databases: databases.BatchCreateOpts{{Name: "shop"}}}},
	}
	body, err := opts.ToInstanceCreateMap()
	if err != nil {
		t.Fatal(err)
	}
	body["instance"].(map[string]any)["access"] = map[string]any{"allowed_cidrs": []string{"127.0.0.1/32"}}
	var created struct {
		Instance struct {
			ID string `json:"id"`
		} `json:"instance"`
	}
	if code := call(t, demo, http.MethodPost, "/instances", body, &created); code != http.StatusOK {
		t.Fatalf("create with access: HTTP %d", code)
	}
	id := created.Instance.ID
	t.Cleanup(func() { deleteInstance(t, demo, id) })
	inst := waitStatus(t, demo.db, id, "ACTIVE", 3*time.Minute)
	address := inst.IP[0]
	if a := showAccess(t, demo, id); a.IsPublic || !slices.Equal(a.AllowedCIDRs, []string{"127.0.0.1/32"}) {
		t.Errorf("access after create: got %+v, want private, [127.0.0.1/32]", a)
	}
	if err := canConnectFrom(address, "127.0.0.1", password); err != nil {
		t.Fatalf("connect from 127.0.0.1, inside allowed_cidrs: %v", err)
	}
	if err := canConnectFrom(address, "127.0.0.2", password); err == nil {
		t.Fatal("connect from 127.0.0.2, outside allowed_cidrs: it got through, want it refused")
	}

	update := map[string]any{"instance": map[string]any{"access": map[string]any{"is_public": false, "allowed_cidrs": []string{"127.0.0.2/32"}}}}
	if code := call(t, demo, http.MethodPut, "/instances/"+id, update, nil); code != http.StatusAccepted {
		t.Fatalf("update access: HTTP %d, want 202", code)
	}
	waitStatus(t, demo.db, id, "ACTIVE", 2*time.Minute)
	if a := showAccess(t, demo, id); !slices.Equal(a.AllowedCIDRs, []string{"127.0.0.2/32"}) {
		t.Errorf("access after the update: got %+v, want [127.0.0.2/32]", a)
	}
	if err := canConnectFrom(address, "127.0.0.2", password); err != nil {
		t.Fatalf("connect from 127.0.0.2 once allowed: %v", err)
	}
	if err := canConnectFrom(address, "127.0.0.1", password); err == nil {
		t.Fatal("connect from 127.0.0.1 once no longer allowed: it got through, want it refused")
	}
	// The guest itself still reaches its engine: the instance stays healthy.
	waitOperatingStatus(t, demo, id, "HEALTHY", 3*healthInterval+10*time.Second)
}
