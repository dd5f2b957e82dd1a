package catalog

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coffer-dbaas/coffer"
)

// Replication is an instance's place in a replication group.
type Replication struct {
	InstanceID string
	// ReplicaOf is the primary this instance streams from; "" for a primary or a
	// standalone instance.
	ReplicaOf string
	// Replicas are the instances that stream from this one, oldest first.
	Replicas []string
	// Fenced is set when a failover replaced this instance as its group's primary: its
	// engine must never accept writes again.
	Fenced bool
	// Lag is the replica's lag as last reported; nil while nothing was reported.
	Lag *ReplicationLag
}

// ReplicationLag is how far a replica is behind its primary.
type ReplicationLag struct {
	Bytes   int64
	Seconds float64
	At      time.Time
}

// Replications returns the replication of each instance in ids that the catalog has (any
// project's), keyed by ID. Instances in no group are there too, with no primary and no
// replicas.
func (s *Store) Replications(ctx context.Context, ids []string) (map[string]Replication, error) {
	canonical := make([]string, 0, len(ids))
	for _, id := range ids {
		if c, ok := canonicalID(id); ok {
			canonical = append(canonical, c)
		}
	}
	out := make(map[string]Replication, len(canonical))
	if len(canonical) == 0 {
		return out, nil
	}
	rows, _ := s.pool.Query(ctx, `SELECT id::text, `+replicationColumns+` FROM instances WHERE id = ANY(@ids::uuid[])`,
		pgx.NamedArgs{"ids": canonical})
	var (
		id string
		rr replicationRow
	)
	_, err := pgx.ForEachRow(rows, append([]any{&id}, rr.dest()...), func() error {
		out[id] = rr.replication(id)
		rr = replicationRow{}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read replication of %d instances: %w", len(canonical), err)
	}
	return out, nil
}

// replicationColumns are what replicationRow reads, in its order, of an instances row
// (the table not aliased).
const replicationColumns = `coalesce(replica_of::text, ''), fenced,
	replication_lag_bytes, replication_lag_seconds, replication_lag_updated,
	coalesce((SELECT array_agg(r.id::text ORDER BY r.created, r.id)
	          FROM instances r WHERE r.replica_of = instances.id), '{}')`

// replicationRow receives a row's replicationColumns.
type replicationRow struct {
	r          Replication
	lagBytes   *int64
	lagSeconds *float64
	lagAt      *time.Time
}

// dest is where Scan writes replicationColumns, in their order.
func (rr *replicationRow) dest() []any {
	return []any{&rr.r.ReplicaOf, &rr.r.Fenced, &rr.lagBytes, &rr.lagSeconds, &rr.lagAt, &rr.r.Replicas}
}

// replication is the replication of instance id the row held.
func (rr *replicationRow) replication(id string) Replication {
	got := rr.r
	got.InstanceID = id
	if rr.lagBytes != nil && rr.lagSeconds != nil && rr.lagAt != nil {
		got.Lag = &ReplicationLag{Bytes: *rr.lagBytes, Seconds: *rr.lagSeconds, At: *rr.lagAt}
	}
	return got
}

// GetReplication returns one instance's replication; ErrNotFound when there is no such
// instance.
func (s *Store) GetReplication(ctx context.Context, id string) (Replication, error) {
	all, err := s.Replications(ctx, []string{id})
	if err != nil {
		return Replication{}, err
	}
	r, ok := all[canonicalOr(id)]
	if !ok {
		return Replication{}, fmt.Errorf("get replication of instance %s: %w", id, ErrNotFound)
	}
	return r, nil
}

func canonicalOr(id string) string {
	if c, ok := canonicalID(id); ok {
		return c
	}
	return id
}

// SetReplicaOf records that id streams from primary ("" for none). ErrNotFound when the
// instance is missing.
func (s *Store) SetReplicaOf(ctx context.Context, id, primary string) error {
	var p *string
	if primary != "" {
		c, ok := canonicalID(primary)
		if !ok {
			return fmt.Errorf("set primary of instance %s: %q is not an instance ID", id, primary)
		}
		p = &c
	}
	if err := s.updateInstance(ctx, id, "replica_of = @primary::uuid, updated = now()", pgx.NamedArgs{"primary": p}); err != nil {
		return fmt.Errorf("set primary of instance %s to %q: %w", id, primary, err)
	}
	return nil
}

// StartTasks sets a task on each of several instances of a replication group at once, or on
// none, for the workflow workflowID (the claim of a replication operation): each must have
// task NONE (an EJECTING primary may also be in ERROR, since its guest is dead), or hold the
// task for workflowID already (the claim retried). It returns ErrTaskRunning when one of
// them is busy (also with a task another workflow set: two promotes of different replicas
// set the same task on the same members) and ErrNotFound when one is missing. An empty
// projectID finds any project's instances.
func (s *Store) StartTasks(ctx context.Context, projectID, workflowID string, tasks map[string]coffer.Task) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("start replication tasks: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// In a fixed order, so that two claims over the same members lock them in the same
	// order and never wait for each other.
	for _, id := range slices.Sorted(maps.Keys(tasks)) {
		task := tasks[id]
		canonical, ok := canonicalID(id)
		if !ok {
			return fmt.Errorf("start task %s on instance %s: %w", task, id, ErrNotFound)
		}
		from := []string{string(coffer.TaskNone)}
		if task == coffer.TaskEjecting {
			from = append(from, string(coffer.TaskError))
		}
		tag, err := tx.Exec(ctx, `
			UPDATE instances SET task = @task, task_workflow_id = nullif(@workflow_id, ''), updated = now()
			WHERE id = @id AND (@project_id::text = '' OR project_id = @project_id)
			  AND (task = ANY(@from) OR `+heldBy+`)`,
			pgx.NamedArgs{"id": canonical, "project_id": projectID, "task": string(task), "from": from, "workflow_id": workflowID})
		if err != nil {
			return fmt.Errorf("start task %s on instance %s: %w", task, id, err)
		}
		if tag.RowsAffected() == 1 {
			continue
		}
		var current string
		err = tx.QueryRow(ctx, "SELECT task FROM instances WHERE id = @id AND (@project_id::text = '' OR project_id = @project_id)",
			pgx.NamedArgs{"id": canonical, "project_id": projectID}).Scan(&current)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("start task %s on instance %s: %w", task, id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("start task %s on instance %s: %w", task, id, err)
		}
		return fmt.Errorf("start task %s on instance %s: task %s holds it: %w", task, id, current, ErrTaskRunning)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("start replication tasks: %w", err)
	}
	return nil
}

// Regroup is the shape of a replication group after a switchover, a failover or a detach.
type Regroup struct {
	// Primary streams from no one.
	Primary string
	// Replicas stream from Primary.
	Replicas []string
	// Ejected were replaced by Primary in a failover: they leave the group, are fenced,
	// and get EjectedFault (task ERROR).
	Ejected      []string
	EjectedFault coffer.Fault
}

// Regroup records a group's new shape in one transaction, and ends the task of every
// instance it names: NONE (the fault cleared) for the primary and the replicas, ERROR with
// the fault for the ejected.
func (s *Store) Regroup(ctx context.Context, g Regroup) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("regroup replicas of %s: %w", g.Primary, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	const done = `task = 'NONE', fault_message = '', fault_details = '', fault_created = NULL, updated = now()`
	update := func(id, set string, args pgx.NamedArgs) error {
		canonical, ok := canonicalID(id)
		if !ok {
			return fmt.Errorf("instance %q: %w", id, ErrNotFound)
		}
		args["id"] = canonical
		tag, err := tx.Exec(ctx, "UPDATE instances SET "+set+" WHERE id = @id", args)
		if err != nil {
			return fmt.Errorf("instance %s: %w", id, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("instance %s: %w", id, ErrNotFound)
		}
		return nil
	}
	primary, ok := canonicalID(g.Primary)
	if !ok {
		return fmt.Errorf("regroup replicas of %s: %w", g.Primary, ErrNotFound)
	}
	if err := update(primary, "replica_of = NULL, replication_lag_bytes = NULL, replication_lag_seconds = NULL, replication_lag_updated = NULL, "+done, pgx.NamedArgs{}); err != nil {
		return fmt.Errorf("regroup replicas of %s: %w", g.Primary, err)
	}
	for _, id := range g.Replicas {
		if err := update(id, "replica_of = @primary::uuid, fenced = false, "+done, pgx.NamedArgs{"primary": primary}); err != nil {
			return fmt.Errorf("regroup replicas of %s: %w", g.Primary, err)
		}
	}
	for _, id := range g.Ejected {
		err := update(id, `replica_of = NULL, fenced = true, task = 'ERROR', updated = now(),
			replication_lag_bytes = NULL, replication_lag_seconds = NULL, replication_lag_updated = NULL,
			fault_message = @message, fault_details = @details, fault_created = coalesce(@created::timestamptz, now())`,
			pgx.NamedArgs{"message": g.EjectedFault.Message, "details": g.EjectedFault.Details, "created": timeOrNil(g.EjectedFault.Created)})
		if err != nil {
			return fmt.Errorf("regroup replicas of %s: %w", g.Primary, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("regroup replicas of %s: %w", g.Primary, err)
	}
	return nil
}

// SetReplicationLag records a replica's lag as reported at at (the catalog's clock when
// zero). It leaves Updated alone, as heartbeats do. ErrNotFound when the instance is missing.
func (s *Store) SetReplicationLag(ctx context.Context, id string, lag ReplicationLag) error {
	err := s.updateInstance(ctx, id, `replication_lag_bytes = @bytes, replication_lag_seconds = @seconds,
		replication_lag_updated = coalesce(@at::timestamptz, now())`,
		pgx.NamedArgs{"bytes": lag.Bytes, "seconds": lag.Seconds, "at": timeOrNil(lag.At)})
	if err != nil {
		return fmt.Errorf("set replication lag of instance %s: %w", id, err)
	}
	return nil
}
