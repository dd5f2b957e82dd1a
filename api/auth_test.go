package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/instances"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/config"
	"github.com/coffer-dbaas/coffer/dev/devcloud"
)

// TestAuthenticationAndProjectScoping checks Keystone auth: no or bad token 401, a path of
// another project 403, another project's instance 404, Keystone failing 503.
func TestAuthenticationAndProjectScoping(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	alt := h.login("alt_demo")
	theirs := h.addInstance(alt.projectID, "theirs", coffer.TaskNone)
	list := "/v1.0/" + demo.projectID + "/instances"

	r := h.do(http.MethodGet, list, "", nil)
	wantFault(t, "no token", r, http.StatusUnauthorized, "unauthorized")
	r = h.do(http.MethodGet, list, "gAAAAAnot-a-token", nil)
	wantFault(t, "unknown token", r, http.StatusUnauthorized, "unauthorized")
	r = h.do(http.MethodPost, list, "", `{"instance": {}}`)
	wantFault(t, "create without token", r, http.StatusUnauthorized, "unauthorized")

	r = h.do(http.MethodGet, "/v1.0/"+alt.projectID+"/instances", demo.token, nil)
	wantFault(t, "another project's path", r, http.StatusForbidden, "forbidden")
	r = h.do(http.MethodDelete, "/v1.0/"+alt.projectID+"/instances/"+theirs, demo.token, nil)
	wantFault(t, "delete in another project's path", r, http.StatusForbidden, "forbidden")

	_, err := instances.Get(context.Background(), demo.db, theirs).Extract()
	if !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		t.Errorf("another project's instance: got %v, want HTTP 404", err)
	}
	r = h.do(http.MethodGet, list+"/"+theirs, demo.token, nil)
	wantFault(t, "another project's instance", r, http.StatusNotFound, "itemNotFound")
	r = h.do(http.MethodDelete, list+"/"+theirs, demo.token, nil)
	wantFault(t, "delete another project's instance", r, http.StatusNotFound, "itemNotFound")
	r = h.do(http.MethodGet, list+"/"+uuid.NewString(), demo.token, nil)
	wantFault(t, "unknown instance", r, http.StatusNotFound, "itemNotFound")
	r = h.do(http.MethodGet, list+"/not-a-uuid", demo.token, nil)
	wantFault(t, "instance ID that is no UUID", r, http.StatusNotFound, "itemNotFound")
	if got := h.instances()[0]; got.Task != coffer.TaskNone {
		t.Errorf("their instance: got task %s, want NONE", got.Task)
	}

	// The token of alt_demo is cached by now; a new token needs Keystone, which fails.
	admin := h.login("admin")
	base := devcloud.AdminBaseURL(h.cloud.IdentityURL())
	if _, err := devcloud.InjectFault(context.Background(), admin.provider, base, devcloud.Fault{
		Service: "identity", Operation: "token.validate", Status: http.StatusServiceUnavailable,
	}); err != nil {
		t.Fatal(err)
	}
	fresh := h.login("demo")
	r = h.do(http.MethodGet, list, fresh.token, nil)
	wantFault(t, "Keystone failing", r, http.StatusServiceUnavailable, "serviceUnavailable")
	r = h.do(http.MethodGet, list, demo.token, nil)
	if r.status != http.StatusOK {
		t.Errorf("cached token while Keystone fails: got HTTP %d %s, want 200", r.status, r.body)
	}
}

// TestRevokedTokenStopsWorkingWithinTheCacheWindow revokes a token at Keystone: it keeps
// working only while its validation is cached, at most api.token_cache_ttl.
func TestRevokedTokenStopsWorkingWithinTheCacheWindow(t *testing.T) {
	for _, tc := range []struct {
		name string
		ttl  time.Duration
	}{{"no cache", 0}, {"short cache", 500 * time.Millisecond}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *config.Config) { c.API.TokenCacheTTL = tc.ttl })
			demo := h.login("demo")
			list := "/v1.0/" + demo.projectID + "/instances"
			if r := h.do(http.MethodGet, list, demo.token, nil); r.status != http.StatusOK {
				t.Fatalf("before the revocation: got %d %s", r.status, r.body)
			}
			identity, err := openstack.NewIdentityV3(demo.provider, gophercloud.EndpointOpts{})
			if err != nil {
				t.Fatal(err)
			}
			if err := tokens.Revoke(context.Background(), identity, demo.token).Err; err != nil {
				t.Fatalf("revoke: %v", err)
			}
			revoked := time.Now()
			for {
				r := h.do(http.MethodGet, list, demo.token, nil)
				if r.status == http.StatusUnauthorized {
					break
				}
				if r.status != http.StatusOK || time.Since(revoked) > tc.ttl+time.Second {
					t.Fatalf("%s after the revocation: got %d %s, want 401 within %s", time.Since(revoked), r.status, r.body, tc.ttl)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// TestForwardedHeadersAreTrustedOnlyFromConfiguredProxies checks the links in bodies: a
// client cannot point them elsewhere with X-Forwarded-Host, a configured proxy can.
func TestForwardedHeadersAreTrustedOnlyFromConfiguredProxies(t *testing.T) {
	for _, tc := range []struct {
		name    string
		proxies string
		host    string
		want    string
	}{
		{"no proxy configured", "", "evil.example", "http://127.0.0.1"},
		{"another proxy configured", "10.0.0.0/8", "evil.example", "http://127.0.0.1"},
		{"the caller is a trusted proxy", "127.0.0.0/8", "db.example.com:8779", "https://db.example.com:8779"},
		{"a trusted proxy forwards no host", "127.0.0.1", "evil.example/x?", "https://127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *config.Config) { c.API.TrustedProxies = tc.proxies })
			demo := h.login("demo")
			id := h.activeInstance(demo.projectID)
			req, err := http.NewRequest(http.MethodGet, h.url+"/v1.0/"+demo.projectID+"/instances/"+id, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Auth-Token", demo.token)
			req.Header.Set("X-Forwarded-Host", tc.host)
			req.Header.Set("X-Forwarded-Proto", "https")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Instance struct {
					Links []struct{ Href string } `json:"links"`
				} `json:"instance"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || len(body.Instance.Links) == 0 {
				t.Fatalf("show: status %d, %v", resp.StatusCode, err)
			}
			if href := body.Instance.Links[0].Href; !strings.HasPrefix(href, tc.want+"/") && !strings.HasPrefix(href, tc.want+":") {
				t.Errorf("self link: got %s, want it under %s", href, tc.want)
			}
		})
	}
}
