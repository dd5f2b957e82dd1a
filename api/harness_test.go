package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/api"
	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/codec"
	"github.com/coffer-dbaas/coffer/config"
	"github.com/coffer-dbaas/coffer/dev/devcloud"
)

// maxVolumeSize is the API's limit in these tests.
const maxVolumeSize = 50

// harness is the API served on a loopback port, with a devcloud for Keystone, Nova and
// Glance (its catalog's "database" endpoint is the API), a catalog of its own on the test
// cluster and the recording workflows.
type harness struct {
	t     *testing.T
	url   string
	cloud *devcloud.Cloud
	// catalog is the real catalog; database is its database's name on the test cluster.
	catalog   *catalog.Store
	database  string
	workflows *fakeWorkflows
	cfg       config.Config
	log       *syncBuffer
	// codecKey is the key of the API's codec server.
	codecKey []byte
}

// syncBuffer is the API's log.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newHarness starts the API on a devcloud and a real catalog; configure, when given,
// changes the API's configuration first.
func newHarness(t *testing.T, configure ...func(*config.Config)) *harness {
	t.Helper()
	h := &harness{t: t, workflows: newFakeWorkflows(), log: &syncBuffer{}}
	h.catalog, h.database = newCatalog(t)
	h.workflows.catalog = h.catalog

	var handler atomic.Pointer[api.Server]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler.Load().ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	h.url = srv.URL

	cfg := devcloud.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Listen = freeAddr(t)
	cfg.DatabaseURL = srv.URL
	cfg.Hypervisor.StopTimeout = 2 * time.Second
	cfg.Images = append(cfg.Images, devcloud.Image{Name: "coffer-postgresql-15-next", Tags: []string{"coffer-postgresql-15-next"}})
	cloud, err := devcloud.New(cfg, nil)
	if err != nil {
		t.Fatalf("start devcloud: %v", err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		_ = cloud.Close()
		t.Fatalf("listen %s: %v", cfg.Listen, err)
	}
	cloudSrv := &http.Server{Handler: cloud.Handler()}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := cloudSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve devcloud: %v", err)
		}
	}()
	t.Cleanup(func() {
		_ = cloudSrv.Close()
		<-done
		if err := cloud.Close(); err != nil {
			t.Errorf("close devcloud: %v", err)
		}
	})
	h.cloud = cloud

	h.cfg = config.Defaults()
	h.cfg.API.MaxVolumeSize = maxVolumeSize
	h.cfg.OpenStack.AuthURL = cloud.IdentityURL()
	h.cfg.OpenStack.Username, h.cfg.OpenStack.Password, h.cfg.OpenStack.ProjectName = "coffer", "coffer", "service"
	for _, c := range configure {
		c(&h.cfg)
	}
	pc, err := api.ServiceProvider(context.Background(), h.cfg.OpenStack)
	if err != nil {
		t.Fatal(err)
	}
	h.codecKey = make([]byte, 32)
	if _, err := rand.Read(h.codecKey); err != nil {
		t.Fatal(err)
	}
	pcodec, err := codec.New(h.codecKey)
	if err != nil {
		t.Fatal(err)
	}
	s, err := api.New(api.Options{
		Config: h.cfg, Catalog: h.catalog, Workflows: h.workflows, Guest: h.workflows, OpenStack: pc, Codec: pcodec,
		Log: slog.New(slog.NewTextHandler(h.log, nil)),
	})
	if err != nil {
		t.Fatalf("api.New: %v", err)
	}
	handler.Store(s)
	return h
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// user is a devcloud user logged in: their token, project and Trove client.
type user struct {
	provider  *gophercloud.ProviderClient
	token     string
	projectID string
	db        *gophercloud.ServiceClient
}

// login authenticates as a user of the devcloud's default config (password = name).
func (h *harness) login(name string) user {
	h.t.Helper()
	project := name
	if name == "coffer" {
		project = "service"
	}
	pc, err := openstack.AuthenticatedClient(context.Background(), gophercloud.AuthOptions{
		IdentityEndpoint: h.cloud.IdentityURL(), Username: name, Password: name,
		DomainName: "Default", TenantName: project,
	})
	if err != nil {
		h.t.Fatalf("authenticate as %s: %v", name, err)
	}
	p, err := pc.GetAuthResult().(tokens.CreateResult).ExtractProject()
	if err != nil {
		h.t.Fatal(err)
	}
	db, err := openstack.NewDBV1(pc, gophercloud.EndpointOpts{})
	if err != nil {
		h.t.Fatalf("find the database endpoint: %v", err)
	}
	return user{provider: pc, token: pc.Token(), projectID: p.ID, db: db}
}

