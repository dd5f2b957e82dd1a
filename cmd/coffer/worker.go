package main

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/worker"

	"github.com/coffer-dbaas/coffer/activities"
	"github.com/coffer-dbaas/coffer/config"
	"github.com/coffer-dbaas/coffer/workflows"
)

func workerCommand(log *slog.Logger) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run the control-plane worker: Coffer's workflows and their OpenStack and catalog activities",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cp, err := openControlPlane(cmd, config.RoleWorker, file, log)
			if err != nil {
				return err
			}
			defer cp.Close()
			ctx, cfg, store, c := cmd.Context(), cp.cfg, cp.store, cp.temporal
			acts, err := activities.NewActivities(ctx, cfg, store)
			if err != nil {
				return fmt.Errorf("worker: %w", err)
			}
			w := worker.New(c, workflows.ControlTaskQueue, worker.Options{})
			workflows.Register(w)
			w.RegisterActivity(acts)
			log.Info("worker polling", "task_queue", workflows.ControlTaskQueue, "temporal", cfg.Temporal.HostPort)
			return w.Run(interruptOn(ctx))
		},
	}
	cmd.Flags().StringVar(&file, "config", "", "YAML configuration file")
	return cmd
}
