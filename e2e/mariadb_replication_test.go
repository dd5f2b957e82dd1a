package e2e

import (
	"context"
	"database/sql"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/databases"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/instances"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/users"
)

// The replication scenarios of replication_test.go over MariaDB: its GTID replication
// behaves as PostgreSQL's streaming replication does through the Trove API, so the group's
// helpers (showReplication, action, deleteAll) serve both; only the client differs.

// newMariaGroup makes a MariaDB primary with database shop, user clerk and table items,
// and n replicas of it (one create with replica_count), all ACTIVE. Its cleanup deletes
// replicas before the primary.
func newMariaGroup(t *testing.T, name string, n int) *group {
	t.Helper()
	if _, err := os.Stat("/usr/sbin/mariadbd"); err != nil {
		t.Skip("mariadb-server is not installed")
	}
	if _, err := exec.LookPath("mariadb-dump"); err != nil {
		t.Skip("the mariadb client is not installed")
	}
	demo := login(t, "demo")
	g := &group{demo: demo, password: randomPassword(t), address: map[string]string{}}
	created, err := instances.Create(context.Background(), demo.db, instances.CreateOpts{
		Name: name, FlavorRef: "ds512M", Size: 1,
		Datastore: &instances.DatastoreOpts{Type: "mariadb", Version: "10.11"},
		Databases: databases.BatchCreateOpts{{Name: "shop"}},
		Users: users.BatchCreateOpts{{Name: "clerk", Password: g.password, Host: "%",
			Databases: databases.BatchCreateOpts{{Name: "shop"}}}},
	}).Extract()
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	g.primary = created.ID
	t.Cleanup(func() { g.deleteAll(t) })
	inst := waitStatus(t, demo.db, g.primary, "ACTIVE", 4*time.Minute)
	g.address[g.primary] = inst.IP[0]
	if _, err := mariadbAs(t, inst.IP[0], "clerk", g.password, "shop").Exec("CREATE TABLE items (n int AUTO_INCREMENT PRIMARY KEY, v int NOT NULL)"); err != nil {
		t.Fatalf("create table items: %v", err)
	}
	var out struct {
		Instance struct {
			ID string `json:"id"`
		} `json:"instance"`
	}
	code := call(t, demo, http.MethodPost, "/instances", map[string]any{"instance": map[string]any{
		"name": name + "-replica", "replica_of": g.primary, "replica_count": n,
	}}, &out)
	if code != http.StatusOK {
		t.Fatalf("create %d replicas of %s: HTTP %d, want 200", n, g.primary, code)
	}
	deadline := time.Now().Add(time.Minute)
	for len(showReplication(t, demo, g.primary).Replicas) < n && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	for _, r := range showReplication(t, demo, g.primary).Replicas {
		g.replicas = append(g.replicas, r.ID)
	}
	if len(g.replicas) != n {
		t.Fatalf("primary %s shows replicas %v, want %d", g.primary, g.replicas, n)
	}
	for _, id := range g.replicas {
		inst := waitStatus(t, demo.db, id, "ACTIVE", 5*time.Minute)
		g.address[id] = inst.IP[0]
		if v := showReplication(t, demo, id); v.ReplicaOf == nil || v.ReplicaOf.ID != g.primary {
			t.Fatalf("replica %s: replica_of %+v, want %s", id, v.ReplicaOf, g.primary)
		}
	}
	return g
}

// mariadbCLI runs the mariadb client as clerk on an instance's shop database and returns
// its output (tab-separated, no headers).
func mariadbCLI(g *group, id, query string) (string, error) {
	return mariadbClient(g.address[id], "clerk", g.password, "shop", query)
}

// mariadbClient runs the mariadb client against the MariaDB at address as user (the
// password goes in the environment) and returns its output, tab-separated, no headers.
func mariadbClient(address, user, password, database, query string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	args := []string{"--no-defaults", "-h", address, "-P", "3306", "-u", user, "--connect-timeout=5", "-N", "-B", "-e", query}
	if database != "" {
		args = append(args, database)
	}
	cmd := exec.CommandContext(ctx, "mariadb", args...)
	cmd.Env = append(os.Environ(), "MYSQL_PWD="+password)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// mariaCount is the number of rows of items on an instance, or -1 when it does not answer.
func mariaCount(g *group, id string) int {
	out, err := mariadbCLI(g, id, "SELECT count(*) FROM items")
	if err != nil {
		return -1
	}
	n, err := strconv.Atoi(out)
	if err != nil {
		return -1
	}
	return n
}

func mariaWaitCount(t *testing.T, g *group, want int, ids ...string) {
	t.Helper()
	for _, id := range ids {
		deadline := time.Now().Add(time.Minute)
		got := mariaCount(g, id)
		for got != want && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
			got = mariaCount(g, id)
		}
		if got != want {
			t.Fatalf("instance %s has %d rows, want %d", id, got, want)
		}
	}
}

func mariaWantReadOnly(t *testing.T, g *group, id, what string) {
	t.Helper()
	out, err := mariadbCLI(g, id, "INSERT INTO items (v) VALUES (-1)")
	if err == nil || !strings.Contains(out, "read-only") {
		t.Fatalf("%s: a write got %v: %s, want the read-only error", what, err, out)
	}
}

// mariaWriter inserts rows into whichever instance target names, remembering every insert
// the server acknowledged.
type mariaWriter struct {
	g      *group
	mu     sync.Mutex
	target string
	acked  []int64
	onNew  int
	stop   chan struct{}
	done   chan struct{}
}

