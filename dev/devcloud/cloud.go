package devcloud

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Cloud is a running devcloud: its state, its HTTP handler and its server processes.
type Cloud struct {
	cfg     Config
	log     *slog.Logger
	baseURL string
	mux     *http.ServeMux
	faults  *faultSet
	hv      *hypervisor
	lease   *networkLease // the network's /16s, held until Close
	guard   *guard        // enforces security groups for the process hypervisor, or nil

	mu sync.Mutex // guards st
	st *state

	ctx    context.Context // cancelled by Close; background work watches it
	cancel context.CancelFunc
	wg     sync.WaitGroup // background work
}

// New opens (or creates) the cloud's state in cfg.DataDir and boots again the servers that were
// ACTIVE when it last stopped. The caller serves Handler and must call Close.
func New(cfg Config, log *slog.Logger) (*Cloud, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("devcloud config: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("devcloud data_dir: %w", err)
	}
	cfg.DataDir = dataDir
	for _, dir := range []string{dataDir, filepath.Join(dataDir, "servers"), filepath.Join(dataDir, "volumes"), filepath.Join(dataDir, "swift")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create devcloud folder: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Cloud{
		cfg:     cfg,
		log:     log,
		baseURL: strings.TrimRight(cfg.PublicURL, "/"),
		mux:     http.NewServeMux(),
		faults:  newFaultSet(),
		ctx:     ctx,
		cancel:  cancel,
	}
	if c.baseURL == "" {
		c.baseURL = "http://" + cfg.Listen
	}
	for _, f := range cfg.Faults {
		if _, err := c.faults.add(f); err != nil {
			cancel()
			return nil, fmt.Errorf("devcloud config: faults: %w", err)
		}
	}
	if err := c.loadState(); err != nil {
		cancel()
		return nil, err
	}
	if err := c.leaseNetwork(); err != nil {
		cancel()
		return nil, err
	}
	c.hv = newHypervisor(c)
	if cfg.Hypervisor.SecurityGroups && c.hv.qemu == nil {
		g, err := newGuard(c)
		if err != nil {
			c.lease.release()
			cancel()
			return nil, err
		}
		c.guard = g
	}
	c.mu.Lock()
	c.seedLocked()
	c.saveLocked()
	c.mu.Unlock()

	c.routeIdentity()
	c.routeCompute()
	c.routeVolume()
	c.routeNetwork()
	c.routeImage()
	c.routeObjectStore()
	c.routeAdmin()

	c.hv.resume()
	return c, nil
}

// Handler serves every service of the cloud.
func (c *Cloud) Handler() http.Handler { return c.mux }

// URL is the base URL the cloud puts in its catalog.
func (c *Cloud) URL() string { return c.baseURL }

// IdentityURL is the Keystone v3 endpoint to give gophercloud (it ends in /v3/, which skips
// version discovery).
func (c *Cloud) IdentityURL() string { return c.baseURL + "/identity/v3/" }

// DataDir is the absolute folder that holds the cloud's state: servers/, volumes/, swift/.
func (c *Cloud) DataDir() string { return c.cfg.DataDir }

// ServerPID is the process ID of a server's running process (for a server booted by the
// process hypervisor, its guest agent), for tests that measure it; ok is false when the
// server has no running process.
func (c *Cloud) ServerPID(serverID string) (pid int, ok bool) { return c.hv.pid(serverID) }

// NetworkCIDR is the subnet the cloud's servers get their addresses from: network.cidr, or
// the /16 the cloud picked when that is unset, or the one its state was made with.
func (c *Cloud) NetworkCIDR() string { return c.cfg.Network.CIDR }

// leaseNetwork settles the network's range and leases it (see network_lease.go): the range
// the state's subnet was made with, else network.cidr, else a free /16 it picks.
func (c *Cloud) leaseNetwork() error {
	cidr := c.cfg.Network.CIDR
	if sub, ok := c.st.Subnets[stableID("subnet", c.cfg.Network.Name)]; ok {
		if cidr != "" && cidr != sub.CIDR {
			c.log.Warn("devcloud network.cidr differs from the one its state was made with; keeping the state's",
				"config", cidr, "state", sub.CIDR)
		}
		cidr = sub.CIDR
	}
	if cidr == "" {
		prefix, lease, err := leaseFreeNetwork(c.cfg.DataDir)
		if err != nil {
			return fmt.Errorf("devcloud network: %w", err)
		}
		c.cfg.Network.CIDR, c.lease = prefix.String(), lease
		return nil
	}
	prefix, err := netip.ParsePrefix(cidr)
	if err != nil {
		return fmt.Errorf("devcloud network.cidr: %w", err)
	}
	lease, err := leaseNetwork(prefix, c.cfg.DataDir)
	if err != nil {
		return fmt.Errorf("devcloud %w", err)
	}
	c.cfg.Network.CIDR, c.lease = prefix.Masked().String(), lease
	return nil
}

// Close stops every server process (they boot again at the next New), waits for background
// work and gives up the network's lease. State is already on disk.
func (c *Cloud) Close() error {
	c.cancel()
	c.wg.Wait()
	c.hv.shutdown()
	if c.guard != nil {
		c.guard.close()
	}
	c.lease.release()
	return nil
}

// Serve listens on cfg.Listen and serves until ctx ends, then closes the cloud.
func (c *Cloud) Serve(ctx context.Context) error {
	ln, err := net.Listen("tcp", c.cfg.Listen)
	if err != nil {
		return fmt.Errorf("devcloud listen: %w", err)
	}
	srv := &http.Server{Handler: c.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	c.log.Info("devcloud listening", "url", c.baseURL, "identity", c.IdentityURL(), "data_dir", c.cfg.DataDir)
	c.printWelcome()
	select {
	case err = <-errc:
	case <-ctx.Done():
		shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = srv.Shutdown(shutCtx)
		cancel()
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return errors.Join(err, c.Close())
}

// async runs fn in the background; Close waits for it. fn should watch ctx.
func (c *Cloud) async(fn func(ctx context.Context)) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		fn(c.ctx)
	}()
}

// sleep waits d, or less when the cloud closes; it reports whether the full time passed.
func (c *Cloud) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (c *Cloud) now() time.Time { return time.Now().UTC() }

func newID() string { return uuid.NewString() }

// stableID derives a UUID from a kind and a name, so that seeded resources (users, projects,
// images, the network) keep their IDs across restarts and machines.
func stableID(kind, name string) string {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte("coffer-devcloud/"+kind+"/"+name)).String()
}

