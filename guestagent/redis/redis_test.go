package redis

import (
	"bytes"
	"context"
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
)

// newInstance describes a server with its own loopback address (the machine's own Redis
// has 127.0.0.1:6379) and a volume under /tmp (the redis user must walk through it).
func newInstance(t *testing.T, ramMB int) guestagent.Host {
	t.Helper()
	if _, err := os.Stat(redisServer()); err != nil {
		t.Skip("redis-server is not installed")
	}
	dir, err := os.MkdirTemp("", "coffer-vol-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return guestagent.Host{
		Address: fmt.Sprintf("127.79.%d.%d", 1+rand.IntN(254), 1+rand.IntN(254)),
		RAMMB:   ramMB,
		CPUs:    1,
		Volume:  machine.Folder(dir, 1),
	}
}

func newTestDriver(t *testing.T, inst guestagent.Host) *Driver {
	t.Helper()
	return newTestDriverID(t, inst, "7265646973-test")
}

// newTestDriverID is the driver of instance id (members of a group need their own).
func newTestDriverID(t *testing.T, inst guestagent.Host, id string) *Driver {
	t.Helper()
	drv, err := New(guest.Config{InstanceID: id}, inst)
	if err != nil {
		t.Fatal(err)
	}
	d := drv.(*Driver)
	t.Cleanup(func() {
		if err := d.Stop(context.Background()); err != nil {
			t.Errorf("stop redis: %v", err)
		}
		if out, err := exec.Command("pgrep", "-f", inst.Address+":").Output(); err == nil {
			t.Errorf("redis-server processes left on %s: %s", inst.Address, out)
		}
	})
	return d
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// cli runs redis-cli against the instance's address as a tenant does, with password (none:
// no AUTH); it returns the output and the error.
func cli(inst guestagent.Host, password string, args ...string) (string, error) {
	cmd := exec.Command("redis-cli", append([]string{"-h", inst.Address, "-p", fmt.Sprint(Port)}, args...)...)
	cmd.Env = append(os.Environ(), "REDISCLI_AUTH="+password)
	if password == "" {
		cmd.Env = os.Environ()
	}
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func mustCLI(t *testing.T, inst guestagent.Host, password string, args ...string) string {
	t.Helper()
	out, err := cli(inst, password, args...)
	if err != nil || strings.HasPrefix(out, "ERR") || strings.HasPrefix(out, "NOPERM") || strings.HasPrefix(out, "WRONGPASS") {
		t.Fatalf("redis-cli %v: %s (%v)", args, out, err)
	}
	return out
}

func TestRedisServesItsTenantOnlyWithRootsPasswordAndKeepsDataThroughRestartAndResize(t *testing.T) {
	inst := newInstance(t, 512)
	d := newTestDriver(t, inst)
	ctx := testContext(t)
	if got := d.Health(ctx).Status; got != coffer.ServiceNew {
		t.Fatalf("health before prepare: %s, want NEW", got)
	}
	if err := d.Prepare(ctx, guest.PrepareInput{Datastore: "redis", Databases: []coffer.Database{{Name: "x"}}}); !errors.Is(err, guestagent.ErrInvalid) {
		t.Fatalf("prepare with a database: %v, want ErrInvalid", err)
	}
	if err := d.Prepare(ctx, guest.PrepareInput{Datastore: "redis", Version: "7"}); err != nil {
		t.Fatalf("prepare: %v", err)
	}
	if err := d.Prepare(ctx, guest.PrepareInput{Datastore: "redis", Version: "7"}); err != nil {
		t.Fatalf("prepare again: %v", err)
	}
	if got := d.Health(ctx).Status; got != coffer.ServiceHealthy {
		t.Fatalf("health: %s, want HEALTHY", got)
	}
	// Without root, no tenant gets in.
	if out, _ := cli(inst, "", "PING"); out == "PONG" {
		t.Fatalf("redis answered PING without a password")
	}
	if on, err := d.RootEnabled(ctx); err != nil || on {
		t.Fatalf("root enabled before enable: %v %v", on, err)
	}
	password := "s3cret-redis-password"
	if err := d.EnableRoot(ctx, password); err != nil {
		t.Fatalf("enable root: %v", err)
	}
	if on, err := d.RootEnabled(ctx); err != nil || !on {
		t.Fatalf("root enabled after enable: %v %v", on, err)
	}
	mustCLI(t, inst, password, "SET", "greeting", "hello")
	if out, _ := cli(inst, "wrong-password", "GET", "greeting"); out == "hello" {
		t.Fatalf("a wrong password read the key")
	}
	// The tenant reaches no server file nor the configuration nor the agent's account.
	for _, args := range [][]string{
		{"CONFIG", "SET", "dir", "/tmp"},
		{"CONFIG", "GET", "dir"},
		{"ACL", "SETUSER", agentUser, ">mine"},
		{"SHUTDOWN", "NOSAVE"},
		{"REPLICAOF", "127.0.0.1", "6379"},
		{"MODULE", "LIST"},
	} {
		if out, _ := cli(inst, password, args...); !strings.Contains(out, "NOPERM") {
			t.Errorf("tenant's %v: %q, want NOPERM", args, out)
		}
	}
	maxmemory := func(want string) {
		t.Helper()
		c, err := d.connect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if got, err := c.configGet("maxmemory"); err != nil || got != want {
			t.Errorf("maxmemory: %s (%v), want %s", got, err, want)
		}
	}
	maxmemory("402653184")

	// A restart keeps the data and the password.
	if err := d.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if got := d.Health(ctx).Status; got != coffer.ServiceShutdown {
		t.Fatalf("health when stopped: %s, want SHUTDOWN", got)
	}
	if err := d.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	if out := mustCLI(t, inst, password, "GET", "greeting"); out != "hello" {
		t.Fatalf("after a restart: %q, want hello", out)
	}
	// A resize of the server under it: the running server takes the new maxmemory.
	d.ramMB = 1024
	if err := d.Start(ctx); err != nil {
		t.Fatalf("start after resize: %v", err)
	}
	maxmemory("805306368")

	// Root disable ends the tenant's access, and a new enable sets the new password.
	if err := d.DisableRoot(ctx); err != nil {
		t.Fatalf("disable root: %v", err)
	}
	if out, _ := cli(inst, password, "GET", "greeting"); out == "hello" {
		t.Fatalf("the disabled default user still reads")
	}
	if err := d.EnableRoot(ctx, "another-password"); err != nil {
		t.Fatal(err)
	}
	if out := mustCLI(t, inst, "another-password", "GET", "greeting"); out != "hello" {
		t.Fatalf("with the new password: %q", out)
	}
	if _, err := d.ListDatabases(ctx); !errors.Is(err, guestagent.ErrInvalid) {
		t.Errorf("list databases: %v, want ErrInvalid", err)
	}
}

func TestRedisBackupRestoresIntoANewInstanceBeforeItsFirstStart(t *testing.T) {
	src := newInstance(t, 256)
	d := newTestDriver(t, src)
	ctx := testContext(t)
	if err := d.Prepare(ctx, guest.PrepareInput{Datastore: "redis"}); err != nil {
		t.Fatal(err)
	}
	password := "backup-test-password"
	if err := d.EnableRoot(ctx, password); err != nil {
		t.Fatal(err)
	}
	mset := []string{"MSET"}
	for i := range 500 {
		mset = append(mset, fmt.Sprintf("key:%d", i), fmt.Sprintf("value-%d", i))
	}
	mustCLI(t, src, password, mset...)
	var backup bytes.Buffer
	if err := d.Backup(ctx, &backup); err != nil {
		t.Fatalf("backup: %v", err)
	}
	if !bytes.HasPrefix(backup.Bytes(), []byte("REDIS")) {
		t.Fatalf("backup starts %q, want an RDB snapshot", backup.Bytes()[:min(16, backup.Len())])
	}
	entries, _ := os.ReadDir(d.server.DataDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "temp-") {
			t.Errorf("the backup wrote %s on the volume", e.Name())
		}
	}
	mustCLI(t, src, password, "SET", "after", "backup")

	dst := newInstance(t, 256)
	r := newTestDriver(t, dst)
	if err := r.Restore(ctx, func(w io.Writer) error { _, err := w.Write(backup.Bytes()[:backup.Len()/2]); return err }); err == nil {
		t.Fatalf("a restore of half a snapshot succeeded")
	}
	if r.server.Prepared() {
		t.Fatalf("a failed restore left a data folder")
	}
	if err := r.Restore(ctx, func(w io.Writer) error { _, err := io.Copy(w, bytes.NewReader(backup.Bytes())); return err }); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if err := r.Prepare(ctx, guest.PrepareInput{Datastore: "redis"}); err != nil {
		t.Fatalf("prepare after restore: %v", err)
	}
	if err := r.EnableRoot(ctx, password); err != nil {
		t.Fatal(err)
	}
	if n := mustCLI(t, dst, password, "DBSIZE"); n != "500" {
		t.Errorf("restored keys: %s, want exactly the 500 written before the backup", n)
	}
	if v := mustCLI(t, dst, password, "GET", "key:499"); v != "value-499" {
		t.Errorf("key:499: %q", v)
	}
	if err := r.Restore(ctx, func(io.Writer) error { return nil }); !errors.Is(err, guestagent.ErrInvalid) {
		t.Errorf("restore over data: %v, want ErrInvalid", err)
	}
}
