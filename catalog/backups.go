package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/coffer-dbaas/coffer"
)

// ErrBackupRunning is returned by CreateBackup when a backup of the instance runs already,
// and by StartTask when a backup holds the instance.
var ErrBackupRunning = errors.New("a backup of the instance is running")

// runningBackupStatuses are the states in which a backup holds its instance.
const runningBackupStatuses = `('NEW', 'BUILDING', 'SAVING')`

// backupRunningColumn derives coffer.Instance.BackupRunning, read with the instance.
const backupRunningColumn = `EXISTS (SELECT 1 FROM backups b WHERE b.instance_id = instances.id
		AND b.status IN ` + runningBackupStatuses + `) AS backup_running`

// noBackupRunning is the condition under which an instance may take a task.
const noBackupRunning = `NOT EXISTS (SELECT 1 FROM backups b WHERE b.instance_id = instances.id
		AND b.status IN ` + runningBackupStatuses + `)`

const backupColumns = `id, project_id, instance_id, name, description, datastore, version, volume_size, status,
	container, object, raw_size, size, bytes_done, checksum, wrapped_key, segments, fail_reason, schedule_id,
	created, updated`

func scanBackup(row pgx.CollectableRow) (*coffer.Backup, error) {
	var b coffer.Backup
	err := row.Scan(&b.ID, &b.ProjectID, &b.InstanceID, &b.Name, &b.Description, &b.Datastore, &b.Version, &b.VolumeSize, &b.Status,
		&b.Container, &b.Object, &b.RawSize, &b.Size, &b.BytesDone, &b.Checksum, &b.WrappedKey, &b.Segments, &b.FailReason, &b.ScheduleID,
		&b.Created, &b.Updated)
	if err != nil {
		return nil, err
	}
	return &b, nil
}

// CreateBackup records a NEW backup of b.InstanceID (of b.ProjectID; empty finds any
// project's instance), copying the instance's datastore, version and volume size into b. It
// refuses atomically: ErrNotFound when there is no such instance, ErrTaskRunning when a task
// holds it (or it is in ERROR), ErrBackupRunning when one of its backups runs. An empty b.ID
// gets a new UUID; the row as stored is written back into b.
func (s *Store) CreateBackup(ctx context.Context, b *coffer.Backup) error {
	return s.createBackup(ctx, s.pool, b)
}

func (s *Store) createBackup(ctx context.Context, q querier, b *coffer.Backup) error {
	if b.ID == "" {
		b.ID = uuid.NewString()
	}
	instanceID, ok := canonicalID(b.InstanceID)
	if !ok {
		return fmt.Errorf("create backup of instance %s: %w", b.InstanceID, ErrNotFound)
	}
	// The instance's row lock orders this against StartTask: whichever comes second sees
	// what the first did.
	rows, _ := q.Query(ctx, `
		WITH inst AS (
			SELECT id, project_id, datastore, version, volume_size, task
			FROM instances
			WHERE id = @instance_id AND (@project_id::text = '' OR project_id = @project_id)
			FOR UPDATE
		)
		INSERT INTO backups (id, project_id, instance_id, name, description, datastore, version, volume_size,
		                     status, schedule_id)
		SELECT @id, inst.project_id, inst.id, @name, @description, inst.datastore, inst.version, inst.volume_size,
		       'NEW', @schedule_id
		FROM inst
		WHERE inst.task = 'NONE'
		RETURNING `+backupColumns,
		pgx.NamedArgs{
			"id": b.ID, "instance_id": instanceID, "project_id": b.ProjectID,
			"name": b.Name, "description": b.Description, "schedule_id": b.ScheduleID,
		})
	created, err := pgx.CollectExactlyOneRow(rows, scanBackup)
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == uniqueViolation {
		if pgErr.ConstraintName == "backups_pkey" {
			return fmt.Errorf("create backup %s: %w", b.ID, ErrExists)
		}
		return fmt.Errorf("create backup of instance %s: %w", b.InstanceID, ErrBackupRunning)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		inst, gerr := s.getInstance(ctx, b.ProjectID, instanceID)
		if gerr != nil {
			return fmt.Errorf("create backup of instance %s: %w", b.InstanceID, gerr)
		}
		return fmt.Errorf("create backup of instance %s: task %s holds it: %w", b.InstanceID, inst.Task, ErrTaskRunning)
	}
	if err != nil {
		return fmt.Errorf("create backup of instance %s: %w", b.InstanceID, err)
	}
	*b = *created
	return nil
}

