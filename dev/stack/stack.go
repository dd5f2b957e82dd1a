// Package stack starts all of Coffer on one machine, every part real: an embedded Temporal
// server with its Web UI, the catalog's PostgreSQL cluster, the devcloud (whose servers run
// `coffer guestagent`), the guest gateway (the guests' only way in), the API and the worker. coffer-dev runs it for people; end-to-end
// tests run it on free ports in a temporary folder.
package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/coffer-dbaas/coffer/activities"
	"github.com/coffer-dbaas/coffer/api"
	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/codec"
	"github.com/coffer-dbaas/coffer/config"
	"github.com/coffer-dbaas/coffer/dev/devcloud"
	"github.com/coffer-dbaas/coffer/dev/devtemporal"
	"github.com/coffer-dbaas/coffer/pgcluster"
	"github.com/coffer-dbaas/coffer/telemetry"
	"github.com/coffer-dbaas/coffer/workflows"
)

// Options say where the stack keeps its state and listens. Zero ports take Coffer's usual
// ones (Temporal 7233, Web UI 8233, devcloud 5000, API 8779, catalog 5433, guest gateway
// 7243).
type Options struct {
	DataDir string
	Host    string
	// CofferBinary is the `coffer` executable the devcloud boots as each server's guest agent.
	CofferBinary string
	TemporalPort int
	UIPort       int // -1 runs no Web UI
	CloudPort    int
	APIPort      int
	CatalogPort  int
	GatewayPort  int
	// CodecPort serves the Web UI and the API's codec server (/codec) over TLS on one
	// origin, since the UI passes credentials to an https:// codec endpoint only; -1 serves
	// none. It runs with the Web UI only.
	CodecPort int
	// NetworkCIDR is the range instances get their addresses from (inside 127.0.0.0/8).
	// Empty lets the devcloud pick a /16 that no other stack on the machine uses, and keep it
	// for DataDir (devcloud.NetworkConfig.CIDR).
	NetworkCIDR string
	// Hypervisor is the devcloud's hypervisor.kind: empty or "process" (each guest agent a
	// local process), or "qemu" (each server a VM booted from its image's file in
	// GuestImages, which the guests
	// reach the guest gateway and Swift from through qemu's user-mode network: Host must
	// then be a loopback address, which the VM sees as 10.0.2.2).
	Hypervisor string
	// QemuAccel is the qemu hypervisor's accelerator (devcloud hypervisor.qemu.accel:
	// "auto", "kvm" or "tcg"); empty is the devcloud's default, auto.
	QemuAccel string
	// SecurityGroups makes the process hypervisor enforce the servers' security groups
	// (devcloud hypervisor.security_groups): a source the rules do not admit is refused.
	SecurityGroups bool
	// GuestImages maps each image name, a datastore version's image tag
	// (coffer-postgresql-15, coffer-mariadb-10.11, coffer-redis-7), to the qcow2 the qemu
	// hypervisor boots that version's servers from: GuestImagesIn(".data/image") after
	// `go tool task image`. A server whose image has no file goes to ERROR.
	GuestImages map[string]string
	// Guest bounds how long guests may take (zero: the config defaults).
	GuestStartTimeout time.Duration
	// HealthInterval, HeartbeatExpiry and ParkTimeout set guest.health_interval,
	// guest.heartbeat_expiry and operations.park_timeout (zero: the config defaults), so that
	// tests see health changes and parked steps time out in seconds.
	HealthInterval  time.Duration
	HeartbeatExpiry time.Duration
	ParkTimeout     time.Duration
	// WorkerProcess runs the worker as a `coffer worker` process of CofferBinary, and
	// APIProcess the API as a `coffer api` process, instead of inside this one, so that a
	// test can kill them (KillWorker, KillAPI) and start them again (StartWorker, StartAPI).
	// Their output goes to worker.log and api.log in DataDir.
	WorkerProcess bool
	APIProcess    bool
	Log           *slog.Logger
	// OTLPEndpoint is the OTLP/gRPC collector the API, the worker and the guests send their
	// spans to (tracing.otlp_endpoint and tracing.guest_otlp_endpoint); empty, none.
	OTLPEndpoint string
	// APIMetricsPort and WorkerMetricsPort serve the API's and the worker's /metrics on Host
	// (metrics.api_listen, metrics.worker_listen); 0 serves none. Roles inside this
	// process share one registry, so each of their ports serves the metrics of both.
	APIMetricsPort    int
	WorkerMetricsPort int
	// TemporalLog writes the Temporal server's own error log to standard error.
	TemporalLog bool
}

