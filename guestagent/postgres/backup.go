package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/coffer-dbaas/coffer/guestagent"
	"github.com/coffer-dbaas/coffer/pgcluster"
)

// replicationHBA lets the agent's role make base backups over the socket; pg_hba's "all"
// does not cover replication connections.
const replicationHBA = "local replication " + agentRole + " scram-sha-256\n"

// Backup writes a base backup of the running cluster to dst: `pg_basebackup -Ft -D - -X
// fetch`, one tar with the WAL needed to make it consistent, streamed as it is read. It
// runs as the agent's role over the socket, after a fast checkpoint.
func (d *Driver) Backup(ctx context.Context, dst io.Writer) error {
	if !d.cluster.Running() {
		return errors.New("back up: the engine is not running")
	}
	if err := d.allowBaseBackup(ctx); err != nil {
		return fmt.Errorf("back up: %w", err)
	}
	password, err := d.readSecret()
	if err != nil {
		return fmt.Errorf("back up: %w", err)
	}
	bin, err := d.binary("pg_basebackup")
	if err != nil {
		return fmt.Errorf("back up: %w", err)
	}
	cmd := exec.CommandContext(ctx, bin, "-h", d.cluster.SocketDir, "-p", strconv.Itoa(d.cluster.Port), "-U", agentRole,
		"-D", "-", "-F", "tar", "-X", "fetch", "-c", "fast", "-w")
	cmd.Dir = "/"
	cmd.Env = pgcluster.Environ("PGPASSWORD=" + password)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout = dst
	if err := guestagent.RunTool(ctx, cmd, "pg_basebackup"); err != nil {
		return fmt.Errorf("back up: %w", err)
	}
	return nil
}

// allowBaseBackup adds the replication line to pg_hba.conf when it is missing, and has
// the server reload it.
func (d *Driver) allowBaseBackup(ctx context.Context) error {
	path := filepath.Join(d.cluster.DataDir, "pg_hba.conf")
	hba, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read pg_hba.conf: %w", err)
	}
	if bytes.Contains(hba, []byte(replicationHBA)) {
		return nil
	}
	if err := d.cluster.WriteFile("pg_hba.conf", replicationHBA+string(hba)); err != nil {
		return err
	}
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		return fmt.Errorf("reload pg_hba.conf: %w", err)
	}
	return nil
}

// binary is the path of one of the engine's programs, from the cluster's binaries.
func (d *Driver) binary(name string) (string, error) {
	dir := d.cluster.BinDir
	if dir == "" {
		var err error
		if dir, err = pgcluster.FindBinDir(); err != nil {
			return "", err
		}
	}
	return filepath.Join(dir, name), nil
}
