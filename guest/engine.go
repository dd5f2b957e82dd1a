package guest

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/coffer-dbaas/coffer"
)

// The engine's life: prepare, health, stop, start, restart, and its volume.
const (
	// PrepareActivity makes the engine ready: initdb on the volume, configuration sized from
	// the flavor, start, the agent's own admin role, then the requested databases and users.
	// Idempotent: a retry after a crash finds the cluster and finishes the job.
	PrepareActivity = "Prepare"
	// HealthActivity reports the engine's state (HealthReport); it never fails, a broken
	// engine is a report.
	HealthActivity = "Health"
	// StopEngineActivity stops the engine cleanly (before a delete or a resize).
	StopEngineActivity = "StopEngine"
	// StartEngineActivity starts a prepared engine with the configuration of the server's
	// current flavor, restarting one that runs with another flavor's (after a resize).
	StartEngineActivity = "StartEngine"
	// RestartEngineActivity stops and starts the engine (a tenant's restart).
	RestartEngineActivity = "RestartEngine"
	// GrowFilesystemActivity grows the volume's filesystem to the volume's new size (after
	// Cinder extended it) and returns the VolumeUsage the guest sees afterwards.
	GrowFilesystemActivity = "GrowFilesystem"
	// VolumeUsageActivity reports the data volume's size and how much of it is used.
	VolumeUsageActivity = "VolumeUsage"
)

// PrepareInput is Prepare's input.
type PrepareInput struct {
	Datastore string            `json:"datastore"`
	Version   string            `json:"version"`
	Databases []coffer.Database `json:"databases,omitempty"`
	Users     []coffer.User     `json:"users,omitempty"`
	// Configuration are the values of the instance's configuration group, as
	// ConfigurationInput has them: the engine starts with them the first time.
	Configuration map[string]string `json:"configuration,omitempty"`
}

// HealthReport is Health's result.
type HealthReport struct {
	Status coffer.ServiceStatus `json:"status"`
	Detail string               `json:"detail,omitempty"`
	At     time.Time            `json:"at"`
	// Replication is the engine's replication role and lag, when it answers.
	Replication *ReplicationStatus `json:"replication,omitempty"`
}

// GrowFilesystemInput is GrowFilesystem's input.
type GrowFilesystemInput struct {
	// SizeGB is the volume's new size in GiB.
	SizeGB int `json:"size_gb"`
}

// VolumeUsage is the data volume as the guest sees it.
type VolumeUsage struct {
	// SizeGB is the filesystem's size in GiB.
	SizeGB int `json:"size_gb"`
	// UsedGB is what the data takes, in GiB (fractional).
	UsedGB float64 `json:"used_gb"`
}

// Prepare runs PrepareActivity.
func (c Client) Prepare(ctx workflow.Context, in PrepareInput) error {
	return c.call(ctx, PrepareActivity, nil, in)
}

// Health runs HealthActivity.
func (c Client) Health(ctx workflow.Context) (HealthReport, error) {
	var r HealthReport
	err := c.call(ctx, HealthActivity, &r)
	return r, err
}

// StopEngine runs StopEngineActivity.
func (c Client) StopEngine(ctx workflow.Context) error {
	return c.call(ctx, StopEngineActivity, nil)
}

// StartEngine runs StartEngineActivity.
func (c Client) StartEngine(ctx workflow.Context) error {
	return c.call(ctx, StartEngineActivity, nil)
}

// RestartEngine runs RestartEngineActivity.
func (c Client) RestartEngine(ctx workflow.Context) error {
	return c.call(ctx, RestartEngineActivity, nil)
}

// GrowFilesystem runs GrowFilesystemActivity.
func (c Client) GrowFilesystem(ctx workflow.Context, in GrowFilesystemInput) (VolumeUsage, error) {
	var u VolumeUsage
	err := c.call(ctx, GrowFilesystemActivity, &u, in)
	return u, err
}

// VolumeUsage runs VolumeUsageActivity.
func (c Client) VolumeUsage(ctx workflow.Context) (VolumeUsage, error) {
	var u VolumeUsage
	err := c.call(ctx, VolumeUsageActivity, &u)
	return u, err
}
