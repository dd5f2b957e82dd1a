package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/databases"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/instances"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/users"
)

// mariadbAs opens sessions to a database of a MariaDB instance over TCP, as a tenant's
// application does.
func mariadbAs(t *testing.T, address, user, password, database string) *sql.DB {
	t.Helper()
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.DBName = user, password, database
	cfg.Net, cfg.Addr = "tcp", address+":3306"
	cfg.Timeout = 10 * time.Second
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestMariaDBInstanceServesATenantThroughRestartAndResizeAndItsRootReachesNoServerFile(t *testing.T) {
	if _, err := os.Stat("/usr/sbin/mariadbd"); err != nil {
		t.Skip("mariadb-server is not installed")
	}
	ctx := context.Background()
	demo := login(t, "demo")
	password := randomPassword(t)

	created, err := instances.Create(ctx, demo.db, instances.CreateOpts{
		Name: "maria", FlavorRef: "ds512M", Size: 1,
		Datastore: &instances.DatastoreOpts{Type: "mariadb", Version: "10.11"},
		Databases: databases.BatchCreateOpts{{Name: "shop", CharSet: "utf8mb4", Collate: "utf8mb4_unicode_ci"}},
		Users: users.BatchCreateOpts{{Name: "clerk", Password: password, Host: "%",
			Databases: databases.BatchCreateOpts{{Name: "shop"}}}},
	}).Extract()
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if created.Datastore.Type != "mariadb" || created.Datastore.Version != "10.11" {
		t.Fatalf("create answered datastore %+v, want mariadb 10.11", created.Datastore)
	}
	id := created.ID
	inst := waitStatus(t, demo.db, id, "ACTIVE", 3*time.Minute)
	if len(inst.IP) == 0 {
		t.Fatalf("instance %+v has no address", inst)
	}
	address := inst.IP[0]

	// The user has its host (gophercloud's users have none: read Trove's JSON as troveclient
	// does); the database's character set and collation show to its user below.
	code, body := rawGet(t, demo.provider.Token(), cloud.APIURL+"/v1.0/"+demo.projectID+"/instances/"+id+"/users")
	if code != http.StatusOK || !strings.Contains(body, `"name":"clerk"`) || !strings.Contains(body, `"host":"%"`) {
		t.Errorf("users: got %d %s, want clerk@%%", code, body)
	}

	// The tenant writes and reads a row as its user.
	clerk := mariadbAs(t, address, "clerk", password, "shop")
	if _, err := clerk.ExecContext(ctx, "CREATE TABLE orders (id int PRIMARY KEY, item text)"); err != nil {
		t.Fatalf("clerk creates a table: %v", err)
	}
	if _, err := clerk.ExecContext(ctx, "INSERT INTO orders VALUES (1, 'coffee beans')"); err != nil {
		t.Fatalf("clerk writes: %v", err)
	}
	var charset, collation string
	if err := clerk.QueryRowContext(ctx, "SELECT default_character_set_name, default_collation_name FROM information_schema.schemata WHERE schema_name = 'shop'").Scan(&charset, &collation); err != nil || charset != "utf8mb4" || collation != "utf8mb4_unicode_ci" {
		t.Errorf("database shop: got %s %s (err %v), want utf8mb4 utf8mb4_unicode_ci", charset, collation, err)
	}
	var item string
	if err := clerk.QueryRowContext(ctx, "SELECT item FROM orders WHERE id = 1").Scan(&item); err != nil || item != "coffee beans" {
		t.Fatalf("clerk reads back: got %q (err %v), want coffee beans", item, err)
	}

	// Root is a master user: it reads the tenant's data, and no server file.
	root, err := instances.EnableRootUser(ctx, demo.db, id).Extract()
	if err != nil {
		t.Fatalf("enable root: %v", err)
	}
	rootDB := mariadbAs(t, address, root.Name, root.Password, "shop")
	if err := rootDB.QueryRowContext(ctx, "SELECT item FROM orders WHERE id = 1").Scan(&item); err != nil || item != "coffee beans" {
		t.Fatalf("root reads the tenant's row: got %q (err %v), want coffee beans", item, err)
	}
	var file sql.NullString
	if err := rootDB.QueryRowContext(ctx, "SELECT LOAD_FILE('/etc/passwd')").Scan(&file); err != nil || file.Valid {
		t.Errorf("root's LOAD_FILE('/etc/passwd'): got %v (err %v), want NULL", file, err)
	}
	outfile := fmt.Sprintf("/tmp/coffer-e2e-outfile-%s", id)
	if _, err := rootDB.ExecContext(ctx, "SELECT item FROM orders INTO OUTFILE '"+outfile+"'"); err == nil || !strings.Contains(err.Error(), "denied") {
		t.Errorf("root's SELECT ... INTO OUTFILE: got %v, want access denied", err)
	}
	if _, err := os.Stat(outfile); err == nil {
		os.Remove(outfile)
		t.Errorf("root wrote %s on the server", outfile)
	}

	// A restart and a flavor resize keep the data; the buffer pool and the connection
	// limit follow the new flavor (ds512M: 256 MiB and 64; ds1G: 512 MiB and 128).
	sized := func(when, wantPool, wantConns string) {
		t.Helper()
		var pool, conns string
		if err := clerk.QueryRowContext(ctx, "SELECT @@innodb_buffer_pool_size, @@max_connections").Scan(&pool, &conns); err != nil || pool != wantPool || conns != wantConns {
			t.Errorf("%s: buffer pool %s and %s connections (err %v), want %s and %s", when, pool, conns, err, wantPool, wantConns)
		}
		if err := clerk.QueryRowContext(ctx, "SELECT item FROM orders WHERE id = 1").Scan(&item); err != nil || item != "coffee beans" {
			t.Errorf("%s: clerk reads back %q (err %v), want coffee beans", when, item, err)
		}
	}
	sized("on create", "268435456", "64")
	if err := instances.Restart(ctx, demo.db, id).ExtractErr(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	waitSeen(t, demo, id, "REBOOT", 10*time.Second)
	waitStatus(t, demo.db, id, "ACTIVE", 2*time.Minute)
	sized("after a restart", "268435456", "64")
	if err := instances.Resize(ctx, demo.db, id, "ds1G").ExtractErr(); err != nil {
		t.Fatalf("resize: %v", err)
	}
	waitSeen(t, demo, id, "RESIZE", 10*time.Second)
	waitStatus(t, demo.db, id, "ACTIVE", 3*time.Minute)
	sized("after a resize to ds1G", "536870912", "128")

	clerk.Close()
	rootDB.Close()
	if err := instances.Delete(ctx, demo.db, id).ExtractErr(); err != nil {
		t.Fatalf("delete: %v", err)
	}
	waitGone(t, demo.db, id, 2*time.Minute)
	if left := leftovers(t, id); len(left) > 0 {
		t.Fatalf("the cloud still holds %v of deleted instance %s", left, id)
	}
	wantGoneFromCatalog(t, id)
	if err := mariadbAs(t, address, "clerk", password, "shop").PingContext(ctx); err == nil {
		t.Errorf("the deleted instance's MariaDB still answers on %s:3306", address)
	}
	_, err = instances.Get(ctx, demo.db, id).Extract()
	if !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		t.Errorf("get after delete: got %v, want 404", err)
	}
}

// TestTroveClientManagesAMariaDBInstance drives a MariaDB instance with python-troveclient's
// openstack plugin, as Trove's MySQL users do: create with a database and a user, a user
// at a host, root enable, delete. It is skipped where the client or MariaDB is missing.
func TestTroveClientManagesAMariaDBInstance(t *testing.T) {
	if _, err := exec.LookPath("openstack"); err != nil {
		t.Skip("python-troveclient's openstack CLI is not installed")
	}
	if _, err := os.Stat("/usr/sbin/mariadbd"); err != nil {
		t.Skip("mariadb-server is not installed")
	}
	ctx := context.Background()
	demo := login(t, "demo")
	password := randomPassword(t)
	out := openstackCLI(t, "demo", "database", "instance", "create", "maria-cli", "--flavor", "ds512M", "--size", "1",
		"--datastore", "mariadb", "--datastore-version", "10.11", "--databases", "shop", "--users", "clerk:"+password,
		"-f", "value", "-c", "id")
	id := strings.TrimSpace(out)
	inst := waitStatus(t, demo.db, id, "ACTIVE", 3*time.Minute)

	openstackCLI(t, "demo", "database", "user", "create", id, "ann", password, "--host", "127.%", "--databases", "shop")
	users := openstackCLI(t, "demo", "database", "user", "list", id, "-f", "value")
	if !strings.Contains(users, "ann 127.% shop") || !strings.Contains(users, "clerk % shop") {
		t.Errorf("user list: got %q, want ann@127.%% and clerk@%% on shop", users)
	}
	if err := mariadbAs(t, inst.IP[0], "ann", password, "shop").PingContext(ctx); err != nil {
		t.Errorf("ann connects from 127.x: %v", err)
	}
	root := openstackCLI(t, "demo", "database", "root", "enable", id, "-f", "value", "-c", "name")
	if strings.TrimSpace(root) != "root" {
		t.Errorf("root enable: got %q, want root", root)
	}
	openstackCLI(t, "demo", "database", "instance", "delete", id)
	waitGone(t, demo.db, id, 2*time.Minute)
	if left := leftovers(t, id); len(left) > 0 {
		t.Fatalf("the cloud still holds %v of deleted instance %s", left, id)
	}
}

// TestMariaDBBackupRestoresIntoANewInstance backs a MariaDB instance up through the API
// (mariabackup's stream, through zstd, AES-GCM and Swift) and restores it into a new
// instance that holds exactly the rows written before the backup.
func TestMariaDBBackupRestoresIntoANewInstance(t *testing.T) {
	if _, err := os.Stat("/usr/bin/mbstream"); err != nil {
		t.Skip("mariadb-backup is not installed")
	}
	ctx := context.Background()
	demo := login(t, "demo")
	password := randomPassword(t)
	created, err := instances.Create(ctx, demo.db, instances.CreateOpts{
		Name: "maria-src", FlavorRef: "ds512M", Size: 1,
		Datastore: &instances.DatastoreOpts{Type: "mariadb", Version: "10.11"},
		Databases: databases.BatchCreateOpts{{Name: "shop"}},
		Users:     users.BatchCreateOpts{{Name: "clerk", Password: password, Databases: databases.BatchCreateOpts{{Name: "shop"}}}},
	}).Extract()
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	t.Cleanup(func() { deleteInstance(t, demo, created.ID) })
	src := waitStatus(t, demo.db, created.ID, "ACTIVE", 3*time.Minute)
	clerk := mariadbAs(t, src.IP[0], "clerk", password, "shop")
	for _, stmt := range []string{
		"CREATE TABLE orders (id bigint PRIMARY KEY, note text)",
		"INSERT INTO orders SELECT seq, md5(seq) FROM seq_1_to_20000",
	} {
		if _, err := clerk.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	b := startBackup(t, demo, src.ID, "maria-first")
	b = waitBackup(t, demo, b.ID, 3*time.Minute, "COMPLETED", "FAILED")
	if b.Status != "COMPLETED" {
		t.Fatalf("backup ended %s: %s", b.Status, b.FailReason)
	}
	t.Cleanup(func() { deleteBackupAndWait(t, demo, b.ID) })
	waitStatus(t, demo.db, src.ID, "ACTIVE", time.Minute)
	if _, err := clerk.ExecContext(ctx, "INSERT INTO orders SELECT seq, md5(seq) FROM seq_20001_to_30000"); err != nil {
		t.Fatal(err)
	}

	restoredID := restoreInstance(t, demo, "maria-restored", b.ID)
	restored := waitStatus(t, demo.db, restoredID, "ACTIVE", 5*time.Minute)
	if restored.Datastore.Type != "mariadb" {
		t.Errorf("restored instance's datastore: got %+v, want mariadb", restored.Datastore)
	}
	var n, maxID int64
	if err := mariadbAs(t, restored.IP[0], "clerk", password, "shop").QueryRowContext(ctx, "SELECT COUNT(*), MAX(id) FROM orders").Scan(&n, &maxID); err != nil {
		t.Fatalf("clerk reads the restored instance: %v", err)
	}
	if n != 20000 || maxID != 20000 {
		t.Errorf("restored orders: got %d rows up to %d, want exactly the 20000 written before the backup", n, maxID)
	}
}
