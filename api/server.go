package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"go.temporal.io/sdk/converter"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/config"
)

// Catalog is what the API reads and writes in the catalog; *catalog.Store implements it.
type Catalog interface {
	BackupCatalog
	ReplicationCatalog
	ConfigurationCatalog

	// FindDatastoreVersion finds a version by datastore and version name or ID (an empty
	// version is the default); catalog.ErrNotFound when there is none.
	FindDatastoreVersion(ctx context.Context, datastore, version string) (catalog.DatastoreVersion, error)
	// GetInstance returns a project's instance; catalog.ErrNotFound when the project has none
	// with that ID.
	GetInstance(ctx context.Context, projectID, id string) (*coffer.Instance, error)
	// ListInstances lists a project's instances by creation, at most limit, after marker.
	ListInstances(ctx context.Context, projectID string, limit int, marker string) ([]*coffer.Instance, error)
	// ListReplicatedInstances is ListInstances with each instance's replication, in one query.
	ListReplicatedInstances(ctx context.Context, projectID string, limit int, marker string) ([]catalog.ReplicatedInstance, error)
	// SetTask sets the task, clearing the fault unless the task is ERROR.
	SetTask(ctx context.Context, id string, task coffer.Task) error
	// RecordFault sets task ERROR with the fault.
	RecordFault(ctx context.Context, id string, f coffer.Fault) error
	// EndOrphanedTask ends the task workflowID holds, when it still holds it, with the
	// fault: its workflow ended without ending it (terminated in Temporal).
	EndOrphanedTask(ctx context.Context, id, workflowID string, to coffer.Task, f coffer.Fault) (bool, error)
	// DeleteInstance removes the instance's row.
	DeleteInstance(ctx context.Context, id string) error
	// GetGuestVolume returns the data volume as the instance's guest last reported it
	// (catalog.ErrNotFound before its first report).
	GetGuestVolume(ctx context.Context, id string) (catalog.GuestVolume, error)
	// ResetStatus is Trove's reset_status: task NONE, fault cleared, operating status ERROR
	// until the guest reports again. An empty projectID finds any project's instance.
	ResetStatus(ctx context.Context, projectID, id string) error

	// Quotas, renames, root history, datastores and versions.

	// CreateInstanceWithinQuota records a new instance with task BUILDING when the
	// project's quotas allow it (ramMB is the flavor's), atomically with the check; else a
	// *catalog.QuotaExceededError.
	CreateInstanceWithinQuota(ctx context.Context, inst *coffer.Instance, ramMB int, defaults catalog.QuotaLimits) error
	// ProjectQuotas returns a project's limits (its own, else defaults) and use.
	ProjectQuotas(ctx context.Context, projectID string, defaults catalog.QuotaLimits) ([]catalog.Quota, error)
	// SetQuotas sets a project's own limits.
	SetQuotas(ctx context.Context, projectID string, limits catalog.QuotaLimits) error
	// RenameInstance renames a project's instance.
	RenameInstance(ctx context.Context, projectID, id, name string) error
	// RecordRootEnabled and RecordRootDisabled keep the root history GetRootHistory reads.
	RecordRootEnabled(ctx context.Context, instanceID, userID string) error
	RecordRootDisabled(ctx context.Context, instanceID string) error
	GetRootHistory(ctx context.Context, instanceID string) (catalog.RootHistory, error)
	// ListDatastores lists datastores with their active versions.
	ListDatastores(ctx context.Context) ([]catalog.Datastore, error)
	// ListVersionDetails, GetVersionDetail, CreateVersion, UpdateVersion and DeleteVersion
	// manage datastore versions, active or not.
	ListVersionDetails(ctx context.Context) ([]catalog.VersionDetail, error)
	GetVersionDetail(ctx context.Context, id string) (catalog.VersionDetail, error)
	CreateVersion(ctx context.Context, nv catalog.NewVersion) (catalog.VersionDetail, error)
	UpdateVersion(ctx context.Context, id string, c catalog.VersionChange) (catalog.VersionDetail, error)
	DeleteVersion(ctx context.Context, id string) error
}

var _ Catalog = (*catalog.Store)(nil)

