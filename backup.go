package coffer

import "time"

// BackupStatus is where a backup is in its life (Trove's backup states).
type BackupStatus string

// Backup states, as Trove names them. NEW, BUILDING and SAVING are running: the instance
// shows BACKUP while one of its backups is in one of them.
const (
	BackupNew       BackupStatus = "NEW"
	BackupBuilding  BackupStatus = "BUILDING"
	BackupSaving    BackupStatus = "SAVING"
	BackupCompleted BackupStatus = "COMPLETED"
	BackupFailed    BackupStatus = "FAILED"
	// BackupDeleteFailed is a backup whose delete failed; a delete may be asked for again.
	BackupDeleteFailed BackupStatus = "DELETE_FAILED"
)

// Running reports whether a backup in this state still runs.
func (s BackupStatus) Running() bool {
	return s == BackupNew || s == BackupBuilding || s == BackupSaving
}

// Backup is a physical backup of an instance, stored in Swift as a static large object. It
// outlives its instance: a restore makes a new instance from it.
type Backup struct {
	ID          string
	ProjectID   string
	InstanceID  string
	Name        string
	Description string
	// Datastore and Version are the source instance's: a restore must use the same.
	Datastore string
	Version   string
	// VolumeSize is the source instance's volume in GiB, the least a restore's volume needs.
	VolumeSize int
	Status     BackupStatus

	// Container and Object locate the backup's manifest in Swift.
	Container string
	Object    string
	// RawSize is the engine's backup stream in bytes; Size what Swift stores (compressed
	// and encrypted); BytesDone how much of the raw stream a running backup has read.
	RawSize   int64
	Size      int64
	BytesDone int64
	// Checksum is the hex SHA-256 of the stored bytes.
	Checksum string
	// WrappedKey is the backup's data key, wrapped by the configured backup key: useless
	// without it, and never shown by the API.
	WrappedKey string
	Segments   int
	// FailReason says why a FAILED backup failed.
	FailReason string
	// ScheduleID is the backup schedule that made it ("" for a backup a user asked for).
	ScheduleID string

	Created time.Time
	Updated time.Time
}

// BackupSchedule makes backups of an instance on a schedule and keeps the newest Keep of
// them. Temporal runs it (a Schedule with the ID BackupScheduleID); the catalog lists it.
type BackupSchedule struct {
	ID         string
	ProjectID  string
	InstanceID string
	Name       string
	// Cron is a cron expression ("0 3 * * *"); Interval, when set, is used instead.
	Cron     string
	Interval time.Duration
	// Keep is how many of the schedule's COMPLETED backups are kept; the oldest beyond it
	// are deleted after each success.
	Keep    int
	Created time.Time
}
