package guest

import "go.temporal.io/sdk/workflow"

// Configuration groups: the values of the instance's group, which the guest keeps and
// applies at every start, over the settings it sizes from the flavor.
const (
	// ApplyConfigurationActivity sets the values of the instance's configuration group
	// (ConfigurationInput), replacing the ones set before (none: back to the engine's and
	// the flavor's defaults). The guest keeps them for every later start, where they win
	// over the settings it sizes from the flavor, and applies at once what the engine
	// takes without a restart (PostgreSQL: a reload). It reports the changed settings that
	// wait for the engine's next start (ConfigurationResult). A value the engine refuses
	// is an ErrInvalid, and then nothing changes. Idempotent.
	ApplyConfigurationActivity = "ApplyConfiguration"
	// ConfigurationActivity reports the settings the engine runs with that Coffer set: the
	// ones sized from the flavor and the group's values, as the engine shows them.
	ConfigurationActivity = "Configuration"
)

// ConfigurationInput is ApplyConfiguration's input: every value of the instance's group,
// each rendered as the engine reads it in its configuration file ("8192", "on", "0.5").
type ConfigurationInput struct {
	Values map[string]string `json:"values"`
}

// ConfigurationResult is ApplyConfiguration's result.
type ConfigurationResult struct {
	// PendingRestart are the settings whose new value the engine takes only at its next
	// start, sorted; none when every change took effect.
	PendingRestart []string `json:"pending_restart,omitempty"`
}

// ApplyConfiguration runs ApplyConfigurationActivity.
func (c Client) ApplyConfiguration(ctx workflow.Context, in ConfigurationInput) (ConfigurationResult, error) {
	var r ConfigurationResult
	err := c.call(ctx, ApplyConfigurationActivity, &r, in)
	return r, err
}

// Configuration runs ConfigurationActivity.
func (c Client) Configuration(ctx workflow.Context) (map[string]string, error) {
	var m map[string]string
	err := c.call(ctx, ConfigurationActivity, &m)
	return m, err
}
