package activities

import (
	"context"
	"fmt"
	"slices"
	"strconv"
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
// are now, rendered for its engine. A replica's are raised to its primary's values of the
// settings a hot standby needs at least as high (HotStandbySettings), so that a primary's
// group that raises one reaches its replicas before the primary restarts with it.
func (a *Activities) GetInstanceConfiguration(ctx context.Context, instanceID string) (InstanceConfiguration, error) {
	out, err := a.groupValues(ctx, instanceID)
	if err != nil {
		return InstanceConfiguration{}, err
	}
	reps, err := a.Catalog.Replications(ctx, []string{instanceID})
	if err != nil {
		return InstanceConfiguration{}, catalogError(err, "read the replication of instance "+instanceID)
	}
	primaryID := reps[instanceID].ReplicaOf
	if primaryID == "" {
		return out, nil
	}
	primary, err := a.groupValues(ctx, primaryID)
	if err != nil {
		return InstanceConfiguration{}, err
	}
	for _, name := range HotStandbySettings() {
		least, err := strconv.ParseFloat(primary.Values[name], 64)
		if err != nil {
			continue // the primary's group does not set it: the guest raises it to the primary's own
		}
		if own, err := strconv.ParseFloat(out.Values[name], 64); err == nil && own >= least {
			continue
		}
		out.Values[name] = primary.Values[name]
	}
	return out, nil
}

// HotStandbySettings are the PostgreSQL settings a hot standby must have at least as high as
// its primary: with less it does not start, and pauses its replay when the primary raises one.
func HotStandbySettings() []string {
	return []string{"max_connections", "max_locks_per_transaction", "max_prepared_transactions",
		"max_wal_senders", "max_worker_processes"}
}

// groupValues are the values of the instance's own configuration group.
func (a *Activities) groupValues(ctx context.Context, instanceID string) (InstanceConfiguration, error) {
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
