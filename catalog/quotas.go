package catalog

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/config"
)

// Quota resources, as Trove names them.
const (
	ResourceInstances = "instances"
	ResourceRAM       = "ram"     // MiB
	ResourceVolumes   = "volumes" // GiB
	ResourceBackups   = "backups"
)

// QuotaResources lists the resources in the order quotas are shown.
var QuotaResources = []string{ResourceBackups, ResourceInstances, ResourceRAM, ResourceVolumes}

// Unlimited is the limit of a resource without a limit.
const Unlimited = -1

// QuotaLimits are limits per resource; a resource missing from the map has no limit.
type QuotaLimits map[string]int

// DefaultLimits are the configured limits of a project that has none of its own.
func DefaultLimits(q config.Quotas) QuotaLimits {
	return QuotaLimits{ResourceInstances: q.Instances, ResourceRAM: q.RAM, ResourceVolumes: q.Volumes, ResourceBackups: q.Backups}
}

// Quota is a project's limit on a resource and what it uses of it.
type Quota struct {
	Resource string
	Limit    int
	InUse    int
	// Reserved is always zero: a create counts and records in one step, so nothing is
	// held aside meanwhile.
	Reserved int
}

// QuotaExceededError says which resources a request would take past the project's limits.
type QuotaExceededError struct {
	ProjectID string
	// Over lists the quotas exceeded, with what is in use before the request.
	Over []Quota
}

func (e *QuotaExceededError) Error() string {
	var parts []string
	for _, q := range e.Over {
		parts = append(parts, fmt.Sprintf("%s (limit %d, in use %d)", q.Resource, q.Limit, q.InUse))
	}
	return fmt.Sprintf("project %s: quota exceeded for %s", e.ProjectID, strings.Join(parts, ", "))
}

// Resources names the resources exceeded.
func (e *QuotaExceededError) Resources() []string {
	var names []string
	for _, q := range e.Over {
		names = append(names, q.Resource)
	}
	return names
}

// ErrUnknownResource is returned by SetQuotas for a resource that has no quota.
var ErrUnknownResource = errors.New("unknown quota resource")

// ProjectQuotas returns the project's limit on each resource (its own, else the default)
// and its use: instances, their RAM and volume GiB, and backups.
func (s *Store) ProjectQuotas(ctx context.Context, projectID string, defaults QuotaLimits) ([]Quota, error) {
	quotas, err := projectQuotas(ctx, s.pool, projectID, defaults)
	if err != nil {
		return nil, fmt.Errorf("quotas of project %s: %w", projectID, err)
	}
	return quotas, nil
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func projectQuotas(ctx context.Context, q querier, projectID string, defaults QuotaLimits) ([]Quota, error) {
	limits := map[string]int{}
	for _, r := range QuotaResources {
		limits[r] = Unlimited
		if l, ok := defaults[r]; ok {
			limits[r] = l
		}
	}
	rows, _ := q.Query(ctx, "SELECT resource, hard_limit FROM quotas WHERE project_id = $1", projectID)
	var (
		resource string
		limit    int
	)
	if _, err := pgx.ForEachRow(rows, []any{&resource, &limit}, func() error {
		limits[resource] = limit
		return nil
	}); err != nil {
		return nil, err
	}
	use := map[string]int{}
	var instances, ram, volumes, backups int
	err := q.QueryRow(ctx, `
		SELECT count(*), coalesce(sum(greatest(ram_mb, reserved_ram_mb)), 0),
		       coalesce(sum(greatest(volume_size, reserved_volume_size)), 0),
		       (SELECT count(*) FROM backups WHERE project_id = $1)
		FROM instances WHERE project_id = $1`, projectID).Scan(&instances, &ram, &volumes, &backups)
	if err != nil {
		return nil, err
	}
	use[ResourceInstances], use[ResourceRAM], use[ResourceVolumes], use[ResourceBackups] = instances, ram, volumes, backups
	var quotas []Quota
	for _, r := range QuotaResources {
		quotas = append(quotas, Quota{Resource: r, Limit: limits[r], InUse: use[r]})
	}
	return quotas, nil
}

// SetQuotas sets a project's own limits; -1 is no limit. An unknown resource or a limit
// below -1 changes nothing.
func (s *Store) SetQuotas(ctx context.Context, projectID string, limits QuotaLimits) error {
	for r, l := range limits {
		if !slices.Contains(QuotaResources, r) {
			return fmt.Errorf("set quotas of project %s: %q: %w", projectID, r, ErrUnknownResource)
		}
		if l < Unlimited {
			return fmt.Errorf("set quotas of project %s: %s limit %d is below -1", projectID, r, l)
		}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for r, l := range limits {
			_, err := tx.Exec(ctx, `
				INSERT INTO quotas (project_id, resource, hard_limit) VALUES ($1, $2, $3)
				ON CONFLICT (project_id, resource) DO UPDATE SET hard_limit = excluded.hard_limit, updated = now()`,
				projectID, r, l)
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set quotas of project %s: %w", projectID, err)
	}
	return nil
}

// quotaLockKey is the advisory lock that serializes a project's quota checks.
func quotaLockKey(projectID string) int64 {
	h := fnv.New64a()
	h.Write([]byte("coffer-quota:" + projectID))
	return int64(h.Sum64())
}

// CreateInstanceWithinQuota records a new instance as CreateInstance does, only when the
// project's instances, RAM (ramMB, the flavor's) and volume GiB stay within its limits;
// otherwise it records nothing and returns a *QuotaExceededError.
//
// The check and the insert hold the project's advisory lock, so that of two creates racing
// for the last unit one waits for the other's row and then fails.
func (s *Store) CreateInstanceWithinQuota(ctx context.Context, inst *coffer.Instance, ramMB int, defaults QuotaLimits) error {
	err := s.withinQuota(ctx, inst.ProjectID, defaults,
		map[string]int{ResourceInstances: 1, ResourceRAM: ramMB, ResourceVolumes: inst.VolumeSize},
		func(conn *pgx.Conn) error {
			if err := insertInstance(ctx, conn, inst); err != nil {
				return err
			}
			if _, err := conn.Exec(ctx, "UPDATE instances SET ram_mb = $2 WHERE id = $1", inst.ID, ramMB); err != nil {
				return fmt.Errorf("create instance %s: record its RAM: %w", inst.ID, err)
			}
			return nil
		})
	if err != nil && !errors.As(err, new(*QuotaExceededError)) {
		return fmt.Errorf("create instance within quota: %w", err)
	}
	return err
}

// withinQuota runs change when the project's use plus want stays within its limits (a
// resource's limit is checked only when want asks for more of it); otherwise it changes
// nothing and returns a *QuotaExceededError.
//
// The check and change hold the project's advisory lock, so that of two requests racing for
// the last unit one waits for the other's change and then fails.
func (s *Store) withinQuota(ctx context.Context, projectID string, defaults QuotaLimits, want map[string]int, change func(conn *pgx.Conn) error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	key := quotaLockKey(projectID)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		conn.Release()
		return fmt.Errorf("lock project %s: %w", projectID, err)
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", key); err != nil {
			// A session that keeps the lock must not go back to the pool.
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
		}
		conn.Release()
	}()

	quotas, err := projectQuotas(ctx, conn, projectID, defaults)
	if err != nil {
		return err
	}
	exceeded := &QuotaExceededError{ProjectID: projectID}
	for _, q := range quotas {
		if n, ok := want[q.Resource]; ok && n > 0 && q.Limit != Unlimited && q.InUse+n > q.Limit {
			exceeded.Over = append(exceeded.Over, q)
		}
	}
	if len(exceeded.Over) > 0 {
		return exceeded
	}
	return change(conn.Conn())
}

