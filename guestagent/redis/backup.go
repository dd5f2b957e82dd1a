package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/coffer-dbaas/coffer/backupstream"
	"github.com/coffer-dbaas/coffer/guestagent"
)

// Backup writes an RDB snapshot of the running server to dst, as a replica's full sync
// receives it: `redis-cli --rdb -` asks the server for one over the replication protocol,
// and the server (repl-diskless-sync) forks and streams it straight from memory, so the
// snapshot is never written to the volume. The agent's password reaches redis-cli in its
// environment (REDISCLI_AUTH), never its arguments.
func (d *Driver) Backup(ctx context.Context, dst io.Writer) error {
	if !d.server.Running() {
		return errors.New("back up: the engine is not running")
	}
	password, err := guestagent.ReadSecret(d.secretFile)
	if err != nil {
		return fmt.Errorf("back up: %w", err)
	}
	cmd, err := d.server.Command(ctx, redisCLI(), "-s", d.server.socket(), "--user", agentUser, "--no-auth-warning", "--rdb", "-")
	if err != nil {
		return fmt.Errorf("back up: %w", err)
	}
	cmd.Env = append(cmd.Env, "REDISCLI_AUTH="+password)
	cmd.Stdout = dst
	if err := guestagent.RunTool(ctx, cmd, "redis-cli --rdb"); err != nil {
		return fmt.Errorf("back up: %w", err)
	}
	return nil
}

// Restore makes the server's data from a backup before the server was ever prepared (see
// guestagent.Driver): fill's RDB stream is written into a staging folder and checked whole
// on its way (its header, EOF mark and CRC-64, as Redis checks it at load; redis-check-rdb,
// which parses every key of the written file again, only when the snapshot was made
// without a checksum), and only then does the folder go into place; the first start loads
// it. A failure removes the staging folder; a retry starts over.
func (d *Driver) Restore(ctx context.Context, fill func(w io.Writer) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.server.Prepared() {
		return fmt.Errorf("restore: %w: the volume holds a server already", guestagent.ErrInvalid)
	}
	staging := d.server.DataDir + ".restore"
	if err := os.RemoveAll(staging); err != nil {
		return fmt.Errorf("restore: remove the leftovers of an earlier restore: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(staging)
		}
	}()
	if err := d.server.PrepareDir(staging, 0o750); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	rdb := filepath.Join(staging, rdbName)
	f, err := os.OpenFile(rdb, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	// The download, decryption and decompression fill a pipe of a few buffers in a
	// goroutine of their own, while this one checks the snapshot and writes it: the CRC-64
	// and the file's writes overlap with the decompression. The file is written back to
	// the disk as it comes, so that the fsync below finds little left.
	pipe, filled := backupstream.FillPipe(restoreBuffers, restoreBufferSize, fill)
	checker := newRDBChecker(guestagent.NewWritebackFile(f))
	_, err = io.CopyBuffer(checker, pipe, make([]byte, restoreBufferSize))
	pipe.CloseReader(err)
	if fillErr := <-filled; fillErr != nil {
		// The stream's own failure (a checksum mismatch) says more than the write's.
		err = fillErr
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := d.server.Chown(rdb); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	switch err := checker.check(); {
	case errors.Is(err, errRDBUnchecked):
		check, err := d.server.Command(ctx, redisCheckRDB(), rdb)
		if err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		if out, err := check.CombinedOutput(); err != nil {
			return fmt.Errorf("restore: %w: the backup is no valid RDB snapshot: %s", guestagent.ErrInvalid, guestagent.LastLines(out, 3))
		}
	case err != nil:
		return fmt.Errorf("restore: %w: the backup is no valid RDB snapshot: %v", guestagent.ErrInvalid, err)
	}
	if err := os.Rename(staging, d.server.DataDir); err != nil {
		return fmt.Errorf("restore: move the data into place: %w", err)
	}
	ok = true
	return nil
}

// A restore's pipe between the download and the file: 8 MiB in flight.
const (
	restoreBuffers    = 8
	restoreBufferSize = 1 << 20
)

// redisCLI and redisCheckRDB are Debian's redis-tools' and redis-server's programs.
func redisCLI() string      { return "/usr/bin/redis-cli" }
func redisCheckRDB() string { return "/usr/bin/redis-check-rdb" }
