package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/configurations"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/databases"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/instances"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/users"
	"github.com/jackc/pgx/v5"

	"github.com/coffer-dbaas/coffer/dev/devcloud"
	"github.com/coffer-dbaas/coffer/guest"
)

// group is a primary with its replicas, all ACTIVE, with database shop, user clerk and a
// table items(n serial, v int) written on the primary.
type group struct {
	demo     tenant
	password string
	primary  string
	replicas []string
	address  map[string]string
}

// replicaView is what the tests read of an instance's replication.
type replicaView struct {
	Status    string `json:"status"`
	ReplicaOf *struct {
		ID string `json:"id"`
	} `json:"replica_of"`
	Replicas []struct {
		ID string `json:"id"`
	} `json:"replicas"`
	ReplicationLag *struct {
		Bytes   int64   `json:"bytes"`
		Seconds float64 `json:"seconds"`
	} `json:"replication_lag"`
	Fault *struct {
		Message string `json:"message"`
	} `json:"fault"`
}

func showReplication(t testing.TB, demo tenant, id string) replicaView {
	t.Helper()
	var out struct {
		Instance replicaView `json:"instance"`
	}
	if code := call(t, demo, http.MethodGet, "/instances/"+id, nil, &out); code != http.StatusOK {
		t.Fatalf("show %s: HTTP %d", id, code)
	}
	return out.Instance
}

// newGroup makes a primary and n replicas of it (one create with replica_count) and waits
// until all are ACTIVE. The cleanup deletes replicas before primaries, whatever the group
// looks like by then.
func newGroup(t testing.TB, name string, n int) *group {
	t.Helper()
	demo := login(t, "demo")
	g := &group{demo: demo, password: randomPassword(t), address: map[string]string{}}
	opts := postgresOpts(name)
	opts.Databases = databases.BatchCreateOpts{{Name: "shop"}}
	opts.Users = users.BatchCreateOpts{{Name: "clerk", Password: g.password, Databases: databases.BatchCreateOpts{{Name: "shop"}}}}
	created, err := instances.Create(context.Background(), demo.db, opts).Extract()
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	g.primary = created.ID
	t.Cleanup(func() { g.deleteAll(t) })
	inst := waitStatus(t, demo.db, g.primary, "ACTIVE", 4*time.Minute)
	g.address[g.primary] = inst.IP[0]
	conn := g.connect(t, g.primary)
	execSQL(t, conn, "CREATE TABLE items (n serial PRIMARY KEY, v int NOT NULL)")

	g.addReplicas(t, name, n)
	return g
}

// addReplicas creates n replicas of the group's primary (one create with replica_count,
// named <name>-replica[-i]) and waits until all are ACTIVE, streaming from it.
func (g *group) addReplicas(t testing.TB, name string, n int) {
	t.Helper()
	code := call(t, g.demo, http.MethodPost, "/instances", map[string]any{"instance": map[string]any{
		"name": name + "-replica", "replica_of": g.primary, "replica_count": n,
	}}, nil)
	if code != http.StatusOK {
		t.Fatalf("create %d replicas of %s: HTTP %d, want 200", n, g.primary, code)
	}
	deadline := time.Now().Add(time.Minute)
	for len(showReplication(t, g.demo, g.primary).Replicas) < n && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	for _, r := range showReplication(t, g.demo, g.primary).Replicas {
		g.replicas = append(g.replicas, r.ID)
	}
	if len(g.replicas) != n {
		t.Fatalf("primary %s shows replicas %v, want %d", g.primary, g.replicas, n)
	}
	for _, id := range g.replicas {
		inst := waitStatus(t, g.demo.db, id, "ACTIVE", 5*time.Minute)
		g.address[id] = inst.IP[0]
		if v := showReplication(t, g.demo, id); v.ReplicaOf == nil || v.ReplicaOf.ID != g.primary {
			t.Fatalf("replica %s: replica_of %+v, want %s", id, v.ReplicaOf, g.primary)
		}
	}
}

