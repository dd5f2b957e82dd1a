// Package coffer holds Coffer's domain: database instances, their datastores and the status
// model clients read (Trove's, so existing clients read it the same way). The packages around
// it implement it against one dependency each: catalog (PostgreSQL), api (HTTP),
// workflows and activities (Temporal and OpenStack), guestagent (the engine).
package coffer

import (
	"fmt"
	"regexp"
	"time"
)

// Task is what the control plane is doing to an instance (Trove's task status). At most one
// task runs per instance; the catalog sets it atomically when a workflow starts.
type Task string

// Tasks, as Trove names them.
const (
	TaskNone      Task = "NONE"
	TaskBuilding  Task = "BUILDING"
	TaskDeleting  Task = "DELETING"
	TaskRebooting Task = "REBOOTING"
	TaskResizing  Task = "RESIZING"
	// TaskPromoting: a replica is being made the primary of its group (switchover).
	TaskPromoting Task = "PROMOTING"
	// TaskEjecting: a dead primary is being replaced by its most advanced replica (failover).
	TaskEjecting Task = "EJECTING"
	// TaskDetaching: a replica is being made a standalone instance.
	TaskDetaching Task = "DETACHING"
	// TaskUpdating: the instance's access (its security group's rules) is being changed.
	TaskUpdating Task = "UPDATING"
	// TaskUpgrading: the instance's server is being rebuilt on another datastore version's
	// image, its volume kept.
	TaskUpgrading Task = "UPGRADING"
	// TaskRebuilding: an admin is rebuilding the instance's server on a new image.
	TaskRebuilding Task = "REBUILDING"
	// TaskError marks a task that failed; the fault says why. Status shows ERROR.
	TaskError Task = "ERROR"
)

// ServiceStatus is the engine's state as the guest agent last reported it.
type ServiceStatus string

// Service statuses, as Trove's operating_status shows them.
const (
	ServiceNew      ServiceStatus = "NEW"
	ServiceBuild    ServiceStatus = "BUILD"
	ServiceHealthy  ServiceStatus = "HEALTHY"
	ServiceShutdown ServiceStatus = "SHUTDOWN"
	ServiceError    ServiceStatus = "ERROR"
)

// Instance is a database instance as the catalog holds it.
type Instance struct {
	ID        string
	ProjectID string
	Name      string
	FlavorID  string
	// VolumeSize is in GiB.
	VolumeSize int
	VolumeType string
	Datastore  string // "postgresql"
	Version    string // "15"

	Task Task
	// TaskWorkflowID is the workflow that holds Task (it claimed it); "" when none does.
	TaskWorkflowID string
	// ServerStatus is Nova's status of the instance's server, as last seen ("" before it exists).
	ServerStatus         string
	ServiceStatus        ServiceStatus
	ServiceStatusUpdated time.Time

	// What the instance is made of in the cloud, recorded as each piece is made, so that a
	// delete or a compensation finds every piece.
	ServerID        string
	VolumeID        string
	PortID          string
	SecurityGroupID string
	// Address is the instance's fixed IP, where its engine listens.
	Address string

	Fault *Fault

	// Access is who may reach the engine (Trove's access).
	Access Access

	// ConfigurationID is the instance's configuration group, "" when it has none.
	ConfigurationID string
	// RestartRequired: a setting of the group that the engine takes only at its next start
	// changed; the instance shows RESTART_REQUIRED until a restart.
	RestartRequired bool

	Created time.Time
	Updated time.Time

	// BackupRunning is set while one of the instance's backups is NEW, BUILDING or SAVING.
	BackupRunning bool
}

// Access is Trove's instance access: whether the instance is public, and the source ranges
// (CIDRs) its security group lets reach the engine; none means everywhere (0.0.0.0/0, Trove's
// default rule).
type Access struct {
	IsPublic     bool
	AllowedCIDRs []string
}

// CIDRs returns the allowed CIDRs, never nil.
func (a Access) CIDRs() []string {
	if a.AllowedCIDRs == nil {
		return []string{}
	}
	return a.AllowedCIDRs
}

