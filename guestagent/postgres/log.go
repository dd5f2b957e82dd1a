package postgres

import (
	"context"
	"fmt"

	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestagent"
)

// GeneralLog is the one log PostgreSQL exposes, as Trove's PostgreSQL guest does: the
// server's log. Turned on, it also holds every statement the tenant's sessions run
// (log_statement = 'all'); the agent's own sessions never log theirs (connect), since they
// carry passwords.
const GeneralLog = "general"

// Logs lists the general log: the server's log file, on when statements are logged.
func (d *Driver) Logs(ctx context.Context) ([]guestagent.EngineLog, error) {
	enabled, err := d.statementsLogged(ctx)
	if err != nil {
		return nil, err
	}
	return []guestagent.EngineLog{{Name: GeneralLog, Type: guest.LogUser, Enabled: enabled, Path: d.cluster.LogFile}}, nil
}

// SetLog turns the statements of the general log on or off, for every session from the
// next statement on (a reload; no restart).
func (d *Driver) SetLog(ctx context.Context, name string, enable bool) error {
	if name != GeneralLog {
		return fmt.Errorf("log %q: %w", name, guestagent.ErrNotFound)
	}
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	set := "ALTER SYSTEM RESET log_statement"
	if enable {
		set = "ALTER SYSTEM SET log_statement = 'all'"
	}
	if _, err := conn.Exec(ctx, set); err != nil {
		return fmt.Errorf("turn the general log %s: %w", onOff(enable), err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		return fmt.Errorf("reload the configuration: %w", err)
	}
	return nil
}

// statementsLogged reports whether the server logs every statement (as configured, not
// as this session's own setting, which connect turns off).
func (d *Driver) statementsLogged(ctx context.Context) (bool, error) {
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	// The configuration files' last word (postgresql.auto.conf's, where ALTER SYSTEM writes):
	// this session's own value is the "none" connect asked for.
	var setting string
	err = conn.QueryRow(ctx, `SELECT coalesce((SELECT setting FROM pg_file_settings
		WHERE name = 'log_statement' AND error IS NULL ORDER BY seqno DESC LIMIT 1), 'none')`).Scan(&setting)
	if err != nil {
		return false, fmt.Errorf("read log_statement: %w", err)
	}
	return setting == "all", nil
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}
