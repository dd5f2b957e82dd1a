package devcloud

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// serverVar is the variable that marks every process of a server (serverVar=<its folder>):
// the hypervisor alone sets and reads it, and processes pass it on to their children as any
// inherited variable, so it finds a server's processes even after they left its process
// group (a database server daemonizes). Nothing in the guest looks at it.
const serverVar = "DEVCLOUD_SERVER"

// bootGrace is how long a freshly started process must stay up to count as booted: a program
// that cannot start (bad flags, missing config) exits well within it.
const bootGrace = 200 * time.Millisecond

// defaultStopTimeout applies when the configuration leaves Hypervisor.StopTimeout at zero.
const defaultStopTimeout = 10 * time.Second

// hypervisor runs one process per server, in the server's folder and its own process group,
// started as Command followed by the flags that point a guest agent at what a VM would have
// (see serverFlags). It knows processes only; Nova
// (nova.go) decides when to boot and stop them and records the statuses. A process that exits
// without being asked to is reported to Nova, which powers the server off as its power-state
// sync would.
//
// Locking: h.mu guards the process table and is never held while taking Cloud.mu, and no
// method is called with Cloud.mu held.
type hypervisor struct {
	c       *Cloud
	name    string // the program as configured, for errors
	program string // resolved at New, so that a relative path means the same all run long
	args    []string
	lookErr error // why program cannot run; boots fail with it
	qemu    *qemu // set when each server is a qemu VM rather than a process

	mu     sync.Mutex
	guests map[string]*guest      // running processes by server ID
	ops    map[string]*sync.Mutex // serializes the background operations of each server
	closed bool
	wg     sync.WaitGroup // one watch goroutine per process
}

// guest is one server's running process.
type guest struct {
	id       string // the server's
	pid      int    // also the process group ID
	marker   string // serverVar=<server folder>, in the environment of every process of the server
	done     chan struct{}
	booting  bool  // an exit now is a failed boot, which boot itself reports
	stopping bool  // an exit now was asked for
	exitErr  error // set before done is closed
}

func newHypervisor(c *Cloud) *hypervisor {
	h := &hypervisor{
		c:      c,
		guests: map[string]*guest{},
		ops:    map[string]*sync.Mutex{},
	}
	if c.cfg.Hypervisor.Kind == HypervisorQemu {
		h.qemu = newQemu(c)
		h.name = h.qemu.binary()
	} else {
		h.name = c.cfg.Hypervisor.Command[0]
		h.args = slices.Clone(c.cfg.Hypervisor.Command[1:])
	}
	h.program, h.lookErr = resolveProgram(h.name)
	if h.lookErr != nil {
		c.log.Warn("devcloud hypervisor cannot run its command; servers will go to ERROR", "command", h.name, "error", h.lookErr)
	}
	return h
}

// resolveProgram makes the hypervisor's program an absolute path: a bare name is looked up in
// PATH, a relative path is taken from the current folder (server processes run elsewhere).
func resolveProgram(name string) (string, error) {
	if !strings.Contains(name, "/") {
		p, err := exec.LookPath(name)
		if err != nil {
			return "", err
		}
		return filepath.Abs(p)
	}
	return filepath.Abs(name)
}

// serverImage is the image a server boots from, if it has one the cloud knows.
func (c *Cloud) serverImage(id string) (Image, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.st.Servers[id]
	if s == nil || s.ImageID == "" {
		return Image{}, false
	}
	return c.imageByID(s.ImageID)
}

func (c *Cloud) serverDir(id string) string { return filepath.Join(c.cfg.DataDir, "servers", id) }

func (c *Cloud) configDriveDir(id string) string {
	return filepath.Join(c.serverDir(id), "config-drive")
}

// serverFlags are the flags that tell a server's guest agent what a VM learns from its
// hardware and its config drive: the config-2 folder, the folder that holds the volumes in
// place of block devices (each found by its ID, as a disk by its serial) and their sizes,
// since folders have none, and the flavor's RAM and CPUs, since a process has the whole
// machine's. A resize reboots the server, so a boot always passes the current ones. The
// agent keeps its credential in the server's own folder (--state-dir), which lasts as a VM's
// disk does: through stops, reboots and resizes, until the server is deleted.
func (c *Cloud) serverFlags(id string) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.st.Servers[id]
	if s == nil {
		return nil, fmt.Errorf("server %s is gone", id)
	}
	flags := []string{
		"--config-drive", c.configDriveDir(id),
		"--volumes-dir", filepath.Join(c.cfg.DataDir, "volumes"),
		"--ram-mb", strconv.Itoa(s.Flavor.RAM),
		"--cpus", strconv.Itoa(s.Flavor.VCPUs),
		"--state-dir", c.guestStateDir(id),
	}
	for _, sv := range s.Volumes {
		if v := c.st.Volumes[sv.VolumeID]; v != nil {
			flags = append(flags, "--volume-size-gb", sv.VolumeID+"="+strconv.Itoa(v.Size))
		}
	}
	return flags, nil
}

