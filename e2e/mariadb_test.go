package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
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

// TestMariaDBDatabasesUsersAndRootAreTroveMySQLs: what MariaDB has beyond the datastore
// table: a database's character set and collation, a user's host (user@host), and root
// enable's master user, which reads the tenant's data and no server file.
func TestMariaDBDatabasesUsersAndRootAreTroveMySQLs(t *testing.T) {
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
	t.Cleanup(func() { deleteInstance(t, demo, id) })
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

	// Restart, resizes, backups, replicas and the delete are the datastore table's
	// (datastores_test.go).
}
