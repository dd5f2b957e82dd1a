package guest

import "go.temporal.io/sdk/workflow"

// Backup and restore, between the guest and Swift directly: backup data never passes
// through the control plane.
const (
	// BackupActivity streams a physical backup of the engine (for PostgreSQL, pg_basebackup
	// in tar format) compressed and encrypted into Swift as a static large object, and
	// returns what it stored (BackupResult). It heartbeats a BackupProgress, and signals
	// BackupProgressSignal to its workflow as bytes flow. A failed attempt deletes the
	// segments it stored; what a guest that died left behind, the workflow deletes with
	// the control plane's credentials (a guest cannot list the container).
	BackupActivity = "Backup"
	// RestoreActivity makes the engine's data folder from a backup before the engine is
	// ever started: download, verify the checksum, decrypt, decompress, unpack. A corrupt
	// backup fails it with ErrChecksum (not retried) and leaves no data folder behind;
	// Prepare then starts what it restored.
	RestoreActivity = "Restore"
	// BackupProgressSignal is the signal the guest sends its backup workflow with a
	// BackupProgress every few seconds.
	BackupProgressSignal = "backup-progress"
)

// SwiftAccess is how a guest reaches Swift for one backup or restore: Swift temporary URLs
// (the tempurl middleware) that the control plane signed over that backup's objects (the
// names starting with Prefix, in the input's container) until Expires, one signature per
// HTTP method the guest needs (Get for a restore; Put, and Delete to clean up after itself,
// for a backup). It holds no token and no key: it cannot list the container nor reach any
// other object. The signatures still travel only inside payloads encrypted by the codec.
type SwiftAccess struct {
	URL     string `json:"url"` // the account's endpoint, .../v1/<account>
	Prefix  string `json:"prefix"`
	Expires int64  `json:"expires"` // Unix seconds
	Get     string `json:"get,omitempty"`
	Put     string `json:"put,omitempty"`
	Delete  string `json:"delete,omitempty"`
}

// String keeps the signatures out of logs and error messages.
func (s SwiftAccess) String() string { return "swift at " + s.URL + " for " + s.Prefix + "*" }

// BackupInput is Backup's input. MasterKey is the configured backup key (a secret).
type BackupInput struct {
	BackupID    string      `json:"backup_id"`
	Swift       SwiftAccess `json:"swift"`
	Container   string      `json:"container"`
	Object      string      `json:"object"`
	SegmentSize int64       `json:"segment_size"`
	MasterKey   []byte      `json:"master_key"`
}

// String keeps the secrets out of logs and error messages.
func (in BackupInput) String() string {
	return "backup " + in.BackupID + " to " + in.Container + "/" + in.Object
}

// BackupResult is what a backup stored in Swift: Backup's result. Its fields are those of
// backupstream.Result, which the agent's upload returns (and, without JSON tags, spelled
// the same way on the wire).
type BackupResult struct {
	Container  string
	Object     string
	RawSize    int64  // bytes read from the engine
	StoredSize int64  // bytes stored (compressed and encrypted)
	SHA256     string // hex SHA-256 of the stored bytes
	WrappedKey string // base64 data key, wrapped by the master key
	Segments   int
}

// BackupProgress is how far a backup got: raw bytes read from the engine, bytes stored.
type BackupProgress struct {
	Raw    int64 `json:"raw"`
	Stored int64 `json:"stored"`
}

// RestoreInput is Restore's input: the backup's location and what is needed to read and
// verify it. MasterKey is the configured backup key (a secret).
type RestoreInput struct {
	BackupID   string      `json:"backup_id"`
	Swift      SwiftAccess `json:"swift"`
	Container  string      `json:"container"`
	Object     string      `json:"object"`
	MasterKey  []byte      `json:"master_key"`
	WrappedKey string      `json:"wrapped_key"`
	SHA256     string      `json:"sha256"`
}

// String keeps the secrets out of logs and error messages.
func (in RestoreInput) String() string { return "restore of backup " + in.BackupID }

// Backup runs BackupActivity; give it LongJob options.
func (c Client) Backup(ctx workflow.Context, in BackupInput) (BackupResult, error) {
	var r BackupResult
	err := c.call(ctx, BackupActivity, &r, in)
	return r, err
}

// Restore runs RestoreActivity; give it Boot options with a heartbeat.
func (c Client) Restore(ctx workflow.Context, in RestoreInput) error {
	return c.call(ctx, RestoreActivity, nil, in)
}
