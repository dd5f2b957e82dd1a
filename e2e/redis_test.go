package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/instances"
)

// redisCLI runs redis-cli against a Redis instance's address as a tenant does.
func redisCLI(t *testing.T, address, password string, args ...string) string {
	t.Helper()
	out, err := redisTry(address, password, args...)
	if err != nil {
		t.Fatalf("redis-cli %v: %v: %s", args, err, out)
	}
	return out
}

// redisTry runs redis-cli against a Redis instance's address as a tenant does, with
// password (the default user's, through the environment), and returns its output (an
// error reply is printed there, as READONLY ... or NOPERM ...) and its error.
func redisTry(address, password string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "redis-cli", append([]string{"-h", address, "-p", "6379", "--no-auth-warning"}, args...)...)
	cmd.Env = append(os.Environ(), "REDISCLI_AUTH="+password)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// TestRedisBackupRestoresExactlyTheKeysWrittenBefore creates a Redis instance, gives it a
// password with root enable (Trove's requirepass), writes keys with redis-cli, backs it up
// (an RDB snapshot through zstd, AES-GCM and Swift), restores it into a new instance that
// holds exactly those keys, and finds the database routes answering Trove's 501.
func TestRedisBackupRestoresExactlyTheKeysWrittenBefore(t *testing.T) {
	if _, err := os.Stat("/usr/bin/redis-server"); err != nil {
		t.Skip("redis-server is not installed")
	}
	ctx := context.Background()
	demo := login(t, "demo")
	created, err := instances.Create(ctx, demo.db, instances.CreateOpts{
		Name: "cache", FlavorRef: "ds512M", Size: 1,
		Datastore: &instances.DatastoreOpts{Type: "redis", Version: "7"},
	}).Extract()
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	t.Cleanup(func() { deleteInstance(t, demo, created.ID) })
	src := waitStatus(t, demo.db, created.ID, "ACTIVE", 3*time.Minute)
	root, err := instances.EnableRootUser(ctx, demo.db, src.ID).Extract()
	if err != nil || root.Password == "" {
		t.Fatalf("enable root: %+v %v", root, err)
	}
	password := root.Password
	args := []string{"MSET"}
	for i := range 1000 {
		args = append(args, fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i))
	}
	redisCLI(t, src.IP[0], password, args...)

	code, body := rawGet(t, demo.provider.Token(), cloud.APIURL+"/v1.0/"+demo.projectID+"/instances/"+src.ID+"/databases")
	if code != http.StatusNotImplemented || !strings.Contains(body, "The 'list_databases' operation is not supported for the 'redis' datastore.") {
		t.Errorf("databases of a redis instance: got %d %s, want Trove's 501", code, body)
	}

	b := startBackup(t, demo, src.ID, "cache-first")
	b = waitBackup(t, demo, b.ID, 3*time.Minute, "COMPLETED", "FAILED")
	if b.Status != "COMPLETED" {
		t.Fatalf("backup ended %s: %s", b.Status, b.FailReason)
	}
	t.Cleanup(func() { deleteBackupAndWait(t, demo, b.ID) })
	waitStatus(t, demo.db, src.ID, "ACTIVE", time.Minute)
	redisCLI(t, src.IP[0], password, "SET", "after", "backup")

	restoredID := restoreInstance(t, demo, "cache-restored", b.ID)
	restored := waitStatus(t, demo.db, restoredID, "ACTIVE", 5*time.Minute)
	root, err = instances.EnableRootUser(ctx, demo.db, restoredID).Extract()
	if err != nil {
		t.Fatalf("enable root on the restored instance: %v", err)
	}
	password = root.Password
	if n := redisCLI(t, restored.IP[0], password, "DBSIZE"); n != "1000" {
		t.Errorf("restored keys: %s, want exactly the 1000 written before the backup", n)
	}
	if v := redisCLI(t, restored.IP[0], password, "GET", "k999"); v != "v999" {
		t.Errorf("restored k999: %q, want v999", v)
	}
}
