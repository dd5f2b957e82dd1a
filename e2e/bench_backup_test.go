package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/databases"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/instances"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/users"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestagent"
	"github.com/coffer-dbaas/coffer/pgcluster"
	"github.com/coffer-dbaas/coffer/workflows"
)

// pgbenchScale makes pgbench data of about 1.05 GiB (15 MiB per unit of scale).
const pgbenchScale = 70

// BenchmarkBackupRestore backs up, per engine (a sub-benchmark each), an instance holding a
// large dataset through Coffer (compressed, encrypted, checksummed, into Swift) and prints
// its throughput beside the engine's raw backup tool to /dev/null on the same instance in the
// same run, then restores it into a new instance and prints the restore's throughput beside
// the raw unpacking of the same backup, the ratios, the compression ratio and the guest
// agent's peak memory during the backup, which must stay under 256 MB:
//
//   - postgresql: 1 GiB of pgbench data; `pg_basebackup -Ft -D - > /dev/null`; `tar -x` and
//     the first start until ready (WAL replay and the data folder's fsync), which Coffer's
//     restore runs to give its agent's role this guest's password.
//   - mariadb: 1 GiB written with the mariadb client; `mariabackup --backup
//     --stream=xbstream > /dev/null`; `mbstream -x` + `mariabackup --prepare`, what the
//     driver's restore runs.
//   - redis: a few hundred MiB written with `redis-cli --pipe`; `redis-cli --rdb -` to
//     /dev/null; the RDB copied into an empty folder and redis-server started on it until it
//     has loaded (answers PING), which Coffer's restore does in its Restore and Prepare.
func BenchmarkBackupRestore(b *testing.B) {
	for _, e := range backupEngines {
		e.run(b, e.bench)
	}
}

// backupEngine is an engine's part of BenchmarkBackupRestore.
type backupEngine struct {
	benchEngine
	// users says the engine has databases and users: the instance gets database bench
	// and its user bench.
	users bool
	// minBytes is the least the backup must read for the figure to count.
	minBytes int64
	// fill writes the dataset into the new instance, as user bench with password where
	// the engine has users.
	fill func(b *testing.B, demo tenant, inst *instances.Instance, password string)
	// rawBackup runs the engine's raw backup tool on the instance into w and times it.
	rawBackup     func(b *testing.B, instanceID string, w io.Writer) (int64, time.Duration)
	rawBackupWhat string
	// rawRestore times the raw unpacking of a backup of the instance (made untimed first)
	// and returns the bytes it unpacked.
	rawRestore     func(b *testing.B, instanceID string) (int64, time.Duration)
	rawRestoreWhat string
	// restoreTook is how long Coffer's restore of instanceID took.
	restoreTook func(b *testing.B, instanceID string) time.Duration
	restoreWhat string
}

var backupEngines = []backupEngine{
	{
		benchEngine: benchEngines[0], users: true, minBytes: 1 << 30, fill: fillPgbench,
		rawBackup: bareBaseBackup, rawBackupWhat: "pg_basebackup > /dev/null",
		rawRestore: bareUnpack, rawRestoreWhat: "tar -x of the same base backup + its first start until ready",
		restoreTook: restoreStepDuration, restoreWhat: "download, verify, decrypt, decompress, unpack, first start",
	},
	{
		benchEngine: benchEngines[1], users: true, minBytes: 1 << 30, fill: fillMariaDB,
		rawBackup: bareMariaBackup, rawBackupWhat: "mariabackup --backup --stream > /dev/null",
		rawRestore: bareMariaUnpack, rawRestoreWhat: "mbstream -x + mariabackup --prepare of the same data",
		restoreTook: restoreStepDuration, restoreWhat: "download, verify, decrypt, decompress, mbstream -x, prepare",
	},
	{
		benchEngine: benchEngines[2], minBytes: 256 << 20, fill: fillRedis,
		rawBackup: bareRedisRDB, rawBackupWhat: "redis-cli --rdb - > /dev/null",
		rawRestore: bareRedisLoad, rawRestoreWhat: "cp of the RDB + redis-server start until loaded",
		restoreTook: redisRestoreDuration, restoreWhat: "download, verify, decrypt, decompress, check; then Prepare's start until loaded",
	},
}

