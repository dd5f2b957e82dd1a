package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestagent"
)

// newMember is a new instance and its driver, for a replication group.
func newMember(t *testing.T, id string) (*Driver, guestagent.Host) {
	t.Helper()
	inst := newInstance(t, 256)
	return newTestDriverID(t, inst, id), inst
}

// eventually retries check until it passes or ctx ends (replication applies asynchronously).
func eventually(ctx context.Context, t *testing.T, what string, check func() error) {
	t.Helper()
	for {
		err := check()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v", what, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func reads(inst guestagent.Host, password, key, want string) func() error {
	return func() error {
		out, err := cli(inst, password, "GET", key)
		if err != nil || out != want {
			return fmt.Errorf("GET %s: %q (%v), want %q", key, out, err, want)
		}
		return nil
	}
}

// tenantConn is the tenant's session over TCP, as a client has it.
func tenantConn(t *testing.T, inst guestagent.Host, password string) *Session {
	t.Helper()
	s, err := DialTenant(context.Background(), net.JoinHostPort(inst.Address, fmt.Sprint(Port)), password)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A replica is seeded with its primary's data and the tenant's password, follows it and
// refuses the tenant's writes; a switchover under a steady write load loses no write the
// replica acknowledged (WAIT 1), and the old primary follows the new one, also after a
// restart; a fenced engine follows no one and refuses writes, also after a restart.
func TestRedisReplicaFollowsSwitchesOverAndFences(t *testing.T) {
	ctx := testContext(t)
	p, pInst := newMember(t, "7072696d-1")
	r, rInst := newMember(t, "7265706c-1")
	if err := p.Prepare(ctx, guest.PrepareInput{Datastore: Datastore}); err != nil {
		t.Fatal(err)
	}
	password := "tenant-redis-password"
	if err := p.EnableRoot(ctx, password); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, pInst, password, "SET", "before", "seed")

	if _, err := p.ReplicationSource(ctx, "Bad-Name"); !errors.Is(err, guestagent.ErrInvalid) {
		t.Fatalf("a bad slot: %v, want ErrInvalid", err)
	}
	src, err := p.ReplicationSource(ctx, guest.ReplicationSlot("7265706c-1"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(src.String(), src.Password) || strings.Contains(src.String(), src.RootHash) {
		t.Fatalf("the source's String shows a secret: %s", src)
	}
	if err := r.SeedReplica(ctx, src); err != nil {
		t.Fatalf("seed: %v", err)
	}
	if err := r.SeedReplica(ctx, src); err != nil {
		t.Fatalf("seed again: %v", err)
	}
	if out := mustCLI(t, rInst, password, "GET", "before"); out != "seed" {
		t.Fatalf("the replica reads %q, want the primary's seed", out)
	}
	mustCLI(t, pInst, password, "SET", "after", "seed")
	eventually(ctx, t, "the replica follows", reads(rInst, password, "after", "seed"))
	if out, _ := cli(rInst, password, "SET", "x", "1"); !strings.Contains(out, "READONLY") {
		t.Fatalf("a write on the replica: %q, want READONLY", out)
	}
	// The replication user streams and reaches no key.
	if out, _ := cli(pInst, "", "--user", replicationUser, "--pass", src.Password, "GET", "before"); !strings.Contains(out, "NOPERM") {
		t.Fatalf("%s reads a key: %q, want NOPERM", replicationUser, out)
	}
	if h := r.Health(ctx); h.Replication == nil || h.Replication.Role != guest.RoleReplica || !h.Replication.Streaming {
		t.Fatalf("replica's health: %+v, want its replication role, streaming", h.Replication)
	}
	if h := p.Health(ctx); h.Replication == nil || h.Replication.Role != guest.RolePrimary || len(h.Replication.Replicas) != 1 {
		t.Fatalf("primary's health: %+v, want primary with one replica", h.Replication)
	}

	// Writes stopped, then given back by Start (a switchover that did not happen).
	if _, err := p.StopWrites(ctx); err != nil {
		t.Fatal(err)
	}
	if out, _ := cli(pInst, password, "SET", "x", "1"); !strings.Contains(out, "NOPERM") {
		t.Fatalf("a write after StopWrites: %q, want NOPERM", out)
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, pInst, password, "SET", "x", "1")

	// A switchover under load: every write the replica acknowledged (WAIT 1 answers 1) is
	// on the new primary.
	var (
		mu    sync.Mutex
		acked []string
		stop  = make(chan struct{})
		done  = make(chan struct{})
	)
	w := tenantConn(t, pInst, password)
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			key := fmt.Sprintf("load:%d", i)
			if _, err := w.Do(5*time.Second, "SET", key, "v"); err != nil {
				continue
			}
			if n, err := w.Do(5*time.Second, "WAIT", "1", "1000"); err == nil && n == int64(1) {
				mu.Lock()
				acked = append(acked, key)
				mu.Unlock()
			}
		}
	}()
	eventually(ctx, t, "acknowledged writes", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(acked) < 100 {
			return fmt.Errorf("%d acknowledged", len(acked))
		}
		return nil
	})
	pos, err := p.StopWrites(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.WaitReplay(ctx, "nonsense"); !errors.Is(err, guestagent.ErrInvalid) {
		t.Fatalf("wait for a bad position: %v, want ErrInvalid", err)
	}
	if err := r.WaitReplay(ctx, pos); err != nil {
		t.Fatalf("wait replay %s: %v", pos, err)
	}
	if err := r.Promote(ctx); err != nil {
		t.Fatalf("promote: %v", err)
	}
	close(stop)
	<-done
	for _, key := range acked {
		if out := mustCLI(t, rInst, password, "EXISTS", key); out != "1" {
			t.Fatalf("acknowledged %s is not on the new primary", key)
		}
	}
	t.Logf("switchover: %d writes acknowledged", len(acked))
	mustCLI(t, rInst, password, "SET", "on", "new")
	back, err := r.ReplicationSource(ctx, guest.ReplicationSlot("7072696d-1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Follow(ctx, back); err != nil {
		t.Fatalf("follow: %v", err)
	}
	eventually(ctx, t, "the old primary follows the new one", reads(pInst, password, "on", "new"))
	if out, _ := cli(pInst, password, "SET", "x", "2"); !strings.Contains(out, "READONLY") {
		t.Fatalf("a write on the old primary: %q, want READONLY", out)
	}
	// A restart keeps it a replica of the new primary.
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, rInst, password, "SET", "after", "restart")
	eventually(ctx, t, "the old primary follows after a restart", reads(pInst, password, "after", "restart"))
	if out, _ := cli(pInst, password, "SET", "x", "3"); !strings.Contains(out, "READONLY") {
		t.Fatalf("a write on the restarted old primary: %q, want READONLY", out)
	}

	// Fenced: it follows no one and refuses writes, for good.
	if err := p.Fence(ctx); err != nil {
		t.Fatalf("fence: %v", err)
	}
	st, err := p.ReplicationStatus(ctx)
	if err != nil || !st.Fenced || st.Role != guest.RoleReplica || st.Streaming {
		t.Fatalf("fenced status: %+v %v, want fenced, not streaming", st, err)
	}
	mustCLI(t, rInst, password, "SET", "after", "fence")
	for _, restart := range []bool{false, true} {
		if restart {
			if err := p.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			if err := p.Start(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if out, _ := cli(pInst, password, "SET", "x", "4"); !strings.Contains(out, "NOPERM") {
			t.Fatalf("a write on the fenced engine (restarted %v): %q, want NOPERM", restart, out)
		}
		if out := mustCLI(t, pInst, password, "GET", "after"); out != "restart" {
			t.Fatalf("the fenced engine (restarted %v) reads %q: it still follows", restart, out)
		}
	}
	if err := p.Promote(ctx); !errors.Is(err, guestagent.ErrInvalid) {
		t.Fatalf("promote a fenced engine: %v, want ErrInvalid", err)
	}
	if err := p.Follow(ctx, back); !errors.Is(err, guestagent.ErrInvalid) {
		t.Fatalf("a fenced engine follows: %v, want ErrInvalid", err)
	}
}
