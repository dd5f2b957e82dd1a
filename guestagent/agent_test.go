package guestagent_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/codec"
	"github.com/coffer-dbaas/coffer/configdrive"
	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestagent"
	"github.com/coffer-dbaas/coffer/guestagent/machine"
	"github.com/coffer-dbaas/coffer/guestagent/postgres"
	"github.com/coffer-dbaas/coffer/guestauth"
	"github.com/google/uuid"
	temporalproxy "go.temporal.io/api/proxy"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.temporal.io/server/temporaltest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// agentIn is the agent as cmd/coffer builds it, keeping its credential in stateDir.
func agentIn(stateDir string) guestagent.Agent {
	return guestagent.Agent{Drivers: map[string]guestagent.NewDriver{postgres.Datastore: postgres.New}, StateDir: stateDir}
}

// testGateway stands in for the guest gateway in front of a Temporal test server: it enrolls
// each instance once for its bootstrap secret, as the real one does, and passes the Temporal
// calls of a guest whose credential it issued on to the server. (Package gateway is the real
// one, which also confines what a guest may call; the end-to-end tests run the agent with
// it.)
type testGateway struct {
	addr string

	mu          sync.Mutex
	bootstraps  map[string]string // instance ID → its bootstrap secret
	spent       map[string]bool   // instance ID → its bootstrap secret was spent
	credentials map[string]string // instance ID → the credential it was given
	keys        map[string][]byte // instance ID → its payload key
	enrolls     int
	calls       int                               // Temporal calls that carried a credential the gateway issued
	reports     map[string]guestauth.HealthReport // instance ID → its last health report
}

func startTestGateway(t *testing.T, temporal string) *testGateway {
	t.Helper()
	g := &testGateway{bootstraps: map[string]string{}, spent: map[string]bool{}, credentials: map[string]string{}, keys: map[string][]byte{},
		reports: map[string]guestauth.HealthReport{}}
	conn, err := grpc.NewClient(temporal, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	proxy, err := temporalproxy.NewWorkflowServiceProxyServer(temporalproxy.WorkflowServiceProxyOptions{
		Client: workflowservice.NewWorkflowServiceClient(conn), DisableHeaderForwarding: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if info.FullMethod == guestauth.EnrollMethod {
			return handler(ctx, req)
		}
		id, credential, err := guestauth.FromIncoming(ctx)
		g.mu.Lock()
		issued := err == nil && g.credentials[id] != "" && g.credentials[id] == credential
		if issued {
			g.calls++
		}
		g.mu.Unlock() // not held through a long poll
		if !issued {
			return nil, status.Error(codes.Unauthenticated, "no credential this gateway issued")
		}
		return handler(ctx, req)
	}))
	workflowservice.RegisterWorkflowServiceServer(srv, proxy)
	report := func(ctx context.Context, r guestauth.HealthReport) (guestauth.HealthAck, error) {
		id, _, _ := guestauth.FromIncoming(ctx) // the interceptor checked it
		g.mu.Lock()
		defer g.mu.Unlock()
		g.reports[id] = r
		return guestauth.HealthAck{Interval: 200 * time.Millisecond}, nil
	}
	guestauth.RegisterGateway(srv, func(_ context.Context, req guestauth.EnrollRequest) (guestauth.EnrollResponse, error) {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.bootstraps[req.InstanceID] == "" || g.bootstraps[req.InstanceID] != req.Bootstrap || g.spent[req.InstanceID] {
			return guestauth.EnrollResponse{}, status.Error(codes.PermissionDenied, "bad or spent bootstrap secret")
		}
		g.spent[req.InstanceID] = true
		g.enrolls++
		g.credentials[req.InstanceID] = guestauth.NewCredential()
		return guestauth.EnrollResponse{InstanceID: req.InstanceID, Credential: g.credentials[req.InstanceID], Key: g.keys[req.InstanceID]}, nil
	}, report)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	g.addr = ln.Addr().String()
	return g
}