// Options are what a Server needs.
type Options struct {
	// Config gives the API's limits (API.MaxVolumeSize), the region instances show
	// (API.Region), the region of the OpenStack endpoints (OpenStack.Region) and the guest
	// timeouts creates carry (Guest).
	Config config.Config
	// Catalog is the catalog store, usually a *catalog.Store. Required.
	Catalog Catalog
	// Workflows starts and steers the workflows, usually a TemporalWorkflows. Required.
	Workflows Workflows
	// OpenStack is the control plane's provider client, authenticated with the service
	// credentials and re-authenticating (ServiceProvider makes one). It validates callers'
	// tokens (Keystone), finds flavors (Nova) and images (Glance).
	OpenStack *gophercloud.ProviderClient
	// Guest reaches the instances' guest agents for databases, users and root, usually the
	// same TemporalWorkflows. Required.
	Guest Guest
	// Codec encodes and decodes Temporal payloads for the codec server (codec.go): the
	// codec every role's data converter uses. Required.
	Codec converter.PayloadCodec
	// Log receives request errors; nil discards them.
	Log *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Server is Coffer's HTTP API. It is an http.Handler.
type Server struct {
	api       huma.API
	mux       *http.ServeMux
	cfg       config.Config
	catalog   Catalog
	workflows Workflows
	guest     Guest
	keystone  *keystone
	cloud     *cloud
	log       *slog.Logger
	now       func() time.Time
	// trustedProxies are the peers whose X-Forwarded-* headers are believed.
	trustedProxies []netip.Prefix
	codec          converter.PayloadCodec
	// codecOrigins are the browser origins (the Web UI's) that may call the codec server.
	codecOrigins []string
}

// New builds the API. It fails when an option is missing or when the service catalog of
// the OpenStack provider lacks Keystone, Nova or Glance.
func New(opts Options) (*Server, error) {
	var missing []string
	if opts.Catalog == nil {
		missing = append(missing, "Catalog")
	}
	if opts.Workflows == nil {
		missing = append(missing, "Workflows")
	}
	if opts.Guest == nil {
		missing = append(missing, "Guest")
	}
	if opts.OpenStack == nil {
		missing = append(missing, "OpenStack")
	}
	if opts.Codec == nil {
		missing = append(missing, "Codec")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("api: options %s are required", strings.Join(missing, ", "))
	}
	if opts.Config.API.MaxVolumeSize < 1 {
		return nil, fmt.Errorf("api: Config.API.MaxVolumeSize must be at least 1, got %d", opts.Config.API.MaxVolumeSize)
	}
	eo := gophercloud.EndpointOpts{Region: opts.Config.OpenStack.Region}
	identity, err := openstack.NewIdentityV3(opts.OpenStack, eo)
	if err != nil {
		return nil, fmt.Errorf("api: find Keystone in the service catalog: %w", err)
	}
	compute, err := openstack.NewComputeV2(opts.OpenStack, eo)
	if err != nil {
		return nil, fmt.Errorf("api: find Nova in the service catalog: %w", err)
	}
	image, err := openstack.NewImageV2(opts.OpenStack, eo)
	if err != nil {
		return nil, fmt.Errorf("api: find Glance in the service catalog: %w", err)
	}
	trusted, err := config.ParseTrustedProxies(opts.Config.API.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("api: Config.API.TrustedProxies: %w", err)
	}
	if opts.Config.API.TokenCacheTTL < 0 {
		return nil, fmt.Errorf("api: Config.API.TokenCacheTTL must not be negative, got %s", opts.Config.API.TokenCacheTTL)
	}
	s := newServer(opts)
	s.trustedProxies = trusted
	s.keystone = newKeystone(identity, s.now, opts.Config.API.TokenCacheTTL)
	s.cloud = &cloud{compute: compute, image: image}
	return s, nil
}

// newServer registers every route; the dependencies may be missing when only the OpenAPI
// document is wanted.
func newServer(opts Options) *Server {
	useTroveFaults()
	s := &Server{
		mux:       http.NewServeMux(),
		cfg:       opts.Config,
		catalog:   opts.Catalog,
		workflows: opts.Workflows,
		guest:     opts.Guest,
		log:       opts.Log,
		now:       opts.Now,
		codec:     opts.Codec,
	}
	for o := range strings.SplitSeq(opts.Config.API.CodecOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			s.codecOrigins = append(s.codecOrigins, strings.TrimSuffix(o, "/"))
		}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}

	cfg := huma.DefaultConfig("Coffer", "1.0")
	// JSON as huma writes it, but bodies that encode themselves do (listjson.go).
	cfg.Formats = map[string]huma.Format{"application/json": troveJSON, "json": troveJSON}
	cfg.Info.Description = "Coffer's database-as-a-service API: OpenStack Trove's v1.0 API, " +
		"so that python-troveclient, gophercloud and Terraform work unchanged. " +
		"Authenticate with a Keystone token in X-Auth-Token, scoped to the project in the path."
	// No $schema field or Link header in responses: bodies are exactly Trove's.
	cfg.CreateHooks = nil
	// Clients send keys Coffer does not use (python-troveclient sends nics, locality, ...).
	cfg.AllowAdditionalPropertiesByDefault = true
	// The docs page is Coffer's own (docs.go), with its scripts served from here.
	cfg.DocsPath = ""
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"keystone": {Type: "apiKey", In: "header", Name: "X-Auth-Token",
			Description: "A Keystone v3 token scoped to the project in the path."},
	}
	s.api = humago.New(s.mux, cfg)

	s.registerVersions()
	v1 := huma.NewGroup(s.api, "/v1.0/{project_id}")
	v1.UseMiddleware(s.authenticate)
	v1.UseSimpleModifier(func(op *huma.Operation) {
		op.Security = []map[string][]string{{"keystone": {}}}
		op.Errors = append(op.Errors, http.StatusUnauthorized, http.StatusForbidden, http.StatusServiceUnavailable)
	})
	s.registerInstances(v1)
	s.registerDatabases(v1)
	s.registerUsers(v1)
	s.registerRoot(v1)
	s.registerFlavors(v1)
	s.registerDatastores(v1)
	s.registerLimits(v1)
	s.registerMgmtInstances(v1)
	s.registerActions(v1)
	s.registerInstanceUpdate(v1)
	s.registerMgmtActions(v1)
	s.registerBackups(v1)
	s.registerConfigurations(v1)
	s.registerLogs(v1)
	s.registerCodec()
	s.registerCodecLogin()
	s.registerDocs()
	return s
}

