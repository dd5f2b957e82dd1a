package mariadb

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/coffer-dbaas/coffer/guestagent"
)

const (
	socketName = "mariadbd.sock"
	pidName    = "mariadbd.pid"
	// installedMark is a file of the data folder that mariadb-install-db makes last.
	installedMark = "mysql/global_priv.frm"
)

// server is one mariadbd: its folders and files on the volume and how it listens. It runs as
// the Daemon's system user (mysql) when the agent is root, and as the agent's user otherwise.
type server struct {
	guestagent.Daemon
	DataDir    string
	RunDir     string
	ConfigFile string
	LogFile    string
	Address    string
	Port       int
}

func (s *server) socket() string { return filepath.Join(s.RunDir, socketName) }

// Installed reports whether the data folder holds a system database mariadb-install-db made.
func (s *server) Installed() bool {
	_, err := os.Stat(filepath.Join(s.DataDir, installedMark))
	return err == nil
}

// Install makes the system database into a staging folder and renames it into place, so an
// install cut short leaves nothing that looks installed. Only the socket's root account
// (the OS root) exists afterwards; the agent's own account comes with the first start.
func (s *server) Install(ctx context.Context) error {
	staging := s.DataDir + ".init"
	if err := os.RemoveAll(staging); err != nil {
		return fmt.Errorf("remove the leftovers of an earlier install: %w", err)
	}
	if err := s.installInto(ctx, staging); err != nil {
		return err
	}
	if err := os.Rename(staging, s.DataDir); err != nil {
		return fmt.Errorf("move the new data folder into place: %w", err)
	}
	return nil
}

// installInto runs mariadb-install-db into dir, which it makes.
func (s *server) installInto(ctx context.Context, dir string) error {
	if err := s.PrepareDir(dir, 0o750); err != nil {
		return err
	}
	cmd, err := s.Command(ctx, "/usr/bin/mariadb-install-db", "--no-defaults", "--datadir="+dir,
		"--auth-root-authentication-method=socket", "--skip-test-db", "--skip-name-resolve")
	if err != nil {
		return err
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mariadb-install-db: %w: %s", err, installErrors(out))
	}
	return nil
}

// installErrors is what says why mariadb-install-db failed: the server's ERROR lines
// (its last lines are a fixed text asking for a bug report), else its last lines.
func installErrors(out []byte) string {
	var errs []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "ERROR") || strings.Contains(line, "rror:") {
			errs = append(errs, strings.TrimSpace(line))
		}
	}
	if len(errs) == 0 {
		return guestagent.LastLines(out, 5)
	}
	return strings.Join(errs[max(len(errs)-5, 0):], " | ")
}

// Start starts mariadbd with ConfigFile and, when initFile is not empty, that file's
// statements run once the server is up, and waits until it answers on its socket. A running
// server is left alone.
func (s *server) Start(ctx context.Context, initFile string) error {
	if s.Running() {
		return nil
	}
	if err := s.PrepareDir(s.RunDir, 0o755); err != nil {
		return err
	}
	log, err := s.openLog(s.LogFile)
	if err != nil {
		return err
	}
	defer log.Close()
	args := []string{"--defaults-file=" + s.ConfigFile}
	if initFile != "" {
		args = append(args, "--init-file="+initFile)
	}
	cmd, err := s.Command(context.WithoutCancel(ctx), "/usr/sbin/mariadbd", args...)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start mariadbd: %w", err)
	}
	// mariadbd does not daemonize: reap it when it ends, so it never lingers as a zombie.
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// A new server answers within a second or so: poll every 10 ms (a socket dial) for
	// the first 5 seconds, so that the wait ends soon after it does, then every 100 ms.
	started := time.Now()
	for {
		poll := 10 * time.Millisecond
		if time.Since(started) > 5*time.Second {
			poll = 100 * time.Millisecond
		}
		if s.answers() {
			return nil
		}
		select {
		case err := <-exited:
			tail, _ := os.ReadFile(s.LogFile)
			return fmt.Errorf("mariadbd exited at start: %v: %s", err, guestagent.LastLines(tail, 5))
		case <-ctx.Done():
			return fmt.Errorf("mariadbd not ready: %w", ctx.Err())
		case <-time.After(poll):
		}
	}
}

// answers reports whether the server accepts connections on its socket.
func (s *server) answers() bool {
	if !s.Running() {
		return false
	}
	conn, err := net.DialTimeout("unix", s.socket(), time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// openLog opens a log file of the server's for appending, made the system user's (the
// server writes it, in a folder it may not create files in).
func (s *server) openLog(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open the log %s: %w", filepath.Base(path), err)
	}
	if err := s.Chown(path); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
