package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/databases"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/instances"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/users"

	"github.com/coffer-dbaas/coffer/guest"
)

// The scenarios every datastore goes through, as a tenant sees them: one table, one row per
// engine, each row driving its engine with the engine's own client (psql, mariadb,
// redis-cli) against the instance's address. The data is a set of items, the integers a
// test wrote: a SQL table items(v int PRIMARY KEY) in database shop, owned by user clerk; a
// Redis set "items".

// datastore is one row of the table.
type datastore struct {
	name, version string
	// needs are the files the engine runs from; the row is skipped without them.
	needs []string
	// opts is the create request of an instance with database shop and user clerk (with
	// password), where the datastore has databases.
	opts func(name, password string) instances.CreateOpts
	// credentials returns the password the client logs in with on a fresh ACTIVE instance
	// made with password (Redis: root enable's, Trove's requirepass).
	credentials func(t *testing.T, demo tenant, id, password string) string
	// client runs the engine's client on an instance's address, with script on its
	// standard input, and returns its output; an error reply is an error.
	client func(address, password, script string) (string, error)
	// setup makes the items set; add writes items, count counts them, has counts how many
	// of vs are there.
	setup string
	add   func(vs ...int) string
	count string
	has   func(vs []int) string
	// addAcked is the script of one write that, when it succeeds, the primary acknowledged
	// (Redis: and a replica has, WAIT 1).
	addAcked func(v int) string
	// acked tells whether addAcked's output is an acknowledgement.
	acked func(out string) bool
	// readOnly tells whether a write's failure is the engine's read-only refusal.
	readOnly func(out string) bool
	// sized checks the engine's settings sized from flavor (ds512M, ds1G).
	sized func(t *testing.T, address, password, flavor string)
	// replicates is whether the datastore has replicas.
	replicates bool
	// noDatabases is a datastore without databases and users (Trove's 501 on their routes).
	noDatabases bool
}

var datastoreTable = []datastore{
	sqlRow("postgresql", "15", psqlClient, "SHOW shared_buffers",
		map[string]string{"ds512M": "128MB", "ds1G": "256MB"}, "/usr/bin/psql"),
	// The buffer pool and the connection limit follow the flavor.
	sqlRow("mariadb", "10.11", mariadbClient, "SELECT @@innodb_buffer_pool_size, @@max_connections",
		map[string]string{"ds512M": "268435456\t64", "ds1G": "536870912\t128"}, "/usr/sbin/mariadbd", "/usr/bin/mariadb", "/usr/bin/mbstream"),
	{
		name: "redis", version: "7", needs: []string{"/usr/bin/redis-server", "/usr/bin/redis-cli"},
		opts: func(name, _ string) instances.CreateOpts {
			return instances.CreateOpts{Name: name, FlavorRef: "ds512M", Size: 1, Datastore: &instances.DatastoreOpts{Type: "redis", Version: "7"}}
		},
		credentials: func(t *testing.T, demo tenant, id, _ string) string {
			t.Helper()
			root, err := instances.EnableRootUser(context.Background(), demo.db, id).Extract()
			if err != nil || root.Password == "" {
				t.Fatalf("enable root on %s: %+v %v", id, root, err)
			}
			return root.Password
		},
		client: redisClient,
		setup:  "PING",
		add: func(vs ...int) string {
			return "SADD items " + joinInts(vs, " ")
		},
		count: "SCARD items",
		has: func(vs []int) string {
			return "EVAL \"local n = 0 for _, v in ipairs(ARGV) do n = n + redis.call('SISMEMBER', 'items', v) end return n\" 0 " + joinInts(vs, " ")
		},
		// The write is acknowledged once a replica has it too.
		addAcked: func(v int) string { return fmt.Sprintf("SADD items %d\nWAIT 1 5000", v) },
		acked: func(out string) bool {
			lines := strings.Fields(out)
			return len(lines) == 2 && lines[1] != "0"
		},
		readOnly: func(out string) bool { return strings.Contains(out, "READONLY") },
		sized: func(t *testing.T, address, password, flavor string) {
			// maxmemory: three quarters of the flavor's RAM.
			want := map[string]string{"ds512M": "402653184", "ds1G": "805306368"}[flavor]
			out, err := redisClient(address, password, "INFO memory")
			if err != nil || !strings.Contains(out, "maxmemory:"+want+"\r\n") && !strings.Contains(out, "maxmemory:"+want+"\n") {
				t.Errorf("redis on %s: INFO memory (err %v) lacks maxmemory:%s:\n%s", flavor, err, want, out)
			}
		},
		replicates: true, noDatabases: true,
	},
}

