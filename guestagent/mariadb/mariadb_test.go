package mariadb

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestagent"
	"github.com/coffer-dbaas/coffer/guestagent/machine"
	"github.com/go-sql-driver/mysql"
)

// newInstance describes a server with its own loopback address (the machine's own MariaDB
// has 127.0.0.1:3306) and a volume under /tmp (t.TempDir is root's alone, and the mysql
// user must walk through it).
func newInstance(t *testing.T, ramMB int) guestagent.Host {
	t.Helper()
	if _, err := os.Stat("/usr/sbin/mariadbd"); err != nil {
		t.Skip("mariadb-server is not installed")
	}
	dir, err := os.MkdirTemp("", "coffer-vol-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return guestagent.Host{
		Address: fmt.Sprintf("127.78.%d.%d", 1+rand.IntN(254), 1+rand.IntN(254)),
		RAMMB:   ramMB,
		CPUs:    1,
		Volume:  machine.Folder(dir, 1),
	}
}

func newTestDriver(t *testing.T, inst guestagent.Host) *Driver {
	t.Helper()
	drv, err := New(guest.Config{InstanceID: "6d61726961-test"}, inst)
	if err != nil {
		t.Fatal(err)
	}
	d := drv.(*Driver)
	t.Cleanup(func() {
		if err := d.Stop(context.Background()); err != nil {
			t.Errorf("stop mariadb: %v", err)
		}
		if out, err := exec.Command("pgrep", "-f", d.server.ConfigFile).Output(); err == nil {
			t.Errorf("mariadbd processes left for %s: %s", d.server.ConfigFile, out)
		}
	})
	return d
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// connectAs opens a TCP session to the instance's address, as a tenant would.
func connectAs(t *testing.T, inst guestagent.Host, user, password, database string) *sql.DB {
	t.Helper()
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.DBName = user, password, database
	cfg.Net, cfg.Addr = "tcp", fmt.Sprintf("%s:%d", inst.Address, Port)
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestPrepareMakesDatabasesAndUsersATenantReaches(t *testing.T) {
	ctx := testContext(t)
	inst := newInstance(t, 1024)
	d := newTestDriver(t, inst)
	if got := d.Health(ctx).Status; got != coffer.ServiceNew {
		t.Fatalf("health before prepare: got %s, want NEW", got)
	}
	in := guest.PrepareInput{
		Datastore: Datastore,
		Databases: []coffer.Database{{Name: "shop", CharacterSet: "latin1", Collation: "latin1_swedish_ci"}, {Name: "other"}},
		Users:     []coffer.User{{Name: "alice", Password: "s3cret'\"pw", Host: "%", Databases: []string{"shop"}}},
	}
	if err := d.Prepare(ctx, in); err != nil {
		t.Fatalf("prepare: %v", err)
	}
	// Again, as a retried activity does: nothing changes, nothing fails.
	if err := d.Prepare(ctx, in); err != nil {
		t.Fatalf("prepare again: %v", err)
	}
	if got := d.Health(ctx).Status; got != coffer.ServiceHealthy {
		t.Fatalf("health after prepare: got %s, want HEALTHY", got)
	}

	alice := connectAs(t, inst, "alice", "s3cret'\"pw", "shop")
	if _, err := alice.ExecContext(ctx, "CREATE TABLE t (v text)"); err != nil {
		t.Fatalf("alice creates a table: %v", err)
	}
	if _, err := alice.ExecContext(ctx, "INSERT INTO t VALUES ('hello')"); err != nil {
		t.Fatalf("alice writes: %v", err)
	}
	var v string
	if err := alice.QueryRowContext(ctx, "SELECT v FROM t").Scan(&v); err != nil || v != "hello" {
		t.Fatalf("alice reads: got %q, %v; want hello", v, err)
	}
	if _, err := alice.ExecContext(ctx, "SELECT * FROM other.x"); err == nil || !strings.Contains(err.Error(), "denied") {
		t.Errorf("alice reaches database other: got %v, want access denied", err)
	}

	dbs, err := d.ListDatabases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(dbs); got != "[{other utf8mb4 utf8mb4_general_ci} {shop latin1 latin1_swedish_ci}]" {
		t.Errorf("databases: got %s", got)
	}
	users, err := d.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(users); got != "[{alice % [shop]}]" {
		t.Errorf("users: got %s, want alice@%% with shop", got)
	}

	var bp, conns string
	probe := connectAs(t, inst, "alice", "s3cret'\"pw", "shop")
	if err := probe.QueryRowContext(ctx, "SELECT @@innodb_buffer_pool_size, @@max_connections").Scan(&bp, &conns); err != nil {
		t.Fatal(err)
	}
	if bp != "536870912" || conns != "128" {
		t.Errorf("sized from a 1 GiB flavor: got buffer pool %s and %s connections, want 536870912 and 128", bp, conns)
	}

	if err := d.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if got := d.Health(ctx).Status; got != coffer.ServiceShutdown {
		t.Fatalf("health after stop: got %s, want SHUTDOWN", got)
	}
	if err := d.Start(ctx); err != nil {
		t.Fatalf("start again: %v", err)
	}
	if err := alice.QueryRowContext(ctx, "SELECT v FROM t").Scan(&v); err != nil || v != "hello" {
		t.Fatalf("alice reads after a restart: got %q, %v; want hello", v, err)
	}
}

func TestRootIsAMasterUserThatCannotReachServerFiles(t *testing.T) {
	ctx := testContext(t)
	inst := newInstance(t, 512)
	d := newTestDriver(t, inst)
	if err := d.Prepare(ctx, guest.PrepareInput{Datastore: Datastore, Databases: []coffer.Database{{Name: "shop"}}}); err != nil {
		t.Fatalf("prepare: %v", err)
	}
	if err := d.EnableRoot(ctx, "rootpw-123"); err != nil {
		t.Fatalf("enable root: %v", err)
	}
	if on, err := d.RootEnabled(ctx); err != nil || !on {
		t.Fatalf("root enabled: got %v, %v", on, err)
	}
	root := connectAs(t, inst, "root", "rootpw-123", "shop")
	if _, err := root.ExecContext(ctx, "CREATE TABLE t (v text)"); err != nil {
		t.Fatalf("root creates a table: %v", err)
	}
	var file sql.NullString
	if err := root.QueryRowContext(ctx, "SELECT LOAD_FILE('/etc/passwd')").Scan(&file); err != nil || file.Valid {
		t.Errorf("root reads /etc/passwd: got %v, %v; want NULL", file, err)
	}
	if _, err := root.ExecContext(ctx, "SELECT 'x' INTO OUTFILE '/tmp/coffer-root-escape'"); err == nil {
		os.Remove("/tmp/coffer-root-escape")
		t.Errorf("root writes a server file: no error")
	}
	for _, stmt := range []string{
		"UPDATE mysql.global_priv SET Priv = '{}' WHERE User = 'coffer_agent'",
		"CREATE USER x@'%' IDENTIFIED BY 'y'",
		"RENAME USER coffer_agent@localhost TO x@'%'",
		"SET GLOBAL max_connections = 5",
		"SHUTDOWN",
	} {
		if _, err := root.ExecContext(ctx, stmt); err == nil {
			t.Errorf("root runs %q: no error, want it refused", stmt)
		}
	}
	if err := d.DisableRoot(ctx); err != nil {
		t.Fatal(err)
	}
	if err := connectAs(t, inst, "root", "rootpw-123", "shop").PingContext(ctx); err == nil {
		t.Errorf("root logs in after disable")
	}
}

func TestUsersAreUserAtHostWithGrantsThatFollowThem(t *testing.T) {
	ctx := testContext(t)
	inst := newInstance(t, 512)
	d := newTestDriver(t, inst)
	if err := d.Prepare(ctx, guest.PrepareInput{Datastore: Datastore,
		Databases: []coffer.Database{{Name: "a"}, {Name: "b"}},
		Users: []coffer.User{
			{Name: "bob", Password: "pw-local", Host: "10.0.0.%", Databases: []string{"a"}},
			{Name: "bob", Password: "pw-any", Databases: []string{"b"}},
		}}); err != nil {
		t.Fatalf("prepare: %v", err)
	}
	// Two accounts of one name, told apart by host, each with its own grants.
	users, err := d.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(users); got != "[{bob % [b]} {bob 10.0.0.% [a]}]" {
		t.Errorf("users: got %s", got)
	}
	if _, err := d.GetUser(ctx, guest.UserRef{Name: "bob", Host: "192.168.%"}); !errors.Is(err, guestagent.ErrNotFound) {
		t.Errorf("bob@192.168.%%: got %v, want ErrNotFound", err)
	}
	if err := d.GrantAccess(ctx, guest.AccessInput{UserRef: guest.UserRef{Name: "bob"}, Databases: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	if err := d.RevokeAccess(ctx, guest.AccessInput{UserRef: guest.UserRef{Name: "bob"}, Databases: []string{"b", "b"}}); err != nil {
		t.Fatalf("revoke (twice, as a retry does): %v", err)
	}
	if got, err := d.ListAccess(ctx, guest.UserRef{Name: "bob"}); err != nil || fmt.Sprint(got) != "[a]" {
		t.Errorf("bob@%%'s databases: got %v, %v; want [a]", got, err)
	}
	// Renamed with a new host and password, the account keeps its grants.
	update := guest.UpdateUserInput{UserRef: guest.UserRef{Name: "bob"}, NewName: "carol", NewHost: "127.%", Password: "pw-carol"}
	for range 2 {
		if err := d.UpdateUser(ctx, update); err != nil {
			t.Fatalf("update bob@%%: %v", err)
		}
	}
	carol := connectAs(t, inst, "carol", "pw-carol", "a")
	if _, err := carol.ExecContext(ctx, "CREATE TABLE t (v int)"); err != nil {
		t.Errorf("carol uses database a: %v", err)
	}
	// A dropped database takes its grants along: a new one of that name is not carol's.
	if err := d.DeleteDatabase(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := d.CreateDatabases(ctx, []coffer.Database{{Name: "a"}}); err != nil {
		t.Fatal(err)
	}
	if got, err := d.ListAccess(ctx, guest.UserRef{Name: "carol", Host: "127.%"}); err != nil || len(got) != 0 {
		t.Errorf("carol's databases after a drop and create: got %v, %v; want none", got, err)
	}
	if err := d.DeleteUser(ctx, guest.UserRef{Name: "carol", Host: "127.%"}); err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteUser(ctx, guest.UserRef{Name: "carol", Host: "127.%"}); !errors.Is(err, guestagent.ErrNotFound) {
		t.Errorf("delete carol again: got %v, want ErrNotFound", err)
	}
	for _, bad := range []coffer.Database{{Name: "mysql"}, {Name: "x", CharacterSet: "nosuchset"}, {Name: "y", Collation: "no_such_ci"}} {
		if err := d.CreateDatabases(ctx, []coffer.Database{bad}); !errors.Is(err, guestagent.ErrInvalid) {
			t.Errorf("create database %+v: got %v, want ErrInvalid", bad, err)
		}
	}
}

func TestBackupRestoresIntoANewInstanceWithItsData(t *testing.T) {
	if _, err := os.Stat(mariabackup()); err != nil {
		t.Skip("mariadb-backup is not installed")
	}
	ctx := testContext(t)
	srcInst := newInstance(t, 512)
	src := newTestDriver(t, srcInst)
	if err := src.Prepare(ctx, guest.PrepareInput{Datastore: Datastore, Databases: []coffer.Database{{Name: "shop"}},
		Users: []coffer.User{{Name: "clerk", Password: "pw-clerk", Databases: []string{"shop"}}}}); err != nil {
		t.Fatalf("prepare: %v", err)
	}
	clerk := connectAs(t, srcInst, "clerk", "pw-clerk", "shop")
	if _, err := clerk.ExecContext(ctx, "CREATE TABLE t (v text)"); err != nil {
		t.Fatal(err)
	}
	if _, err := clerk.ExecContext(ctx, "INSERT INTO t VALUES ('before the backup')"); err != nil {
		t.Fatal(err)
	}
	var stream bytes.Buffer
	if err := src.Backup(ctx, &stream); err != nil {
		t.Fatalf("backup: %v", err)
	}
	if _, err := clerk.ExecContext(ctx, "INSERT INTO t VALUES ('after the backup')"); err != nil {
		t.Fatal(err)
	}

	dstInst := newInstance(t, 512)
	dst := newTestDriver(t, dstInst)
	// A stream cut short restores nothing, and leaves nothing an engine would start.
	cut := stream.Bytes()[:stream.Len()/2]
	if err := dst.Restore(ctx, func(w io.Writer) error { _, err := w.Write(cut); return err }); err == nil {
		t.Fatalf("restore of half a backup: no error")
	}
	if dst.server.Installed() {
		t.Fatalf("a failed restore left a data folder")
	}
	if err := dst.Restore(ctx, func(w io.Writer) error { _, err := w.Write(stream.Bytes()); return err }); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if err := dst.Prepare(ctx, guest.PrepareInput{Datastore: Datastore}); err != nil {
		t.Fatalf("prepare after restore: %v", err)
	}
	rows, err := connectAs(t, dstInst, "clerk", "pw-clerk", "shop").QueryContext(ctx, "SELECT v FROM t")
	if err != nil {
		t.Fatalf("clerk reads the restored data: %v", err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	if fmt.Sprint(got) != "[before the backup]" {
		t.Errorf("restored rows: got %v, want exactly [before the backup]", got)
	}
}

// TestPrepareAdoptsTheFolderMadeAhead: a data folder mariadb-install-db made at the agent's
// boot (MakeAhead) is the one Prepare starts, with the agent's account made at that start,
// and no staging folder is left.
func TestPrepareAdoptsTheFolderMadeAhead(t *testing.T) {
	ctx := testContext(t)
	inst := newInstance(t, 512)
	d := newTestDriver(t, inst)
	if ok, err := d.MakeAhead(ctx); !ok || err != nil {
		t.Fatalf("MakeAhead = %v, %v", ok, err)
	}
	if d.server.Installed() {
		t.Fatal("MakeAhead installed in place, not in its staging folder")
	}
	in := guest.PrepareInput{Datastore: Datastore, Databases: []coffer.Database{{Name: "shop"}},
		Users: []coffer.User{{Name: "alice", Password: "alice-pw", Host: "%", Databases: []string{"shop"}}}}
	if err := d.Prepare(ctx, in); err != nil {
		t.Fatalf("prepare: %v", err)
	}
	if err := connectAs(t, inst, "alice", "alice-pw", "shop").PingContext(ctx); err != nil {
		t.Fatalf("alice connects to shop: %v", err)
	}
	for _, left := range []string{d.ahead.Dir, d.ahead.Dir + ".whole"} {
		if _, err := os.Stat(left); !os.IsNotExist(err) {
			t.Errorf("%s is left after Prepare: %v", left, err)
		}
	}
	if ok, err := d.MakeAhead(ctx); ok || err != nil {
		t.Errorf("MakeAhead on a prepared volume = %v, %v; want nothing done", ok, err)
	}
}
