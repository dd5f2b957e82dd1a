package guestagent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/coffer-dbaas/coffer/codec"
	"github.com/coffer-dbaas/coffer/configdrive"
	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestauth"
	"github.com/coffer-dbaas/coffer/telemetry"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
)

// Timeouts of the agent's own engine starts and stops, which no activity bounds.
const (
	engineStartTimeout = 2 * time.Minute
	engineStopTimeout  = 2 * time.Minute
)

// Backoff between attempts to reach Temporal (through the gateway) at start.
const (
	dialFirstBackoff = time.Second
	dialMaxBackoff   = 30 * time.Second
)

// Agent is the guest agent of one instance. The drivers it knows are given by the caller
// (cmd/coffer), since each engine's package depends on this one:
//
//	agent := guestagent.Agent{Drivers: map[string]guestagent.NewDriver{"postgresql": postgres.New}}
//	err := agent.Run(ctx, &machine.Machine{}, log)
type Agent struct {
	// Drivers maps a datastore name ("postgresql") to its driver's constructor; the
	// instance's guest.Config.Datastore picks one.
	Drivers map[string]NewDriver
	// StateDir is where the agent keeps its credential (credential.json, readable by its
	// OS user only); empty is DefaultStateDir. It must outlive reboots and resizes.
	StateDir string
}

// Run is the agent's life, as long as ctx lasts (the server's life: the hypervisor's
// SIGTERM cancels it):
//
//  1. reads its guest.Config from the server's user_data and picks the datastore's driver;
//     learns the server's address and size, and mounts its data volume (see Server);
//  2. starts the engine if an earlier Prepare made it (a rebooted or resized server brings
//     its database back before anyone asks); on a new instance, begins making the engine's
//     data folder in a staging folder that Prepare adopts (AheadMaker), alongside steps 3
//     and 4;
//  3. takes the instance's identity from its state folder, or else enrolls with the guest
//     gateway, spending user_data's bootstrap secret for a credential and the instance's
//     payload key, which it keeps there (see ensureIdentity);
//  4. dials the gateway as its Temporal frontend with that credential, again and again with
//     backoff until it answers (the server may boot before the gateway is reachable), and
//     serves the contract's activities on guest.TaskQueue(instance ID), through the gateway,
//     until ctx ends; payloads are encrypted with the instance's key, and the agent never
//     holds the control plane's;
//     meanwhile it reports the engine's health to the gateway every interval the gateway
//     names (ReportHealth), which no workflow asks for;
//  5. then stops the worker and the engine cleanly.
//
// A ctx that ends is a normal shutdown: Run returns nil. It returns an error when the
// configuration is wrong or the worker cannot run.
func (a Agent) Run(ctx context.Context, server Server, log *slog.Logger) error {
	md, err := server.Metadata(ctx)
	if err != nil {
		return fmt.Errorf("guest agent: %w", err)
	}
	cfg, err := ParseConfig(md.UserData)
	if err != nil {
		return err
	}
	log = log.With("instance_id", cfg.InstanceID, "server_id", md.MetaData.UUID, "datastore", cfg.Datastore)
	newDriver, ok := a.Drivers[cfg.Datastore]
	if !ok {
		return fmt.Errorf("guest agent: datastore %q is not supported (this agent runs %s)",
			cfg.Datastore, strings.Join(slices.Sorted(maps.Keys(a.Drivers)), ", "))
	}
	creds, tlsCfg, err := gatewayCredentials(cfg)
	if err != nil {
		return err
	}
	host, err := learnHost(ctx, server, md, cfg)
	if err != nil {
		return fmt.Errorf("guest agent: %w", err)
	}
	log.Info("guest agent's server", "address", host.Address, "ram_mb", host.RAMMB, "cpus", host.CPUs, "volume", host.Volume.Path())
	driver, err := newDriver(cfg, host)
	if err != nil {
		return fmt.Errorf("guest agent: %w", err)
	}

	defer stopEngine(driver, log)
	startCtx, cancel := context.WithTimeout(ctx, engineStartTimeout)
	err = driver.Start(startCtx)
	cancel()
	if err != nil {
		// Not fatal: Health reports it, and Prepare starts the engine again.
		log.Error("could not start the engine at boot", "error", err)
	} else {
		r := driver.Health(ctx)
		log.Info("engine at boot", "status", r.Status, "detail", r.Detail)
	}
	// A new instance's data folder is made now, while the agent enrols and dials and the
	// control plane ends its steps, rather than after Prepare arrives (AheadMaker).
	if m, ok := driver.(AheadMaker); ok {
		aheadCtx, stopAhead := context.WithCancel(ctx)
		madeAhead := make(chan struct{})
		go func() {
			defer close(madeAhead)
			began := time.Now()
			made, err := m.MakeAhead(aheadCtx)
			switch {
			case err != nil && aheadCtx.Err() == nil:
				// Not fatal: Prepare makes the data folder itself.
				log.Warn("could not make the data folder ahead of Prepare", "error", err)
			case made:
				log.Info("made the data folder ahead of Prepare", "took", time.Since(began).Round(time.Millisecond))
			}
		}()
		defer func() {
			stopAhead()
			<-madeAhead
		}()
	}

	// The agent's spans continue the trace of the operation that asked for each activity:
	// the SDK carries the trace context in the task's headers.
	tel, err := telemetry.New(ctx, telemetry.Options{Service: "coffer-guestagent", OTLPEndpoint: cfg.OTLPEndpoint})
	if err != nil {
		return fmt.Errorf("guest agent: %w", err)
	}
	defer shutdownTelemetry(tel, log)
	tracing, err := tel.Interceptor()
	if err != nil {
		return fmt.Errorf("guest agent: %w", err)
	}
	stateDir := a.StateDir
	if stateDir == "" {
		stateDir = DefaultStateDir
	}
	id, err := ensureIdentity(ctx, stateDir, cfg, creds, log)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	// Health goes to the gateway on the agent's own schedule, whether or not Temporal
	// is reachable: no workflow asks for it.
	rep, closeReporter, err := newReporter(cfg.GatewayHostPort, creds, tlsCfg != nil, id, driver, log)
	if err != nil {
		return fmt.Errorf("guest agent: gateway %s: %w", cfg.GatewayHostPort, err)
	}
	defer closeReporter()
	reportCtx, stopReporting := context.WithCancel(ctx)
	reported := make(chan struct{})
	go func() {
		rep.run(reportCtx)
		close(reported)
	}()
	defer func() {
		stopReporting()
		<-reported
	}()

	dc, err := codec.DataConverter(id.Key)
	if err != nil {
		return fmt.Errorf("guest agent: %w", err)
	}
	c, err := dial(ctx, client.Options{
		HostPort:          cfg.GatewayHostPort,
		Namespace:         cfg.TemporalNamespace,
		Credentials:       client.NewAPIKeyStaticCredentials(guestauth.APIKey(cfg.InstanceID, id.Credential)),
		ConnectionOptions: client.ConnectionOptions{TLS: tlsCfg, TLSDisabled: tlsCfg == nil},
		DataConverter:     dc,
		FailureConverter:  codec.FailureConverter(dc),
		Logger:            sdklog.NewStructuredLogger(log),
		Interceptors:      []interceptor.ClientInterceptor{tracing},
	}, log)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer c.Close()

	fatal := make(chan error, 1)
	w := worker.New(c, guest.TaskQueue(cfg.InstanceID), worker.Options{
		// A guest serves activities only; the gateway refuses workflow task polls.
		DisableWorkflowWorker: true,
		// One long poll per guest: an idle guest's poll costs Temporal no action, but each
		// one held open counts against the frontend's concurrent long polls per namespace
		// (frontend.namespaceCount), and a guest's activities are few and short.
		MaxConcurrentActivityTaskPollers: 1,
		OnFatalError: func(err error) {
			select {
			case fatal <- err:
			default:
			}
		},
	})
	(&activities{driver: driver, datastore: cfg.Datastore, log: log}).register(w)
	if err := w.Start(); err != nil {
		return fmt.Errorf("guest agent: start worker on %s: %w", guest.TaskQueue(cfg.InstanceID), err)
	}
	log.Info("guest agent serving", "task_queue", guest.TaskQueue(cfg.InstanceID), "gateway", cfg.GatewayHostPort)
	select {
	case <-ctx.Done():
		log.Info("guest agent shutting down")
		w.Stop()
		return nil
	case err := <-fatal:
		w.Stop()
		return fmt.Errorf("guest agent: worker failed: %w", err)
	}
}

