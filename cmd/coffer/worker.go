package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/worker"

	"github.com/coffer-dbaas/coffer/activities"
	"github.com/coffer-dbaas/coffer/config"
	"github.com/coffer-dbaas/coffer/workflows"
)

func workerCommand() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run the control-plane worker: Coffer's workflows and their OpenStack and catalog activities",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cp, err := openControlPlane(cmd, config.RoleWorker, file, func(c config.Config) string { return c.Metrics.WorkerListen })
			if err != nil {
				return err
			}
			defer cp.Close()
			ctx, cfg, store, c, log := cmd.Context(), cp.cfg, cp.store, cp.temporal, cp.log
			acts, err := activities.NewActivities(ctx, cfg, store)
			if err != nil {
				return fmt.Errorf("worker: %w", err)
			}
			sweeper, err := workflows.NewSilenceSweeper(store, c, cfg.Guest.HeartbeatExpiry, cfg.Guest.HealthInterval, log)
			if err != nil {
				return fmt.Errorf("worker: %w", err)
			}
			w := worker.New(c, workflows.ControlTaskQueue, workflows.WorkerOptions())
			workflows.Register(w)
			w.RegisterActivity(acts)
			// The sweep of silent guests lives as long as the worker: both stop on the
			// same signal, and the command returns once the sweep has.
			ctx, stop := context.WithCancel(ctx)
			swept := make(chan struct{})
			go func() {
				defer close(swept)
				sweeper.Run(ctx)
			}()
			defer func() { stop(); <-swept }()
			log.Info("worker polling", "task_queue", workflows.ControlTaskQueue, "temporal", cfg.Temporal.HostPort)
			return w.Run(interruptOn(ctx))
		},
	}
	cmd.Flags().StringVar(&file, "config", "", "YAML configuration file")
	cmd.Flags().String("metrics-worker-listen", "", "Prometheus /metrics address, host:port (default: none)")
	return cmd
}
