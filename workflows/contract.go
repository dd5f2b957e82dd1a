package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/activities"
)

// ControlTaskQueue is where `coffer worker` polls for workflows and control-plane activities.
const ControlTaskQueue = "coffer-control"

// Workflow IDs derive from the resource, so that a retried request never starts an
// operation twice.
func CreateWorkflowID(instanceID string) string { return "instance/" + instanceID + "/create" }

// DeleteWorkflowID is the ID of an instance's delete workflow.
func DeleteWorkflowID(instanceID string) string { return "instance/" + instanceID + "/delete" }

// RestartWorkflowID is the ID of an instance's restart (engine restart or server reboot).
func RestartWorkflowID(instanceID string) string { return "instance/" + instanceID + "/restart" }

// ResizeWorkflowID is the ID of an instance's flavor or volume resize: one at a time.
func ResizeWorkflowID(instanceID string) string { return "instance/" + instanceID + "/resize" }

// StopWorkflowID is the ID of an operator's stop of an instance's engine.
func StopWorkflowID(instanceID string) string { return "instance/" + instanceID + "/stop" }

// AccessWorkflowID is the ID of a change of an instance's access.
func AccessWorkflowID(instanceID string) string { return "instance/" + instanceID + "/access" }

// UpgradeWorkflowID is the ID of an instance's datastore upgrade.
func UpgradeWorkflowID(instanceID string) string { return "instance/" + instanceID + "/upgrade" }

// RebuildWorkflowID is the ID of an admin's rebuild of an instance onto a new image.
func RebuildWorkflowID(instanceID string) string { return "instance/" + instanceID + "/rebuild" }

// MonitorWorkflowID is the ID of an instance's health monitor, which runs from the end of
// its create until it is deleted.
func MonitorWorkflowID(instanceID string) string { return "instance/" + instanceID + "/monitor" }

// Search attributes that let an operator list everything that touched one instance. The
// Starter sets them when it starts a workflow. coffer-dev registers them on its embedded
// server; on a Temporal cluster or Temporal Cloud an operator registers them once
// (`temporal operator search-attribute create`, all Keyword): `coffer migrate` migrates the
// catalog only.
var (
	InstanceIDAttr = temporal.NewSearchAttributeKeyKeyword("CofferInstanceID")
	ProjectIDAttr  = temporal.NewSearchAttributeKeyKeyword("CofferProjectID")
	OperationAttr  = temporal.NewSearchAttributeKeyKeyword("CofferOperation")
	// NeedsAttentionAttr is "true" while a step is parked waiting for an operator's retry,
	// skip or abort signal, else "false": filter with CofferNeedsAttention = 'true'.
	NeedsAttentionAttr = temporal.NewSearchAttributeKeyKeyword("CofferNeedsAttention")
)

// SearchAttributeNames lists the custom search attributes, all of type Keyword.
var SearchAttributeNames = []string{"CofferInstanceID", "CofferProjectID", "CofferOperation", "CofferNeedsAttention"}

// Signals an operator sends to a workflow whose step is parked (Progress.Parked is set),
// from the Web UI, `temporal workflow signal --name retry` or the admin API. A signal sent
// while no step is parked is ignored.
const (
	// RetrySignal runs the parked step again (the operator mended its cause).
	RetrySignal = "retry"
	// SkipSignal treats the parked step as done (the operator did its work by hand).
	SkipSignal = "skip"
	// AbortSignal gives up: the workflow compensates what it made and ends in ERROR.
	AbortSignal = "abort"
)

// ProgressQuery names the query every workflow answers with its Progress.
const ProgressQuery = "progress"

// Progress says which step of an operation runs and which are done.
type Progress struct {
	Operation string   `json:"operation"`
	Step      string   `json:"step"`
	Done      []string `json:"done"`
	Error     string   `json:"error,omitempty"`
	// Parked is set while a step waits for an operator's signal.
	Parked *Parked `json:"parked,omitempty"`
	// Started is when the operation's workflow began, by its clock.
	Started time.Time `json:"started"`
	// Timings says when each step ran, in the order they began: where the operation's time
	// goes. A step retried after parking appears once per attempt; work outside the plan
	// (claim task, clean up, record fault) appears too.
	Timings []StepTiming `json:"timings"`
}

