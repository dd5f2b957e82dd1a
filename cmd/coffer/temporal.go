package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/codec"
	"github.com/coffer-dbaas/coffer/config"
	"github.com/coffer-dbaas/coffer/telemetry"
)

// dialTemporal connects to Temporal with the payload codec every Coffer process shares, and
// the process's metrics and tracing.
func dialTemporal(cfg config.Config, tel *telemetry.Telemetry, log *slog.Logger) (client.Client, error) {
	key, err := cfg.CodecKeyBytes()
	if err != nil {
		return nil, fmt.Errorf("config key codec_key: %w", err)
	}
	dc, err := codec.DataConverter(key)
	if err != nil {
		return nil, err
	}
	opts := client.Options{
		HostPort:      cfg.Temporal.HostPort,
		Namespace:     cfg.Temporal.Namespace,
		DataConverter: dc,
		Logger:        sdklog.NewStructuredLogger(log.With("component", "temporal")),
	}
	if err := tel.ClientOptions(&opts); err != nil {
		return nil, err
	}
	c, err := client.Dial(opts)
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

// controlPlane is what the api and the worker both run on: the config, the logger it
// asks for, the process's telemetry, the catalog and a Temporal client.
type controlPlane struct {
	cfg       config.Config
	log       *slog.Logger
	telemetry *telemetry.Telemetry
	store     *catalog.Store
	temporal  client.Client
	stop      []func()
}

// openControlPlane loads role's config (file, COFFER_* variables, cmd's flags), makes the
// logger and the telemetry it asks for, serves metrics on metricsListen (when set), and
// connects to the catalog and to Temporal.
func openControlPlane(cmd *cobra.Command, role config.Role, file string, metricsListen func(config.Config) string) (_ *controlPlane, err error) {
	cfg, err := config.Load(role, file, cmd.Flags())
	if err != nil {
		return nil, err
	}
	cp := &controlPlane{cfg: cfg}
	defer func() {
		if err != nil {
			cp.Close()
		}
	}()
	log, err := telemetry.NewLogger(os.Stderr, cfg.Log.Format, cfg.Log.Level)
	if err != nil {
		return nil, err
	}
	cp.log = log.With("role", string(role))
	if cp.telemetry, err = telemetry.New(cmd.Context(), telemetry.Options{
		Service: "coffer-" + string(role), OTLPEndpoint: cfg.Tracing.OTLPEndpoint,
	}); err != nil {
		return nil, err
	}
	if cp.store, err = catalog.Open(cmd.Context(), cfg.Catalog.URL); err != nil {
		return nil, err
	}
	if cp.temporal, err = dialTemporal(cfg, cp.telemetry, cp.log); err != nil {
		return nil, err
	}
	if addr := metricsListen(cfg); addr != "" {
		stop, err := cp.telemetry.ServeMetrics(addr, cp.log)
		if err != nil {
			return nil, err
		}
		cp.stop = append(cp.stop, stop)
	}
	return cp, nil
}

// Close stops serving metrics, disconnects from Temporal and the catalog, and sends the
// spans still buffered.
func (cp *controlPlane) Close() {
	for _, stop := range cp.stop {
		stop()
	}
	if cp.temporal != nil {
		cp.temporal.Close()
	}
	if cp.store != nil {
		cp.store.Close()
	}
	if cp.telemetry != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := cp.telemetry.Shutdown(ctx); err != nil {
			cp.log.Warn("could not send the last spans", "error", err)
		}
	}
}
