package postgres

import (
	"context"
	"fmt"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/guestagent"
	"github.com/jackc/pgx/v5"
)

// systemDatabases are the databases never shown to, nor changed by, a tenant.
var systemDatabases = []string{"postgres", "template0", "template1"}

// ListDatabases lists the tenant's databases, sorted by name, with their encoding and
// collation.
func (d *Driver) ListDatabases(ctx context.Context) ([]coffer.Database, error) {
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, _ := conn.Query(ctx, `
		SELECT datname, pg_encoding_to_char(encoding), datcollate FROM pg_database
		WHERE NOT datistemplate AND datname <> ALL($1::text[])
		ORDER BY datname`, systemDatabases)
	dbs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (coffer.Database, error) {
		var db coffer.Database
		err := row.Scan(&db.Name, &db.CharacterSet, &db.Collation)
		return db, err
	})
	if err != nil {
		return nil, fmt.Errorf("list databases: %w", err)
	}
	return dbs, nil
}

// DeleteDatabase drops a tenant's database, ending the sessions still on it.
func (d *Driver) DeleteDatabase(ctx context.Context, name string) error {
	if err := validateName("database", name); err != nil {
		return err
	}
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	exists, err := databaseExists(ctx, conn, name)
	if err != nil {
		return err
	}
	if !exists {
		return fmt.Errorf("database %s: %w", name, guestagent.ErrNotFound)
	}
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, classify(err))
	}
	return nil
}
