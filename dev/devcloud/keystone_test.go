package devcloud_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"

	"github.com/coffer-dbaas/coffer/dev/devcloud"
)

// createToken authenticates with Keystone directly, without gophercloud's provider setup.
func createToken(t *testing.T, tc *testCloud, opts *tokens.AuthOptions) tokens.CreateResult {
	t.Helper()
	pc, err := openstack.NewClient(tc.identityURL())
	if err != nil {
		t.Fatal(err)
	}
	id, err := openstack.NewIdentityV3(pc, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	return tokens.Create(context.Background(), id, opts)
}

func TestPasswordAuthGivesProjectTokenWithCatalogAndRoles(t *testing.T) {
	tc := startCloud(t)
	res := createToken(t, tc, &tokens.AuthOptions{
		Username: "demo", Password: "demo", DomainName: "Default",
		Scope: tokens.Scope{ProjectName: "demo", DomainName: "Default"},
	})
	tok, err := res.ExtractToken()
	if err != nil {
		t.Fatal(err)
	}
	if tok.ID == "" || time.Until(tok.ExpiresAt) < time.Hour {
		t.Fatalf("got token %q expiring at %s, want an ID and a long life", tok.ID, tok.ExpiresAt)
	}
	project, err := res.ExtractProject()
	if err != nil || project.Name != "demo" || project.ID == "" {
		t.Fatalf("got project %+v (err %v), want demo", project, err)
	}
	user, err := res.ExtractUser()
	if err != nil || user.Name != "demo" || user.Domain.ID != "default" {
		t.Fatalf("got user %+v (err %v), want demo in domain default", user, err)
	}
	roles, err := res.ExtractRoles()
	if err != nil || len(roles) != 1 || roles[0].Name != "member" {
		t.Fatalf("got roles %+v (err %v), want [member]", roles, err)
	}
	catalog, err := res.ExtractServiceCatalog()
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range catalog.Entries {
		types = append(types, e.Type)
		for _, ep := range e.Endpoints {
			if ep.Region != "RegionOne" || ep.URL == "" {
				t.Errorf("service %s: endpoint %+v has no region or URL", e.Type, ep)
			}
		}
	}
	for _, want := range []string{"identity", "compute", "volumev3", "network", "image", "object-store", "database"} {
		if !slices.Contains(types, want) {
			t.Errorf("catalog has services %v, want %s among them", types, want)
		}
	}
	// The project-scoped endpoints carry the token's project.
	pc, err := openstack.NewClient(tc.identityURL())
	if err != nil {
		t.Fatal(err)
	}
	url, err := openstack.V3Endpoint(context.Background(), pc, catalog, gophercloud.EndpointOpts{Type: "object-store", Availability: gophercloud.AvailabilityPublic})
	if err != nil || strings.TrimSuffix(url, "/") != tc.cloud.URL()+"/object-store/v1/AUTH_"+project.ID {
		t.Errorf("got object-store URL %q (err %v), want one for AUTH_%s", url, err, project.ID)
	}
}

func TestAuthByUserIDAndProjectID(t *testing.T) {
	tc := startCloud(t)
	first := createToken(t, tc, &tokens.AuthOptions{
		Username: "demo", Password: "demo", DomainID: "default",
		Scope: tokens.Scope{ProjectName: "demo", DomainID: "default"},
	})
	user, err := first.ExtractUser()
	if err != nil {
		t.Fatal(err)
	}
	project, err := first.ExtractProject()
	if err != nil {
		t.Fatal(err)
	}
	byID := createToken(t, tc, &tokens.AuthOptions{UserID: user.ID, Password: "demo", Scope: tokens.Scope{ProjectID: project.ID}})
	p, err := byID.ExtractProject()
	if err != nil || p.ID != project.ID {
		t.Fatalf("got project %+v (err %v), want %s", p, err, project.ID)
	}
}

func TestTokenMethodRescopesAnExistingToken(t *testing.T) {
	tc := startCloud(t)
	first, err := createToken(t, tc, &tokens.AuthOptions{
		Username: "demo", Password: "demo", DomainName: "Default",
		Scope: tokens.Scope{ProjectName: "demo", DomainName: "Default"},
	}).ExtractToken()
	if err != nil {
		t.Fatal(err)
	}
	res := createToken(t, tc, &tokens.AuthOptions{TokenID: first.ID, Scope: tokens.Scope{ProjectName: "demo", DomainName: "Default"}})
	second, err := res.ExtractToken()
	if err != nil {
		t.Fatal(err)
	}
	if second.ID == first.ID {
		t.Fatal("token method returned the same token, want a new one")
	}
	user, err := res.ExtractUser()
	if err != nil || user.Name != "demo" {
		t.Fatalf("got user %+v (err %v), want demo", user, err)
	}
}

func TestAuthErrors(t *testing.T) {
	tc := startCloud(t)
	for _, tt := range []struct {
		name string
		opts tokens.AuthOptions
		want int
	}{
		{"wrong password", tokens.AuthOptions{Username: "demo", Password: "nope", DomainName: "Default", Scope: tokens.Scope{ProjectName: "demo", DomainName: "Default"}}, 401},
		{"unknown user", tokens.AuthOptions{Username: "nobody", Password: "demo", DomainName: "Default", Scope: tokens.Scope{ProjectName: "demo", DomainName: "Default"}}, 401},
		{"unscoped", tokens.AuthOptions{Username: "demo", Password: "demo", DomainName: "Default"}, 401},
		{"another user's project", tokens.AuthOptions{Username: "demo", Password: "demo", DomainName: "Default", Scope: tokens.Scope{ProjectName: "alt_demo", DomainName: "Default"}}, 401},
		{"bogus token", tokens.AuthOptions{TokenID: "gAAAAAnope", Scope: tokens.Scope{ProjectName: "demo", DomainName: "Default"}}, 401},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := createToken(t, tc, &tt.opts).ExtractToken()
			wantStatus(t, tt.name, err, tt.want)
			var body struct {
				Error struct {
					Code    int    `json:"code"`
					Title   string `json:"title"`
					Message string `json:"message"`
				} `json:"error"`
			}
			var ue gophercloud.ErrUnexpectedResponseCode
			if !errors.As(err, &ue) || json.Unmarshal(ue.Body, &body) != nil || body.Error.Code != tt.want || body.Error.Message == "" {
				t.Fatalf("got error body %s, want Keystone's {\"error\": {\"code\": %d, ...}}", ue.Body, tt.want)
			}
		})
	}
	// A password user named without a domain is malformed: 400.
	resp := rawRequest(t, http.MethodPost, tc.identityURL()+"auth/tokens", "",
		`{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"demo","password":"demo"}}},"scope":{"project":{"id":"x"}}}}`)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("user without domain: got %d, want 400", resp.StatusCode)
	}
}

