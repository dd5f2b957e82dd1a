package postgres

import (
	"context"
	"time"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/guest"
)

// healthTimeout bounds a health probe, so that a hung server reads as ERROR, not as silence.
const healthTimeout = 10 * time.Second

// Health probes the cluster: NEW before Prepare made it, SHUTDOWN when its postmaster is not
// running, HEALTHY when the agent's session answers SELECT 1, ERROR otherwise.
func (d *Driver) Health(ctx context.Context) guest.HealthReport {
	report := func(status coffer.ServiceStatus, detail string) guest.HealthReport {
		return guest.HealthReport{Status: status, Detail: detail, At: time.Now().UTC()}
	}
	if !d.cluster.Initialized() {
		return report(coffer.ServiceNew, "postgresql has not been prepared on this volume")
	}
	if !d.cluster.Running() {
		return report(coffer.ServiceShutdown, "postgresql is not running")
	}
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		return report(coffer.ServiceError, err.Error())
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return report(coffer.ServiceError, "select 1: "+err.Error())
	}
	r := report(coffer.ServiceHealthy, "")
	if st, err := d.replicationStatus(ctx, conn); err == nil {
		r.Replication = &st
	}
	return r
}
