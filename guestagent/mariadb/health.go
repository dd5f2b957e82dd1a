package mariadb

import (
	"context"
	"fmt"

	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestagent"
)

// Health probes the server (see guestagent.EngineProbe): HEALTHY when the agent's session
// answers SELECT 1; the report carries the replication role and lag when they read.
func (d *Driver) Health(ctx context.Context) guest.HealthReport {
	return guestagent.EngineProbe{
		Engine:   "mariadb",
		Prepared: d.server.Installed,
		Running:  d.server.Running,
		Probe: func(ctx context.Context, r *guest.HealthReport) error {
			db, err := d.connect(ctx)
			if err != nil {
				return err
			}
			defer db.Close()
			var one int
			if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
				return fmt.Errorf("select 1: %w", err)
			}
			if st, err := d.replicationStatus(ctx, db); err == nil {
				r.Replication = &st
			}
			return nil
		},
	}.Health(ctx)
}
