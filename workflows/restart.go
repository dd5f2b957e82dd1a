package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/activities"
	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/guest"
)

// Step names of RestartInstance and StopInstance.
const (
	StepRestartEngine = "restart engine"
	StepWaitHealthy   = "wait for healthy engine"
	StepRebootServer  = "reboot server"
	StepFinish        = "finish"
	StepRecordStopped = "record stopped"
)

// RestartInstance restarts an instance. Its first step, for both kinds:
//
//  0. claim task: task REBOOTING, the workflow's first step (claim.go); when another
//     operation holds the instance, or the claim window passed, the workflow ends at once
//     and changes nothing.
//
// A tenant's restart (Trove's restart) then restarts the engine only:
//
//  1. restart engine: RestartEngine on the guest queue (stop, then start with the current
//     flavor's configuration).
//  2. wait for healthy engine: Health until HEALTHY (at most 5 minutes).
//  3. finish: no restart required any more (the engine took its configuration group's
//     values), service HEALTHY, task NONE; the instance shows ACTIVE.
//
// An operator's reboot (mgmt reboot) reboots the server instead:
//
//  1. stop engine: StopEngine, a courtesy; a dead guest does not hold the reboot up.
//  2. reboot server: Nova's soft reboot (a SHUTOFF server is started), then wait for ACTIVE.
//  3. wait for healthy engine: the agent starts the engine as its server boots.
//  4. finish.
//
// A step that fails with an error a retry may mend is parked for an operator (retry, skip,
// abort; see parking). A step that fails otherwise, or is aborted, records a fault on the
// instance (task ERROR) and fails the workflow; there is nothing to undo.
func RestartInstance(ctx workflow.Context, in RestartInstanceInput) error {
	op := operation{name: "restart", instanceID: in.InstanceID, projectID: in.ProjectID, task: coffer.TaskRebooting, timeouts: in.Timeouts}
	if in.Reboot {
		op.name = "reboot"
	}
	return op.run(ctx, func(t *tracker, p *parking, _ *undo) error {
		id := in.InstanceID
		if !in.Reboot {
			err := p.step(ctx, StepRestartEngine, func() error {
				return guest.For(id).RestartEngine(ctx)
			})
			if err != nil {
				return err
			}
		} else {
			stopEngineQuietly(ctx, t, id)
			var r catalog.Resources
			err := p.step(ctx, StepReadCatalog, func() error {
				return workflow.ExecuteActivity(callOptions(ctx), acts.GetInstanceResources, activities.GetInstanceInput{InstanceID: id}).Get(ctx, &r)
			})
			if err != nil {
				return err
			}
			server := activities.ResourceRef{InstanceID: id, ID: r.ServerID}
			err = p.step(ctx, StepRebootServer, func() error {
				if err := workflow.ExecuteActivity(callOptions(ctx), acts.RebootServer, server).Get(ctx, nil); err != nil {
					return err
				}
				return workflow.ExecuteActivity(waitOptions(ctx, DefaultServerActiveTimeout), acts.WaitServerStatus,
					activities.WaitServerStatusInput{Server: server, Status: "ACTIVE"}).Get(ctx, nil)
			})
			if err != nil {
				return err
			}
		}
		err := p.step(ctx, StepWaitHealthy, func() error {
			return waitHealthy(ctx, id, orDefault(in.Timeouts.GuestStart, HealthyTimeout))
		})
		if err != nil {
			return err
		}
		return p.step(ctx, StepFinish, func() error {
			// The engine started again with its configuration group's values: none waits.
			err := workflow.ExecuteActivity(callOptions(ctx), acts.SetRestartRequired,
				activities.SetRestartRequiredInput{InstanceID: id}).Get(ctx, nil)
			if err != nil {
				return err
			}
			return workflow.ExecuteActivity(callOptions(ctx), acts.FinishTask, activities.FinishTaskInput{InstanceID: id}).Get(ctx, nil)
		})
	})
}

// StopInstance stops an instance's engine for an operator (Trove's mgmt stop); it holds no
// task, the server keeps running and the instance shows operating_status SHUTDOWN until a
// restart:
//
//  1. stop engine: StopEngine on the guest queue.
//  2. record stopped: service SHUTDOWN.
//
// A failure is noted as the instance's fault, without changing its task.
func StopInstance(ctx workflow.Context, in StopInstanceInput) error {
	op := operation{name: "stop", instanceID: in.InstanceID, projectID: in.ProjectID, noteFault: true}
	return op.run(ctx, func(t *tracker, _ *parking, _ *undo) error {
		err := t.step(StepStopEngine, func() error {
			return guest.For(in.InstanceID).StopEngine(ctx)
		})
		if err != nil {
			return err
		}
		return t.step(StepRecordStopped, func() error {
			return workflow.ExecuteActivity(callOptions(ctx), acts.SetServiceStatus,
				activities.SetServiceStatusInput{InstanceID: in.InstanceID, Status: coffer.ServiceShutdown}).Get(ctx, nil)
		})
	})
}

// stopEngineQuietly asks the guest to stop its engine, and goes on whatever the answer: a
// clean stop is a courtesy before the server goes down.
func stopEngineQuietly(ctx workflow.Context, t *tracker, instanceID string) {
	_ = t.step(StepStopEngine, func() error {
		err := guest.For(instanceID).With(guest.Change().PickUpWithin(StopEngineScheduleTimeout)).StopEngine(ctx)
		if err != nil {
			workflow.GetLogger(ctx).Warn("the guest agent did not stop the engine; going on", "instance_id", instanceID, "reason", reason(err))
		}
		return nil
	})
}