// CreateBackupWithinQuota records a backup as CreateBackup does, only when the project's
// backups stay within its limit; otherwise it records nothing and returns a
// *QuotaExceededError. Users' backups and scheduled ones count alike.
func (s *Store) CreateBackupWithinQuota(ctx context.Context, b *coffer.Backup, defaults QuotaLimits) error {
	projectID := b.ProjectID
	if projectID == "" {
		instanceID, ok := canonicalID(b.InstanceID)
		if !ok {
			return fmt.Errorf("create backup of instance %s: %w", b.InstanceID, ErrNotFound)
		}
		inst, err := s.getInstance(ctx, "", instanceID)
		if err != nil {
			return fmt.Errorf("create backup of instance %s: %w", b.InstanceID, err)
		}
		projectID = inst.ProjectID
	}
	return s.withinQuota(ctx, projectID, defaults, map[string]int{ResourceBackups: 1}, func(conn *pgx.Conn) error {
		return s.createBackup(ctx, conn, b)
	})
}

// StartResizeWithinQuota sets a project's instance's task to RESIZING, as StartTask does,
// when the project's RAM and volume GiB stay within its limits with the instance at ramMB
// (the new flavor's; 0 when the flavor stays) and volumeSize GiB (0 when the volume stays);
// otherwise it changes nothing and returns a *QuotaExceededError. What the resize asks for
// is reserved until its task ends (FinishTask, or SetTask NONE), so that it counts while the
// resize runs; an instance left in ERROR keeps counting it, since its server may have the
// new flavor or volume. workflowID is the resize that claims, as in StartTask: its claim,
// retried, is its own.
func (s *Store) StartResizeWithinQuota(ctx context.Context, projectID, id string, ramMB, volumeSize int, defaults QuotaLimits, workflowID string) (*coffer.Instance, error) {
	inst, err := s.getInstance(ctx, projectID, id)
	if err != nil {
		return nil, fmt.Errorf("start resize of instance %s: %w", id, err)
	}
	// What the instance counts already: its own, or what it reserved (a retry of this claim
	// asks for nothing more).
	var currentRAM, currentVolume int
	if err := s.pool.QueryRow(ctx, "SELECT greatest(ram_mb, reserved_ram_mb), greatest(volume_size, reserved_volume_size) FROM instances WHERE id = $1",
		inst.ID).Scan(&currentRAM, &currentVolume); err != nil {
		return nil, fmt.Errorf("start resize of instance %s: %w", id, err)
	}
	want := map[string]int{}
	if ramMB > 0 {
		want[ResourceRAM] = ramMB - currentRAM
	}
	if volumeSize > 0 {
		want[ResourceVolumes] = volumeSize - currentVolume
	}
	var started *coffer.Instance
	err = s.withinQuota(ctx, inst.ProjectID, defaults, want, func(conn *pgx.Conn) error {
		var err error
		if started, err = s.StartTask(ctx, projectID, id, coffer.TaskResizing, workflowID); err != nil {
			return err
		}
		_, err = conn.Exec(ctx, "UPDATE instances SET reserved_ram_mb = greatest(reserved_ram_mb, $2), reserved_volume_size = greatest(reserved_volume_size, $3) WHERE id = $1",
			inst.ID, ramMB, volumeSize)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("start resize of instance %s: %w", id, err)
	}
	return started, nil
}
