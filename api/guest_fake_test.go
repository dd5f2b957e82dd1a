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
	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/workflows"
)

// fakeGuest is the instances' engines as their guest agents would manage them, with the
// guest's rules (system names, missing and existing names).
type fakeGuest struct {
	mu      sync.Mutex
	engines map[string]*fakeEngine
	// silent instances' guests never answer.
	silent map[string]bool
	calls  []string
	// hold, when a test sets it (before its requests), runs first in every call with the
	// request's context: where a test makes a handler slow.
	hold func(ctx context.Context)
}

type fakeEngine struct {
	databases map[string]coffer.Database
	users     map[string]guest.UserInfo
	passwords map[string]string
	root      bool
}

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

func (w *fakeWorkflows) CallGuest(ctx context.Context, call api.GuestCall, in, out any) error {
	if w.guest.hold != nil {
		w.guest.hold(ctx)
	}
	return w.runGuest(call, in, out)
}

func (w *fakeWorkflows) ChangeGuest(ctx context.Context, call api.GuestCall, in any, _ time.Duration) error {
	if w.guest.hold != nil {
		w.guest.hold(ctx)
	}
	return w.runGuest(call, in, nil)
}

// GuestLog is the end-to-end tests' (e2e/logs_test.go): the fake has no logs to publish.
func (w *fakeWorkflows) GuestLog(_ context.Context, in workflows.GuestLogInput, _ time.Duration) (guest.LogInfo, error) {
	return guest.LogInfo{}, refuse(in.InstanceID, guest.ErrNotFound, "log %s: not found", in.Log)
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
