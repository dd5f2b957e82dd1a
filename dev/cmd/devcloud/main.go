// Command devcloud runs the local OpenStack-compatible cloud (Keystone, Nova, Cinder,
// Neutron, Glance, Swift) on loopback, alone: `go tool task devcloud`, or
// `bin/devcloud --config dev/devcloud.yaml`. coffer-dev runs the same cloud inside its own
// process; this binary is for using or testing the cloud by itself. See dev/README.md.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/coffer-dbaas/coffer/dev/devcloud"
)

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "devcloud:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cmd := devcloudCommand(log)
	cmd.SetArgs(args)
	return cmd.ExecuteContext(ctx)
}

func devcloudCommand(log *slog.Logger) *cobra.Command {
	var configFile string
	cmd := &cobra.Command{
		Use:           "devcloud",
		Short:         "Run the local OpenStack-compatible cloud (Keystone, Nova, Cinder, Neutron, Glance, Swift)",
		SilenceUsage:  true,
		SilenceErrors: true,
		Long: `Run the local OpenStack-compatible cloud on loopback. Its state stays in data_dir, so a
restart finds every project, server, volume, port, group, image and object again, and boots
the servers that were ACTIVE. Settings come from --config (YAML), then COFFER_DEVCLOUD_*
environment variables (COFFER_DEVCLOUD_LISTEN, COFFER_DEVCLOUD_DATA_DIR, ...), then flags.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(configFile, cmd)
			if err != nil {
				return err
			}
			cloud, err := devcloud.New(cfg, log.With("role", "devcloud"))
			if err != nil {
				return err
			}
			return cloud.Serve(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&configFile, "config", "", "YAML configuration file (for example dev/devcloud.yaml)")
	cmd.Flags().String("listen", "", "listen address, host:port")
	cmd.Flags().String("data-dir", "", "folder for the cloud's state")
	return cmd
}

// loadConfig layers the YAML file, COFFER_DEVCLOUD_* variables and flags over
// devcloud.DefaultConfig; a key set nowhere keeps its default.
func loadConfig(file string, cmd *cobra.Command) (devcloud.Config, error) {
	v := viper.New()
	v.SetEnvPrefix("COFFER_DEVCLOUD")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	for _, key := range []string{"listen", "public_url", "data_dir", "region", "token_ttl", "database_url", "hypervisor.command", "hypervisor.kind", "hypervisor.qemu.accel"} {
		if err := v.BindEnv(key); err != nil {
			return devcloud.Config{}, err
		}
	}
	for key, flag := range map[string]string{"listen": "listen", "data_dir": "data-dir"} {
		if err := v.BindPFlag(key, cmd.Flags().Lookup(flag)); err != nil {
			return devcloud.Config{}, err
		}
	}
	if file != "" {
		v.SetConfigFile(file)
		if err := v.ReadInConfig(); err != nil {
			return devcloud.Config{}, fmt.Errorf("read %s: %w", file, err)
		}
	}
	cfg := devcloud.DefaultConfig()
	// Keys with no value anywhere (an unset flag is "") must not wipe the defaults.
	settings := map[string]any{}
	for _, key := range v.AllKeys() {
		if val := v.Get(key); val != nil && val != "" {
			settings[key] = val
		}
	}
	ov := viper.New()
	for key, val := range settings {
		ov.Set(key, val)
	}
	if err := ov.Unmarshal(&cfg); err != nil {
		return devcloud.Config{}, fmt.Errorf("devcloud config: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return devcloud.Config{}, fmt.Errorf("devcloud config: %w", err)
	}
	return cfg, nil
}
