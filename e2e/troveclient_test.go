package e2e

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// openstackCLI runs python-troveclient's openstack plugin as a tenant of the stack.
func openstackCLI(t *testing.T, user string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "openstack", args...)
	cmd.Env = append(os.Environ(),
		"OS_AUTH_URL="+cloud.Cloud.IdentityURL(), "OS_IDENTITY_API_VERSION=3",
		"OS_USERNAME="+user, "OS_PASSWORD="+user, "OS_PROJECT_NAME="+user,
		"OS_USER_DOMAIN_NAME=Default", "OS_PROJECT_DOMAIN_NAME=Default", "OS_REGION_NAME=RegionOne",
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openstack %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestTroveClientUpdatesUpgradesAndChangesAccess drives an instance with python-troveclient
// (Debian's python3-troveclient, through `openstack database instance`, which python-
// troveclient's own `trove` shell no longer serves for updates): update --name, update
// --is-public --allowed-cidr, and upgrade. It is skipped where the client is not installed.
func TestTroveClientUpdatesUpgradesAndChangesAccess(t *testing.T) {
	if _, err := exec.LookPath("openstack"); err != nil {
		t.Skip("python-troveclient's openstack CLI is not installed")
	}
	if err := exec.Command("openstack", "database", "instance", "update", "--help").Run(); err != nil {
		t.Skip("the openstack CLI has no database plugin (python3-troveclient)")
	}
	demo, admin := login(t, "demo"), login(t, "admin")
	body := map[string]any{"version": map[string]any{
		"datastore_name": "postgresql", "datastore_manager": "postgresql", "name": "15.18",
		"image_tags": []string{"coffer-postgresql-15-next"}, "active": true, "default": false,
	}}
	call(t, admin, http.MethodPost, "/mgmt/datastore-versions", body, nil) // there already, when another test added it

	d := newDatabase(t, demo, "cli")
	d.keepData(t)
	openstackCLI(t, "demo", "database", "instance", "update", d.id, "--name", "cli-renamed")
	if got := showRaw(t, demo, d.id)["name"]; got != "cli-renamed" {
		t.Errorf("name after update --name: got %v, want cli-renamed", got)
	}

	openstackCLI(t, "demo", "database", "instance", "update", d.id, "--is-public", "--allowed-cidr", "127.0.0.0/8", "--allowed-cidr", "10.1.0.0/16")
	waitStatus(t, demo.db, d.id, "ACTIVE", 2*time.Minute)
	a := showAccess(t, demo, d.id)
	if !a.IsPublic || !slices.Equal(a.AllowedCIDRs, []string{"127.0.0.0/8", "10.1.0.0/16"}) {
		t.Errorf("access after update --is-public --allowed-cidr: got %+v", a)
	}
	show := openstackCLI(t, "demo", "database", "instance", "show", d.id)
	if !strings.Contains(show, "10.1.0.0/16") {
		t.Errorf("openstack database instance show does not list the allowed CIDRs:\n%s", show)
	}

	openstackCLI(t, "demo", "database", "instance", "upgrade", d.id, "15.18")
	waitStatus(t, demo.db, d.id, "ACTIVE", 4*time.Minute)
	if v := showVersionAndFault(t, demo, d.id); v.Datastore.Version != "15.18" {
		t.Errorf("version after upgrade: got %s, want 15.18", v.Datastore.Version)
	}
	d.wantDataKept(t)
}