// deleteAll deletes every member, replicas first: a primary with replicas answers 403.
func (g *group) deleteAll(t testing.TB) {
	left := append(append([]string(nil), g.replicas...), g.primary)
	for round := 0; round < 6 && len(left) > 0; round++ {
		var next []string
		for _, id := range left {
			err := instances.Delete(context.Background(), g.demo.db, id).ExtractErr()
			switch {
			case err == nil || gophercloud.ResponseCodeIs(err, http.StatusNotFound):
			default:
				next = append(next, id)
			}
		}
		for _, id := range left {
			if !contains(next, id) {
				waitGone(t, g.demo.db, id, 3*time.Minute)
			}
		}
		left = next
		if len(left) > 0 {
			time.Sleep(2 * time.Second)
		}
	}
	if len(left) > 0 {
		t.Errorf("could not delete %v", left)
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func (g *group) connect(t testing.TB, id string) *pgx.Conn {
	t.Helper()
	conn, err := g.dial(context.Background(), id)
	if err != nil {
		t.Fatalf("connect to %s as clerk: %v", id, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func (g *group) dial(ctx context.Context, id string) (*pgx.Conn, error) {
	return pgx.Connect(ctx, fmt.Sprintf("postgres://clerk:%s@%s:5432/shop?sslmode=disable&connect_timeout=5", g.password, g.address[id]))
}

// count is the number of rows of items on an instance, or -1 when it does not answer.
func (g *group) count(id string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := g.dial(ctx, id)
	if err != nil {
		return -1
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM items").Scan(&n); err != nil {
		return -1
	}
	return n
}

// waitCount waits until each instance has want rows.
func (g *group) waitCount(t testing.TB, want int, ids ...string) {
	t.Helper()
	for _, id := range ids {
		deadline := time.Now().Add(30 * time.Second)
		got := g.count(id)
		for got != want && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			got = g.count(id)
		}
		if got != want {
			t.Fatalf("instance %s has %d rows, want %d", id, got, want)
		}
	}
}

// writer inserts rows in a loop into whichever instance target names, and remembers every
// insert the server acknowledged, so that a switchover can be checked for lost rows.
type writer struct {
	g      *group
	target atomic.Value // []string: the instances to try, in turn
	stop   chan struct{}
	done   chan struct{}

	mu    sync.Mutex
	acked []int
	// firstOK is when the first insert on each target succeeded.
	firstOK map[string]time.Time
	errors  int
}

func startWriter(g *group, target string) *writer {
	w := &writer{g: g, stop: make(chan struct{}), done: make(chan struct{}), firstOK: map[string]time.Time{}}
	w.target.Store([]string{target})
	go w.run()
	return w
}

func (w *writer) run() {
	defer close(w.done)
	var (
		conn *pgx.Conn
		on   string
		// next is the target to try after a failure.
		next int
	)
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	for v := 1; ; v++ {
		select {
		case <-w.stop:
			return
		default:
		}
		targets := w.target.Load().([]string)
		if !contains(targets, on) {
			next = 0
		}
		target := targets[next%len(targets)]
		if conn == nil || on != target {
			if conn != nil {
				conn.Close(context.Background())
				conn = nil
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			c, err := w.g.dial(ctx, target)
			cancel()
			if err != nil {
				next++
				w.fail()
				continue
			}
			conn, on = c, target
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		var n int
		err := conn.QueryRow(ctx, "INSERT INTO items (v) VALUES ($1) RETURNING n", v).Scan(&n)
		cancel()
		if err != nil {
			conn.Close(context.Background())
			conn = nil
			next++
			w.fail()
			continue
		}
		w.mu.Lock()
		w.acked = append(w.acked, n)
		if _, ok := w.firstOK[on]; !ok {
			w.firstOK[on] = time.Now()
		}
		w.mu.Unlock()
	}
}

func (w *writer) fail() {
	w.mu.Lock()
	w.errors++
	w.mu.Unlock()
	time.Sleep(10 * time.Millisecond)
}

// ackedOn returns how many inserts were acknowledged so far, and when the first one on
// target was.
func (w *writer) ackedOn(target string) (int, time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked), w.firstOK[target]
}

// finish stops the writer and returns every acknowledged row.
func (w *writer) finish() []int {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]int(nil), w.acked...)
}

// waitWrites waits until n more inserts were acknowledged on target.
func (w *writer) waitWrites(t testing.TB, target string, n int, timeout time.Duration) time.Time {
	t.Helper()
	start, _ := w.ackedOn(target)
	deadline := time.Now().Add(timeout)
	for {
		got, first := w.ackedOn(target)
		if got >= start+n && !first.IsZero() {
			return first
		}
		if time.Now().After(deadline) {
			t.Fatalf("no writes acknowledged on %s within %s (%d errors)", target, timeout, w.errors)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wantAllRows checks that every acknowledged row is on the instance.
func (g *group) wantAllRows(t testing.TB, id string, acked []int) {
	t.Helper()
	conn := g.connect(t, id)
	var found int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM items WHERE n = ANY($1)", acked).Scan(&found); err != nil {
		t.Fatal(err)
	}
	if found != len(acked) {
		t.Fatalf("instance %s has %d of the %d acknowledged rows: %d committed rows lost", id, found, len(acked), len(acked)-found)
	}
}

func (g *group) action(t testing.TB, id, action string) {
	t.Helper()
	if code := call(t, g.demo, http.MethodPost, "/instances/"+id+"/action", map[string]any{action: map[string]any{}}, nil); code != http.StatusAccepted {
		t.Fatalf("%s on %s: HTTP %d, want 202", action, id, code)
	}
}

// switchover promotes replica under a steady write load and returns the acknowledged rows
// and the write unavailability (from the action to the first insert the new primary
// acknowledged).
func (g *group) switchover(t testing.TB, w *writer, replica string) time.Duration {
	t.Helper()
	w.waitWrites(t, g.primary, 50, 30*time.Second)
	start := time.Now()
	g.action(t, replica, "promote_to_replica_source")
	// Writes go to the candidate from now on: refused (read-only) until it is promoted.
	w.target.Store([]string{replica})
	first := w.waitWrites(t, replica, 1, 2*time.Minute)
	for _, id := range append([]string{g.primary}, g.replicas...) {
		waitStatus(t, g.demo.db, id, "ACTIVE", 3*time.Minute)
	}
	return first.Sub(start)
}

// promoted rearranges g after replica became the primary.
func (g *group) promoted(replica string) {
	var replicas []string
	for _, id := range append([]string{g.primary}, g.replicas...) {
		if id != replica {
			replicas = append(replicas, id)
		}
	}
	g.primary, g.replicas = replica, replicas
}

// TestFailoverPromotesTheMostAdvancedReplicaAndTheOldPrimaryNeverWritesAgain: the primary's
// server crashes (guest and engine); eject promotes the replica that received the most
// WAL, the other follows it, and the old primary, started again, stays read-only.
func TestFailoverPromotesTheMostAdvancedReplicaAndTheOldPrimaryNeverWritesAgain(t *testing.T) {
	g := newGroup(t, "failover", 2)
	ctx := context.Background()
	execSQL(t, g.connect(t, g.primary), "INSERT INTO items (v) SELECT generate_series(1, 500)")
	g.waitCount(t, 500, g.replicas...)

	old := g.primary
	oldServer := serverOf(t, old)
	if err := devcloud.CrashServer(ctx, adminProvider(t), devcloud.AdminBaseURL(cloud.Cloud.IdentityURL()), oldServer); err != nil {
		t.Fatalf("crash the primary's server: %v", err)
	}
	// What each replica received before the primary died decides which one is promoted.
	received := map[string]string{}
	for _, r := range g.replicas {
		var lsn string
		if err := g.connect(t, r).QueryRow(ctx, "SELECT pg_last_wal_receive_lsn()::text").Scan(&lsn); err != nil {
			t.Fatal(err)
		}
		received[r] = lsn
	}

	g.action(t, old, "eject_replica_source")
	var newPrimary string
	deadline := time.Now().Add(3 * time.Minute)
	for newPrimary == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no replica became the primary within 3 minutes: %+v", showReplication(t, g.demo, old))
		}
		time.Sleep(500 * time.Millisecond)
		if v := showReplication(t, g.demo, old); v.Status != "ERROR" {
			continue
		}
		for _, r := range g.replicas {
			if v := showReplication(t, g.demo, r); v.Status == "ACTIVE" && v.ReplicaOf == nil {
				newPrimary = r
			}
		}
	}
	other := g.replicas[0]
	if other == newPrimary {
		other = g.replicas[1]
	}
	won, _ := guest.ParseLSN(received[newPrimary])
	lost, _ := guest.ParseLSN(received[other])
	if won < lost {
		t.Errorf("promoted %s (received %s) over %s (received %s)", newPrimary, received[newPrimary], other, received[other])
	}
	waitStatus(t, g.demo.db, other, "ACTIVE", 2*time.Minute)
	if v := showReplication(t, g.demo, other); v.ReplicaOf == nil || v.ReplicaOf.ID != newPrimary {
		t.Errorf("the other replica: replica_of %+v, want %s", v.ReplicaOf, newPrimary)
	}
	if v := showReplication(t, g.demo, old); v.ReplicaOf != nil || v.Fault == nil || !strings.Contains(v.Fault.Message, "Ejected") {
		t.Errorf("the old primary: got %+v, want out of the group with the ejection fault", v)
	}
	execSQL(t, g.connect(t, newPrimary), "INSERT INTO items (v) VALUES (501)")
	g.waitCount(t, 501, other)

	// The old primary was isolated: its server stopped, its volume detached. Started
	// again, it has no database to serve, and no write is ever accepted.
	pc, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
		IdentityEndpoint: cloud.Cloud.IdentityURL(), Username: "coffer", Password: "coffer", DomainName: "Default", TenantName: "service",
	})
	if err != nil {
		t.Fatal(err)
	}
	compute, err := openstack.NewComputeV2(pc, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	block, err := openstack.NewBlockStorageV3(pc, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := cloud.Catalog.GetInstance(ctx, "", old)
	if err != nil {
		t.Fatal(err)
	}
	if vol, err := volumes.Get(ctx, block, rec.VolumeID).Extract(); err != nil || vol.Status != "available" {
		t.Errorf("the old primary's volume: got %+v (err %v), want it detached (available)", vol, err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(500 * time.Millisecond) {
		s, err := servers.Get(ctx, compute, oldServer).Extract()
		if err != nil {
			t.Fatal(err)
		}
		if s.Status == "SHUTOFF" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the old primary's server is %s a minute after its crash, want SHUTOFF", s.Status)
		}
	}
	if err := servers.Start(ctx, compute, oldServer).ExtractErr(); err != nil {
		t.Fatalf("start the old primary's server again: %v", err)
	}
	var accepted, refused int
	for end := time.Now().Add(40 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := g.dial(wctx, old)
		if err == nil {
			_, err = conn.Exec(wctx, "INSERT INTO items (v) VALUES (-1)")
			conn.Close(ctx)
			switch {
			case err == nil:
				accepted++
			case strings.Contains(err.Error(), "read-only"):
				refused++
			}
		}
		cancel()
	}
	if accepted > 0 {
		t.Errorf("the ejected primary accepted %d writes after its server started again", accepted)
	}
	t.Logf("the ejected primary after its server started again: %d writes refused as read-only, unreachable otherwise", refused)
	g.primary, g.replicas = newPrimary, []string{other, old}
}

// TestDetachMakesAReplicaStandaloneAndAPrimaryWithReplicasCannotBeDeleted: deleting a
// primary with a replica is 403; a detach turns the replica into a writable standalone
// instance with the data it had; then the primary can be deleted.
func TestDetachMakesAReplicaStandaloneAndAPrimaryWithReplicasCannotBeDeleted(t *testing.T) {
	g := newGroup(t, "detach", 1)
	execSQL(t, g.connect(t, g.primary), "INSERT INTO items (v) SELECT generate_series(1, 10)")
	g.waitCount(t, 10, g.replicas[0])

	err := instances.Delete(context.Background(), g.demo.db, g.primary).ExtractErr()
	if !gophercloud.ResponseCodeIs(err, http.StatusForbidden) {
		t.Fatalf("delete a primary with a replica: got %v, want 403", err)
	}
	replica := g.replicas[0]
	// As python-troveclient's detach-replica sends it: PATCH with replica_of "" (Trove
	// detaches whatever its value).
	if code := call(t, g.demo, http.MethodPatch, "/instances/"+replica, map[string]any{"instance": map[string]any{"replica_of": ""}}, nil); code != http.StatusAccepted {
		t.Fatalf("detach %s: HTTP %d, want 202", replica, code)
	}
	waitStatus(t, g.demo.db, replica, "ACTIVE", 2*time.Minute)
	if v := showReplication(t, g.demo, replica); v.ReplicaOf != nil {
		t.Errorf("detached replica: replica_of %+v, want none", v.ReplicaOf)
	}
	if v := showReplication(t, g.demo, g.primary); len(v.Replicas) != 0 {
		t.Errorf("primary after the detach: replicas %+v, want none", v.Replicas)
	}
	execSQL(t, g.connect(t, replica), "INSERT INTO items (v) VALUES (11)")
	if got := g.count(replica); got != 11 {
		t.Errorf("detached replica has %d rows, want 11", got)
	}
	if got := g.count(g.primary); got != 10 {
		t.Errorf("the primary has %d rows after the detach, want its own 10", got)
	}
	if err := instances.Delete(context.Background(), g.demo.db, g.primary).ExtractErr(); err != nil {
		t.Fatalf("delete the primary once it has no replica: %v", err)
	}
}

// A configuration group that raises max_connections on a primary (a setting a hot standby
// needs at least as high as its primary's) reaches its replica too: both wait for a
// restart, and whichever restarts first, the replica streams on with the primary's value.
// A replica made afterwards starts with it as well.
func TestAGroupThatRaisesAPrimarysConnectionsKeepsItsReplicasStreaming(t *testing.T) {
	ctx := context.Background()
	g := newGroup(t, "raised", 1)
	replica := g.replicas[0]
	conn := g.connect(t, g.primary)
	execSQL(t, conn, "INSERT INTO items (v) VALUES (1)")
	g.waitCount(t, 1, replica)

	group, err := configurations.Create(ctx, g.demo.db, configurations.CreateOpts{
		Name: "more connections", Values: map[string]any{"max_connections": 200},
		Datastore: &configurations.DatastoreOpts{Type: "postgresql", Version: "15"},
	}).Extract()
	if err != nil {
		t.Fatalf("create the group: %v", err)
	}
	if err := instances.AttachConfigurationGroup(ctx, g.demo.db, g.primary, group.ID).ExtractErr(); err != nil {
		t.Fatalf("attach to the primary: %v", err)
	}
	t.Cleanup(func() {
		_ = instances.DetachConfigurationGroup(ctx, g.demo.db, g.primary).ExtractErr()
		_ = configurations.Delete(ctx, g.demo.db, group.ID).ExtractErr()
	})
	waitStatus(t, g.demo.db, g.primary, "RESTART_REQUIRED", time.Minute)
	waitStatus(t, g.demo.db, replica, "RESTART_REQUIRED", time.Minute)

	restart := func(id string) {
		t.Helper()
		if err := instances.Restart(ctx, g.demo.db, id).ExtractErr(); err != nil {
			t.Fatalf("restart %s: %v", id, err)
		}
		waitSeen(t, g.demo, id, "REBOOT", 10*time.Second)
		waitStatus(t, g.demo.db, id, "ACTIVE", 2*time.Minute)
	}
	// The primary first: the replica pauses at the change until it restarts too.
	restart(g.primary)
	conn = g.connect(t, g.primary)
	execSQL(t, conn, "INSERT INTO items (v) VALUES (2)")
	restart(replica)
	g.waitCount(t, 2, replica)
	for _, id := range []string{g.primary, replica} {
		var got string
		if err := g.connect(t, id).QueryRow(ctx, "SHOW max_connections").Scan(&got); err != nil || got != "200" {
			t.Errorf("instance %s: max_connections %q (%v), want 200", id, got, err)
		}
	}

	var out struct {
		Instance struct {
			ID string `json:"id"`
		} `json:"instance"`
	}
	if code := call(t, g.demo, http.MethodPost, "/instances", map[string]any{"instance": map[string]any{
		"name": "raised-replica-late", "replica_of": g.primary,
	}}, &out); code != http.StatusOK {
		t.Fatalf("create a replica of the raised primary: HTTP %d, want 200", code)
	}
	late := out.Instance.ID
	g.replicas = append(g.replicas, late)
	inst := waitStatus(t, g.demo.db, late, "ACTIVE", 5*time.Minute)
	g.address[late] = inst.IP[0]
	execSQL(t, conn, "INSERT INTO items (v) VALUES (3)")
	g.waitCount(t, 3, replica, late)
}

// ackWriter writes in a loop on whichever instance target names, through write, and
// remembers every write that write reports acknowledged (a committed insert, a Redis
// write its replica acknowledged), so that a switchover can be checked for lost writes.
type ackWriter[K any] struct {
	write func(target string, i int) (K, bool)
	first string
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once

	mu     sync.Mutex
	target string
	acked  []K
	onNew  int // acknowledged writes on a target other than the first
}

// startAckWriter starts writing on first; the test's end stops it, if finish did not.
func startAckWriter[K any](t testing.TB, first string, write func(target string, i int) (K, bool)) *ackWriter[K] {
	w := &ackWriter[K]{write: write, first: first, target: first, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for i := 1; ; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			w.mu.Lock()
			target := w.target
			w.mu.Unlock()
			k, ok := w.write(target, i)
			if !ok {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			w.mu.Lock()
			w.acked = append(w.acked, k)
			if target != w.first {
				w.onNew++
			}
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() { w.finish() })
	return w
}

// retarget sends the writes to id from now on.
func (w *ackWriter[K]) retarget(id string) {
	w.mu.Lock()
	w.target = id
	w.mu.Unlock()
}

// waitAcked waits until the writer has n acknowledged writes, and onNew of them on a new
// target.
func (w *ackWriter[K]) waitAcked(t testing.TB, n, onNew int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		w.mu.Lock()
		got, gotNew := len(w.acked), w.onNew
		w.mu.Unlock()
		if got >= n && gotNew >= onNew {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the writer has %d acknowledged writes (%d on the new primary), want %d (%d) within %s", got, gotNew, n, onNew, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// finish stops the writer and returns the acknowledged writes.
func (w *ackWriter[K]) finish() []K {
	w.once.Do(func() { close(w.stop) })
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]K(nil), w.acked...)
}
