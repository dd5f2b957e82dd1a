// Command coffer-dev runs all of Coffer on one machine: an embedded Temporal server and its
// Web UI, the catalog's PostgreSQL cluster, the devcloud (whose servers run the coffer
// binary's guest agent), the API and the worker, all on loopback, with state in one folder.
// Ctrl-C stops everything; a second run finds its state again. Run it with `go tool task dev`.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/coffer-dbaas/coffer/dev/stack"
)

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "coffer-dev:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("coffer-dev", flag.ContinueOnError)
	dataDir := fs.String("data-dir", ".data", "folder for all state")
	coffer := fs.String("coffer", "bin/coffer", "the coffer binary the devcloud boots as each instance's guest agent")
	verbose := fs.Bool("v", false, "log at debug level, and show the Temporal server's error log")
	if err := fs.Parse(args); err != nil {
		return err
	}
	bin, err := filepath.Abs(*coffer)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("the coffer binary is missing (%w): build it with `go tool task build`", err)
	}
	dir, err := filepath.Abs(*dataDir)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := stack.Start(ctx, stack.Options{DataDir: dir, CofferBinary: bin, Log: log, TemporalLog: *verbose})
	if err != nil {
		return err
	}
	printWelcome(st, dir)
	<-ctx.Done()
	log.Info("stopping: instances' servers stop too and boot again at the next run")
	st.Stop()
	return nil
}

func printWelcome(st *stack.Stack, dir string) {
	fmt.Printf(`
Coffer is running (state in %s). Ctrl-C stops everything.

  Coffer API (Trove v1.0)   %s        OpenAPI: %s/openapi.json   docs: %s/docs
  Temporal Web UI           %s
  Temporal frontend         %s (namespace %s)
  Guest gateway             %s (guests reach the control plane only through it; log: %s)
  Keystone (devcloud)       %s
  Users                     demo/demo (project demo), alt_demo/alt_demo, admin/admin

For the OpenStack clients (python-troveclient: openstack database instance list):

export OS_AUTH_URL=%s
export OS_IDENTITY_API_VERSION=3
export OS_USERNAME=demo
export OS_PASSWORD=demo
export OS_PROJECT_NAME=demo
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_REGION_NAME=RegionOne

`, dir, st.APIURL, st.APIURL, st.APIURL, st.Temporal.UIURL(), st.Temporal.FrontendHostPort(), st.Config.Temporal.Namespace,
		st.GatewayHostPort, filepath.Join(dir, "guest-gateway.log"),
		st.Cloud.IdentityURL(), st.Cloud.IdentityURL())
}
