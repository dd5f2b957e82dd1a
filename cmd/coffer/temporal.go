package main

import (
	"context"
	"fmt"
	"log/slog"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

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