// expect makes the gateway enroll instanceID once for bootstrap, handing it key.
func (g *testGateway) expect(instanceID, bootstrap string, key []byte) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.bootstraps[instanceID], g.keys[instanceID] = bootstrap, key
}

// lastReport is the last health report the instance's agent sent.
func (g *testGateway) lastReport(instanceID string) guestauth.HealthReport {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.reports[instanceID]
}

func (g *testGateway) counts() (enrolls, calls int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.enrolls, g.calls
}

// prepareAndCheck is what a create workflow does with the guest: Prepare, then Health, by
// the contract's names on the instance's task queue. Failed activities are retried without
// end, so only a non-retryable failure ends it early.
func prepareAndCheck(ctx workflow.Context, instanceID string, in guest.PrepareInput) (guest.HealthReport, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           guest.TaskQueue(instanceID),
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 100 * time.Millisecond, MaximumInterval: time.Second},
	})
	var report guest.HealthReport
	if err := workflow.ExecuteActivity(ctx, guest.PrepareActivity, in).Get(ctx, nil); err != nil {
		return report, err
	}
	err := workflow.ExecuteActivity(ctx, guest.HealthActivity).Get(ctx, &report)
	return report, err
}

// checkHealth asks the guest for a health report.
func checkHealth(ctx workflow.Context, instanceID string) (guest.HealthReport, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           guest.TaskQueue(instanceID),
		StartToCloseTimeout: time.Minute,
	})
	var report guest.HealthReport
	err := workflow.ExecuteActivity(ctx, guest.HealthActivity).Get(ctx, &report)
	return report, err
}

// newServer lays out a new server for an instance in standard files only, as a hypervisor
// that runs processes would: a config-2 folder (meta_data.json listing the volume,
// network_data.json with the server's own loopback address, user_data holding cfg) and a
// volume folder under /tmp (the postgres user cannot walk t.TempDir).
func newServer(t *testing.T, cfg guest.Config) *machine.Machine {
	t.Helper()
	volume := newVolume(t)
	return &machine.Machine{
		ConfigDrive:   writeDrive(t, standardDrive(t, cfg, filepath.Base(volume))),
		VolumesDir:    filepath.Dir(volume),
		VolumeSizesGB: map[string]int{filepath.Base(volume): 1},
		RAMMB:         256,
		CPUs:          1,
	}
}

// newVolume is a volume folder under /tmp, removed when the test ends.
func newVolume(t *testing.T) string {
	t.Helper()
	volume, err := os.MkdirTemp("", "coffer-vol-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(volume) })
	return volume
}

// standardDrive is what Nova tells a server with one volume attached and one port on a
// network, with cfg in user_data.
func standardDrive(t *testing.T, cfg guest.Config, volumeID string) configdrive.Drive {
	t.Helper()
	userData, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	serverID := uuid.NewString()
	return configdrive.Drive{
		MetaData: configdrive.MetaData{UUID: serverID, Name: "coffer-" + cfg.InstanceID, Hostname: "coffer",
			Devices: []configdrive.Device{{Type: "disk", Bus: "virtio", Serial: volumeID}}},
		NetworkData: configdrive.NetworkData{
			Links: []configdrive.NetworkLink{{ID: "tap0", Type: "ovs", MAC: "fa:16:3e:00:00:01", MTU: 1500}},
			Networks: []configdrive.Network{{ID: "network0", Type: "ipv4", Link: "tap0",
				IPAddress: fmt.Sprintf("127.78.%d.%d", 1+mathrand.IntN(254), 1+mathrand.IntN(254)), Netmask: "255.255.0.0"}},
		},
		UserData: userData,
	}
}

// writeDrive lays drive out as a config-2 folder and checks that it holds nothing but the
// files a real config drive has.
func writeDrive(t *testing.T, drive configdrive.Drive) string {
	t.Helper()
	dir := t.TempDir()
	if err := configdrive.Write(dir, drive); err != nil {
		t.Fatal(err)
	}
	var files []string
	filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			rel, _ := filepath.Rel(dir, path)
			files = append(files, rel)
		}
		return err
	})
	want := []string{"openstack/latest/meta_data.json", "openstack/latest/network_data.json", "openstack/latest/user_data"}
	if !slices.Equal(files, want) {
		t.Fatalf("config drive files: got %v, want only %v", files, want)
	}
	return dir
}

