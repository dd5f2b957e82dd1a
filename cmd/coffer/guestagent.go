package main

import (
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/coffer-dbaas/coffer/guestagent"
	"github.com/coffer-dbaas/coffer/guestagent/machine"
	"github.com/coffer-dbaas/coffer/guestagent/mariadb"
	"github.com/coffer-dbaas/coffer/guestagent/postgres"
	"github.com/coffer-dbaas/coffer/guestagent/redis"
)

func guestagentCommand(log *slog.Logger) *cobra.Command {
	var m machine.Machine
	var stateDir string
	cmd := &cobra.Command{
		Use:   "guestagent",
		Short: "Run the guest agent of the instance this server is (reads the config drive or the metadata service)",
		Long: `Run the guest agent inside an instance's server. It learns about the server as any
OpenStack VM does: user_data (the guest's JSON config, written by the control plane),
meta_data.json and network_data.json from the config drive (label config-2) or else the
metadata service; RAM and CPUs from the machine and its cgroup; its data volume by the
Cinder volume's serial under /dev/disk/by-id, formatted on first use and mounted.

At first boot it spends user_data's single-use bootstrap secret with the guest gateway for
the instance's own credential and payload key, kept in --state-dir (credential.json, 0600),
and from then on reaches the control plane only through the gateway, with that credential.

With no flags that is what it does. The flags point it elsewhere, for a hypervisor that runs
servers as processes (the devcloud's): a config-2 folder, a folder per volume, and the
flavor's RAM and CPUs when the process cannot be limited to them.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			agent := guestagent.Agent{Drivers: map[string]guestagent.NewDriver{postgres.Datastore: postgres.New, mariadb.Datastore: mariadb.New, redis.Datastore: redis.New}, StateDir: stateDir}
			return agent.Run(cmd.Context(), &m, log.With("role", "guestagent"))
		},
	}
	f := cmd.Flags()
	f.StringVar(&stateDir, "state-dir", guestagent.DefaultStateDir, "where the agent keeps its credential, readable by its OS user only; it must outlive reboots")
	f.StringVar(&m.ConfigDrive, "config-drive", "", "a folder holding the config drive's files (default: mount the config-2 drive, else ask the metadata service)")
	f.StringVar(&m.MetadataURL, "metadata-url", "", "the metadata service's base URL (default http://169.254.169.254)")
	f.StringVar(&m.MountDir, "mount-dir", "", "where volumes are mounted, one folder per volume ID (default "+machine.DefaultMountDir+")")
	f.StringVar(&m.VolumesDir, "volumes-dir", "", "a folder holding one folder per volume ID, in place of block devices")
	f.StringToIntVar(&m.VolumeSizesGB, "volume-size-gb", nil, "the size of a --volumes-dir volume, as ID=GiB (repeatable)")
	f.IntVar(&m.RAMMB, "ram-mb", 0, "the RAM in MiB, in place of the machine's (for a hypervisor that cannot limit it)")
	f.IntVar(&m.CPUs, "cpus", 0, "the CPU count, in place of the machine's (for a hypervisor that cannot limit it)")
	return cmd
}
