package workflows

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/coffer-dbaas/coffer/activities"
	"github.com/coffer-dbaas/coffer/guest"
)

// ApplyConfigurationInput is what ApplyConfiguration needs.
type ApplyConfigurationInput struct {
	// ConfigurationID is the group whose change is applied; empty when one instance's
	// group was attached or detached.
	ConfigurationID string `json:"configuration_id,omitempty"`
	ProjectID       string `json:"project_id"`
	// InstanceIDs are the instances to apply their group's values to.
	InstanceIDs []string `json:"instance_ids"`
	// Replicas are the replicas of those instances, applied to first: each runs with at
	// least its primary's values of the settings a hot standby needs at least as high
	// (activities.GetInstanceConfiguration), so it must have them before its primary
	// restarts with them.
	Replicas []string `json:"replicas,omitempty"`
	// Timeouts.Park bounds how long a failed step waits for an operator; the rest is unused.
	Timeouts Timeouts `json:"timeouts"`
}

// ConfigurationWorkflowID is the ID of one application of a group's change
// (configuration/<id>/apply/<request>), or of an instance's attach or detach
// (instance/<id>/configuration/<request>); request is unique per API request.
func ConfigurationWorkflowID(in ApplyConfigurationInput, request string) string {
	if in.ConfigurationID != "" {
		return "configuration/" + in.ConfigurationID + "/apply/" + request
	}
	return "instance/" + strings.Join(in.InstanceIDs, ",") + "/configuration/" + request
}

// StepApplyTo is the step that applies the configuration to one instance.
func StepApplyTo(instanceID string) string { return "apply to instance " + instanceID }

// maxApplyRounds bounds how often one step applies its instance's group again because it
// changed meanwhile.
const maxApplyRounds = 5

// ApplyConfiguration applies the current values of their configuration groups to
// instances (a group's change to every instance that has it, or one instance's attach or
// detach), and to their replicas first. It holds no task: the instances stay usable. One
// step per instance:
//
//	apply to instance <id>: read the instance's group values from the catalog, send them to
//	its guest (ApplyConfiguration: kept for every start, dynamic settings reloaded at
//	once), read them again and repeat while they changed meanwhile (so that of two changes
//	applied side by side, the later one wins), then record whether the engine waits for a
//	restart (the instance shows RESTART_REQUIRED until a restart).
//
// A step that fails with an error a retry may mend (the guest does not answer) is parked
// for an operator (retry, skip, abort). A step that fails otherwise, or is aborted, notes
// the fault on its instance, leaves its task alone, and the workflow goes on with the next
// instance; it fails at the end, naming the instances it could not change. An instance
// deleted meanwhile is passed over.
func ApplyConfiguration(ctx workflow.Context, in ApplyConfigurationInput) error {
	op := operation{name: "apply configuration", projectID: in.ProjectID, timeouts: in.Timeouts,
		subject: "configuration " + in.ConfigurationID,
		// Each instance's failure was noted on it by its step.
		fault: func(workflow.Context, error, []string) error { return nil },
	}
	if in.ConfigurationID == "" && len(in.InstanceIDs) == 1 {
		op.instanceID, op.subject = in.InstanceIDs[0], ""
	}
	return op.run(ctx, func(t *tracker, _ *parking, _ *undo) error {
		var failed []error
		for _, id := range append(slices.Clone(in.Replicas), in.InstanceIDs...) {
			p := newParking(ctx, t, op.name, id, in.Timeouts.Park)
			err := p.step(ctx, StepApplyTo(id), func() error { return applyToInstance(ctx, id) })
			if err == nil || isNotInCatalog(err) {
				continue
			}
			failed = append(failed, fmt.Errorf("instance %s: %w", id, err))
			dctx, _ := workflow.NewDisconnectedContext(ctx)
			if nerr := workflow.ExecuteActivity(callOptions(dctx), acts.NoteFault, activities.NoteFaultInput{
				InstanceID: id, Message: faultMessage(op.name, err), Details: err.Error(),
			}).Get(dctx, nil); nerr != nil {
				workflow.GetLogger(ctx).Error("note fault", "instance_id", id, "error", nerr)
			}
		}
		return errors.Join(failed...)
	})
}

// applyToInstance is ApplyConfiguration's step for one instance.
func applyToInstance(ctx workflow.Context, instanceID string) error {
	var want activities.InstanceConfiguration
	if err := workflow.ExecuteActivity(callOptions(ctx), acts.GetInstanceConfiguration, instanceID).Get(ctx, &want); err != nil {
		return err
	}
	var result guest.ConfigurationResult
	for round := 1; ; round++ {
		r, err := guest.For(instanceID).ApplyConfiguration(ctx, guest.ConfigurationInput{Values: want.Values})
		if err != nil {
			return err
		}
		result = r
		var now activities.InstanceConfiguration
		if err := workflow.ExecuteActivity(callOptions(ctx), acts.GetInstanceConfiguration, instanceID).Get(ctx, &now); err != nil {
			return err
		}
		if maps.Equal(now.Values, want.Values) || round == maxApplyRounds {
			break
		}
		want = now
	}
	return workflow.ExecuteActivity(callOptions(ctx), acts.SetRestartRequired, activities.SetRestartRequiredInput{
		InstanceID: instanceID, Required: len(result.PendingRestart) > 0,
	}).Get(ctx, nil)
}

// isNotInCatalog reports whether err says the instance is gone from the catalog.
func isNotInCatalog(err error) bool {
	var app *temporal.ApplicationError
	return errors.As(err, &app) && app.Type() == activities.ErrorTypeNotInCatalog
}
