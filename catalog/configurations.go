package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrInUse marks a configuration group that instances still have: it cannot be deleted.
var ErrInUse = errors.New("in use")

// ErrOtherVersion marks a configuration group of another datastore version than the
// instance's: it cannot be attached to it.
var ErrOtherVersion = errors.New("the configuration group is for another datastore version")

// Parameter is a configuration parameter a datastore version offers, with the rules its
// values follow.
type Parameter struct {
	VersionID string
	Name      string
	// DataType is integer, float, boolean or string.
	DataType string
	// Min and Max bound integer and float values; nil is no bound.
	Min, Max *float64
	// Allowed are the values a string may take; none is any string.
	Allowed []string
	// Unit is the unit of an integer or float value, as the engine counts it ("kB", "ms").
	Unit string
	// RestartRequired: the engine takes a change only at its next start.
	RestartRequired bool
	Description     string
}

// Configuration is a project's configuration group: values for the parameters of one
// datastore version.
type Configuration struct {
	ID          string
	ProjectID   string
	Name        string
	Description string
	VersionID   string
	// Datastore and Version are the names of the version's datastore and of the version.
	Datastore string
	Version   string
	// Values maps parameters to their JSON values (float64, bool or string, as
	// encoding/json decodes them; integers are whole float64s).
	Values map[string]any
	// InstanceCount is how many instances have the group.
	InstanceCount int
	Created       time.Time
	Updated       time.Time
}

// ConfigurationChange changes a configuration group. Values replaces every value, unless
// Merge, which sets only the values it has; nil Values changes none. nil names and
// descriptions stay.
type ConfigurationChange struct {
	Name        *string
	Description *string
	Values      map[string]any
	Merge       bool
}

// InstanceRef names an instance.
type InstanceRef struct {
	ID   string
	Name string
}

const parameterColumns = `version_id::text, name, data_type, min_size::float8, max_size::float8, allowed_values, unit,
	restart_required, description`

func scanParameter(row pgx.CollectableRow) (Parameter, error) {
	var p Parameter
	err := row.Scan(&p.VersionID, &p.Name, &p.DataType, &p.Min, &p.Max, &p.Allowed, &p.Unit, &p.RestartRequired, &p.Description)
	return p, err
}

// ListParameters lists a version's parameters by name.
func (s *Store) ListParameters(ctx context.Context, versionID string) ([]Parameter, error) {
	id, ok := canonicalID(versionID)
	if !ok {
		return nil, fmt.Errorf("datastore version %s: %w", versionID, ErrNotFound)
	}
	rows, _ := s.pool.Query(ctx, "SELECT "+parameterColumns+" FROM configuration_parameters WHERE version_id = $1 ORDER BY name", id)
	ps, err := pgx.CollectRows(rows, scanParameter)
	if err != nil {
		return nil, fmt.Errorf("list parameters of datastore version %s: %w", versionID, err)
	}
	return ps, nil
}

// GetParameter returns a version's parameter; ErrNotFound when it has none of that name.
func (s *Store) GetParameter(ctx context.Context, versionID, name string) (Parameter, error) {
	id, ok := canonicalID(versionID)
	if !ok {
		return Parameter{}, fmt.Errorf("datastore version %s: %w", versionID, ErrNotFound)
	}
	rows, _ := s.pool.Query(ctx, "SELECT "+parameterColumns+" FROM configuration_parameters WHERE version_id = $1 AND name = $2", id, name)
	p, err := pgx.CollectExactlyOneRow(rows, scanParameter)
	if errors.Is(err, pgx.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Parameter{}, fmt.Errorf("parameter %s of datastore version %s: %w", name, versionID, err)
	}
	return p, nil
}

