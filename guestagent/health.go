package guestagent

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestauth"
)

// defaultReportInterval is how often the agent reports its health until the gateway's
// first answer says how often it wants reports.
const defaultReportInterval = 30 * time.Second

// reportTimeout bounds one report: a gateway that does not answer in time misses it.
const reportTimeout = 10 * time.Second

// reporter reports the engine's health to the gateway on the agent's own schedule: no
// workflow asks for it, so an idle instance costs Temporal nothing.
type reporter struct {
	driver Driver
	log    *slog.Logger
	// report sends one report; the gateway's answer says when to send the next.
	report func(context.Context, guestauth.HealthReport) (guestauth.HealthAck, error)
}

// newReporter reports over its own connection to the gateway, with the guest's credential
// on every call.
func newReporter(hostPort string, creds credentials.TransportCredentials, tlsOn bool, id identity, driver Driver, log *slog.Logger) (*reporter, func(), error) {
	conn, err := grpc.NewClient(hostPort, grpc.WithTransportCredentials(creds),
		grpc.WithPerRPCCredentials(guestauth.BearerCredentials{APIKey: guestauth.APIKey(id.InstanceID, id.Credential), Insecure: !tlsOn}))
	if err != nil {
		return nil, nil, err
	}
	return &reporter{driver: driver, log: log, report: func(ctx context.Context, r guestauth.HealthReport) (guestauth.HealthAck, error) {
		return guestauth.ReportHealth(ctx, conn, r)
	}}, func() { conn.Close() }, nil
}

// take is one report: the engine's status, its volume when readable, its replication.
func (r *reporter) take(ctx context.Context) guestauth.HealthReport {
	h := r.driver.Health(ctx)
	out := guestauth.HealthReport{Status: string(h.Status), Detail: h.Detail, At: h.At}
	if out.At.IsZero() {
		out.At = time.Now().UTC()
	}
	if out.Status == "" {
		out.Status = string(coffer.ServiceError)
	}
	if u, err := r.driver.VolumeUsage(ctx); err == nil {
		out.VolumeSizeGB, out.VolumeUsedGB = u.SizeGB, u.UsedGB
	}
	if rep := h.Replication; rep != nil {
		out.Role = rep.Role
		if rep.Role == guest.RoleReplica {
			out.LagBytes, out.LagSeconds = rep.LagBytes, rep.LagSeconds
		}
	}
	return out
}

// run reports at once, then every interval (with a tenth of jitter, so that guests booted
// together do not report together), until ctx ends.
func (r *reporter) run(ctx context.Context) {
	interval := defaultReportInterval
	failing := false
	for {
		rctx, cancel := context.WithTimeout(ctx, reportTimeout)
		report := r.take(rctx)
		ack, err := r.report(rctx, report)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			if !failing {
				r.log.Warn("could not report health to the guest gateway; trying again", "error", err)
			}
			failing = true
		default:
			if failing {
				r.log.Info("health reports reach the guest gateway again")
			}
			failing = false
			if ack.Interval > 0 {
				interval = ack.Interval
			}
		}
		wait := interval - interval/10 + rand.N(interval/5+1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}
