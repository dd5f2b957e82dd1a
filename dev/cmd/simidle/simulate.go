package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/dev/simguest"
	"github.com/coffer-dbaas/coffer/dev/stack"
	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestauth"
)

// servingMessage is what the agent logs once its worker polls its task queue.
const servingMessage = "guest agent serving"

func simulate(ctx context.Context, o options, log *slog.Logger) (*result, error) {
	fmt.Printf("starting the stack in %s\n", o.dataDir)
	s, err := stack.Start(ctx, stack.Options{
		DataDir: filepath.Join(o.dataDir, "data"), CofferBinary: o.coffer,
		// The API and the worker run as processes, as in production: this process holds
		// Temporal, the devcloud and the simulated guests.
		WorkerProcess: true, APIProcess: true,
		UIPort: -1, CodecPort: -1,
		TemporalPort: freePort(), CloudPort: freePort(), APIPort: freePort(), CatalogPort: freePort(), GatewayPort: freePort(),
		Log: log.With("part", "stack"),
	})
	if err != nil {
		return nil, fmt.Errorf("start the stack: %w", err)
	}
	defer s.Stop()
	gatewayPID := s.GatewayPID()
	if gatewayPID == 0 {
		return nil, errors.New("the guest gateway does not run as a process")
	}

	demo, err := login(ctx, s)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.New(ctx, s.Config.Catalog.URL)
	if err != nil {
		return nil, err
	}
	defer pool.Close()

	fmt.Printf("writing %d instances of project %s into the catalog, each with its guest identity\n", o.instances, demo.projectID)
	configs, err := insertInstances(ctx, s, demo.projectID, o.instances)
	if err != nil {
		return nil, err
	}

	fmt.Printf("starting %d simulated guests (the real agent, the stand-in engine of dev/simguest)\n", o.instances)
	serving := &servingSet{ids: map[string]bool{}}
	agentsCtx, stopAgents := context.WithCancel(ctx)
	var agents sync.WaitGroup
	var restarts atomic.Int64
	defer func() {
		stopAgents()
		agents.Wait()
	}()
	started := time.Now()
	for i, cfg := range configs {
		stateDir := filepath.Join(o.dataDir, "guests", cfg.InstanceID)
		server := &simguest.Server{Config: cfg, ServerID: uuid.NewString(), IP: fmt.Sprintf("127.77.%d.%d", i/250, i%250+1)}
		agentLog := slog.New(&countingHandler{Handler: log.Handler(), instanceID: cfg.InstanceID, serving: serving}).With("part", "guest")
		agents.Add(1)
		go func() {
			defer agents.Done()
			// As the image's systemd unit does (Restart=always), an agent that ends with an
			// error is started again: under load its worker's first call may time out.
			for {
				err := simguest.Agent(stateDir).Run(agentsCtx, server, agentLog)
				if agentsCtx.Err() != nil {
					return
				}
				restarts.Add(1)
				agentLog.Warn("simulated guest ended; starting it again", "error", err)
				select {
				case <-agentsCtx.Done():
					return
				case <-time.After(2 * time.Second):
				}
			}
		}()
		// Servers boot over a few seconds, not in one instant.
		time.Sleep(20 * time.Millisecond)
	}

	// Every guest enrolled, reported HEALTHY (the catalog says so) and serves its queue.
	deadline := time.Now().Add(10 * time.Minute)
	for {
		var healthy int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM instances WHERE project_id = $1 AND service_status = 'HEALTHY'`,
			demo.projectID).Scan(&healthy); err != nil {
			return nil, err
		}
		if healthy == o.instances && serving.count() == o.instances {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("after %s: %d of %d instances HEALTHY in the catalog, %d guests serving", time.Since(started).Round(time.Second), healthy, o.instances, serving.count())
		}
		time.Sleep(time.Second)
	}
	fmt.Printf("all %d guests enrolled, reported HEALTHY and poll their task queues through the gateway, %s after the first started (%d agent restarts)\n",
		o.instances, time.Since(started).Round(time.Second), restarts.Load())
	restartsBefore := restarts.Load()
	fmt.Printf("settling for %s, then idle for %s while measured\n", o.settle, o.idle)
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(o.settle):
	}

	res := &result{instances: o.instances}
	before, err := sampleAll(ctx, pool, gatewayPID)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	tick := time.NewTicker(5 * time.Second)
	for end := t0.Add(o.idle); time.Now().Before(end); {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
			p, err := readProc(gatewayPID)
			if err != nil {
				return nil, err
			}
			res.gatewayRSSMax = max(res.gatewayRSSMax, p.rss)
		}
	}
	tick.Stop()
	after, err := sampleAll(ctx, pool, gatewayPID)
	if err != nil {
		return nil, err
	}
	t1 := time.Now()
	res.window = t1.Sub(t0)
	res.catalog = after.catalog.minus(before.catalog)
	res.gatewayCPU = after.gateway.cpu - before.gateway.cpu
	res.gatewayRSSMax = max(res.gatewayRSSMax, before.gateway.rss, after.gateway.rss)
	res.gatewayHWM = after.gateway.hwm
	res.gatewayFDs = after.gateway.fds
	res.guestsCPU = after.self.cpu - before.self.cpu
	res.guestsRSS = after.self.rss
	// A failure to read Temporal leaves the other figures standing; the target then fails.
	res.workflows, res.events, res.temporalErr = temporalEvents(ctx, s, t0, t1)
	res.restarts = restarts.Load() - restartsBefore

	fmt.Printf("measuring GET /instances for the project's %d instances\n", o.instances)
	list := func(q url.Values) string { return demo.instancesURL + "?" + q.Encode() }
	for _, m := range []struct{ name, url string }{
		{"GET /instances (first page, Trove's default 20)", demo.instancesURL},
		{"GET /instances?limit=100 (the largest page)", list(url.Values{"limit": {"100"}})},
	} {
		lat, err := measureGets(ctx, demo.token, m.url, o.requests)
		if err != nil {
			return nil, err
		}
		res.lists = append(res.lists, listLatency{name: m.name, latencies: lat})
	}
	walk, err := measureWalk(ctx, demo.token, list(url.Values{"limit": {"100"}}), max(o.requests/10, 5))
	if err != nil {
		return nil, err
	}
	res.lists = append(res.lists, listLatency{name: fmt.Sprintf("all %d instances, page by page (limit=100, following next)", o.instances), latencies: walk})
	return res, nil
}

// tenant is the devcloud user whose project holds the simulated instances.
type tenant struct {
	projectID    string
	token        string
	instancesURL string
}

func login(ctx context.Context, s *stack.Stack) (tenant, error) {
	pc, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
		IdentityEndpoint: s.Cloud.IdentityURL(), Username: "demo", Password: "demo",
		DomainName: "Default", TenantName: "demo", AllowReauth: true,
	})
	if err != nil {
		return tenant{}, fmt.Errorf("log in as demo: %w", err)
	}
	db, err := openstack.NewDBV1(pc, gophercloud.EndpointOpts{})
	if err != nil {
		return tenant{}, fmt.Errorf("database endpoint: %w", err)
	}
	project, err := pc.GetAuthResult().(tokens.CreateResult).ExtractProject()
	if err != nil {
		return tenant{}, err
	}
	return tenant{projectID: project.ID, token: pc.Token(), instancesURL: db.ServiceURL("instances")}, nil
}

// insertInstances writes n ACTIVE instances of the project into the catalog, each with
// its guest identity at its first generation as a create's would be, and returns their
// guests' configurations (the user_data a create gives the server, with the bootstrap
// secret derived from the control plane's key), naming the stand-in engine.
func insertInstances(ctx context.Context, s *stack.Stack, projectID string, n int) ([]guest.Config, error) {
	master, err := s.Config.CodecKeyBytes()
	if err != nil {
		return nil, err
	}
	configs := make([]guest.Config, 0, n)
	for i := range n {
		inst := &coffer.Instance{
			ProjectID: projectID, Name: fmt.Sprintf("sim-%04d", i), FlavorID: "2", VolumeSize: 10,
			Datastore: "postgresql", Version: "15",
		}
		if err := s.Catalog.CreateInstance(ctx, inst); err != nil {
			return nil, err
		}
		if err := s.Catalog.UpdateResources(ctx, inst.ID, catalog.Resources{
			ServerID: uuid.NewString(), VolumeID: uuid.NewString(), PortID: uuid.NewString(),
			Address: fmt.Sprintf("127.77.%d.%d", i/250, i%250+1), ServerStatus: "ACTIVE",
		}); err != nil {
			return nil, err
		}
		if err := s.Catalog.SetTask(ctx, inst.ID, coffer.TaskNone); err != nil {
			return nil, err
		}
		generation, err := s.Catalog.EnsureGuestIdentity(ctx, inst.ID)
		if err != nil {
			return nil, err
		}
		bootstrap, err := guestauth.Bootstrap(master, inst.ID, generation)
		if err != nil {
			return nil, err
		}
		configs = append(configs, guest.Config{
			InstanceID: inst.ID, Datastore: simguest.Datastore, Version: "15",
			GatewayHostPort: s.Config.GuestGatewayHostPort(), TemporalNamespace: s.Config.Temporal.Namespace,
			Bootstrap: bootstrap,
		})
	}
	return configs, nil
}

// servingSet holds the instances whose agent serves its task queue.
type servingSet struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (s *servingSet) add(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids[id] = true
}

func (s *servingSet) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ids)
}

// countingHandler marks its instance serving when the agent logs servingMessage, and
// passes on the records its handler takes.
type countingHandler struct {
	slog.Handler
	instanceID string
	serving    *servingSet
}

func (h *countingHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == servingMessage {
		h.serving.add(h.instanceID)
	}
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h *countingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || h.Handler.Enabled(ctx, l)
}

func (h *countingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &countingHandler{Handler: h.Handler.WithAttrs(attrs), instanceID: h.instanceID, serving: h.serving}
}

func (h *countingHandler) WithGroup(name string) slog.Handler {
	return &countingHandler{Handler: h.Handler.WithGroup(name), instanceID: h.instanceID, serving: h.serving}
}
