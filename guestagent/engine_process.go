package guestagent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Daemon is an engine's server process that the agent runs itself (mariadbd, redis-server):
// how it is found (its pid file and program names) and the system user it runs as when
// the agent is root (as on a guest); otherwise it runs as the agent's user. Drivers share
// it, so that starting, finding and stopping an engine's process is written once.
type Daemon struct {
	// PIDFile is where the engine writes its process ID.
	PIDFile string
	// Programs are the names the kernel shows for the process (/proc/<pid>/stat).
	Programs []string
	// SystemUser runs the engine when the agent is root.
	SystemUser string
}

// Running reports whether the pid file names a live process of the engine.
func (d *Daemon) Running() bool {
	pid, err := d.PID()
	return err == nil && syscall.Kill(pid, 0) == nil && d.alive(pid)
}

// PID is the engine's process ID, from its pid file.
func (d *Daemon) PID() (int, error) {
	b, err := os.ReadFile(d.PIDFile)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// alive tells a running engine from a zombie or a reused pid.
func (d *Daemon) alive(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	_, rest, ok := strings.Cut(string(stat), ") ")
	if !ok || strings.HasPrefix(rest, "Z") {
		return false
	}
	for _, p := range d.Programs {
		if strings.Contains(string(stat), "("+p+")") {
			return true
		}
	}
	return false
}

// Stop sends the engine SIGTERM, its clean shutdown, and waits until it is gone. A stopped
// engine is no error.
func (d *Daemon) Stop(ctx context.Context) error {
	pid, err := d.PID()
	if err != nil || syscall.Kill(pid, 0) != nil {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop %s: %w", d.Programs[0], err)
	}
	for syscall.Kill(pid, 0) == nil && d.alive(pid) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("stop %s %d: %w", d.Programs[0], pid, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// Command runs name as the system user (when the agent is root), in its own process group
// so that a signal to the agent reaches the engine only through Stop, with the agent's
// environment (a hypervisor may mark its server's processes that way).
func (d *Daemon) Command(ctx context.Context, name string, args ...string) (*exec.Cmd, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), "LANG=C.UTF-8", "TZ=UTC")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	uid, gid, ok, err := d.ids()
	if err != nil {
		return nil, err
	}
	if ok {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uid, Gid: gid}
	}
	return cmd, nil
}

// ids returns the system user's uid and gid when the agent must switch to it (is root).
func (d *Daemon) ids() (uid, gid uint32, switchUser bool, err error) {
	if os.Geteuid() != 0 {
		return 0, 0, false, nil
	}
	u, err := user.Lookup(d.SystemUser)
	if err != nil {
		return 0, 0, false, fmt.Errorf("%s system user: %w", d.Programs[0], err)
	}
	uid64, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid64, _ := strconv.ParseUint(u.Gid, 10, 32)
	return uint32(uid64), uint32(gid64), true, nil
}

// Chown gives path to the system user (when the agent is root).
func (d *Daemon) Chown(path string) error {
	uid, gid, ok, err := d.ids()
	if err != nil || !ok {
		return err
	}
	if err := os.Chown(path, int(uid), int(gid)); err != nil {
		return fmt.Errorf("chown %s: %w", path, err)
	}
	return nil
}

// PrepareDir makes dir, gives it to the system user, and lets that user pass through its
// parents.
func (d *Daemon) PrepareDir(dir string, mode fs.FileMode) error {
	if err := os.MkdirAll(dir, mode); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		return fmt.Errorf("chmod %s: %w", dir, err)
	}
	if err := d.Chown(dir); err != nil {
		return err
	}
	for p := filepath.Dir(dir); p != "/" && p != "."; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("stat %s: %w", p, err)
		}
		if st.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(p, st.Mode().Perm()|0o011); err != nil {
				return fmt.Errorf("open %s to the %s user: %w", p, d.SystemUser, err)
			}
		}
	}
	return nil
}

// WriteOwned writes a file only the system user (and the agent) reads.
func (d *Daemon) WriteOwned(path string, data []byte) error {
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return err
	}
	return d.Chown(path)
}

// LastLines is the last n lines of a program's output, on one line.
func LastLines(b []byte, n int) string {
	lines := strings.Split(string(bytes.TrimSpace(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// TailBuffer keeps at most Max bytes of a program's stderr (its last lines matter).
type TailBuffer struct {
	B   bytes.Buffer
	Max int
}

func (t *TailBuffer) Write(p []byte) (int, error) {
	t.B.Write(p)
	if over := t.B.Len() - t.Max; over > 0 {
		rest := t.B.Bytes()[over:]
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			rest = rest[i+1:]
		}
		kept := append([]byte(nil), rest...)
		t.B.Reset()
		t.B.Write(kept)
	}
	return len(p), nil
}

// Tail is the last n lines kept.
func (t *TailBuffer) Tail(n int) string { return LastLines(t.B.Bytes(), n) }

// RunTool runs an engine's program to its end. Its failure names what ran and carries the
// last lines of its stderr, or the context's error when that is what ended it.
func RunTool(ctx context.Context, cmd *exec.Cmd, what string) error {
	stderr := &TailBuffer{Max: 8192}
	cmd.Stderr = stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, ctx.Err())
		}
		return fmt.Errorf("%s: %w: %s", what, err, stderr.Tail(5))
	}
	return nil
}

// maxSocketPath is the longest Unix socket path Linux takes (sun_path is 108 bytes).
const maxSocketPath = 107

// RunDir is where an engine keeps its socket (named socketName) and pid file:
// <volume>/run, or a folder under /tmp named for the engine and the instance when the
// socket's path would be too long for the kernel.
func RunDir(volume, instanceID, socketName, engine string) string {
	dir := filepath.Join(volume, "run")
	if len(filepath.Join(dir, socketName)) <= maxSocketPath {
		return dir
	}
	prefix := instanceID
	if len(prefix) > 8 {
		prefix = prefix[:8]
	}
	if prefix == "" {
		h := fnv.New32a()
		h.Write([]byte(volume))
		prefix = fmt.Sprintf("%08x", h.Sum32())
	}
	return "/tmp/coffer-" + engine + "-" + prefix
}
