package workflows

import (
	"encoding/json"
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/coffer-dbaas/coffer/guest"
)

// QuickGuestTimeout bounds a quick guest call (a list, the root check): the guest must pick
// it up and answer within it, as Trove's agent_call_low_timeout.
const QuickGuestTimeout = guest.QuickTimeout

// GuestChangeTimeout bounds each attempt of a slower change (create a database, grant, ...)
// once the guest picked it up, and how long the guest may take to pick it up.
const GuestChangeTimeout = guest.ChangeTimeout

// GuestCallWorkflowID is the ID of one call to an instance's guest: operation names what it
// does ("databases/create"), request is unique per API request.
func GuestCallWorkflowID(instanceID, operation, request string) string {
	return "instance/" + instanceID + "/guest/" + operation + "/" + request
}

// GuestCallInput is one guest activity to run: Activity is a name of the guest contract
// (guest.Activities). Input is the activity's argument as JSON (a guest input type), none
// when empty; it may hold passwords, which the payload codec
// encrypts like any other payload.
type GuestCallInput struct {
	InstanceID string          `json:"instance_id"`
	ProjectID  string          `json:"project_id"`
	Activity   string          `json:"activity"`
	Input      json.RawMessage `json:"input,omitempty"`
	// ScheduleToStart bounds how long the guest may take to pick the call up, StartToClose
	// how long each attempt may run; zero is QuickGuestTimeout.
	ScheduleToStart time.Duration `json:"schedule_to_start,omitempty"`
	StartToClose    time.Duration `json:"start_to_close,omitempty"`
	// Attempts is how often the call is tried; zero is once. Invalid requests, missing and
	// existing names are never tried again.
	Attempts int32 `json:"attempts,omitempty"`
}

// GuestCall runs one activity of an instance's guest agent on guestagent.<id> and returns
// its result as JSON. The API runs it in two ways:
//
//   - a quick call (lists, root check, root enable) waits for the result, bounded by
//     QuickGuestTimeout to be picked up and to answer, and one attempt: a guest that does
//     not answer fails the call with a schedule-to-start timeout, which the API reports;
//   - a slower change (create databases or users, grant, revoke, delete, password changes)
//     is started and not awaited (Trove answers 202), with GuestChangeTimeout bounds and a
//     few attempts.
//
// Its one step is the activity, through guest.Client.Call (a name outside the contract
// fails at once, as guest.ErrInvalid); a failure fails the workflow with the guest's error.
// It changes nothing in the catalog.
func GuestCall(ctx workflow.Context, in GuestCallInput) (json.RawMessage, error) {
	if err := workflow.UpsertTypedSearchAttributes(ctx,
		InstanceIDAttr.ValueSet(in.InstanceID),
		ProjectIDAttr.ValueSet(in.ProjectID),
		OperationAttr.ValueSet("guest "+in.Activity),
	); err != nil {
		return nil, fmt.Errorf("guest call %s on instance %s: set search attributes: %w", in.Activity, in.InstanceID, err)
	}
	g := guest.For(in.InstanceID).With(guest.Quick().
		PickUpWithin(orDefault(in.ScheduleToStart, QuickGuestTimeout)).
		FinishWithin(orDefault(in.StartToClose, QuickGuestTimeout)).
		Tries(in.Attempts))
	return g.Call(ctx, in.Activity, in.Input)
}
