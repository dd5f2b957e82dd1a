package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/instances"

	"github.com/coffer-dbaas/coffer/dev/devcloud"
	"github.com/coffer-dbaas/coffer/guestagent/redis"
)

// The replication scenarios of replication_test.go over Redis: a group's password is
// root's (the default user's), which the replicas take from their primary; the helpers
// here (redisGroup's writes and reads, redisWriter) serve any scenario over Redis.

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

// redisWantRefused checks that a write on the instance is refused with reason (READONLY
// on a replica, NOPERM on a fenced engine).
func redisWantRefused(t *testing.T, g *group, id, reason, what string) {
	t.Helper()
	if out, _ := redisTry(g.address[id], g.password, "SET", "refused", "1"); !strings.Contains(out, reason) {
		t.Fatalf("%s: a write got %q, want %s", what, out, reason)
	}
}

// startRedisWriter writes keys on whichever instance the writer targets, over one session
// each, keeping every key a replica acknowledged (WAIT 1 answered 1).
func startRedisWriter(t *testing.T, g *group) *ackWriter[string] {
	sessions := map[string]*redis.Session{}
	w := startAckWriter(t, g.primary, func(target string, i int) (string, bool) {
		s := sessions[target]
		if s == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var err error
			if s, err = redis.DialTenant(ctx, net.JoinHostPort(g.address[target], "6379"), g.password); err != nil {
				return "", false
			}
			sessions[target] = s
		}
		key := fmt.Sprintf("load:%d", i)
		_, err := s.Do(5*time.Second, "SET", key, "v")
		var n any
		if err == nil {
			n, err = s.Do(5*time.Second, "WAIT", "1", "2000")
		}
		if err != nil && !redis.IsReplyError(err) {
			s.Close()
			delete(sessions, target)
		}
		return key, err == nil && n == int64(1)
	})
	// Cleanups run last in, first out: this one stops the writer before its sessions end.
	t.Cleanup(func() {
		w.finish()
		for _, s := range sessions {
			s.Close()
		}
	})
	return w
}

// redisWantKeys checks that every key is on the instance.
func redisWantKeys(t *testing.T, g *group, id string, keys []string) {
	t.Helper()
	for start := 0; start < len(keys); start += 500 {
		batch := keys[start:min(start+500, len(keys))]
		out := redisCLI(t, g.address[id], g.password, append([]string{"EXISTS"}, batch...)...)
		if out != fmt.Sprint(len(batch)) {
			t.Fatalf("instance %s has %s of %d acknowledged keys: acknowledged writes lost", id, out, len(batch))
		}
	}
}

// TestRedisReplicaFollowsAndSwitchoverLosesNoAcknowledgedWrite: a Redis primary with a
// password and a replica; a key written on the primary with redis-cli is read on the
// replica with the same password; a write on the replica is refused (READONLY); the
// replica shows its lag; a switchover under a steady write load keeps every write the
// replica acknowledged (WAIT), writes resume on the new primary, and the old primary
// follows it read-only.
func TestRedisReplicaFollowsAndSwitchoverLosesNoAcknowledgedWrite(t *testing.T) {
	g := newRedisGroup(t, "redis-switchover", 1)
	replica := g.replicas[0]
	redisSet(t, g, g.primary, "greeting", "hello")
	redisWaitGet(t, g, "greeting", "hello", replica)
	redisWantRefused(t, g, replica, "READONLY", "the replica")
	var lagSeen bool
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && !lagSeen; time.Sleep(500 * time.Millisecond) {
		lagSeen = showReplication(t, g.demo, replica).ReplicationLag != nil
	}
	if !lagSeen {
		t.Errorf("replica %s shows no replication_lag after 30 s", replica)
	}

	w := startRedisWriter(t, g)
	w.waitAcked(t, 50, 0, 30*time.Second)
	oldPrimary := g.primary
	g.action(t, replica, "promote_to_replica_source")
	// Writes go to the candidate from now on: refused until it is promoted, and
	// acknowledged once the old primary follows it.
	w.retarget(replica)
	w.waitAcked(t, 0, 20, 3*time.Minute)
	for _, id := range []string{oldPrimary, replica} {
		waitStatus(t, g.demo.db, id, "ACTIVE", 3*time.Minute)
	}
	acked := w.finish()
	g.promoted(replica)
	t.Logf("switchover: %d writes acknowledged", len(acked))

	redisWantKeys(t, g, replica, acked)
	redisWantKeys(t, g, oldPrimary, acked)
	redisWantRefused(t, g, oldPrimary, "READONLY", "the old primary")
	if v := showReplication(t, g.demo, replica); v.ReplicaOf != nil || len(v.Replicas) != 1 {
		t.Errorf("new primary: got %+v, want no primary and one replica", v)
	}
	if v := showReplication(t, g.demo, oldPrimary); v.ReplicaOf == nil || v.ReplicaOf.ID != replica {
		t.Errorf("old primary: replica_of %+v, want the new primary %s", v.ReplicaOf, replica)
	}
	redisSet(t, g, replica, "after", "switchover")
	redisWaitGet(t, g, "after", "switchover", oldPrimary)
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
