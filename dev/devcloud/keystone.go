package devcloud

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

// keystoneTime is the timestamp format Keystone writes.
const keystoneTime = "2006-01-02T15:04:05.000000Z"

const (
	domainID   = "default"
	domainName = "Default"
)

func (c *Cloud) routeIdentity() {
	c.routePublic("identity", "versions", "GET /identity/{$}", c.identityVersions)
	c.routePublic("identity", "version", "GET /identity/v3/{$}", c.identityVersion)
	c.routePublic("identity", "version", "GET /identity/v3", c.identityVersion)
	c.routePublic("identity", "token.create", "POST /identity/v3/auth/tokens", c.createToken)
	c.route("identity", "token.validate", "GET /identity/v3/auth/tokens", c.validateToken)
	c.route("identity", "token.check", "HEAD /identity/v3/auth/tokens", c.validateToken)
	c.route("identity", "token.revoke", "DELETE /identity/v3/auth/tokens", c.revokeToken)
	c.route("identity", "catalog.get", "GET /identity/v3/auth/catalog", func(w http.ResponseWriter, _ *http.Request, tok *token) {
		writeJSON(w, http.StatusOK, map[string]any{"catalog": c.catalog(tok.ProjectID)})
	})
	c.route("identity", "projects.list", "GET /identity/v3/auth/projects", func(w http.ResponseWriter, _ *http.Request, tok *token) {
		writeJSON(w, http.StatusOK, map[string]any{"projects": []any{c.projectView(tok.ProjectName)}})
	})
}

func (c *Cloud) versionDoc() map[string]any {
	return map[string]any{
		"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
		"links":       []any{map[string]any{"rel": "self", "href": c.baseURL + "/identity/v3/"}},
		"media-types": []any{map[string]any{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}},
	}
}

func (c *Cloud) identityVersions(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusMultipleChoices, map[string]any{"versions": map[string]any{"values": []any{c.versionDoc()}}})
}

func (c *Cloud) identityVersion(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"version": c.versionDoc()})
}

// authRequest is the body of POST /v3/auth/tokens.
type authRequest struct {
	Auth struct {
		Identity struct {
			Methods  []string `json:"methods"`
			Password *struct {
				User struct {
					ID       string     `json:"id"`
					Name     string     `json:"name"`
					Password string     `json:"password"`
					Domain   *domainRef `json:"domain"`
				} `json:"user"`
			} `json:"password"`
			Token *struct {
				ID string `json:"id"`
			} `json:"token"`
		} `json:"identity"`
		Scope any `json:"scope"` // "unscoped" or an object; decoded below
	} `json:"auth"`
}

type domainRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

func (d *domainRef) isDefault() bool {
	return d != nil && (d.ID == domainID || (d.ID == "" && d.Name == domainName))
}

type projectScope struct {
	ID     string     `json:"id"`
	Name   string     `json:"name"`
	Domain *domainRef `json:"domain"`
}

