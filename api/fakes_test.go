package api_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/api"
	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/workflows"
)

// fakeCatalog is the catalog in memory, with the contract of catalog.Store: instances in
// creation order, per project, and one task at a time.
type fakeCatalog struct {
	mu        sync.Mutex
	instances []*coffer.Instance
	versions  []catalog.DatastoreVersion
	// broken, when set, is what reads answer, as a catalog whose database is gone.
	broken error
	// everyday holds quotas, root history and version details (everyday_fakes_test.go).
	everyday everydayCatalog
}

var _ api.Catalog = (*fakeCatalog)(nil)

func newFakeCatalog() *fakeCatalog {
	return &fakeCatalog{versions: []catalog.DatastoreVersion{
		{ID: "pg15", Datastore: "postgresql", Name: "15", ImageTag: "coffer-postgresql-15", Port: 5432, Active: true},
		{ID: "pg9", Datastore: "postgresql", Name: "9.6", ImageTag: "coffer-postgresql-9.6", Port: 5432, Active: false},
		{ID: "pg16", Datastore: "postgresql", Name: "16", ImageTag: "coffer-postgresql-16", Port: 5432, Active: true},
		{ID: "my80", Datastore: "mysql", Name: "8.0", ImageTag: "coffer-mysql-8.0", Port: 3306, Active: true},
	}}
}

func (c *fakeCatalog) FindDatastoreVersion(_ context.Context, datastore, version string) (catalog.DatastoreVersion, error) {
	for _, v := range c.versions {
		if v.Datastore != datastore {
			continue
		}
		if version == "" && (v.ID == "pg15" || v.ID == "my80") || version == v.Name || version == v.ID {
			return v, nil
		}
	}
	return catalog.DatastoreVersion{}, catalog.ErrNotFound
}

func (c *fakeCatalog) CreateInstance(_ context.Context, inst *coffer.Instance) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp := *inst
	c.instances = append(c.instances, &cp)
	return nil
}

func (c *fakeCatalog) find(projectID, id string) *coffer.Instance {
	for _, inst := range c.instances {
		if inst.ID == id && (projectID == "" || inst.ProjectID == projectID) {
			return inst
		}
	}
	return nil
}

func (c *fakeCatalog) GetInstance(_ context.Context, projectID, id string) (*coffer.Instance, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		return nil, c.broken
	}
	inst := c.find(projectID, id)
	if inst == nil {
		return nil, catalog.ErrNotFound
	}
	cp := *inst
	return &cp, nil
}

func (c *fakeCatalog) ListInstances(_ context.Context, projectID string, limit int, marker string) ([]*coffer.Instance, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		return nil, c.broken
	}
	start := 0
	if marker != "" {
		i := slices.IndexFunc(c.instances, func(inst *coffer.Instance) bool { return inst.ID == marker && inst.ProjectID == projectID })
		if i < 0 {
			return nil, catalog.ErrNotFound
		}
		start = i + 1
	}
	var out []*coffer.Instance
	for _, inst := range c.instances[start:] {
		if len(out) == limit {
			break
		}
		if projectID == "" || inst.ProjectID == projectID {
			cp := *inst
			out = append(out, &cp)
		}
	}
	return out, nil
}

func (c *fakeCatalog) StartTask(_ context.Context, projectID, id string, task coffer.Task) (*coffer.Instance, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	inst := c.find(projectID, id)
	if inst == nil {
		return nil, catalog.ErrNotFound
	}
	if inst.Task != coffer.TaskNone && !(inst.Task == coffer.TaskError && task == coffer.TaskDeleting) {
		return nil, catalog.ErrTaskRunning
	}
	inst.Task = task
	cp := *inst
	return &cp, nil
}

func (c *fakeCatalog) SetTask(_ context.Context, id string, task coffer.Task) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	inst := c.find("", id)
	if inst == nil {
		return catalog.ErrNotFound
	}
	inst.Task = task
	if task != coffer.TaskError {
		inst.Fault = nil
	}
	return nil
}

func (c *fakeCatalog) RecordFault(_ context.Context, id string, f coffer.Fault) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	inst := c.find("", id)
	if inst == nil {
		return catalog.ErrNotFound
	}
	inst.Task = coffer.TaskError
	inst.Fault = &f
	return nil
}

func (c *fakeCatalog) DeleteInstance(_ context.Context, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.instances = slices.DeleteFunc(c.instances, func(inst *coffer.Instance) bool { return inst.ID == id })
	return nil
}

// update changes an instance as a workflow would.
func (c *fakeCatalog) update(id string, change func(*coffer.Instance)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if inst := c.find("", id); inst != nil {
		change(inst)
	}
}

func (c *fakeCatalog) breakWith(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.broken = err
}

// all returns copies of every instance.
func (c *fakeCatalog) all() []coffer.Instance {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []coffer.Instance
	for _, inst := range c.instances {
		out = append(out, *inst)
	}
	return out
}

// fakeWorkflows records the workflows the API starts, and fails them when told to.
type fakeWorkflows struct {
	mu      sync.Mutex
	creates []workflows.CreateInstanceInput
	deletes []workflows.DeleteInstanceInput
	fail    error
	// catalog is where the operations' workflows claim their instance's task, as the real
	// ones do as their first step.
	catalog *fakeCatalog
	// guest is the instances' engines (everyday_fakes_test.go).
	guest fakeGuest
}

var _ api.Workflows = (*fakeWorkflows)(nil)

var errTemporalDown = errors.New("temporal: connection refused")

func (w *fakeWorkflows) StartCreate(_ context.Context, in workflows.CreateInstanceInput) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fail != nil {
		return w.fail
	}
	w.creates = append(w.creates, in)
	return nil
}

func (w *fakeWorkflows) StartDelete(_ context.Context, in workflows.DeleteInstanceInput) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fail != nil {
		return w.fail
	}
	if err := w.claim(in.InstanceID, coffer.TaskDeleting); err != nil {
		return err
	}
	w.deletes = append(w.deletes, in)
	return nil
}

// claim sets the instance's task as a workflow's claim does: workflows.ErrInstanceBusy when
// another task holds it.
func (w *fakeWorkflows) claim(id string, task coffer.Task) error {
	if _, err := w.catalog.StartTask(context.Background(), "", id, task); err != nil {
		if errors.Is(err, catalog.ErrTaskRunning) {
			return fmt.Errorf("claim %s: %w", id, workflows.ErrInstanceBusy)
		}
		return err
	}
	return nil
}

func (w *fakeWorkflows) setFail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.fail = err
}

func (w *fakeWorkflows) started() ([]workflows.CreateInstanceInput, []workflows.DeleteInstanceInput) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.creates), slices.Clone(w.deletes)
}