// GetBackup returns a project's backup; an empty projectID finds any project's.
func (s *Store) GetBackup(ctx context.Context, projectID, id string) (*coffer.Backup, error) {
	canonical, ok := canonicalID(id)
	if !ok {
		return nil, fmt.Errorf("get backup %s: %w", id, ErrNotFound)
	}
	rows, _ := s.pool.Query(ctx, `SELECT `+backupColumns+` FROM backups
		WHERE id = @id AND (@project_id::text = '' OR project_id = @project_id)`,
		pgx.NamedArgs{"id": canonical, "project_id": projectID})
	b, err := pgx.CollectExactlyOneRow(rows, scanBackup)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("get backup %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get backup %s: %w", id, err)
	}
	return b, nil
}

// BackupFilter selects backups; empty fields select all.
type BackupFilter struct {
	ProjectID  string
	InstanceID string
	Datastore  string
	ScheduleID string
	Status     coffer.BackupStatus
	// Limit is the most to return (0: no limit); Marker the ID of the backup before the page.
	Limit  int
	Marker string
}

// ListBackups lists backups in creation order (oldest first). A marker that is no backup
// (of the project) gives ErrNotFound.
func (s *Store) ListBackups(ctx context.Context, f BackupFilter) ([]*coffer.Backup, error) {
	var (
		where []string
		args  = pgx.NamedArgs{}
	)
	if f.ProjectID != "" {
		where = append(where, "project_id = @project_id")
		args["project_id"] = f.ProjectID
	}
	if f.InstanceID != "" {
		id, ok := canonicalID(f.InstanceID)
		if !ok {
			return []*coffer.Backup{}, nil
		}
		where = append(where, "instance_id = @instance_id")
		args["instance_id"] = id
	}
	if f.Datastore != "" {
		where = append(where, "datastore = @datastore")
		args["datastore"] = f.Datastore
	}
	if f.ScheduleID != "" {
		where = append(where, "schedule_id = @schedule_id")
		args["schedule_id"] = f.ScheduleID
	}
	if f.Status != "" {
		where = append(where, "status = @status")
		args["status"] = string(f.Status)
	}
	if f.Marker != "" {
		after, err := s.GetBackup(ctx, f.ProjectID, f.Marker)
		if err != nil {
			return nil, fmt.Errorf("list backups after %s: marker: %w", f.Marker, err)
		}
		where = append(where, "(created, id) > (@after_created, @after_id)")
		args["after_created"] = after.Created
		args["after_id"] = after.ID
	}
	query := "SELECT " + backupColumns + " FROM backups"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY created, id"
	if f.Limit > 0 {
		query += " LIMIT @limit"
		args["limit"] = f.Limit
	}
	rows, _ := s.pool.Query(ctx, query, args)
	backups, err := pgx.CollectRows(rows, scanBackup)
	if err != nil {
		return nil, fmt.Errorf("list backups: %w", err)
	}
	return backups, nil
}

// StartBackup marks a backup BUILDING and records where in Swift it goes.
func (s *Store) StartBackup(ctx context.Context, id, container, object string) error {
	return s.updateBackup(ctx, id, "start", `status = 'BUILDING', container = @container, object = @object`,
		pgx.NamedArgs{"container": container, "object": object})
}

// SetBackupProgress records how many raw bytes a running backup has read.
func (s *Store) SetBackupProgress(ctx context.Context, id string, bytesDone int64) error {
	return s.updateBackup(ctx, id, "record progress of", `bytes_done = @bytes_done`, pgx.NamedArgs{"bytes_done": bytesDone})
}

// BackupResult is what a finished backup stored.
type BackupResult struct {
	Container  string
	Object     string
	RawSize    int64
	Size       int64
	Checksum   string
	WrappedKey string
	Segments   int
}

// CompleteBackup marks a backup COMPLETED with what it stored.
func (s *Store) CompleteBackup(ctx context.Context, id string, r BackupResult) error {
	return s.updateBackup(ctx, id, "complete", `status = 'COMPLETED', container = @container, object = @object,
		raw_size = @raw_size, size = @size, bytes_done = @raw_size, checksum = @checksum, wrapped_key = @wrapped_key,
		segments = @segments, fail_reason = ''`,
		pgx.NamedArgs{"container": r.Container, "object": r.Object, "raw_size": r.RawSize, "size": r.Size,
			"checksum": r.Checksum, "wrapped_key": r.WrappedKey, "segments": r.Segments})
}

// FailBackup marks a backup FAILED with the reason.
func (s *Store) FailBackup(ctx context.Context, id, reason string) error {
	return s.updateBackup(ctx, id, "fail", `status = 'FAILED', fail_reason = @reason`, pgx.NamedArgs{"reason": reason})
}

// MarkBackupDeleteFailed marks a backup whose delete failed, with the reason.
func (s *Store) MarkBackupDeleteFailed(ctx context.Context, id, reason string) error {
	return s.updateBackup(ctx, id, "mark delete failed of", `status = 'DELETE_FAILED', fail_reason = @reason`, pgx.NamedArgs{"reason": reason})
}

