package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/coffer-dbaas/coffer/activities"
	"github.com/coffer-dbaas/coffer/guest"
)

// GuestLogInput is a publish or a discard of one of an instance's logs (Trove's guest log
// API).
type GuestLogInput struct {
	InstanceID string `json:"instance_id"`
	ProjectID  string `json:"project_id"`
	Datastore  string `json:"datastore"`
	Log        string `json:"log"`
	// Discard deletes what was published; false publishes what is new.
	Discard bool `json:"discard,omitempty"`
}

// GuestLogWorkflowID is the ID of one publish or discard of a log: request is unique per
// API request.
func GuestLogWorkflowID(instanceID, log, request string) string {
	return "instance/" + instanceID + "/log/" + log + "/" + request
}

// guestLogTimeout bounds the guest's part of a publish: picking it up, and the upload.
const guestLogTimeout = 2 * QuickGuestTimeout

// GuestLog publishes one of an instance's logs into Swift, or discards what was published,
// and returns the log as the guest then sees it. Its steps:
//
//   - publish: sign a temp URL for one new object under the log's prefix in
//     activities.LogContainer (the guest gets no credential), then the guest streams what
//     the log holds beyond what it published before into that object;
//   - discard: delete the log's objects with the control plane's credentials, then the
//     guest forgets how much it published.
//
// A failure fails the workflow with the guest's or the cloud's error; it touches neither the
// instance's task nor its record, as the API waits for it and reports the error itself.
func GuestLog(ctx workflow.Context, in GuestLogInput) (guest.LogInfo, error) {
	op := "log publish"
	if in.Discard {
		op = "log discard"
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx,
		InstanceIDAttr.ValueSet(in.InstanceID), ProjectIDAttr.ValueSet(in.ProjectID), OperationAttr.ValueSet(op),
	); err != nil {
		return guest.LogInfo{}, fmt.Errorf("%s on instance %s: set search attributes: %w", op, in.InstanceID, err)
	}
	prefix := activities.LogPrefix(in.InstanceID, in.Datastore, in.Log)
	g := guest.For(in.InstanceID).With(guest.Quick().PickUpWithin(guestLogTimeout).FinishWithin(guestLogTimeout))
	var info guest.LogInfo
	var err error
	if in.Discard {
		if err = workflow.ExecuteActivity(callOptions(ctx), acts.DeleteLogObjects, prefix).Get(ctx, nil); err == nil {
			info, err = g.DiscardLog(ctx, guest.LogRef{Name: in.Log})
		}
	} else {
		// Each publish its own object, named for when it was made, as Trove's are.
		object := prefix + "log-" + workflow.Now(ctx).UTC().Format("2006-01-02T15:04:05.000000")
		var access guest.SwiftAccess
		err = workflow.ExecuteActivity(callOptions(ctx), acts.GetLogAccess, activities.LogAccessInput{
			Object: object, Lifetime: 3 * guestLogTimeout,
		}).Get(ctx, &access)
		if err == nil {
			info, err = g.PublishLog(ctx, guest.PublishLogInput{Name: in.Log, Swift: access, Container: activities.LogContainer, Object: object})
		}
	}
	if err != nil {
		return guest.LogInfo{}, fmt.Errorf("%s %s on instance %s: %w", op, in.Log, in.InstanceID, err)
	}
	return info, nil
}