// sqlRow is the row of a SQL engine with replicas: the items table in database shop,
// written and read by clerk with the engine's client; sizing shows what the query sizeQuery
// answers on each flavor.
func sqlRow(name, version string, client func(address, password, script string) (string, error), sizeQuery string, sizing map[string]string, needs ...string) datastore {
	return datastore{
		name: name, version: version, needs: needs,
		opts: func(instance, password string) instances.CreateOpts {
			return instances.CreateOpts{
				Name: instance, FlavorRef: "ds512M", Size: 1,
				Datastore: &instances.DatastoreOpts{Type: name, Version: version},
				Databases: databases.BatchCreateOpts{{Name: "shop"}},
				Users:     users.BatchCreateOpts{{Name: "clerk", Password: password, Databases: databases.BatchCreateOpts{{Name: "shop"}}}},
			}
		},
		credentials: func(_ *testing.T, _ tenant, _, password string) string { return password },
		client:      client,
		setup:       "CREATE TABLE items (v int PRIMARY KEY)", add: sqlAdd, count: "SELECT count(*) FROM items", has: sqlHas,
		// A write psql or mariadb reports done is committed on the primary.
		addAcked: func(v int) string { return sqlAdd(v) }, acked: func(string) bool { return true },
		readOnly: func(out string) bool { return strings.Contains(out, "read-only") },
		sized: func(t *testing.T, address, password, flavor string) {
			t.Helper()
			wantOutput(t, client, address, password, sizeQuery, sizing[flavor])
		},
		replicates: true,
	}
}

func joinInts(vs []int, sep string) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, sep)
}

func sqlAdd(vs ...int) string {
	return "INSERT INTO items (v) VALUES (" + joinInts(vs, "),(") + ")"
}

func sqlHas(vs []int) string {
	return "SELECT count(*) FROM items WHERE v IN (" + joinInts(vs, ",") + ")"
}

// runClient runs an engine's client with script on its standard input and the password in
// its environment, never on its command line.
func runClient(script string, env string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env)
	cmd.Stdin = strings.NewReader(script + "\n")
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func psqlClient(address, password, script string) (string, error) {
	return runClient(script, "PGPASSWORD="+password, "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
		fmt.Sprintf("host=%s port=5432 user=clerk dbname=shop sslmode=disable connect_timeout=5", address))
}

func mariadbClient(address, password, script string) (string, error) {
	return mariadbRun(address, "clerk", password, "shop", script)
}

// mariadbRun runs the mariadb client as user on database (none: "") at address.
func mariadbRun(address, user, password, database, script string) (string, error) {
	args := []string{"--no-defaults", "-h", address, "-P", "3306", "-u", user, "--connect-timeout=5", "-N", "-B"}
	if database != "" {
		args = append(args, database)
	}
	return runClient(script, "MYSQL_PWD="+password, "mariadb", args...)
}

// redisErrors are the error replies redis-cli prints (and exits 0 on, reading commands from
// its standard input), and its own failure to connect.
var redisErrors = []string{"ERR", "READONLY", "NOPERM", "NOAUTH", "WRONGPASS", "LOADING", "MASTERDOWN", "BUSY", "NOREPLICAS", "Could not connect"}

func redisClient(address, password, script string) (string, error) {
	out, err := runClient(script, "REDISCLI_AUTH="+password, "redis-cli", "-h", address, "-p", "6379", "--no-auth-warning")
	for line := range strings.Lines(out) {
		for _, e := range redisErrors {
			if err == nil && strings.HasPrefix(line, e) {
				err = fmt.Errorf("redis-cli: an error reply")
			}
		}
	}
	return out, err
}

