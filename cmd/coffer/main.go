// Command coffer is Coffer's one binary: each role is a subcommand (api, worker, guestagent,
// devcloud, migrate) and the client commands sit beside them.
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
	root.AddCommand(apiCommand(log), workerCommand(log), guestagentCommand(log), migrateCommand(log), devcloudCommand(log))
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}
