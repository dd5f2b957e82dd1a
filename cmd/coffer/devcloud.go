package main

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/coffer-dbaas/coffer/dev/devcloud"
)

func devcloudCommand(log *slog.Logger) *cobra.Command {
	var configFile string
	cmd := &cobra.Command{
		Use:   "devcloud",
		Short: "Run the local OpenStack-compatible cloud (Keystone, Nova, Cinder, Neutron, Glance, Swift)",
		Long: `Run the local OpenStack-compatible cloud on loopback. Its state stays in data_dir, so a
restart finds every project, server, volume, port, group, image and object again, and boots
the servers that were ACTIVE. Settings come from --config (YAML), then COFFER_DEVCLOUD_*
environment variables (COFFER_DEVCLOUD_LISTEN, COFFER_DEVCLOUD_DATA_DIR, ...), then flags.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadDevcloudConfig(configFile, cmd)
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

// loadDevcloudConfig layers the YAML file, COFFER_DEVCLOUD_* variables and flags over
// devcloud.DefaultConfig; a key set nowhere keeps its default.
func loadDevcloudConfig(file string, cmd *cobra.Command) (devcloud.Config, error) {
	v := viper.New()
	v.SetEnvPrefix("COFFER_DEVCLOUD")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	for _, key := range []string{"listen", "public_url", "data_dir", "region", "token_ttl", "database_url", "hypervisor.command"} {
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
