package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"go.temporal.io/api/proxy"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/guestauth"
)

// Options are what a Gateway needs; New refuses one that lacks any but TLS and Log.
type Options struct {
	// Temporal is the WorkflowService of a client dialed with the control plane's own
	// options and with DialOptions(MasterKey) on its connection.
	Temporal workflowservice.WorkflowServiceClient
	// Catalog holds the guests' identities.
	Catalog *catalog.Store
	// MasterKey is the control plane's 32-byte codec key.
	MasterKey []byte
	// Namespace is Coffer's Temporal namespace: the only one a guest may name.
	Namespace string
	// CredentialCacheTTL is how long a checked identity is trusted before the catalog is
	// asked again (and so how long a revoked credential may still work).
	CredentialCacheTTL time.Duration
	// HealthInterval is how often guests report their health (the answer to each report
	// says it); zero is DefaultHealthInterval.
	HealthInterval time.Duration
	// HealthFlushInterval is how often the reports received are written to the catalog,
	// in one statement; zero is DefaultHealthFlushInterval.
	HealthFlushInterval time.Duration
	// TLS, when set, is the gateway's server TLS; nil serves plain gRPC (dev only).
	TLS *tls.Config
	// Log gets every refusal; nil logs nowhere.
	Log *slog.Logger
}

// Gateway is the guest gateway; Serve runs it.
type Gateway struct {
	opts       Options
	tokens     *tokenSealer
	identities *identityCache
	log        *slog.Logger
	proxy      workflowservice.WorkflowServiceServer
	health     *healthBatch
}

// New checks opts and builds a Gateway.
func New(opts Options) (*Gateway, error) {
	var errs []error
	if opts.Temporal == nil {
		errs = append(errs, errors.New("no Temporal WorkflowService client"))
	}
	if opts.Catalog == nil {
		errs = append(errs, errors.New("no catalog"))
	}
	if len(opts.MasterKey) != 32 {
		errs = append(errs, fmt.Errorf("master key is %d bytes, want 32", len(opts.MasterKey)))
	}
	if opts.Namespace == "" {
		errs = append(errs, errors.New("no Temporal namespace"))
	}
	if opts.CredentialCacheTTL < 0 {
		errs = append(errs, fmt.Errorf("credential cache TTL %s is negative", opts.CredentialCacheTTL))
	}
	if opts.HealthInterval < 0 || opts.HealthFlushInterval < 0 {
		errs = append(errs, errors.New("negative health interval or flush interval"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("guest gateway: %w", err)
	}
	tokens, err := newTokenSealer(opts.MasterKey)
	if err != nil {
		return nil, fmt.Errorf("guest gateway: %w", err)
	}
	// DisableHeaderForwarding: the guest's authorization (and any other header it sends)
	// must never reach Temporal; the upstream client adds the control plane's own.
	p, err := proxy.NewWorkflowServiceProxyServer(proxy.WorkflowServiceProxyOptions{
		Client: opts.Temporal, DisableHeaderForwarding: true,
	})
	if err != nil {
		return nil, fmt.Errorf("guest gateway: %w", err)
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.HealthInterval == 0 {
		opts.HealthInterval = DefaultHealthInterval
	}
	if opts.HealthFlushInterval == 0 {
		opts.HealthFlushInterval = DefaultHealthFlushInterval
	}
	return &Gateway{
		opts:       opts,
		tokens:     tokens,
		identities: newIdentityCache(opts.Catalog, opts.CredentialCacheTTL),
		log:        log,
		proxy:      p,
		health:     newHealthBatch(opts.Catalog, opts.HealthFlushInterval, log),
	}, nil
}

// The SDK pings every 30 s by default (client.ConnectionOptions.KeepAliveTime), also
// with no call in flight: the gateway must accept that rather than close the connection.
var enforcement = keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}

// drainTimeout bounds how long Serve waits for calls to finish when it stops; a guest's
// long poll is then cut, and its SDK polls again elsewhere.
const drainTimeout = 5 * time.Second

// NewServer is the gateway's gRPC server: Enroll, ReportHealth, the WorkflowService proxy behind the
// guest's authorization, and the health service (the SDK checks it when it dials).
func (g *Gateway) NewServer() *grpc.Server {
	opts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(g.authorize),
		grpc.KeepaliveEnforcementPolicy(enforcement),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: time.Minute, Timeout: 20 * time.Second}),
		// A guest has no streaming call to make.
		grpc.StreamInterceptor(func(any, grpc.ServerStream, *grpc.StreamServerInfo, grpc.StreamHandler) error {
			return errPermissionDenied
		}),
	}
	if g.opts.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(g.opts.TLS)))
	}
	s := grpc.NewServer(opts...)
	workflowservice.RegisterWorkflowServiceServer(s, g.proxy)
	guestauth.RegisterGateway(s, g.enroll, g.reportHealth)
	hs := health.NewServer() // SERVING for ""
	hs.SetServingStatus(workflowservice.WorkflowService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s, hs)
	return s
}

// Serve serves guests on lis until ctx ends, then stops: calls in flight get drainTimeout,
// and the health reports received are written to the catalog.
func (g *Gateway) Serve(ctx context.Context, lis net.Listener) error {
	s := g.NewServer()
	flushCtx, stopFlushing := context.WithCancel(context.WithoutCancel(ctx))
	flushed := make(chan struct{})
	go func() {
		g.health.run(flushCtx)
		close(flushed)
	}()
	defer func() {
		stopFlushing()
		<-flushed
	}()
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(lis) }()
	select {
	case err := <-errc:
		return fmt.Errorf("guest gateway: %w", err)
	case <-ctx.Done():
	}
	stopped := make(chan struct{})
	go func() {
		s.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(drainTimeout):
		s.Stop()
		<-stopped
	}
	return nil
}