// SaveParameter adds a version's parameter (create) or changes one (not create): ErrExists
// when a created one exists, ErrNotFound when a changed one, or the version, does not.
func (s *Store) SaveParameter(ctx context.Context, p Parameter, create bool) error {
	id, ok := canonicalID(p.VersionID)
	if !ok {
		return fmt.Errorf("datastore version %s: %w", p.VersionID, ErrNotFound)
	}
	args := pgx.NamedArgs{"version_id": id, "name": p.Name, "data_type": p.DataType, "min": p.Min, "max": p.Max,
		"allowed": p.Allowed, "unit": p.Unit, "restart": p.RestartRequired, "description": p.Description}
	var (
		tag pgconn.CommandTag
		err error
	)
	if create {
		tag, err = s.pool.Exec(ctx, `
			INSERT INTO configuration_parameters (version_id, name, data_type, min_size, max_size, allowed_values, unit, restart_required, description)
			VALUES (@version_id, @name, @data_type, @min, @max, @allowed, @unit, @restart, @description)`, args)
	} else {
		tag, err = s.pool.Exec(ctx, `
			UPDATE configuration_parameters SET data_type = @data_type, min_size = @min, max_size = @max,
			       allowed_values = @allowed, unit = @unit, restart_required = @restart, description = @description
			WHERE version_id = @version_id AND name = @name`, args)
	}
	pgErr, _ := errors.AsType[*pgconn.PgError](err)
	switch {
	case pgErr != nil && pgErr.Code == uniqueViolation:
		err = ErrExists
	case pgErr != nil && pgErr.Code == foreignKeyViolation:
		err = ErrNotFound
	case err == nil && tag.RowsAffected() == 0:
		err = ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("save parameter %s of datastore version %s: %w", p.Name, p.VersionID, err)
	}
	return nil
}

// DeleteParameter removes a version's parameter; ErrNotFound when there is none. Groups
// that set it keep their value, which the next change of the group must drop.
func (s *Store) DeleteParameter(ctx context.Context, versionID, name string) error {
	id, ok := canonicalID(versionID)
	if !ok {
		return fmt.Errorf("datastore version %s: %w", versionID, ErrNotFound)
	}
	tag, err := s.pool.Exec(ctx, "DELETE FROM configuration_parameters WHERE version_id = $1 AND name = $2", id, name)
	if err == nil && tag.RowsAffected() == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("delete parameter %s of datastore version %s: %w", name, versionID, err)
	}
	return nil
}

// foreignKeyViolation is PostgreSQL's SQLSTATE for a reference to a missing row.
const foreignKeyViolation = "23503"

const configurationQuery = `
	SELECT c.id::text, c.project_id, c.name, c.description, c.version_id::text, d.name, v.name, c."values",
	       (SELECT count(*) FROM instances i WHERE i.configuration_id = c.id), c.created, c.updated
	FROM configurations c
	JOIN datastore_versions v ON v.id = c.version_id
	JOIN datastores d ON d.id = v.datastore_id`

func scanConfiguration(row pgx.CollectableRow) (*Configuration, error) {
	var (
		c      Configuration
		values []byte
	)
	err := row.Scan(&c.ID, &c.ProjectID, &c.Name, &c.Description, &c.VersionID, &c.Datastore, &c.Version, &values,
		&c.InstanceCount, &c.Created, &c.Updated)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(values, &c.Values); err != nil {
		return nil, fmt.Errorf("read the values of configuration %s: %w", c.ID, err)
	}
	return &c, nil
}