func wantOutput(t *testing.T, client func(address, password, script string) (string, error), address, password, script, want string) {
	t.Helper()
	if out, err := client(address, password, script); err != nil || out != want {
		t.Errorf("%s on %s: got %q (err %v), want %q", script, address, out, err, want)
	}
}

// ds is a row bound to a tenant, for one test.
type ds struct {
	datastore
	demo tenant
}

func (d ds) must(t *testing.T, address, password, script string) string {
	t.Helper()
	out, err := d.client(address, password, script)
	if err != nil {
		t.Fatalf("%s on %s: %v: %s", firstLine(script), address, err, out)
	}
	return out
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return s
}

// items returns how many items an instance has, and how many of vs, or -1 when it does
// not answer.
func (d ds) items(address, password string, vs []int) (count, of int) {
	out, err := d.client(address, password, d.count)
	if err != nil {
		return -1, -1
	}
	count, err = strconv.Atoi(out)
	if err != nil {
		return -1, -1
	}
	if len(vs) == 0 {
		return count, 0
	}
	out, err = d.client(address, password, d.has(vs))
	if err != nil {
		return count, -1
	}
	if of, err = strconv.Atoi(strings.TrimPrefix(out, "(integer) ")); err != nil {
		return count, -1
	}
	return count, of
}

// wantExactly checks that an instance holds exactly the items vs, waiting up to timeout
// (a replica catching up).
func (d ds) wantExactly(t *testing.T, what, address, password string, vs []int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		count, of := d.items(address, password, vs)
		if count == len(vs) && of == len(vs) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d items, %d of the %d wanted, after %s; want exactly those", what, count, of, len(vs), timeout)
		}
		time.Sleep(time.Second)
	}
}

// wantAll checks that an instance holds every item of vs (and maybe more).
func (d ds) wantAll(t *testing.T, what, address, password string, vs []int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		_, of := d.items(address, password, vs)
		if of == len(vs) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of the %d acknowledged items after %s: %d lost", what, of, len(vs), timeout, len(vs)-of)
		}
		time.Sleep(time.Second)
	}
}

func (d ds) wantReadOnly(t *testing.T, what, address, password string) {
	t.Helper()
	out, err := d.client(address, password, d.add(-1))
	if err == nil || !d.readOnly(out) {
		t.Fatalf("%s: a write got %v: %s, want the read-only refusal", what, err, out)
	}
}

func seq(from, to int) []int {
	var vs []int
	for v := from; v <= to; v++ {
		vs = append(vs, v)
	}
	return vs
}

func rows(t *testing.T) []ds {
	demo := login(t, "demo")
	var out []ds
	for _, row := range datastoreTable {
		out = append(out, ds{datastore: row, demo: demo})
	}
	return out
}

func (d ds) skipWithoutEngine(t *testing.T) {
	t.Helper()
	for _, f := range d.needs {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("%s is not installed (%s)", d.name, f)
		}
	}
}

// create makes an instance of the row with database shop and user clerk, waits until it is
// ACTIVE and returns it with the client's password.
func (d ds) create(t *testing.T, name, password string) (*instances.Instance, string) {
	t.Helper()
	created, err := instances.Create(context.Background(), d.demo.db, d.opts(name, password)).Extract()
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	if created.Datastore.Type != d.name || created.Datastore.Version != d.version {
		t.Errorf("create answered datastore %+v, want %s %s", created.Datastore, d.name, d.version)
	}
	t.Cleanup(func() { deleteInstance(t, d.demo, created.ID) })
	inst := waitStatus(t, d.demo.db, created.ID, "ACTIVE", 4*time.Minute)
	if len(inst.IP) == 0 {
		t.Fatalf("instance %+v has no address", inst)
	}
	return inst, d.credentials(t, d.demo, inst.ID, password)
}

