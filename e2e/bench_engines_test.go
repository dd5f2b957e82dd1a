package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/instances"

	"github.com/coffer-dbaas/coffer/guestagent"
)

// benchEngine is a datastore as the benchmarks measure it: how a create of it is asked
// for, and its floor, the engine's own initialise-and-start with nothing around it.
type benchEngine struct {
	// name is the datastore's and the sub-benchmark's name.
	name string
	// program is the engine's server binary: without it the sub-benchmark is skipped.
	program string
	// opts is a create of the smallest flavor, with no database or user.
	opts func(name string) instances.CreateOpts
	// floor names the bare initialise-and-start in the output.
	floor string
	// bare times one bare initialise-and-start.
	bare func(b *testing.B) time.Duration
}

// benchEngines are the datastores the benchmarks run over, PostgreSQL first.
var benchEngines = []benchEngine{
	{name: "postgresql", program: "/usr/lib/postgresql/15/bin/postgres", opts: postgresOpts,
		floor: "initdb+start", bare: bareInitdbAndStart},
	{name: "mariadb", program: "/usr/sbin/mariadbd", opts: datastoreOpts("mariadb", "10.11"),
		floor: "mariadb-install-db+start", bare: bareMariaDBInstallAndStart},
	{name: "redis", program: "/usr/bin/redis-server", opts: datastoreOpts("redis", "7"),
		floor: "redis-server start", bare: bareRedisStart},
}

// run runs fn as the engine's sub-benchmark of b, skipped where the engine is not installed.
func (e benchEngine) run(b *testing.B, fn func(b *testing.B)) {
	b.Run(e.name, func(b *testing.B) {
		if _, err := os.Stat(e.program); err != nil {
			b.Skipf("%s is not installed (%s)", e.name, e.program)
		}
		fn(b)
	})
}

// datastoreOpts is the create postgresOpts is, of another datastore.
func datastoreOpts(datastore, version string) func(name string) instances.CreateOpts {
	return func(name string) instances.CreateOpts {
		o := postgresOpts(name)
		o.Datastore = &instances.DatastoreOpts{Type: datastore, Version: version}
		return o
	}
}

// medianOf is the median of n runs of a floor.
func medianOf(b *testing.B, n int, floor func(b *testing.B) time.Duration) time.Duration {
	var ds []time.Duration
	for range n {
		ds = append(ds, floor(b))
	}
	return median(ds)
}

// bareDaemon is an engine's server process that a benchmark starts by hand, as the driver
// does: as the engine's system user (the test runs as root), in a folder of its own.
type bareDaemon struct {
	guestagent.Daemon
	// Dir is the daemon's folder, owned by its system user and removed by stop.
	Dir    string
	cmd    *exec.Cmd
	exited chan error
	log    *guestagent.TailBuffer
}

// newBareDaemon makes a folder for a daemon of program (its process name) that runs as
// systemUser.
func newBareDaemon(b *testing.B, program, systemUser string) *bareDaemon {
	b.Helper()
	dir, err := os.MkdirTemp("", "coffer-bench-"+program+"-*")
	if err != nil {
		b.Fatal(err)
	}
	d := &bareDaemon{Daemon: guestagent.Daemon{PIDFile: filepath.Join(dir, "pid"), Programs: []string{program}, SystemUser: systemUser}, Dir: dir}
	if err := d.PrepareDir(dir, 0o750); err != nil {
		os.RemoveAll(dir)
		b.Fatal(err)
	}
	return d
}

// run runs one of the engine's programs to its end as the system user, stdin from in
// when not empty.
func (d *bareDaemon) run(b *testing.B, in, name string, args ...string) {
	b.Helper()
	cmd, err := d.Command(context.Background(), name, args...)
	if err != nil {
		b.Fatal(err)
	}
	if in != "" {
		f, err := os.Open(in)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		cmd.Stdin = f
	}
	if err := guestagent.RunTool(context.Background(), cmd, filepath.Base(name)); err != nil {
		b.Fatal(err)
	}
}

