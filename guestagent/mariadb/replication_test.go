package mariadb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestagent"
)

// newMember is a test driver for the instance id: members of a group need distinct IDs,
// which give them distinct server_ids.
func newMember(t *testing.T, id string) (*Driver, guestagent.Host) {
	t.Helper()
	inst := newInstance(t, 512)
	drv, err := New(guest.Config{InstanceID: id}, inst)
	if err != nil {
		t.Fatal(err)
	}
	d := drv.(*Driver)
	t.Cleanup(func() {
		if err := d.Stop(context.Background()); err != nil {
			t.Errorf("stop mariadb %s: %v", id, err)
		}
	})
	return d, inst
}

// eventually retries check until it passes or ctx ends (replication applies asynchronously).
func eventually(ctx context.Context, t *testing.T, what string, check func() error) {
	t.Helper()
	var err error
	for {
		if err = check(); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v", what, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func count(ctx context.Context, db *sql.DB, want int) func() error {
	return func() error {
		var n int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM shop.t").Scan(&n); err != nil {
			return err
		}
		if n != want {
			return fmt.Errorf("rows: got %d, want %d", n, want)
		}
		return nil
	}
}

// A replica is seeded from its primary with the primary's data and position, follows it
// read-only, reports its role; a switchover under a steady write load loses no write the
// primary acknowledged, and the old primary follows the new one; a fenced engine takes
// no writes and replicates from no one.
func TestReplicaFollowsSwitchesOverAndFences(t *testing.T) {
	ctx := testContext(t)
	p, pInst := newMember(t, "primary-1")
	r, rInst := newMember(t, "replica-1")
	in := guest.PrepareInput{
		Datastore: Datastore,
		Databases: []coffer.Database{{Name: "shop"}},
		Users:     []coffer.User{{Name: "alice", Password: "alice-pw", Host: "%", Databases: []string{"shop"}}},
	}
	if err := p.Prepare(ctx, in); err != nil {
		t.Fatalf("prepare: %v", err)
	}
	alice := connectAs(t, pInst, "alice", "alice-pw", "shop")
	if _, err := alice.ExecContext(ctx, "CREATE TABLE t (id int PRIMARY KEY, v text)"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.ExecContext(ctx, "INSERT INTO t VALUES (1, 'before the replica')"); err != nil {
		t.Fatal(err)
	}

	if _, err := p.ReplicationSource(ctx, "Bad-Name"); !errors.Is(err, guestagent.ErrInvalid) {
		t.Errorf("a bad slot: got %v, want ErrInvalid", err)
	}
	src, err := p.ReplicationSource(ctx, guest.ReplicationSlot("replica-1"))
	if err != nil {
		t.Fatalf("replication source: %v", err)
	}
	if src.User != replicationUser || src.Password == "" || src.Host != pInst.Address || strings.Contains(src.String(), src.Password) {
		t.Fatalf("replication source: got %s as %s", src, src.User)
	}
	if err := r.SeedReplica(ctx, src); err != nil {
		t.Fatalf("seed replica: %v", err)
	}
	if err := r.SeedReplica(ctx, src); err != nil {
		t.Fatalf("seed replica again: %v", err)
	}
	if _, err := r.ReplicationSource(ctx, "x"); !errors.Is(err, guestagent.ErrInvalid) {
		t.Errorf("a replica as a source: got %v, want ErrInvalid", err)
	}
	aliceR := connectAs(t, rInst, "alice", "alice-pw", "shop")
	eventually(ctx, t, "the copy on the replica", count(ctx, aliceR, 1))
	if _, err := alice.ExecContext(ctx, "INSERT INTO t VALUES (2, 'after')"); err != nil {
		t.Fatal(err)
	}
	eventually(ctx, t, "a row written on the primary reaches the replica", count(ctx, aliceR, 2))
	if _, err := aliceR.ExecContext(ctx, "INSERT INTO t VALUES (3, 'on the replica')"); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("a write on the replica: got %v, want it refused as read-only", err)
	}
	st, err := r.ReplicationStatus(ctx)
	if err != nil || st.Role != guest.RoleReplica || !st.Streaming || st.ReplayedLSN < 2 || st.Fenced {
		t.Errorf("replica status: got %+v, %v", st, err)
	}
	pst, err := p.ReplicationStatus(ctx)
	if err != nil || pst.Role != guest.RolePrimary || pst.CurrentLSN < st.ReplayedLSN || len(pst.Replicas) != 1 {
		t.Errorf("primary status: got %+v, %v", pst, err)
	}
	// A restart keeps the replica read-only and following.
	if err := r.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.ExecContext(ctx, "INSERT INTO t VALUES (3, 'while it restarted')"); err != nil {
		t.Fatal(err)
	}
	eventually(ctx, t, "the replica follows after a restart", count(ctx, aliceR, 3))

	// Switchover under a steady write load.
	var (
		mu    sync.Mutex
		acked []int
		wg    sync.WaitGroup
	)
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for id := 100; ; id++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := alice.ExecContext(ctx, "INSERT INTO t VALUES (?, 'load')", id); err == nil {
				mu.Lock()
				acked = append(acked, id)
				mu.Unlock()
			} else {
				time.Sleep(10 * time.Millisecond)
			}
		}
	}()
	eventually(ctx, t, "the load writes", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(acked) < 20 {
			return errors.New("fewer than 20 writes yet")
		}
		return nil
	})
	last, err := p.StopWrites(ctx)
	if err != nil {
		t.Fatalf("stop writes: %v", err)
	}
	if !strings.HasPrefix(string(last), "0-") {
		t.Fatalf("stop writes: got position %q, want a GTID position", last)
	}
	if err := r.WaitReplay(ctx, "0/3000060"); !errors.Is(err, guestagent.ErrInvalid) {
		t.Errorf("wait for an LSN: got %v, want ErrInvalid", err)
	}
	if err := r.WaitReplay(ctx, last); err != nil {
		t.Fatalf("wait replay: %v", err)
	}
	if err := r.Promote(ctx); err != nil {
		t.Fatalf("promote: %v", err)
	}
	if err := r.Promote(ctx); err != nil {
		t.Fatalf("promote again: %v", err)
	}
	src2, err := r.ReplicationSource(ctx, guest.ReplicationSlot("primary-1"))
	if err != nil {
		t.Fatalf("replication source on the new primary: %v", err)
	}
	if err := p.Follow(ctx, src2); err != nil {
		t.Fatalf("the old primary follows: %v", err)
	}
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	for _, id := range acked {
		var v string
		if err := aliceR.QueryRowContext(ctx, "SELECT v FROM t WHERE id = ?", id).Scan(&v); err != nil {
			t.Fatalf("acknowledged write %d on the new primary: %v", id, err)
		}
	}
	if _, err := aliceR.ExecContext(ctx, "INSERT INTO t VALUES (4, 'on the new primary')"); err != nil {
		t.Fatalf("a write on the new primary: %v", err)
	}
	eventually(ctx, t, "the old primary follows the new one", func() error {
		var v string
		return alice.QueryRowContext(ctx, "SELECT v FROM t WHERE id = 4").Scan(&v)
	})
	if _, err := alice.ExecContext(ctx, "INSERT INTO t VALUES (5, 'on the old primary')"); err == nil {
		t.Errorf("a write on the old primary: no error, want read-only")
	}
	if st, err := p.ReplicationStatus(ctx); err != nil || st.Role != guest.RoleReplica || !st.Streaming {
		t.Errorf("old primary's status: got %+v, %v", st, err)
	}

	// Fence the old primary: read-only for good, replicating from no one, across restarts.
	if err := p.Fence(ctx); err != nil {
		t.Fatalf("fence: %v", err)
	}
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.ExecContext(ctx, "INSERT INTO t VALUES (6, 'fenced')"); err == nil {
		t.Errorf("a write on a fenced engine: no error")
	}
	if st, err := p.ReplicationStatus(ctx); err != nil || !st.Fenced || st.Streaming {
		t.Errorf("fenced status: got %+v, %v", st, err)
	}
	if err := p.Promote(ctx); !errors.Is(err, guestagent.ErrInvalid) {
		t.Errorf("promote a fenced engine: got %v, want ErrInvalid", err)
	}
	if err := r.DropReplicationSlot(ctx, guest.ReplicationSlot("primary-1")); err != nil {
		t.Errorf("drop slot: %v", err)
	}
}

