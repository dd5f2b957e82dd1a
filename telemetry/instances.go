package telemetry

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/coffer-dbaas/coffer"
)

// InstanceLister lists instances; catalog.Store is one. An empty projectID lists every
// project's, and a limit of 0 all of them.
type InstanceLister interface {
	ListInstances(ctx context.Context, projectID string, limit int, marker string) ([]*coffer.Instance, error)
}

// WatchInstances adds the instances' metrics, read from the catalog at each scrape:
// coffer_instances (how many instances show each status, as tenants see it) and
// coffer_guest_health_age_seconds (how long ago each instance's guest last reported its
// health; an instance whose guest never reported has none).
func (t *Telemetry) WatchInstances(l InstanceLister) error {
	if err := t.Registry.Register(&instanceCollector{list: l, now: time.Now}); err != nil {
		return fmt.Errorf("telemetry: register instance metrics: %w", err)
	}
	return nil
}

var (
	instancesDesc = prometheus.NewDesc("coffer_instances",
		"Instances by the status tenants see (BUILD, ACTIVE, RESIZE, ERROR, ...).", []string{"status"}, nil)
	healthAgeDesc = prometheus.NewDesc("coffer_guest_health_age_seconds",
		"Seconds since the instance's guest last reported its health.", []string{"instance_id", "project_id"}, nil)
)

// scrapeTimeout bounds the catalog query of one scrape.
const scrapeTimeout = 5 * time.Second

type instanceCollector struct {
	list InstanceLister
	now  func() time.Time
}

func (c *instanceCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- instancesDesc
	ch <- healthAgeDesc
}

func (c *instanceCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	insts, err := c.list.ListInstances(ctx, "", 0, "")
	if err != nil {
		ch <- prometheus.NewInvalidMetric(instancesDesc, fmt.Errorf("list instances: %w", err))
		return
	}
	now := c.now()
	byStatus := map[string]int{}
	for _, inst := range insts {
		byStatus[inst.Status()]++
		if !inst.ServiceStatusUpdated.IsZero() {
			ch <- prometheus.MustNewConstMetric(healthAgeDesc, prometheus.GaugeValue,
				now.Sub(inst.ServiceStatusUpdated).Seconds(), inst.ID, inst.ProjectID)
		}
	}
	for status, n := range byStatus {
		ch <- prometheus.MustNewConstMetric(instancesDesc, prometheus.GaugeValue, float64(n), status)
	}
}