func (c *Cloud) createToken(w http.ResponseWriter, r *http.Request) {
	var req authRequest
	if err := readJSON(r, &req); err != nil {
		c.fail(w, "identity", http.StatusBadRequest, "%v", err)
		return
	}
	id := req.Auth.Identity
	var user *User
	var methods []string
	switch {
	case slices.Contains(id.Methods, "password") && id.Password != nil:
		pu := id.Password.User
		if pu.ID == "" && pu.Name == "" {
			c.fail(w, "identity", http.StatusBadRequest, "Expecting to find id or name in user - the server could not comply with the request since it is either malformed or otherwise incorrect.")
			return
		}
		if pu.ID == "" && pu.Domain == nil {
			c.fail(w, "identity", http.StatusBadRequest, "Expecting to find domain in user - the server could not comply with the request since it is either malformed or otherwise incorrect.")
			return
		}
		user = c.findUser(pu.ID, pu.Name)
		if user == nil || (pu.ID == "" && !pu.Domain.isDefault()) || user.Password != pu.Password {
			c.fail(w, "identity", http.StatusUnauthorized, "The request you have made requires authentication.")
			return
		}
		methods = []string{"password"}
	case slices.Contains(id.Methods, "token") && id.Token != nil:
		c.mu.Lock()
		old := c.st.Tokens[id.Token.ID]
		c.mu.Unlock()
		if old == nil || c.now().After(old.ExpiresAt) {
			c.fail(w, "identity", http.StatusUnauthorized, "The request you have made requires authentication.")
			return
		}
		user = c.findUser(old.UserID, "")
		methods = []string{"token"}
	default:
		c.fail(w, "identity", http.StatusBadRequest, "Expecting to find password or token in identity - the server could not comply with the request since it is either malformed or otherwise incorrect.")
		return
	}
	if user == nil {
		c.fail(w, "identity", http.StatusUnauthorized, "The request you have made requires authentication.")
		return
	}

	scope, ok := req.Auth.Scope.(map[string]any)
	if !ok || scope["project"] == nil {
		c.fail(w, "identity", http.StatusUnauthorized, "The devcloud issues project-scoped tokens only: name a project in auth.scope.project.")
		return
	}
	var ps projectScope
	if err := remarshal(scope["project"], &ps); err != nil || (ps.ID == "" && ps.Name == "") {
		c.fail(w, "identity", http.StatusBadRequest, "Expecting to find id or name in project - the server could not comply with the request since it is either malformed or otherwise incorrect.")
		return
	}
	if ps.ID == "" && ps.Domain == nil {
		c.fail(w, "identity", http.StatusBadRequest, "Expecting to find domain in project - the server could not comply with the request since it is either malformed or otherwise incorrect.")
		return
	}
	projectID := keystoneID("project", user.Project)
	if (ps.ID != "" && ps.ID != projectID) || (ps.ID == "" && (ps.Name != user.Project || !ps.Domain.isDefault())) {
		c.fail(w, "identity", http.StatusUnauthorized, "User %s has no access to project %s%s.", keystoneID("user", user.Name), ps.ID, ps.Name)
		return
	}

	now := c.now()
	tok := &token{
		ID:          newTokenID(),
		UserID:      keystoneID("user", user.Name),
		UserName:    user.Name,
		ProjectID:   projectID,
		ProjectName: user.Project,
		Roles:       slices.Clone(user.Roles),
		Methods:     methods,
		IssuedAt:    now,
		ExpiresAt:   now.Add(c.cfg.TokenTTL),
	}
	c.mu.Lock()
	c.st.Tokens[tok.ID] = tok
	c.saveLocked()
	c.mu.Unlock()

	w.Header().Set("X-Subject-Token", tok.ID)
	writeJSON(w, http.StatusCreated, map[string]any{"token": c.tokenView(tok, !r.URL.Query().Has("nocatalog"))})
}

// validateToken answers GET and HEAD /v3/auth/tokens: a service (admin or service role) may
// validate any token, anyone their own.
func (c *Cloud) validateToken(w http.ResponseWriter, r *http.Request, caller *token) {
	subjectID := r.Header.Get("X-Subject-Token")
	if subjectID == "" {
		c.fail(w, "identity", http.StatusBadRequest, "Expecting to find X-Subject-Token in the request headers.")
		return
	}
	if subjectID != caller.ID && !caller.isAdmin() && !caller.hasRole("service") {
		c.fail(w, "identity", http.StatusForbidden, "You are not authorized to perform the requested action: identity:validate_token.")
		return
	}
	c.mu.Lock()
	subject := c.st.Tokens[subjectID]
	c.mu.Unlock()
	if subject == nil || c.now().After(subject.ExpiresAt) {
		c.fail(w, "identity", http.StatusNotFound, "Could not find token: %s.", subjectID)
		return
	}
	w.Header().Set("X-Subject-Token", subjectID)
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"token": c.tokenView(subject, !r.URL.Query().Has("nocatalog"))})
}

