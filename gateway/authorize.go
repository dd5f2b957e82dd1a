package gateway

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestauth"
)

var (
	errUnauthenticated  = status.Error(codes.Unauthenticated, "no valid guest credential")
	errPermissionDenied = status.Error(codes.PermissionDenied, "not allowed for a guest")
)

const (
	workflowServicePrefix = "/temporal.api.workflowservice.v1.WorkflowService/"
	healthPrefix          = "/grpc.health.v1.Health/"
)

// authorize is the gateway's unary interceptor: Enroll and health checks need no
// credential; ReportHealth needs a valid one and reports for its own instance only; every
// WorkflowService call needs a valid one and passes policy; anything else is refused.
func (g *Gateway) authorize(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if info.FullMethod == guestauth.EnrollMethod || strings.HasPrefix(info.FullMethod, healthPrefix) {
		return handler(ctx, req)
	}
	method, ok := strings.CutPrefix(info.FullMethod, workflowServicePrefix)
	if !ok && info.FullMethod != guestauth.ReportHealthMethod {
		return nil, errPermissionDenied
	}
	if !ok {
		method = "ReportHealth"
	}
	instanceID, credential, err := guestauth.FromIncoming(ctx)
	if err != nil {
		g.log.Warn("guest call refused", "method", method, "reason", "no credential")
		return nil, errUnauthenticated
	}
	identity, err := g.identities.get(ctx, instanceID)
	if err != nil && !errors.Is(err, catalog.ErrNotFound) {
		g.log.Error("guest call failed", "method", method, "instance_id", instanceID, "error", err)
		return nil, status.Error(codes.Unavailable, "cannot check the credential now, try again")
	}
	if err != nil || identity.Revoked || identity.CredentialHash == nil ||
		!guestauth.Equal(identity.CredentialHash, guestauth.Hash(credential)) {
		g.log.Warn("guest call refused", "method", method, "instance_id", instanceID, "reason", "unknown, wrong or revoked credential")
		return nil, errUnauthenticated
	}
	g.log.Debug("guest call", "method", method, "instance_id", identity.InstanceID)
	if info.FullMethod == guestauth.ReportHealthMethod {
		return handler(withCaller(ctx, identity.InstanceID), req)
	}
	c := caller{gateway: g, instanceID: identity.InstanceID}
	resp, err := c.allow(withCaller(ctx, identity.InstanceID), req, handler)
	// The SDK's client turns Temporal's errors into serviceerror values, which gRPC's
	// server would answer as Unknown: give the guest's SDK the code it acts on.
	var serviceErr interface{ Status() *status.Status }
	if errors.As(err, &serviceErr) {
		err = serviceErr.Status().Err()
	}
	switch status.Code(err) {
	case codes.OK:
	case codes.PermissionDenied:
		g.log.Warn("guest call refused", "method", method, "instance_id", identity.InstanceID, "reason", err)
	default:
		g.log.Debug("guest call failed", "method", method, "instance_id", identity.InstanceID, "error", err)
	}
	return resp, err
}

// caller is one authenticated guest's call.
type caller struct {
	gateway    *Gateway
	instanceID string
}

