package guestagent

import (
	"time"

	"github.com/coffer-dbaas/coffer"
)

// Activity names the guest agent registers on its task queue, guestagent.<instance-id>.
// Workflows call them by name with the input types below.
const (
	// PrepareActivity makes the engine ready: initdb on the volume, configuration sized from
	// the flavor, start, the agent's own admin role, then the requested databases and users.
	// Idempotent: a retry after a crash finds the cluster and finishes the job.
	PrepareActivity = "Prepare"
	// CreateDatabasesActivity makes databases; existing ones are left alone.
	CreateDatabasesActivity = "CreateDatabases"
	// CreateUsersActivity makes users with access to their databases.
	CreateUsersActivity = "CreateUsers"
	// HealthActivity reports the engine's state.
	HealthActivity = "Health"
	// StopEngineActivity stops the engine cleanly (before a delete).
	StopEngineActivity = "StopEngine"
)

// PrepareInput is Prepare's input.
type PrepareInput struct {
	Datastore string            `json:"datastore"`
	Version   string            `json:"version"`
	Databases []coffer.Database `json:"databases,omitempty"`
	Users     []coffer.User     `json:"users,omitempty"`
}

// HealthReport is Health's result.
type HealthReport struct {
	Status coffer.ServiceStatus `json:"status"`
	Detail string               `json:"detail,omitempty"`
	At     time.Time            `json:"at"`
}

// Config is the guest agent's configuration, carried in the server's user_data (JSON), as
// cloud-init would hand it over. It holds the codec key, so user_data is a secret of the
// instance (as Trove's instance_rpc_encr_key).
type Config struct {
	InstanceID string `json:"instance_id"`
	Datastore  string `json:"datastore"`
	Version    string `json:"version"`
	// TemporalHostPort is the Temporal frontend as the guest reaches it.
	TemporalHostPort  string `json:"temporal_host_port"`
	TemporalNamespace string `json:"temporal_namespace"`
	// CodecKey is the base64 AES-256 key of the payload codec.
	CodecKey string `json:"codec_key"`
}