func (c *Cloud) revokeToken(w http.ResponseWriter, r *http.Request, caller *token) {
	subjectID := r.Header.Get("X-Subject-Token")
	if subjectID != caller.ID && !caller.isAdmin() {
		c.fail(w, "identity", http.StatusForbidden, "You are not authorized to perform the requested action: identity:revoke_token.")
		return
	}
	c.mu.Lock()
	_, found := c.st.Tokens[subjectID]
	delete(c.st.Tokens, subjectID)
	c.saveLocked()
	c.mu.Unlock()
	if !found {
		c.fail(w, "identity", http.StatusNotFound, "Could not find token: %s.", subjectID)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// findUser looks a configured user up by ID or, when id is empty, by name.
func (c *Cloud) findUser(id, name string) *User {
	for i := range c.cfg.Users {
		u := &c.cfg.Users[i]
		if (id != "" && keystoneID("user", u.Name) == id) || (id == "" && u.Name == name) {
			return u
		}
	}
	return nil
}

// projectIDByName returns the ID of a configured project, for tests and seeding.
func (c *Cloud) projectIDByName(name string) string { return keystoneID("project", name) }

func (c *Cloud) projectView(name string) map[string]any {
	return map[string]any{
		"id": keystoneID("project", name), "name": name, "domain_id": domainID,
		"domain": map[string]any{"id": domainID, "name": domainName}, "enabled": true, "is_domain": false,
	}
}

func (c *Cloud) tokenView(t *token, withCatalog bool) map[string]any {
	roles := make([]any, 0, len(t.Roles))
	for _, r := range t.Roles {
		roles = append(roles, map[string]any{"id": keystoneID("role", r), "name": r})
	}
	v := map[string]any{
		"methods":    t.Methods,
		"audit_ids":  []string{t.ID[:22]},
		"issued_at":  t.IssuedAt.Format(keystoneTime),
		"expires_at": t.ExpiresAt.Format(keystoneTime),
		"is_domain":  false,
		"user": map[string]any{
			"id": t.UserID, "name": t.UserName, "password_expires_at": nil,
			"domain": map[string]any{"id": domainID, "name": domainName},
		},
		"project": c.projectView(t.ProjectName),
		"roles":   roles,
	}
	if withCatalog {
		v["catalog"] = c.catalog(t.ProjectID)
	}
	return v
}

// catalog lists every service's endpoints for a project, as Keystone's templated catalog
// would after substituting the project ID.
func (c *Cloud) catalog(projectID string) []any {
	services := []struct{ typ, name, url string }{
		{"identity", "keystone", c.baseURL + "/identity/v3/"},
		{"compute", "nova", c.baseURL + "/compute/v2.1"},
		{"volumev3", "cinderv3", c.baseURL + "/volume/v3/" + projectID},
		{"block-storage", "cinder", c.baseURL + "/volume/v3/" + projectID},
		{"network", "neutron", c.baseURL + "/network/"},
		{"image", "glance", c.baseURL + "/image/"},
		{"object-store", "swift", c.baseURL + "/object-store/v1/AUTH_" + projectID},
		{"database", "trove", strings.TrimRight(c.cfg.DatabaseURL, "/") + "/v1.0/" + projectID},
	}
	out := make([]any, 0, len(services))
	for _, s := range services {
		var eps []any
		for _, iface := range []string{"public", "internal", "admin"} {
			eps = append(eps, map[string]any{
				"id": keystoneID("endpoint", s.typ+"/"+iface), "interface": iface,
				"region": c.cfg.Region, "region_id": c.cfg.Region, "url": s.url,
			})
		}
		out = append(out, map[string]any{"id": keystoneID("service", s.typ), "type": s.typ, "name": s.name, "endpoints": eps})
	}
	return out
}

func newTokenID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "gAAAAA" + hex.EncodeToString(b)
}

// remarshal converts a decoded JSON value into a typed one.
func remarshal(in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}