// bench is BenchmarkBackupRestore for one engine.
func (e backupEngine) bench(b *testing.B) {
	ctx := context.Background()
	demo := login(b, "demo")
	password := randomPassword(b)
	opts := e.opts("bench-backup-" + e.name)
	opts.FlavorRef, opts.Size = "ds2G", 3
	if e.users {
		opts.Databases = databases.BatchCreateOpts{{Name: "bench"}}
		opts.Users = users.BatchCreateOpts{{Name: "bench", Password: password, Databases: databases.BatchCreateOpts{{Name: "bench"}}}}
	}
	created, err := instances.Create(ctx, demo.db, opts).Extract()
	if err != nil {
		b.Fatal(err)
	}
	defer deleteInstance(b, demo, created.ID)
	src := waitStatus(b, demo.db, created.ID, "ACTIVE", 5*time.Minute)
	e.fill(b, demo, src, password)

	for b.Loop() {
		// Coffer's backup, while watching the guest agent's memory.
		start := time.Now()
		bk := startBackup(b, demo, src.ID, "bench")
		bk = waitBackupEvery(b, demo, bk.ID, 30*time.Minute, 100*time.Millisecond, "COMPLETED", "FAILED")
		backupSeen := time.Now()
		backupTook := backupSeen.Sub(start)
		if bk.Status != "COMPLETED" {
			b.Fatalf("backup failed: %s", bk.FailReason)
		}
		peakKB := guestPeakMemoryKB(b, serverOf(b, src.ID))
		if bk.RawBytes < e.minBytes {
			b.Fatalf("backup read %d bytes, want at least %d", bk.RawBytes, e.minBytes)
		}

		// The floor: the engine's raw tool alone, on the same instance, to /dev/null.
		floorBytes, floorTook := e.rawBackup(b, src.ID, io.Discard)

		// The restore's floor: the raw unpacking of the same instance's backup, from a file.
		unpackBytes, unpackTook := e.rawRestore(b, src.ID)

		// Restore into a new instance; the restore is timed from the workflow's history.
		restoreStart := time.Now()
		restoredID := restoreInstanceB(b, demo, bk.ID)
		waitStatus(b, demo.db, restoredID, "ACTIVE", 30*time.Minute)
		restoreSeen := time.Now()
		restoreTook := e.restoreTook(b, restoredID)
		backupDown := operationBreakdown(b, workflows.BackupWorkflowID(bk.ID), start, backupSeen, "")
		restoreDown := createBreakdown(b, restoredID, restoreStart, restoreSeen)
		deleteInstance(b, demo, restoredID)
		deleteBackupAndWait(b, demo, bk.ID)

		mib := func(n int64, d time.Duration) float64 { return float64(n) / (1 << 20) / d.Seconds() }
		backupRate, floorRate, restoreRate := mib(bk.RawBytes, backupTook), mib(floorBytes, floorTook), mib(bk.RawBytes, restoreTook)
		unpackRate := mib(unpackBytes, unpackTook)
		compression := float64(bk.RawBytes) / float64(bk.SizeBytes)
		b.ReportMetric(backupRate, "MiB/s-backup")
		b.ReportMetric(floorRate, "MiB/s-raw-backup")
		b.ReportMetric(restoreRate, "MiB/s-restore")
		b.ReportMetric(unpackRate, "MiB/s-raw-restore")
		b.ReportMetric(compression, "compression")
		b.ReportMetric(float64(peakKB)/1024, "MB-guest-peak")
		fmt.Printf("%s backup of %.2f GiB: %s, %.1f MiB/s; bare %s: %s, %.1f MiB/s; ratio %.2fx (goal >= 0.85)\n",
			e.name, float64(bk.RawBytes)/(1<<30), backupTook.Round(time.Millisecond), backupRate, e.rawBackupWhat, floorTook.Round(time.Millisecond), floorRate, backupRate/floorRate)
		fmt.Printf("%s restore (%s): %s, %.1f MiB/s; bare %s: %s, %.1f MiB/s; ratio %.2fx (goal >= 0.80); ratio to the raw backup %.2fx\n",
			e.name, e.restoreWhat, restoreTook.Round(time.Millisecond), restoreRate, e.rawRestoreWhat, unpackTook.Round(time.Millisecond), unpackRate, restoreRate/unpackRate, restoreRate/floorRate)
		fmt.Printf("%s stored %.1f MiB of %.1f MiB: compression ratio %.2fx; guest agent peak memory (VmHWM) %.1f MB (limit 256 MB)\n",
			e.name, float64(bk.SizeBytes)/(1<<20), float64(bk.RawBytes)/(1<<20), compression, float64(peakKB)/1024)
		printBreakdown(os.Stdout, e.name+" backup", backupTook, [][]stepTook{backupDown})
		printBreakdown(os.Stdout, e.name+" restore, to ACTIVE", restoreSeen.Sub(restoreStart), [][]stepTook{restoreDown})
		if peakKB >= 256*1024 {
			b.Errorf("guest agent peak memory %d kB, want under 256 MB", peakKB)
		}
	}
}