// boot runs the agent of the server until shutdown (or the test's end) and returns
// shutdown, which stops it as the hypervisor would and checks that the engine stopped too.
func boot(t *testing.T, server *machine.Machine, stateDir string) (shutdown func()) {
	t.Helper()
	var volume string
	for id := range server.VolumeSizesGB {
		volume = filepath.Join(server.VolumesDir, id)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	go func() { done <- agentIn(stateDir).Run(ctx, server, log) }()
	var stopped bool
	shutdown = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run after cancel: got %v, want nil", err)
			}
		case <-time.After(2 * time.Minute):
			t.Fatalf("Run did not return within 2m of its context's end")
		}
		if out, err := exec.Command("pgrep", "-f", volume).Output(); err == nil {
			t.Errorf("postgres left running on %s after the agent ended: %s", volume, out)
		}
	}
	t.Cleanup(shutdown)
	return shutdown
}

func TestAgentEnrollsOnceAndPreparesTheEngineThroughTheGateway(t *testing.T) {
	master := make([]byte, 32)
	rand.Read(master)
	instanceID := uuid.NewString()
	key, err := guestauth.InstanceKey(master, instanceID)
	if err != nil {
		t.Fatal(err)
	}
	// The test's gateway does not re-key: the control plane's side speaks with the
	// instance's key here.
	dc, err := codec.DataConverter(key)
	if err != nil {
		t.Fatal(err)
	}
	ts := temporaltest.NewServer(temporaltest.WithT(t), temporaltest.WithBaseClientOptions(client.Options{DataConverter: dc, FailureConverter: codec.FailureConverter(dc)}))
	ts.NewWorker("control-plane", func(r worker.Registry) {
		r.RegisterWorkflow(prepareAndCheck)
		r.RegisterWorkflow(checkHealth)
	})
	gw := startTestGateway(t, ts.GetFrontendHostPort())
	bootstrap, err := guestauth.Bootstrap(master, instanceID, 0)
	if err != nil {
		t.Fatal(err)
	}
	gw.expect(instanceID, bootstrap, key)

	cfg := guest.Config{
		InstanceID:        instanceID,
		Datastore:         "postgresql",
		Version:           "15",
		GatewayHostPort:   gw.addr,
		TemporalNamespace: ts.GetDefaultNamespace(),
		Bootstrap:         bootstrap,
	}
	server := newServer(t, cfg)
	stateDir := filepath.Join(t.TempDir(), "coffer-guest")
	shutdown := boot(t, server, stateDir)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := ts.GetDefaultClient()
	const password = "p@ss'word-in-history?"
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "control-plane"}, prepareAndCheck, instanceID,
		guest.PrepareInput{Datastore: "postgresql", Version: "15",
			Databases: []coffer.Database{{Name: "app"}},
			Users:     []coffer.User{{Name: "alice", Password: password, Databases: []string{"app"}}}})
	if err != nil {
		t.Fatal(err)
	}
	var report guest.HealthReport
	if err := run.Get(ctx, &report); err != nil {
		t.Fatalf("prepare and check: %v", err)
	}
	if report.Status != coffer.ServiceHealthy || report.At.IsZero() {
		t.Errorf("Health after Prepare: got %+v, want HEALTHY with a time", report)
	}

	// The agent reports its health to the gateway by itself, with its volume, at the
	// interval the gateway names.
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := gw.lastReport(instanceID)
		if r.Status == string(coffer.ServiceHealthy) && r.VolumeSizeGB > 0 && r.VolumeUsedGB > 0 && !r.At.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent's last health report: %+v, want HEALTHY with its volume", r)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The codec keeps the password out of Temporal's history.
	iter := c.GetWorkflowHistory(ctx, run.GetID(), run.GetRunID(), false, 0)
	for iter.HasNext() {
		event, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := event.Marshal(); strings.Contains(string(b), password) {
			t.Errorf("event %d (%s) holds the password in plain text", event.GetEventId(), event.GetEventType())
		}
	}

	// An invalid request fails at once, however patient the caller's retry policy.
	run, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "control-plane"}, prepareAndCheck, instanceID,
		guest.PrepareInput{Databases: []coffer.Database{{Name: `x"; DROP DATABASE app; --`}}})
	if err != nil {
		t.Fatal(err)
	}
	err = run.Get(ctx, nil)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != guest.ErrInvalid || !appErr.NonRetryable() {
		t.Errorf("Prepare with a hostile name: got %v, want a non-retryable %s", err, guest.ErrInvalid)
	}

	// The agent keeps its identity where only its OS user reads it.
	wantMode(t, stateDir, 0o700|fs.ModeDir)
	wantMode(t, filepath.Join(stateDir, "credential.json"), 0o600)
	kept, err := os.ReadFile(filepath.Join(stateDir, "credential.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(kept), instanceID) || strings.Contains(string(kept), bootstrap) {
		t.Errorf("credential.json: got %s, want the instance's identity and not the bootstrap secret", kept)
	}

	// The server reboots: its new agent brings the database back before anyone asks, with
	// the identity it kept: it enrolls no more (the bootstrap secret is spent).
	shutdown()
	boot(t, server, stateDir)
	run, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "control-plane"}, checkHealth, instanceID)
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Get(ctx, &report); err != nil || report.Status != coffer.ServiceHealthy {
		t.Errorf("Health after a reboot: got %+v, %v; want HEALTHY", report, err)
	}
	if enrolls, calls := gw.counts(); enrolls != 1 || calls == 0 {
		t.Errorf("the gateway saw %d enrollments and %d calls with its credential, want 1 and some", enrolls, calls)
	}
}

func wantMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != want {
		t.Errorf("%s: mode %v, want %v", path, fi.Mode(), want)
	}
}

func TestAgentStopsWhenTheGatewayRefusesToEnrollIt(t *testing.T) {
	gw := startTestGateway(t, "127.0.0.1:1") // no Temporal behind it: the agent never gets that far
	cfg := guest.Config{InstanceID: uuid.NewString(), Datastore: "postgresql", GatewayHostPort: gw.addr,
		Bootstrap: "spent-or-forged"}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stateDir := t.TempDir()
	err := agentIn(stateDir).Run(ctx, newServer(t, cfg), slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err == nil || !strings.Contains(err.Error(), "refused to enroll") || !strings.Contains(err.Error(), "PermissionDenied") {
		t.Errorf("Run with a refused bootstrap secret: got %v, want a fatal error saying the gateway refused to enroll it", err)
	}
	if _, err := os.Stat(filepath.Join(stateDir, "credential.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("credential.json after a refusal: %v, want none", err)
	}
}

// unreachableConfig is a guest config whose gateway does not answer: the agent reads its
// server, starts and keeps trying to enroll.
func unreachableConfig() guest.Config {
	return guest.Config{InstanceID: "i-1", Datastore: "postgresql", GatewayHostPort: "127.0.0.1:1", // nothing listens there
		Bootstrap: "unspent"}
}

// runUntil runs the agent on server until d has passed and returns what it logged; Run must
// return nil (a normal shutdown) and only once its context ended.
func runUntil(t *testing.T, server guestagent.Server, d time.Duration) string {
	t.Helper()
	var out strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return out.Write(p)
	}), nil))
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	if err := agentIn(t.TempDir()).Run(ctx, server, log); err != nil {
		t.Errorf("Run while the gateway is unreachable, until canceled: got %v, want nil", err)
	}
	if took := time.Since(start); took < d-500*time.Millisecond || took > 30*time.Second {
		t.Errorf("Run returned after %v; want it to keep trying until its context ended (%v)", took, d)
	}
	mu.Lock()
	defer mu.Unlock()
	return out.String()
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestRunWaitsForTheGatewayUntilCanceled(t *testing.T) {
	runUntil(t, newServer(t, unreachableConfig()), 1500*time.Millisecond)
}