// start starts the server program with args and waits, polling every 10 ms so that the
// figure is the engine's and not the poll's, until ready says it serves.
func (d *bareDaemon) start(b *testing.B, program string, args []string, ready func() bool) {
	b.Helper()
	cmd, err := d.Command(context.Background(), program, args...)
	if err != nil {
		b.Fatal(err)
	}
	d.log = &guestagent.TailBuffer{Max: 8192}
	cmd.Stdout, cmd.Stderr = d.log, d.log
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	d.cmd, d.exited = cmd, make(chan error, 1)
	go func() { d.exited <- cmd.Wait() }()
	deadline := time.After(2 * time.Minute)
	for !ready() {
		select {
		case err := <-d.exited:
			d.exited <- err
			b.Fatalf("%s exited at start: %v: %s", program, err, d.log.Tail(5))
		case <-deadline:
			b.Fatalf("%s not ready after 2 minutes: %s", program, d.log.Tail(5))
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// stop kills the daemon (its data is thrown away, so no clean shutdown is needed: Redis
// would refuse SIGTERM when its final save failed) and removes its folder.
func (d *bareDaemon) stop() {
	if d.cmd != nil {
		_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		<-d.exited
	}
	os.RemoveAll(d.Dir)
}

// answersUnix reports whether something accepts connections on a Unix socket.
func answersUnix(socket string) bool {
	c, err := net.DialTimeout("unix", socket, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// redisPONG reports whether the Redis server on a Unix socket answers PING with PONG: a
// server still loading its RDB answers -LOADING.
func redisPONG(socket string) bool {
	c, err := net.DialTimeout("unix", socket, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.TrimSpace(line) == "+PONG"
}

// bareMariaDBInstallAndStart times what the MariaDB driver's engine work on a create
// amounts to with nothing around it: mariadb-install-db as the driver runs it, then
// mariadbd (with the buffer pool of the create's flavor) until it answers on its socket.
func bareMariaDBInstallAndStart(b *testing.B) time.Duration {
	d := newBareDaemon(b, "mariadbd", "mysql")
	defer d.stop()
	data := filepath.Join(d.Dir, "data")
	start := time.Now()
	d.run(b, "", "/usr/bin/mariadb-install-db", "--no-defaults", "--datadir="+data,
		"--auth-root-authentication-method=socket", "--skip-test-db", "--skip-name-resolve")
	d.startMariaDB(b, data)
	return time.Since(start)
}

// startMariaDB starts mariadbd on a data folder, without networking, until it answers.
func (d *bareDaemon) startMariaDB(b *testing.B, data string) {
	socket := filepath.Join(d.Dir, "mariadbd.sock")
	d.start(b, "/usr/sbin/mariadbd", []string{"--no-defaults", "--datadir=" + data, "--socket=" + socket,
		"--pid-file=" + d.PIDFile, "--skip-networking", "--skip-name-resolve", "--innodb-buffer-pool-size=256M"},
		func() bool { return answersUnix(socket) })
}

// bareRedisStart times a bare redis-server start on an empty folder until it answers PING.
func bareRedisStart(b *testing.B) time.Duration {
	d := newBareDaemon(b, "redis-server", "redis")
	defer d.stop()
	start := time.Now()
	d.startRedis(b)
	return time.Since(start)
}

// startRedis starts redis-server on its folder (loading dump.rdb when it holds one),
// listening on a socket only, until it answers PING: when it has loaded its data.
func (d *bareDaemon) startRedis(b *testing.B) {
	socket := filepath.Join(d.Dir, "redis.sock")
	d.start(b, "/usr/bin/redis-server", []string{"--port", "0", "--unixsocket", socket, "--unixsocketperm", "700",
		"--dir", d.Dir, "--dbfilename", "dump.rdb", "--pidfile", d.PIDFile, "--daemonize", "no",
		"--save", "", "--appendonly", "no", "--logfile", ""},
		func() bool { return redisPONG(socket) })
}

// instanceVolume is the folder of an instance's data volume in the devcloud (a volume is a
// folder there) and the guest agent's own engine password kept on it.
func instanceVolume(b *testing.B, instanceID string) (dir, secret string) {
	b.Helper()
	inst, err := cloud.Catalog.GetInstance(context.Background(), "", instanceID)
	if err != nil {
		b.Fatal(err)
	}
	dir = filepath.Join(devcloudDir(b), "volumes", inst.VolumeID)
	s, err := os.ReadFile(filepath.Join(dir, "agent.secret"))
	if err != nil {
		b.Fatal(err)
	}
	return dir, strings.TrimSpace(string(s))
}

// printFloorRatio prints a figure beside its floor and their ratio, and reports the three.
func printFloorRatio(b *testing.B, what string, took time.Duration, n int, floorWhat string, floor time.Duration) {
	ratio := float64(took) / float64(floor)
	b.ReportMetric(took.Seconds(), "s/create-to-active")
	b.ReportMetric(floor.Seconds(), "s/bare-floor")
	b.ReportMetric(ratio, "ratio")
	fmt.Printf("%s: median %s of %d; bare %s: median %s; ratio %.1fx (goal <= 1.5x)\n",
		what, took.Round(time.Millisecond), n, floorWhat, floor.Round(time.Millisecond), ratio)
}
