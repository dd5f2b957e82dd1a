package stack

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// roles are the guest gateway, and the worker and API when they run as processes of the
// coffer binary.
type roles struct {
	binary string
	dir    string
	env    []string
	apiURL string

	mu    sync.Mutex
	procs map[string]*roleProcess
}

// roleProcess is one running `coffer <role>`.
type roleProcess struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// StartWorker starts `coffer worker` (Options.WorkerProcess); one that runs is left alone.
func (s *Stack) StartWorker() error { return s.roles.start("worker") }

// KillWorker kills the `coffer worker` process with SIGKILL, as a crash would, and waits
// until it is gone.
func (s *Stack) KillWorker() error { return s.roles.kill("worker", syscall.SIGKILL) }

// StartAPI starts `coffer api` (Options.APIProcess) and returns once it answers.
func (s *Stack) StartAPI() error {
	if err := s.roles.start("api"); err != nil {
		return err
	}
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(s.roles.apiURL + "/")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("coffer api did not answer at %s within a minute: %w", s.roles.apiURL, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// StartGateway starts `coffer guest-gateway` and returns once it accepts connections. Its
// output goes to guest-gateway.log in DataDir.
func (s *Stack) StartGateway() error {
	if err := s.roles.start("guest-gateway"); err != nil {
		return err
	}
	deadline := time.Now().Add(time.Minute)
	for {
		conn, err := net.DialTimeout("tcp", s.GatewayHostPort, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		if !s.roles.running("guest-gateway") {
			return fmt.Errorf("coffer guest-gateway exited at start (see %s)", filepath.Join(s.roles.dir, "guest-gateway.log"))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("coffer guest-gateway did not listen on %s within a minute: %w", s.GatewayHostPort, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// GatewayPID is the process ID of the running `coffer guest-gateway`, 0 when none runs: what
// the idle-scale simulation reads the gateway's CPU and memory of (/proc/PID).
func (s *Stack) GatewayPID() int { return s.roles.pid("guest-gateway") }

// KillAPI kills the `coffer api` process with SIGKILL and waits until it is gone.
func (s *Stack) KillAPI() error { return s.roles.kill("api", syscall.SIGKILL) }

func (r *roles) start(role string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p := r.procs[role]; p != nil {
		select {
		case <-p.done:
		default:
			return nil
		}
	}
	if r.binary == "" {
		return fmt.Errorf("start coffer %s: Options.CofferBinary is not set", role)
	}
	log, err := os.OpenFile(filepath.Join(r.dir, role+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("start coffer %s: %w", role, err)
	}
	cmd := exec.Command(r.binary, role)
	cmd.Env = append(os.Environ(), r.env...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("start coffer %s: %w", role, err)
	}
	p := &roleProcess{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		log.Close()
		close(p.done)
	}()
	r.procs[role] = p
	return nil
}

// running says whether the role's process runs.
func (r *roles) running(role string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.procs[role]
	if p == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// pid is the process ID of the role's running process, 0 when none runs.
func (r *roles) pid(role string) int {
	if !r.running(role) {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.procs[role].cmd.Process.Pid
}

func (r *roles) kill(role string, sig syscall.Signal) error {
	r.mu.Lock()
	p := r.procs[role]
	r.mu.Unlock()
	if p == nil {
		return fmt.Errorf("kill coffer %s: it does not run as a process of this stack", role)
	}
	if err := syscall.Kill(-p.cmd.Process.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill coffer %s: %w", role, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("kill coffer %s: still running 30s after %s", role, sig)
	}
}

// stopAll stops every role process: SIGTERM, then SIGKILL after 10 seconds.
func (r *roles) stopAll() {
	r.mu.Lock()
	procs := make([]*roleProcess, 0, len(r.procs))
	for _, p := range r.procs {
		procs = append(procs, p)
	}
	r.mu.Unlock()
	for _, p := range procs {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	}
}
