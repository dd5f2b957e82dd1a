package postgres

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestagent"
)

// replayPoll is how often WaitReplay looks at the replay position.
const replayPoll = 50 * time.Millisecond

// StopWrites shuts this primary down cleanly, so that nothing more is written and nothing
// committed is lost: at a clean shutdown the WAL senders send every record, the shutdown
// checkpoint included, and wait until the replicas have flushed it. The shutdown
// checkpoint's LSN is the last record; a replica that has replayed past it has everything.
func (d *Driver) StopWrites(ctx context.Context) (guest.Position, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.cluster.Initialized() {
		return "", fmt.Errorf("stop writes: %w: the engine was never prepared", guestagent.ErrInvalid)
	}
	if d.isStandby() {
		return "", fmt.Errorf("stop writes: %w: this engine is a replica, not a primary", guestagent.ErrInvalid)
	}
	if err := d.cluster.Stop(ctx); err != nil {
		return "", fmt.Errorf("stop writes: %w", err)
	}
	cd, err := d.cluster.ReadControlData(ctx)
	if err != nil {
		return "", fmt.Errorf("stop writes: %w", err)
	}
	if cd.State != "shut down" {
		return "", fmt.Errorf("stop writes: the cluster's state is %q, not shut down", cd.State)
	}
	lsn, err := guest.ParseLSN(cd.CheckpointLSN)
	if err != nil {
		return "", fmt.Errorf("stop writes: %w", err)
	}
	return guest.Position(lsn.String()), nil
}

// isStandby reports whether the data folder is set up as a standby.
func (d *Driver) isStandby() bool {
	_, err := os.Stat(filepath.Join(d.cluster.DataDir, "standby.signal"))
	return err == nil
}

// WaitReplay polls until this replica has replayed past pos, an LSN.
func (d *Driver) WaitReplay(ctx context.Context, pos guest.Position) error {
	lsn, err := guest.ParseLSN(string(pos))
	if err != nil {
		return fmt.Errorf("%w: %w", guestagent.ErrInvalid, err)
	}
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for {
		var replayed *string
		if err := conn.QueryRow(ctx, "SELECT pg_last_wal_replay_lsn()::text").Scan(&replayed); err != nil {
			return err
		}
		if replayed != nil {
			got, err := guest.ParseLSN(*replayed)
			if err != nil {
				return err
			}
			if got > lsn {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(replayPoll):
		}
	}
}

// Promote makes this replica a primary: pg_promote replays every WAL record it received,
// then opens for writes on a new timeline. The standby settings are dropped after, so that
// a restart keeps it a primary.
func (d *Driver) Promote(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fenced() {
		return fmt.Errorf("promote: %w: this engine was ejected from its group", guestagent.ErrInvalid)
	}
	if err := d.start(ctx); err != nil {
		return fmt.Errorf("promote: %w", err)
	}
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		return fmt.Errorf("promote: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var standby bool
	if err := conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&standby); err != nil {
		return fmt.Errorf("promote: %w", err)
	}
	if standby {
		var promoted bool
		if err := conn.QueryRow(ctx, "SELECT pg_promote(true, 120)").Scan(&promoted); err != nil {
			return fmt.Errorf("promote: %w", err)
		}
		if !promoted {
			return errors.New("promote: the server did not finish its promotion within 120 s")
		}
	}
	if err := d.rewriteAutoConf(nil); err != nil {
		return fmt.Errorf("promote: %w", err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		return fmt.Errorf("promote: reload: %w", err)
	}
	return nil
}

// Follow makes this engine a replica of src. A running replica is pointed at src and
// restarted (its WAL receiver then follows src's timeline). A former primary is stopped
// cleanly and rewound onto src with pg_rewind, which copies what diverged (nothing after a
// clean switchover) so that it can stream from src; then it starts as src's standby.
func (d *Driver) Follow(ctx context.Context, src guest.ReplicationSource) error {
	if err := validSlot(src.Slot); err != nil {
		return fmt.Errorf("follow: %w", err)
	}
	if src.Host == "" || src.AgentPassword == "" {
		return fmt.Errorf("follow: %w: the source lacks its address or passwords", guestagent.ErrInvalid)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.cluster.Initialized() {
		return fmt.Errorf("follow: %w: the engine was never prepared", guestagent.ErrInvalid)
	}
	if d.fenced() {
		return fmt.Errorf("follow: %w: this engine was ejected from its group", guestagent.ErrInvalid)
	}
	if err := d.writePassFile(src.Password, src.AgentPassword); err != nil {
		return fmt.Errorf("follow: %w", err)
	}
	if !d.isStandby() {
		if err := d.cluster.Stop(ctx); err != nil {
			return fmt.Errorf("follow: %w", err)
		}
		if err := d.rewind(ctx, src); err != nil {
			return fmt.Errorf("follow: %w", err)
		}
	}
	if err := d.writeStandby(src); err != nil {
		return fmt.Errorf("follow: %w", err)
	}
	if err := d.cluster.Stop(ctx); err != nil {
		return fmt.Errorf("follow: %w", err)
	}
	if err := d.start(ctx); err != nil {
		return fmt.Errorf("follow: %w", err)
	}
	return nil
}

// rewind runs pg_rewind onto src as the agent's role (a superuser, the same on every
// engine of the group). It runs crash recovery on a cluster that was not shut down
// cleanly first, and does nothing when the timelines did not diverge.
func (d *Driver) rewind(ctx context.Context, src guest.ReplicationSource) error {
	source := d.conninfoFor(src, agentRole) + " dbname=postgres"
	// pg_rewind also copies the source's configuration files (pg_hba.conf, the auto
	// config); writeStandby then makes the copy a standby.
	_, err := d.cluster.RunTool(ctx, []string{"PGPASSFILE=" + filepath.Join(d.volume, passFile)}, "pg_rewind",
		"--target-pgdata="+d.cluster.DataDir, "--source-server="+source)
	if err != nil {
		return fmt.Errorf("rewind onto %s: %w", src, err)
	}
	return nil
}

// Fence makes this engine a standby of no one, for good: it stops, drops any link to a
// primary, marks the volume (so that no later call promotes or re-points it) and starts
// read-only. Clients can read what it had; nothing can write to it.
func (d *Driver) Fence(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := writeFileSync(filepath.Join(d.volume, fencedFile), []byte("ejected from its replication group\n"), 0o644); err != nil {
		return fmt.Errorf("fence: mark the volume: %w", err)
	}
	if !d.cluster.Initialized() {
		return nil
	}
	if err := d.cluster.Stop(ctx); err != nil {
		return fmt.Errorf("fence: %w", err)
	}
	if err := d.writeStandby(guest.ReplicationSource{}); err != nil {
		return fmt.Errorf("fence: %w", err)
	}
	if err := d.start(ctx); err != nil {
		return fmt.Errorf("fence: %w", err)
	}
	return nil
}
