package mariadb

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestagent"
)

func globalVariable(t *testing.T, ctx context.Context, db *sql.DB, name string) string {
	t.Helper()
	var v string
	if err := db.QueryRowContext(ctx, "SELECT @@GLOBAL."+name).Scan(&v); err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return v
}

func TestConfigurationGroupSetsDynamicValuesAtOnceAndReadOnlyOnesAtTheNextStart(t *testing.T) {
	ctx := testContext(t)
	inst := newInstance(t, 1024)
	d := newTestDriver(t, inst)
	in := guest.PrepareInput{Datastore: Datastore,
		Users: []coffer.User{{Name: "alice", Password: "alice-pw", Host: "%"}}}
	if err := d.Prepare(ctx, in); err != nil {
		t.Fatalf("prepare: %v", err)
	}
	tenant := connectAs(t, inst, "alice", "alice-pw", "")

	pending, err := d.ApplyConfiguration(ctx, map[string]string{"max_connections": "77", "performance_schema": "on", "sql_mode": "ANSI_QUOTES", "innodb_stats_persistent": "off"})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if !slices.Equal(pending, []string{"performance_schema"}) {
		t.Errorf("pending restart: got %v, want [performance_schema]", pending)
	}
	if got := globalVariable(t, ctx, tenant, "max_connections"); got != "77" {
		t.Errorf("max_connections at once: got %s, want 77 (the group's, over the flavor's 128)", got)
	}
	if got := globalVariable(t, ctx, tenant, "sql_mode"); got != "ANSI_QUOTES" {
		t.Errorf("sql_mode at once: got %s, want ANSI_QUOTES", got)
	}
	if got := globalVariable(t, ctx, tenant, "innodb_stats_persistent"); got != "0" {
		t.Errorf("innodb_stats_persistent (a boolean, as the catalog renders it: off) at once: got %s, want 0", got)
	}
	if got := globalVariable(t, ctx, tenant, "performance_schema"); got != "0" {
		t.Errorf("performance_schema before the restart: got %s, want 0", got)
	}

	// A value MariaDB refuses changes nothing, not even what came before it in the group.
	_, err = d.ApplyConfiguration(ctx, map[string]string{"max_connections": "90", "tx_isolation": "NO-SUCH-LEVEL"})
	if !errors.Is(err, guestagent.ErrInvalid) {
		t.Fatalf("apply a bad value: got %v, want ErrInvalid", err)
	}
	if got := globalVariable(t, ctx, tenant, "max_connections"); got != "77" {
		t.Errorf("max_connections after a refused group: got %s, want 77", got)
	}
	// Names and values that would escape the SQL or the option file never reach them.
	for _, bad := range []map[string]string{
		{"max_connections = 1; DROP USER alice": "1"},
		{"sql_mode": "ANSI\n[client]"},
		{"read_only": "off"},
	} {
		if _, err := d.ApplyConfiguration(ctx, bad); !errors.Is(err, guestagent.ErrInvalid) {
			t.Errorf("apply %q: got %v, want ErrInvalid", bad, err)
		}
	}

	if err := d.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	tenant = connectAs(t, inst, "alice", "alice-pw", "")
	for name, want := range map[string]string{"performance_schema": "1", "max_connections": "77", "sql_mode": "ANSI_QUOTES"} {
		if got := globalVariable(t, ctx, tenant, name); got != want {
			t.Errorf("%s after the restart: got %s, want %s", name, got, want)
		}
	}
	cfg, err := d.Configuration(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cfg["max_connections"] != "77" || cfg["performance_schema"] != "ON" || cfg["innodb_buffer_pool_size"] != "536870912" {
		t.Errorf("configuration: got %v, want max_connections 77, performance_schema ON and the flavor's buffer pool", cfg)
	}

	// No group: the flavor's sizing again, at once.
	pending, err = d.ApplyConfiguration(ctx, nil)
	if err != nil {
		t.Fatalf("apply no group: %v", err)
	}
	if !slices.Equal(pending, []string{"performance_schema"}) {
		t.Errorf("pending restart after removing the group: got %v, want [performance_schema]", pending)
	}
	if got := globalVariable(t, ctx, tenant, "max_connections"); got != "128" {
		t.Errorf("max_connections with no group: got %s, want the flavor's 128", got)
	}
}

// waitForLine polls the log file until it holds a line with marker.
func waitForLine(t *testing.T, path, marker string) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), marker) {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has no line with %q within 2 minutes; it holds:\n%s", path, marker, b)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestGuestLogsHoldTenantStatementsAndNoPasswordTheAgentSets(t *testing.T) {
	ctx := testContext(t)
	inst := newInstance(t, 512)
	d := newTestDriver(t, inst)
	if err := d.Prepare(ctx, guest.PrepareInput{Datastore: Datastore}); err != nil {
		t.Fatalf("prepare: %v", err)
	}
	logs, err := d.Logs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	paths := map[string]string{}
	for _, l := range logs {
		paths[l.Name] = l.Path
		if want := l.Name == GuestLog; l.Enabled != want {
			t.Errorf("log %s enabled at first: got %t, want %t", l.Name, l.Enabled, want)
		}
	}
	if err := d.SetLog(ctx, GuestLog, false); !errors.Is(err, guestagent.ErrInvalid) {
		t.Errorf("turn the guest log off: got %v, want ErrInvalid", err)
	}
	if err := d.SetLog(ctx, "audit", true); !errors.Is(err, guestagent.ErrNotFound) {
		t.Errorf("turn an unknown log on: got %v, want ErrNotFound", err)
	}
	for _, name := range []string{GeneralLog, SlowQueryLog} {
		if err := d.SetLog(ctx, name, true); err != nil {
			t.Fatalf("turn %s on: %v", name, err)
		}
	}
	// Every statement is slow: the tenant's SLEEP reliably reaches the slow log.
	if _, err := d.ApplyConfiguration(ctx, map[string]string{"long_query_time": "0"}); err != nil {
		t.Fatal(err)
	}
	const password = "agent-set-Secret-4711"
	if err := d.CreateUsers(ctx, []coffer.User{{Name: "bob", Password: password, Host: "%"}}); err != nil {
		t.Fatal(err)
	}
	if err := d.ChangePasswords(ctx, []coffer.User{{Name: "bob", Password: password + "b", Host: "%"}}); err != nil {
		t.Fatal(err)
	}
	bob := connectAs(t, inst, "bob", password+"b", "")
	if _, err := bob.ExecContext(ctx, "SELECT SLEEP(0.1), 'tenant-statement-1'"); err != nil {
		t.Fatal(err)
	}
	general := waitForLine(t, paths[GeneralLog], "tenant-statement-1")
	slow := waitForLine(t, paths[SlowQueryLog], "tenant-statement-1")
	for name, text := range map[string]string{GeneralLog: general, SlowQueryLog: slow} {
		if strings.Contains(text, password) {
			t.Errorf("the %s log holds the password the agent set", name)
		}
	}

	// On stays on over a restart; off stops the statements at once.
	if err := d.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	bob = connectAs(t, inst, "bob", password+"b", "")
	if _, err := bob.ExecContext(ctx, "SELECT 'tenant-statement-2'"); err != nil {
		t.Fatal(err)
	}
	waitForLine(t, paths[GeneralLog], "tenant-statement-2")
	if err := d.SetLog(ctx, GeneralLog, false); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.ExecContext(ctx, "SELECT 'tenant-statement-3'"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(paths[GeneralLog]); strings.Contains(string(b), "tenant-statement-3") {
		t.Errorf("the general log holds a statement run after it was turned off")
	}
	if b, _ := os.ReadFile(paths[GuestLog]); !strings.Contains(string(b), "ready for connections") {
		t.Errorf("the guest log is not the server's error log: %s", b)
	}
}
