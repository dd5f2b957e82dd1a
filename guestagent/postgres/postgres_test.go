package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestagent"
	"github.com/coffer-dbaas/coffer/guestagent/machine"
	"github.com/jackc/pgx/v5"
)

// newVolume makes a folder standing in for the instance's volume. It is under /tmp, not
// t.TempDir (a root-only folder the postgres user cannot walk through).
func newVolume(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "coffer-vol-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// newInstance describes a server with its own loopback address (the machine's own PostgreSQL
// has 127.0.0.1:5432), the volume and a flavor of ramMB.
func newInstance(volume string, ramMB int) guestagent.Host {
	return guestagent.Host{
		Address: fmt.Sprintf("127.77.%d.%d", 1+rand.IntN(254), 1+rand.IntN(254)),
		RAMMB:   ramMB,
		CPUs:    1,
		Volume:  machine.Folder(volume, 1),
	}
}

// newTestDriver returns a driver for inst and makes sure that its cluster is stopped when the
// test ends and that no postgres process of it is left.
func newTestDriver(t *testing.T, inst guestagent.Host) *Driver {
	t.Helper()
	d, err := newDriver("0e1d2c3b-test", inst)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Stop(context.Background()); err != nil {
			t.Errorf("stop cluster: %v", err)
		}
		if d.cluster.Running() {
			t.Errorf("postgres of %s still runs after Stop", d.cluster.DataDir)
		}
		if out, err := exec.Command("pgrep", "-f", d.cluster.DataDir).Output(); err == nil {
			t.Errorf("postgres processes left for %s: %s", d.cluster.DataDir, out)
		}
	})
	return d
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// connectAs opens a TCP session to database on the instance's address, as a tenant would.
func connectAs(ctx context.Context, inst guestagent.Host, user, password, database string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d sslmode=disable", inst.Address, Port))
	if err != nil {
		return nil, err
	}
	cfg.User, cfg.Password, cfg.Database = user, password, database
	return pgx.ConnectConfig(ctx, cfg)
}

func show(ctx context.Context, t *testing.T, d *Driver, setting string) string {
	t.Helper()
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v string
	if err := conn.QueryRow(ctx, "SHOW "+pgx.Identifier{setting}.Sanitize()).Scan(&v); err != nil {
		t.Fatalf("show %s: %v", setting, err)
	}
	return v
}

func TestPrepareGivesEachUserItsOwnDatabase(t *testing.T) {
	ctx := testContext(t)
	inst := newInstance(newVolume(t), 512)
	d := newTestDriver(t, inst)

	// The password has quotes, backslashes and a comment marker: it reaches SQL only as a
	// literal the server quoted itself.
	alicePassword := `it's a "pa\ss'; DROP ROLE bob; --\\`
	in := guest.PrepareInput{
		Datastore: "postgresql",
		Version:   "15",
		Databases: []coffer.Database{{Name: "app"}, {Name: "other-db"}},
		Users: []coffer.User{
			{Name: "alice", Password: alicePassword, Databases: []string{"app"}},
			{Name: "bob", Password: "bob-secret", Databases: []string{"other-db"}},
		},
	}
	if err := d.Prepare(ctx, in); err != nil {
		t.Fatalf("Prepare: %v", err)
	}

	alice, err := connectAs(ctx, inst, "alice", alicePassword, "app")
	if err != nil {
		t.Fatalf("alice connects to app: %v", err)
	}
	for _, sql := range []string{
		"CREATE TABLE notes (id int PRIMARY KEY, body text)",
		"INSERT INTO notes VALUES (1, 'hello')",
	} {
		if _, err := alice.Exec(ctx, sql); err != nil {
			t.Fatalf("alice: %s: %v", sql, err)
		}
	}
	var body string
	if err := alice.QueryRow(ctx, "SELECT body FROM notes WHERE id = 1").Scan(&body); err != nil || body != "hello" {
		t.Fatalf("alice reads her row: got %q, %v; want %q", body, err, "hello")
	}
	alice.Close(ctx)

	if conn, err := connectAs(ctx, inst, "alice", alicePassword, "other-db"); err == nil {
		conn.Close(ctx)
		t.Errorf("alice connected to bob's database other-db; want permission denied")
	}
	if conn, err := connectAs(ctx, inst, "bob", "bob-secret", "other-db"); err != nil {
		t.Errorf("bob connects to other-db: %v", err)
	} else {
		conn.Close(ctx)
	}
	if conn, err := connectAs(ctx, inst, "alice", "wrong", "app"); err == nil {
		conn.Close(ctx)
		t.Errorf("alice connected with a wrong password")
	}

	if err := d.Prepare(ctx, in); err != nil {
		t.Fatalf("Prepare again: %v", err)
	}
	if got := d.Health(ctx); got.Status != coffer.ServiceHealthy {
		t.Fatalf("Health after Prepare: got %s (%s), want HEALTHY", got.Status, got.Detail)
	}

	if err := d.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if got := d.Health(ctx); got.Status != coffer.ServiceShutdown {
		t.Fatalf("Health after Stop: got %s (%s), want SHUTDOWN", got.Status, got.Detail)
	}
	if err := d.Start(ctx); err != nil {
		t.Fatalf("Start after Stop: %v", err)
	}
	if err := d.Prepare(ctx, in); err != nil {
		t.Fatalf("Prepare after a restart: %v", err)
	}
	alice, err = connectAs(ctx, inst, "alice", alicePassword, "app")
	if err != nil {
		t.Fatalf("alice connects after a restart: %v", err)
	}
	defer alice.Close(ctx)
	if err := alice.QueryRow(ctx, "SELECT body FROM notes WHERE id = 1").Scan(&body); err != nil || body != "hello" {
		t.Fatalf("alice reads her row after a restart: got %q, %v; want %q", body, err, "hello")
	}
	assertNotLogged(t, d, alicePassword)
	assertNotLogged(t, d, "bob-secret")
}