// guestStateDir is where a process server's guest agent keeps its state.
func (c *Cloud) guestStateDir(id string) string { return filepath.Join(c.serverDir(id), "guest-state") }

func (c *Cloud) consolePath(id string) string { return filepath.Join(c.serverDir(id), "console.log") }

// lockServer serializes the background operations (build, power actions, resize, delete) of
// one server; the caller calls the returned function when done.
func (h *hypervisor) lockServer(id string) (unlock func()) {
	h.mu.Lock()
	m := h.ops[id]
	if m == nil {
		m = &sync.Mutex{}
		h.ops[id] = m
	}
	h.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// forget drops a deleted server's operation lock.
func (h *hypervisor) forget(id string) {
	h.mu.Lock()
	delete(h.ops, id)
	h.mu.Unlock()
}

// boot starts a server's process and waits bootGrace; a process still running then has
// booted. Its output is appended to the server's console log.
func (h *hypervisor) boot(id string) error {
	if h.lookErr != nil {
		return fmt.Errorf("hypervisor command %q: %w", h.name, h.lookErr)
	}
	dir := h.c.serverDir(id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create server folder: %w", err)
	}
	console, err := os.OpenFile(h.c.consolePath(id), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open console log: %w", err)
	}
	defer console.Close() // the process has its own descriptor once started

	if img, ok := h.c.serverImage(id); ok && img.Properties["devcloud_boot"] == ImageBootFail {
		return fmt.Errorf("image %s does not boot (its property devcloud_boot is %q)", img.Name, ImageBootFail)
	}
	var args []string
	if h.qemu != nil {
		args, err = h.qemu.prepare(id)
	} else {
		args, err = h.c.serverFlags(id)
	}
	if err != nil {
		return err
	}
	if h.c.guard != nil {
		if err := h.c.guard.open(id); err != nil {
			return err
		}
	}
	cmd := exec.Command(h.program, append(slices.Clone(h.args), args...)...)
	cmd.Dir = dir
	marker := serverVar + "=" + dir
	cmd.Env = append(append(os.Environ(), h.c.cfg.Hypervisor.Env...), marker)
	// A VM writes its serial port to the console log itself (qemuArgs); qemu's own messages
	// go there too.
	cmd.Stdout = console
	cmd.Stderr = console
	// Its own group, so that stopping it reaches its children too; killed if we die.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}

	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return errors.New("the hypervisor is shutting down")
	}
	if _, ok := h.guests[id]; ok {
		h.mu.Unlock()
		return fmt.Errorf("server %s is already running", id)
	}
	if err := cmd.Start(); err != nil {
		h.mu.Unlock()
		return fmt.Errorf("start %s: %w", h.program, err)
	}
	g := &guest{id: id, pid: cmd.Process.Pid, marker: marker, done: make(chan struct{}), booting: true}
	h.guests[id] = g
	h.wg.Add(1)
	h.mu.Unlock()
	go h.watch(id, g, cmd)
	h.c.log.Info("devcloud server process started", "server_id", id, "pid", g.pid)

	t := time.NewTimer(bootGrace)
	defer t.Stop()
	select {
	case <-g.done:
	case <-t.C:
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-g.done:
		// The console says why (the agent's last words, "coffer: ..."): the server's fault
		// carries them, so that a failed create says why without anyone reading the log.
		why := lastConsoleLine(h.c.consolePath(id))
		noteConsole(h.c.consolePath(id), fmt.Sprintf("devcloud: the server's process exited while booting (%v)", g.exitErr))
		if why != "" {
			return fmt.Errorf("the server's process exited while booting (%v): %s", g.exitErr, why)
		}
		return fmt.Errorf("the server's process exited while booting (%v); see its console log", g.exitErr)
	default:
		g.booting = false
		return nil
	}
}

// consoleTailBytes is how much of the end of a console log lastConsoleLine reads.
const consoleTailBytes = 4096

