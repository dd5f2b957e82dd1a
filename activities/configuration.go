package activities

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// InstanceConfiguration is what the instance's configuration group asks of its engine.
type InstanceConfiguration struct {
	// Values are the group's values, rendered as the engine reads them; none when the
	// instance has no group.
	Values map[string]string `json:"values"`
}

// String names the settings, not their values.
func (c InstanceConfiguration) String() string {
	names := make([]string, 0, len(c.Values))
	for name := range c.Values {
		names = append(names, name)
	}
	slices.Sort(names)
	return "configuration " + strings.Join(names, ", ")
}

// GetInstanceConfiguration reads the values of the instance's configuration group as they
// are now, rendered for its engine.
func (a *Activities) GetInstanceConfiguration(ctx context.Context, instanceID string) (InstanceConfiguration, error) {
	values, params, err := a.Catalog.InstanceValues(ctx, instanceID)
	if err != nil {
		return InstanceConfiguration{}, catalogError(err, "read the configuration of instance "+instanceID)
	}
	out := InstanceConfiguration{Values: map[string]string{}}
	for _, p := range params {
		out.Values[p.Name] = p.Render(values[p.Name])
	}
	return out, nil
}

// SetRestartRequiredInput is SetRestartRequired's input.
type SetRestartRequiredInput struct {
	InstanceID string `json:"instance_id"`
	Required   bool   `json:"required"`
}

// SetRestartRequired records whether the instance's engine waits for a restart to take a
// change of its configuration (the instance shows RESTART_REQUIRED while it does).
func (a *Activities) SetRestartRequired(ctx context.Context, in SetRestartRequiredInput) error {
	err := a.Catalog.SetRestartRequired(ctx, in.InstanceID, in.Required)
	return catalogError(err, fmt.Sprintf("record restart required %t on instance %s", in.Required, in.InstanceID))
}
