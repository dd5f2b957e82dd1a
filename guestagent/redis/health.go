package redis

import (
	"context"

	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestagent"
)

// Health probes the server (see guestagent.EngineProbe): HEALTHY when the agent's session
// answers PING; the report carries the replication role and lag when they read.
func (d *Driver) Health(ctx context.Context) guest.HealthReport {
	return guestagent.EngineProbe{
		Engine:   Datastore,
		Prepared: d.server.Prepared,
		Running:  d.server.Running,
		Probe: func(ctx context.Context, r *guest.HealthReport) error {
			c, err := d.connect(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			if _, err := c.str("PING"); err != nil {
				return err
			}
			if st, err := d.replicationStatus(c); err == nil {
				r.Replication = &st
			}
			return nil
		},
	}.Health(ctx)
}
