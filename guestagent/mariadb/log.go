package mariadb

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestagent"
)

// The guest logs, as Trove's MySQL guest has them: the general query log and the slow
// query log (user logs, off until the tenant turns them on; on or off is kept on the
// volume and written into coffer.cnf, so it persists over restarts), and the server's
// error log (the guest log, always on). The agent's own sessions never reach the user
// logs (connect turns both off for them), since they carry passwords.
const (
	GeneralLog   = "general"
	SlowQueryLog = "slow_query"
	GuestLog     = "guest"
)

// userLog is a user log's variables and the mark on the volume that keeps it on.
type userLog struct {
	name, variable, fileVariable, file, mark string
}

func (d *Driver) userLogs() []userLog {
	return []userLog{
		{GeneralLog, "general_log", "general_log_file", filepath.Join(d.volume, "mariadb-general.log"), "general-log.on"},
		{SlowQueryLog, "slow_query_log", "slow_query_log_file", filepath.Join(d.volume, "mariadb-slow.log"), "slow-query-log.on"},
	}
}

// logSettings are coffer.cnf's lines for the user logs: their files, and on as kept.
func (d *Driver) logSettings() []string {
	lines := []string{"log_output=FILE"}
	for _, l := range d.userLogs() {
		lines = append(lines, l.fileVariable+"="+l.file, fmt.Sprintf("%s=%d", l.variable, boolInt(d.marked(l.mark))))
	}
	return lines
}

// Logs lists the general and slow query logs and the server's error log.
func (d *Driver) Logs(context.Context) ([]guestagent.EngineLog, error) {
	var logs []guestagent.EngineLog
	for _, l := range d.userLogs() {
		logs = append(logs, guestagent.EngineLog{Name: l.name, Type: guest.LogUser, Enabled: d.marked(l.mark), Path: l.file})
	}
	return append(logs, guestagent.EngineLog{Name: GuestLog, Type: guest.LogSys, Enabled: true, Path: d.server.LogFile}), nil
}

// SetLog turns a user log on or off: kept on the volume and in coffer.cnf for every later
// start, and at once on a running server.
func (d *Driver) SetLog(ctx context.Context, name string, enable bool) error {
	if name == GuestLog {
		return fmt.Errorf("log %s is a system log, always on: %w", name, guestagent.ErrInvalid)
	}
	for _, l := range d.userLogs() {
		if l.name != name {
			continue
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		keep := d.unmark
		if enable {
			keep = d.mark
		}
		if err := keep(l.mark); err != nil {
			return fmt.Errorf("keep log %s %s: %w", name, onOff(enable), err)
		}
		if err := d.writeConfig(); err != nil {
			return err
		}
		f, err := d.server.openLog(l.file)
		if err != nil {
			return err
		}
		f.Close()
		if !d.server.Installed() || !d.server.Running() {
			return nil
		}
		db, err := d.connect(ctx)
		if err != nil {
			return err
		}
		defer db.Close()
		if _, err := db.ExecContext(ctx, fmt.Sprintf("SET GLOBAL %s = %d", l.variable, boolInt(enable))); err != nil {
			return fmt.Errorf("turn log %s %s: %w", name, onOff(enable), err)
		}
		return nil
	}
	return fmt.Errorf("log %q: %w", name, guestagent.ErrNotFound)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}
