package mariadb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/guestagent"
)

// systemDatabases are MariaDB's own; no tenant request may name one.
var systemDatabases = []string{"mysql", "information_schema", "performance_schema", "sys"}

func validateName(kind, name string) error {
	if err := coffer.ValidDatabaseName(name); err != nil {
		return fmt.Errorf("%s: %w: %w", kind, guestagent.ErrInvalid, err)
	}
	if slices.Contains(systemDatabases, strings.ToLower(name)) {
		return fmt.Errorf("%s: %w: %s is a reserved name", kind, guestagent.ErrInvalid, name)
	}
	return nil
}

func validateDatabase(db coffer.Database) error {
	if err := validateName("database", db.Name); err != nil {
		return err
	}
	if err := coffer.ValidCharacterSet(db.CharacterSet); err != nil {
		return fmt.Errorf("database %s: %w: %w", db.Name, guestagent.ErrInvalid, err)
	}
	if err := coffer.ValidCollation(db.Collation); err != nil {
		return fmt.Errorf("database %s: %w: %w", db.Name, guestagent.ErrInvalid, err)
	}
	return nil
}

// CreateDatabases makes each database that does not exist yet, with its character set and
// collation (the server's utf8mb4 when it names none); existing ones are left alone. Root,
// once enabled, gets all rights on each.
func (d *Driver) CreateDatabases(ctx context.Context, dbs []coffer.Database) error {
	for _, db := range dbs {
		if err := validateDatabase(db); err != nil {
			return err
		}
	}
	if len(dbs) == 0 {
		return nil
	}
	conn, err := d.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, db := range dbs {
		stmt := "CREATE DATABASE IF NOT EXISTS " + quoteName(db.Name)
		if db.CharacterSet != "" {
			stmt += " CHARACTER SET " + db.CharacterSet
		}
		if db.Collation != "" {
			stmt += " COLLATE " + db.Collation
		}
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("create database %s: %w", db.Name, classify(err))
		}
	}
	return grantRootDatabases(ctx, conn)
}

// ListDatabases lists the tenant's databases with their character set and collation.
func (d *Driver) ListDatabases(ctx context.Context) ([]coffer.Database, error) {
	conn, err := d.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	rows, err := conn.QueryContext(ctx, `SELECT schema_name, default_character_set_name, default_collation_name
		FROM information_schema.schemata ORDER BY schema_name`)
	if err != nil {
		return nil, fmt.Errorf("list databases: %w", err)
	}
	defer rows.Close()
	dbs := []coffer.Database{}
	for rows.Next() {
		var db coffer.Database
		if err := rows.Scan(&db.Name, &db.CharacterSet, &db.Collation); err != nil {
			return nil, fmt.Errorf("list databases: %w", err)
		}
		if !slices.Contains(systemDatabases, db.Name) {
			dbs = append(dbs, db)
		}
	}
	return dbs, rows.Err()
}

// DeleteDatabase drops a database; the rights granted on it go with it.
func (d *Driver) DeleteDatabase(ctx context.Context, name string) error {
	if err := validateName("database", name); err != nil {
		return err
	}
	conn, err := d.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	exists, err := databaseExists(ctx, conn, name)
	if err != nil {
		return err
	}
	if !exists {
		return fmt.Errorf("database %s: %w", name, guestagent.ErrNotFound)
	}
	if _, err := conn.ExecContext(ctx, "DROP DATABASE IF EXISTS "+quoteName(name)); err != nil {
		return fmt.Errorf("drop database %s: %w", name, classify(err))
	}
	// MariaDB keeps database grants after a DROP DATABASE; a later database of the same
	// name must not inherit them.
	if _, err := conn.ExecContext(ctx, "DELETE FROM mysql.db WHERE Db = ?", name); err != nil {
		return fmt.Errorf("drop the grants of database %s: %w", name, err)
	}
	if _, err := conn.ExecContext(ctx, "FLUSH PRIVILEGES"); err != nil {
		return fmt.Errorf("drop the grants of database %s: %w", name, err)
	}
	return nil
}

func databaseExists(ctx context.Context, conn *sql.DB, name string) (bool, error) {
	var found string
	err := conn.QueryRowContext(ctx, "SELECT schema_name FROM information_schema.schemata WHERE schema_name = ?", name).Scan(&found)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up database %s: %w", name, err)
	}
	return true, nil
}
