// Package pgcluster runs a PostgreSQL cluster from the machine's own binaries: initdb into a
// folder, start it on a chosen address and port with its socket in a folder of its own, stop
// it. The guest agent runs each instance's engine with it, coffer-dev the catalog, and tests
// their throwaway clusters.
//
// PostgreSQL refuses to run as root, so when the caller is root every command runs as the
// cluster's system user (normally "postgres"), and the folders it needs are handed to that
// user first.
package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Cluster is one PostgreSQL cluster: a data folder, and where it listens.
type Cluster struct {
	// DataDir is the cluster's data folder (PGDATA).
	DataDir string
	// Host is the TCP address it listens on ("" for the socket only).
	Host string
	// Port is its port, for TCP and for the socket's name.
	Port int
	// SocketDir holds the Unix socket and the lock file.
	SocketDir string
	// BinDir holds initdb, pg_ctl and postgres; empty means FindBinDir.
	BinDir string
	// SystemUser runs the server when the caller is root; empty means "postgres".
	SystemUser string
	// LogFile receives the server's log; empty means DataDir/../postgresql.log.
	LogFile string
}

// FindBinDir returns the newest /usr/lib/postgresql/<major>/bin that has initdb.
func FindBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(dirs) == 0 {
		return "", errors.New("no PostgreSQL server binaries under /usr/lib/postgresql (install postgresql-15)")
	}
	sort.Slice(dirs, func(i, j int) bool { return majorOf(dirs[i]) > majorOf(dirs[j]) })
	return filepath.Dir(dirs[0]), nil
}

func majorOf(initdb string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return n
}

func (c *Cluster) bin(name string) (string, error) {
	dir := c.BinDir
	if dir == "" {
		var err error
		if dir, err = FindBinDir(); err != nil {
			return "", err
		}
	}
	return filepath.Join(dir, name), nil
}

func (c *Cluster) logFile() string {
	if c.LogFile != "" {
		return c.LogFile
	}
	return filepath.Join(filepath.Dir(c.DataDir), "postgresql.log")
}

// InitOptions say how initdb sets a new cluster up.
type InitOptions struct {
	// Superuser is the bootstrap superuser's name; empty means the system user's.
	Superuser string
	// Password is the superuser's password; empty leaves it without one (socket peer/trust
	// access only).
	Password string
	// Auth is the method for TCP connections in pg_hba.conf ("scram-sha-256" by default);
	// the socket always uses peer for the system user and the same method for others.
	Auth string
}

// Initialized reports whether DataDir already holds a cluster.
func (c *Cluster) Initialized() bool {
	_, err := os.Stat(filepath.Join(c.DataDir, "PG_VERSION"))
	return err == nil
}

// Init runs initdb into DataDir (which must not hold a cluster yet) and writes pg_hba.conf.
func (c *Cluster) Init(ctx context.Context, opts InitOptions) error {
	if c.Initialized() {
		return fmt.Errorf("initdb %s: a cluster is already there", c.DataDir)
	}
	if err := c.prepareDir(c.DataDir, 0o700); err != nil {
		return err
	}
	if err := c.prepareDir(c.SocketDir, 0o755); err != nil {
		return err
	}
	auth := opts.Auth
	if auth == "" {
		auth = "scram-sha-256"
	}
	args := []string{"-D", c.DataDir, "--encoding=UTF8", "--locale=C.UTF-8", "--auth-local=peer", "--auth-host=" + auth}
	if opts.Superuser != "" {
		args = append(args, "--username="+opts.Superuser)
	}
	if opts.Password != "" {
		// The password reaches initdb through a file only the system user can read, never
		// through the command line.
		pwFile := filepath.Join(filepath.Dir(c.DataDir), ".initdb-pw")
		if err := os.WriteFile(pwFile, []byte(opts.Password+"\n"), 0o600); err != nil {
			return fmt.Errorf("initdb: write password file: %w", err)
		}
		defer os.Remove(pwFile)
		if err := c.chown(pwFile); err != nil {
			return err
		}
		args = append(args, "--pwfile="+pwFile)
	}
	initdb, err := c.bin("initdb")
	if err != nil {
		return err
	}
	if out, err := c.command(ctx, initdb, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("initdb %s: %w: %s", c.DataDir, err, lastLines(out, 5))
	}
	hba := "# written by coffer\n" +
		"local all " + c.systemUser() + " peer\n" +
		"local all all " + auth + "\n" +
		"host all all 0.0.0.0/0 " + auth + "\n" +
		"host all all ::/0 " + auth + "\n"
	return c.WriteFile("pg_hba.conf", hba)
}

