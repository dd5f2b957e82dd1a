package redis

import (
	"context"

	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestagent"
)

// Health probes the server (see guestagent.EngineProbe): HEALTHY when the agent's session
// answers PING.
func (d *Driver) Health(ctx context.Context) guest.HealthReport {
	return guestagent.EngineProbe{
		Engine:   Datastore,
		Prepared: d.server.Prepared,
		Running:  d.server.Running,
		Probe: func(ctx context.Context, _ *guest.HealthReport) error {
			c, err := d.connect(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.str("PING")
			return err
		},
	}.Health(ctx)
}
