package postgres

import (
	"context"
	"fmt"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestagent"
	"github.com/jackc/pgx/v5"
)

// Root is a managed service's master user, as on RDS or Cloud SQL, not a superuser: it logs
// in, creates databases and roles, reads and writes every table (pg_read_all_data,
// pg_write_all_data) and uses the predefined roles a tenant needs to watch and steer its own
// sessions. It cannot leave the database: no COPY ... PROGRAM, no server files, no untrusted
// languages, no ALTER SYSTEM, no superusers, and no change to the agent's role or the
// replication role.
//
// rootRoles are the predefined roles root is a member of.
var rootRoles = []string{
	"pg_read_all_data", "pg_write_all_data",
	"pg_monitor", "pg_read_all_settings", "pg_read_all_stats", "pg_stat_scan_tables",
	"pg_signal_backend",
}

// serverRoles are the predefined roles that reach the server's OS: programs run as the
// engine's user, and its files. Only the agent has them, as a superuser.
var serverRoles = []string{"pg_execute_server_program", "pg_read_server_files", "pg_write_server_files"}

// EnableRoot makes root the tenant's master user (see rootRoles) that logs in with password,
// creating it the first time, and gives it all rights on every tenant database and its
// public schema. A root made superuser by an older agent is demoted.
func (d *Driver) EnableRoot(ctx context.Context, password string) error {
	if err := coffer.ValidPassword(password, coffer.MinPasswordLength); err != nil {
		return fmt.Errorf("enable root: %w: %w", guestagent.ErrInvalid, err)
	}
	conn, err := d.adminSession(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", guest.RootUser).Scan(&exists); err != nil {
		return fmt.Errorf("enable root: look up role root: %w", err)
	}
	template := "CREATE ROLE %I WITH NOSUPERUSER LOGIN PASSWORD %L"
	if exists {
		template = "ALTER ROLE %I WITH NOSUPERUSER LOGIN PASSWORD %L"
	}
	if err := execFormatted(ctx, conn, template, guest.RootUser, password); err != nil {
		return fmt.Errorf("enable root: %w", err)
	}
	if err := confine(ctx, conn); err != nil {
		return fmt.Errorf("enable root: %w", err)
	}
	if err := d.grantRootDatabases(ctx, conn); err != nil {
		return fmt.Errorf("enable root: %w", err)
	}
	return nil
}

// grantRootDatabases gives root, when it exists, all rights on every tenant database.
func (d *Driver) grantRootDatabases(ctx context.Context, conn *pgx.Conn) error {
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", guest.RootUser).Scan(&exists); err != nil {
		return fmt.Errorf("look up role root: %w", err)
	}
	if !exists {
		return nil
	}
	return d.grantTenantDatabases(ctx, conn, pgx.Identifier{guest.RootUser}.Sanitize())
}