// Spec returns the OpenAPI 3.1 document of the API, as served at /openapi.yaml.
func Spec() *huma.OpenAPI { return newServer(Options{}).api.OpenAPI() }

type loggerKey struct{}

type baseURLKey struct{}

// loggerFrom returns the server's logger for code huma calls without the server.
func loggerFrom(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.New(slog.DiscardHandler)
}

// baseURLFrom returns the URL clients reached the API at, for the links in bodies.
func baseURLFrom(ctx context.Context) string {
	s, _ := ctx.Value(baseURLKey{}).(string)
	return s
}

// ServeHTTP serves the API. Requests no route serves get Trove faults too.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := context.WithValue(r.Context(), loggerKey{}, s.log)
	ctx = context.WithValue(ctx, baseURLKey{}, requestBaseURL(r, s.trustedProxies))
	r = r.WithContext(ctx)
	defer func() {
		if v := recover(); v != nil {
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(v)
			}
			s.log.ErrorContext(ctx, "panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v)
			writeFault(w, internalFault())
		}
	}()
	rewriteGlobalParameters(r)
	if strings.HasPrefix(r.URL.Path, CodecPath+"/") && s.serveCodecCORS(w, r) {
		return
	}
	if !s.routed(r) {
		unmatched(w, r, s.mux, s.routedPath(r))
		return
	}
	if f := checkRequestText(w, r); f != nil {
		writeFault(w, f)
		return
	}
	s.mux.ServeHTTP(bodyReadWriter{w}, r)
}

// bodyReadWriter is the ResponseWriter the routes get once checkRequestText has read the
// request's body, under its own deadline: it ignores huma's read deadline for the body
// (5 s by default for every operation with one). That deadline would bound only a read of
// memory, and it would end net/http's background read of the connection, which starts
// when the body hits its end, and with it cancel the request's context (and the later
// requests' on the same connection) in the middle of a long handler, such as a claim
// waiting for its workflow.
type bodyReadWriter struct{ http.ResponseWriter }

// SetReadDeadline is what huma calls, through huma.SetReadDeadline, to bound its body read.
func (bodyReadWriter) SetReadDeadline(time.Time) error { return nil }

// Unwrap lets http.ResponseController reach the connection's own writer.
func (w bodyReadWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Route names the route that serves r by its pattern ("GET /v1.0/{project_id}/instances/{id}"),
// or "unmatched" when none does: what metrics and spans call a request, since its path holds IDs.
func (s *Server) Route(r *http.Request) string {
	if !s.routed(r) {
		return "unmatched"
	}
	_, pattern := s.mux.Handler(r)
	return pattern
}

// rootPattern is the ServeMux pattern of GET /, which also matches every path no other GET
// route serves.
const rootPattern = "GET /"

// routed reports whether a route serves r's method and path.
func (s *Server) routed(r *http.Request) bool {
	_, pattern := s.mux.Handler(r)
	return pattern != "" && (pattern != rootPattern || r.URL.Path == "/")
}

// routedPath reports whether a route serves r's path with any method.
func (s *Server) routedPath(r *http.Request) bool {
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		c := r.Clone(r.Context())
		c.Method = m
		if s.routed(c) {
			return true
		}
	}
	return false
}