// fillPgbench writes pgbench data of about 1.05 GiB as the create's user, then checkpoints
// (untimed): else the first backup after the fill, Coffer's, waits for the checkpoint of
// the fill's WAL, which the floor's backup, run after it, finds done.
func fillPgbench(b *testing.B, _ tenant, inst *instances.Instance, password string) {
	pgbench := exec.Command("/usr/lib/postgresql/15/bin/pgbench", "-i", "-q", "-s", strconv.Itoa(pgbenchScale), "-h", inst.IP[0], "-U", "bench", "bench")
	pgbench.Env = append(os.Environ(), "PGPASSWORD="+password)
	if out, err := pgbench.CombinedOutput(); err != nil {
		b.Fatalf("pgbench -i: %v: %s", err, out)
	}
	socket, secret := agentSocket(b, inst.ID)
	checkpoint := exec.Command("/usr/lib/postgresql/15/bin/psql", "-h", socket, "-U", "coffer_agent", "-d", "postgres", "-w", "-c", "CHECKPOINT")
	checkpoint.Env = append(os.Environ(), "PGPASSWORD="+secret)
	if out, err := checkpoint.CombinedOutput(); err != nil {
		b.Fatalf("checkpoint after pgbench -i: %v: %s", err, out)
	}
}

func restoreInstanceB(b *testing.B, who tenant, backupID string) string {
	var out struct {
		Instance struct {
			ID string `json:"id"`
		} `json:"instance"`
	}
	code := call(b, who, http.MethodPost, "/instances", map[string]any{"instance": map[string]any{
		"name": "bench-restored", "flavorRef": "ds2G", "volume": map[string]any{"size": 3},
		"restorePoint": map[string]any{"backupRef": backupID},
	}}, &out)
	if code != http.StatusOK {
		b.Fatalf("restore: HTTP %d", code)
	}
	return out.Instance.ID
}

// guestPeakMemoryKB is the VmHWM of the guest agent of a server: the process this
// package's devcloud started for it.
func guestPeakMemoryKB(b *testing.B, serverID string) int64 {
	pid, ok := cloud.Cloud.ServerPID(serverID)
	if !ok {
		b.Fatalf("server %s has no running guest agent", serverID)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatalf("guest agent of server %s: %v", serverID, err)
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb
		}
	}
	b.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// agentSocket is the folder of a PostgreSQL instance's socket (the volume is a folder here)
// and the password of the agent's role.
func agentSocket(b *testing.B, instanceID string) (socket, secret string) {
	volume, secret := instanceVolume(b, instanceID)
	socket = filepath.Join(volume, "run")
	if len(socket)+len("/.s.PGSQL.5432") > 107 {
		socket = "/tmp/coffer-" + instanceID[:8]
	}
	return socket, secret
}