// StepTiming is when one step ran, by the workflow's clock: from the workflow task that
// began it to the one that saw it end, so Temporal's task latency is inside it, as it is
// inside what a user waits for.
type StepTiming struct {
	Step    string    `json:"step"`
	Started time.Time `json:"started"`
	// Ended is zero while the step runs.
	Ended time.Time `json:"ended,omitzero"`
}

// Took is how long the step ran; zero while it runs.
func (s StepTiming) Took() time.Duration {
	if s.Ended.IsZero() {
		return 0
	}
	return s.Ended.Sub(s.Started)
}

// Parked is a step that failed after its retries and waits for a retry, skip or abort
// signal until Deadline, when the workflow aborts by itself.
type Parked struct {
	Step     string    `json:"step"`
	Error    string    `json:"error"`
	Since    time.Time `json:"since"`
	Deadline time.Time `json:"deadline"`
	// Attempts counts the times the step was parked (1 the first time).
	Attempts int `json:"attempts"`
}

// CreateInstanceInput is what CreateInstance needs. Users carry passwords: payloads are
// encrypted by the codec, so histories never hold them in plain text.
type CreateInstanceInput struct {
	InstanceID string `json:"instance_id"`
	ProjectID  string `json:"project_id"`
	Name       string `json:"name"`
	FlavorID   string `json:"flavor_id"`
	VolumeSize int    `json:"volume_size"`
	VolumeType string `json:"volume_type,omitempty"`
	Datastore  string `json:"datastore"`
	Version    string `json:"version"`
	ImageID    string `json:"image_id"`
	Port       int    `json:"port"` // the engine's TCP port, opened in the security group
	// AllowedCIDRs are the sources the port is opened to; none: 0.0.0.0/0.
	AllowedCIDRs []string          `json:"allowed_cidrs,omitempty"`
	Databases    []coffer.Database `json:"databases,omitempty"`
	Users        []coffer.User     `json:"users,omitempty"`
	Timeouts     Timeouts          `json:"timeouts"`
	// ConfigurationID is the instance's configuration group: the engine starts with its
	// values, read when the guest is prepared.
	ConfigurationID string `json:"configuration_id,omitempty"`

	// ImageTag is the Glance tag CreateInstance looks the image up by when ImageID is empty
	// (the datastore version's image_tag); empty means "coffer-<datastore>-<version>".
	ImageTag string `json:"image_tag,omitempty"`

	// Restore, when set, makes the instance from a backup: the guest restores it before
	// Prepare starts the engine.
	Restore *RestoreSource `json:"restore,omitempty"`
	// ReplicaOf makes the instance a replica of this primary: it copies the primary's data
	// and streams from it instead of preparing an engine of its own (replica_create.go).
	ReplicaOf string `json:"replica_of,omitempty"`

	// Record, when set, is the instance's record, which the workflow makes as its first
	// step (its claim: claim.go) within the project's quotas; unset, the record exists.
	Record *activities.RecordInstanceInput `json:"record,omitempty"`
}

// Timeouts bound the waits of a create; a zero field takes the workflow's default.
type Timeouts struct {
	// ServerActive bounds the wait for Nova to report the server ACTIVE.
	ServerActive time.Duration `json:"server_active,omitempty"`
	// GuestStart bounds how long the guest agent may take to poll its queue (the
	// schedule-to-start timeout of Prepare): a guest that never comes up fails clearly.
	GuestStart time.Duration `json:"guest_start,omitempty"`
	// GuestPrepare bounds Prepare once the guest has picked it up.
	GuestPrepare time.Duration `json:"guest_prepare,omitempty"`
	// Park bounds how long a step that failed after its retries waits for an operator's
	// signal before the workflow aborts by itself (default DefaultParkTimeout).
	Park time.Duration `json:"park,omitempty"`
	// HealthInterval is how often the instance's monitor asks the guest for its health
	// (default DefaultHealthInterval).
	HealthInterval time.Duration `json:"health_interval,omitempty"`
	// Claim is how long after its start the workflow may claim the instance's task
	// (default ClaimWindow); tests shorten it.
	Claim time.Duration `json:"claim,omitempty"`
}

// DeleteInstanceInput is what DeleteInstance needs.
type DeleteInstanceInput struct {
	InstanceID string `json:"instance_id"`
	ProjectID  string `json:"project_id"`
	// InstanceName names the instance in Temporal's Web UI and CLI (the run's summary).
	InstanceName string `json:"instance_name,omitempty"`
	// Timeouts.Park bounds how long a failed step waits for an operator; the rest is unused.
	Timeouts Timeouts `json:"timeouts"`
	// ReplicaOf is the primary of a replica being deleted: its slot there is dropped, so
	// that the primary stops keeping WAL for it.
	ReplicaOf string `json:"replica_of,omitempty"`
}

