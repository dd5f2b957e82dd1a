package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/codec"
	"github.com/coffer-dbaas/coffer/config"
)

// dialTemporal connects to Temporal with the payload codec every Coffer process shares.
func dialTemporal(cfg config.Config, log *slog.Logger) (client.Client, error) {
	key, err := cfg.CodecKeyBytes()
	if err != nil {
		return nil, fmt.Errorf("config key codec_key: %w", err)
	}
	dc, err := codec.DataConverter(key)
	if err != nil {
		return nil, err
	}
	c, err := client.Dial(client.Options{
		HostPort:      cfg.Temporal.HostPort,
		Namespace:     cfg.Temporal.Namespace,
		DataConverter: dc,
		Logger:        sdklog.NewStructuredLogger(log.With("component", "temporal")),
	})
	if err != nil {
		return nil, fmt.Errorf("connect to temporal at %s: %w", cfg.Temporal.HostPort, err)
	}
	return c, nil
}

// interruptOn adapts a context to the channel worker.Run stops on.
func interruptOn(ctx context.Context) <-chan any {
	ch := make(chan any)
	go func() {
		<-ctx.Done()
		close(ch)
	}()
	return ch
}

// controlPlane is what the api and the worker both run on: the config, the catalog and a
// Temporal client.
type controlPlane struct {
	cfg      config.Config
	store    *catalog.Store
	temporal client.Client
}

// openControlPlane loads role's config (file, COFFER_* variables, cmd's flags) and connects
// to the catalog and to Temporal.
func openControlPlane(cmd *cobra.Command, role config.Role, file string, log *slog.Logger) (*controlPlane, error) {
	cfg, err := config.Load(role, file, cmd.Flags())
	if err != nil {
		return nil, err
	}
	store, err := catalog.Open(cmd.Context(), cfg.Catalog.URL)
	if err != nil {
		return nil, err
	}
	c, err := dialTemporal(cfg, log)
	if err != nil {
		store.Close()
		return nil, err
	}
	return &controlPlane{cfg: cfg, store: store, temporal: c}, nil
}

// Close disconnects from Temporal and the catalog.
func (cp *controlPlane) Close() {
	cp.temporal.Close()
	cp.store.Close()
}