// allow is the policy: what an activity worker on the guest's own task queue needs, and
// nothing else. The *ById variants, which name a workflow instead of presenting a task
// token, are refused like every other method.
func (c caller) allow(ctx context.Context, req any, handler grpc.UnaryHandler) (any, error) {
	switch r := req.(type) {
	case *workflowservice.GetSystemInfoRequest:
		return handler(ctx, req)
	case *workflowservice.DescribeNamespaceRequest:
		// The SDK reads its namespace's capabilities when a worker starts.
		if r.GetId() != "" || !c.ownNamespace(r.GetNamespace()) {
			return nil, errPermissionDenied
		}
		return handler(ctx, req)
	case *workflowservice.PollActivityTaskQueueRequest:
		if !c.ownNamespace(r.GetNamespace()) || r.GetTaskQueue().GetName() != guest.TaskQueue(c.instanceID) {
			return nil, errPermissionDenied
		}
		r.Identity = c.identity()
		resp, err := handler(ctx, req)
		if err != nil {
			return nil, err
		}
		task, ok := resp.(*workflowservice.PollActivityTaskQueueResponse)
		if !ok || len(task.GetTaskToken()) == 0 { // an empty poll: no task
			return resp, nil
		}
		sealed, err := c.gateway.tokens.seal(c.instanceID, task.GetTaskToken())
		if err != nil {
			return nil, status.Error(codes.Internal, "cannot seal the task token")
		}
		task.TaskToken = sealed
		return task, nil
	case *workflowservice.RecordActivityTaskHeartbeatRequest:
		r.Identity = c.identity()
		return c.withToken(ctx, r.GetNamespace(), &r.TaskToken, req, handler)
	case *workflowservice.RespondActivityTaskCompletedRequest:
		r.Identity = c.identity()
		return c.withToken(ctx, r.GetNamespace(), &r.TaskToken, req, handler)
	case *workflowservice.RespondActivityTaskFailedRequest:
		r.Identity = c.identity()
		return c.withToken(ctx, r.GetNamespace(), &r.TaskToken, req, handler)
	case *workflowservice.RespondActivityTaskCanceledRequest:
		r.Identity = c.identity()
		return c.withToken(ctx, r.GetNamespace(), &r.TaskToken, req, handler)
	case *workflowservice.ShutdownWorkerRequest:
		// The SDK says goodbye when a worker stops, which also ends its pending polls.
		if !c.ownNamespace(r.GetNamespace()) || r.GetStickyTaskQueue() != "" ||
			r.GetTaskQueue() != guest.TaskQueue(c.instanceID) {
			return nil, errPermissionDenied
		}
		// Only the queue matters; what the guest says about itself stays here.
		r.Identity, r.WorkerHeartbeat = c.identity(), nil
		return handler(ctx, req)
	case *workflowservice.RecordWorkerHeartbeatRequest:
		// Worker heartbeats describe the worker to operators; a guest's would be its own
		// word about itself, so they are answered here and not passed on.
		if !c.ownNamespace(r.GetNamespace()) {
			return nil, errPermissionDenied
		}
		return &workflowservice.RecordWorkerHeartbeatResponse{}, nil
	}
	return nil, errPermissionDenied
}

// identity is the worker identity Temporal records for the guest's polls and answers (in
// the histories operators read), whatever the guest claims to be.
func (c caller) identity() string { return "guest " + c.instanceID }

func (c caller) ownNamespace(namespace string) bool {
	return namespace == c.gateway.opts.Namespace
}

// withToken opens the sealed task token of a heartbeat or an answer, puts Temporal's own
// back in its place, and passes the call on.
func (c caller) withToken(ctx context.Context, namespace string, token *[]byte, req any, handler grpc.UnaryHandler) (any, error) {
	if !c.ownNamespace(namespace) {
		return nil, errPermissionDenied
	}
	opened, err := c.gateway.tokens.open(c.instanceID, *token)
	if err != nil {
		return nil, status.Error(codes.PermissionDenied, err.Error())
	}
	*token = opened
	return handler(ctx, req)
}

// identityCache keeps what the catalog said of each guest identity for a while, so that
// a poll does not cost a catalog query; unknown instances are remembered too.
type identityCache struct {
	store *catalog.Store
	ttl   time.Duration

	mu      sync.Mutex
	entries map[string]cachedIdentity
}

type cachedIdentity struct {
	identity catalog.GuestIdentity
	err      error // nil or catalog.ErrNotFound
	expires  time.Time
}

// sweepAbove is the cache size from which expired entries are dropped on insert.
const sweepAbove = 4096

func newIdentityCache(store *catalog.Store, ttl time.Duration) *identityCache {
	return &identityCache{store: store, ttl: ttl, entries: map[string]cachedIdentity{}}
}

func (c *identityCache) get(ctx context.Context, instanceID string) (catalog.GuestIdentity, error) {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.entries[instanceID]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.identity, e.err
	}
	identity, err := c.store.GetGuestIdentity(ctx, instanceID)
	if err != nil && !errors.Is(err, catalog.ErrNotFound) {
		return catalog.GuestIdentity{}, err // not cached: the catalog may be back soon
	}
	if c.ttl > 0 {
		c.mu.Lock()
		if len(c.entries) >= sweepAbove {
			for id, e := range c.entries {
				if !now.Before(e.expires) {
					delete(c.entries, id)
				}
			}
		}
		c.entries[instanceID] = cachedIdentity{identity: identity, err: err, expires: now.Add(c.ttl)}
		c.mu.Unlock()
	}
	return identity, err
}

func (c *identityCache) forget(instanceID string) {
	c.mu.Lock()
	delete(c.entries, instanceID)
	c.mu.Unlock()
}
