package postgres

import (
	"context"
	"fmt"

	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestagent"
)

// Health probes the cluster (see guestagent.EngineProbe): HEALTHY when the agent's session
// answers SELECT 1; the report carries the replication role and positions when they read.
func (d *Driver) Health(ctx context.Context) guest.HealthReport {
	return guestagent.EngineProbe{
		Engine:   "postgresql",
		Prepared: d.cluster.Initialized,
		Running:  d.cluster.Running,
		Probe: func(ctx context.Context, r *guest.HealthReport) error {
			conn, err := d.connect(ctx, "postgres")
			if err != nil {
				return err
			}
			defer conn.Close(context.WithoutCancel(ctx))
			var one int
			if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
				return fmt.Errorf("select 1: %w", err)
			}
			if st, err := d.replicationStatus(ctx, conn); err == nil {
				r.Replication = &st
			}
			return nil
		},
	}.Health(ctx)
}
