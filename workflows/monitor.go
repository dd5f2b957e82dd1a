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

// MonitorInstance watches one instance's engine from the end of its create until the
// instance is deleted: it is what makes operating_status follow reality. Every Interval:
//
//  1. Health on the guest queue, with a short schedule-to-start (the interval): a guest
//     agent or server that is gone does not answer, and its last report ages until the API
//     shows ERROR (guest.heartbeat_expiry); an engine stopped behind the agent's back is
//     reported SHUTDOWN.
//  2. VolumeUsage on the guest queue, when the guest answered: the volume's used GiB, which
//     the health query gives the API for volume.used.
//  3. RecordHealth: the report and its time in the catalog (service_status and
//     service_status_updated), unless a newer one is there. An instance the catalog no
//     longer has ends the monitor.
//
// After probesPerRun probes it continues as new. It holds no task and records no fault.
func MonitorInstance(ctx workflow.Context, in MonitorInstanceInput) error {
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
