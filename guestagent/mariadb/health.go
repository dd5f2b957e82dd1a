package mariadb

import (
	"context"
	"time"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/guest"
)

// healthTimeout bounds a health probe, so that a hung server reads as ERROR, not as silence.
const healthTimeout = 10 * time.Second

// Health probes the server: NEW before Prepare installed it, SHUTDOWN when mariadbd is not
// running, HEALTHY when the agent's session answers SELECT 1, ERROR otherwise.
func (d *Driver) Health(ctx context.Context) guest.HealthReport {
	report := func(status coffer.ServiceStatus, detail string) guest.HealthReport {
		return guest.HealthReport{Status: status, Detail: detail, At: time.Now().UTC()}
	}
	if !d.server.Installed() {
		return report(coffer.ServiceNew, "mariadb has not been prepared on this volume")
	}
	if !d.server.Running() {
		return report(coffer.ServiceShutdown, "mariadb is not running")
	}
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	db, err := d.connect(ctx)
	if err != nil {
		return report(coffer.ServiceError, err.Error())
	}
	defer db.Close()
	var one int
	if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return report(coffer.ServiceError, "select 1: "+err.Error())
	}
	return report(coffer.ServiceHealthy, "")
}
