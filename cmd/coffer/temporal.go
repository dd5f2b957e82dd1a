package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"google.golang.org/grpc"

	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/codec"
	"github.com/coffer-dbaas/coffer/config"
	"github.com/coffer-dbaas/coffer/telemetry"
)

// temporalOptions are the client options every control-plane role (api, worker, guest
// gateway) dials Temporal with: the payload codec with the master key, and the
// authentication production needs (an API key, a client certificate, or both, over TLS).
func temporalOptions(cfg config.Config, log *slog.Logger) (client.Options, error) {
	key, err := cfg.CodecKeyBytes()
	if err != nil {
		return client.Options{}, fmt.Errorf("config key codec_key: %w", err)
	}
	dc, err := codec.DataConverter(key)
	if err != nil {
		return client.Options{}, err
	}
	opts := client.Options{
		HostPort:         cfg.Temporal.HostPort,
		Namespace:        cfg.Temporal.Namespace,
		DataConverter:    dc,
		FailureConverter: codec.FailureConverter(dc),
		Logger:           sdklog.NewStructuredLogger(log.With("component", "temporal")),
	}
	t := cfg.Temporal
	if t.APIKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(t.APIKey)
	}
	if t.APIKey == "" && t.TLSCAFile == "" && t.TLSCertFile == "" && t.TLSServerName == "" {
		return opts, nil // plain gRPC: the dev stack's Temporal on loopback
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.TLSServerName}
	if t.TLSCAFile != "" {
		pem, err := os.ReadFile(t.TLSCAFile)
		if err != nil {
			return client.Options{}, fmt.Errorf("config key temporal.tls_ca_file: %w", err)
		}
		tlsConfig.RootCAs = x509.NewCertPool()
		if !tlsConfig.RootCAs.AppendCertsFromPEM(pem) {
			return client.Options{}, fmt.Errorf("config key temporal.tls_ca_file: %s holds no PEM certificate", t.TLSCAFile)
		}
	}
	if t.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.TLSCertFile, t.TLSKeyFile)
		if err != nil {
			return client.Options{}, fmt.Errorf("config keys temporal.tls_cert_file/tls_key_file: %w", err)
		}
		tlsConfig.Certificates = []tls.Certificate{cert}
	}
	opts.ConnectionOptions.TLS = tlsConfig
	return opts, nil
}

// dialTemporal connects to Temporal with temporalOptions, the process's metrics and tracing,
// and dialOpts on the connection.
func dialTemporal(cfg config.Config, tel *telemetry.Telemetry, log *slog.Logger, dialOpts ...grpc.DialOption) (client.Client, error) {
	opts, err := temporalOptions(cfg, log)
	if err != nil {
		return nil, err
	}
	opts.ConnectionOptions.DialOptions = append(opts.ConnectionOptions.DialOptions, dialOpts...)
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

// controlPlane is what the api, the worker and the guest gateway run on: the config, the
// logger it asks for, the process's telemetry, the catalog and a Temporal client.
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
// connects to the catalog and to Temporal (with dialOpts on the connection).
func openControlPlane(cmd *cobra.Command, role config.Role, file string, metricsListen func(config.Config) string,
	dialOpts ...func(config.Config) ([]grpc.DialOption, error)) (_ *controlPlane, err error) {
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
	if cp.store, err = catalog.Open(cmd.Context(), cfg.Catalog.URL, cfg.Catalog.MaxConns); err != nil {
		return nil, err
	}
	var extra []grpc.DialOption
	for _, f := range dialOpts {
		o, err := f(cfg)
		if err != nil {
			return nil, err
		}
		extra = append(extra, o...)
	}
	if cp.temporal, err = dialTemporal(cfg, cp.telemetry, cp.log, extra...); err != nil {
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