// TestEveryDatastoreServesBacksUpRestoresAndKeepsItsDataThroughOperations: per datastore,
// one instance: created with a database and a user, written with the engine's client,
// backed up (the backup holds the instance, its checksum and objects in Swift), written
// more; its backup restores into a new instance holding exactly what was written before
// it, and a corrupt copy of it ends in ERROR; a restart, a flavor resize and a volume
// resize keep the data (and size the engine from the flavor); its delete leaves nothing in
// the cloud.
func TestEveryDatastoreServesBacksUpRestoresAndKeepsItsDataThroughOperations(t *testing.T) {
	for _, d := range rows(t) {
		t.Run(d.name, func(t *testing.T) {
			d.skipWithoutEngine(t)
			ctx := context.Background()
			inst, password := d.create(t, "table-"+d.name, randomPassword(t))
			id, address := inst.ID, inst.IP[0]
			d.must(t, address, password, d.setup)
			before := seq(1, 1000)
			d.must(t, address, password, d.add(before...))
			d.wantExactly(t, "the instance", address, password, before, 0)
			d.sized(t, address, password, "ds512M")
			d.wantUsers(t, id)

			b := startBackup(t, d.demo, id, "table-"+d.name)
			// The backup holds the instance: it shows BACKUP, and a second backup waits.
			if got, err := instances.Get(ctx, d.demo.db, id).Extract(); err != nil || got.Status != "BACKUP" {
				t.Errorf("instance while its backup runs: got %+v (%v), want status BACKUP", got, err)
			}
			if code := call(t, d.demo, http.MethodPost, "/backups", map[string]any{"backup": map[string]any{"name": "second", "instance": id}}, nil); code != http.StatusUnprocessableEntity {
				t.Errorf("a second backup while one runs: got HTTP %d, want 422", code)
			}
			b = waitBackup(t, d.demo, b.ID, 5*time.Minute, "COMPLETED", "FAILED")
			if b.Status != "COMPLETED" {
				t.Fatalf("backup ended %s: %s", b.Status, b.FailReason)
			}
			if len(b.Checksum) != 64 || b.SizeBytes <= 0 || b.RawBytes <= 0 || b.LocationRef == "" {
				t.Errorf("completed backup: checksum %q size %d raw %d location %q, want a SHA-256, sizes and a location", b.Checksum, b.SizeBytes, b.RawBytes, b.LocationRef)
			}
			if objs := backupObjects(t, b.ID); len(objs) < 2 {
				t.Errorf("swift holds %v of the backup, want its manifest and segments", objs)
			}
			// The guest wrote through temp URLs over that backup's objects alone.
			wantGuestSwiftAccessConfined(t, "backup/"+b.ID, guest.BackupActivity, b.ID)
			waitStatus(t, d.demo.db, id, "ACTIVE", 2*time.Minute)
			after := seq(1001, 1500)
			d.must(t, address, password, d.add(after...))

			restoredID := restoreInstance(t, d.demo, "table-"+d.name+"-restored", b.ID)
			restored := waitStatus(t, d.demo.db, restoredID, "ACTIVE", 6*time.Minute)
			if restored.Datastore.Type != d.name {
				t.Errorf("restored instance's datastore: got %+v, want %s", restored.Datastore, d.name)
			}
			wantGuestSwiftAccessConfined(t, "instance/"+restoredID+"/create", guest.RestoreActivity, b.ID)
			rpassword := d.credentials(t, d.demo, restoredID, password)
			d.wantExactly(t, "the restored instance", restored.IP[0], rpassword, before, 0)
			d.wantUsers(t, restoredID)
			deleteInstance(t, d.demo, restoredID)

			corruptSegment(t, b.ID)
			badID := restoreInstance(t, d.demo, "table-"+d.name+"-corrupt", b.ID)
			bad := waitStatus(t, d.demo.db, badID, "ERROR", 6*time.Minute)
			if bad.Fault == nil || !strings.Contains(bad.Fault.Message, "restore backup failed") || !strings.Contains(bad.Fault.Message, "checksum") {
				t.Errorf("instance from a corrupt backup: got fault %+v, want the restore's checksum failure", bad.Fault)
			}
			deleteInstance(t, d.demo, badID)
			deleteBackupAndWait(t, d.demo, b.ID)
			if objs := backupObjects(t, b.ID); len(objs) != 0 {
				t.Errorf("swift still holds %v of the deleted backup", objs)
			}

			all := append(before, after...)
			if err := instances.Restart(ctx, d.demo.db, id).ExtractErr(); err != nil {
				t.Fatalf("restart: %v", err)
			}
			waitSeen(t, d.demo, id, "REBOOT", 10*time.Second)
			waitStatus(t, d.demo.db, id, "ACTIVE", 3*time.Minute)
			d.wantExactly(t, "after a restart", address, password, all, time.Minute)

			if err := instances.Resize(ctx, d.demo.db, id, "ds1G").ExtractErr(); err != nil {
				t.Fatalf("resize: %v", err)
			}
			waitSeen(t, d.demo, id, "RESIZE", 10*time.Second)
			waitStatus(t, d.demo.db, id, "ACTIVE", 4*time.Minute)
			d.wantExactly(t, "after a flavor resize", address, password, all, time.Minute)
			d.sized(t, address, password, "ds1G")

			if err := instances.ResizeVolume(ctx, d.demo.db, id, 2).ExtractErr(); err != nil {
				t.Fatalf("resize volume: %v", err)
			}
			waitStatus(t, d.demo.db, id, "ACTIVE", 3*time.Minute)
			eventually(t, "the guest sees its 2 GiB volume", func() bool {
				v, _ := showRaw(t, d.demo, id)["volume"].(map[string]any)
				return v["size"] == float64(2) && guestVolume(t, id).SizeGB == 2
			})
			d.wantExactly(t, "after a volume resize", address, password, all, time.Minute)

			if err := instances.Delete(ctx, d.demo.db, id).ExtractErr(); err != nil {
				t.Fatalf("delete: %v", err)
			}
			waitGone(t, d.demo.db, id, 3*time.Minute)
			if left := leftovers(t, id); len(left) > 0 {
				t.Fatalf("the cloud still holds %v of deleted instance %s", left, id)
			}
			wantGoneFromCatalog(t, id)
			if out, err := d.client(address, password, d.count); err == nil {
				t.Errorf("the deleted instance's engine still answers on %s: %s", address, out)
			}
		})
	}
}

