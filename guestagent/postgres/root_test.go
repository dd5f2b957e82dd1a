package postgres

import (
	"context"
	"strings"
	"testing"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/guest"
	"github.com/jackc/pgx/v5"
)

// escapes are what a tenant who owns the database tries in order to reach the server's OS or
// the agent's roles; each must be refused (SQLSTATE 42501, insufficient privilege) for root
// and for every user the agent makes. plpython3u may also be missing from the machine.
var escapes = []string{
	"COPY (SELECT 1) TO PROGRAM 'id'",
	"CREATE TEMP TABLE loot (line text); COPY loot FROM PROGRAM 'id'",
	"CREATE TEMP TABLE loot (line text); COPY loot FROM '/etc/passwd'",
	"COPY (SELECT 1) TO '/tmp/coffer-escape'",
	"SELECT pg_read_file('PG_VERSION')",
	"SELECT pg_read_binary_file('/etc/passwd')",
	"SELECT pg_ls_dir('.')",
	"SELECT lo_import('/etc/passwd')",
	"SELECT lo_export(lo_create(0), '/tmp/coffer-escape')",
	"CREATE EXTENSION plpython3u",
	"CREATE EXTENSION adminpack",
	"CREATE EXTENSION file_fdw",
	"CREATE EXTENSION dblink",
	"CREATE LANGUAGE escape HANDLER plpgsql_call_handler",
	"CREATE FUNCTION pg_temp.escape() RETURNS int LANGUAGE c AS 'libc.so.6', 'getpid'",
	"CREATE FUNCTION pg_temp.escape() RETURNS int LANGUAGE internal AS 'pg_backend_pid'",
	"ALTER SYSTEM SET work_mem = '1MB'",
	"GRANT pg_execute_server_program TO CURRENT_USER",
	"GRANT pg_read_server_files TO CURRENT_USER",
	"GRANT pg_write_server_files TO CURRENT_USER",
	"ALTER ROLE CURRENT_USER SUPERUSER",
	"CREATE ROLE escape SUPERUSER",
	"CREATE ROLE escape REPLICATION",
	"ALTER ROLE coffer_agent PASSWORD 'taken'",
	"ALTER ROLE coffer_agent NOLOGIN",
	"GRANT coffer_agent TO CURRENT_USER",
	"SET ROLE coffer_agent",
	"ALTER ROLE coffer_replicator PASSWORD 'taken'",
	"SET session_preload_libraries = 'plpgsql'",
}

// tryEscapes runs each escape in a session of its own as user and fails the test for every
// one that is not refused for want of privilege.
func tryEscapes(ctx context.Context, t *testing.T, connect func() (*pgx.Conn, error), user string) {
	t.Helper()
	for _, sql := range escapes {
		conn, err := connect()
		if err != nil {
			t.Fatalf("%s connects: %v", user, err)
		}
		_, err = conn.Exec(ctx, sql)
		if state := sqlState(err); state != "42501" && !(strings.Contains(sql, "plpython3u") && state == "0A000") {
			t.Errorf("%s: %s: got %v, want it refused for want of privilege (SQLSTATE 42501)", user, sql, err)
		}
		conn.Close(ctx)
	}
}