// A primary whose switchover failed before the promotion takes writes again after Start.
func TestStartAfterStopWritesTakesWritesAgain(t *testing.T) {
	ctx := testContext(t)
	p, inst := newMember(t, "primary-2")
	if err := p.Prepare(ctx, guest.PrepareInput{Datastore: Datastore, Databases: []coffer.Database{{Name: "shop"}},
		Users: []coffer.User{{Name: "bob", Password: "bob-pw", Host: "%", Databases: []string{"shop"}}}}); err != nil {
		t.Fatal(err)
	}
	bob := connectAs(t, inst, "bob", "bob-pw", "shop")
	if _, err := bob.ExecContext(ctx, "CREATE TABLE t (id int)"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.StopWrites(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.ExecContext(ctx, "INSERT INTO t VALUES (1)"); err == nil {
		t.Errorf("a write after StopWrites: no error")
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.ExecContext(ctx, "INSERT INTO t VALUES (1)"); err != nil {
		t.Errorf("a write after Start: %v", err)
	}
}

func TestGTIDSequenceOfTheGroupsDomain(t *testing.T) {
	for pos, want := range map[string]guest.LSN{"": 0, "0-1-42": 42, "1-2-7,0-3-9": 9, "1-2-7": 0} {
		if got := gtidSeq(pos); got != want {
			t.Errorf("gtidSeq(%q): got %d, want %d", pos, got, want)
		}
	}
	for pos, ok := range map[string]bool{"": true, "0-1-42": true, "0-1-42,1-2-3": true, "0/3000060": false, "0-1-x": false} {
		if validPosition.MatchString(pos) != ok {
			t.Errorf("valid position %q: want %v", pos, ok)
		}
	}
}