// wantFacts fails the test unless the agent's log says it learned the server's address,
// size and volume.
func wantFacts(t *testing.T, logged, address, volume string, ramMB int) {
	t.Helper()
	for _, want := range []string{"address=" + address, fmt.Sprintf("ram_mb=%d", ramMB), "volume=" + volume} {
		if !strings.Contains(logged, want) {
			t.Errorf("the agent's log does not say %s:\n%s", want, logged)
		}
	}
}

func TestAgentStartsFromAStandardConfigDrive(t *testing.T) {
	volume := newVolume(t)
	drive := standardDrive(t, unreachableConfig(), filepath.Base(volume))
	server := &machine.Machine{
		ConfigDrive:   writeDrive(t, drive),
		VolumesDir:    filepath.Dir(volume),
		VolumeSizesGB: map[string]int{filepath.Base(volume): 3},
		RAMMB:         384,
	}
	logged := runUntil(t, server, 1500*time.Millisecond)
	wantFacts(t, logged, drive.NetworkData.Networks[0].IPAddress, volume, 384)
}

func TestAgentStartsFromTheMetadataServiceWithNoConfigDrive(t *testing.T) {
	volume := newVolume(t)
	cfg := unreachableConfig()
	cfg.VolumeID = filepath.Base(volume) // the control plane names the data volume
	drive := standardDrive(t, cfg, "")
	drive.MetaData.Devices = nil // Nova lists only tagged devices
	var mu sync.Mutex
	asked := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked[r.URL.Path] = true
		mu.Unlock()
		switch r.URL.Path {
		case "/openstack/latest/meta_data.json":
			json.NewEncoder(w).Encode(drive.MetaData)
		case "/openstack/latest/network_data.json":
			json.NewEncoder(w).Encode(drive.NetworkData)
		case "/openstack/latest/user_data":
			w.Write(drive.UserData)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	server := &machine.Machine{
		MetadataURL:   srv.URL,
		DisksByLabel:  t.TempDir(), // no config-2 drive
		VolumesDir:    filepath.Dir(volume),
		VolumeSizesGB: map[string]int{filepath.Base(volume): 1},
		RAMMB:         512,
	}
	logged := runUntil(t, server, 1500*time.Millisecond)
	wantFacts(t, logged, drive.NetworkData.Networks[0].IPAddress, volume, 512)
	mu.Lock()
	defer mu.Unlock()
	for _, p := range []string{"/openstack/latest/meta_data.json", "/openstack/latest/network_data.json", "/openstack/latest/user_data"} {
		if !asked[p] {
			t.Errorf("the agent never asked the metadata service for %s (asked %v)", p, asked)
		}
	}
}

func TestRunRejectsABadConfiguration(t *testing.T) {
	good := unreachableConfig()
	for _, tc := range []struct {
		name   string
		change func(*guest.Config)
		want   string
	}{
		{"unknown datastore", func(c *guest.Config) { c.Datastore = "oracle" }, `datastore "oracle" is not supported`},
		{"no instance ID", func(c *guest.Config) { c.InstanceID = "" }, "lacks instance_id"},
		{"no gateway", func(c *guest.Config) { c.GatewayHostPort = "" }, "lacks gateway_host_port"},
		{"no bootstrap secret", func(c *guest.Config) { c.Bootstrap = "" }, "lacks bootstrap"},
		{"a gateway CA that is no certificate", func(c *guest.Config) { c.GatewayCA = "not PEM" }, "gateway_ca holds no PEM certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.change(&cfg)
			server := &machine.Machine{ConfigDrive: writeDrive(t, standardDrive(t, cfg, "nonexistent-volume")),
				VolumesDir: "/nonexistent"}
			err := agentIn(t.TempDir()).Run(context.Background(), server, slog.New(slog.DiscardHandler))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run with %s: got %v, want an error saying %q", tc.name, err, tc.want)
			}
		})
	}
}