// bareBaseBackup runs pg_basebackup -Ft -D - -X fetch against the instance's socket as the
// agent's role (the volume is a folder here), into w, and times it.
func bareBaseBackup(b *testing.B, instanceID string, w io.Writer) (int64, time.Duration) {
	socket, secret := agentSocket(b, instanceID)
	cmd := exec.Command("/usr/lib/postgresql/15/bin/pg_basebackup", "-h", socket, "-U", "coffer_agent", "-D", "-", "-Ft", "-X", "fetch", "-c", "fast", "-w")
	cmd.Env = append(os.Environ(), "PGPASSWORD="+secret)
	return timeToolInto(b, cmd, w)
}

// timeToolInto runs a backup tool with its stdout copied into w, and times it.
func timeToolInto(b *testing.B, cmd *exec.Cmd, w io.Writer) (int64, time.Duration) {
	b.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	stderr := &guestagent.TailBuffer{Max: 8192}
	cmd.Stderr = stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	n, copyErr := io.Copy(w, out)
	if err := cmd.Wait(); err != nil || copyErr != nil {
		b.Fatalf("%s: %v %v: %s", filepath.Base(cmd.Path), err, copyErr, stderr.Tail(5))
	}
	return n, time.Since(start)
}

// backupToFile writes a raw backup of the instance into a file of a new temporary folder
// (untimed) and returns the file.
func backupToFile(b *testing.B, instanceID string, rawBackup func(*testing.B, string, io.Writer) (int64, time.Duration)) string {
	b.Helper()
	file := filepath.Join(b.TempDir(), "backup")
	f, err := os.Create(file)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	rawBackup(b, instanceID, f)
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return file
}

// fileSize is a file's size.
func fileSize(b *testing.B, file string) int64 {
	b.Helper()
	st, err := os.Stat(file)
	if err != nil {
		b.Fatal(err)
	}
	return st.Size()
}

