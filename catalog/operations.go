package catalog

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coffer-dbaas/coffer"
)

// TaskEnd is how an operation that did its work (or rolled it back) leaves the instance:
// task NONE, the engine HEALTHY as of now, and what changed.
type TaskEnd struct {
	// FlavorID is the instance's new flavor after a resize; empty leaves it.
	FlavorID string
	// VolumeSize is the new volume size in GiB after a resize; zero leaves it.
	VolumeSize int
	// Version is the instance's datastore version after an upgrade; empty leaves it.
	Version string
	// Fault is kept on the instance when set (a resize that failed and was rolled back
	// shows why); nil clears the fault.
	Fault *coffer.Fault
}

// FinishTask ends the instance's task: service HEALTHY as of now, task NONE, the flavor or
// volume size when e changes them, and e.Fault (or no fault). ErrNotFound when the instance
// is missing.
func (s *Store) FinishTask(ctx context.Context, id string, e TaskEnd) error {
	args := pgx.NamedArgs{
		"flavor_id":   e.FlavorID,
		"volume_size": e.VolumeSize,
		"version":     e.Version,
		"service":     string(coffer.ServiceHealthy),
		"message":     "", "details": "", "created": nil,
	}
	if e.Fault != nil {
		args["message"], args["details"], args["created"] = e.Fault.Message, e.Fault.Details, faultTime(e.Fault.Created)
	}
	err := s.updateInstance(ctx, id, `
		task = 'NONE', updated = now(),
		flavor_id = coalesce(nullif(@flavor_id, ''), flavor_id),
		volume_size = coalesce(nullif(@volume_size::integer, 0), volume_size),
		version = coalesce(nullif(@version, ''), version),
		ram_mb = CASE WHEN @flavor_id <> '' AND reserved_ram_mb > 0 THEN reserved_ram_mb ELSE ram_mb END,
		reserved_ram_mb = 0, reserved_volume_size = 0,
		service_status = @service, service_status_updated = now(), silence_noted_at = NULL,
		fault_message = @message, fault_details = @details, fault_created = @created::timestamptz`, args)
	if err != nil {
		return fmt.Errorf("finish task of instance %s: %w", id, err)
	}
	return nil
}

// NoteFault shows f as the instance's fault without changing its task: a step that waits
// for an operator says why. A nil f clears the fault. ErrNotFound when the instance is
// missing.
func (s *Store) NoteFault(ctx context.Context, id string, f *coffer.Fault) error {
	args := pgx.NamedArgs{"message": "", "details": "", "created": nil}
	if f != nil {
		args["message"], args["details"], args["created"] = f.Message, f.Details, faultTime(f.Created)
	}
	err := s.updateInstance(ctx, id,
		"fault_message = @message, fault_details = @details, fault_created = @created::timestamptz, updated = now()", args)
	if err != nil {
		return fmt.Errorf("note fault on instance %s: %w", id, err)
	}
	return nil
}

// RecordHealth records a guest's health report taken at at, unless the catalog holds a
// newer one already (a report that was overtaken on its way, as Trove's conductor drops
// them). It returns the instance's task, so that the monitor knows whether the instance is
// still there (ErrNotFound when it is gone).
func (s *Store) RecordHealth(ctx context.Context, id string, status coffer.ServiceStatus, at time.Time) (coffer.Task, error) {
	canonical, ok := canonicalID(id)
	if !ok {
		return "", fmt.Errorf("record health of instance %s: %w", id, ErrNotFound)
	}
	if status != "" {
		_, err := s.pool.Exec(ctx, `
			UPDATE instances
			SET service_status = @status, service_status_updated = @at
			WHERE id = @id AND (service_status_updated IS NULL OR service_status_updated < @at)`,
			pgx.NamedArgs{"id": canonical, "status": string(status), "at": at})
		if err != nil {
			return "", fmt.Errorf("record health of instance %s: %w", id, err)
		}
	}
	var task string
	err := s.pool.QueryRow(ctx, "SELECT task FROM instances WHERE id = @id", pgx.NamedArgs{"id": canonical}).Scan(&task)
	if err == pgx.ErrNoRows {
		return "", fmt.Errorf("record health of instance %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("record health of instance %s: %w", id, err)
	}
	return coffer.Task(task), nil
}

// ResetStatus is Trove's reset_status: whatever task the instance had is forgotten (task
// NONE) and its service status becomes ERROR until the guest reports again, so that a stuck
// instance can be deleted. An empty projectID finds any project's instance.
func (s *Store) ResetStatus(ctx context.Context, projectID, id string) error {
	canonical, ok := canonicalID(id)
	if !ok {
		return fmt.Errorf("reset status of instance %s: %w", id, ErrNotFound)
	}
	tag, err := s.pool.Exec(ctx, `
		UPDATE instances
		SET task = 'NONE', service_status = @service, service_status_updated = now(), updated = now()
		WHERE id = @id AND (@project_id::text = '' OR project_id = @project_id)`,
		pgx.NamedArgs{"id": canonical, "project_id": projectID, "service": string(coffer.ServiceError)})
	if err != nil {
		return fmt.Errorf("reset status of instance %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("reset status of instance %s: %w", id, ErrNotFound)
	}
	return nil
}

func faultTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}

// EndOrphanedTask ends a task whose workflow ended without ending it (an operator
// terminated it in Temporal, or it timed out): task becomes to (NONE or ERROR) with f as
// the fault, only while the instance still holds a task for workflowID, so that a task a
// later operation claimed is never touched. It reports whether it ended one.
func (s *Store) EndOrphanedTask(ctx context.Context, id, workflowID string, to coffer.Task, f coffer.Fault) (bool, error) {
	if to != coffer.TaskNone && to != coffer.TaskError {
		return false, fmt.Errorf("end orphaned task of instance %s: %s is an operation, want NONE or ERROR", id, to)
	}
	canonical, ok := canonicalID(id)
	if !ok || workflowID == "" {
		return false, nil
	}
	tag, err := s.pool.Exec(ctx, `
		UPDATE instances SET task = @to, updated = now(),
			reserved_ram_mb = 0, reserved_volume_size = 0,
			fault_message = @message, fault_details = @details, fault_created = coalesce(@created::timestamptz, now())
		WHERE id = @id AND task_workflow_id = @workflow_id AND task NOT IN ('NONE', 'ERROR')`,
		pgx.NamedArgs{"id": canonical, "workflow_id": workflowID, "to": string(to),
			"message": f.Message, "details": f.Details, "created": timeOrNil(f.Created)})
	if err != nil {
		return false, fmt.Errorf("end orphaned task of instance %s: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}