// learnHost learns what the engine's driver needs of the server: its address, its size, and
// its data volume, which cfg names (or, for a server made before it did, the first disk that
// meta_data.json lists).
func learnHost(ctx context.Context, server Server, md configdrive.Drive, cfg guest.Config) (Host, error) {
	address, err := server.Address(md)
	if err != nil {
		return Host{}, err
	}
	ramMB, cpus, err := server.Size()
	if err != nil {
		return Host{}, err
	}
	volumeID := cfg.VolumeID
	if volumeID == "" {
		for _, d := range md.MetaData.Devices {
			if d.Type == "disk" && d.Serial != "" {
				volumeID = d.Serial
				break
			}
		}
	}
	volume, err := server.DataVolume(ctx, volumeID)
	if err != nil {
		return Host{}, err
	}
	return Host{Address: address, RAMMB: ramMB, CPUs: cpus, Volume: volume}, nil
}

// ParseConfig reads the agent's guest.Config from user_data and checks that it has what Run needs.
func ParseConfig(userData []byte) (guest.Config, error) {
	var cfg guest.Config
	if len(userData) == 0 {
		return cfg, errors.New("guest agent: the server has no user_data: this server was not made by coffer")
	}
	if err := json.Unmarshal(userData, &cfg); err != nil {
		return cfg, fmt.Errorf("guest agent: user_data is not the agent's JSON configuration: %w", err)
	}
	var missing []string
	for name, v := range map[string]string{"instance_id": cfg.InstanceID, "datastore": cfg.Datastore,
		"gateway_host_port": cfg.GatewayHostPort, "bootstrap": cfg.Bootstrap} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return cfg, fmt.Errorf("guest agent: user_data lacks %s", strings.Join(missing, ", "))
	}
	return cfg, nil
}

// dial connects to Temporal through the gateway, retrying with exponential backoff until it answers or ctx ends.
func dial(ctx context.Context, opts client.Options, log *slog.Logger) (client.Client, error) {
	backoff := dialFirstBackoff
	for {
		c, err := client.DialContext(ctx, opts)
		if err == nil {
			return c, nil
		}
		log.Warn("temporal is not reachable through the guest gateway yet", "gateway", opts.HostPort, "error", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("guest agent: dial the guest gateway %s: %w", opts.HostPort, ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, dialMaxBackoff)
	}
}

// shutdownTelemetry sends the spans still buffered as the agent ends.
func shutdownTelemetry(tel *telemetry.Telemetry, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tel.Shutdown(ctx); err != nil {
		log.Warn("could not send the last spans", "error", err)
	}
}

// stopEngine stops the engine as the agent ends; the server is going down, so ctx has ended
// already and the stop gets time of its own.
func stopEngine(driver Driver, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), engineStopTimeout)
	defer cancel()
	if err := driver.Stop(ctx); err != nil {
		log.Error("could not stop the engine", "error", err)
		return
	}
	log.Info("engine stopped")
}
