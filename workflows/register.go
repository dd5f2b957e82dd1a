package workflows

import "go.temporal.io/sdk/worker"

// Register registers every workflow of this package on a worker of ControlTaskQueue. The
// worker must also register the control-plane activities: w.RegisterActivity(acts) with an
// *activities.Activities.
func Register(w worker.Registry) {
	w.RegisterWorkflow(CreateInstance)
	w.RegisterWorkflow(PromoteReplica)
	w.RegisterWorkflow(EjectReplicaSource)
	w.RegisterWorkflow(DetachReplica)
	w.RegisterWorkflow(FenceInstance)
	w.RegisterWorkflow(DeleteInstance)
	w.RegisterWorkflow(RestartInstance)
	w.RegisterWorkflow(StopInstance)
	w.RegisterWorkflow(ResizeFlavor)
	w.RegisterWorkflow(ResizeVolume)
	w.RegisterWorkflow(UpdateAccess)
	w.RegisterWorkflow(RebuildInstance)
	w.RegisterWorkflow(MonitorInstance)
	w.RegisterWorkflow(GuestSilent)
	w.RegisterWorkflow(GuestCall)
	w.RegisterWorkflow(GuestLog)
	w.RegisterWorkflow(BackupInstance)
	w.RegisterWorkflow(DeleteBackup)
	w.RegisterWorkflow(ScheduledBackup)
	w.RegisterWorkflow(ApplyConfiguration)
}

// WorkerOptions are the options of a worker of ControlTaskQueue. The SDK's default of two
// pollers of each kind let twenty creates started at once queue their first workflow task
// for up to 19 s on a loaded 2-core machine (each task's round trip to Temporal took about
// 0.4 s there), past the claim's window (ClaimWindow), so that creates were refused; more
// pollers take the tasks of many operations at once. An idle poll costs Temporal no action.
func WorkerOptions() worker.Options {
	return worker.Options{
		MaxConcurrentWorkflowTaskPollers: controlPollers,
		MaxConcurrentActivityTaskPollers: controlPollers,
	}
}

// controlPollers is how many workflow and activity task polls a control worker holds each.
const controlPollers = 10