// RestartInstanceInput is what RestartInstance needs.
type RestartInstanceInput struct {
	InstanceID string `json:"instance_id"`
	ProjectID  string `json:"project_id"`
	// InstanceName names the instance in Temporal's Web UI and CLI (the run's summary).
	InstanceName string `json:"instance_name,omitempty"`
	// Reboot reboots the server (an operator's mgmt reboot) instead of restarting only the
	// engine (a tenant's restart).
	Reboot   bool     `json:"reboot,omitempty"`
	Timeouts Timeouts `json:"timeouts"`
}

// UpdateAccessInput is what UpdateAccess needs: the instance's security group and engine
// port, and its new access.
type UpdateAccessInput struct {
	InstanceID      string        `json:"instance_id"`
	ProjectID       string        `json:"project_id"`
	InstanceName    string        `json:"instance_name,omitempty"`
	SecurityGroupID string        `json:"security_group_id"`
	Port            int           `json:"port"`
	Access          coffer.Access `json:"access"`
	Timeouts        Timeouts      `json:"timeouts"`
}

// RebuildInstanceInput is what RebuildInstance needs: the image to rebuild the server on,
// and the datastore version the instance runs on it (a new one for an upgrade).
type RebuildInstanceInput struct {
	InstanceID   string `json:"instance_id"`
	ProjectID    string `json:"project_id"`
	InstanceName string `json:"instance_name,omitempty"`
	// Upgrade: a tenant's datastore upgrade (task UPGRADING); else an admin's rebuild
	// (task REBUILDING) that keeps the version.
	Upgrade    bool     `json:"upgrade,omitempty"`
	ImageID    string   `json:"image_id"`
	Datastore  string   `json:"datastore"`
	Version    string   `json:"version"`
	OldVersion string   `json:"old_version"`
	Timeouts   Timeouts `json:"timeouts"`
}

// ResizeFlavorInput is what ResizeFlavor needs.
type ResizeFlavorInput struct {
	InstanceID string `json:"instance_id"`
	ProjectID  string `json:"project_id"`
	// InstanceName names the instance in Temporal's Web UI and CLI (the run's summary).
	InstanceName string `json:"instance_name,omitempty"`
	// OldFlavorID is the flavor the instance has, kept on a failure; NewFlavorID the one it gets.
	OldFlavorID string   `json:"old_flavor_id"`
	NewFlavorID string   `json:"new_flavor_id"`
	Timeouts    Timeouts `json:"timeouts"`
	// Quota, when set, makes the claim respect the project's RAM quota (its RAMMB is the
	// new flavor's).
	Quota *activities.ResizeQuota `json:"quota,omitempty"`
}

// ResizeVolumeInput is what ResizeVolume needs.
type ResizeVolumeInput struct {
	InstanceID string `json:"instance_id"`
	ProjectID  string `json:"project_id"`
	// InstanceName names the instance in Temporal's Web UI and CLI (the run's summary).
	InstanceName string `json:"instance_name,omitempty"`
	// OldSize is the size in GiB before the resize, for the run's summary.
	OldSize int `json:"old_size,omitempty"`
	// NewSize is in GiB, larger than the volume's size.
	NewSize  int      `json:"new_size"`
	Timeouts Timeouts `json:"timeouts"`
	// Quota, when set, makes the claim respect the project's volume quota (its VolumeSize
	// is NewSize); a primary's replicas grow with it without.
	Quota *activities.ResizeQuota `json:"quota,omitempty"`
}

// StopInstanceInput is what StopInstance needs.
type StopInstanceInput struct {
	InstanceID string `json:"instance_id"`
	ProjectID  string `json:"project_id"`
	// InstanceName names the instance in Temporal's Web UI and CLI (the run's summary).
	InstanceName string `json:"instance_name,omitempty"`
}

// MonitorInstanceInput is what MonitorInstance needs.
type MonitorInstanceInput struct {
	InstanceID string `json:"instance_id"`
	ProjectID  string `json:"project_id"`
	// Interval is the time between two health probes (default DefaultHealthInterval).
	Interval time.Duration `json:"interval,omitempty"`
}

// BackupWorkflowID is the ID of a backup's workflow.
func BackupWorkflowID(backupID string) string { return "backup/" + backupID }