// response is a raw answer of the API.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a raw request; body is sent as it is when it is a string, else as JSON.
func (h *harness) do(method, path, token string, body any) response {
	h.t.Helper()
	return h.send(method, path, token, "", body)
}

// wantFault checks that r is the Trove fault name with the given code, and returns its
// message.
func wantFault(t *testing.T, what string, r response, code int, name string) string {
	t.Helper()
	if r.status != code {
		t.Fatalf("%s: got HTTP %d %s, want %d %s", what, r.status, r.body, code, name)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: got Content-Type %q, want application/json", what, ct)
	}
	var fault map[string]struct {
		Code    *int    `json:"code"`
		Message *string `json:"message"`
	}
	if err := json.Unmarshal(r.body, &fault); err != nil {
		t.Fatalf("%s: body %s is not a fault: %v", what, r.body, err)
	}
	f, ok := fault[name]
	if len(fault) != 1 || !ok || f.Code == nil || f.Message == nil {
		t.Fatalf("%s: got body %s, want {%q: {code, message}}", what, r.body, name)
	}
	if *f.Code != code {
		t.Errorf("%s: got code %d in the body, want %d", what, *f.Code, code)
	}
	return *f.Message
}

// instances returns every project's instances, as the catalog holds them.
func (h *harness) instances() []coffer.Instance {
	h.t.Helper()
	insts, err := h.catalog.ListInstances(context.Background(), "", 0, "")
	if err != nil {
		h.t.Fatalf("list the catalog's instances: %v", err)
	}
	out := make([]coffer.Instance, len(insts))
	for i, inst := range insts {
		out[i] = *inst
	}
	return out
}

// record records inst in the catalog as it is, with its task and statuses (a create
// would make it BUILDING), and returns its ID.
func (h *harness) record(inst *coffer.Instance) string {
	h.t.Helper()
	want := *inst
	if err := h.catalog.CreateInstance(context.Background(), inst); err != nil {
		h.t.Fatalf("record instance %s: %v", want.Name, err)
	}
	h.update(inst.ID, func(i *coffer.Instance) {
		i.Task, i.ServiceStatus, i.ServiceStatusUpdated, i.Fault = want.Task, want.ServiceStatus, want.ServiceStatusUpdated, want.Fault
	})
	return inst.ID
}

// update changes an instance in the catalog as a workflow would: change edits it, and
// the fields a workflow changes are written back.
func (h *harness) update(id string, change func(*coffer.Instance)) {
	h.t.Helper()
	inst, err := h.catalog.GetInstance(context.Background(), "", id)
	if err != nil {
		h.t.Fatalf("update instance %s: %v", id, err)
	}
	change(inst)
	var faultMessage, faultDetails string
	var faultCreated any
	if inst.Fault != nil {
		faultMessage, faultDetails, faultCreated = inst.Fault.Message, inst.Fault.Details, inst.Fault.Created
	}
	var serviceUpdated any
	if !inst.ServiceStatusUpdated.IsZero() {
		serviceUpdated = inst.ServiceStatusUpdated
	}
	execSQL(h.t, h.database, `UPDATE instances SET name = $2, flavor_id = $3, volume_size = $4, task = $5,
		server_status = $6, service_status = $7, service_status_updated = $8, address = $9,
		fault_message = $10, fault_details = $11, fault_created = $12 WHERE id = $1`,
		inst.ID, inst.Name, inst.FlavorID, inst.VolumeSize, string(inst.Task),
		inst.ServerStatus, string(inst.ServiceStatus), serviceUpdated, inst.Address,
		faultMessage, faultDetails, faultCreated)
}

// breakCatalog makes the catalog's database refuse every connection, as a catalog whose
// database is gone, and closes the connections it had.
func (h *harness) breakCatalog() {
	h.t.Helper()
	execSQL(h.t, "postgres", "ALTER DATABASE "+h.database+" ALLOW_CONNECTIONS false")
	execSQL(h.t, "postgres", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", h.database)
}
