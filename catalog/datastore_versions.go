package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// VersionDetail is a datastore version as admins manage it: active or not, with the
// datastore's ID, whether it is the default, its manager, packages and allowed flavors.
type VersionDetail struct {
	DatastoreVersion
	DatastoreID string
	Default     bool
	Manager     string
	Packages    string
	// Flavors are the flavor IDs instances of the version may have; none means any.
	Flavors []string
}

// NewVersion is a datastore version to add. The datastore is made when it does not exist.
type NewVersion struct {
	Datastore string
	Name      string
	Manager   string
	ImageTag  string
	ImageID   string
	Port      int
	Packages  string
	Active    bool
	Default   bool
	Flavors   []string
}

// VersionChange changes a version; nil fields are left as they are.
type VersionChange struct {
	Name     *string
	Manager  *string
	ImageTag *string
	ImageID  *string
	Packages *string
	Active   *bool
	Default  *bool
	Flavors  *[]string
}

const versionDetailQuery = `
	SELECT v.id, d.name AS datastore, v.name, v.image_tag, v.image_id, v.port, v.active,
	       d.id AS datastore_id, coalesce(d.default_version_id = v.id, false) AS "default",
	       v.manager, v.packages,
	       array(SELECT flavor_id FROM datastore_version_flavors f WHERE f.version_id = v.id ORDER BY flavor_id) AS flavors
	FROM datastore_versions v JOIN datastores d ON d.id = v.datastore_id`

func scanVersionDetail(row pgx.CollectableRow) (VersionDetail, error) {
	var v VersionDetail
	err := row.Scan(&v.ID, &v.Datastore, &v.Name, &v.ImageTag, &v.ImageID, &v.Port, &v.Active,
		&v.DatastoreID, &v.Default, &v.Manager, &v.Packages, &v.Flavors)
	return v, err
}

// ListVersionDetails lists every datastore version, active or not, by datastore and name.
func (s *Store) ListVersionDetails(ctx context.Context) ([]VersionDetail, error) {
	rows, _ := s.pool.Query(ctx, versionDetailQuery+" ORDER BY d.name, v.name")
	vs, err := pgx.CollectRows(rows, scanVersionDetail)
	if err != nil {
		return nil, fmt.Errorf("list datastore versions: %w", err)
	}
	return vs, nil
}

// GetVersionDetail returns a version by ID, active or not; ErrNotFound when there is none.
func (s *Store) GetVersionDetail(ctx context.Context, id string) (VersionDetail, error) {
	return getVersionDetail(ctx, s.pool, id)
}

func getVersionDetail(ctx context.Context, q querier, id string) (VersionDetail, error) {
	canonical, ok := canonicalID(id)
	if !ok {
		return VersionDetail{}, fmt.Errorf("datastore version %s: %w", id, ErrNotFound)
	}
	rows, _ := q.Query(ctx, versionDetailQuery+" WHERE v.id = $1", canonical)
	v, err := pgx.CollectExactlyOneRow(rows, scanVersionDetail)
	if errors.Is(err, pgx.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return VersionDetail{}, fmt.Errorf("datastore version %s: %w", id, err)
	}
	return v, nil
}

// CreateVersion adds a datastore version, making its datastore when there is none. A
// version of that name in the datastore gives ErrExists.
func (s *Store) CreateVersion(ctx context.Context, nv NewVersion) (VersionDetail, error) {
	var out VersionDetail
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var datastoreID string
		err := tx.QueryRow(ctx, `
			INSERT INTO datastores (name) VALUES ($1)
			ON CONFLICT (name) DO UPDATE SET name = excluded.name
			RETURNING id::text`, nv.Datastore).Scan(&datastoreID)
		if err != nil {
			return err
		}
		var id string
		err = tx.QueryRow(ctx, `
			INSERT INTO datastore_versions (datastore_id, name, image_tag, image_id, port, active, manager, packages)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id::text`,
			datastoreID, nv.Name, nv.ImageTag, nv.ImageID, nv.Port, nv.Active, nv.Manager, nv.Packages).Scan(&id)
		if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == uniqueViolation {
			return ErrExists
		}
		if err != nil {
			return err
		}
		if err := setVersionFlavors(ctx, tx, id, nv.Flavors); err != nil {
			return err
		}
		if nv.Default {
			if _, err := tx.Exec(ctx, "UPDATE datastores SET default_version_id = $1 WHERE id = $2", id, datastoreID); err != nil {
				return err
			}
		}
		out, err = getVersionDetail(ctx, tx, id)
		return err
	})
	if err != nil {
		return VersionDetail{}, fmt.Errorf("create datastore %s version %s: %w", nv.Datastore, nv.Name, err)
	}
	return out, nil
}

func setVersionFlavors(ctx context.Context, tx pgx.Tx, id string, flavors []string) error {
	if _, err := tx.Exec(ctx, "DELETE FROM datastore_version_flavors WHERE version_id = $1", id); err != nil {
		return err
	}
	for _, f := range flavors {
		if _, err := tx.Exec(ctx, "INSERT INTO datastore_version_flavors (version_id, flavor_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", id, f); err != nil {
			return err
		}
	}
	return nil
}

// UpdateVersion changes a version; ErrNotFound when there is none, ErrExists when the new
// name is another version's.
func (s *Store) UpdateVersion(ctx context.Context, id string, c VersionChange) (VersionDetail, error) {
	var out VersionDetail
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		cur, err := getVersionDetail(ctx, tx, id)
		if err != nil {
			return err
		}
		var (
			set  []string
			args = pgx.NamedArgs{"id": cur.ID}
		)
		for col, v := range map[string]*string{"name": c.Name, "manager": c.Manager, "image_tag": c.ImageTag, "image_id": c.ImageID, "packages": c.Packages} {
			if v != nil {
				set = append(set, col+" = @"+col)
				args[col] = *v
			}
		}
		if c.Active != nil {
			set = append(set, "active = @active")
			args["active"] = *c.Active
		}
		if len(set) > 0 {
			_, err := tx.Exec(ctx, "UPDATE datastore_versions SET "+strings.Join(set, ", ")+" WHERE id = @id", args)
			if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == uniqueViolation {
				return ErrExists
			}
			if err != nil {
				return err
			}
		}
		if c.Flavors != nil {
			if err := setVersionFlavors(ctx, tx, cur.ID, *c.Flavors); err != nil {
				return err
			}
		}
		switch {
		case c.Default != nil && *c.Default:
			_, err = tx.Exec(ctx, "UPDATE datastores SET default_version_id = $1 WHERE id = $2", cur.ID, cur.DatastoreID)
		case c.Default != nil && cur.Default:
			_, err = tx.Exec(ctx, "UPDATE datastores SET default_version_id = NULL WHERE id = $1", cur.DatastoreID)
		}
		if err != nil {
			return err
		}
		out, err = getVersionDetail(ctx, tx, cur.ID)
		return err
	})
	if err != nil {
		return VersionDetail{}, fmt.Errorf("update datastore version %s: %w", id, err)
	}
	return out, nil
}

// DeleteVersion removes a version (its datastore no longer has a default when it was
// the default); ErrNotFound when there is none, ErrInUse while configuration groups are
// for it. Instances keep the version's name.
func (s *Store) DeleteVersion(ctx context.Context, id string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		cur, err := getVersionDetail(ctx, tx, id)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE datastores SET default_version_id = NULL WHERE default_version_id = $1", cur.ID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "DELETE FROM datastore_versions WHERE id = $1", cur.ID)
		if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == foreignKeyViolation {
			return ErrInUse
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("delete datastore version %s: %w", id, err)
	}
	return nil
}
