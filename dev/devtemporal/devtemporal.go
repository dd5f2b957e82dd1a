// Package devtemporal runs a real Temporal server (go.temporal.io/server, SQLite in a file)
// and its Web UI inside the calling process, for coffer-dev. It links the whole server, whose
// cold compile takes minutes, so only coffer-dev and integration tests import it; the coffer
// binary never does.
package devtemporal

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiserveroptions "github.com/temporalio/ui-server/v2/server/server_options"

	"github.com/coffer-dbaas/coffer/dev/freeport"
)

// Options say where the server keeps its state and listens.
type Options struct {
	// DataDir holds temporal.db; a second start finds every workflow again.
	DataDir string
	// Host is the address every port binds to.
	Host string
	// FrontendPort is the gRPC port clients and workers dial (7233 by convention).
	FrontendPort int
	// UIPort serves the Web UI; 0 runs no UI.
	UIPort int
	// CodecEndpoint, when set, is the URL of a payload codec server the Web UI uses to show
	// decrypted payloads.
	CodecEndpoint string
	// CodecPassAccessToken makes the Web UI send the operator's access token to the codec
	// server (Authorization: Bearer); the UI does so only to an https:// endpoint.
	CodecPassAccessToken bool
	// CodecIncludeCredentials makes the Web UI send the browser's cookies for the codec
	// endpoint (Coffer's sign-in cookie, /codec/login) with each call.
	CodecIncludeCredentials bool
	// Namespace is created at start when missing.
	Namespace string
	// SearchAttributes are registered (all as Keyword) on the namespace.
	SearchAttributes []string
	// LogErrors writes the server's own error log to standard error. It is noisy (every
	// startup race and shutdown logs a stack), so it is off unless asked for.
	LogErrors bool
}

// Server is a running Temporal server with its UI.
type Server struct {
	temporal temporal.Server
	ui       *uiserver.Server
	opts     Options
}

// Start starts the server and the UI and returns once the frontend accepts connections.
func Start(opts Options) (*Server, error) {
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	if err := os.MkdirAll(opts.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("temporal data folder: %w", err)
	}
	dbPath := filepath.Join(opts.DataDir, "temporal.db")
	sqlConf := &config.SQL{
		PluginName:        sqliteplugin.PluginName,
		DatabaseName:      dbPath,
		ConnectAttributes: map[string]string{"mode": "rwc", "_journal_mode": "wal", "_synchronous": "normal"},
	}
	if _, err := os.Stat(dbPath); errors.Is(err, os.ErrNotExist) {
		if err := sqliteschema.SetupSchema(sqlConf); err != nil {
			return nil, fmt.Errorf("temporal schema: %w", err)
		}
	}
	attrs := map[string]enumspb.IndexedValueType{}
	for _, name := range opts.SearchAttributes {
		attrs[name] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	ns, err := sqliteschema.NewNamespaceConfig("active", opts.Namespace, false, attrs)
	if err != nil {
		return nil, fmt.Errorf("temporal namespace: %w", err)
	}
	if err := sqliteschema.CreateNamespaces(sqlConf, ns); err != nil {
		return nil, fmt.Errorf("temporal namespace: %w", err)
	}

	ports, err := freePorts(opts.Host, 7)
	if err != nil {
		return nil, err
	}
	frontend := net.JoinHostPort(opts.Host, strconv.Itoa(opts.FrontendPort))
	service := func(grpc, membership int) config.Service {
		return config.Service{RPC: config.RPC{GRPCPort: grpc, MembershipPort: membership, BindOnIP: opts.Host}}
	}
	frontendSvc := service(opts.FrontendPort, ports[0])
	frontendSvc.RPC.HTTPPort = ports[6]
	conf := &config.Config{
		Global: config.Global{Membership: config.Membership{MaxJoinDuration: 30 * time.Second, BroadcastAddress: opts.Host}},
		Persistence: config.Persistence{
			DefaultStore: sqliteplugin.PluginName, VisibilityStore: sqliteplugin.PluginName, NumHistoryShards: 1,
			DataStores: map[string]config.DataStore{sqliteplugin.PluginName: {SQL: sqlConf}},
		},
		ClusterMetadata: &cluster.Config{
			EnableGlobalNamespace: false, FailoverVersionIncrement: 10,
			MasterClusterName: "active", CurrentClusterName: "active",
			ClusterInformation: map[string]cluster.ClusterInformation{
				"active": {Enabled: true, InitialFailoverVersion: 1, RPCAddress: frontend},
			},
		},
		DCRedirectionPolicy: config.DCRedirectionPolicy{Policy: "noop"},
		Services: map[string]config.Service{
			"frontend": frontendSvc,
			"history":  service(ports[1], ports[2]),
			"matching": service(ports[3], ports[4]),
			"worker":   service(ports[5], 0),
		},
		Archival: config.Archival{
			History:    config.HistoryArchival{State: "disabled"},
			Visibility: config.VisibilityArchival{State: "disabled"},
		},
		NamespaceDefaults: config.NamespaceDefaults{Archival: config.ArchivalNamespaceDefaults{
			History:    config.HistoryArchivalNamespaceDefaults{State: "disabled"},
			Visibility: config.VisibilityArchivalNamespaceDefaults{State: "disabled"},
		}},
		PublicClient: config.PublicClient{HostPort: frontend},
	}
	var logger log.Logger = log.NewNoopLogger()
	if opts.LogErrors {
		logger = log.NewZapLogger(log.BuildZapLogger(log.Config{Level: "error"}))
	}
	srv, err := temporal.NewServer(
		temporal.WithConfig(conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithLogger(logger),
		temporal.WithDynamicConfigClient(dynamicconfig.StaticClient{
			dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
			dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key():      true,
			// Every guest holds a long poll open through the gateway; the default (1,200
			// per namespace and API on a frontend) stalls a stack past about a thousand
			// guests (the idle-scale simulation, dev/cmd/simidle).
			dynamicconfig.FrontendMaxConcurrentLongRunningRequestsPerInstance.Key(): 20000,
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("temporal server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start temporal server: %w", err)
	}
	s := &Server{temporal: srv, opts: opts}
	if opts.UIPort != 0 {
		s.ui = uiserver.NewServer(uiserveroptions.WithConfigProvider(&uiconfig.Config{
			Host: opts.Host, Port: opts.UIPort, TemporalGRPCAddress: frontend,
			EnableUI: true, HideLogs: true, DisableNewsFetch: true,
			CORS: uiconfig.CORS{CookieInsecure: true},
			Codec: uiconfig.Codec{Endpoint: opts.CodecEndpoint, PassAccessToken: opts.CodecPassAccessToken,
				IncludeCredentials: opts.CodecIncludeCredentials},
		}))
		go func() { _ = s.ui.Start() }() // Start blocks until Stop
	}
	return s, nil
}

// FrontendHostPort is what clients and workers dial.
func (s *Server) FrontendHostPort() string {
	return net.JoinHostPort(s.opts.Host, strconv.Itoa(s.opts.FrontendPort))
}

// UIURL is the Web UI's address ("" without a UI).
func (s *Server) UIURL() string {
	if s.ui == nil {
		return ""
	}
	return "http://" + net.JoinHostPort(s.opts.Host, strconv.Itoa(s.opts.UIPort))
}

// Stop stops the UI and the server.
func (s *Server) Stop() error {
	if s.ui != nil {
		s.ui.Stop()
	}
	return s.temporal.Stop()
}

func freePorts(host string, n int) ([]int, error) {
	ports := make([]int, n)
	for i := range ports {
		p, err := freeport.Port(host)
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		ports[i] = p
	}
	return ports, nil
}
