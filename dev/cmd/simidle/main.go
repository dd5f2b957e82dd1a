// Command simidle is the idle-scale simulation of issue 19 (SIMULATION ONLY; `go tool task
// sim:idle` runs it): a whole Coffer stack on this machine (Temporal, the catalog, the
// devcloud, the API, the worker, and the guest gateway as a process of its own, as in
// production) with a thousand idle instances, whose guests are the real guest agent
// (guestagent.Agent: enrolment, health reports and its Temporal worker, all through the
// gateway and authenticated per instance) running in this process with the stand-in engine
// of dev/simguest. The instances are written into the catalog directly, with their guest
// identities made as a create makes them (no Nova server is booted for them).
//
// Once every guest has enrolled, reported and polls its task queue, it leaves them idle for
// -idle and prints, measured over that period: Temporal history events (every action a
// workflow takes is one or more) per idle instance per day, catalog writes per second
// (pg_stat_database deltas), the gateway process's CPU and memory (/proc), then GET
// /instances latencies for the project that holds the thousand instances. It exits 1 when a
// target of issue 19 is missed (at most 10 Temporal actions per idle instance per day; the
// gateway within one core and 500 MB).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/coffer-dbaas/coffer/dev/freeport"
)

func main() {
	var o options
	flag.StringVar(&o.coffer, "coffer", "bin/coffer", "the coffer binary the gateway (and worker, API) run as")
	flag.IntVar(&o.instances, "instances", 1000, "idle instances to simulate")
	flag.DurationVar(&o.idle, "idle", 90*time.Second, "how long the instances stay idle while measured")
	flag.DurationVar(&o.settle, "settle", 40*time.Second, "how long to wait after every guest serves, before measuring (a full report interval, so that the boot's burst is over)")
	flag.IntVar(&o.requests, "requests", 100, "GET /instances requests per measured kind")
	flag.StringVar(&o.dataDir, "data-dir", "", "where the stack keeps its state (default: a temporary folder, removed at the end)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "simidle:", err)
		os.Exit(1)
	}
}

type options struct {
	coffer    string
	instances int
	idle      time.Duration
	settle    time.Duration
	requests  int
	dataDir   string
}

func run(o options) error {
	coffer, err := filepath.Abs(o.coffer)
	if err != nil {
		return err
	}
	if _, err := os.Stat(coffer); err != nil {
		return fmt.Errorf("the coffer binary: %w (go tool task build:coffer makes bin/coffer)", err)
	}
	o.coffer = coffer
	if o.dataDir == "" {
		dir, err := os.MkdirTemp("", "coffer-simidle-*")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.dataDir = dir
	}
	logFile, err := os.Create(filepath.Join(o.dataDir, "simidle.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	log := slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := simulate(ctx, o, log)
	if err != nil {
		return fmt.Errorf("%w (logs in %s)", err, o.dataDir)
	}
	res.print(os.Stdout)
	if !res.passed() {
		return fmt.Errorf("a target of issue 19 was missed")
	}
	return nil
}

func freePort() int { return freeport.MustPort() }