// CreateConfiguration records a project's configuration group; its row as stored is
// written back into c.
func (s *Store) CreateConfiguration(ctx context.Context, c *Configuration) error {
	id, ok := canonicalID(c.ID)
	if !ok {
		return fmt.Errorf("create configuration %q: the ID is not a UUID", c.ID)
	}
	values, err := json.Marshal(orEmpty(c.Values))
	if err != nil {
		return fmt.Errorf("create configuration %s: %w", id, err)
	}
	_, err = s.pool.Exec(ctx, `
		INSERT INTO configurations (id, project_id, name, description, version_id, "values")
		VALUES ($1, $2, $3, $4, $5, $6)`, id, c.ProjectID, c.Name, c.Description, c.VersionID, values)
	if err != nil {
		return fmt.Errorf("create configuration %s: %w", id, err)
	}
	got, err := s.GetConfiguration(ctx, c.ProjectID, id)
	if err != nil {
		return err
	}
	*c = *got
	return nil
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// GetConfiguration returns a project's configuration group; ErrNotFound when the project
// has none with that ID. An empty projectID finds any project's.
func (s *Store) GetConfiguration(ctx context.Context, projectID, id string) (*Configuration, error) {
	return getConfiguration(ctx, s.pool, projectID, id)
}

func getConfiguration(ctx context.Context, q querier, projectID, id string) (*Configuration, error) {
	canonical, ok := canonicalID(id)
	if !ok {
		return nil, fmt.Errorf("configuration %s: %w", id, ErrNotFound)
	}
	rows, _ := q.Query(ctx, configurationQuery+" WHERE c.id = $1 AND ($2 = '' OR c.project_id = $2)", canonical, projectID)
	c, err := pgx.CollectExactlyOneRow(rows, scanConfiguration)
	if errors.Is(err, pgx.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("configuration %s: %w", id, err)
	}
	return c, nil
}

// ListConfigurations lists a project's configuration groups by creation, at most limit,
// after the group marker (ErrNotFound when the project has no such group).
func (s *Store) ListConfigurations(ctx context.Context, projectID string, limit int, marker string) ([]*Configuration, error) {
	query := configurationQuery + " WHERE c.project_id = $1"
	args := []any{projectID, limit}
	if marker != "" {
		m, err := s.GetConfiguration(ctx, projectID, marker)
		if err != nil {
			return nil, err
		}
		query += " AND (c.created, c.id) > ($3, $4)"
		args = append(args, m.Created, m.ID)
	}
	rows, _ := s.pool.Query(ctx, query+" ORDER BY c.created, c.id LIMIT $2", args...)
	cs, err := pgx.CollectRows(rows, scanConfiguration)
	if err != nil {
		return nil, fmt.Errorf("list configurations of project %s: %w", projectID, err)
	}
	return cs, nil
}

// UpdateConfiguration changes a project's configuration group and returns it as changed,
// with the instances that have it (the ones to apply the change to).
func (s *Store) UpdateConfiguration(ctx context.Context, projectID, id string, ch ConfigurationChange) (*Configuration, []InstanceRef, error) {
	var (
		out       *Configuration
		instances []InstanceRef
	)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		cur, err := getConfiguration(ctx, tx, projectID, id)
		if err != nil {
			return err
		}
		values := "\"values\""
		args := pgx.NamedArgs{"id": cur.ID, "name": ch.Name, "description": ch.Description}
		if ch.Values != nil {
			b, err := json.Marshal(ch.Values)
			if err != nil {
				return err
			}
			args["values"] = b
			values = "@values::jsonb"
			if ch.Merge {
				values = "\"values\" || @values::jsonb"
			}
		}
		_, err = tx.Exec(ctx, `
			UPDATE configurations SET name = coalesce(@name, name), description = coalesce(@description, description),
			       "values" = `+values+`, updated = now()
			WHERE id = @id`, args)
		if err != nil {
			return err
		}
		if out, err = getConfiguration(ctx, tx, projectID, cur.ID); err != nil {
			return err
		}
		instances, err = configurationInstances(ctx, tx, cur.ID)
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("update configuration %s: %w", id, err)
	}
	return out, instances, nil
}

// DeleteConfiguration removes a project's configuration group: ErrNotFound when there is
// none, ErrInUse while instances have it.
func (s *Store) DeleteConfiguration(ctx context.Context, projectID, id string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		cur, err := getConfiguration(ctx, tx, projectID, id)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "DELETE FROM configurations WHERE id = $1", cur.ID)
		if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == foreignKeyViolation {
			return ErrInUse
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("delete configuration %s: %w", id, err)
	}
	return nil
}

