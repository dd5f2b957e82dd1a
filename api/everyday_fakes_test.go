package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/api"
	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/guest"
)

// everydayCatalog is the fake catalog's quotas, root history and version details.
type everydayCatalog struct {
	quotas map[string]catalog.QuotaLimits
	ram    map[string]int
	root   map[string]catalog.RootHistory
}

func (c *fakeCatalog) usage(projectID string) map[string]int {
	use := map[string]int{}
	for _, inst := range c.instances {
		if inst.ProjectID == projectID {
			use[catalog.ResourceInstances]++
			use[catalog.ResourceVolumes] += inst.VolumeSize
			use[catalog.ResourceRAM] += c.everyday.ram[inst.ID]
		}
	}
	return use
}

func (c *fakeCatalog) quotasLocked(projectID string, defaults catalog.QuotaLimits) []catalog.Quota {
	use := c.usage(projectID)
	var out []catalog.Quota
	for _, r := range catalog.QuotaResources {
		limit, ok := c.everyday.quotas[projectID][r]
		if !ok {
			limit, ok = defaults[r]
		}
		if !ok {
			limit = catalog.Unlimited
		}
		out = append(out, catalog.Quota{Resource: r, Limit: limit, InUse: use[r]})
	}
	return out
}

func (c *fakeCatalog) CreateInstanceWithinQuota(_ context.Context, inst *coffer.Instance, ramMB int, defaults catalog.QuotaLimits) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	want := map[string]int{catalog.ResourceInstances: 1, catalog.ResourceRAM: ramMB, catalog.ResourceVolumes: inst.VolumeSize}
	e := &catalog.QuotaExceededError{ProjectID: inst.ProjectID}
	for _, q := range c.quotasLocked(inst.ProjectID, defaults) {
		if n, ok := want[q.Resource]; ok && q.Limit != catalog.Unlimited && q.InUse+n > q.Limit {
			e.Over = append(e.Over, q)
		}
	}
	if len(e.Over) > 0 {
		return e
	}
	cp := *inst
	c.instances = append(c.instances, &cp)
	if c.everyday.ram == nil {
		c.everyday.ram = map[string]int{}
	}
	c.everyday.ram[inst.ID] = ramMB
	return nil
}

func (c *fakeCatalog) ProjectQuotas(_ context.Context, projectID string, defaults catalog.QuotaLimits) ([]catalog.Quota, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.quotasLocked(projectID, defaults), nil
}

func (c *fakeCatalog) SetQuotas(_ context.Context, projectID string, limits catalog.QuotaLimits) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.everyday.quotas == nil {
		c.everyday.quotas = map[string]catalog.QuotaLimits{}
	}
	if c.everyday.quotas[projectID] == nil {
		c.everyday.quotas[projectID] = catalog.QuotaLimits{}
	}
	maps.Copy(c.everyday.quotas[projectID], limits)
	return nil
}

func (c *fakeCatalog) RenameInstance(_ context.Context, projectID, id, name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	inst := c.find(projectID, id)
	if inst == nil {
		return catalog.ErrNotFound
	}
	inst.Name = name
	return nil
}

func (c *fakeCatalog) RecordRootEnabled(_ context.Context, instanceID, userID string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.everyday.root == nil {
		c.everyday.root = map[string]catalog.RootHistory{}
	}
	c.everyday.root[instanceID] = catalog.RootHistory{InstanceID: instanceID, UserID: userID, Enabled: time.Now().UTC()}
	return nil
}

func (c *fakeCatalog) RecordRootDisabled(context.Context, string) error { return nil }

func (c *fakeCatalog) GetRootHistory(_ context.Context, instanceID string) (catalog.RootHistory, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.everyday.root[instanceID]
	if !ok {
		return h, catalog.ErrNotFound
	}
	return h, nil
}

func (c *fakeCatalog) ListDatastores(context.Context) ([]catalog.Datastore, error) {
	var out []catalog.Datastore
	for _, v := range c.versions {
		if !v.Active {
			continue
		}
		if n := len(out); n == 0 || out[n-1].Name != v.Datastore {
			out = append(out, catalog.Datastore{ID: "ds-" + v.Datastore, Name: v.Datastore})
		}
		d := &out[len(out)-1]
		if v.ID == "pg15" || v.ID == "my80" {
			d.DefaultVersion = v.Name
		}
		d.Versions = append(d.Versions, v)
	}
	return out, nil
}

