package main

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/config"
)

func migrateCommand(log *slog.Logger) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the catalog's migrations (safe to run again and from several places at once)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(config.RoleMigrate, file, cmd.Flags())
			if err != nil {
				return err
			}
			if err := catalog.Migrate(cmd.Context(), cfg.Catalog.URL); err != nil {
				return fmt.Errorf("migrate catalog: %w", err)
			}
			log.Info("catalog migrated")
			return nil
		},
	}
	cmd.Flags().StringVar(&file, "config", "", "YAML configuration file")
	cmd.Flags().String("catalog-url", "", "catalog PostgreSQL connection string")
	return cmd
}