// qemuHostAddress is the host's loopback as a VM on qemu's user-mode network sees it.
const qemuHostAddress = "10.0.2.2"

// Stack is a running Coffer.
type Stack struct {
	Temporal *devtemporal.Server
	Cloud    *devcloud.Cloud
	Catalog  *catalog.Store
	Client   client.Client
	// Config is the configuration the API and the worker run with.
	Config config.Config
	// APIURL is the Coffer API's base URL (the catalog's "database" service without /v1.0).
	APIURL string
	// GatewayHostPort is where the guest gateway listens (guests may reach it by another
	// address: Config.GuestGatewayHostPort).
	GatewayHostPort string
	// CodecURL is the codec endpoint the Web UI uses (https, the API's /codec behind the
	// stack's own certificate); "" without a Web UI.
	CodecURL string
	// UISecureURL is the Web UI on the same https origin as CodecURL (codec.go); "" without
	// a Web UI.
	UISecureURL string

	catalogCluster *pgcluster.Cluster
	worker         worker.Worker
	// stopSweep stops the worker's sweep of silent guests and waits for it.
	stopSweep   func()
	roles       roles
	servers     []*http.Server
	telemetry   *telemetry.Telemetry
	stopMetrics []func()
	log         *slog.Logger
}

func (o *Options) defaults() {
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	for _, p := range []struct {
		port *int
		def  int
	}{{&o.TemporalPort, 7233}, {&o.UIPort, 8233}, {&o.CloudPort, 5000}, {&o.APIPort, 8779}, {&o.CatalogPort, 5433}, {&o.GatewayPort, 7243}, {&o.CodecPort, 8780}} {
		if *p.port == 0 {
			*p.port = p.def
		}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

// Start starts every part and returns once the API answers. On an error it stops what it
// started.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	opts.defaults()
	s := &Stack{log: opts.Log}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	hostPort := func(port int) string { return net.JoinHostPort(opts.Host, strconv.Itoa(port)) }

	uiPort := opts.UIPort
	if uiPort < 0 {
		uiPort = 0
	}
	// The Web UI shows payloads through the API's codec server, over TLS (codec.go).
	codecOrigin := ""
	if uiPort > 0 && opts.CodecPort > 0 {
		s.UISecureURL = "https://" + hostPort(opts.CodecPort)
		s.CodecURL = s.UISecureURL + api.CodecPath
		codecOrigin = "http://" + hostPort(uiPort) + "," + s.UISecureURL
	}
	s.Temporal, err = devtemporal.Start(devtemporal.Options{
		DataDir: filepath.Join(opts.DataDir, "temporal"), Host: opts.Host,
		FrontendPort: opts.TemporalPort, UIPort: uiPort, SearchAttributes: workflows.SearchAttributeNames,
		CodecEndpoint: s.CodecURL, CodecPassAccessToken: s.CodecURL != "", CodecIncludeCredentials: s.CodecURL != "",
		LogErrors: opts.TemporalLog,
	})
	if err != nil {
		return nil, err
	}

	var catalogURL string
	s.catalogCluster, catalogURL, err = catalogCluster(ctx, filepath.Join(opts.DataDir, "catalog"), opts.Host, opts.CatalogPort)
	if err != nil {
		return nil, err
	}
	if err := catalog.Migrate(ctx, catalogURL); err != nil {
		return nil, err
	}
	if s.Catalog, err = catalog.Open(ctx, catalogURL, config.Defaults().Catalog.MaxConns); err != nil {
		return nil, err
	}

	codecKey, err := secretFile(filepath.Join(opts.DataDir, "codec.key"))
	if err != nil {
		return nil, err
	}
	backupKey, err := secretFile(filepath.Join(opts.DataDir, "backup.key"))
	if err != nil {
		return nil, err
	}
	tempURLKey, err := secretFile(filepath.Join(opts.DataDir, "temp_url.key"))
	if err != nil {
		return nil, err
	}
	s.APIURL = "http://" + hostPort(opts.APIPort)

	cloudCfg := devcloud.DefaultConfig()
	cloudCfg.Listen = hostPort(opts.CloudPort)
	cloudCfg.DataDir = filepath.Join(opts.DataDir, "devcloud")
	cloudCfg.DatabaseURL = s.APIURL
	cloudCfg.Network.CIDR = opts.NetworkCIDR
	cloudCfg.Hypervisor.Command = []string{opts.CofferBinary, "guestagent"}
	cloudCfg.Hypervisor.SecurityGroups = opts.SecurityGroups
	// Images an operator rolls out: a newer build of the PostgreSQL 15 guest (for a second
	// datastore version, or an admin's rebuild), and a broken one that never boots.
	cloudCfg.Images = append(cloudCfg.Images,
		devcloud.Image{Name: "coffer-postgresql-15-next", Tags: []string{"coffer", "coffer-postgresql-15-next"}},
		devcloud.Image{Name: "coffer-broken", Tags: []string{"coffer-broken"}, Properties: map[string]string{"devcloud_boot": devcloud.ImageBootFail}},
	)
	if opts.Hypervisor == devcloud.HypervisorQemu {
		cloudCfg.Hypervisor.Kind = devcloud.HypervisorQemu
		cloudCfg.Hypervisor.Qemu.Images = opts.GuestImages
		if opts.QemuAccel != "" {
			cloudCfg.Hypervisor.Qemu.Accel = opts.QemuAccel
		}
		// A VM shuts down in seconds under KVM and in tens of them under TCG.
		cloudCfg.Hypervisor.StopTimeout = time.Minute
	}
	if s.Cloud, err = devcloud.New(cloudCfg, opts.Log.With("role", "devcloud")); err != nil {
		return nil, err
	}
	if err := s.serve(cloudCfg.Listen, s.Cloud.Handler()); err != nil {
		return nil, err
	}

	cfg := config.Defaults()
	cfg.Temporal.HostPort = s.Temporal.FrontendHostPort()
	cfg.Catalog.URL = catalogURL
	cfg.API.Listen = hostPort(opts.APIPort)
	cfg.OpenStack.AuthURL = s.Cloud.IdentityURL()
	cfg.OpenStack.Username, cfg.OpenStack.Password, cfg.OpenStack.ProjectName = "coffer", "coffer", "service"
	cfg.CodecKey = codecKey
	cfg.API.CodecOrigins = codecOrigin
	cfg.Backup.Key = backupKey
	cfg.Backup.TempURLKey = tempURLKey
	cfg.Gateway.Listen = hostPort(opts.GatewayPort)
	s.GatewayHostPort = cfg.Gateway.Listen
	if opts.Hypervisor == devcloud.HypervisorQemu {
		// The VM reaches the host's loopback at slirp's gateway address.
		cfg.Guest.GatewayHostPort = net.JoinHostPort(qemuHostAddress, strconv.Itoa(opts.GatewayPort))
		cfg.Guest.SwiftHostPort = net.JoinHostPort(qemuHostAddress, strconv.Itoa(opts.CloudPort))
	}
	if opts.GuestStartTimeout > 0 {
		cfg.Guest.StartTimeout = opts.GuestStartTimeout
	}
	if opts.HealthInterval > 0 {
		cfg.Guest.HealthInterval = opts.HealthInterval
	}
	if opts.HeartbeatExpiry > 0 {
		cfg.Guest.HeartbeatExpiry = opts.HeartbeatExpiry
	}
	if opts.ParkTimeout > 0 {
		cfg.Operations.ParkTimeout = opts.ParkTimeout
	}
	cfg.Tracing.OTLPEndpoint, cfg.Tracing.GuestOTLPEndpoint = opts.OTLPEndpoint, opts.OTLPEndpoint
	if opts.APIMetricsPort > 0 {
		cfg.Metrics.APIListen = hostPort(opts.APIMetricsPort)
	}
	if opts.WorkerMetricsPort > 0 {
		cfg.Metrics.WorkerListen = hostPort(opts.WorkerMetricsPort)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s.Config = cfg

	key, _ := cfg.CodecKeyBytes()
	dc, err := codec.DataConverter(key)
	if err != nil {
		return nil, err
	}
	pcodec, err := codec.New(key)
	if err != nil {
		return nil, err
	}
	// The roles that run inside this process share one telemetry.
	if s.telemetry, err = telemetry.New(ctx, telemetry.Options{Service: "coffer-dev", OTLPEndpoint: opts.OTLPEndpoint}); err != nil {
		return nil, err
	}
	copts := client.Options{
		HostPort: cfg.Temporal.HostPort, Namespace: cfg.Temporal.Namespace, DataConverter: dc, FailureConverter: codec.FailureConverter(dc),
		Logger: sdklog.NewStructuredLogger(opts.Log.With("component", "temporal")),
	}
	if err := s.telemetry.ClientOptions(&copts); err != nil {
		return nil, err
	}
	s.Client, err = client.Dial(copts)
	if err != nil {
		return nil, fmt.Errorf("connect to temporal: %w", err)
	}

	if s.CodecURL != "" {
		if err := s.codecFront(hostPort(opts.CodecPort), s.APIURL, s.Temporal.UIURL(), opts.DataDir); err != nil {
			return nil, err
		}
	}

	s.roles = roles{binary: opts.CofferBinary, dir: opts.DataDir, env: cfg.Env(), apiURL: s.APIURL, procs: map[string]*roleProcess{}}
	// Guests reach the control plane through the gateway only, so it runs before any guest
	// could boot, always as a process of the binary, as in production.
	if err := s.StartGateway(); err != nil {
		return nil, err
	}
	if opts.WorkerProcess {
		if err := s.StartWorker(); err != nil {
			return nil, err
		}
	} else {
		if err := s.startWorker(ctx, cfg); err != nil {
			return nil, err
		}
		if err := s.serveMetrics(cfg.Metrics.WorkerListen); err != nil {
			return nil, err
		}
	}
	if opts.APIProcess {
		if err := s.StartAPI(); err != nil {
			return nil, err
		}
		return s, nil
	}

	pc, err := api.ServiceProvider(ctx, cfg.OpenStack)
	if err != nil {
		return nil, err
	}
	wf := api.TemporalWorkflows{Starter: workflows.Starter{Client: s.Client}}
	handler, err := api.New(api.Options{
		Config: cfg, Catalog: s.Catalog, Workflows: wf, Guest: wf, OpenStack: pc, Codec: pcodec,
		Log: opts.Log.With("role", "api"),
	})
	if err != nil {
		return nil, err
	}
	if err := s.telemetry.WatchInstances(s.Catalog); err != nil {
		return nil, err
	}
	instrumented, err := s.telemetry.InstrumentHTTP(handler, handler.Route)
	if err != nil {
		return nil, err
	}
	if err := s.serveMetrics(cfg.Metrics.APIListen); err != nil {
		return nil, err
	}
	if err := s.serve(cfg.API.Listen, instrumented); err != nil {
		return nil, err
	}
	return s, nil
}

// startWorker runs the worker inside this process.
func (s *Stack) startWorker(ctx context.Context, cfg config.Config) error {
	acts, err := activities.NewActivities(ctx, cfg, s.Catalog)
	if err != nil {
		return err
	}
	s.worker = worker.New(s.Client, workflows.ControlTaskQueue, workflows.WorkerOptions())
	workflows.Register(s.worker)
	s.worker.RegisterActivity(acts)
	if err := s.worker.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	sweeper, err := workflows.NewSilenceSweeper(s.Catalog, s.Client, cfg.Guest.HeartbeatExpiry, cfg.Guest.HealthInterval, s.log)
	if err != nil {
		return err
	}
	sweepCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	swept := make(chan struct{})
	go func() {
		defer close(swept)
		sweeper.Run(sweepCtx)
	}()
	s.stopSweep = func() { cancel(); <-swept }
	return nil
}

// serveMetrics serves the metrics of the roles inside this process on addr, when set.
func (s *Stack) serveMetrics(addr string) error {
	if addr == "" {
		return nil
	}
	stop, err := s.telemetry.ServeMetrics(addr, s.log)
	if err != nil {
		return err
	}
	s.stopMetrics = append(s.stopMetrics, stop)
	return nil
}

// serve listens on addr and serves handler in the background until Stop.
func (s *Stack) serve(addr string, handler http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	s.servers = append(s.servers, srv)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("serve", "addr", addr, "error", err)
		}
	}()
	return nil
}

// Stop stops every part, the instances' servers included (they boot again at the next
// Start), and leaves the state on disk.
func (s *Stack) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := len(s.servers) - 1; i >= 0; i-- {
		_ = s.servers[i].Shutdown(ctx)
	}
	if s.stopSweep != nil {
		s.stopSweep()
	}
	if s.worker != nil {
		s.worker.Stop()
	}
	s.roles.stopAll()
	for _, stop := range s.stopMetrics {
		stop()
	}
	if s.Client != nil {
		s.Client.Close()
	}
	if s.telemetry != nil {
		_ = s.telemetry.Shutdown(ctx)
	}
	if s.Cloud != nil {
		_ = s.Cloud.Close()
	}
	if s.Catalog != nil {
		s.Catalog.Close()
	}
	if s.catalogCluster != nil {
		if err := s.catalogCluster.Stop(ctx); err != nil {
			s.log.Error("stop the catalog cluster", "error", err)
		}
	}
	if s.Temporal != nil {
		if err := s.Temporal.Stop(); err != nil {
			s.log.Error("stop temporal", "error", err)
		}
	}
}