// ConfigurationInstances lists the instances that have a project's configuration group,
// by name.
func (s *Store) ConfigurationInstances(ctx context.Context, projectID, id string) ([]InstanceRef, error) {
	c, err := s.GetConfiguration(ctx, projectID, id)
	if err != nil {
		return nil, err
	}
	refs, err := configurationInstances(ctx, s.pool, c.ID)
	if err != nil {
		return nil, fmt.Errorf("instances of configuration %s: %w", id, err)
	}
	return refs, nil
}

func configurationInstances(ctx context.Context, q querier, id string) ([]InstanceRef, error) {
	rows, _ := q.Query(ctx, "SELECT id::text, name FROM instances WHERE configuration_id = $1 ORDER BY name, id", id)
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (InstanceRef, error) {
		var r InstanceRef
		err := row.Scan(&r.ID, &r.Name)
		return r, err
	})
}

// SetInstanceConfiguration attaches a project's configuration group to its instance, or
// detaches the instance's group (configurationID ""). ErrNotFound when either is missing,
// ErrOtherVersion when the group is for another datastore version than the instance's,
// ErrTaskRunning while an operation holds the instance.
func (s *Store) SetInstanceConfiguration(ctx context.Context, projectID, instanceID, configurationID string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		id, ok := canonicalID(instanceID)
		if !ok {
			return ErrNotFound
		}
		var datastore, version, task string
		err := tx.QueryRow(ctx, "SELECT datastore, version, task FROM instances WHERE id = $1 AND project_id = $2 FOR UPDATE",
			id, projectID).Scan(&datastore, &version, &task)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if task != "NONE" {
			return ErrTaskRunning
		}
		var group any
		if configurationID != "" {
			c, err := getConfiguration(ctx, tx, projectID, configurationID)
			if err != nil {
				return err
			}
			if c.Datastore != datastore || c.Version != version {
				return ErrOtherVersion
			}
			group = c.ID
		}
		_, err = tx.Exec(ctx, "UPDATE instances SET configuration_id = $2, updated = now() WHERE id = $1", id, group)
		return err
	})
	if err != nil {
		return fmt.Errorf("set the configuration of instance %s: %w", instanceID, err)
	}
	return nil
}

// InstanceValues returns the values of the instance's configuration group with the
// parameters they set, none when it has no group. Values of parameters the version no
// longer has are left out.
func (s *Store) InstanceValues(ctx context.Context, instanceID string) (map[string]any, []Parameter, error) {
	id, ok := canonicalID(instanceID)
	if !ok {
		return nil, nil, fmt.Errorf("instance %s: %w", instanceID, ErrNotFound)
	}
	var (
		groupID   *string
		versionID *string
		raw       []byte
	)
	err := s.pool.QueryRow(ctx, `
		SELECT c.id::text, c.version_id::text, c."values"
		FROM instances i LEFT JOIN configurations c ON c.id = i.configuration_id
		WHERE i.id = $1`, id).Scan(&groupID, &versionID, &raw)
	if errors.Is(err, pgx.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return nil, nil, fmt.Errorf("configuration of instance %s: %w", instanceID, err)
	}
	values := map[string]any{}
	if groupID == nil {
		return values, nil, nil
	}
	if err := json.Unmarshal(raw, &values); err != nil {
		return nil, nil, fmt.Errorf("configuration of instance %s: %w", instanceID, err)
	}
	params, err := s.ListParameters(ctx, *versionID)
	if err != nil {
		return nil, nil, err
	}
	known := map[string]bool{}
	var used []Parameter
	for _, p := range params {
		if _, ok := values[p.Name]; ok {
			known[p.Name] = true
			used = append(used, p)
		}
	}
	for name := range values {
		if !known[name] {
			delete(values, name)
		}
	}
	return values, used, nil
}

// SetRestartRequired records whether the instance's engine must restart to take a change
// of its configuration.
func (s *Store) SetRestartRequired(ctx context.Context, instanceID string, required bool) error {
	return s.updateInstance(ctx, instanceID, "restart_required = @required", pgx.NamedArgs{"required": required})
}
