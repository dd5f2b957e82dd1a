package main

import (
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/coffer-dbaas/coffer/configdrive"
	"github.com/coffer-dbaas/coffer/guestagent"
	"github.com/coffer-dbaas/coffer/guestagent/postgres"
)

func guestagentCommand(log *slog.Logger) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "guestagent",
		Short: "Run the guest agent of the instance this server is (reads the config drive)",
		Long: `Run the guest agent inside an instance's server. Its configuration comes from the
server's config drive: user_data (the guest's JSON config, written by the control plane) and
what the hypervisor says of the server (address, flavor, volumes). The folder is
--config-drive, or $COFFER_CONFIG_DRIVE.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var drive configdrive.Drive
			var err error
			if dir != "" {
				drive, err = configdrive.Read(dir)
			} else {
				drive, err = configdrive.FromEnv()
			}
			if err != nil {
				return err
			}
			agent := guestagent.Agent{Drivers: map[string]guestagent.NewDriver{postgres.Datastore: postgres.New}}
			return agent.Run(cmd.Context(), drive, log.With("role", "guestagent", "server_id", drive.MetaData.UUID))
		},
	}
	cmd.Flags().StringVar(&dir, "config-drive", "", "config drive folder (default $COFFER_CONFIG_DRIVE)")
	return cmd
}