func startMariaWriter(t *testing.T, g *group) *mariaWriter {
	w := &mariaWriter{g: g, target: g.primary, stop: make(chan struct{}), done: make(chan struct{})}
	conns := map[string]*sql.DB{}
	for id, addr := range g.address {
		conns[id] = mariadbAs(t, addr, "clerk", g.password, "shop")
	}
	go func() {
		defer close(w.done)
		for v := 1; ; v++ {
			select {
			case <-w.stop:
				return
			default:
			}
			w.mu.Lock()
			target := w.target
			w.mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			res, err := conns[target].ExecContext(ctx, "INSERT INTO items (v) VALUES (?)", v)
			cancel()
			if err != nil {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			n, _ := res.LastInsertId()
			w.mu.Lock()
			w.acked = append(w.acked, n)
			if target != g.primary {
				w.onNew++
			}
			w.mu.Unlock()
		}
	}()
	return w
}

// waitAcked waits until the writer has n acknowledged inserts, and onNew of them on a new
// target.
func (w *mariaWriter) waitAcked(t *testing.T, n, onNew int, timeout time.Duration) {
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
			t.Fatalf("the writer has %d acknowledged inserts (%d on the new primary), want %d (%d) within %s", got, gotNew, n, onNew, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (w *mariaWriter) finish() []int64 {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]int64(nil), w.acked...)
}

// TestMariaDBReplicaFollowsAndSwitchoverLosesNoAcknowledgedRow: a MariaDB primary with a
// replica; a row written on the primary is read on the replica with the mariadb client;
// a write on the replica fails (read-only); a switchover under a steady write load keeps
// every acknowledged insert, writes resume on the new primary, and the old primary
// follows it read-only.
func TestMariaDBReplicaFollowsAndSwitchoverLosesNoAcknowledgedRow(t *testing.T) {
	g := newMariaGroup(t, "maria-switchover", 1)
	replica := g.replicas[0]
	if out, err := mariadbCLI(g, g.primary, "INSERT INTO items (v) VALUES (42)"); err != nil {
		t.Fatalf("insert on the primary: %v: %s", err, out)
	}
	mariaWaitCount(t, g, 1, replica)
	if out, err := mariadbCLI(g, replica, "SELECT v FROM items"); err != nil || out != "42" {
		t.Fatalf("the replica reads %q (%v), want the primary's 42", out, err)
	}
	mariaWantReadOnly(t, g, replica, "replica")

	w := startMariaWriter(t, g)
	w.waitAcked(t, 50, 0, 30*time.Second)
	oldPrimary := g.primary
	g.action(t, replica, "promote_to_replica_source")
	w.mu.Lock()
	w.target = replica
	w.mu.Unlock()
	w.waitAcked(t, 0, 20, 3*time.Minute)
	for _, id := range []string{oldPrimary, replica} {
		waitStatus(t, g.demo.db, id, "ACTIVE", 3*time.Minute)
	}
	acked := w.finish()
	g.promoted(replica)
	t.Logf("switchover: %d inserts acknowledged", len(acked))

	newDB := mariadbAs(t, g.address[replica], "clerk", g.password, "shop")
	for _, n := range acked {
		var v int
		if err := newDB.QueryRow("SELECT v FROM items WHERE n = ?", n).Scan(&v); err != nil {
			t.Fatalf("acknowledged insert %d on the new primary: %v", n, err)
		}
	}
	total := mariaCount(g, replica)
	mariaWaitCount(t, g, total, oldPrimary)
	mariaWantReadOnly(t, g, oldPrimary, "the old primary")
	if v := showReplication(t, g.demo, replica); v.ReplicaOf != nil || len(v.Replicas) != 1 {
		t.Errorf("new primary: got %+v, want no primary and one replica", v)
	}
	if v := showReplication(t, g.demo, oldPrimary); v.ReplicaOf == nil || v.ReplicaOf.ID != replica {
		t.Errorf("old primary: replica_of %+v, want the new primary %s", v.ReplicaOf, replica)
	}
	if out, err := mariadbCLI(g, replica, "INSERT INTO items (v) VALUES (0)"); err != nil {
		t.Fatalf("insert on the new primary: %v: %s", err, out)
	}
	mariaWaitCount(t, g, total+1, oldPrimary)
}

// TestMariaDBDetachMakesAReplicaStandalone: a detach turns a MariaDB replica into a
// writable standalone instance with the data it had; the primary keeps its own.
func TestMariaDBDetachMakesAReplicaStandalone(t *testing.T) {
	g := newMariaGroup(t, "maria-detach", 1)
	replica := g.replicas[0]
	if out, err := mariadbCLI(g, g.primary, "INSERT INTO items (v) VALUES (1),(2),(3)"); err != nil {
		t.Fatalf("insert: %v: %s", err, out)
	}
	mariaWaitCount(t, g, 3, replica)
	if code := call(t, g.demo, http.MethodPatch, "/instances/"+replica, map[string]any{"instance": map[string]any{"replica_of": ""}}, nil); code != http.StatusAccepted {
		t.Fatalf("detach %s: HTTP %d, want 202", replica, code)
	}
	waitStatus(t, g.demo.db, replica, "ACTIVE", 2*time.Minute)
	if v := showReplication(t, g.demo, replica); v.ReplicaOf != nil {
		t.Errorf("detached replica: replica_of %+v, want none", v.ReplicaOf)
	}
	if out, err := mariadbCLI(g, replica, "INSERT INTO items (v) VALUES (4)"); err != nil {
		t.Fatalf("a write on the detached replica: %v: %s", err, out)
	}
	if got := mariaCount(g, replica); got != 4 {
		t.Errorf("detached replica has %d rows, want 4", got)
	}
	if got := mariaCount(g, g.primary); got != 3 {
		t.Errorf("the primary has %d rows after the detach, want its own 3", got)
	}
}
