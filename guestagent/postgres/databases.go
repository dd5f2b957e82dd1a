package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/guestagent"
	"github.com/jackc/pgx/v5"
)

// validateName checks a database or user name before it reaches SQL (where it is quoted
// anyway), with the rules the API checks too (coffer.ValidDatabaseName): the cluster's own
// databases and the agent's roles are reserved.
func validateName(kind, name string) error {
	if err := coffer.ValidDatabaseName(name); err != nil {
		return fmt.Errorf("%s: %w: %w", kind, guestagent.ErrInvalid, err)
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

// CreateDatabases makes each database that does not exist yet and takes CONNECT on it away
// from PUBLIC, so that only the users granted the database (and root) reach it.
func (d *Driver) CreateDatabases(ctx context.Context, dbs []coffer.Database) error {
	for _, db := range dbs {
		if err := validateDatabase(db); err != nil {
			return err
		}
	}
	if len(dbs) == 0 {
		return nil
	}
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, db := range dbs {
		exists, err := databaseExists(ctx, conn, db.Name)
		if err != nil {
			return err
		}
		name := pgx.Identifier{db.Name}.Sanitize()
		if !exists {
			if _, err := conn.Exec(ctx, createDatabaseSQL(db)); err != nil && sqlState(err) != "42P04" { // duplicate_database: a concurrent try made it
				return fmt.Errorf("create database %s: %w", db.Name, classify(err))
			}
		}
		if _, err := conn.Exec(ctx, "REVOKE CONNECT ON DATABASE "+name+" FROM PUBLIC"); err != nil {
			return fmt.Errorf("revoke public access to database %s: %w", db.Name, classify(err))
		}
	}
	// Root, once enabled, manages the databases made later too.
	return d.grantRootDatabases(ctx, conn)
}

// createDatabaseSQL is the CREATE DATABASE statement for a validated db. An encoding without a
// collation gets the C locale, which fits every encoding; the cluster's default (C.UTF-8)
// fits only UTF8.
func createDatabaseSQL(db coffer.Database) string {
	var b strings.Builder
	b.WriteString("CREATE DATABASE " + pgx.Identifier{db.Name}.Sanitize())
	if db.CharacterSet == "" && db.Collation == "" {
		return b.String()
	}
	b.WriteString(" TEMPLATE template0")
	if db.CharacterSet != "" {
		b.WriteString(" ENCODING " + quoteLiteral(db.CharacterSet))
	}
	locale := db.Collation
	if locale == "" {
		locale = "C"
	}
	b.WriteString(" LC_COLLATE " + quoteLiteral(locale) + " LC_CTYPE " + quoteLiteral(locale))
	return b.String()
}

// quoteLiteral quotes s as a standard SQL string literal. It serves only values already
// checked against a pattern (encodings, locales); passwords are quoted by the server.
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

func databaseExists(ctx context.Context, conn *pgx.Conn, name string) (bool, error) {
	var exists bool
	err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists)
	if err != nil {
		return false, fmt.Errorf("look up database %s: %w", name, err)
	}
	return exists, nil
}