func (c *fakeCatalog) detail(v catalog.DatastoreVersion) catalog.VersionDetail {
	return catalog.VersionDetail{DatastoreVersion: v, DatastoreID: "ds-" + v.Datastore, Default: v.ID == "pg15" || v.ID == "my80", Manager: v.Datastore}
}

func (c *fakeCatalog) ListVersionDetails(context.Context) ([]catalog.VersionDetail, error) {
	var out []catalog.VersionDetail
	for _, v := range c.versions {
		out = append(out, c.detail(v))
	}
	return out, nil
}

func (c *fakeCatalog) GetVersionDetail(_ context.Context, id string) (catalog.VersionDetail, error) {
	for _, v := range c.versions {
		if v.ID == id {
			return c.detail(v), nil
		}
	}
	return catalog.VersionDetail{}, catalog.ErrNotFound
}

func (c *fakeCatalog) CreateVersion(_ context.Context, nv catalog.NewVersion) (catalog.VersionDetail, error) {
	for _, v := range c.versions {
		if v.Datastore == nv.Datastore && v.Name == nv.Name {
			return catalog.VersionDetail{}, catalog.ErrExists
		}
	}
	v := catalog.DatastoreVersion{ID: nv.Datastore + nv.Name, Datastore: nv.Datastore, Name: nv.Name, ImageTag: nv.ImageTag, Port: nv.Port, Active: nv.Active}
	c.versions = append(c.versions, v)
	return c.detail(v), nil
}

func (c *fakeCatalog) UpdateVersion(_ context.Context, id string, ch catalog.VersionChange) (catalog.VersionDetail, error) {
	for i, v := range c.versions {
		if v.ID == id {
			if ch.Active != nil {
				c.versions[i].Active = *ch.Active
			}
			return c.detail(c.versions[i]), nil
		}
	}
	return catalog.VersionDetail{}, catalog.ErrNotFound
}

func (c *fakeCatalog) DeleteVersion(_ context.Context, id string) error {
	n := len(c.versions)
	c.versions = slices.DeleteFunc(c.versions, func(v catalog.DatastoreVersion) bool { return v.ID == id })
	if len(c.versions) == n {
		return catalog.ErrNotFound
	}
	return nil
}

// fakeGuest is the instances' engines as their guest agents would manage them, with the
// guest's rules (system names, missing and existing names).
type fakeGuest struct {
	mu      sync.Mutex
	engines map[string]*fakeEngine
	// silent instances' guests never answer.
	silent map[string]bool
	calls  []string
}

type fakeEngine struct {
	databases map[string]coffer.Database
	users     map[string]guest.UserInfo
	passwords map[string]string
	root      bool
}

var _ api.Guest = (*fakeWorkflows)(nil)

func (g *fakeGuest) engine(id string) *fakeEngine {
	if g.engines == nil {
		g.engines = map[string]*fakeEngine{}
	}
	e, ok := g.engines[id]
	if !ok {
		e = &fakeEngine{databases: map[string]coffer.Database{}, users: map[string]guest.UserInfo{}, passwords: map[string]string{}}
		g.engines[id] = e
	}
	return e
}

// snapshot is an engine's state, to check that a refused request changed nothing.
func (w *fakeWorkflows) snapshot(id string) string {
	w.guest.mu.Lock()
	defer w.guest.mu.Unlock()
	e := w.guest.engine(id)
	b, _ := json.Marshal([]any{e.databases, e.users, e.passwords, e.root})
	return string(b)
}

func (w *fakeWorkflows) silence(id string) {
	w.guest.mu.Lock()
	defer w.guest.mu.Unlock()
	if w.guest.silent == nil {
		w.guest.silent = map[string]bool{}
	}
	w.guest.silent[id] = true
}

func (w *fakeWorkflows) CallGuest(_ context.Context, call api.GuestCall, in, out any) error {
	return w.runGuest(call, in, out)
}

func (w *fakeWorkflows) ChangeGuest(_ context.Context, call api.GuestCall, in any, _ time.Duration) error {
	return w.runGuest(call, in, nil)
}