func TestServicesValidateTokens(t *testing.T) {
	tc := startCloud(t)
	demo := tc.provider("demo")
	service := tc.identity("coffer")

	tok, err := tokens.Get(context.Background(), service, demo.Token()).ExtractToken()
	if err != nil {
		t.Fatalf("service validates demo's token: %v", err)
	}
	if tok.ID != demo.Token() {
		t.Fatalf("got token %q, want %q", tok.ID, demo.Token())
	}
	ok, err := tokens.Validate(context.Background(), service, demo.Token())
	if err != nil || !ok {
		t.Fatalf("HEAD validate: got %v, %v; want true", ok, err)
	}
	ok, err = tokens.Validate(context.Background(), service, "gAAAAAbogus")
	if err != nil || ok {
		t.Fatalf("HEAD validate of a bogus token: got %v, %v; want false", ok, err)
	}
	// A member may not look at another user's token.
	alt := tc.identity("alt_demo")
	_, err = tokens.Get(context.Background(), alt, demo.Token()).ExtractToken()
	wantStatus(t, "alt_demo validates demo's token", err, http.StatusForbidden)

	if err := tokens.Revoke(context.Background(), service, demo.Token()).Err; err != nil {
		t.Fatalf("revoke: %v", err)
	}
	_, err = tokens.Get(context.Background(), service, demo.Token()).ExtractToken()
	wantStatus(t, "get a revoked token", err, http.StatusNotFound)
}

func TestTokensExpire(t *testing.T) {
	tc := startCloud(t, func(c *devcloud.Config) { c.TokenTTL = 500 * time.Millisecond })
	demo := tc.provider("demo")
	if resp := rawRequest(t, http.MethodGet, tc.identityURL()+"auth/catalog", demo.Token(), ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("fresh token: got %d, want 200", resp.StatusCode)
	}
	time.Sleep(700 * time.Millisecond)
	if resp := rawRequest(t, http.MethodGet, tc.identityURL()+"auth/catalog", demo.Token(), ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("expired token: got %d, want 401", resp.StatusCode)
	}
}

func TestTokensSurviveRestart(t *testing.T) {
	tc := startCloud(t)
	demo := tc.provider("demo")
	tc.restart()
	if resp := rawRequest(t, http.MethodGet, tc.identityURL()+"auth/catalog", demo.Token(), ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("token after restart: got %d, want 200", resp.StatusCode)
	}
}

func TestEveryServiceRefusesRequestsWithoutToken(t *testing.T) {
	tc := startCloud(t)
	project := tc.provider("demo")
	projectID := projectIDOf(t, project)
	for _, path := range []string{
		"/identity/v3/auth/catalog",
		"/compute/v2.1/flavors",
		"/volume/v3/" + projectID + "/volumes",
		"/network/v2.0/ports",
		"/image/v2/images",
		"/object-store/v1/AUTH_" + projectID,
		"/devcloud/faults",
	} {
		for _, tok := range []string{"", "gAAAAAbogus"} {
			resp := rawRequest(t, http.MethodGet, tc.cloud.URL()+path, tok, "")
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("GET %s with token %q: got %d, want 401", path, tok, resp.StatusCode)
			}
		}
	}
}

// projectIDOf returns the project a provider client's token is scoped to.
func projectIDOf(t *testing.T, pc *gophercloud.ProviderClient) string {
	t.Helper()
	r, ok := pc.GetAuthResult().(tokens.CreateResult)
	if !ok {
		t.Fatalf("auth result is %T, want tokens.CreateResult", pc.GetAuthResult())
	}
	p, err := r.ExtractProject()
	if err != nil {
		t.Fatal(err)
	}
	return p.ID
}

// rawRequest sends one request with an optional token and JSON body and returns the
// response with its body read into memory and closed.
func rawRequest(t *testing.T, method, url, tok, body string) *http.Response {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("X-Auth-Token", tok)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}
