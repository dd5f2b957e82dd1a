package guestagent

import (
	"context"
	"time"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/guest"
)

// HealthTimeout bounds a health probe, so that a hung engine reads as ERROR, not as silence.
const HealthTimeout = 10 * time.Second

// EngineProbe is what a driver's Health knows of its engine: its name (for the details),
// whether Prepare made it on the volume and whether its process runs, and Probe, which asks
// the running engine a trivial question (SELECT 1, PING) and may add to the report.
type EngineProbe struct {
	Engine   string
	Prepared func() bool
	Running  func() bool
	Probe    func(ctx context.Context, r *guest.HealthReport) error
}

// Health is the Driver's Health for every engine: NEW before Prepare made it, SHUTDOWN when
// its process is not running, HEALTHY when Probe answers within HealthTimeout, ERROR (with
// Probe's error) otherwise.
func (p EngineProbe) Health(ctx context.Context) guest.HealthReport {
	r := guest.HealthReport{At: time.Now().UTC()}
	switch {
	case !p.Prepared():
		r.Status, r.Detail = coffer.ServiceNew, p.Engine+" has not been prepared on this volume"
	case !p.Running():
		r.Status, r.Detail = coffer.ServiceShutdown, p.Engine+" is not running"
	default:
		ctx, cancel := context.WithTimeout(ctx, HealthTimeout)
		defer cancel()
		if err := p.Probe(ctx, &r); err != nil {
			r.Status, r.Detail = coffer.ServiceError, err.Error()
		} else {
			r.Status = coffer.ServiceHealthy
		}
	}
	r.At = time.Now().UTC()
	return r
}
