package catalog

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coffer-dbaas/coffer"
)

// HealthReport is one guest's report, as the gateway records it.
type HealthReport struct {
	InstanceID string
	Status     coffer.ServiceStatus
	// At is when the guest took the report; an older one than the catalog holds is dropped.
	At time.Time
	// VolumeSizeGB is 0 when the guest could not read its volume (then VolumeUsedGB is
	// ignored and the last known usage stays).
	VolumeSizeGB int
	VolumeUsedGB float64
	// Replica says the report comes from a replica: its lag is recorded.
	Replica    bool
	LagBytes   int64
	LagSeconds float64
}

// RecordHealthReports records many guests' reports in one statement (the gateway's batch):
// each one's service status and its time, its volume usage and, for a replica, its lag,
// unless the catalog holds a newer report of that instance already. A report ends its
// guest's silence: the sweep's note goes, and the fault the silence noted with it
// (NoteSilenceFault), so that a next silence is noted again. Instances the catalog
// does not have are skipped. It returns how many instances it updated.
func (s *Store) RecordHealthReports(ctx context.Context, reports []HealthReport) (int64, error) {
	if len(reports) == 0 {
		return 0, nil
	}
	n := len(reports)
	var (
		ids        = make([]string, 0, n)
		statuses   = make([]string, 0, n)
		ats        = make([]time.Time, 0, n)
		sizes      = make([]*int32, 0, n)
		used       = make([]*float64, 0, n)
		lagBytes   = make([]*int64, 0, n)
		lagSeconds = make([]*float64, 0, n)
	)
	for _, r := range reports {
		id, ok := canonicalID(r.InstanceID)
		if !ok {
			continue
		}
		ids, statuses, ats = append(ids, id), append(statuses, string(r.Status)), append(ats, r.At)
		if r.VolumeSizeGB > 0 {
			size, u := int32(r.VolumeSizeGB), r.VolumeUsedGB
			sizes, used = append(sizes, &size), append(used, &u)
		} else {
			sizes, used = append(sizes, nil), append(used, nil)
		}
		if r.Replica {
			b, sec := r.LagBytes, r.LagSeconds
			lagBytes, lagSeconds = append(lagBytes, &b), append(lagSeconds, &sec)
		} else {
			lagBytes, lagSeconds = append(lagBytes, nil), append(lagSeconds, nil)
		}
	}
	tag, err := s.pool.Exec(ctx, `
		UPDATE instances AS i SET
			service_status = r.status, service_status_updated = r.at,
			guest_volume_size_gb = coalesce(r.size, i.guest_volume_size_gb),
			guest_volume_used_gb = CASE WHEN r.size IS NULL THEN i.guest_volume_used_gb ELSE r.used END,
			guest_volume_updated = CASE WHEN r.size IS NULL THEN i.guest_volume_updated ELSE r.at END,
			replication_lag_bytes = CASE WHEN r.lag_bytes IS NULL THEN i.replication_lag_bytes ELSE r.lag_bytes END,
			replication_lag_seconds = CASE WHEN r.lag_bytes IS NULL THEN i.replication_lag_seconds ELSE r.lag_seconds END,
			replication_lag_updated = CASE WHEN r.lag_bytes IS NULL THEN i.replication_lag_updated ELSE r.at END,
			silence_noted_at = NULL,
			fault_message = CASE WHEN i.fault_created = i.silence_noted_at THEN '' ELSE i.fault_message END,
			fault_details = CASE WHEN i.fault_created = i.silence_noted_at THEN '' ELSE i.fault_details END,
			fault_created = CASE WHEN i.fault_created = i.silence_noted_at THEN NULL ELSE i.fault_created END
		FROM unnest(@ids::uuid[], @statuses::text[], @ats::timestamptz[], @sizes::integer[],
		            @used::double precision[], @lag_bytes::bigint[], @lag_seconds::double precision[])
		     AS r(id, status, at, size, used, lag_bytes, lag_seconds)
		WHERE i.id = r.id AND (i.service_status_updated IS NULL OR i.service_status_updated < r.at)`,
		pgx.NamedArgs{"ids": ids, "statuses": statuses, "ats": ats, "sizes": sizes, "used": used,
			"lag_bytes": lagBytes, "lag_seconds": lagSeconds})
	if err != nil {
		return 0, fmt.Errorf("record %d health reports: %w", len(ids), err)
	}
	return tag.RowsAffected(), nil
}

// GuestVolume is the data volume as the instance's guest last reported it.
type GuestVolume struct {
	SizeGB int
	UsedGB float64
	At     time.Time
}

// GetGuestVolume returns the data volume as the instance's guest last reported it;
// ErrNotFound when the instance is missing or its guest never reported its volume.
func (s *Store) GetGuestVolume(ctx context.Context, id string) (GuestVolume, error) {
	canonical, ok := canonicalID(id)
	if !ok {
		return GuestVolume{}, fmt.Errorf("guest volume of instance %s: %w", id, ErrNotFound)
	}
	var (
		size *int32
		used *float64
		at   *time.Time
	)
	err := s.pool.QueryRow(ctx, `SELECT guest_volume_size_gb, guest_volume_used_gb, guest_volume_updated
		FROM instances WHERE id = @id`, pgx.NamedArgs{"id": canonical}).Scan(&size, &used, &at)
	if err == pgx.ErrNoRows || (err == nil && (size == nil || used == nil || at == nil)) {
		return GuestVolume{}, fmt.Errorf("guest volume of instance %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return GuestVolume{}, fmt.Errorf("guest volume of instance %s: %w", id, err)
	}
	return GuestVolume{SizeGB: int(*size), UsedGB: *used, At: *at}, nil
}
