package guestagent

import (
	"context"
	"maps"
	"slices"

	"github.com/coffer-dbaas/coffer/guest"
)

// configurationActivities are the configuration group's activities.
func (a *activities) configurationActivities() map[string]any {
	return map[string]any{
		guest.ApplyConfigurationActivity: a.ApplyConfiguration,
		guest.ConfigurationActivity:      a.Configuration,
	}
}

// ApplyConfiguration sets the group's values; see guest.ApplyConfigurationActivity. It logs
// the names it sets, not the values: a value may be anything a tenant typed.
func (a *activities) ApplyConfiguration(ctx context.Context, in guest.ConfigurationInput) (guest.ConfigurationResult, error) {
	a.logger(ctx).Info("applying the configuration group", "settings", slices.Sorted(maps.Keys(in.Values)))
	pending, err := a.driver.ApplyConfiguration(ctx, in.Values)
	if err != nil {
		return guest.ConfigurationResult{}, a.fail(ctx, guest.ApplyConfigurationActivity, err)
	}
	if len(pending) > 0 {
		a.logger(ctx).Info("settings wait for a restart", "settings", pending)
	}
	return guest.ConfigurationResult{PendingRestart: pending}, nil
}

// Configuration reports the settings Coffer set; see guest.ConfigurationActivity.
func (a *activities) Configuration(ctx context.Context) (map[string]string, error) {
	m, err := a.driver.Configuration(ctx)
	if err != nil {
		return nil, a.fail(ctx, guest.ConfigurationActivity, err)
	}
	return m, nil
}
