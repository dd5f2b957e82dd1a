package postgres

import (
	"context"
	"fmt"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestagent"
)

// EnableRoot makes the role root a superuser that logs in with password, creating it the
// first time. Root is the tenant's: with it they may do anything the engine allows.
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
	template := "CREATE ROLE %I WITH SUPERUSER LOGIN PASSWORD %L"
	if exists {
		template = "ALTER ROLE %I WITH SUPERUSER LOGIN PASSWORD %L"
	}
	if err := execFormatted(ctx, conn, template, guest.RootUser, password); err != nil {
		return fmt.Errorf("enable root: %w", err)
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