// requestBaseURL is the scheme and host the client used. A proxy's X-Forwarded-Proto and
// X-Forwarded-Host are honoured only when the request comes from one of the trusted
// proxies, and only a host that is a host: anyone else could make the links in bodies
// point elsewhere.
func requestBaseURL(r *http.Request, trusted []netip.Prefix) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := r.Host
	if fromTrustedProxy(r, trusted) {
		if p := r.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
			scheme = p
		}
		if h := r.Header.Get("X-Forwarded-Host"); h != "" {
			h, _, _ = strings.Cut(h, ",")
			if h = strings.TrimSpace(h); forwardedHost.MatchString(h) {
				host = h
			}
		}
	}
	return scheme + "://" + host
}

// forwardedHost is a host, with an optional port, as a proxy may forward it.
var forwardedHost = regexp.MustCompile(`^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$`)

// fromTrustedProxy reports whether r's peer is one of the trusted proxies.
func fromTrustedProxy(r *http.Request, trusted []netip.Prefix) bool {
	if len(trusted) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	addr := ap.Addr().Unmap()
	for _, p := range trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// maxCheckedBody is how much of a body checkRequestText reads; huma refuses larger ones.
const maxCheckedBody = 1 << 20

// bodyReadTimeout bounds checkRequestText's read of a request's body, as huma's default
// body deadline would.
const bodyReadTimeout = 5 * time.Second

// checkRequestText refuses, with a 400, a request whose path, query or JSON body holds a NUL
// byte, another control character in the path or query, or text that is not UTF-8: no such
// text may reach the catalog (PostgreSQL cannot store it), OpenStack or a guest. Fields
// with rules of their own are checked again by their handlers. It reads the body whole,
// within bodyReadTimeout, and leaves it in memory for the route (see bodyReadWriter).
func checkRequestText(w http.ResponseWriter, r *http.Request) *Fault {
	if err := coffer.ValidText(r.URL.Path, len(r.URL.Path)); err != nil {
		return badRequest("Invalid request: the path %v.", err)
	}
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return badRequest("Invalid request: the query string is malformed.")
	}
	for k, vs := range query {
		for _, v := range append(vs, k) {
			if err := coffer.ValidText(v, len(v)); err != nil {
				return badRequest("Invalid request: query parameter %s %v.", strings.ToValidUTF8(k, "?"), err)
			}
		}
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	// The deadline ends when the body does: net/http clears it as it starts its background
	// read of the connection. A body past maxCheckedBody keeps it for huma's read of the
	// rest, and huma answers 413. A writer that reaches no connection has none to set.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyReadTimeout))
	whole, err := io.ReadAll(io.LimitReader(r.Body, maxCheckedBody+1))
	if err != nil || len(whole) > maxCheckedBody {
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(whole), r.Body), r.Body}
		return nil // huma answers a body it cannot read or that is too large
	}
	r.Body = io.NopCloser(bytes.NewReader(whole))
	if !utf8.Valid(whole) {
		return badRequest("Invalid request: the request body is not valid UTF-8.")
	}
	if !bytes.Contains(whole, []byte(`\u0000`)) && !bytes.Contains(whole, []byte{0}) {
		return nil
	}
	var body any
	if err := json.Unmarshal(whole, &body); err != nil {
		return nil // huma answers a malformed body
	}
	if path, ok := findNUL(body, "body"); ok {
		return badRequest("Invalid request: %s: holds a NUL character.", strings.TrimPrefix(path, "body."))
	}
	return nil
}

// findNUL returns where in a decoded JSON value a string (or key) holds a NUL character.
func findNUL(v any, path string) (string, bool) {
	switch v := v.(type) {
	case string:
		return path, strings.ContainsRune(v, 0)
	case []any:
		for i, e := range v {
			if p, ok := findNUL(e, fmt.Sprintf("%s[%d]", path, i)); ok {
				return p, true
			}
		}
	case map[string]any:
		for k, e := range v {
			if strings.ContainsRune(k, 0) {
				return path, true
			}
			if p, ok := findNUL(e, path+"."+k); ok {
				return p, true
			}
		}
	}
	return "", false
}
