package catalog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/coffer-dbaas/coffer"
)

// instanceColumns are what scanInstance reads, in its order.
const instanceColumns = `id, project_id, name, flavor_id, volume_size, volume_type, datastore, version,
	task, coalesce(task_workflow_id, ''), server_status, service_status, service_status_updated,
	server_id, volume_id, port_id, security_group_id, address,
	fault_message, fault_details, fault_created, created, updated,
	coalesce(configuration_id::text, ''), restart_required,
	access_public, allowed_cidrs,
	` + backupRunningColumn

// uniqueViolation is PostgreSQL's SQLSTATE for a duplicate key.
const uniqueViolation = "23505"

// instanceRow receives a row's instanceColumns.
type instanceRow struct {
	inst                 coffer.Instance
	serviceStatusUpdated *time.Time
	fault                coffer.Fault
	faultCreated         *time.Time
}

// dest is where Scan writes instanceColumns, in their order.
func (r *instanceRow) dest() []any {
	return []any{
		&r.inst.ID, &r.inst.ProjectID, &r.inst.Name, &r.inst.FlavorID, &r.inst.VolumeSize, &r.inst.VolumeType, &r.inst.Datastore, &r.inst.Version,
		&r.inst.Task, &r.inst.TaskWorkflowID, &r.inst.ServerStatus, &r.inst.ServiceStatus, &r.serviceStatusUpdated,
		&r.inst.ServerID, &r.inst.VolumeID, &r.inst.PortID, &r.inst.SecurityGroupID, &r.inst.Address,
		&r.fault.Message, &r.fault.Details, &r.faultCreated, &r.inst.Created, &r.inst.Updated,
		&r.inst.ConfigurationID, &r.inst.RestartRequired,
		&r.inst.Access.IsPublic, &r.inst.Access.AllowedCIDRs,
		&r.inst.BackupRunning,
	}
}

// instance is the instance the row held.
func (r *instanceRow) instance() *coffer.Instance {
	inst := r.inst
	if r.serviceStatusUpdated != nil {
		inst.ServiceStatusUpdated = *r.serviceStatusUpdated
	}
	if r.faultCreated != nil {
		fault := r.fault
		fault.Created = *r.faultCreated
		inst.Fault = &fault
	}
	return &inst
}

func scanInstance(row pgx.CollectableRow) (*coffer.Instance, error) {
	var r instanceRow
	if err := row.Scan(r.dest()...); err != nil {
		return nil, err
	}
	return r.instance(), nil
}

// canonicalID returns id as the catalog stores it (a lowercase, dashed UUID), and false when
// id is not a UUID: then no row has it, and asking PostgreSQL would only be a cast error.
func canonicalID(id string) (string, bool) {
	u, err := uuid.Parse(id)
	if err != nil {
		return "", false
	}
	return u.String(), true
}

// CreateInstance records a new instance with task BUILDING, held by inst.TaskWorkflowID
// (the create that records it), and service status NEW. An empty inst.ID gets a new UUID; the row as stored (its ID, task, statuses, Created and Updated)
// is written back into inst. A duplicate ID gives ErrExists.
func (s *Store) CreateInstance(ctx context.Context, inst *coffer.Instance) error {
	return insertInstance(ctx, s.pool, inst)
}

