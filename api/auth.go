package api

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"

	"github.com/coffer-dbaas/coffer/config"
)

// ServiceProvider authenticates the control plane with its own credentials. The provider
// re-authenticates when its token expires, so a long-running API keeps working.
func ServiceProvider(ctx context.Context, cfg config.OpenStack) (*gophercloud.ProviderClient, error) {
	pc, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
		IdentityEndpoint: cfg.AuthURL,
		Username:         cfg.Username,
		Password:         cfg.Password,
		DomainName:       cfg.UserDomainName,
		TenantName:       cfg.ProjectName,
		Scope: &gophercloud.AuthScope{
			ProjectName: cfg.ProjectName,
			DomainName:  cfg.ProjectDomainName,
		},
		AllowReauth: true,
	})
	if err != nil {
		return nil, fmt.Errorf("authenticate as %s at %s: %w", cfg.Username, cfg.AuthURL, err)
	}
	return pc, nil
}

// Principal is the caller, as Keystone describes their token.
type Principal struct {
	UserID    string
	UserName  string
	ProjectID string
	Roles     []string
	ExpiresAt time.Time
}

// IsAdmin reports whether the caller has Keystone's admin role.
func (p Principal) IsAdmin() bool { return slices.Contains(p.Roles, "admin") }

type principalKey struct{}

// principalFrom returns the caller the auth middleware put into ctx.
func principalFrom(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}

// errInvalidToken is a token Keystone does not know or that has expired.
var errInvalidToken = errors.New("invalid token")

// Token validation is cached, as keystonemiddleware does: at most maxCachedTokens tokens, each
// until it expires but no longer than the configured api.token_cache_ttl, so that a revoked
// token stops working within that time.
const (
	maxCachedTokens = 10000
	// maxTokenLength bounds what is sent to Keystone; Fernet tokens are about 200 bytes, PKI
	// tokens were a few KiB.
	maxTokenLength = 8 << 10
)

// keystone validates callers' tokens with the service's own token (Keystone's GET
// /v3/auth/tokens with X-Subject-Token).
type keystone struct {
	identity *gophercloud.ServiceClient
	now      func() time.Time
	// ttl bounds how long a validation is trusted; 0 caches nothing.
	ttl time.Duration

	mu    sync.Mutex
	cache map[[sha256.Size]byte]cachedToken
}

type cachedToken struct {
	principal Principal
	until     time.Time
}

func newKeystone(identity *gophercloud.ServiceClient, now func() time.Time, ttl time.Duration) *keystone {
	return &keystone{identity: identity, now: now, ttl: ttl, cache: map[[sha256.Size]byte]cachedToken{}}
}

// validate returns the token's principal; errInvalidToken when Keystone refuses it, an
// errUnavailable error when Keystone cannot say.
func (k *keystone) validate(ctx context.Context, token string) (Principal, error) {
	if len(token) > maxTokenLength {
		return Principal{}, errInvalidToken
	}
	key := sha256.Sum256([]byte(token))
	now := k.now()
	k.mu.Lock()
	c, ok := k.cache[key]
	k.mu.Unlock()
	if ok && now.Before(c.until) {
		return c.principal, nil
	}

	res := tokens.Get(ctx, k.identity, token)
	if res.Err != nil {
		// Keystone answers 404 for a token it does not know or that expired. Anything else,
		// a 401 included (the service's own token failed even after re-authenticating), is
		// the control plane's problem, not the caller's.
		if gophercloud.ResponseCodeIs(res.Err, http.StatusNotFound) {
			return Principal{}, errInvalidToken
		}
		return Principal{}, unavailable("validate token with Keystone", res.Err)
	}
	tok, err := res.ExtractToken()
	if err != nil {
		return Principal{}, unavailable("read Keystone token", err)
	}
	project, err := res.ExtractProject()
	if err != nil {
		return Principal{}, unavailable("read Keystone token", err)
	}
	if project == nil || project.ID == "" {
		// A domain- or system-scoped token names no project to act in.
		return Principal{}, errInvalidToken
	}
	user, err := res.ExtractUser()
	if err != nil || user == nil {
		return Principal{}, unavailable("read Keystone token", errors.Join(err, errors.New("no user")))
	}
	roles, err := res.ExtractRoles()
	if err != nil {
		return Principal{}, unavailable("read Keystone token", err)
	}
	if !tok.ExpiresAt.IsZero() && !now.Before(tok.ExpiresAt) {
		return Principal{}, errInvalidToken
	}
	p := Principal{UserID: user.ID, UserName: user.Name, ProjectID: project.ID, ExpiresAt: tok.ExpiresAt}
	for _, r := range roles {
		p.Roles = append(p.Roles, r.Name)
	}

	if k.ttl <= 0 {
		return p, nil
	}
	until := now.Add(k.ttl)
	if !tok.ExpiresAt.IsZero() && tok.ExpiresAt.Before(until) {
		until = tok.ExpiresAt
	}
	k.remember(key, cachedToken{principal: p, until: until}, now)
	return p, nil
}

// remember caches a validation, first dropping expired entries and then, if the cache is
// still full, an arbitrary one.
func (k *keystone) remember(key [sha256.Size]byte, c cachedToken, now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.cache) >= maxCachedTokens {
		for key, c := range k.cache {
			if !now.Before(c.until) {
				delete(k.cache, key)
			}
		}
	}
	for key := range k.cache {
		if len(k.cache) < maxCachedTokens {
			break
		}
		delete(k.cache, key)
	}
	k.cache[key] = c
}

// authenticate is the middleware of every /v1.0/{project_id} route: the caller's
// X-Auth-Token must be valid (401 otherwise) and scoped to the project in the path (403
// otherwise, as Trove's TenantBasedAuth).
func (s *Server) authenticate(ctx huma.Context, next func(huma.Context)) {
	token := ctx.Header("X-Auth-Token")
	if token == "" {
		writeHumaFault(ctx, unauthorized("This server could not verify that you are authorized to access the document you requested."))
		return
	}
	p, err := s.keystone.validate(ctx.Context(), token)
	switch {
	case errors.Is(err, errInvalidToken):
		writeHumaFault(ctx, unauthorized("The request you have made requires authentication."))
		return
	case err != nil:
		writeHumaFault(ctx, faultFor(ctx.Context(), s.log, err, "token"))
		return
	}
	if project := ctx.Param("project_id"); project != p.ProjectID {
		writeHumaFault(ctx, forbidden("User does not have admin privileges or is not authorized to act in project %s.", project))
		return
	}
	next(huma.WithValue(ctx, principalKey{}, p))
}

// requireAdmin refuses callers without Keystone's admin role.
func requireAdmin(ctx context.Context) error {
	if !principalFrom(ctx).IsAdmin() {
		return forbidden("User does not have admin privileges.")
	}
	return nil
}
