package catalog

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// ListDatastores lists datastores with their active versions.
func (s *Store) ListDatastores(ctx context.Context) ([]Datastore, error) {
	// One row per active version, so a datastore without one is left out. The default
	// version's name shows only while that version is active.
	rows, _ := s.pool.Query(ctx, `
		SELECT d.id AS datastore_id, d.name AS datastore, coalesce(dv.name, '') AS default_version,
		       v.id, v.name, v.image_tag, v.image_id, v.port, v.active
		FROM datastore_versions v
		JOIN datastores d ON d.id = v.datastore_id
		LEFT JOIN datastore_versions dv ON dv.id = d.default_version_id AND dv.active
		WHERE v.active
		ORDER BY d.name, v.name`)
	type versionRow struct {
		DatastoreID    string
		DefaultVersion string
		DatastoreVersion
	}
	versions, err := pgx.CollectRows(rows, pgx.RowToStructByName[versionRow])
	if err != nil {
		return nil, fmt.Errorf("list datastores: %w", err)
	}
	var datastores []Datastore
	for _, v := range versions {
		if n := len(datastores); n == 0 || datastores[n-1].ID != v.DatastoreID {
			datastores = append(datastores, Datastore{ID: v.DatastoreID, Name: v.Datastore, DefaultVersion: v.DefaultVersion})
		}
		d := &datastores[len(datastores)-1]
		d.Versions = append(d.Versions, v.DatastoreVersion)
	}
	return datastores, nil
}

// FindDatastoreVersion finds a version by datastore name (or ID) and version name (or ID);
// an empty version means the datastore's default. ErrNotFound when there is none.
func (s *Store) FindDatastoreVersion(ctx context.Context, datastore, version string) (DatastoreVersion, error) {
	// A name that happens to look like an ID is still a name: both are tried, an ID first.
	rows, _ := s.pool.Query(ctx, `
		SELECT v.id, d.name AS datastore, v.name, v.image_tag, v.image_id, v.port, v.active
		FROM datastore_versions v
		JOIN datastores d ON d.id = v.datastore_id
		WHERE (d.name = @datastore OR d.id = @datastore_id)
		  AND ((@version = '' AND v.id = d.default_version_id) OR v.name = @version OR v.id = @version_id)
		  AND v.active
		ORDER BY d.id = @datastore_id DESC NULLS LAST, v.id = @version_id DESC NULLS LAST
		LIMIT 1`,
		pgx.NamedArgs{
			"datastore":    datastore,
			"datastore_id": uuidOrNil(datastore),
			"version":      version,
			"version_id":   uuidOrNil(version),
		})
	v, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[DatastoreVersion])
	if errors.Is(err, pgx.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return DatastoreVersion{}, fmt.Errorf("find datastore %q version %q: %w", datastore, version, err)
	}
	return v, nil
}

// uuidOrNil returns s as a canonical UUID, or nil (SQL NULL, which equals nothing) when it
// is not one, so that a name can be compared with a uuid column without a cast error.
func uuidOrNil(s string) any {
	if id, ok := canonicalID(s); ok {
		return id
	}
	return nil
}