// SourceRanges are the ranges the security group opens the engine's port to: the allowed
// CIDRs, or 0.0.0.0/0 when there are none.
func (a Access) SourceRanges() []string {
	if len(a.AllowedCIDRs) == 0 {
		return []string{"0.0.0.0/0"}
	}
	return a.AllowedCIDRs
}

// Fault is the last failure of an instance's task, shown in the API's "fault".
type Fault struct {
	Message string
	Details string
	Created time.Time
}

// Status derives Trove's API status from the task, the server's status, the service
// status and running backups (trove-api.md §2.3): the one place that does it.
func (i *Instance) Status() string {
	switch i.Task {
	case TaskError:
		return "ERROR"
	case TaskBuilding:
		if i.ServerStatus == "ERROR" {
			return "ERROR"
		}
		return "BUILD"
	case TaskRebooting:
		return "REBOOT"
	case TaskResizing:
		return "RESIZE"
	case TaskDeleting:
		return "SHUTDOWN"
	case TaskPromoting:
		return "PROMOTE"
	case TaskEjecting:
		return "EJECT"
	case TaskDetaching:
		return "DETACH"
	case TaskUpdating:
		return "UPDATE"
	case TaskUpgrading:
		return "UPGRADE"
	case TaskRebuilding:
		return "REBUILD"
	}
	if i.BackupRunning {
		return "BACKUP"
	}
	if i.RestartRequired && i.ServerStatus == "ACTIVE" {
		return "RESTART_REQUIRED"
	}
	switch i.ServerStatus {
	case "ACTIVE", "BUILD", "ERROR", "REBOOT", "RESIZE":
		return i.ServerStatus
	case "VERIFY_RESIZE":
		return "RESIZE"
	case "SHUTOFF":
		return "SHUTDOWN"
	}
	return "UNKNOWN"
}

// Ready reports whether the instance serves and takes an operation: status ACTIVE, or
// RESTART_REQUIRED (it serves with the settings it started with until a restart).
func (i *Instance) Ready() bool {
	s := i.Status()
	return s == "ACTIVE" || s == "RESTART_REQUIRED"
}

// HeartbeatExpiry is how old the last health report may be before operating_status shows
// ERROR (Trove's agent_heartbeat_expiry).
const HeartbeatExpiry = 90 * time.Second

// OperatingStatus derives Trove's operating_status: empty while a task runs or the server is
// not ACTIVE, else the service status, or ERROR when the last report is older than expiry.
func (i *Instance) OperatingStatus(now time.Time, expiry time.Duration) string {
	if i.Task != TaskNone || i.ServerStatus != "ACTIVE" {
		return ""
	}
	if !i.ServiceStatusUpdated.IsZero() && now.Sub(i.ServiceStatusUpdated) > expiry {
		return string(ServiceError)
	}
	return string(i.ServiceStatus)
}

// Database is a database to make on an instance.
type Database struct {
	Name         string `json:"name"`
	CharacterSet string `json:"character_set,omitempty"`
	Collation    string `json:"collate,omitempty"`
}

// User is a database user to make on an instance. Password is a secret: it travels through
// Temporal only inside payloads encrypted by the codec, and is never logged.
type User struct {
	Name      string   `json:"name"`
	Password  string   `json:"password"`
	Host      string   `json:"host,omitempty"`
	Databases []string `json:"databases,omitempty"`
}

// String keeps the password out of logs and error messages.
func (u User) String() string { return fmt.Sprintf("user %s", u.Name) }

// identifier is what Coffer accepts as a database or user name: a letter or underscore,
// then letters, digits, underscores or dashes, at most 63 bytes (PostgreSQL's NAMEDATALEN-1).
// Names are still quoted wherever they reach SQL.
var identifier = regexp.MustCompile(IdentifierPattern)

// ValidIdentifier reports whether name may be a database or user name, and why not.
func ValidIdentifier(name string) error {
	if name == "" {
		return fmt.Errorf("name is empty")
	}
	if !identifier.MatchString(name) {
		return fmt.Errorf("name %q is not valid: use up to 63 letters, digits, '_' or '-', starting with a letter or '_'", name)
	}
	return nil
}
