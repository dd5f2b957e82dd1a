package pgcluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// RunTool runs one of the cluster's client or server tools (pg_basebackup, pg_rewind,
// pg_controldata, ...) from BinDir, as the system user when the caller is root, with env
// added to its environment (for example PGPASSFILE: passwords never go on a command line).
// It returns the tool's combined output; an error carries its last lines.
func (c *Cluster) RunTool(ctx context.Context, env []string, name string, args ...string) ([]byte, error) {
	path, err := c.bin(name)
	if err != nil {
		return nil, err
	}
	cmd := c.command(ctx, path, args...)
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s: %w: %s", name, err, lastLines(out, 5))
	}
	return out, nil
}

// PrepareDir makes dir (and its parents) with mode, owned by the system user, and lets the
// system user reach it through its parents.
func (c *Cluster) PrepareDir(dir string, mode os.FileMode) error { return c.prepareDir(dir, mode) }

// WriteOwnedFile writes path (anywhere, for example a password file beside DataDir) with
// mode, owned by the system user.
func (c *Cluster) WriteOwnedFile(path string, data []byte, mode os.FileMode) error {
	if err := os.WriteFile(path, data, mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(path, mode); err != nil {
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	return c.chown(path)
}

// ControlData is what pg_controldata says about a cluster that matters to replication.
type ControlData struct {
	// State is "in production", "shut down", "shut down in recovery", "in archive
	// recovery", ...
	State string
	// CheckpointLSN is the latest checkpoint's location ("0/3000060"); after a clean
	// shutdown, the shutdown checkpoint: the last record the cluster wrote.
	CheckpointLSN string
	// Timeline is the latest checkpoint's timeline.
	Timeline string
	// Settings are the values of the settings the control file records (the "... setting"
	// lines) by their parameter names: max_connections, max_worker_processes,
	// max_wal_senders, max_prepared_transactions, max_locks_per_transaction, wal_level,
	// ... A standby's are its primary's, as of the last change it replayed.
	Settings map[string]string
}

// controlSettingNames are the parameter names of the settings pg_controldata abbreviates.
var controlSettingNames = map[string]string{
	"max_prepared_xacts": "max_prepared_transactions",
	"max_locks_per_xact": "max_locks_per_transaction",
}

// ReadControlData runs pg_controldata on DataDir.
func (c *Cluster) ReadControlData(ctx context.Context) (ControlData, error) {
	out, err := c.RunTool(ctx, nil, "pg_controldata", "-D", c.DataDir)
	if err != nil {
		return ControlData{}, err
	}
	d := ControlData{Settings: map[string]string{}}
	for line := range bytes.Lines(out) {
		k, v, ok := strings.Cut(string(line), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if name, ok := strings.CutSuffix(strings.TrimSpace(k), " setting"); ok {
			if full, ok := controlSettingNames[name]; ok {
				name = full
			}
			d.Settings[name] = v
			continue
		}
		switch strings.TrimSpace(k) {
		case "Database cluster state":
			d.State = v
		case "Latest checkpoint location":
			d.CheckpointLSN = v
		case "Latest checkpoint's TimeLineID":
			d.Timeline = v
		}
	}
	if d.CheckpointLSN == "" {
		return d, fmt.Errorf("pg_controldata %s: no checkpoint location in %q", filepath.Base(c.DataDir), lastLines(out, 3))
	}
	return d, nil
}
