package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/coffer-dbaas/coffer/activities"
	"github.com/coffer-dbaas/coffer/guest"
)

// DefaultHealthInterval is how often a monitor probes its guest when the input says
// nothing (Trove's guests report every 30 s; the API shows ERROR after 90 s of silence).
const DefaultHealthInterval = 30 * time.Second

// probesPerRun is how many probes a monitor run makes before it continues as new, so that
// its history stays short.
const probesPerRun = 100

// HealthQuery names the query a monitor answers with its MonitorState.
const HealthQuery = "health"

// MonitorState is what an instance's monitor last learned from its guest.
type MonitorState struct {
	// Report is the last health report, nil before the first answer.
	Report *guest.HealthReport `json:"report,omitempty"`
	// Volume is the data volume as the guest last saw it.
	Volume *guest.VolumeUsage `json:"volume,omitempty"`
	// Missed counts the probes in a row the guest did not answer.
	Missed int `json:"missed"`
}

// StepProbeHealth is the monitor's one step, shown while it runs.
const StepProbeHealth = "probe health"

// HealthOffTemporalChange is the change ID (workflow.GetVersion) of issue 19: guests
// report their health to the gateway on their own schedule, so creates start no monitor
// and a monitor's new run ends at once.
const HealthOffTemporalChange = "health-off-temporal"

// MonitorInstance is retired: guests report their health to the guest gateway, which
// records it in the catalog (see package gateway), and no workflow runs per instance while
// nothing happens. It stays registered so that the monitors of existing instances end
// cleanly:
//
//   - a new run (a continue-as-new, or a create that began before the change) ends at once;
//   - a run in flight goes on replaying its history, and ends at its next RecordHealth,
//     which answers ErrorTypeMonitorRetired.
//
// Before the change, every Interval it (1) ran Health on the guest queue, (2) VolumeUsage
// when the guest answered, and (3) RecordHealth; an instance the catalog no longer had
// ended it; after probesPerRun probes it continued as new.
func MonitorInstance(ctx workflow.Context, in MonitorInstanceInput) error {
	if workflow.GetVersion(ctx, HealthOffTemporalChange, workflow.DefaultVersion, 1) != workflow.DefaultVersion {
		workflow.GetLogger(ctx).Info("health is reported by the guest to the gateway; monitor ends", "instance_id", in.InstanceID)
		return nil
	}
	if err := setSearchAttributes(ctx, in.InstanceID, in.ProjectID, "monitor"); err != nil {
		return err
	}
	t, err := track(ctx, "monitor")
	if err != nil {
		return fmt.Errorf("monitor instance %s: %w", in.InstanceID, err)
	}
	var state MonitorState
	if err := workflow.SetQueryHandler(ctx, HealthQuery, func() (MonitorState, error) { return state, nil }); err != nil {
		return fmt.Errorf("monitor instance %s: set health query handler: %w", in.InstanceID, err)
	}
	interval := orDefault(in.Interval, DefaultHealthInterval)
	t.begin(StepProbeHealth)
	g := guest.For(in.InstanceID).With(guest.Query(healthProbeTimeout).PickUpWithin(interval))
	for range probesPerRun {
		record := activities.RecordHealthInput{InstanceID: in.InstanceID}
		if report, err := g.Health(ctx); err == nil {
			state.Report, state.Missed, record.Report = &report, 0, &report
			if usage, err := g.VolumeUsage(ctx); err == nil {
				state.Volume = &usage
			}
		} else {
			state.Missed++
		}
		err := workflow.ExecuteActivity(callOptions(ctx), acts.RecordHealth, record).Get(ctx, nil)
		var app *temporal.ApplicationError
		if errors.As(err, &app) && app.Type() == activities.ErrorTypeMonitorRetired {
			t.idle()
			workflow.GetLogger(ctx).Info("health is reported by the guest to the gateway; monitor ends", "instance_id", in.InstanceID)
			return nil
		}
		if errors.As(err, &app) && app.Type() == activities.ErrorTypeNotInCatalog {
			t.idle()
			workflow.GetLogger(ctx).Info("instance is gone; monitor ends", "instance_id", in.InstanceID)
			return nil
		}
		if err != nil {
			workflow.GetLogger(ctx).Warn("record health", "instance_id", in.InstanceID, "error", err)
		}
		if err := workflow.Sleep(ctx, interval); err != nil {
			return err
		}
	}
	return workflow.NewContinueAsNewError(ctx, MonitorInstance, in)
}
