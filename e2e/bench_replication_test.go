package e2e

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/coffer-dbaas/coffer/dev/devcloud"
)

// lagSampler reads, every 100 ms while writes flow, how far each replica is behind its
// primary: bytes (the primary's WAL position minus the replica's replayed one) and seconds
// (the age of the last transaction the replica replayed, while more is coming).
type lagSampler struct {
	g        *group
	primary  string
	replicas []string
	stop     chan struct{}
	done     chan struct{}

	mu      sync.Mutex
	bytes   []float64
	seconds []float64
}

func startLagSampler(g *group) *lagSampler {
	s := &lagSampler{g: g, primary: g.primary, replicas: slices.Clone(g.replicas), stop: make(chan struct{}), done: make(chan struct{})}
	go s.run()
	return s
}

func (s *lagSampler) run() {
	defer close(s.done)
	ctx := context.Background()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		primary, err := s.g.dial(ctx, s.primary)
		if err != nil {
			continue
		}
		var current string
		err = primary.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&current)
		primary.Close(ctx)
		if err != nil {
			continue
		}
		for _, r := range s.replicas {
			conn, err := s.g.dial(ctx, r)
			if err != nil {
				continue
			}
			var bytes, seconds float64
			err = conn.QueryRow(ctx, `SELECT greatest(pg_wal_lsn_diff($1::pg_lsn, pg_last_wal_replay_lsn()), 0),
				coalesce(extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()), 0)`, current).Scan(&bytes, &seconds)
			conn.Close(ctx)
			if err != nil {
				continue
			}
			s.mu.Lock()
			s.bytes = append(s.bytes, bytes)
			s.seconds = append(s.seconds, seconds)
			s.mu.Unlock()
		}
	}
}

// finish stops the sampler and returns the median and the largest lag seen.
func (s *lagSampler) finish() (medianBytes, maxBytes, medianSeconds, maxSeconds float64, samples int) {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	mid := func(v []float64) (float64, float64) {
		if len(v) == 0 {
			return 0, 0
		}
		v = slices.Sorted(slices.Values(v))
		return v[len(v)/2], v[len(v)-1]
	}
	medianBytes, maxBytes = mid(s.bytes)
	medianSeconds, maxSeconds = mid(s.seconds)
	return medianBytes, maxBytes, medianSeconds, maxSeconds, len(s.bytes)
}

// BenchmarkReplicationWriteUnavailability measures, under a steady write load on a primary
// with two replicas, how long writes are unavailable (from the action's POST to the first
// insert the new primary acknowledges) through a planned switchover and through a failover
// after the primary's server crashed, and prints them with the replica lag seen during the
// load. The floor a switchover is compared with is the lag itself: a replica cannot take
// over before it has replayed what the primary wrote.
func BenchmarkReplicationWriteUnavailability(b *testing.B) {
	for b.Loop() {
		g := newGroup(b, "bench-replication", 2)
		// The lag is sampled under the load, for loadTime before the switchover.
		const loadTime = 10 * time.Second
		lag := startLagSampler(g)
		w := startWriter(g, g.primary)
		time.Sleep(loadTime)
		medianBytes, maxBytes, medianSeconds, maxSeconds, samples := lag.finish()
		candidate := g.replicas[0]
		switchover := g.switchover(b, w, candidate)
		w.waitWrites(b, candidate, 50, 30*time.Second)
		acked := w.finish()
		g.promoted(candidate)
		g.wantAllRows(b, g.primary, acked)

		// Failover: the new primary's server crashes under the load; eject; writes go to
		// whichever replica is promoted.
		w = startWriter(g, g.primary)
		w.waitWrites(b, g.primary, 50, 30*time.Second)
		dead := g.primary
		if err := devcloud.CrashServer(context.Background(), adminProvider(b), devcloud.AdminBaseURL(cloud.Cloud.IdentityURL()), serverOf(b, dead)); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		g.action(b, dead, "eject_replica_source")
		w.target.Store(append([]string(nil), g.replicas...))
		var failover time.Duration
		for deadline := time.Now().Add(3 * time.Minute); failover == 0; time.Sleep(20 * time.Millisecond) {
			for _, r := range g.replicas {
				if _, first := w.ackedOn(r); !first.IsZero() {
					failover = first.Sub(start)
				}
			}
			if time.Now().After(deadline) {
				b.Fatalf("no write acknowledged by a replica within 3 minutes of the eject")
			}
		}
		w.finish()
		for _, id := range g.replicas {
			waitStatus(b, g.demo.db, id, "ACTIVE", 3*time.Minute)
		}
		var promoted string
		for _, r := range g.replicas {
			if v := showReplication(b, g.demo, r); v.ReplicaOf == nil {
				promoted = r
			}
		}
		g.primary, g.replicas = promoted, append(slices.DeleteFunc(slices.Clone(g.replicas), func(id string) bool { return id == promoted }), dead)

		b.ReportMetric(switchover.Seconds(), "s/switchover-unavailable")
		b.ReportMetric(failover.Seconds(), "s/failover-unavailable")
		b.ReportMetric(maxBytes, "B/max-lag")
		b.Logf("writes unavailable: switchover %s, failover %s (from the action; the failover first probes the primary for up to 3 s (workflows.PrimaryProbeTimeout) and isolates it)",
			switchover.Round(time.Millisecond), failover.Round(time.Millisecond))
		b.Logf("replica lag under the load (%d samples over %s): median %.0f B / %.3f s, max %.0f B / %.3f s (%d inserts acknowledged during the switchover, none lost)",
			samples, loadTime, medianBytes, medianSeconds, maxBytes, maxSeconds, len(acked))
	}
}
