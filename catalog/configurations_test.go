package catalog_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/coffer-dbaas/coffer/catalog"
)

// postgres15 returns the ID of the seeded postgresql 15 version.
func postgres15(t *testing.T, s *catalog.Store) string {
	t.Helper()
	v, err := s.FindDatastoreVersion(t.Context(), "postgresql", "15")
	if err != nil {
		t.Fatal(err)
	}
	return v.ID
}

func TestPostgresParametersComeFromPgSettings(t *testing.T) {
	s, _ := newStore(t)
	version := postgres15(t, s)
	work, err := s.GetParameter(t.Context(), version, "work_mem")
	if err != nil {
		t.Fatal(err)
	}
	if work.DataType != "integer" || work.Min == nil || *work.Min != 64 || work.RestartRequired || work.Unit != "kB" {
		t.Errorf("work_mem: got %+v, want a dynamic integer in kB from 64", work)
	}
	conns, err := s.GetParameter(t.Context(), version, "max_connections")
	if err != nil {
		t.Fatal(err)
	}
	if !conns.RestartRequired {
		t.Errorf("max_connections: got %+v, want restart_required", conns)
	}
	sync, err := s.GetParameter(t.Context(), version, "synchronous_commit")
	if err != nil {
		t.Fatal(err)
	}
	if len(sync.Allowed) == 0 {
		t.Errorf("synchronous_commit: got no allowed values")
	}
	for _, name := range []string{"archive_command", "shared_preload_libraries", "port", "listen_addresses", "data_directory"} {
		if _, err := s.GetParameter(t.Context(), version, name); !errors.Is(err, catalog.ErrNotFound) {
			t.Errorf("%s: got %v, want ErrNotFound: tenants must not set it", name, err)
		}
	}
}

func TestMariaDBParametersComeFromSystemVariables(t *testing.T) {
	s, _ := newStore(t)
	v, err := s.FindDatastoreVersion(t.Context(), "mariadb", "10.11")
	if err != nil {
		t.Fatal(err)
	}
	conns, err := s.GetParameter(t.Context(), v.ID, "max_connections")
	if err != nil {
		t.Fatal(err)
	}
	if conns.DataType != "integer" || conns.Min == nil || *conns.Min != 10 || conns.RestartRequired {
		t.Errorf("max_connections: got %+v, want a dynamic integer from 10", conns)
	}
	sortBuffer, err := s.GetParameter(t.Context(), v.ID, "innodb_sort_buffer_size")
	if err != nil {
		t.Fatal(err)
	}
	if !sortBuffer.RestartRequired {
		t.Errorf("innodb_sort_buffer_size: got %+v, want restart_required (read-only while MariaDB runs)", sortBuffer)
	}
	flush, err := s.GetParameter(t.Context(), v.ID, "innodb_flush_method")
	if err != nil || !slices.Contains(flush.Allowed, "O_DIRECT") {
		t.Errorf("innodb_flush_method: got %+v, %v, want its enum values", flush, err)
	}
	for _, name := range []string{"server_id", "read_only", "local_infile", "general_log", "datadir", "lower_case_table_names"} {
		if _, err := s.GetParameter(t.Context(), v.ID, name); !errors.Is(err, catalog.ErrNotFound) {
			t.Errorf("%s: got %v, want ErrNotFound: tenants must not set it", name, err)
		}
	}
}

func TestConfigurationLifecycle(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	version := postgres15(t, s)
	c := &catalog.Configuration{ID: uuid.NewString(), ProjectID: "p1", Name: "tuned", VersionID: version,
		Values: map[string]any{"work_mem": 8192.0}}
	if err := s.CreateConfiguration(ctx, c); err != nil {
		t.Fatal(err)
	}
	if c.Datastore != "postgresql" || c.Version != "15" || c.Values["work_mem"] != 8192.0 {
		t.Fatalf("created: got %+v", c)
	}
	if _, err := s.GetConfiguration(ctx, "p2", c.ID); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("another project's get: got %v, want ErrNotFound", err)
	}

	inst := newInstance("p1", "db")
	if err := s.CreateInstance(ctx, inst); err != nil {
		t.Fatal(err)
	}
	if err := s.SetInstanceConfiguration(ctx, "p1", inst.ID, c.ID); !errors.Is(err, catalog.ErrTaskRunning) {
		t.Errorf("attach while building: got %v, want ErrTaskRunning", err)
	}
	if err := s.SetTask(ctx, inst.ID, "NONE"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetInstanceConfiguration(ctx, "p1", inst.ID, c.ID); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetInstance(ctx, "p1", inst.ID)
	if err != nil || got.ConfigurationID != c.ID {
		t.Fatalf("instance after attach: got %+v, %v", got, err)
	}

	merged, refs, err := s.UpdateConfiguration(ctx, "p1", c.ID, catalog.ConfigurationChange{
		Values: map[string]any{"max_connections": 50.0}, Merge: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(merged.Values) != 2 || merged.InstanceCount != 1 || len(refs) != 1 || refs[0].ID != inst.ID {
		t.Errorf("merge: got %+v and %+v, want two values and the instance", merged, refs)
	}
	values, params, err := s.InstanceValues(ctx, inst.ID)
	if err != nil || len(values) != 2 || len(params) != 2 {
		t.Errorf("instance values: got %v, %v, %v", values, params, err)
	}
	name := "renamed"
	replaced, _, err := s.UpdateConfiguration(ctx, "p1", c.ID, catalog.ConfigurationChange{
		Name: &name, Values: map[string]any{"work_mem": 4096.0}})
	if err != nil {
		t.Fatal(err)
	}
	if replaced.Name != "renamed" || len(replaced.Values) != 1 {
		t.Errorf("replace: got %+v", replaced)
	}

	if err := s.DeleteConfiguration(ctx, "p1", c.ID); !errors.Is(err, catalog.ErrInUse) {
		t.Errorf("delete while attached: got %v, want ErrInUse", err)
	}
	if err := s.SetInstanceConfiguration(ctx, "p1", inst.ID, ""); err != nil {
		t.Fatal(err)
	}
	if values, _, _ := s.InstanceValues(ctx, inst.ID); len(values) != 0 {
		t.Errorf("values after detach: got %v, want none", values)
	}
	if err := s.DeleteConfiguration(ctx, "p1", c.ID); err != nil {
		t.Fatal(err)
	}
}

func TestParameterRendersValuesAsTheEngineReadsThem(t *testing.T) {
	for _, c := range []struct {
		p    catalog.Parameter
		v    any
		want string
	}{
		{catalog.Parameter{DataType: "integer"}, 8192.0, "8192"},
		{catalog.Parameter{DataType: "integer"}, 2147483647.0, "2147483647"},
		{catalog.Parameter{DataType: "float"}, 0.00001, "0.00001"},
		{catalog.Parameter{DataType: "boolean"}, true, "on"},
		{catalog.Parameter{DataType: "boolean"}, false, "off"},
		{catalog.Parameter{DataType: "string"}, "'$user', public", "'$user', public"},
	} {
		if err := c.p.Check(c.v); err != nil {
			t.Errorf("Check(%v) as %s: %v", c.v, c.p.DataType, err)
		}
		if got := c.p.Render(c.v); got != c.want {
			t.Errorf("Render(%v) as %s: got %q, want %q", c.v, c.p.DataType, got, c.want)
		}
	}
}