// insertInstance is CreateInstance on q: the pool, or the session that holds a lock.
func insertInstance(ctx context.Context, q querier, inst *coffer.Instance) error {
	if inst.ID == "" {
		inst.ID = uuid.NewString()
	}
	id, ok := canonicalID(inst.ID)
	if !ok {
		return fmt.Errorf("create instance %q: the ID is not a UUID", inst.ID)
	}
	rows, _ := q.Query(ctx, `
		INSERT INTO instances (id, project_id, name, flavor_id, volume_size, volume_type, datastore, version,
		                       task, task_workflow_id, server_status, service_status,
		                       server_id, volume_id, port_id, security_group_id, address, configuration_id,
		                       access_public, allowed_cidrs)
		VALUES (@id, @project_id, @name, @flavor_id, @volume_size, @volume_type, @datastore, @version,
		        @task, nullif(@task_workflow_id, ''), @server_status, @service_status,
		        @server_id, @volume_id, @port_id, @security_group_id, @address, nullif(@configuration_id, '')::uuid,
		        @access_public, @allowed_cidrs)
		RETURNING `+instanceColumns,
		pgx.NamedArgs{
			"id":                id,
			"project_id":        inst.ProjectID,
			"name":              inst.Name,
			"flavor_id":         inst.FlavorID,
			"volume_size":       inst.VolumeSize,
			"volume_type":       inst.VolumeType,
			"datastore":         inst.Datastore,
			"version":           inst.Version,
			"task":              string(coffer.TaskBuilding),
			"task_workflow_id":  inst.TaskWorkflowID,
			"server_status":     inst.ServerStatus,
			"service_status":    string(coffer.ServiceNew),
			"server_id":         inst.ServerID,
			"volume_id":         inst.VolumeID,
			"port_id":           inst.PortID,
			"security_group_id": inst.SecurityGroupID,
			"address":           inst.Address,
			"configuration_id":  inst.ConfigurationID,
			"access_public":     inst.Access.IsPublic,
			"allowed_cidrs":     inst.Access.CIDRs(),
		})
	created, err := pgx.CollectExactlyOneRow(rows, scanInstance)
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == uniqueViolation {
		return fmt.Errorf("create instance %s: %w", id, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create instance %s: %w", id, err)
	}
	*inst = *created
	return nil
}

// GetInstance returns an instance of a project; an empty projectID finds any project's.
func (s *Store) GetInstance(ctx context.Context, projectID, id string) (*coffer.Instance, error) {
	inst, err := s.getInstance(ctx, projectID, id)
	if err != nil {
		return nil, fmt.Errorf("get instance %s: %w", id, err)
	}
	return inst, nil
}

func (s *Store) getInstance(ctx context.Context, projectID, id string) (*coffer.Instance, error) {
	canonical, ok := canonicalID(id)
	if !ok {
		return nil, ErrNotFound
	}
	rows, _ := s.pool.Query(ctx, `
		SELECT `+instanceColumns+`
		FROM instances
		WHERE id = @id AND (@project_id::text = '' OR project_id = @project_id)`,
		pgx.NamedArgs{"id": canonical, "project_id": projectID})
	inst, err := pgx.CollectExactlyOneRow(rows, scanInstance)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return inst, err
}

// ListInstances lists a project's instances ordered by creation, at most limit of them,
// after the instance with ID marker when marker is set. An empty projectID lists all.
//
// A limit of zero or less means no limit. The order is (Created, ID), so the last instance
// of a page is the marker of the next; a marker that is no instance (of the project) gives
// ErrNotFound.
func (s *Store) ListInstances(ctx context.Context, projectID string, limit int, marker string) ([]*coffer.Instance, error) {
	query, args, err := s.listQuery(ctx, instanceColumns, projectID, limit, marker)
	if err != nil {
		return nil, err
	}
	rows, _ := s.pool.Query(ctx, query, args...)
	instances, err := pgx.CollectRows(rows, scanInstance)
	if err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	return instances, nil
}

// ReplicatedInstance is a listed instance with its replication.
type ReplicatedInstance struct {
	*coffer.Instance
	Replication Replication
}

// ListReplicatedInstances is ListInstances with each instance's replication (as
// Replications gives it), read in the same query.
func (s *Store) ListReplicatedInstances(ctx context.Context, projectID string, limit int, marker string) ([]ReplicatedInstance, error) {
	query, args, err := s.listQuery(ctx, instanceColumns+", "+replicationColumns, projectID, limit, marker)
	if err != nil {
		return nil, err
	}
	rows, _ := s.pool.Query(ctx, query, args...)
	// Every row is scanned into the same place, its values then copied out: no destination
	// to allocate for each row. Zeroing the place before each row keeps nothing of the last.
	var (
		out []ReplicatedInstance
		ir  instanceRow
		rr  replicationRow
	)
	if limit > 0 {
		out = make([]ReplicatedInstance, 0, limit)
	}
	_, err = pgx.ForEachRow(rows, append(ir.dest(), rr.dest()...), func() error {
		inst := ir.instance()
		out = append(out, ReplicatedInstance{Instance: inst, Replication: rr.replication(inst.ID)})
		ir, rr = instanceRow{}, replicationRow{}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	return out, nil
}

// listQuery is the query of ListInstances selecting columns, and its arguments: positional,
// as pgx's named arguments would have the query rewritten on every call.
func (s *Store) listQuery(ctx context.Context, columns, projectID string, limit int, marker string) (string, []any, error) {
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if projectID != "" {
		where = append(where, "project_id = "+arg(projectID))
	}
	if marker != "" {
		after, err := s.getInstance(ctx, projectID, marker)
		if err != nil {
			return "", nil, fmt.Errorf("list instances after %s: marker: %w", marker, err)
		}
		where = append(where, "(created, id) > ("+arg(after.Created)+", "+arg(after.ID)+")")
	}
	query := "SELECT " + columns + " FROM instances"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY created, id"
	if limit > 0 {
		// The limit is written into the query, not passed as an argument: PostgreSQL plans a
		// prepared statement with LIMIT $n for every execution (its generic plan, not knowing
		// how few rows are wanted, looks far costlier than each custom one), and planning the
		// list took several times its execution. Written in, the statement (one per page size,
		// each prepared once by pgx's statement cache) gets its generic plan once.
		query += " LIMIT " + strconv.Itoa(limit)
	}
	return query, args, nil
}

// StartTask sets the instance's task atomically for the workflow workflowID (the claim of
// an operation), only when no other task holds it (task NONE; also ERROR, or BUILDING that
// the delete takes over from a create, for a delete) and no
// backup runs; it returns ErrTaskRunning otherwise (also wrapping ErrBackupRunning when a
// backup holds the instance) and ErrNotFound when missing. An instance that holds task for
// workflowID already counts as started: the claim is the workflow's own, retried. An empty
// projectID finds any project's instance; an empty workflowID records no workflow (and
// never finds the task its own). It returns the instance as updated.
func (s *Store) StartTask(ctx context.Context, projectID, id string, task coffer.Task, workflowID string) (*coffer.Instance, error) {
	if task == coffer.TaskNone || task == coffer.TaskError {
		return nil, fmt.Errorf("start task %s on instance %s: %s is no operation (use SetTask or RecordFault)", task, id, task)
	}
	canonical, ok := canonicalID(id)
	if !ok {
		return nil, fmt.Errorf("start task %s on instance %s: %w", task, id, ErrNotFound)
	}
	// A delete may also clear away an instance whose last task failed, and one still being
	// built whose server failed (shown ERROR; the API refuses one shown BUILD, as Trove): the delete takes the task over from the
	// create, which it then ends (workflows.DeleteInstance).
	from := []string{string(coffer.TaskNone)}
	if task == coffer.TaskDeleting {
		from = append(from, string(coffer.TaskError), string(coffer.TaskBuilding))
	}
	// One statement, so that of two concurrent starts the second waits for the first's row
	// lock, sees the task it set and updates nothing.
	rows, _ := s.pool.Query(ctx, `
		UPDATE instances
		SET task = @task, task_workflow_id = nullif(@workflow_id, ''), updated = now()
		WHERE id = @id AND (@project_id::text = '' OR project_id = @project_id)
		  AND ((task = ANY(@from) AND `+noBackupRunning+`) OR `+heldBy+`)
		RETURNING `+instanceColumns,
		pgx.NamedArgs{"id": canonical, "project_id": projectID, "task": string(task), "from": from, "workflow_id": workflowID})
	inst, err := pgx.CollectExactlyOneRow(rows, scanInstance)
	if err == nil {
		return inst, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("start task %s on instance %s: %w", task, id, err)
	}
	// Nothing updated: the instance is missing, or another task or a backup holds it.
	current, err := s.getInstance(ctx, projectID, canonical)
	if err != nil {
		return nil, fmt.Errorf("start task %s on instance %s: %w", task, id, err)
	}
	if current.BackupRunning && slices.Contains(from, string(current.Task)) {
		return nil, fmt.Errorf("start task %s on instance %s: %w: %w", task, id, ErrBackupRunning, ErrTaskRunning)
	}
	return nil, fmt.Errorf("start task %s on instance %s: task %s holds it: %w", task, id, current.Task, ErrTaskRunning)
}

// heldBy is the condition under which an instance holds @task for the workflow
// @workflow_id already: a claim of its own, retried.
const heldBy = `(@workflow_id::text <> '' AND task = @task AND task_workflow_id = @workflow_id)`

// SetTask sets the task (for example NONE when an operation ends) and clears the fault when
// the task is not ERROR. ErrNotFound when the instance is missing.
func (s *Store) SetTask(ctx context.Context, id string, task coffer.Task) error {
	set := "task = @task, updated = now()"
	if task == coffer.TaskNone {
		set += ", reserved_ram_mb = 0, reserved_volume_size = 0"
	}
	if task != coffer.TaskError {
		set += ", fault_message = '', fault_details = '', fault_created = NULL"
	}
	if err := s.updateInstance(ctx, id, set, pgx.NamedArgs{"task": string(task)}); err != nil {
		return fmt.Errorf("set task %s on instance %s: %w", task, id, err)
	}
	return nil
}

// UpdateResources records the instance's cloud pieces as they are made. ErrNotFound when
// the instance is missing.
func (s *Store) UpdateResources(ctx context.Context, id string, r Resources) error {
	err := s.updateInstance(ctx, id, `
		server_id         = coalesce(nullif(@server_id, ''), server_id),
		volume_id         = coalesce(nullif(@volume_id, ''), volume_id),
		port_id           = coalesce(nullif(@port_id, ''), port_id),
		security_group_id = coalesce(nullif(@security_group_id, ''), security_group_id),
		address           = coalesce(nullif(@address, ''), address),
		server_status     = coalesce(nullif(@server_status, ''), server_status),
		updated           = now()`,
		pgx.NamedArgs{
			"server_id":         r.ServerID,
			"volume_id":         r.VolumeID,
			"port_id":           r.PortID,
			"security_group_id": r.SecurityGroupID,
			"address":           r.Address,
			"server_status":     r.ServerStatus,
		})
	if err != nil {
		return fmt.Errorf("update resources of instance %s: %w", id, err)
	}
	return nil
}

// SetServiceStatus records a health report: the status, and at as when it was seen (the
// catalog's clock when at is zero). It leaves Updated alone: heartbeats are not changes to
// the instance. ErrNotFound when the instance is missing.
func (s *Store) SetServiceStatus(ctx context.Context, id string, status coffer.ServiceStatus, at time.Time) error {
	err := s.updateInstance(ctx, id,
		"service_status = @status, service_status_updated = coalesce(@at::timestamptz, now())",
		pgx.NamedArgs{"status": string(status), "at": timeOrNil(at)})
	if err != nil {
		return fmt.Errorf("set service status %s on instance %s: %w", status, id, err)
	}
	return nil
}

// RecordFault sets task ERROR and the fault; a zero f.Created means now. ErrNotFound when
// the instance is missing.
func (s *Store) RecordFault(ctx context.Context, id string, f coffer.Fault) error {
	err := s.updateInstance(ctx, id, `
		task = @task, updated = now(),
		fault_message = @message, fault_details = @details,
		fault_created = coalesce(@created::timestamptz, now())`,
		pgx.NamedArgs{
			"task":    string(coffer.TaskError),
			"message": f.Message,
			"details": f.Details,
			"created": timeOrNil(f.Created),
		})
	if err != nil {
		return fmt.Errorf("record fault on instance %s: %w", id, err)
	}
	return nil
}

// DeleteInstance removes the instance's row; a missing row is no error.
func (s *Store) DeleteInstance(ctx context.Context, id string) error {
	canonical, ok := canonicalID(id)
	if !ok {
		return nil
	}
	if _, err := s.pool.Exec(ctx, "DELETE FROM instances WHERE id = @id", pgx.NamedArgs{"id": canonical}); err != nil {
		return fmt.Errorf("delete instance %s: %w", id, err)
	}
	return nil
}

// updateInstance sets columns of one instance (set is the SET clause over args); it returns
// ErrNotFound when there is no such instance.
func (s *Store) updateInstance(ctx context.Context, id, set string, args pgx.NamedArgs) error {
	canonical, ok := canonicalID(id)
	if !ok {
		return ErrNotFound
	}
	args["id"] = canonical
	tag, err := s.pool.Exec(ctx, "UPDATE instances SET "+set+" WHERE id = @id", args)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// timeOrNil is t, or nil (SQL NULL) when t is zero.
func timeOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}
