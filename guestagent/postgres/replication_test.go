package postgres

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coffer-dbaas/coffer/guest"
)

// exec runs sql as the agent on d's cluster.
func execOn(ctx context.Context, t *testing.T, d *Driver, sql string, args ...any) error {
	t.Helper()
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql, args...)
	return err
}

// waitRows waits until d's table t has n rows.
func waitRows(ctx context.Context, t *testing.T, d *Driver, what string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var got int
	for time.Now().Before(deadline) {
		conn, err := d.connect(ctx, "postgres")
		if err == nil {
			err = conn.QueryRow(ctx, "SELECT count(*) FROM items").Scan(&got)
			conn.Close(ctx)
			if err == nil && got == n {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: got %d rows, want %d", what, got, n)
}

func wantReadOnly(ctx context.Context, t *testing.T, d *Driver, what string) {
	t.Helper()
	err := execOn(ctx, t, d, "INSERT INTO items VALUES (-1)")
	if err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("%s: a write got %v, want a read-only transaction error", what, err)
	}
}

func role(ctx context.Context, t *testing.T, d *Driver) guest.ReplicationStatus {
	t.Helper()
	st, err := d.ReplicationStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestSwitchoverAndFailoverKeepEveryCommittedRow runs three engines as the guests of a
// primary and two replicas would: replicas seed from the primary and refuse writes; a
// switchover stops the primary, lets the candidate replay everything, promotes it, and
// turns the others (the old primary rewound) into its replicas; a failover after the new
// primary dies promotes the most advanced replica and fences the dead one.
func TestSwitchoverAndFailoverKeepEveryCommittedRow(t *testing.T) {
	ctx := testContext(t)
	pInst, r1Inst, r2Inst := newInstance(newVolume(t), 256), newInstance(newVolume(t), 256), newInstance(newVolume(t), 256)
	p, r1, r2 := newTestDriver(t, pInst), newTestDriver(t, r1Inst), newTestDriver(t, r2Inst)
	if err := p.Prepare(ctx, guest.PrepareInput{Datastore: "postgresql", Version: "15"}); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if err := execOn(ctx, t, p, "CREATE TABLE items (n int PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	if err := execOn(ctx, t, p, "INSERT INTO items SELECT generate_series(1, 100)"); err != nil {
		t.Fatal(err)
	}

	slots := map[*Driver]string{p: guest.ReplicationSlot("p"), r1: guest.ReplicationSlot("r1"), r2: guest.ReplicationSlot("r2")}
	for _, r := range []*Driver{r1, r2} {
		src, err := p.ReplicationSource(ctx, slots[r])
		if err != nil {
			t.Fatalf("ReplicationSource: %v", err)
		}
		if err := r.SeedReplica(ctx, src); err != nil {
			t.Fatalf("SeedReplica: %v", err)
		}
		// A retry finds the replica seeded and changes nothing.
		if err := r.SeedReplica(ctx, src); err != nil {
			t.Fatalf("SeedReplica again: %v", err)
		}
	}
	if err := execOn(ctx, t, p, "INSERT INTO items SELECT generate_series(101, 200)"); err != nil {
		t.Fatal(err)
	}
	waitRows(ctx, t, r1, "replica 1", 200)
	waitRows(ctx, t, r2, "replica 2", 200)
	wantReadOnly(ctx, t, r1, "replica 1")
	if st := role(ctx, t, p); st.Role != guest.RolePrimary || len(st.Replicas) != 2 {
		t.Fatalf("primary status: got %+v, want a primary with 2 replicas", st)
	}
	if st := role(ctx, t, r2); st.Role != guest.RoleReplica || !st.Streaming || st.ReplayedLSN == 0 {
		t.Fatalf("replica status: got %+v, want a streaming replica", st)
	}
	if h := r1.Health(ctx); h.Replication == nil || h.Replication.Role != guest.RoleReplica {
		t.Fatalf("replica health: got %+v, want its replication status", h)
	}

	// Switchover to r1.
	lsn, err := p.StopWrites(ctx)
	if err != nil {
		t.Fatalf("StopWrites: %v", err)
	}
	for _, r := range []*Driver{r1, r2} {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := r.WaitReplay(wctx, lsn)
		cancel()
		if err != nil {
			t.Fatalf("WaitReplay %s: %v", lsn, err)
		}
	}
	if err := r1.Promote(ctx); err != nil {
		t.Fatalf("Promote: %v", err)
	}
	for _, f := range []*Driver{r2, p} {
		src, err := r1.ReplicationSource(ctx, slots[f])
		if err != nil {
			t.Fatalf("ReplicationSource on the new primary: %v", err)
		}
		if err := f.Follow(ctx, src); err != nil {
			t.Fatalf("Follow: %v", err)
		}
	}
	if err := execOn(ctx, t, r1, "INSERT INTO items SELECT generate_series(201, 300)"); err != nil {
		t.Fatalf("write on the new primary: %v", err)
	}
	waitRows(ctx, t, r2, "replica 2 after the switchover", 300)
	waitRows(ctx, t, p, "old primary after the switchover", 300)
	wantReadOnly(ctx, t, p, "old primary")

	// Failover: the new primary dies with no warning.
	pid, err := r1.cluster.PID()
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	best, other := r2, p
	stBest, stOther := role(ctx, t, r2), role(ctx, t, p)
	if stOther.ReceivedLSN > stBest.ReceivedLSN {
		best, other = p, r2
	}
	if err := best.Promote(ctx); err != nil {
		t.Fatalf("Promote after the failover: %v", err)
	}
	src, err := best.ReplicationSource(ctx, slots[other])
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Follow(ctx, src); err != nil {
		t.Fatalf("Follow after the failover: %v", err)
	}
	if err := execOn(ctx, t, best, "INSERT INTO items SELECT generate_series(301, 400)"); err != nil {
		t.Fatalf("write on the promoted replica: %v", err)
	}
	waitRows(ctx, t, other, "the other replica after the failover", 400)
	// A streaming replica's slot can be dropped (a detach): its session is ended first.
	if err := best.DropReplicationSlot(ctx, slots[other]); err != nil {
		t.Fatalf("DropReplicationSlot of a streaming replica: %v", err)
	}
	if st := role(ctx, t, best); len(st.Replicas) != 0 {
		t.Errorf("slots after the drop: got %+v, want none", st.Replicas)
	}

	// The dead primary comes back fenced: read-only, and it cannot be promoted again.
	for r1.cluster.Running() {
		time.Sleep(50 * time.Millisecond)
	}
	if err := r1.Fence(ctx); err != nil {
		t.Fatalf("Fence: %v", err)
	}
	wantReadOnly(ctx, t, r1, "the fenced old primary")
	if err := r1.Promote(ctx); err == nil {
		t.Fatal("Promote of a fenced engine: got no error")
	}
	if err := r1.Start(ctx); err != nil {
		t.Fatal(err)
	}
	wantReadOnly(ctx, t, r1, "the fenced old primary after a start")
	if st := role(ctx, t, r1); !st.Fenced {
		t.Errorf("fenced status: got %+v, want Fenced", st)
	}
}

func TestLSNParsesAndPrintsPostgresForm(t *testing.T) {
	for _, s := range []string{"0/0", "0/3000060", "16/B374D848"} {
		l, err := guest.ParseLSN(s)
		if err != nil {
			t.Fatalf("ParseLSN(%q): %v", s, err)
		}
		if l.String() != s {
			t.Errorf("ParseLSN(%q).String(): got %q", s, l.String())
		}
	}
	a, _ := guest.ParseLSN("0/FFFFFFFF")
	b, _ := guest.ParseLSN("1/0")
	if a >= b {
		t.Errorf("0/FFFFFFFF >= 1/0")
	}
}

// A primary's group that raises a setting a hot standby needs at least as high (here
// max_connections and max_wal_senders) must not stall its replicas: one that streamed
// before the change takes the primary's values at its next start and streams on, one
// seeded after it starts with them, and a replica's own group cannot lower them.
func TestReplicasRunWithAtLeastThePrimarysHotStandbySettings(t *testing.T) {
	ctx := testContext(t)
	p := newTestDriver(t, newInstance(newVolume(t), 256))
	before, after := newTestDriver(t, newInstance(newVolume(t), 256)), newTestDriver(t, newInstance(newVolume(t), 256))
	if err := p.Prepare(ctx, guest.PrepareInput{Datastore: "postgresql", Version: "15"}); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if err := execOn(ctx, t, p, "CREATE TABLE items (n int PRIMARY KEY); INSERT INTO items VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	seed := func(r *Driver, name string) {
		t.Helper()
		src, err := p.ReplicationSource(ctx, guest.ReplicationSlot(name))
		if err != nil {
			t.Fatalf("ReplicationSource for %s: %v", name, err)
		}
		if err := r.SeedReplica(ctx, src); err != nil {
			t.Fatalf("SeedReplica %s: %v", name, err)
		}
	}
	restart := func(d *Driver, what string) {
		t.Helper()
		if err := d.Stop(ctx); err != nil {
			t.Fatalf("stop %s: %v", what, err)
		}
		if err := d.Start(ctx); err != nil {
			t.Fatalf("start %s: %v", what, err)
		}
	}
	seed(before, "before")
	waitRows(ctx, t, before, "the replica seeded before the change", 1)

	raised := map[string]string{"max_connections": "150", "max_wal_senders": "12"}
	if _, err := p.ApplyConfiguration(ctx, raised); err != nil {
		t.Fatalf("apply the primary's group: %v", err)
	}
	restart(p, "the primary")
	if err := execOn(ctx, t, p, "INSERT INTO items VALUES (2)"); err != nil {
		t.Fatal(err)
	}
	// The replica stalls: it pauses its replay at the primary's change, which its control
	// file now records, until it restarts with enough.
	waitPaused(ctx, t, before)
	restart(before, "the replica seeded before the change")
	waitRows(ctx, t, before, "the replica seeded before the change, restarted", 2)

	seed(after, "after")
	waitRows(ctx, t, after, "the replica seeded after the change", 2)
	for _, r := range []struct {
		d    *Driver
		name string
	}{{before, "before"}, {after, "after"}} {
		for name, want := range raised {
			if got := show(ctx, t, r.d, name); got != want {
				t.Errorf("replica %s: %s is %s, want the primary's %s", r.name, name, got, want)
			}
		}
	}

	// A replica's own group that would lower one keeps the primary's value.
	if _, err := after.ApplyConfiguration(ctx, map[string]string{"max_connections": "50"}); err != nil {
		t.Fatalf("apply the replica's group: %v", err)
	}
	restart(after, "the replica with a group of its own")
	if got := show(ctx, t, after, "max_connections"); got != "150" {
		t.Errorf("replica with max_connections 50 in its group: runs with %s, want the primary's 150", got)
	}
	if err := execOn(ctx, t, p, "INSERT INTO items VALUES (3)"); err != nil {
		t.Fatal(err)
	}
	waitRows(ctx, t, after, "the replica with a group of its own", 3)
	waitRows(ctx, t, before, "the replica seeded before the change, at the end", 3)
}

// waitPaused waits until d's replay is paused, as a standby pauses it at a change of its
// primary's settings that it has too little of.
func waitPaused(ctx context.Context, t *testing.T, d *Driver) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	state := ""
	for time.Now().Before(deadline) {
		conn, err := d.connect(ctx, "postgres")
		if err == nil {
			err = conn.QueryRow(ctx, "SELECT pg_get_wal_replay_pause_state()").Scan(&state)
			conn.Close(ctx)
			if err == nil && state == "paused" {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("replay state: got %q, want paused", state)
}
