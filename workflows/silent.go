package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/coffer-dbaas/coffer/activities"
)

// SilentWorkflowID is the ID of the workflow a guest's silence starts: one per silence,
// and never two at once.
func SilentWorkflowID(instanceID string) string { return "instance/" + instanceID + "/silent" }

// GuestSilentInput is what GuestSilent needs: the silence as the sweep noted it.
type GuestSilentInput struct {
	InstanceID   string `json:"instance_id"`
	ProjectID    string `json:"project_id"`
	InstanceName string `json:"instance_name,omitempty"`
	// LastReport is when the guest last reported; NotedAt when the sweep noted its silence
	// (it names the silence in the catalog).
	LastReport time.Time `json:"last_report"`
	NotedAt    time.Time `json:"noted_at"`
	// Expiry is guest.heartbeat_expiry, how old a report may be.
	Expiry time.Duration `json:"expiry"`
}

// StepNoteSilence is GuestSilent's one step.
const StepNoteSilence = "note silence"

// GuestSilent is what happens, once, when an instance's guest stops reporting its health
// (the sweep, SilenceSweeper, starts it; the API shows operating_status ERROR by itself
// from the age of the last report). It
//
//  1. shows the silence as the instance's fault (NoteSilence), unless the guest reported
//     again meanwhile: then it ends with nothing to say;
//  2. sets CofferNeedsAttention to "true", so that an operator's list of what needs
//     attention (CofferNeedsAttention = 'true') finds the run, and logs the silence as
//     an error, for alerting;
//  3. ends. Nothing waits: the guest's next report clears the fault and the sweep's note,
//     and a later silence starts a new run of the same ID.
//
// A failure of the catalog after its retries fails the run; the sweep does not start it
// again for the same silence (the instance still shows ERROR in the API).
func GuestSilent(ctx workflow.Context, in GuestSilentInput) (err error) {
	const operation = "silent"
	started := workflow.Now(ctx)
	defer func() { recordOutcome(ctx, operation, started, outcomeOf(ctx, err)) }()
	if err := setSearchAttributes(ctx, in.InstanceID, in.ProjectID, operation); err != nil {
		return err
	}
	t, err := track(ctx, operation)
	if err != nil {
		return fmt.Errorf("silent guest of instance %s: %w", in.InstanceID, err)
	}
	log := workflow.GetLogger(ctx)
	var silent bool
	err = t.step(StepNoteSilence, func() error {
		return workflow.ExecuteActivity(callOptions(ctx), acts.NoteSilence, activities.NoteSilenceInput{
			InstanceID: in.InstanceID, NotedAt: in.NotedAt, LastReport: in.LastReport, Expiry: in.Expiry,
		}).Get(ctx, &silent)
	})
	t.idle()
	if err != nil {
		t.failed(err.Error())
		return fmt.Errorf("silent guest of instance %s: %w", in.InstanceID, err)
	}
	if !silent {
		log.Info("the guest reported again before its silence was noted", "instance_id", in.InstanceID)
		return nil
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, NeedsAttentionAttr.ValueSet("true")); err != nil {
		return fmt.Errorf("silent guest of instance %s: set search attribute: %w", in.InstanceID, err)
	}
	log.Error("guest silent: no health report within the expiry; needs an operator",
		"instance_id", in.InstanceID, "project_id", in.ProjectID, "last_report", in.LastReport, "expiry", in.Expiry)
	return nil
}