func refuse(id, kind, format string, args ...any) error {
	return &api.GuestError{InstanceID: id, Kind: kind, Message: fmt.Sprintf(format, args...)}
}

func (w *fakeWorkflows) runGuest(call api.GuestCall, in, out any) error {
	g := &w.guest
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls = append(g.calls, call.Activity)
	if g.silent[call.InstanceID] {
		return refuse(call.InstanceID, api.GuestTimeout, "it did not pick the call up in time")
	}
	// Through JSON, as Temporal carries it.
	b, _ := json.Marshal(in)
	e := g.engine(call.InstanceID)
	id := call.InstanceID
	var result any
	switch call.Activity {
	case guest.ListDatabasesActivity:
		dbs := []coffer.Database{}
		for _, n := range slices.Sorted(maps.Keys(e.databases)) {
			dbs = append(dbs, e.databases[n])
		}
		result = dbs
	case guest.CreateDatabasesActivity:
		var dbs []coffer.Database
		_ = json.Unmarshal(b, &dbs)
		for _, d := range dbs {
			e.databases[d.Name] = d
		}
	case guest.DeleteDatabaseActivity:
		var ref guest.DatabaseRef
		_ = json.Unmarshal(b, &ref)
		if _, ok := e.databases[ref.Name]; !ok {
			return refuse(id, guest.ErrNotFound, "database %s: not found", ref.Name)
		}
		delete(e.databases, ref.Name)
	case guest.ListUsersActivity:
		users := []guest.UserInfo{}
		for _, n := range slices.Sorted(maps.Keys(e.users)) {
			users = append(users, e.users[n])
		}
		result = users
	case guest.CreateUsersActivity:
		var users []coffer.User
		_ = json.Unmarshal(b, &users)
		for _, u := range users {
			host := u.Host
			if host == "" {
				host = "%"
			}
			e.users[u.Name] = guest.UserInfo{Name: u.Name, Host: host, Databases: append([]string{}, u.Databases...)}
			e.passwords[u.Name] = u.Password
		}
	case guest.GetUserActivity, guest.ListAccessActivity, guest.DeleteUserActivity:
		var ref guest.UserRef
		_ = json.Unmarshal(b, &ref)
		u, ok := e.users[ref.Name]
		if !ok || u.Host != ref.Host {
			return refuse(id, guest.ErrNotFound, "user %s@%s: not found", ref.Name, ref.Host)
		}
		switch call.Activity {
		case guest.GetUserActivity:
			result = u
		case guest.ListAccessActivity:
			result = u.Databases
		default:
			delete(e.users, ref.Name)
			delete(e.passwords, ref.Name)
		}
	case guest.UpdateUserActivity:
		var up guest.UpdateUserInput
		_ = json.Unmarshal(b, &up)
		u := e.users[up.Name]
		if up.NewName != "" {
			delete(e.users, up.Name)
			e.passwords[up.NewName] = e.passwords[up.Name]
			delete(e.passwords, up.Name)
			u.Name = up.NewName
		}
		if up.NewHost != "" {
			u.Host = up.NewHost
		}
		if up.Password != "" {
			e.passwords[u.Name] = up.Password
		}
		e.users[u.Name] = u
	case guest.ChangePasswordsActivity:
		var users []coffer.User
		_ = json.Unmarshal(b, &users)
		for _, u := range users {
			e.passwords[u.Name] = u.Password
		}
	case guest.GrantAccessActivity, guest.RevokeAccessActivity:
		var a guest.AccessInput
		_ = json.Unmarshal(b, &a)
		u := e.users[a.Name]
		for _, d := range a.Databases {
			u.Databases = slices.DeleteFunc(u.Databases, func(x string) bool { return x == d })
			if call.Activity == guest.GrantAccessActivity {
				u.Databases = append(u.Databases, d)
			}
		}
		slices.Sort(u.Databases)
		e.users[a.Name] = u
	case guest.EnableRootActivity:
		e.root = true
	case guest.DisableRootActivity:
		e.root = false
	case guest.RootEnabledActivity:
		result = e.root
	default:
		return fmt.Errorf("fake guest: unknown activity %s", call.Activity)
	}
	if out != nil && result != nil {
		rb, _ := json.Marshal(result)
		return json.Unmarshal(rb, out)
	}
	return nil
}
