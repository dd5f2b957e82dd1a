package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"time"

	"github.com/spf13/cobra"

	"github.com/coffer-dbaas/coffer/api"
	"github.com/coffer-dbaas/coffer/codec"
	"github.com/coffer-dbaas/coffer/config"
	"github.com/coffer-dbaas/coffer/workflows"
)

func apiCommand() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "api",
		Short: "Serve the Trove v1.0 REST API (OpenAPI 3.1 at /openapi.json, docs at /docs)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cp, err := openControlPlane(cmd, config.RoleAPI, file, func(c config.Config) string { return c.Metrics.APIListen })
			if err != nil {
				return err
			}
			defer cp.Close()
			stopProfile, err := startCPUProfile(os.Getenv(cpuProfileEnv))
			if err != nil {
				return fmt.Errorf("api: %w", err)
			}
			defer stopProfile()
			gcPercent()
			ctx, cfg, store, c, log := cmd.Context(), cp.cfg, cp.store, cp.temporal, cp.log
			if err := cp.telemetry.WatchInstances(store); err != nil {
				return err
			}
			pc, err := api.ServiceProvider(ctx, cfg.OpenStack)
			if err != nil {
				return fmt.Errorf("api: %w", err)
			}
			key, err := cfg.CodecKeyBytes()
			if err != nil {
				return fmt.Errorf("api: config key codec_key: %w", err)
			}
			pcodec, err := codec.New(key)
			if err != nil {
				return fmt.Errorf("api: %w", err)
			}
			wf := api.TemporalWorkflows{Starter: workflows.Starter{Client: c}}
			handler, err := api.New(api.Options{
				Config: cfg, Catalog: store, Workflows: wf, Guest: wf, OpenStack: pc, Codec: pcodec, Log: log,
			})
			if err != nil {
				return err
			}
			instrumented, err := cp.telemetry.InstrumentHTTP(handler, handler.Route)
			if err != nil {
				return err
			}
			return serveHTTP(ctx, cfg.API.Listen, instrumented, log)
		},
	}
	cmd.Flags().StringVar(&file, "config", "", "YAML configuration file")
	cmd.Flags().String("api-listen", "", "listen address, host:port")
	cmd.Flags().String("metrics-api-listen", "", "Prometheus /metrics address, host:port (default: none)")
	return cmd
}

// serveHTTP serves handler on addr until ctx ends, then drains requests for a few seconds.
func serveHTTP(ctx context.Context, addr string, handler http.Handler, log *slog.Logger) error {
	srv := &http.Server{Addr: addr, Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("api listening", "url", "http://"+addr)
	select {
	case err := <-errc:
		return fmt.Errorf("api: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// cpuProfileEnv names a file the API writes a CPU profile of its whole run into (until it
// stops on SIGINT or SIGTERM), for `go tool pprof`: how the benchmarks look inside the API
// process. Unset, nothing is profiled.
const cpuProfileEnv = "COFFER_API_CPUPROFILE"

// startCPUProfile profiles the process into path until the returned stop is called; an empty
// path profiles nothing.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cpuProfileEnv, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", cpuProfileEnv, err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// apiGCPercent is the API's GOGC unless the environment sets one: each request allocates
// a few tens of KB (the page's rows, views and JSON) while the live heap stays small (a
// few MB: the pools, caches and routes), so Go's default of 100 collects every few hundred
// requests and took a tenth of the API's CPU under load (issue 17). At 400 the heap grows
// to about five times the live one before a collection, still some tens of MB.
const apiGCPercent = 400

// gcPercent sets apiGCPercent unless GOGC is set: an operator's GOGC (or GOMEMLIMIT with
// GOGC=off) wins.
func gcPercent() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(apiGCPercent)
	}
}