// DeleteBackupWorkflowID is the ID of a backup's delete.
func DeleteBackupWorkflowID(backupID string) string { return "backup/" + backupID + "/delete" }

// BackupScheduleID is the ID of the Temporal Schedule behind a backup schedule.
func BackupScheduleID(instanceID, scheduleID string) string {
	return "backup-schedule/" + instanceID + "/" + scheduleID
}

// BackupInstanceInput is what BackupInstance needs: a backup it records as its first step
// (Record), or one the catalog holds as NEW already (a scheduled backup's).
type BackupInstanceInput struct {
	BackupID   string `json:"backup_id"`
	InstanceID string `json:"instance_id"`
	ProjectID  string `json:"project_id"`
	// InstanceName names the instance in Temporal's Web UI and CLI (the run's summary).
	InstanceName string `json:"instance_name,omitempty"`
	// Record is the record the backup makes as its first step, its claim of the instance
	// (claimBackup); nil when the record exists.
	Record *activities.CreateBackupRecordInput `json:"record,omitempty"`
	// Claim is how long after its start the workflow may record the backup (default
	// ClaimWindow).
	Claim time.Duration `json:"claim,omitempty"`
	// HeartbeatTimeout is how long the guest may go silent before its attempt counts as
	// lost (default DefaultBackupHeartbeatTimeout).
	HeartbeatTimeout time.Duration `json:"heartbeat_timeout,omitempty"`
	// GuestStart bounds how long each attempt waits for the guest to pick it up (default
	// DefaultBackupGuestStartTimeout).
	GuestStart time.Duration `json:"guest_start,omitempty"`
}

// BackupProgress is what a backup's progress query answers: the step, and the raw bytes
// read from the engine and stored in Swift so far.
type BackupProgress struct {
	Progress
	BytesDone   int64 `json:"bytes_done"`
	BytesStored int64 `json:"bytes_stored"`
}

// DeleteBackupInput is what DeleteBackup needs.
type DeleteBackupInput struct {
	BackupID  string `json:"backup_id"`
	ProjectID string `json:"project_id"`
}

// ScheduledBackupInput is what ScheduledBackup, the action of a backup schedule, needs.
type ScheduledBackupInput struct {
	ScheduleID string `json:"schedule_id"`
	InstanceID string `json:"instance_id"`
	ProjectID  string `json:"project_id"`
	// Keep is how many of the schedule's COMPLETED backups stay; older ones are deleted.
	Keep int `json:"keep"`
}

// RestoreSource is the backup a new instance is made from: where it is and what is needed
// to verify and decrypt it.
type RestoreSource struct {
	BackupID   string `json:"backup_id"`
	Container  string `json:"container"`
	Object     string `json:"object"`
	WrappedKey string `json:"wrapped_key"`
	SHA256     string `json:"sha256"`
}

// Workflow IDs of the replication operations; the fence of an ejected primary waits for its
// guest to come back, so it has an ID of its own.
func PromoteWorkflowID(instanceID string) string { return "instance/" + instanceID + "/promote" }

// EjectWorkflowID is the ID of the failover away from a dead primary.
func EjectWorkflowID(instanceID string) string { return "instance/" + instanceID + "/eject" }

// DetachWorkflowID is the ID of a replica's detach.
func DetachWorkflowID(instanceID string) string { return "instance/" + instanceID + "/detach" }

// FenceWorkflowID is the ID of the fence of an ejected primary.
func FenceWorkflowID(instanceID string) string { return "instance/" + instanceID + "/fence" }

// ReplicationInput is what PromoteReplica (InstanceID: the replica to promote),
// EjectReplicaSource (the dead primary), DetachReplica (the replica) and FenceInstance (the
// ejected primary) need.
type ReplicationInput struct {
	InstanceID string `json:"instance_id"`
	ProjectID  string `json:"project_id"`
	// InstanceName names the instance in Temporal's Web UI and CLI (the run's summary).
	InstanceName string `json:"instance_name,omitempty"`
	// Tasks are what a replication operation claims as its first step: the task of each
	// member of the group, by instance ID, as the API read the group (all of them or none;
	// see claimTasks). Empty for a fence, which claims nothing.
	Tasks map[string]coffer.Task `json:"tasks,omitempty"`
	// Timeouts.Park bounds how long a parked step waits for an operator, Timeouts.Claim
	// the claim's window; the rest is unused.
	Timeouts Timeouts `json:"timeouts,omitempty"`
}
