// Command coffer is Coffer's product binary, the one that production runs and every guest
// image carries. Each role is a subcommand:
//
//   - api: the Trove v1.0 REST API (OpenAPI 3.1 at /openapi.json, docs at /docs)
//   - worker: the control plane's Temporal worker (workflows and their OpenStack and
//     catalog activities)
//   - guest-gateway: the only door from guests to the control plane: enrollment, and their
//     own task queue on Temporal, re-keyed per instance
//   - guestagent: the agent inside an instance's server, configured by its config drive
//   - migrate: applies the catalog's migrations
//
// It has no client commands: tenants use the OpenStack clients (python-troveclient,
// gophercloud) against the API. It links nothing under dev/: the devcloud and coffer-dev
// are binaries of their own there (dev/cmd/devcloud, dev/cmd/coffer-dev).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "coffer:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	root := &cobra.Command{
		Use:           "coffer",
		Short:         "Coffer: database as a service for OpenStack, on Temporal",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(apiCommand(log), workerCommand(log), gatewayCommand(log), guestagentCommand(log), migrateCommand(log))
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}
