package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/databases"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/instances"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/users"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/coffer-dbaas/coffer/workflows"
)

// pgbenchScale makes pgbench data of about 1.05 GiB (15 MiB per unit of scale).
const pgbenchScale = 70

// BenchmarkBackupRestore backs up a PostgreSQL instance holding at least 1 GiB of pgbench
// data through Coffer (compressed, encrypted, checksummed, into Swift) and prints its
// throughput beside a bare `pg_basebackup -Ft -D - > /dev/null` of the same instance in the
// same run, then restores it into a new instance and prints the restore's throughput, the
// ratios, the compression ratio and the guest agent's peak memory during the backup, which
// must stay under 256 MB.
func BenchmarkBackupRestore(b *testing.B) {
	ctx := context.Background()
	demo := login(b, "demo")
	password := randomPassword(b)
	opts := instances.CreateOpts{
		Name: "bench-backup", FlavorRef: "ds2G", Size: 3,
		Datastore: &instances.DatastoreOpts{Type: "postgresql", Version: "15"},
		Databases: databases.BatchCreateOpts{{Name: "bench"}},
		Users:     users.BatchCreateOpts{{Name: "bench", Password: password, Databases: databases.BatchCreateOpts{{Name: "bench"}}}},
	}
	created, err := instances.Create(ctx, demo.db, opts).Extract()
	if err != nil {
		b.Fatal(err)
	}
	defer deleteInstance(b, demo, created.ID)
	src := waitStatus(b, demo.db, created.ID, "ACTIVE", 5*time.Minute)
	addr := src.IP[0]

	pgbench := exec.Command("/usr/lib/postgresql/15/bin/pgbench", "-i", "-q", "-s", strconv.Itoa(pgbenchScale), "-h", addr, "-U", "bench", "bench")
	pgbench.Env = append(os.Environ(), "PGPASSWORD="+password)
	if out, err := pgbench.CombinedOutput(); err != nil {
		b.Fatalf("pgbench -i: %v: %s", err, out)
	}

	for b.Loop() {
		// Coffer's backup, while watching the guest agent's memory.
		start := time.Now()
		bk := startBackup(b, demo, src.ID, "bench")
		bk = waitBackupEvery(b, demo, bk.ID, 30*time.Minute, 100*time.Millisecond, "COMPLETED", "FAILED")
		backupTook := time.Since(start)
		if bk.Status != "COMPLETED" {
			b.Fatalf("backup failed: %s", bk.FailReason)
		}
		peakKB := guestPeakMemoryKB(b, serverOf(b, src.ID))
		if bk.RawBytes < 1<<30 {
			b.Fatalf("backup read %d bytes, want at least 1 GiB of data", bk.RawBytes)
		}

		// The floor: pg_basebackup alone, on the same instance, to /dev/null.
		floorBytes, floorTook := bareBaseBackup(b, src.ID)

		// The restore's floor: a raw untar of the same instance's base backup, from a file.
		unpackBytes, unpackTook := bareUnpack(b, src.ID)

		// Restore into a new instance; the restore step is timed from the workflow's history.
		restoredID := restoreInstanceB(b, demo, bk.ID)
		waitStatus(b, demo.db, restoredID, "ACTIVE", 30*time.Minute)
		restoreTook := restoreStepDuration(b, restoredID)
		deleteInstance(b, demo, restoredID)
		deleteBackupAndWait(b, demo, bk.ID)

		mib := func(n int64, d time.Duration) float64 { return float64(n) / (1 << 20) / d.Seconds() }
		backupRate, floorRate, restoreRate := mib(bk.RawBytes, backupTook), mib(floorBytes, floorTook), mib(bk.RawBytes, restoreTook)
		compression := float64(bk.RawBytes) / float64(bk.SizeBytes)
		b.ReportMetric(backupRate, "MiB/s-backup")
		b.ReportMetric(floorRate, "MiB/s-pg_basebackup")
		b.ReportMetric(restoreRate, "MiB/s-restore")
		b.ReportMetric(compression, "compression")
		b.ReportMetric(float64(peakKB)/1024, "MB-guest-peak")
		fmt.Printf("backup of %.2f GiB: %s, %.1f MiB/s; bare pg_basebackup > /dev/null: %s, %.1f MiB/s; ratio %.2fx\n",
			float64(bk.RawBytes)/(1<<30), backupTook.Round(time.Millisecond), backupRate, floorTook.Round(time.Millisecond), floorRate, backupRate/floorRate)
		unpackRate := mib(unpackBytes, unpackTook)
		b.ReportMetric(unpackRate, "MiB/s-untar")
		fmt.Printf("restore (download, verify, decrypt, decompress, unpack, first start): %s, %.1f MiB/s; bare tar -x of the same base backup: %s, %.1f MiB/s; ratio %.2fx (goal >= 0.80); ratio to pg_basebackup %.2fx\n",
			restoreTook.Round(time.Millisecond), restoreRate, unpackTook.Round(time.Millisecond), unpackRate, restoreRate/unpackRate, restoreRate/floorRate)
		fmt.Printf("stored %.1f MiB of %.1f MiB: compression ratio %.2fx; guest agent peak memory (VmHWM) %.1f MB (limit 256 MB)\n",
			float64(bk.SizeBytes)/(1<<20), float64(bk.RawBytes)/(1<<20), compression, float64(peakKB)/1024)
		if peakKB >= 256*1024 {
			b.Errorf("guest agent peak memory %d kB, want under 256 MB", peakKB)
		}
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

// bareBaseBackup runs pg_basebackup -Ft -D - -X fetch against the instance's socket as the
// agent's role (the volume is a folder here), into /dev/null, and times it.
func bareBaseBackup(b *testing.B, instanceID string) (int64, time.Duration) {
	inst, err := cloud.Catalog.GetInstance(context.Background(), "", instanceID)
	if err != nil {
		b.Fatal(err)
	}
	volume := filepath.Join(devcloudDir(b), "volumes", inst.VolumeID)
	secret, err := os.ReadFile(filepath.Join(volume, "agent.secret"))
	if err != nil {
		b.Fatal(err)
	}
	socket := filepath.Join(volume, "run")
	if len(socket)+len("/.s.PGSQL.5432") > 107 {
		socket = "/tmp/coffer-" + instanceID[:8]
	}
	cmd := exec.Command("/usr/lib/postgresql/15/bin/pg_basebackup", "-h", socket, "-U", "coffer_agent", "-D", "-", "-Ft", "-X", "fetch", "-c", "fast", "-w")
	cmd.Env = append(os.Environ(), "PGPASSWORD="+strings.TrimSpace(string(secret)))
	var n countWriter
	cmd.Stdout = &n
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("pg_basebackup: %v: %s", err, stderr.String())
	}
	return int64(n), time.Since(start)
}

// bareUnpack writes a base backup of the instance to a file (untimed), then times a bare
// `tar -x` of it into an empty folder: what a restore's unpacking costs without the
// download, decryption and decompression.
func bareUnpack(b *testing.B, instanceID string) (int64, time.Duration) {
	inst, err := cloud.Catalog.GetInstance(context.Background(), "", instanceID)
	if err != nil {
		b.Fatal(err)
	}
	volume := filepath.Join(devcloudDir(b), "volumes", inst.VolumeID)
	secret, err := os.ReadFile(filepath.Join(volume, "agent.secret"))
	if err != nil {
		b.Fatal(err)
	}
	socket := filepath.Join(volume, "run")
	if len(socket)+len("/.s.PGSQL.5432") > 107 {
		socket = "/tmp/coffer-" + instanceID[:8]
	}
	dir := b.TempDir()
	tarFile := filepath.Join(dir, "base.tar")
	f, err := os.Create(tarFile)
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command("/usr/lib/postgresql/15/bin/pg_basebackup", "-h", socket, "-U", "coffer_agent", "-D", "-", "-Ft", "-X", "fetch", "-c", "fast", "-w")
	cmd.Env = append(os.Environ(), "PGPASSWORD="+strings.TrimSpace(string(secret)))
	cmd.Stdout = f
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("pg_basebackup: %v: %s", err, stderr.String())
	}
	st, err := f.Stat()
	f.Close()
	if err != nil {
		b.Fatal(err)
	}
	into := filepath.Join(dir, "data")
	if err := os.Mkdir(into, 0o700); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if out, err := exec.Command("tar", "-xf", tarFile, "-C", into).CombinedOutput(); err != nil {
		b.Fatalf("tar -x: %v: %s", err, out)
	}
	return st.Size(), time.Since(start)
}

// countWriter counts bytes and drops them, as > /dev/null.
type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}

var _ io.Writer = (*countWriter)(nil)

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
