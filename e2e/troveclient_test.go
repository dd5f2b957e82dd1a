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

// troveCreated reads the ID out of what `trove create` or `trove backup-create` printed.
func troveCreated(t *testing.T, out string) string {
	t.Helper()
	m := troveID.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no id in trove's output:\n%s", out)
	}
	return m[1]
}

// TestTroveClientDrivesMariaDBAndRedis runs python-troveclient's `trove` shell (Debian's
// python3-troveclient) over the MariaDB and Redis rows of the datastore table, as Trove's
// users do: create with --datastore (MariaDB: with --databases and --users; then
// database-create, user-create at a host; Redis: root-enable gives the password, and
// database-create is refused as Trove refuses it), a write with the engine's client,
// backup-create, create --backup holding exactly what was written before the backup, and
// create --replica_of following the primary.
func TestTroveClientDrivesMariaDBAndRedis(t *testing.T) {
	if _, err := exec.LookPath("trove"); err != nil {
		t.Skip("python-troveclient's trove command is not installed (Debian: python3-troveclient)")
	}
	for _, d := range rows(t) {
		if d.name == "postgresql" {
			continue
		}
		t.Run(d.name, func(t *testing.T) {
			d.skipWithoutEngine(t)
			password := randomPassword(t)
			args := []string{"create", "trove-" + d.name, "ds512M", "--size", "1", "--datastore", d.name, "--datastore_version", d.version}
			if d.name == "mariadb" {
				args = append(args, "--databases", "shop", "--users", "clerk:"+password)
			}
			id := troveCreated(t, troveCLI(t, args...))
			t.Cleanup(func() { deleteInstance(t, d.demo, id) })
			inst := waitStatus(t, d.demo.db, id, "ACTIVE", 4*time.Minute)
			address := inst.IP[0]

			switch d.name {
			case "mariadb":
				troveCLI(t, "database-create", id, "extra", "--character_set", "utf8mb4", "--collate", "utf8mb4_unicode_ci")
				if list := troveCLI(t, "database-list", id); !strings.Contains(list, "shop") || !strings.Contains(list, "extra") {
					t.Errorf("trove database-list: want shop and extra:\n%s", list)
				}
				troveCLI(t, "user-create", id, "ann", password, "--host", "127.%", "--databases", "shop", "extra")
				list := troveCLI(t, "user-list", id)
				if !strings.Contains(list, "ann") || !strings.Contains(list, "127.%") || !strings.Contains(list, "clerk") {
					t.Errorf("trove user-list: want ann@127.%% and clerk:\n%s", list)
				}
			case "redis":
				// Trove's answer for a datastore without databases: 501, which the
				// client reports.
				out, err := troveTry("database-create", id, "shop")
				if err == nil || !strings.Contains(out, "not supported") {
					t.Errorf("trove database-create on redis: got %v:\n%s\nwant Trove's refusal", err, out)
				}
				root := troveCLI(t, "root-enable", id)
				if password = field(root, "password"); password == "" {
					t.Fatalf("trove root-enable gave no password:\n%s", root)
				}
			}
			d.must(t, address, password, d.setup)
			before := seq(1, 500)
			d.must(t, address, password, d.add(before...))

			backupID := troveCreated(t, troveCLI(t, "backup-create", id, "trove-"+d.name+"-backup"))
			if b := waitBackup(t, d.demo, backupID, 5*time.Minute, "COMPLETED", "FAILED"); b.Status != "COMPLETED" {
				t.Fatalf("backup ended %s: %s", b.Status, b.FailReason)
			}
			t.Cleanup(func() { deleteBackupAndWait(t, d.demo, backupID) })
			waitStatus(t, d.demo.db, id, "ACTIVE", 2*time.Minute)
			d.must(t, address, password, d.add(seq(501, 600)...))

			restoredID := troveCreated(t, troveCLI(t, "create", "trove-"+d.name+"-restored", "ds512M", "--size", "1", "--backup", backupID))
			t.Cleanup(func() { deleteInstance(t, d.demo, restoredID) })
			restored := waitStatus(t, d.demo.db, restoredID, "ACTIVE", 6*time.Minute)
			d.wantExactly(t, "the instance trove restored", restored.IP[0], d.credentials(t, d.demo, restoredID, password), before, 0)
			deleteInstance(t, d.demo, restoredID)

			if !d.replicates {
				t.Logf("%s has no replicas yet: create --replica_of is not run", d.name)
				return
			}
			// troveclient sends the flavor and volume size with --replica_of: the primary's.
			replicaID := troveCreated(t, troveCLI(t, "create", "trove-"+d.name+"-replica", "ds512M", "--size", "1", "--replica_of", id))
			t.Cleanup(func() { deleteInstance(t, d.demo, replicaID) })
			replica := waitStatus(t, d.demo.db, replicaID, "ACTIVE", 6*time.Minute)
			if v := showReplication(t, d.demo, replicaID); v.ReplicaOf == nil || v.ReplicaOf.ID != id {
				t.Errorf("the replica trove made: replica_of %+v, want %s", v.ReplicaOf, id)
			}
			d.must(t, address, password, d.add(601))
			d.wantExactly(t, "the replica trove made", replica.IP[0], password, seq(1, 601), 3*time.Minute)
		})
	}
}