// wantUsers checks what the instance's database and user routes answer: clerk (the agent
// reaches the engine, on a restored instance with the new guest's password too), or, for a
// datastore without databases, Trove's 501.
func (d ds) wantUsers(t *testing.T, id string) {
	t.Helper()
	base := cloud.APIURL + "/v1.0/" + d.demo.projectID + "/instances/" + id
	if d.noDatabases {
		code, body := rawGet(t, d.demo.provider.Token(), base+"/databases")
		want := "The 'list_databases' operation is not supported for the '" + d.name + "' datastore."
		if code != http.StatusNotImplemented || !strings.Contains(body, want) {
			t.Errorf("databases of a %s instance: got %d %s, want Trove's 501", d.name, code, body)
		}
		return
	}
	code, body := rawGet(t, d.demo.provider.Token(), base+"/users")
	if code != http.StatusOK || !strings.Contains(body, `"name":"clerk"`) {
		t.Errorf("users of instance %s: got %d %s, want clerk", id, code, body)
	}
}

// startWriter writes items one at a time with the engine's client into whichever instance
// the writer targets, keeping every write acknowledged (Redis: by a replica too).
func (d ds) startWriter(t *testing.T, g *group, password string) *ackWriter[int] {
	return startAckWriter(t, g.primary, func(target string, v int) (int, bool) {
		out, err := d.client(g.address[target], password, d.addAcked(v))
		return v, err == nil && d.acked(out)
	})
}

// newReplicated makes a primary of the row with two replicas (one create with replica_of and
// replica_count), all ACTIVE, and the items set on the primary.
func (d ds) newReplicated(t *testing.T, name string) (*group, string) {
	t.Helper()
	g := &group{demo: d.demo, password: randomPassword(t), address: map[string]string{}}
	created, err := instances.Create(context.Background(), d.demo.db, d.opts(name, g.password)).Extract()
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	g.primary = created.ID
	t.Cleanup(func() { g.deleteAll(t) })
	inst := waitStatus(t, d.demo.db, g.primary, "ACTIVE", 4*time.Minute)
	g.address[g.primary] = inst.IP[0]
	password := d.credentials(t, d.demo, g.primary, g.password)
	d.must(t, inst.IP[0], password, d.setup)

	g.addReplicas(t, name, 2)
	return g, password
}

