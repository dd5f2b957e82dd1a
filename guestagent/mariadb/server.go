package mariadb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	socketName = "mariadbd.sock"
	pidName    = "mariadbd.pid"
	// installedMark is a file of the data folder that mariadb-install-db makes last.
	installedMark = "mysql/global_priv.frm"
)

// server is one mariadbd: its folders and files on the volume and how it listens. It runs as
// SystemUser when the agent is root (as on a guest), and as the agent's user otherwise.
type server struct {
	DataDir    string
	RunDir     string
	ConfigFile string
	LogFile    string
	Address    string
	Port       int
	SystemUser string
}

func (s *server) socket() string  { return filepath.Join(s.RunDir, socketName) }
func (s *server) pidFile() string { return filepath.Join(s.RunDir, pidName) }

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
	if err := s.prepareDir(staging, 0o750); err != nil {
		return err
	}
	cmd, err := s.command(ctx, "/usr/bin/mariadb-install-db", "--no-defaults", "--datadir="+staging,
		"--auth-root-authentication-method=socket", "--skip-test-db", "--skip-name-resolve")
	if err != nil {
		return err
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mariadb-install-db: %w: %s", err, lastLines(out, 5))
	}
	if err := os.Rename(staging, s.DataDir); err != nil {
		return fmt.Errorf("move the new data folder into place: %w", err)
	}
	return nil
}

// Start starts mariadbd with ConfigFile and, when initFile is not empty, that file's
// statements run once the server is up, and waits until it answers on its socket. A running
// server is left alone.
func (s *server) Start(ctx context.Context, initFile string) error {
	if s.Running() {
		return nil
	}
	if err := s.prepareDir(s.RunDir, 0o755); err != nil {
		return err
	}
	log, err := os.OpenFile(s.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("open the server log: %w", err)
	}
	defer log.Close()
	if err := s.chown(s.LogFile); err != nil {
		return err
	}
	args := []string{"--defaults-file=" + s.ConfigFile}
	if initFile != "" {
		args = append(args, "--init-file="+initFile)
	}
	cmd, err := s.command(context.WithoutCancel(ctx), "/usr/sbin/mariadbd", args...)
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
	for {
		if s.answers() {
			return nil
		}
		select {
		case err := <-exited:
			tail, _ := os.ReadFile(s.LogFile)
			return fmt.Errorf("mariadbd exited at start: %v: %s", err, lastLines(tail, 5))
		case <-ctx.Done():
			return fmt.Errorf("mariadbd not ready: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
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

// Stop sends mariadbd SIGTERM, its clean shutdown (InnoDB flushes, nothing committed is
// lost), and waits until it is gone. A stopped server is no error.
func (s *server) Stop(ctx context.Context) error {
	pid, err := s.PID()
	if err != nil || syscall.Kill(pid, 0) != nil {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop mariadbd: %w", err)
	}
	for syscall.Kill(pid, 0) == nil && s.alive(pid) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("stop mariadbd %d: %w", pid, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// Running reports whether the pid file names a live mariadbd.
func (s *server) Running() bool {
	pid, err := s.PID()
	return err == nil && syscall.Kill(pid, 0) == nil && s.alive(pid)
}

// alive tells a running mariadbd from a zombie or a reused pid.
func (s *server) alive(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	_, rest, ok := strings.Cut(string(stat), ") ")
	if !ok || strings.HasPrefix(rest, "Z") {
		return false
	}
	return strings.Contains(string(stat), "(mariadbd)") || strings.Contains(string(stat), "(mysqld)")
}

// PID is mariadbd's process ID, from its pid file.
func (s *server) PID() (int, error) {
	b, err := os.ReadFile(s.pidFile())
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// command runs name as the system user (when the agent is root), in its own process group
// so that a signal to the agent reaches the server only through Stop, with the agent's
// environment (a hypervisor may mark its server's processes that way).
func (s *server) command(ctx context.Context, name string, args ...string) (*exec.Cmd, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), "LANG=C.UTF-8", "TZ=UTC")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	uid, gid, ok, err := s.ids()
	if err != nil {
		return nil, err
	}
	if ok {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uid, Gid: gid}
	}
	return cmd, nil
}

// ids returns the system user's uid and gid when the agent must switch to it (is root).
func (s *server) ids() (uid, gid uint32, switchUser bool, err error) {
	if os.Geteuid() != 0 {
		return 0, 0, false, nil
	}
	u, err := user.Lookup(s.SystemUser)
	if err != nil {
		return 0, 0, false, fmt.Errorf("mariadb system user: %w", err)
	}
	uid64, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid64, _ := strconv.ParseUint(u.Gid, 10, 32)
	return uint32(uid64), uint32(gid64), true, nil
}

func (s *server) chown(path string) error {
	uid, gid, ok, err := s.ids()
	if err != nil || !ok {
		return err
	}
	if err := os.Chown(path, int(uid), int(gid)); err != nil {
		return fmt.Errorf("chown %s: %w", path, err)
	}
	return nil
}

// prepareDir makes dir, gives it to the system user, and lets that user pass through its
// parents.
func (s *server) prepareDir(dir string, mode fs.FileMode) error {
	if err := os.MkdirAll(dir, mode); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		return fmt.Errorf("chmod %s: %w", dir, err)
	}
	if err := s.chown(dir); err != nil {
		return err
	}
	for p := filepath.Dir(dir); p != "/" && p != "."; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("stat %s: %w", p, err)
		}
		if st.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(p, st.Mode().Perm()|0o011); err != nil {
				return fmt.Errorf("open %s to the mysql user: %w", p, err)
			}
		}
	}
	return nil
}

// writeOwned writes a file the system user reads (and only it and the agent).
func (s *server) writeOwned(path string, data []byte) error {
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return err
	}
	return s.chown(path)
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(string(bytes.TrimSpace(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