func TestRootIsAMasterUserThatCannotLeaveTheDatabase(t *testing.T) {
	ctx := testContext(t)
	inst := newInstance(newVolume(t), 512)
	d := newTestDriver(t, inst)
	err := d.Prepare(ctx, guest.PrepareInput{
		Datastore: "postgresql", Version: "15",
		Databases: []coffer.Database{{Name: "app"}},
		Users:     []coffer.User{{Name: "alice", Password: "alice-secret", Databases: []string{"app"}}},
	})
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	// The replication role exists once a replica was asked for.
	if _, err := d.ReplicationSource(ctx, "escape_test"); err != nil {
		t.Fatalf("ReplicationSource: %v", err)
	}
	alice, err := connectAs(ctx, inst, "alice", "alice-secret", "app")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Exec(ctx, "CREATE TABLE ledger (id int PRIMARY KEY, note text); INSERT INTO ledger VALUES (1, 'alice')"); err != nil {
		t.Fatalf("alice makes a table: %v", err)
	}
	alice.Close(ctx)
	if err := d.EnableRoot(ctx, "root-secret"); err != nil {
		t.Fatalf("EnableRoot: %v", err)
	}

	asRoot := func(db string) func() (*pgx.Conn, error) {
		return func() (*pgx.Conn, error) { return connectAs(ctx, inst, "root", "root-secret", db) }
	}
	tryEscapes(ctx, t, asRoot("postgres"), "root")
	tryEscapes(ctx, t, asRoot("app"), "root in app")
	tryEscapes(ctx, t, func() (*pgx.Conn, error) { return connectAs(ctx, inst, "alice", "alice-secret", "app") }, "alice")

	// What a master user does: make databases and roles, read and write everyone's tables,
	// watch and end sessions.
	root, err := asRoot("app")()
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close(ctx)
	for _, sql := range []string{
		"CREATE DATABASE rootmade",
		"CREATE ROLE reporter LOGIN PASSWORD 'reporter-secret'",
		"GRANT pg_read_all_data TO reporter",
		"GRANT CONNECT ON DATABASE app TO reporter",
		"UPDATE ledger SET note = 'root was here' WHERE id = 1",
		"INSERT INTO ledger VALUES (2, 'root')",
		"CREATE TABLE rootmade (id int)",
		"SELECT count(*) FROM pg_stat_activity WHERE query <> ''",
		"SELECT pg_cancel_backend(pg_backend_pid()) WHERE false",
		"SHOW data_directory",
	} {
		if _, err := root.Exec(ctx, sql); err != nil {
			t.Errorf("root: %s: %v", sql, err)
		}
	}
	// A database made through the API after root was enabled is root's to manage too.
	if err := d.CreateDatabases(ctx, []coffer.Database{{Name: "later"}}); err != nil {
		t.Fatal(err)
	}
	later, err := asRoot("later")()
	if err != nil {
		t.Fatalf("root connects to a database made later: %v", err)
	}
	if _, err := later.Exec(ctx, "CREATE TABLE rootmade (id int)"); err != nil {
		t.Errorf("root makes a table in a database made later: %v", err)
	}
	later.Close(ctx)
	reporter, err := connectAs(ctx, inst, "reporter", "reporter-secret", "app")
	if err != nil {
		t.Fatalf("the role root made connects: %v", err)
	}
	defer reporter.Close(ctx)
	var notes int
	if err := reporter.QueryRow(ctx, "SELECT count(*) FROM ledger WHERE note IN ('root was here', 'root')").Scan(&notes); err != nil || notes != 2 {
		t.Fatalf("root's writes to alice's table, read by reporter: got %d, %v, want 2", notes, err)
	}
	tryEscapes(ctx, t, func() (*pgx.Conn, error) { return connectAs(ctx, inst, "reporter", "reporter-secret", "app") }, "reporter")
}

func TestASuperuserRootIsDemotedAtTheNextStart(t *testing.T) {
	ctx := testContext(t)
	inst := newInstance(newVolume(t), 512)
	d := newTestDriver(t, inst)
	if err := d.Prepare(ctx, guest.PrepareInput{Datastore: "postgresql", Version: "15"}); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if _, err := d.ReplicationSource(ctx, "escape_test"); err != nil {
		t.Fatalf("ReplicationSource: %v", err)
	}
	// What an older agent left: root a superuser, which made another superuser, gave it the
	// server's programs and the agent's role, and joined the replication role.
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{
		"CREATE ROLE root SUPERUSER LOGIN PASSWORD 'old-root'",
		"CREATE ROLE accomplice SUPERUSER LOGIN PASSWORD 'accomplice'",
		"GRANT pg_execute_server_program TO accomplice",
		"GRANT coffer_agent TO accomplice",
		"GRANT coffer_replicator TO root",
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	conn.Close(ctx)
	if err := d.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	tryEscapes(ctx, t, func() (*pgx.Conn, error) { return connectAs(ctx, inst, "root", "old-root", "postgres") }, "root after the start")
	tryEscapes(ctx, t, func() (*pgx.Conn, error) { return connectAs(ctx, inst, "accomplice", "accomplice", "postgres") }, "accomplice after the start")
	root, err := connectAs(ctx, inst, "root", "old-root", "postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close(ctx)
	if _, err := root.Exec(ctx, "CREATE DATABASE stillworks"); err != nil {
		t.Fatalf("the demoted root creates a database: %v", err)
	}
	var members []string
	rows, _ := root.Query(ctx, `SELECT m.rolname || ' in ' || r.rolname FROM pg_auth_members a
		JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
		WHERE r.rolname IN ('coffer_agent', 'coffer_replicator') OR r.rolname LIKE 'pg\_%server%'`)
	members, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(members) > 0 {
		t.Fatalf("memberships left in the agent's, the replication and the server roles: %v, %v", members, err)
	}
}