// TestEveryReplicatingDatastoreFollowsSwitchesOverLosingNoAcknowledgedWriteAndDetaches: per
// datastore with replicas, a primary and two replicas: what the primary has reaches both,
// which refuse writes and show their lag; a switchover under a steady write load keeps
// every acknowledged write (Redis: acknowledged with WAIT by a replica), writes resume on
// the new primary, and the old primary and the other replica follow it read-only; a detach
// makes the old primary a writable standalone instance.
func TestEveryReplicatingDatastoreFollowsSwitchesOverLosingNoAcknowledgedWriteAndDetaches(t *testing.T) {
	for _, d := range rows(t) {
		t.Run(d.name, func(t *testing.T) {
			if !d.replicates {
				t.Skipf("%s has no replicas yet", d.name)
			}
			d.skipWithoutEngine(t)
			g, password := d.newReplicated(t, "follow-"+d.name)
			primary, candidate, other := g.primary, g.replicas[0], g.replicas[1]
			first := seq(1000001, 1000100)
			d.must(t, g.address[primary], password, d.add(first...))
			for _, r := range g.replicas {
				d.wantExactly(t, "replica "+r, g.address[r], password, first, 3*time.Minute)
				d.wantReadOnly(t, "replica "+r, g.address[r], password)
			}
			var lagSeen bool
			for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline) && !lagSeen; time.Sleep(time.Second) {
				lagSeen = showReplication(t, d.demo, candidate).ReplicationLag != nil
			}
			if !lagSeen {
				t.Errorf("replica %s shows no replication_lag after a minute", candidate)
			}

			w := d.startWriter(t, g, password)
			w.waitAcked(t, 30, 0, 2*time.Minute)
			g.action(t, candidate, "promote_to_replica_source")
			// Writes go to the candidate from now on: refused (read-only) until it is
			// promoted.
			w.retarget(candidate)
			w.waitAcked(t, 0, 20, 4*time.Minute)
			for _, id := range []string{primary, candidate, other} {
				waitStatus(t, d.demo.db, id, "ACTIVE", 4*time.Minute)
			}
			acked := w.finish()
			g.promoted(candidate)
			t.Logf("switchover: %d writes acknowledged", len(acked))
			d.wantAll(t, "the new primary", g.address[candidate], password, acked, 3*time.Minute)
			for _, id := range []string{primary, other} {
				d.wantAll(t, "follower "+id, g.address[id], password, acked, 3*time.Minute)
				d.wantReadOnly(t, "follower "+id, g.address[id], password)
				if v := showReplication(t, d.demo, id); v.ReplicaOf == nil || v.ReplicaOf.ID != candidate {
					t.Errorf("instance %s: replica_of %+v, want the new primary %s", id, v.ReplicaOf, candidate)
				}
			}
			if v := showReplication(t, d.demo, candidate); v.ReplicaOf != nil || len(v.Replicas) != 2 {
				t.Errorf("new primary: got %+v, want no primary and two replicas", v)
			}
			// The old primary follows: a new write reaches it.
			d.must(t, g.address[candidate], password, d.add(2000000))
			d.wantAll(t, "the old primary", g.address[primary], password, []int{2000000}, 3*time.Minute)

			// A detach makes the old primary (now a replica) standalone and writable, with
			// the data it had; the new primary keeps its own.
			if code := call(t, d.demo, http.MethodPatch, "/instances/"+primary, map[string]any{"instance": map[string]any{"replica_of": ""}}, nil); code != http.StatusAccepted {
				t.Fatalf("detach %s: HTTP %d, want 202", primary, code)
			}
			waitStatus(t, d.demo.db, primary, "ACTIVE", 3*time.Minute)
			if v := showReplication(t, d.demo, primary); v.ReplicaOf != nil {
				t.Errorf("detached instance: replica_of %+v, want none", v.ReplicaOf)
			}
			d.must(t, g.address[primary], password, d.add(3000000))
			d.wantAll(t, "the detached instance", g.address[primary], password, append(acked, 2000000, 3000000), 0)
			if _, of := d.items(g.address[candidate], password, []int{3000000}); of != 0 {
				t.Errorf("a write on the detached instance reached its former primary")
			}
		})
	}
}
