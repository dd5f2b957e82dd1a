package mariadb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/coffer-dbaas/coffer/guestagent"
)

// Backup writes a physical backup of the running server to dst: `mariabackup --backup
// --stream=xbstream`, streamed as it is read (the agent's backup machinery compresses,
// encrypts and uploads it). It runs as the system user, which reads the data folder, and
// connects as the agent over the socket; its password is in a defaults file only that user
// reads, removed afterwards.
func (d *Driver) Backup(ctx context.Context, dst io.Writer) error {
	if !d.server.Running() {
		return errors.New("back up: the engine is not running")
	}
	password, err := guestagent.ReadSecret(d.secretFile)
	if err != nil {
		return fmt.Errorf("back up: %w", err)
	}
	work := filepath.Join(d.volume, "backup-work")
	if err := os.RemoveAll(work); err != nil {
		return fmt.Errorf("back up: %w", err)
	}
	if err := d.server.PrepareDir(work, 0o700); err != nil {
		return fmt.Errorf("back up: %w", err)
	}
	defer os.RemoveAll(work)
	defaults := filepath.Join(work, "client.cnf")
	cnf := "[client]\nuser=" + agentUser + "\npassword=" + password + "\nsocket=" + d.server.socket() + "\n"
	if err := d.server.WriteOwned(defaults, []byte(cnf)); err != nil {
		return fmt.Errorf("back up: %w", err)
	}
	cmd, err := d.server.Command(ctx, mariabackup(), "--defaults-file="+defaults, "--backup", "--stream=xbstream",
		"--datadir="+d.server.DataDir, "--target-dir="+filepath.Join(work, "tmp"))
	if err != nil {
		return fmt.Errorf("back up: %w", err)
	}
	cmd.Stdout = dst
	if err := guestagent.RunTool(ctx, cmd, "mariabackup"); err != nil {
		return fmt.Errorf("back up: %w", err)
	}
	return nil
}

// Restore makes the server's data from a backup before the server was ever installed (see
// guestagent.Driver): it unpacks fill's xbstream with mbstream into a staging folder,
// prepares it with `mariabackup --prepare` (applies the redo log, so the data is
// consistent), and only then moves it into place. The first start makes the agent's account
// again with this guest's password (start's init file); the tenant's accounts and root come
// with the backup. A failure removes the staging folder; a retry starts over.
func (d *Driver) Restore(ctx context.Context, fill func(w io.Writer) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	// The data comes from the backup: the folder made at boot is not needed.
	if err := d.ahead.Discard(ctx); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if d.server.Installed() {
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
	unpack, err := d.server.Command(ctx, mbstream(), "-x", "-C", staging)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	// An OS pipe that mbstream reads itself: the download writes into the kernel's buffer
	// with no goroutine copying 32 KiB at a time in between, as an io.Pipe would need.
	pr, pw, err := guestagent.StreamPipe()
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer pr.Close()
	filled := make(chan error, 1)
	go func() {
		err := fill(pw)
		pw.Close()
		filled <- err
	}()
	unpack.Stdin = pr
	stderr := &guestagent.TailBuffer{Max: 8192}
	unpack.Stderr = stderr
	err = unpack.Run()
	if err == nil {
		// Read the stream to its end, so that its checksum is verified.
		_, err = io.Copy(io.Discard, pr)
	}
	// Closing the read side ends a fill that mbstream left unread (it sees EPIPE).
	pr.Close()
	fillErr := <-filled
	if fillErr != nil && (err == nil || !errors.Is(fillErr, syscall.EPIPE)) {
		// The stream's own failure (a checksum mismatch) says more than mbstream's; a
		// broken pipe only says that mbstream stopped reading.
		return fmt.Errorf("restore: %w", fillErr)
	}
	if err != nil {
		return fmt.Errorf("restore: mbstream: %w: %s", err, stderr.Tail(5))
	}
	if _, err := os.Stat(filepath.Join(staging, installedMark)); err != nil {
		return fmt.Errorf("restore: the backup holds no MariaDB data folder: %w", err)
	}
	prepare, err := d.server.Command(ctx, mariabackup(), "--prepare", "--target-dir="+staging)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := guestagent.RunTool(ctx, prepare, "mariabackup --prepare"); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := os.Rename(staging, d.server.DataDir); err != nil {
		return fmt.Errorf("restore: move the data into place: %w", err)
	}
	ok = true
	return nil
}

// mariabackup and mbstream are Debian's mariadb-backup's programs (older names first).
func mariabackup() string { return firstExisting("/usr/bin/mariadb-backup", "/usr/bin/mariabackup") }
func mbstream() string    { return firstExisting("/usr/bin/mbstream", "/usr/bin/mariadb-backup-stream") }

func firstExisting(paths ...string) string {
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return paths[0]
}
