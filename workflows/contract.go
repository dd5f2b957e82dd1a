package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/coffer-dbaas/coffer"
)

// ControlTaskQueue is where `coffer worker` polls for workflows and control-plane activities.
const ControlTaskQueue = "coffer-control"

// GuestTaskQueue is the task queue of one instance's guest agent.
func GuestTaskQueue(instanceID string) string { return "guestagent." + instanceID }

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

// MonitorWorkflowID is the ID of an instance's health monitor, which runs from the end of
// its create until it is deleted.
func MonitorWorkflowID(instanceID string) string { return "instance/" + instanceID + "/monitor" }

// RestartWorkflowID is the ID of an instance's restart (engine restart or server reboot).
func RestartWorkflowID(instanceID string) string { return "instance/" + instanceID + "/restart" }

// ResizeWorkflowID is the ID of an instance's flavor or volume resize: one at a time.
func ResizeWorkflowID(instanceID string) string { return "instance/" + instanceID + "/resize" }

// StopWorkflowID is the ID of an operator's stop of an instance's engine.
func StopWorkflowID(instanceID string) string { return "instance/" + instanceID + "/stop" }

// MonitorWorkflowID is the ID of an instance's health monitor, which runs from the end of
// its create until it is deleted.
func MonitorWorkflowID(instanceID string) string { return "instance/" + instanceID + "/monitor" }

// Search attributes that let an operator list everything that touched one instance
// (registered by coffer-dev and by `coffer migrate`).
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
	InstanceID string            `json:"instance_id"`
	ProjectID  string            `json:"project_id"`
	Name       string            `json:"name"`
	FlavorID   string            `json:"flavor_id"`
	VolumeSize int               `json:"volume_size"`
	VolumeType string            `json:"volume_type,omitempty"`
	Datastore  string            `json:"datastore"`
	Version    string            `json:"version"`
	ImageID    string            `json:"image_id"`
	Port       int               `json:"port"` // the engine's TCP port, opened in the security group
	Databases  []coffer.Database `json:"databases,omitempty"`
	Users      []coffer.User     `json:"users,omitempty"`
	Timeouts   Timeouts          `json:"timeouts"`

	// ImageTag is the Glance tag CreateInstance looks the image up by when ImageID is empty
	// (the datastore version's image_tag); empty means "coffer-<datastore>-<version>".
	ImageTag string `json:"image_tag,omitempty"`
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
}

// DeleteInstanceInput is what DeleteInstance needs.
type DeleteInstanceInput struct {
	// Park bounds how long a step that failed after its retries waits for an operator's
	// signal before the workflow aborts by itself (default DefaultParkTimeout).
	Park time.Duration `json:"park,omitempty"`
	// HealthInterval is how often the instance's monitor asks the guest for its health
	// (default DefaultHealthInterval).
	HealthInterval time.Duration `json:"health_interval,omitempty"`
	InstanceID string `json:"instance_id"`
	ProjectID  string `json:"project_id"`
}