func TestPrepareRejectsInvalidRequests(t *testing.T) {
	ctx := testContext(t)
	inst := newInstance(newVolume(t), 256)
	d := newTestDriver(t, inst)
	if err := d.Prepare(ctx, guest.PrepareInput{Databases: []coffer.Database{{Name: "y"}}}); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	for _, tc := range []struct {
		name string
		in   guest.PrepareInput
	}{
		{"hostile database name", guest.PrepareInput{Databases: []coffer.Database{{Name: `x"; DROP DATABASE y; --`}}}},
		{"reserved database name", guest.PrepareInput{Databases: []coffer.Database{{Name: "template1"}}}},
		{"hostile encoding", guest.PrepareInput{Databases: []coffer.Database{{Name: "z", CharacterSet: `UTF8' TEMPLATE y --`}}}},
		{"unknown collation", guest.PrepareInput{Databases: []coffer.Database{{Name: "z", Collation: "xx_NOWHERE.UTF-8"}}}},
		{"hostile user name", guest.PrepareInput{Users: []coffer.User{{Name: `u"; DROP DATABASE y; --`, Password: "s3cr3t-Pw"}}}},
		{"the agent's role", guest.PrepareInput{Users: []coffer.User{{Name: "coffer_agent", Password: "s3cr3t-Pw"}}}},
		{"a predefined role", guest.PrepareInput{Users: []coffer.User{{Name: "pg_write_server_files", Password: "s3cr3t-Pw"}}}},
		{"a role PostgreSQL reserves", guest.PrepareInput{Users: []coffer.User{{Name: "public", Password: "s3cr3t-Pw"}}}},
		{"no password", guest.PrepareInput{Users: []coffer.User{{Name: "u"}}}},
		{"a database that does not exist", guest.PrepareInput{Users: []coffer.User{{Name: "u", Password: "s3cr3t-Pw", Databases: []string{"nowhere"}}}}},
		{"another datastore", guest.PrepareInput{Datastore: "mysql"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := d.Prepare(ctx, tc.in)
			if !errors.Is(err, guestagent.ErrInvalid) {
				t.Fatalf("Prepare(%s): got %v, want an error wrapping ErrInvalid", tc.name, err)
			}
			for _, u := range tc.in.Users {
				if u.Password != "" && strings.Contains(err.Error(), u.Password) {
					t.Errorf("the error shows the password: %v", err)
				}
			}
		})
	}
	conn, err := d.connect(ctx, "y")
	if err != nil {
		t.Fatalf("database y is gone: %v", err)
	}
	conn.Close(ctx)
	// CREATE ROLE public failed in the server: its statement, password included, must not
	// be in the server's log.
	assertNotLogged(t, d, "s3cr3t-Pw")
}