// confine makes sure no tenant role can leave the database, on a primary (a standby follows
// it). It runs at each engine start and each root enable, so that what an older agent left
// (a superuser root, superusers root made) is mended:
//
//   - Every superuser but the agent's role loses SUPERUSER, and every role but the agent's
//     loses membership in serverRoles, the agent's role and the replication role (a member
//     of the agent's role could SET ROLE to it).
//   - serverRoles are marked superuser in pg_authid. On PostgreSQL 15 CREATEROLE may grant
//     any role that is not a superuser, so without this root could grant itself
//     pg_execute_server_program; the predefined roles cannot log in, and ALTER ROLE refuses
//     them, so the mark changes nothing else. PostgreSQL 16 needs ADMIN OPTION instead, and
//     the mark is harmless there.
//   - root, when it exists, gets CREATEDB and CREATEROLE, no REPLICATION nor BYPASSRLS, and
//     rootRoles.
func confine(ctx context.Context, conn *pgx.Conn) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("confine tenant roles: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, "UPDATE pg_authid SET rolsuper = true WHERE rolname = ANY($1::text[]) AND NOT rolsuper", serverRoles); err != nil {
		return fmt.Errorf("keep the server's roles to superusers: %w", err)
	}
	rows, _ := tx.Query(ctx, `
		SELECT format('ALTER ROLE %I NOSUPERUSER', rolname) FROM pg_authid
		WHERE rolsuper AND rolname <> $1 AND rolname <> ALL($2::text[])
		UNION ALL
		SELECT format('REVOKE %I FROM %I CASCADE', r.rolname, m.rolname)
		FROM pg_auth_members a JOIN pg_authid r ON r.oid = a.roleid JOIN pg_authid m ON m.oid = a.member
		WHERE r.rolname = ANY($3::text[]) AND m.rolname <> $1`, agentRole, serverRoles, append([]string{agentRole, replicationRole}, serverRoles...))
	stmts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("find superusers and server roles' members: %w", err)
	}
	for _, stmt := range stmts {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("confine tenant roles: %s: %w", stmt, err)
		}
	}
	var rootExists bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", guest.RootUser).Scan(&rootExists); err != nil {
		return fmt.Errorf("look up role root: %w", err)
	}
	if rootExists {
		root := pgx.Identifier{guest.RootUser}.Sanitize()
		if _, err := tx.Exec(ctx, "ALTER ROLE "+root+" WITH NOSUPERUSER CREATEDB CREATEROLE NOREPLICATION NOBYPASSRLS"); err != nil {
			return fmt.Errorf("make root the master user: %w", err)
		}
		for _, role := range rootRoles {
			if _, err := tx.Exec(ctx, "GRANT "+pgx.Identifier{role}.Sanitize()+" TO "+root); err != nil {
				return fmt.Errorf("grant %s to root: %w", role, err)
			}
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("confine tenant roles: %w", err)
	}
	return nil
}

// confineOnStart runs confine on a primary after the engine started.
func (d *Driver) confineOnStart(ctx context.Context) error {
	if d.isStandby() {
		return nil
	}
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := confine(ctx, conn); err != nil {
		return err
	}
	return nil
}

// grantTenantDatabases gives role (quoted) all rights on every tenant database and on its
// public schema, which the agent owns, with the right to grant them on.
func (d *Driver) grantTenantDatabases(ctx context.Context, conn *pgx.Conn, role string) error {
	rows, _ := conn.Query(ctx, "SELECT datname FROM pg_database WHERE NOT datistemplate AND datname <> ALL($1::text[])", systemDatabases)
	dbs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("list databases: %w", err)
	}
	for _, db := range dbs {
		if _, err := conn.Exec(ctx, "GRANT ALL ON DATABASE "+pgx.Identifier{db}.Sanitize()+" TO "+role+" WITH GRANT OPTION"); err != nil {
			return fmt.Errorf("grant database %s: %w", db, classify(err))
		}
		if err := d.grantSchema(ctx, db, role+" WITH GRANT OPTION"); err != nil {
			return fmt.Errorf("grant schema public of database %s: %w", db, err)
		}
	}
	return nil
}

// DisableRoot takes root's login and password away and ends its sessions; the role stays,
// so that what it owns keeps an owner.
func (d *Driver) DisableRoot(ctx context.Context) error {
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, `
		DO $$ BEGIN
			IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'root') THEN
				ALTER ROLE root WITH NOLOGIN PASSWORD NULL;
			END IF;
		END $$`)
	if err != nil {
		return fmt.Errorf("disable root: %w", classify(err))
	}
	if _, err := conn.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", guest.RootUser); err != nil {
		return fmt.Errorf("disable root: end its sessions: %w", err)
	}
	return nil
}

// RootEnabled reports whether root exists and can log in.
func (d *Driver) RootEnabled(ctx context.Context) (bool, error) {
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var enabled bool
	err = conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1 AND rolcanlogin)", guest.RootUser).Scan(&enabled)
	if err != nil {
		return false, fmt.Errorf("check root: %w", err)
	}
	return enabled, nil
}
