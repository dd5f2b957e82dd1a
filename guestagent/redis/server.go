package redis

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/coffer-dbaas/coffer/guestagent"
)

const (
	socketName = "redis.sock"
	pidName    = "redis.pid"
	// rdbName is the snapshot Redis loads at start and saves to.
	rdbName = "dump.rdb"
)

// server is one redis-server: its folders and files on the volume and how it listens. It
// runs as the Daemon's system user (redis) when the agent is root.
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

// Prepared reports whether Prepare (or a restore) made the data folder.
func (s *server) Prepared() bool {
	st, err := os.Stat(s.DataDir)
	return err == nil && st.IsDir()
}

// startPoll is how often Start asks a starting server whether it is ready: often, since a
// restore's first start is over as soon as the snapshot is loaded, and a question costs the
// server a connection on its socket (it answers -LOADING meanwhile).
const startPoll = 20 * time.Millisecond

// Start starts redis-server with ConfigFile and waits until ready answers. A running server
// is left alone.
func (s *server) Start(ctx context.Context, ready func(context.Context) error) error {
	if s.Running() {
		return nil
	}
	if err := s.PrepareDir(s.RunDir, 0o755); err != nil {
		return err
	}
	log, err := os.OpenFile(s.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("open the server log: %w", err)
	}
	defer log.Close()
	if err := s.Chown(s.LogFile); err != nil {
		return err
	}
	cmd, err := s.Command(context.WithoutCancel(ctx), redisServer(), s.ConfigFile)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	// redis-server runs in the foreground (daemonize no): reap it when it ends.
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var last error
	for {
		if s.Running() {
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			last = ready(pctx)
			cancel()
			if last == nil {
				return nil
			}
		}
		select {
		case err := <-exited:
			tail, _ := os.ReadFile(s.LogFile)
			return fmt.Errorf("redis-server exited at start: %v: %s", err, guestagent.LastLines(tail, 5))
		case <-ctx.Done():
			return fmt.Errorf("redis-server not ready: %w (last: %v)", ctx.Err(), last)
		case <-time.After(startPoll):
		}
	}
}

// redisServer is Debian's redis-server.
func redisServer() string { return "/usr/bin/redis-server" }