// keystoneID is a stable ID in Keystone's style: 32 hex digits, no dashes.
func keystoneID(kind, name string) string {
	sum := sha1.Sum([]byte("coffer-devcloud/" + kind + "/" + name))
	return hex.EncodeToString(sum[:16])
}

// handlerFunc is a route's handler: the token is the caller's, already validated.
type handlerFunc func(w http.ResponseWriter, r *http.Request, tok *token)

// route registers an authenticated route. service names the error shape and, with op, the
// fault rules that apply (see Fault).
func (c *Cloud) route(service, op, pattern string, h handlerFunc) {
	c.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if c.injectFault(w, r, service, op) {
			return
		}
		tok := c.authenticate(r)
		if tok == nil {
			c.fail(w, "identity", http.StatusUnauthorized, "The request you have made requires authentication.")
			return
		}
		h(w, r, tok)
	})
}

// routePublic registers a route that needs no token (Keystone's own auth and discovery).
func (c *Cloud) routePublic(service, op, pattern string, h http.HandlerFunc) {
	c.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if c.injectFault(w, r, service, op) {
			return
		}
		h(w, r)
	})
}

// authenticate returns the valid, unexpired token in X-Auth-Token, or nil.
func (c *Cloud) authenticate(r *http.Request) *token {
	id := r.Header.Get("X-Auth-Token")
	if id == "" {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.st.Tokens[id]
	if t == nil || c.now().After(t.ExpiresAt) {
		return nil
	}
	cp := *t
	return &cp
}

// writeJSON writes v as the response body with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// maxJSONBody bounds every JSON request body; Swift objects are streamed and not read this way.
const maxJSONBody = 1 << 20

// errBadJSON marks a request body that is not the JSON the route expects.
var errBadJSON = errors.New("malformed request body")

// readJSON decodes the request body into v.
func readJSON(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxJSONBody+1))
	if err != nil {
		return fmt.Errorf("%w: %v", errBadJSON, err)
	}
	if len(b) > maxJSONBody {
		return fmt.Errorf("%w: larger than %d bytes", errBadJSON, maxJSONBody)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %v", errBadJSON, err)
	}
	return nil
}

// printWelcome tells a person at the terminal how to reach the cloud with the OpenStack
// clients. Passwords of the configured users are dev-only by design.
func (c *Cloud) printWelcome() {
	if len(c.cfg.Users) == 0 {
		return
	}
	u := c.cfg.Users[0]
	for _, cand := range c.cfg.Users {
		if cand.Name == "demo" {
			u = cand
		}
	}
	fmt.Fprintf(os.Stdout, `
devcloud is up at %s (state in %s). For the OpenStack clients, as %s:

export OS_AUTH_URL=%s
export OS_IDENTITY_API_VERSION=3
export OS_USERNAME=%s
export OS_PASSWORD=%s
export OS_PROJECT_NAME=%s
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_REGION_NAME=%s

`, c.baseURL, c.cfg.DataDir, u.Name, c.IdentityURL(), u.Name, u.Password, u.Project, c.cfg.Region)
}
