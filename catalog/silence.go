package catalog

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coffer-dbaas/coffer"
)

// SilentInstance is an instance whose guest went silent, as the sweep noted it.
type SilentInstance struct {
	ID        string
	ProjectID string
	Name      string
	// LastReport is when the guest last reported.
	LastReport time.Time
	// NotedAt is when the sweep noted the silence: it names this silence (NoteSilenceFault,
	// ReleaseSilence) until the guest reports again.
	NotedAt time.Time
}

// NoteSilentInstances notes, up to limit at a time, the instances whose guest's last
// report is older than expiry and whose silence is not noted yet, and returns them: the
// instances whose operating_status shows ERROR for want of a report (task NONE, server
// ACTIVE; coffer.Instance.OperatingStatus). Each silence is noted once: a second call, or
// another worker's sweep at the same time, does not return it again until the guest
// reports (RecordHealthReports) or a task ends (FinishTask), and goes silent again.
func (s *Store) NoteSilentInstances(ctx context.Context, expiry time.Duration, limit int) ([]SilentInstance, error) {
	rows, err := s.pool.Query(ctx, `
		UPDATE instances AS i SET silence_noted_at = now()
		FROM (SELECT id FROM instances
		      WHERE silence_noted_at IS NULL AND task = 'NONE' AND server_status = 'ACTIVE'
		        AND service_status_updated < now() - @expiry * interval '1 second'
		      ORDER BY service_status_updated
		      LIMIT @limit
		      FOR UPDATE SKIP LOCKED) AS silent
		WHERE i.id = silent.id
		RETURNING i.id::text, i.project_id, i.name, i.service_status_updated, i.silence_noted_at`,
		pgx.NamedArgs{"expiry": expiry.Seconds(), "limit": limit})
	if err != nil {
		return nil, fmt.Errorf("note silent instances: %w", err)
	}
	silent, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (SilentInstance, error) {
		var si SilentInstance
		err := row.Scan(&si.ID, &si.ProjectID, &si.Name, &si.LastReport, &si.NotedAt)
		return si, err
	})
	if err != nil {
		return nil, fmt.Errorf("note silent instances: %w", err)
	}
	return silent, nil
}

// ReleaseSilence forgets the note of the silence noted at notedAt, so that the next sweep
// notes it again (its workflow could not be started). A silence that ended or was noted
// again meanwhile is left alone.
func (s *Store) ReleaseSilence(ctx context.Context, id string, notedAt time.Time) error {
	canonical, ok := canonicalID(id)
	if !ok {
		return nil
	}
	_, err := s.pool.Exec(ctx, `UPDATE instances SET silence_noted_at = NULL WHERE id = @id AND silence_noted_at = @noted_at`,
		pgx.NamedArgs{"id": canonical, "noted_at": notedAt})
	if err != nil {
		return fmt.Errorf("release the silence of instance %s: %w", id, err)
	}
	return nil
}

// NoteSilenceFault shows f as the instance's fault while the silence noted at notedAt
// lasts, and reports whether it does: false when the guest has reported since (or the
// instance is gone), and then nothing changes. The guest's next report clears this fault,
// and no other (RecordHealthReports).
func (s *Store) NoteSilenceFault(ctx context.Context, id string, notedAt time.Time, f coffer.Fault) (bool, error) {
	canonical, ok := canonicalID(id)
	if !ok {
		return false, nil
	}
	// The fault's time is the note's: that is how a report knows the fault is the silence's.
	tag, err := s.pool.Exec(ctx, `
		UPDATE instances
		SET fault_message = @message, fault_details = @details, fault_created = silence_noted_at, updated = now()
		WHERE id = @id AND silence_noted_at = @noted_at`,
		pgx.NamedArgs{"id": canonical, "noted_at": notedAt, "message": f.Message, "details": f.Details})
	if err != nil {
		return false, fmt.Errorf("note the silence of instance %s: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}
