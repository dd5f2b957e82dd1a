package postgres

import (
	"context"
	"fmt"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/guestagent"
	"github.com/jackc/pgx/v5"
)

func validateUser(u coffer.User) error {
	// pg_ roles are PostgreSQL's predefined ones (pg_read_server_files, ...): the agent
	// must never give one a password; nor root, which only root enable makes.
	if err := validateRoleName(u.Name); err != nil {
		return err
	}
	if err := validateHost(u.Name, u.Host); err != nil {
		return err
	}
	if err := validatePassword(u.Name, u.Password); err != nil {
		return err
	}
	for _, db := range u.Databases {
		if err := validateName("database", db); err != nil {
			return fmt.Errorf("user %s: %w", u.Name, err)
		}
	}
	return nil
}

// CreateUsers makes each user a login role with its password (or sets the password again when
// the role exists, so a retry converges), then grants it its databases: all rights on each
// database and on its public schema (PostgreSQL 15 no longer lets everyone create there).
// The databases must exist.
//
// DDL takes no bind parameters, so the server itself quotes the password: format('%L') turns
// the password, sent as a parameter, into a literal, and the statement it returns is run. The
// session keeps these statements out of the server's log, even when they fail.
func (d *Driver) CreateUsers(ctx context.Context, users []coffer.User) error {
	for _, u := range users {
		if err := validateUser(u); err != nil {
			return err
		}
	}
	if len(users) == 0 {
		return nil
	}
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "SET log_statement = 'none'; SET log_min_error_statement = 'panic'"); err != nil {
		return fmt.Errorf("keep passwords out of the server log: %w", err)
	}
	for _, u := range users {
		if err := d.createUser(ctx, conn, u); err != nil {
			return err
		}
	}
	return nil
}

func (d *Driver) createUser(ctx context.Context, conn *pgx.Conn, u coffer.User) error {
	for _, db := range u.Databases {
		exists, err := databaseExists(ctx, conn, db)
		if err != nil {
			return err
		}
		if !exists {
			return fmt.Errorf("user %s: %w: database %s does not exist", u.Name, guestagent.ErrInvalid, db)
		}
	}
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", u.Name).Scan(&exists); err != nil {
		return fmt.Errorf("look up user %s: %w", u.Name, err)
	}
	template := "CREATE ROLE %I WITH LOGIN PASSWORD %L"
	if exists {
		template = "ALTER ROLE %I WITH LOGIN PASSWORD %L"
	}
	var stmt string
	if err := conn.QueryRow(ctx, "SELECT format($1::text, $2::text, $3::text)", template, u.Name, u.Password).Scan(&stmt); err != nil {
		return fmt.Errorf("create user %s: quote the password: %w", u.Name, err)
	}
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("create user %s: %w", u.Name, classify(err))
	}
	if u.Host != "" {
		if err := setHost(ctx, conn, u.Name, u.Host); err != nil {
			return fmt.Errorf("create user %s: set its host: %w", u.Name, err)
		}
	}
	role := pgx.Identifier{u.Name}.Sanitize()
	for _, db := range u.Databases {
		if _, err := conn.Exec(ctx, "GRANT ALL ON DATABASE "+pgx.Identifier{db}.Sanitize()+" TO "+role); err != nil {
			return fmt.Errorf("grant database %s to user %s: %w", db, u.Name, classify(err))
		}
		if err := d.grantSchema(ctx, db, role); err != nil {
			return fmt.Errorf("grant schema public of database %s to user %s: %w", db, u.Name, err)
		}
	}
	return nil
}

// grantSchema grants role (quoted) all rights on the public schema of db; schema rights
// live in each database, so it takes a session there.
func (d *Driver) grantSchema(ctx context.Context, db, role string) error {
	conn, err := d.connect(ctx, db)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "GRANT ALL ON SCHEMA public TO "+role); err != nil {
		return classify(err)
	}
	return nil
}
