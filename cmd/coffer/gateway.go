package main

import (
	"crypto/tls"
	"fmt"
	"net"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/coffer-dbaas/coffer/config"
	"github.com/coffer-dbaas/coffer/gateway"
)

func gatewayCommand() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "guest-gateway",
		Short: "Serve the guest gateway: guests enroll, poll their own task queue and answer their tasks through it, never Temporal itself",
		RunE: func(cmd *cobra.Command, _ []string) error {
			rekey := func(cfg config.Config) ([]grpc.DialOption, error) {
				key, err := cfg.CodecKeyBytes()
				if err != nil {
					return nil, fmt.Errorf("config key codec_key: %w", err)
				}
				return gateway.DialOptions(key)
			}
			cp, err := openControlPlane(cmd, config.RoleGuestGateway, file, func(config.Config) string { return "" }, rekey)
			if err != nil {
				return err
			}
			defer cp.Close()
			ctx, cfg, log := cmd.Context(), cp.cfg, cp.log
			key, err := cfg.CodecKeyBytes()
			if err != nil {
				return fmt.Errorf("config key codec_key: %w", err)
			}
			opts := gateway.Options{
				Temporal:            cp.temporal.WorkflowService(),
				Catalog:             cp.store,
				MasterKey:           key,
				Namespace:           cfg.Temporal.Namespace,
				CredentialCacheTTL:  cfg.Gateway.CredentialCacheTTL,
				HealthInterval:      cfg.Guest.HealthInterval,
				HealthFlushInterval: cfg.Gateway.HealthFlushInterval,
				Log:                 log,
			}
			if cfg.Gateway.TLSCertFile != "" {
				cert, err := tls.LoadX509KeyPair(cfg.Gateway.TLSCertFile, cfg.Gateway.TLSKeyFile)
				if err != nil {
					return fmt.Errorf("config keys gateway.tls_cert_file/tls_key_file: %w", err)
				}
				opts.TLS = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
			}
			g, err := gateway.New(opts)
			if err != nil {
				return err
			}
			lis, err := net.Listen("tcp", cfg.Gateway.Listen)
			if err != nil {
				return fmt.Errorf("guest gateway: %w", err)
			}
			log.Info("guest gateway listening", "address", lis.Addr().String(), "tls", opts.TLS != nil,
				"temporal", cfg.Temporal.HostPort, "namespace", cfg.Temporal.Namespace)
			return g.Serve(ctx, lis)
		},
	}
	cmd.Flags().StringVar(&file, "config", "", "YAML configuration file")
	cmd.Flags().String("gateway-listen", "", "listen address for guests, host:port")
	return cmd
}