// WriteFile writes a file in DataDir (such as pg_hba.conf or a postgresql.auto.conf
// include), owned by the system user.
func (c *Cluster) WriteFile(name, content string) error {
	path := filepath.Join(c.DataDir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return c.chown(path)
}

// Start starts the server and waits until it accepts connections. Settings are passed as
// -c name=value options (they win over postgresql.conf), for example shared_buffers.
func (c *Cluster) Start(ctx context.Context, settings map[string]string) error {
	if c.Running() {
		return nil
	}
	if err := c.prepareDir(c.SocketDir, 0o755); err != nil {
		return err
	}
	opts := []string{"-c", "port=" + strconv.Itoa(c.Port), "-c", "unix_socket_directories=" + c.SocketDir,
		"-c", "listen_addresses=" + c.Host}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		opts = append(opts, "-c", k+"="+settings[k])
	}
	pgctl, err := c.bin("pg_ctl")
	if err != nil {
		return err
	}
	if err := touch(c.logFile()); err != nil {
		return err
	}
	if err := c.chown(c.logFile()); err != nil {
		return err
	}
	args := []string{"start", "-D", c.DataDir, "-l", c.logFile(), "-w", "-t", "60", "-s", "-o", shellJoin(opts)}
	if out, err := c.command(ctx, pgctl, args...).CombinedOutput(); err != nil {
		logTail, _ := os.ReadFile(c.logFile())
		return fmt.Errorf("start postgres %s: %w: %s %s", c.DataDir, err, bytes.TrimSpace(out), lastLines(logTail, 5))
	}
	return nil
}

// Stop stops the server (fast mode: sessions are ended, nothing committed is lost) and
// waits for it. A stopped cluster is no error.
func (c *Cluster) Stop(ctx context.Context) error {
	if !c.Running() {
		return nil
	}
	pgctl, err := c.bin("pg_ctl")
	if err != nil {
		return err
	}
	out, err := c.command(ctx, pgctl, "stop", "-D", c.DataDir, "-m", "fast", "-w", "-t", "60", "-s").CombinedOutput()
	if err != nil && c.Running() {
		return fmt.Errorf("stop postgres %s: %w: %s", c.DataDir, err, bytes.TrimSpace(out))
	}
	return nil
}

// Running reports whether the server's postmaster is alive.
func (c *Cluster) Running() bool {
	pid, err := c.PID()
	if err != nil {
		return false
	}
	return syscall.Kill(pid, 0) == nil
}

// PID is the postmaster's process ID, from postmaster.pid.
func (c *Cluster) PID() (int, error) {
	b, err := os.ReadFile(filepath.Join(c.DataDir, "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return strconv.Atoi(strings.TrimSpace(first))
}

// SocketDSN is a connection string over the Unix socket.
func (c *Cluster) SocketDSN(user, database string) string {
	return fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable", c.SocketDir, c.Port, user, database)
}

func (c *Cluster) systemUser() string {
	if c.SystemUser != "" {
		return c.SystemUser
	}
	if os.Geteuid() != 0 {
		if u, err := user.Current(); err == nil {
			return u.Username
		}
	}
	return "postgres"
}

// ids returns the system user's uid and gid when the caller must switch to it (is root).
func (c *Cluster) ids() (uid, gid uint32, switchUser bool, err error) {
	if os.Geteuid() != 0 {
		return 0, 0, false, nil
	}
	u, err := user.Lookup(c.systemUser())
	if err != nil {
		return 0, 0, false, fmt.Errorf("postgres system user: %w", err)
	}
	uid64, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid64, _ := strconv.ParseUint(u.Gid, 10, 32)
	return uint32(uid64), uint32(gid64), true, nil
}

// Environ is the environment of the engine's programs: the caller's, less the libpq
// variables (PG*) that would point a tool at another server or data folder, with a fixed
// PATH, locale and time zone, then extra. What else the caller inherited passes on, as it
// does to any child process (a hypervisor may mark its server's processes that way).
func Environ(extra ...string) []string {
	env := []string{}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "PATH=/usr/bin:/bin", "LANG=C.UTF-8", "LC_ALL=C.UTF-8", "PGTZ=UTC")
	return append(env, extra...)
}

func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = "/"
	cmd.Env = Environ()
	if uid, gid, ok, err := c.ids(); err == nil && ok {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	}
	// pg_ctl start leaves the postmaster running after it returns; it must not share our
	// process group, so that a Ctrl-C of ours reaches it only through Stop.
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	return cmd
}

// prepareDir makes dir (and its parents) and gives dir to the system user.
func (c *Cluster) prepareDir(dir string, mode fs.FileMode) error {
	if err := os.MkdirAll(dir, mode); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		return fmt.Errorf("chmod %s: %w", dir, err)
	}
	if err := c.chown(dir); err != nil {
		return err
	}
	// The system user must be able to reach dir through its parents.
	for p := filepath.Dir(dir); p != "/" && p != "."; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("stat %s: %w", p, err)
		}
		if st.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(p, st.Mode().Perm()|0o011); err != nil {
				return fmt.Errorf("open %s to the postgres user: %w", p, err)
			}
		}
	}
	return nil
}

func (c *Cluster) chown(path string) error {
	uid, gid, ok, err := c.ids()
	if err != nil || !ok {
		return err
	}
	if err := os.Chown(path, int(uid), int(gid)); err != nil {
		return fmt.Errorf("chown %s: %w", path, err)
	}
	return nil
}

func touch(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	return f.Close()
}

// shellJoin quotes pg_ctl's -o options, which pg_ctl hands to a shell.
func shellJoin(args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(quoted, " ")
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// WaitReady polls until the server accepts connections on its socket or ctx ends.
func (c *Cluster) WaitReady(ctx context.Context) error {
	isready, err := c.bin("pg_isready")
	if err != nil {
		return err
	}
	for {
		if c.command(ctx, isready, "-q", "-h", c.SocketDir, "-p", strconv.Itoa(c.Port)).Run() == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("postgres %s not ready: %w", c.DataDir, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
