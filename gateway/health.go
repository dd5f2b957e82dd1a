package gateway

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/guestauth"
)

// Defaults of Options.HealthInterval and Options.HealthFlushInterval.
const (
	DefaultHealthInterval      = 30 * time.Second
	DefaultHealthFlushInterval = time.Second
)

// maxClockSkew is how far in the future a guest's report may be dated: a later one is
// dated now, so that a guest with a fast clock cannot hide its silence.
const maxClockSkew = 5 * time.Second

// healthBatch holds the reports received since the last flush, the newest per instance:
// the catalog gets one statement per flush, not one transaction per report.
type healthBatch struct {
	store *catalog.Store
	log   *slog.Logger
	every time.Duration

	mu      sync.Mutex
	pending map[string]catalog.HealthReport
}

func newHealthBatch(store *catalog.Store, every time.Duration, log *slog.Logger) *healthBatch {
	return &healthBatch{store: store, log: log, every: every, pending: map[string]catalog.HealthReport{}}
}

// add keeps r for the next flush, unless a newer report of its instance is pending.
func (b *healthBatch) add(r catalog.HealthReport) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if old, ok := b.pending[r.InstanceID]; ok && old.At.After(r.At) {
		return
	}
	b.pending[r.InstanceID] = r
}

// flush writes what is pending in one statement. Reports it could not write are kept
// for the next flush unless newer ones arrived meanwhile.
func (b *healthBatch) flush(ctx context.Context) {
	b.mu.Lock()
	if len(b.pending) == 0 {
		b.mu.Unlock()
		return
	}
	reports := make([]catalog.HealthReport, 0, len(b.pending))
	for _, r := range b.pending {
		reports = append(reports, r)
	}
	b.pending = make(map[string]catalog.HealthReport, len(reports))
	b.mu.Unlock()

	started := time.Now()
	n, err := b.store.RecordHealthReports(ctx, reports)
	if err != nil {
		b.log.Error("record health reports", "reports", len(reports), "error", err)
		for _, r := range reports {
			b.add(r)
		}
		return
	}
	b.log.Debug("health reports recorded", "reports", len(reports), "updated", n, "took", time.Since(started))
}

// run flushes every interval until ctx ends, then once more.
func (b *healthBatch) run(ctx context.Context) {
	t := time.NewTicker(b.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.Background(), drainTimeout)
			b.flush(final)
			cancel()
			return
		case <-t.C:
			b.flush(ctx)
		}
	}
}

// reportHealth serves ReportHealth for the authenticated caller: the report waits for
// the next flush; the answer says when to report again.
func (g *Gateway) reportHealth(ctx context.Context, r guestauth.HealthReport) (guestauth.HealthAck, error) {
	instanceID, ok := callerOf(ctx)
	if !ok {
		return guestauth.HealthAck{}, errUnauthenticated
	}
	st := coffer.ServiceStatus(r.Status)
	switch st {
	case coffer.ServiceHealthy, coffer.ServiceShutdown, coffer.ServiceError, coffer.ServiceBuild, coffer.ServiceNew:
	default:
		return guestauth.HealthAck{}, status.Errorf(codes.InvalidArgument, "unknown service status %q", r.Status)
	}
	if r.VolumeSizeGB < 0 || r.VolumeUsedGB < 0 || r.LagBytes < 0 || r.LagSeconds < 0 {
		return guestauth.HealthAck{}, status.Error(codes.InvalidArgument, "negative volume or lag")
	}
	now := time.Now()
	at := r.At
	if at.IsZero() || at.After(now.Add(maxClockSkew)) {
		at = now
	}
	g.health.add(catalog.HealthReport{
		InstanceID: instanceID, Status: st, At: at,
		VolumeSizeGB: r.VolumeSizeGB, VolumeUsedGB: r.VolumeUsedGB,
		Replica: r.Role == "replica", LagBytes: r.LagBytes, LagSeconds: r.LagSeconds,
	})
	return guestauth.HealthAck{Interval: g.opts.HealthInterval}, nil
}
