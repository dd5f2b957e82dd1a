package mariadb

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestagent"
)

// Root is a managed service's master user, root@'%', not the engine's superuser: it logs in
// from anywhere, reads and writes every tenant database with every right there (and may
// grant them on), sees all databases and sessions. It has none of the server-wide rights
// that leave the database or take the server over: no FILE (LOAD_FILE, SELECT ... INTO
// OUTFILE, LOAD DATA), no SUPER, SHUTDOWN, RELOAD, CREATE USER (which could rename the
// agent's account into one it sets the password of), and no rights on the mysql schema
// (where it could write itself FILE for the next start).
//
// rootGlobalPrivileges are root's server-wide rights.
const rootGlobalPrivileges = "SHOW DATABASES, PROCESS"

// EnableRoot makes root the tenant's master user that logs in with password, creating it
// the first time, with all rights on every tenant database.
func (d *Driver) EnableRoot(ctx context.Context, password string) error {
	if err := coffer.ValidPassword(password, coffer.MinPasswordLength); err != nil {
		return fmt.Errorf("enable root: %w: %w", guestagent.ErrInvalid, err)
	}
	conn, err := d.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "CREATE USER IF NOT EXISTS ?@? IDENTIFIED BY ?", guest.RootUser, guest.DefaultHost, password); err != nil {
		return fmt.Errorf("enable root: %w", classify(err))
	}
	if _, err := conn.ExecContext(ctx, "ALTER USER ?@? IDENTIFIED BY ? ACCOUNT UNLOCK", guest.RootUser, guest.DefaultHost, password); err != nil {
		return fmt.Errorf("enable root: %w", classify(err))
	}
	if _, err := conn.ExecContext(ctx, "GRANT "+rootGlobalPrivileges+" ON *.* TO ?@?", guest.RootUser, guest.DefaultHost); err != nil {
		return fmt.Errorf("enable root: %w", classify(err))
	}
	if err := grantRootDatabases(ctx, conn); err != nil {
		return fmt.Errorf("enable root: %w", err)
	}
	return nil
}

// grantRootDatabases gives an enabled root all rights (with GRANT OPTION) on every tenant
// database; without root it does nothing.
func grantRootDatabases(ctx context.Context, conn *sql.DB) error {
	enabled, err := rootExists(ctx, conn)
	if err != nil || !enabled {
		return err
	}
	rows, err := conn.QueryContext(ctx, "SELECT schema_name FROM information_schema.schemata")
	if err != nil {
		return fmt.Errorf("list databases: %w", err)
	}
	var dbs []string
	for rows.Next() {
		var db string
		if err := rows.Scan(&db); err != nil {
			rows.Close()
			return fmt.Errorf("list databases: %w", err)
		}
		if validateName("database", db) == nil {
			dbs = append(dbs, db)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list databases: %w", err)
	}
	for _, db := range dbs {
		if _, err := conn.ExecContext(ctx, "GRANT ALL PRIVILEGES ON "+quoteName(db)+".* TO ?@? WITH GRANT OPTION", guest.RootUser, guest.DefaultHost); err != nil {
			return fmt.Errorf("grant database %s to root: %w", db, classify(err))
		}
	}
	return nil
}

func rootExists(ctx context.Context, conn *sql.DB) (bool, error) {
	return userExists(ctx, conn, guest.RootUser, guest.DefaultHost)
}

// DisableRoot drops root and its grants; no root is no error.
func (d *Driver) DisableRoot(ctx context.Context) error {
	conn, err := d.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "DROP USER IF EXISTS ?@?", guest.RootUser, guest.DefaultHost); err != nil {
		return fmt.Errorf("disable root: %w", classify(err))
	}
	return nil
}

// RootEnabled reports whether root can log in.
func (d *Driver) RootEnabled(ctx context.Context) (bool, error) {
	conn, err := d.connect(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	return rootExists(ctx, conn)
}