// assertNotLogged fails the test if the server's log holds secret.
func assertNotLogged(t *testing.T, d *Driver, secret string) {
	t.Helper()
	log, err := os.ReadFile(d.cluster.LogFile)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(log), secret) {
		t.Errorf("the server log %s holds a password", d.cluster.LogFile)
	}
}

func TestMemorySettingsFollowTheFlavorAfterARestart(t *testing.T) {
	ctx := testContext(t)
	volume := newVolume(t)
	small := newInstance(volume, 512)
	d := newTestDriver(t, small)
	if err := d.Prepare(ctx, guest.PrepareInput{}); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	want := map[string]string{"shared_buffers": "128MB", "effective_cache_size": "384MB",
		"maintenance_work_mem": "25MB", "work_mem": "1310kB", "max_connections": "100",
		"password_encryption": "scram-sha-256", "listen_addresses": small.Address}
	for setting, want := range want {
		if got := show(ctx, t, d, setting); got != want {
			t.Errorf("SHOW %s with 512MB: got %s, want %s", setting, got, want)
		}
	}
	secret, err := os.ReadFile(filepath.Join(volume, "agent.secret"))
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(volume, "agent.secret")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("agent.secret: mode %v, %v; want 0600", st.Mode().Perm(), err)
	}
	if err := d.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	// The server was resized: the agent starts again with the new flavor.
	big := small
	big.RAMMB = 1024
	d = newTestDriver(t, big)
	if err := d.Start(ctx); err != nil {
		t.Fatalf("Start with 1GB: %v", err)
	}
	if got := show(ctx, t, d, "shared_buffers"); got != "256MB" {
		t.Errorf("SHOW shared_buffers after a resize to 1GB: got %s, want 256MB", got)
	}

	// The engine outlived its agent across a resize to 4GB: the new agent restarts it.
	huge := small
	huge.RAMMB = 4096
	d = newTestDriver(t, huge)
	if err := d.Start(ctx); err != nil {
		t.Fatalf("Start with 4GB over a running server: %v", err)
	}
	if got := show(ctx, t, d, "shared_buffers"); got != "1GB" {
		t.Errorf("SHOW shared_buffers after a resize to 4GB: got %s, want 1GB", got)
	}
	pid, err := d.cluster.PID()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx); err != nil {
		t.Fatalf("Start again: %v", err)
	}
	if again, _ := d.cluster.PID(); again != pid {
		t.Errorf("Start of a server with the right settings restarted it (pid %d, then %d)", pid, again)
	}
	again, err := os.ReadFile(filepath.Join(volume, "agent.secret"))
	if err != nil || string(again) != string(secret) {
		t.Errorf("agent.secret changed across a restart (%v)", err)
	}
}

func TestHealthBeforePrepareIsNew(t *testing.T) {
	d := newTestDriver(t, newInstance(newVolume(t), 512))
	if got := d.Health(context.Background()); got.Status != coffer.ServiceNew {
		t.Errorf("Health before Prepare: got %s (%s), want NEW", got.Status, got.Detail)
	}
	if err := d.Start(context.Background()); err != nil {
		t.Errorf("Start before Prepare: got %v, want nil (nothing to start)", err)
	}
}