// DeleteBackup removes a backup's row; a missing row is no error.
func (s *Store) DeleteBackup(ctx context.Context, id string) error {
	canonical, ok := canonicalID(id)
	if !ok {
		return nil
	}
	if _, err := s.pool.Exec(ctx, "DELETE FROM backups WHERE id = @id", pgx.NamedArgs{"id": canonical}); err != nil {
		return fmt.Errorf("delete backup %s: %w", id, err)
	}
	return nil
}

func (s *Store) updateBackup(ctx context.Context, id, what, set string, args pgx.NamedArgs) error {
	canonical, ok := canonicalID(id)
	if !ok {
		return fmt.Errorf("%s backup %s: %w", what, id, ErrNotFound)
	}
	args["id"] = canonical
	tag, err := s.pool.Exec(ctx, "UPDATE backups SET "+set+", updated = now() WHERE id = @id", args)
	if err != nil {
		return fmt.Errorf("%s backup %s: %w", what, id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s backup %s: %w", what, id, ErrNotFound)
	}
	return nil
}

const scheduleColumns = `id, project_id, instance_id, name, cron, interval_seconds, keep, created`

func scanSchedule(row pgx.CollectableRow) (*coffer.BackupSchedule, error) {
	var (
		sc      coffer.BackupSchedule
		seconds int64
	)
	if err := row.Scan(&sc.ID, &sc.ProjectID, &sc.InstanceID, &sc.Name, &sc.Cron, &seconds, &sc.Keep, &sc.Created); err != nil {
		return nil, err
	}
	sc.Interval = time.Duration(seconds) * time.Second
	return &sc, nil
}

// CreateBackupSchedule records a schedule of an instance of the project; ErrNotFound when
// the project has no such instance. An empty sc.ID gets a new UUID; the row as stored is
// written back into sc.
func (s *Store) CreateBackupSchedule(ctx context.Context, sc *coffer.BackupSchedule) error {
	if sc.ID == "" {
		sc.ID = uuid.NewString()
	}
	instanceID, ok := canonicalID(sc.InstanceID)
	if !ok {
		return fmt.Errorf("create backup schedule of instance %s: %w", sc.InstanceID, ErrNotFound)
	}
	rows, _ := s.pool.Query(ctx, `
		INSERT INTO backup_schedules (id, project_id, instance_id, name, cron, interval_seconds, keep)
		SELECT @id, project_id, id, @name, @cron, @interval_seconds, @keep
		FROM instances WHERE id = @instance_id AND (@project_id::text = '' OR project_id = @project_id)
		RETURNING `+scheduleColumns,
		pgx.NamedArgs{"id": sc.ID, "instance_id": instanceID, "project_id": sc.ProjectID, "name": sc.Name,
			"cron": sc.Cron, "interval_seconds": int64(sc.Interval / time.Second), "keep": sc.Keep})
	created, err := pgx.CollectExactlyOneRow(rows, scanSchedule)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("create backup schedule of instance %s: %w", sc.InstanceID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("create backup schedule of instance %s: %w", sc.InstanceID, err)
	}
	*sc = *created
	return nil
}

// ListBackupSchedules lists an instance's schedules, oldest first; an empty projectID finds
// any project's.
func (s *Store) ListBackupSchedules(ctx context.Context, projectID, instanceID string) ([]*coffer.BackupSchedule, error) {
	id, ok := canonicalID(instanceID)
	if !ok {
		return []*coffer.BackupSchedule{}, nil
	}
	rows, _ := s.pool.Query(ctx, `SELECT `+scheduleColumns+` FROM backup_schedules
		WHERE instance_id = @instance_id AND (@project_id::text = '' OR project_id = @project_id)
		ORDER BY created, id`, pgx.NamedArgs{"instance_id": id, "project_id": projectID})
	out, err := pgx.CollectRows(rows, scanSchedule)
	if err != nil {
		return nil, fmt.Errorf("list backup schedules of instance %s: %w", instanceID, err)
	}
	return out, nil
}

// DeleteBackupSchedule removes a schedule of an instance of the project; ErrNotFound when
// there is none.
func (s *Store) DeleteBackupSchedule(ctx context.Context, projectID, instanceID, id string) error {
	canonical, ok := canonicalID(id)
	inst, ok2 := canonicalID(instanceID)
	if !ok || !ok2 {
		return fmt.Errorf("delete backup schedule %s: %w", id, ErrNotFound)
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM backup_schedules
		WHERE id = @id AND instance_id = @instance_id AND (@project_id::text = '' OR project_id = @project_id)`,
		pgx.NamedArgs{"id": canonical, "instance_id": inst, "project_id": projectID})
	if err != nil {
		return fmt.Errorf("delete backup schedule %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete backup schedule %s: %w", id, ErrNotFound)
	}
	return nil
}