// lastConsoleLine is the last line of a console log that is not blank (at most 300 bytes of
// it), or "" when there is none.
func lastConsoleLine(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(st.Size()-consoleTailBytes, 0)
	buf := make([]byte, st.Size()-off)
	n, _ := f.ReadAt(buf, off)
	lines := strings.Split(strings.TrimRight(string(buf[:n]), " \t\r\n"), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	if len(last) > 300 {
		last = last[:300] + "..."
	}
	return last
}

// noteConsole appends the hypervisor's own line to a server's console log, as a real
// hypervisor's messages sit beside the guest's.
func noteConsole(path, line string) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = fmt.Fprintf(f, "%s %s\n", time.Now().UTC().Format(time.RFC3339), line)
}

// watch reaps a process and, when nobody asked it to stop, tells Nova the server powered off.
func (h *hypervisor) watch(id string, g *guest, cmd *exec.Cmd) {
	defer h.wg.Done()
	err := cmd.Wait()
	if err == nil {
		err = errors.New("exit status 0")
	}
	h.mu.Lock()
	g.exitErr = err
	expected := g.booting || g.stopping || h.closed
	if h.guests[id] == g {
		delete(h.guests, id)
	}
	close(g.done)
	h.mu.Unlock()
	h.c.log.Info("devcloud server process exited", "server_id", id, "pid", g.pid, "status", err, "expected", expected)
	if !expected {
		noteConsole(h.c.consolePath(id), fmt.Sprintf("devcloud: the server's process exited on its own (%v); the server is SHUTOFF", err))
		h.c.serverPoweredOff(id)
	}
}

// stop ends a server's process (SIGTERM to its group, SIGKILL after the stop timeout) and
// waits for it. A server with no process is already stopped.
func (h *hypervisor) stop(id string) {
	h.mu.Lock()
	g := h.guests[id]
	if g != nil {
		g.stopping = true
	}
	h.mu.Unlock()
	if g != nil {
		h.terminate(g)
	}
}

func (h *hypervisor) terminate(g *guest) {
	timeout := h.c.cfg.Hypervisor.StopTimeout
	if timeout <= 0 {
		timeout = defaultStopTimeout
	}
	// A VM gets the ACPI power button, as Nova's stop presses it; qemu exits when the guest
	// has shut down. A process, or a VM whose monitor does not answer, gets SIGTERM.
	if h.qemu == nil || h.qemu.powerDown(g.id) != nil {
		_ = syscall.Kill(-g.pid, syscall.SIGTERM)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-g.done:
	case <-t.C:
		_ = syscall.Kill(-g.pid, syscall.SIGKILL)
		<-g.done
	}
	// Children the leader left behind in its group go with it, and so does every process of
	// the "VM" that left the group (a database server daemonizes): the power is off.
	_ = syscall.Kill(-g.pid, syscall.SIGKILL)
	killMarked(g.marker)
}

// killMarked SIGKILLs every process whose environment holds marker (see serverVar).
func killMarked(marker string) {
	want := []byte(marker + "\x00")
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		if bytes.HasPrefix(env, want) || bytes.Contains(env, append([]byte{0}, want...)) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// resume boots again the servers that were ACTIVE when the cloud last stopped, and finishes
// the operations a stop interrupted (see Cloud.resumeServer).
func (h *hypervisor) resume() {
	c := h.c
	c.mu.Lock()
	ids := make([]string, 0, len(c.st.Servers))
	for id := range c.st.Servers {
		ids = append(ids, id)
	}
	c.mu.Unlock()
	for _, id := range ids {
		c.async(func(ctx context.Context) { c.resumeServer(ctx, id) })
	}
}

// shutdown stops every server process without changing the servers' recorded status, so the
// next New boots them again.
func (h *hypervisor) shutdown() {
	h.mu.Lock()
	h.closed = true
	gs := make([]*guest, 0, len(h.guests))
	for _, g := range h.guests {
		g.stopping = true
		gs = append(gs, g)
	}
	h.mu.Unlock()
	var wg sync.WaitGroup
	for _, g := range gs {
		wg.Go(func() { h.terminate(g) })
	}
	wg.Wait()
	h.wg.Wait()
}

// pid is the process ID of a server's running process (the first one the hypervisor
// started, the leader of its group).
func (h *hypervisor) pid(id string) (int, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if g := h.guests[id]; g != nil {
		return g.pid, true
	}
	return 0, false
}

// crash kills a server's process behind Nova's back, as a crashing VM would; Nova then finds
// the server powered off.
func (h *hypervisor) crash(id string) error {
	h.mu.Lock()
	g := h.guests[id]
	h.mu.Unlock()
	if g == nil {
		return fmt.Errorf("server %s has no running process", id)
	}
	if err := syscall.Kill(-g.pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill server %s: %w", id, err)
	}
	killMarked(g.marker)
	return nil
}
