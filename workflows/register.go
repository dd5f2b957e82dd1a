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
