package e2e

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/instances"

	"github.com/coffer-dbaas/coffer/dev/devcloud"
)

// What Redis replication has beyond the datastore table (datastores_test.go), whose
// replication scenario covers a replica following and a switchover: a failover. A group's
// password is root's (the default user's), which the replicas take from their primary.

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

// newRedisGroup makes a Redis primary with root enabled (its password is the group's)
// and n replicas of it (one create with replica_count), all ACTIVE. Its cleanup deletes
// replicas before the primary.
func newRedisGroup(t *testing.T, name string, n int) *group {
	t.Helper()
	if _, err := os.Stat("/usr/bin/redis-server"); err != nil {
		t.Skip("redis-server is not installed")
	}
	demo := login(t, "demo")
	created, err := instances.Create(context.Background(), demo.db, instances.CreateOpts{
		Name: name, FlavorRef: "ds512M", Size: 1,
		Datastore: &instances.DatastoreOpts{Type: "redis", Version: "7"},
	}).Extract()
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	g := &group{demo: demo, primary: created.ID, address: map[string]string{}}
	t.Cleanup(func() { g.deleteAll(t) })
	inst := waitStatus(t, demo.db, g.primary, "ACTIVE", 4*time.Minute)
	g.address[g.primary] = inst.IP[0]
	root, err := instances.EnableRootUser(context.Background(), demo.db, g.primary).Extract()
	if err != nil || root.Password == "" {
		t.Fatalf("enable root on %s: %+v %v", g.primary, root, err)
	}
	g.password = root.Password
	g.addReplicas(t, name, n)
	return g
}

// redisSet writes key on an instance of g with redis-cli.
func redisSet(t *testing.T, g *group, id, key, value string) {
	t.Helper()
	if out := redisCLI(t, g.address[id], g.password, "SET", key, value); out != "OK" {
		t.Fatalf("SET %s on %s: %q, want OK", key, id, out)
	}
}

// redisWaitGet waits until key reads want on each instance, with redis-cli.
func redisWaitGet(t *testing.T, g *group, key, want string, ids ...string) {
	t.Helper()
	for _, id := range ids {
		deadline := time.Now().Add(time.Minute)
		got, err := redisTry(g.address[id], g.password, "GET", key)
		for (err != nil || got != want) && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
			got, err = redisTry(g.address[id], g.password, "GET", key)
		}
		if err != nil || got != want {
			t.Fatalf("GET %s on %s: %q (%v), want %q", key, id, got, err, want)
		}
	}
}

// TestRedisFailoverFencesTheOldPrimary: the primary's server crashes (guest and engine);
// eject promotes the replica, which takes writes, and the old primary, whose server is
// started again, accepts none.
func TestRedisFailoverFencesTheOldPrimary(t *testing.T) {
	g := newRedisGroup(t, "redis-failover", 1)
	ctx := context.Background()
	replica := g.replicas[0]
	redisSet(t, g, g.primary, "before", "crash")
	redisWaitGet(t, g, "before", "crash", replica)

	old := g.primary
	oldServer := serverOf(t, old)
	if err := devcloud.CrashServer(ctx, adminProvider(t), devcloud.AdminBaseURL(cloud.Cloud.IdentityURL()), oldServer); err != nil {
		t.Fatalf("crash the primary's server: %v", err)
	}
	// The crash ends the engine too: nothing answers on the old primary's address.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(500 * time.Millisecond) {
		if _, err := redisTry(g.address[old], g.password, "PING"); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the crashed primary's redis-server still answers a minute later")
		}
	}
	g.action(t, old, "eject_replica_source")
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("the replica did not become the primary within 3 minutes: %+v", showReplication(t, g.demo, replica))
		}
		time.Sleep(500 * time.Millisecond)
		if v := showReplication(t, g.demo, old); v.Status != "ERROR" {
			continue
		}
		if v := showReplication(t, g.demo, replica); v.Status == "ACTIVE" && v.ReplicaOf == nil {
			break
		}
	}
	if v := showReplication(t, g.demo, old); v.ReplicaOf != nil || v.Fault == nil || !strings.Contains(v.Fault.Message, "Ejected") {
		t.Errorf("the old primary: got %+v, want out of the group with the ejection fault", v)
	}
	redisSet(t, g, replica, "after", "failover")
	if got := redisCLI(t, g.address[replica], g.password, "GET", "before"); got != "crash" {
		t.Errorf("the new primary reads %q, want the data written before the crash", got)
	}

	// Started again, the old primary accepts no write (fenced, or isolated with nothing
	// to serve).
	compute := serviceCompute(t)
	if err := waitServerShutoff(ctx, compute, oldServer); err != nil {
		t.Fatal(err)
	}
	if err := servers.Start(ctx, compute, oldServer).ExtractErr(); err != nil {
		t.Fatalf("start the old primary's server again: %v", err)
	}
	var accepted, refused int
	for end := time.Now().Add(40 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		out, err := redisTry(g.address[old], g.password, "SET", "split", "brain")
		switch {
		case err == nil && out == "OK":
			accepted++
		case strings.Contains(out, "NOPERM") || strings.Contains(out, "READONLY"):
			refused++
		}
	}
	if accepted > 0 {
		t.Errorf("the ejected primary accepted %d writes after its server started again", accepted)
	}
	t.Logf("the ejected primary after its server started again: %d writes refused, unreachable otherwise", refused)
	g.primary, g.replicas = replica, []string{old}
}

// serviceCompute is Nova as the control plane's service user, who may start any server.
func serviceCompute(t testing.TB) *gophercloud.ServiceClient {
	t.Helper()
	pc, err := openstack.AuthenticatedClient(context.Background(), gophercloud.AuthOptions{
		IdentityEndpoint: cloud.Cloud.IdentityURL(), Username: "coffer", Password: "coffer", DomainName: "Default", TenantName: "service",
	})
	if err != nil {
		t.Fatal(err)
	}
	compute, err := openstack.NewComputeV2(pc, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	return compute
}