// bareUnpack writes a base backup of the instance to a file (untimed), then times a bare
// `tar -x` of it into an empty folder as the postgres user and the first start of the
// cluster there until it accepts connections: what a restore's unpacking costs without the
// download, decryption and decompression. The first start belongs to it as Redis's load and
// MariaDB's --prepare belong to theirs: a base backup is not usable before it (the server
// replays the WAL it holds and, since the backup was taken from a running server, fsyncs
// the whole data folder first), and Coffer's restore runs it too.
func bareUnpack(b *testing.B, instanceID string) (int64, time.Duration) {
	tarFile := backupToFile(b, instanceID, bareBaseBackup)
	dir, err := os.MkdirTemp("", "coffer-bench-pgrestore-*")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	u, err := user.Lookup("postgres")
	if err != nil {
		b.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	c := &pgcluster.Cluster{DataDir: filepath.Join(dir, "data"), SocketDir: filepath.Join(dir, "run"), Port: freePort(), SystemUser: "postgres"}
	if err := os.Mkdir(c.DataDir, 0o700); err != nil {
		b.Fatal(err)
	}
	for _, p := range []string{dir, c.DataDir} {
		if err := os.Chown(p, uid, gid); err != nil {
			b.Fatal(err)
		}
	}
	in, err := os.Open(tarFile)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	tar := exec.Command("tar", "-x", "-C", c.DataDir)
	tar.Stdin = in
	tar.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	ctx := context.Background()
	start := time.Now()
	if out, err := tar.CombinedOutput(); err != nil {
		b.Fatalf("tar -x: %v: %s", err, out)
	}
	untarred := time.Since(start)
	if err := c.Start(ctx, nil); err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	fmt.Printf("postgresql restore's floor: tar -x %s, then the first start until ready %s\n",
		untarred.Round(time.Millisecond), (took - untarred).Round(time.Millisecond))
	if err := c.Stop(ctx); err != nil {
		b.Fatal(err)
	}
	return fileSize(b, tarFile), took
}

// mariadbSocket is where a MariaDB instance's server listens for its agent (the driver's
// socketName in its RunDir).
func mariadbSocket(volume, instanceID string) string {
	return filepath.Join(guestagent.RunDir(volume, instanceID, "mariadbd.sock", "mariadb"), "mariadbd.sock")
}

// fillMariaDB writes about 1.1 GiB into the bench database as the create's user with the
// mariadb client, 100,000 rows of 1 KiB (eight SHA-512s in hex: about half compressible,
// as text is) a statement.
func fillMariaDB(b *testing.B, _ tenant, inst *instances.Instance, password string) {
	var hashes []string
	for i := range 8 {
		hashes = append(hashes, fmt.Sprintf("SHA2(seq + %d, 512)", i*1_000_000_000))
	}
	stmts := []string{"CREATE TABLE filler (id bigint PRIMARY KEY, v varchar(1024) NOT NULL)"}
	const batch, batches = 100_000, 11
	for i := range batches {
		stmts = append(stmts, fmt.Sprintf("INSERT INTO filler SELECT seq, CONCAT(%s) FROM seq_%d_to_%d",
			strings.Join(hashes, ", "), i*batch+1, (i+1)*batch))
	}
	cmd := exec.Command("mariadb", "-h", inst.IP[0], "-P", "3306", "-u", "bench", "bench")
	cmd.Env = append(os.Environ(), "MYSQL_PWD="+password)
	cmd.Stdin = strings.NewReader(strings.Join(stmts, ";\n") + ";\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("mariadb: %v: %s", err, out)
	}
}

// mariaBackupDaemon is a folder owned by the mysql user, with a client defaults file for
// the instance's agent account in it, as the driver's backup has: mariabackup runs as the
// mysql user, which reads the data folder.
func mariaBackupDaemon(b *testing.B, instanceID string) (d *bareDaemon, volume, defaults string) {
	volume, secret := instanceVolume(b, instanceID)
	d = newBareDaemon(b, "mariabackup", "mysql")
	defaults = filepath.Join(d.Dir, "client.cnf")
	cnf := "[client]\nuser=coffer_agent\npassword=" + secret + "\nsocket=" + mariadbSocket(volume, instanceID) + "\n"
	if err := d.WriteOwned(defaults, []byte(cnf)); err != nil {
		d.stop()
		b.Fatal(err)
	}
	return d, volume, defaults
}

// bareMariaBackup runs `mariabackup --backup --stream=xbstream` of the instance as the
// driver runs it, into w, and times it.
func bareMariaBackup(b *testing.B, instanceID string, w io.Writer) (int64, time.Duration) {
	d, volume, defaults := mariaBackupDaemon(b, instanceID)
	defer d.stop()
	cmd, err := d.Command(context.Background(), "/usr/bin/mariadb-backup", "--defaults-file="+defaults, "--backup", "--stream=xbstream",
		"--datadir="+filepath.Join(volume, "mariadb"), "--target-dir="+filepath.Join(d.Dir, "tmp"))
	if err != nil {
		b.Fatal(err)
	}
	return timeToolInto(b, cmd, w)
}

// bareMariaUnpack writes a mariabackup stream of the instance to a file (untimed), then
// times what the driver's restore runs on it: `mbstream -x` into an empty folder and
// `mariabackup --prepare` there, as the mysql user.
func bareMariaUnpack(b *testing.B, instanceID string) (int64, time.Duration) {
	stream := backupToFile(b, instanceID, bareMariaBackup)
	d := newBareDaemon(b, "mbstream", "mysql")
	defer d.stop()
	data := filepath.Join(d.Dir, "data")
	if err := d.PrepareDir(data, 0o750); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	d.run(b, stream, "/usr/bin/mbstream", "-x", "-C", data)
	d.run(b, "", "/usr/bin/mariadb-backup", "--prepare", "--target-dir="+data)
	return fileSize(b, stream), time.Since(start)
}

// redisKeys and redisValueBytes make the Redis dataset: 320,000 values of 1 KiB, about
// 330 MiB in the RDB.
const (
	redisKeys       = 320_000
	redisValueBytes = 1024
)

// fillRedis enables root (the default user's password, as Trove gives it) and writes the
// dataset with `redis-cli --pipe`: random hex values, which the RDB's LZF does not shrink
// much.
func fillRedis(b *testing.B, demo tenant, inst *instances.Instance, _ string) {
	root, err := instances.EnableRootUser(context.Background(), demo.db, inst.ID).Extract()
	if err != nil {
		b.Fatalf("enable root: %v", err)
	}
	cmd := exec.Command("redis-cli", "-h", inst.IP[0], "-p", "6379", "--no-auth-warning", "--pipe")
	cmd.Env = append(os.Environ(), "REDISCLI_AUTH="+root.Password)
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(in, 1<<20)
	rng := rand.New(rand.NewPCG(16, 17))
	raw := make([]byte, redisValueBytes/2)
	value := make([]byte, redisValueBytes)
	for i := range redisKeys {
		for j := 0; j < len(raw); j += 8 {
			binary.LittleEndian.PutUint64(raw[j:], rng.Uint64())
		}
		hex.Encode(value, raw)
		key := "k" + strconv.Itoa(i)
		fmt.Fprintf(w, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n", len(key), key, len(value))
		w.Write(value)
		w.WriteString("\r\n")
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	in.Close()
	if err := cmd.Wait(); err != nil || !strings.Contains(out.String(), "errors: 0") {
		b.Fatalf("redis-cli --pipe: %v: %s", err, out.String())
	}
}

// bareRedisRDB runs `redis-cli --rdb -` against the instance's socket as the agent, as the
// driver's backup does, into w, and times it.
func bareRedisRDB(b *testing.B, instanceID string, w io.Writer) (int64, time.Duration) {
	volume, secret := instanceVolume(b, instanceID)
	socket := filepath.Join(guestagent.RunDir(volume, instanceID, "redis.sock", "redis"), "redis.sock")
	cmd := exec.Command("/usr/bin/redis-cli", "-s", socket, "--user", "coffer_agent", "--no-auth-warning", "--rdb", "-")
	cmd.Env = append(os.Environ(), "REDISCLI_AUTH="+secret)
	return timeToolInto(b, cmd, w)
}

// bareRedisLoad writes an RDB of the instance to a file (untimed), then times copying it
// into an empty folder of the redis user and starting redis-server there until it answers
// PING, that is until it has loaded the data.
func bareRedisLoad(b *testing.B, instanceID string) (int64, time.Duration) {
	rdb := backupToFile(b, instanceID, bareRedisRDB)
	d := newBareDaemon(b, "redis-server", "redis")
	defer d.stop()
	start := time.Now()
	if out, err := exec.Command("cp", rdb, filepath.Join(d.Dir, "dump.rdb")).CombinedOutput(); err != nil {
		b.Fatalf("cp: %v: %s", err, out)
	}
	if err := d.Chown(filepath.Join(d.Dir, "dump.rdb")); err != nil {
		b.Fatal(err)
	}
	d.startRedis(b)
	return fileSize(b, rdb), time.Since(start)
}

// redisRestoreDuration is Coffer's Redis restore: its Restore activity (download, verify,
// decrypt, decompress, redis-check-rdb) and then the guest's Prepare, whose first start
// loads the RDB, each from the workflow's history (the steps between them are the
// create's, not the restore's).
func redisRestoreDuration(b *testing.B, instanceID string) time.Duration {
	_, started, completed := activityTimes(b, workflows.CreateWorkflowID(instanceID), guest.PrepareActivity)
	return restoreStepDuration(b, instanceID) + completed.Sub(started)
}

// restoreStepDuration is how long the Restore activity of an instance's create ran (its last
// attempt), from the workflow's history.
func restoreStepDuration(b *testing.B, instanceID string) time.Duration {
	ctx := context.Background()
	it := cloud.Client.GetWorkflowHistory(ctx, workflows.CreateWorkflowID(instanceID), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var scheduled int64
	var started time.Time
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			b.Fatal(err)
		}
		switch e.EventType {
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			if e.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName() == "Restore" {
				scheduled = e.EventId
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
			if e.GetActivityTaskStartedEventAttributes().GetScheduledEventId() == scheduled {
				started = e.EventTime.AsTime()
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			if e.GetActivityTaskCompletedEventAttributes().GetScheduledEventId() == scheduled && !started.IsZero() {
				return e.EventTime.AsTime().Sub(started)
			}
		}
	}
	b.Fatalf("no completed Restore in the create of %s", instanceID)
	return 0
}