func TestSettings(t *testing.T) {
	for _, tc := range []struct {
		ramMB int
		want  map[string]string
	}{
		{0, map[string]string{"max_connections": "100"}},
		{512, map[string]string{"shared_buffers": "128MB", "effective_cache_size": "384MB", "maintenance_work_mem": "25MB", "work_mem": "1310kB"}},
		{4096, map[string]string{"shared_buffers": "1024MB", "effective_cache_size": "3072MB", "maintenance_work_mem": "204MB", "work_mem": "10485kB"}},
		{65536, map[string]string{"shared_buffers": "16384MB", "maintenance_work_mem": "1024MB"}},
		{64, map[string]string{"shared_buffers": "16MB", "maintenance_work_mem": "3MB", "work_mem": "163kB"}},
	} {
		got := settings(tc.ramMB)
		for k, want := range tc.want {
			if got[k] != want {
				t.Errorf("settings(%d)[%s]: got %q, want %q", tc.ramMB, k, got[k], want)
			}
		}
		if _, ok := got["shared_buffers"]; tc.ramMB == 0 && ok {
			t.Errorf("settings(0) sets shared_buffers %s; want PostgreSQL's default", got["shared_buffers"])
		}
	}
}

func TestSocketDirFitsTheKernelLimit(t *testing.T) {
	short := "/var/lib/coffer/vol"
	if got, want := socketDir(short, "abcdef0123456789"), short+"/run"; got != want {
		t.Errorf("socketDir(%s): got %s, want %s", short, got, want)
	}
	long := "/" + strings.Repeat("v", 100)
	if got, want := socketDir(long, "abcdef0123456789"), "/tmp/coffer-abcdef01"; got != want {
		t.Errorf("socketDir(%d-byte path): got %s, want %s", len(long), got, want)
	}
}

// TestPrepareAdoptsTheClusterMadeAhead: the agent's boot runs MakeAhead while Prepare may
// already wait for it; Prepare takes that cluster (its agent role and password) and leaves
// no staging folder, and a second MakeAhead, once the cluster is there, does nothing.
func TestPrepareAdoptsTheClusterMadeAhead(t *testing.T) {
	ctx := testContext(t)
	inst := newInstance(newVolume(t), 512)
	d := newTestDriver(t, inst)
	made := make(chan error, 1)
	go func() {
		ok, err := d.MakeAhead(ctx)
		if err == nil && !ok {
			err = fmt.Errorf("MakeAhead made nothing on a new volume")
		}
		made <- err
	}()
	// Prepare may come while initdb runs (it waits) or before MakeAhead began (then it
	// makes the cluster itself, and MakeAhead does nothing): both must end well.
	in := guest.PrepareInput{Datastore: "postgresql", Version: "15",
		Databases: []coffer.Database{{Name: "app"}},
		Users:     []coffer.User{{Name: "alice", Password: "alice-secret", Databases: []string{"app"}}}}
	if err := d.Prepare(ctx, in); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if err := <-made; err != nil && !strings.Contains(err.Error(), "made nothing") {
		t.Fatalf("MakeAhead: %v", err)
	}
	conn, err := connectAs(ctx, inst, "alice", "alice-secret", "app")
	if err != nil {
		t.Fatalf("alice connects to app: %v", err)
	}
	conn.Close(ctx)
	for _, left := range []string{d.ahead.Dir, d.ahead.Dir + ".whole"} {
		if _, err := os.Stat(left); !os.IsNotExist(err) {
			t.Errorf("%s is left after Prepare: %v", left, err)
		}
	}
	if ok, err := d.MakeAhead(ctx); ok || err != nil {
		t.Errorf("MakeAhead on a prepared volume = %v, %v; want nothing done", ok, err)
	}
}

// TestMakeAheadThenPrepare: a cluster made ahead whole, before Prepare arrives, is the one
// Prepare starts.
func TestMakeAheadThenPrepare(t *testing.T) {
	ctx := testContext(t)
	inst := newInstance(newVolume(t), 512)
	d := newTestDriver(t, inst)
	if ok, err := d.MakeAhead(ctx); !ok || err != nil {
		t.Fatalf("MakeAhead = %v, %v", ok, err)
	}
	if d.cluster.Initialized() {
		t.Fatal("MakeAhead made the cluster in place, not in its staging folder")
	}
	if err := d.Prepare(ctx, guest.PrepareInput{Datastore: "postgresql", Version: "15"}); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if got := d.Health(ctx).Status; got != coffer.ServiceHealthy {
		t.Fatalf("health after Prepare: %s", got)
	}
	if _, err := os.Stat(d.ahead.Dir); !os.IsNotExist(err) {
		t.Errorf("the staging folder is left: %v", err)
	}
}
