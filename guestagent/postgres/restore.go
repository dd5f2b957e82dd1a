package postgres

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/coffer-dbaas/coffer/backupstream"
	"github.com/coffer-dbaas/coffer/guestagent"
	"github.com/coffer-dbaas/coffer/pgcluster"
)

// A restore's pipe between the download and the unpacking: 8 MiB in flight.
const (
	restoreBuffers    = 8
	restoreBufferSize = 1 << 20
)

// Restore makes the cluster from a base backup (see guestagent.Driver): it unpacks fill's
// tar into a staging folder, and only once the stream was verified whole does it start the
// staging cluster once, socket only and with local trust, to give the agent's role this
// guest's password (the backup holds the source's), stop it, and move it into place. A
// failure at any point removes the staging folder; a retry starts over.
func (d *Driver) Restore(ctx context.Context, fill func(w io.Writer) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	// The cluster comes from the backup: the one made at boot is not needed.
	if err := d.ahead.Discard(ctx); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if d.cluster.Initialized() {
		return fmt.Errorf("restore: %w: the volume holds a cluster already", guestagent.ErrInvalid)
	}
	password, err := d.ensureSecret()
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	staging := *d.cluster
	staging.DataDir = d.cluster.DataDir + ".restore"
	if err := os.RemoveAll(staging.DataDir); err != nil {
		return fmt.Errorf("restore: remove the leftovers of an earlier restore: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = staging.Stop(context.WithoutCancel(ctx))
			_ = os.RemoveAll(staging.DataDir)
		}
	}()
	if err := os.MkdirAll(staging.DataDir, 0o700); err != nil {
		return fmt.Errorf("restore: %w", err)
	}

	// A pipe with a few buffers in flight, so that the download, decryption and
	// decompression go on while the unpacking waits for the disk.
	pipe, filled := backupstream.FillPipe(restoreBuffers, restoreBufferSize, fill)
	err = untar(pipe, staging.DataDir)
	if err == nil {
		// The stream goes on past the tar's end (padding); read it all so that its
		// checksum is verified.
		_, err = io.Copy(io.Discard, pipe)
	}
	pipe.CloseReader(err)
	fillErr := <-filled
	if fillErr != nil {
		// The stream's own failure (a checksum mismatch) says more than the tar's.
		return fmt.Errorf("restore: %w", fillErr)
	}
	if err != nil {
		return fmt.Errorf("restore: unpack: %w", err)
	}
	if _, err := os.Stat(filepath.Join(staging.DataDir, "PG_VERSION")); err != nil {
		return fmt.Errorf("restore: the backup holds no PostgreSQL data folder: %w", err)
	}
	if err := d.giveToSystemUser(staging.DataDir); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := d.resetAgentPassword(ctx, &staging, password); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := os.Rename(staging.DataDir, d.cluster.DataDir); err != nil {
		return fmt.Errorf("restore: move the restored cluster into place: %w", err)
	}
	ok = true
	return nil
}

// resetAgentPassword starts the staging cluster on its socket only, trusting local
// connections for that one start, sets the agent role's password, stops it and puts the
// backup's own pg_hba.conf (with the replication line) back.
func (d *Driver) resetAgentPassword(ctx context.Context, staging *pgcluster.Cluster, password string) error {
	hbaPath := filepath.Join(staging.DataDir, "pg_hba.conf")
	hba, err := os.ReadFile(hbaPath)
	if err != nil {
		return fmt.Errorf("read the backup's pg_hba.conf: %w", err)
	}
	if err := staging.WriteFile("pg_hba.conf", "# coffer: restore in progress\nlocal all "+agentRole+" trust\n"); err != nil {
		return err
	}
	local := *staging
	local.Host = ""
	s := settings(d.ramMB)
	s["unix_socket_permissions"] = "0700"
	if err := local.Start(ctx, s); err != nil {
		return fmt.Errorf("start the restored cluster: %w", err)
	}
	if err := local.WaitReady(ctx); err != nil {
		_ = local.Stop(context.WithoutCancel(ctx))
		return err
	}
	err = setPassword(ctx, local.SocketDSN(agentRole, "postgres"), password)
	if stopErr := local.Stop(context.WithoutCancel(ctx)); stopErr != nil && err == nil {
		err = stopErr
	}
	if err != nil {
		return err
	}
	restored := string(hba)
	if !strings.Contains(restored, replicationHBA) {
		restored = replicationHBA + restored
	}
	return staging.WriteFile("pg_hba.conf", restored)
}

// setPassword gives the agent's role its password (quoted by the server, kept out of its log).
func setPassword(ctx context.Context, dsn, password string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("connect to the restored cluster: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "SET log_statement = 'none'; SET log_min_error_statement = 'panic'"); err != nil {
		return fmt.Errorf("keep the password out of the server log: %w", err)
	}
	var stmt string
	if err := conn.QueryRow(ctx, "SELECT format('ALTER ROLE %I WITH LOGIN SUPERUSER PASSWORD %L', $1::text, $2::text)",
		agentRole, password).Scan(&stmt); err != nil {
		return fmt.Errorf("quote the agent's password: %w", err)
	}
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("set the agent's password: %w", err)
	}
	return nil
}

// untar unpacks a tar stream into dir. Entries must stay inside dir: absolute names, ".."
// and links are refused, as are types a base backup never holds.
func untar(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	buf := make([]byte, restoreBufferSize)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name, err := entryPath(dir, h.Name)
		if err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(name, 0o700); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
				return err
			}
			f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fs.FileMode(h.Mode).Perm()&0o700|0o600)
			if err != nil {
				return err
			}
			// A large buffer: fewer, larger writes than os.File's 32 KiB copy. Written back
			// to the disk as it comes, for the fsync of the whole folder at the first start.
			if _, err := io.CopyBuffer(guestagent.NewWritebackFile(f), tr, buf); err != nil {
				f.Close()
				return fmt.Errorf("write %s: %w", h.Name, err)
			}
			if err := f.Close(); err != nil {
				return err
			}
		default:
			return fmt.Errorf("tar entry %q: type %q is not allowed in a backup", h.Name, h.Typeflag)
		}
	}
}

// entryPath is where a tar entry goes under dir; it refuses names that would leave it.
func entryPath(dir, name string) (string, error) {
	if name == "" || filepath.IsAbs(name) || strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("tar entry %q: absolute paths are not allowed", name)
	}
	for _, part := range strings.Split(filepath.ToSlash(name), "/") {
		if part == ".." {
			return "", fmt.Errorf("tar entry %q: \"..\" is not allowed", name)
		}
	}
	return filepath.Join(dir, filepath.Clean(name)), nil
}

// giveToSystemUser hands a restored folder to the engine's system user when the agent runs
// as root (PostgreSQL refuses a data folder it does not own), and makes it private.
func (d *Driver) giveToSystemUser(dir string) error {
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return nil
	}
	// The system user must reach dir through its parents (initdb's path does the same).
	for p := filepath.Dir(dir); p != "/" && p != "."; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		if st.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(p, st.Mode().Perm()|0o011); err != nil {
				return err
			}
		}
	}
	name := d.cluster.SystemUser
	if name == "" {
		name = "postgres"
	}
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("postgres system user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})
}
