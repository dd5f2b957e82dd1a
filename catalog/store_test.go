package catalog_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/catalog"
)

func newInstance(projectID, name string) *coffer.Instance {
	return &coffer.Instance{
		ID:         uuid.NewString(),
		ProjectID:  projectID,
		Name:       name,
		FlavorID:   "m1.small",
		VolumeSize: 2,
		VolumeType: "standard",
		Datastore:  "postgresql",
		Version:    "15",
	}
}

func mustCreate(t *testing.T, s *catalog.Store, inst *coffer.Instance) *coffer.Instance {
	t.Helper()
	if err := s.CreateInstance(t.Context(), inst); err != nil {
		t.Fatalf("create instance %s: %v", inst.Name, err)
	}
	return inst
}

func mustGet(t *testing.T, s *catalog.Store, id string) *coffer.Instance {
	t.Helper()
	inst, err := s.GetInstance(t.Context(), "", id)
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

func schemaVersion(t *testing.T, url string) int32 {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var v int32
	if err := conn.QueryRow(t.Context(), "SELECT version FROM coffer_schema_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestOpenFailsWhenNoServerListens(t *testing.T) {
	s, err := catalog.Open(t.Context(), "postgres://nobody:secret@127.0.0.1:1/catalog?sslmode=disable&connect_timeout=5", 0)
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded with no server, want an error")
	}
}

func TestMigrateTwiceIsIdempotent(t *testing.T) {
	url := createDatabase(t)
	for i := range 2 {
		if err := catalog.Migrate(t.Context(), url); err != nil {
			t.Fatalf("migrate, run %d: %v", i+1, err)
		}
	}
	if got, want := schemaVersion(t, url), migrationCount(t); got != want {
		t.Errorf("got schema version %d, want %d", got, want)
	}
	s, err := catalog.Open(t.Context(), url, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.FindDatastoreVersion(t.Context(), "postgresql", ""); err != nil {
		t.Errorf("the seed after two runs: %v", err)
	}
}

func TestMigrateConcurrentlyAppliesOnce(t *testing.T) {
	url := createDatabase(t)
	const runs = 6
	errs := make(chan error, runs)
	var wg sync.WaitGroup
	for range runs {
		wg.Go(func() { errs <- catalog.Migrate(t.Context(), url) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent migrate: %v", err)
		}
	}
	if got, want := schemaVersion(t, url), migrationCount(t); got != want {
		t.Errorf("got schema version %d, want %d", got, want)
	}
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM datastore_versions").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("got %d seeded versions after %d concurrent runs, want 4", n, runs)
	}
}

func TestListDatastoresOffersOnlyActiveVersions(t *testing.T) {
	s, url := newStore(t)

	got, err := s.ListDatastores(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// Sorted by name: mariadb (offered since migration 012), postgresql and redis (since
	// 013); mysql is inactive.
	if len(got) != 3 || got[0].Name != "mariadb" || got[2].Name != "redis" {
		t.Fatalf("got datastores %+v, want mariadb, postgresql and redis (mysql is inactive)", got)
	}
	redis := catalog.DatastoreVersion{ID: got[2].Versions[0].ID, Datastore: "redis", Name: "7", ImageTag: "coffer-redis-7", Port: 6379, Active: true}
	if got[2].DefaultVersion != "7" || len(got[2].Versions) != 1 || got[2].Versions[0] != redis {
		t.Errorf("got %+v, want redis with default 7 and version %+v", got[2], redis)
	}
	maria := catalog.DatastoreVersion{ID: got[0].Versions[0].ID, Datastore: "mariadb", Name: "10.11", ImageTag: "coffer-mariadb-10.11", Port: 3306, Active: true}
	if got[0].DefaultVersion != "10.11" || len(got[0].Versions) != 1 || got[0].Versions[0] != maria {
		t.Errorf("got %+v, want mariadb with default 10.11 and version %+v", got[0], maria)
	}
	pg := got[1]
	want := catalog.DatastoreVersion{ID: pg.Versions[0].ID, Datastore: "postgresql", Name: "15", ImageTag: "coffer-postgresql-15", Port: 5432, Active: true}
	if pg.Name != "postgresql" || pg.DefaultVersion != "15" || len(pg.Versions) != 1 || pg.Versions[0] != want {
		t.Errorf("got %+v, want postgresql with default 15 and version %+v", pg, want)
	}
	if _, err := uuid.Parse(pg.ID); err != nil {
		t.Errorf("got datastore ID %q, want a UUID", pg.ID)
	}

	// A later migration activates MySQL.
	execSQL(t, url, "UPDATE datastore_versions SET active = true WHERE image_tag = 'coffer-mysql-8.0'")
	got, err = s.ListDatastores(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range got {
		names = append(names, d.Name+"/"+d.DefaultVersion)
	}
	if strings.Join(names, " ") != "mariadb/10.11 mysql/8.0 postgresql/15 redis/7" {
		t.Errorf("got datastores %v, want [mariadb/10.11 mysql/8.0 postgresql/15 redis/7]", names)
	}
	if mysql := got[1]; len(mysql.Versions) != 1 || mysql.Versions[0].Port != 3306 || mysql.Versions[0].ImageTag != "coffer-mysql-8.0" {
		t.Errorf("got mysql versions %+v, want 8.0 on port 3306 from coffer-mysql-8.0", mysql.Versions)
	}
}

func TestFindDatastoreVersionByNameIDOrDefault(t *testing.T) {
	s, _ := newStore(t)
	datastores, err := s.ListDatastores(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	pg := datastores[slices.IndexFunc(datastores, func(d catalog.Datastore) bool { return d.Name == "postgresql" })]
	pg15 := pg.Versions[0]

	for _, tc := range []struct{ datastore, version string }{
		{"postgresql", ""},
		{"postgresql", "15"},
		{"postgresql", pg15.ID},
		{pg.ID, ""},
		{pg.ID, "15"},
		{strings.ToUpper(pg.ID), strings.ToUpper(pg15.ID)},
	} {
		got, err := s.FindDatastoreVersion(t.Context(), tc.datastore, tc.version)
		if err != nil || got != pg15 {
			t.Errorf("FindDatastoreVersion(%q, %q): got %+v, %v; want %+v", tc.datastore, tc.version, got, err, pg15)
		}
	}

	for _, tc := range []struct{ datastore, version string }{
		{"mysql", ""},         // inactive default
		{"mysql", "8.0"},      // inactive
		{"postgresql", "14"},  // no such version
		{"postgresql", "8.0"}, // another datastore's version
		{"oracle", ""},
		{"", ""},
		{uuid.NewString(), ""},
	} {
		got, err := s.FindDatastoreVersion(t.Context(), tc.datastore, tc.version)
		if !errors.Is(err, catalog.ErrNotFound) {
			t.Errorf("FindDatastoreVersion(%q, %q): got %+v, %v; want ErrNotFound", tc.datastore, tc.version, got, err)
		}
	}
}

func TestCreateInstanceStartsBuildingWithANewService(t *testing.T) {
	s, _ := newStore(t)
	before := time.Now()

	inst := newInstance("project-a", "db1")
	inst.Task = coffer.TaskNone                      // whatever the caller says,
	inst.ServiceStatus = coffer.ServiceHealthy       // a new instance starts
	inst.Fault = &coffer.Fault{Message: "left over"} // from the beginning
	mustCreate(t, s, inst)

	if inst.Task != coffer.TaskBuilding || inst.ServiceStatus != coffer.ServiceNew || inst.Fault != nil {
		t.Errorf("got task %s, service %s, fault %+v; want BUILDING, NEW, none", inst.Task, inst.ServiceStatus, inst.Fault)
	}
	if inst.Created.Location() != time.UTC || inst.Updated.Location() != time.UTC {
		t.Errorf("got Created in %s and Updated in %s, want UTC", inst.Created.Location(), inst.Updated.Location())
	}
	if inst.Created.Before(before.Add(-time.Minute)) || inst.Created.After(time.Now().Add(time.Minute)) || !inst.Updated.Equal(inst.Created) {
		t.Errorf("got Created %s, Updated %s; want both now (%s)", inst.Created, inst.Updated, before)
	}
	if got := inst.Status(); got != "BUILD" {
		t.Errorf("got status %s, want BUILD", got)
	}

	got := mustGet(t, s, inst.ID)
	if !reflect.DeepEqual(got, inst) {
		t.Errorf("got back\n%+v\nwant what CreateInstance wrote back\n%+v", got, inst)
	}
}

func TestCreateInstanceRefusesADuplicateID(t *testing.T) {
	s, _ := newStore(t)
	first := mustCreate(t, s, newInstance("project-a", "db1"))

	again := newInstance("project-a", "db1 again")
	again.ID = first.ID
	if err := s.CreateInstance(t.Context(), again); !errors.Is(err, catalog.ErrExists) {
		t.Errorf("create with a taken ID: got %v, want ErrExists", err)
	}
	if got := mustGet(t, s, first.ID); got.Name != "db1" {
		t.Errorf("got name %q after the duplicate, want the first row's db1", got.Name)
	}
}

func TestCreateInstanceGivesAnEmptyIDANewUUID(t *testing.T) {
	s, _ := newStore(t)
	inst := newInstance("project-a", "db1")
	inst.ID = ""
	mustCreate(t, s, inst)
	if _, err := uuid.Parse(inst.ID); err != nil {
		t.Errorf("got ID %q, want a new UUID", inst.ID)
	}
}

func TestCreateInstanceRefusesBadInput(t *testing.T) {
	s, _ := newStore(t)
	for name, change := range map[string]func(*coffer.Instance){
		"ID not a UUID":    func(i *coffer.Instance) { i.ID = "db1" },
		"zero volume size": func(i *coffer.Instance) { i.VolumeSize = 0 },
	} {
		inst := newInstance("project-a", "db1")
		change(inst)
		if err := s.CreateInstance(t.Context(), inst); err == nil {
			t.Errorf("%s: got no error, want one", name)
		}
	}
}

func TestGetInstanceFindsOnlyTheOwnProjectsInstance(t *testing.T) {
	s, _ := newStore(t)
	inst := mustCreate(t, s, newInstance("project-a", "db1"))

	for _, tc := range []struct {
		projectID, id string
		found         bool
	}{
		{"project-a", inst.ID, true},
		{"", inst.ID, true},
		{"project-a", strings.ToUpper(inst.ID), true},
		{"project-b", inst.ID, false},
		{"project-a", uuid.NewString(), false},
		{"project-a", "not-a-uuid", false},
		{"project-a", "", false},
		{"", "'; DROP TABLE instances; --", false},
	} {
		got, err := s.GetInstance(t.Context(), tc.projectID, tc.id)
		switch {
		case tc.found && (err != nil || got.ID != inst.ID):
			t.Errorf("GetInstance(%q, %q): got %v, %v; want instance %s", tc.projectID, tc.id, got, err, inst.ID)
		case !tc.found && !errors.Is(err, catalog.ErrNotFound):
			t.Errorf("GetInstance(%q, %q): got %v, %v; want ErrNotFound", tc.projectID, tc.id, got, err)
		}
	}
}

func TestListInstancesPagesInCreationOrderWithinAProject(t *testing.T) {
	s, _ := newStore(t)
	var projectA, all []string
	for i := range 7 {
		project := "project-a"
		if i%3 == 1 {
			project = "project-b"
		}
		inst := mustCreate(t, s, newInstance(project, "db"))
		all = append(all, inst.ID)
		if project == "project-a" {
			projectA = append(projectA, inst.ID)
		}
	}
	ids := func(insts []*coffer.Instance) []string {
		var ids []string
		for _, inst := range insts {
			ids = append(ids, inst.ID)
		}
		return ids
	}

	// Pages of two, each after the last of the one before.
	var paged []string
	marker := ""
	for page := 1; ; page++ {
		got, err := s.ListInstances(t.Context(), "project-a", 2, marker)
		if err != nil {
			t.Fatalf("page %d after %q: %v", page, marker, err)
		}
		if len(got) > 2 {
			t.Fatalf("page %d: got %d instances, want at most 2", page, len(got))
		}
		paged = append(paged, ids(got)...)
		if len(got) < 2 {
			break
		}
		marker = got[len(got)-1].ID
	}
	if !reflect.DeepEqual(paged, projectA) {
		t.Errorf("got pages of project-a\n%v\nwant its instances in creation order\n%v", paged, projectA)
	}

	for _, tc := range []struct {
		projectID string
		limit     int
		marker    string
		want      []string
	}{
		{"project-a", 0, "", projectA},
		{"project-a", -1, "", projectA},
		{"project-a", 100, projectA[0], projectA[1:]},
		{"project-a", 0, projectA[len(projectA)-1], nil},
		{"", 0, "", all},
		{"", 3, all[2], all[3:6]},
		{"project-c", 0, "", nil},
	} {
		got, err := s.ListInstances(t.Context(), tc.projectID, tc.limit, tc.marker)
		if err != nil || !reflect.DeepEqual(ids(got), tc.want) {
			t.Errorf("ListInstances(%q, %d, %q): got %v, %v; want %v", tc.projectID, tc.limit, tc.marker, ids(got), err, tc.want)
		}
	}

	for _, marker := range []string{uuid.NewString(), "not-a-uuid", all[1] /* project-b's */} {
		if got, err := s.ListInstances(t.Context(), "project-a", 2, marker); !errors.Is(err, catalog.ErrNotFound) {
			t.Errorf("ListInstances after marker %q: got %v, %v; want ErrNotFound", marker, ids(got), err)
		}
	}
}

func TestStartTaskRefusesWhileAnotherTaskRuns(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	inst := mustCreate(t, s, newInstance("project-a", "db1"))

	if _, err := s.StartTask(ctx, "project-a", inst.ID, coffer.TaskResizing, ""); !errors.Is(err, catalog.ErrTaskRunning) {
		t.Errorf("resize while building: got %v, want ErrTaskRunning", err)
	}

	if err := s.SetTask(ctx, inst.ID, coffer.TaskNone); err != nil {
		t.Fatal(err)
	}
	got, err := s.StartTask(ctx, "project-a", inst.ID, coffer.TaskResizing, "")
	if err != nil {
		t.Fatalf("resize an idle instance: %v", err)
	}
	if got.Task != coffer.TaskResizing || got.Name != "db1" || got.Updated.Before(inst.Updated) {
		t.Errorf("got %+v, want db1 resizing, updated now", got)
	}
	if got := mustGet(t, s, inst.ID).Task; got != coffer.TaskResizing {
		t.Errorf("got stored task %s, want RESIZING", got)
	}

	for _, task := range []coffer.Task{coffer.TaskRebooting, coffer.TaskResizing, coffer.TaskDeleting} {
		if _, err := s.StartTask(ctx, "project-a", inst.ID, task, ""); !errors.Is(err, catalog.ErrTaskRunning) {
			t.Errorf("start %s while resizing: got %v, want ErrTaskRunning", task, err)
		}
	}

	for name, id := range map[string]string{"missing": uuid.NewString(), "not a UUID": "db1"} {
		if _, err := s.StartTask(ctx, "project-a", id, coffer.TaskRebooting, ""); !errors.Is(err, catalog.ErrNotFound) {
			t.Errorf("start on a %s instance: got %v, want ErrNotFound", name, err)
		}
	}
	if err := s.SetTask(ctx, inst.ID, coffer.TaskNone); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StartTask(ctx, "project-b", inst.ID, coffer.TaskRebooting, ""); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("start on another project's instance: got %v, want ErrNotFound", err)
	}
	if _, err := s.StartTask(ctx, "", inst.ID, coffer.TaskRebooting, ""); err != nil {
		t.Errorf("start with any project: %v", err)
	}
}

func TestStartTaskAfterAFaultAllowsOnlyADelete(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	inst := mustCreate(t, s, newInstance("project-a", "db1"))
	if err := s.RecordFault(ctx, inst.ID, coffer.Fault{Message: "boot failed"}); err != nil {
		t.Fatal(err)
	}

	if _, err := s.StartTask(ctx, "project-a", inst.ID, coffer.TaskRebooting, ""); !errors.Is(err, catalog.ErrTaskRunning) {
		t.Errorf("restart after a fault: got %v, want ErrTaskRunning", err)
	}
	got, err := s.StartTask(ctx, "project-a", inst.ID, coffer.TaskDeleting, "")
	if err != nil {
		t.Fatalf("delete after a fault: %v", err)
	}
	if got.Task != coffer.TaskDeleting || got.Status() != "SHUTDOWN" {
		t.Errorf("got task %s, status %s; want DELETING, SHUTDOWN", got.Task, got.Status())
	}
}

func TestStartTaskRefusesNoneAndErrorAsTasks(t *testing.T) {
	s, _ := newStore(t)
	inst := mustCreate(t, s, newInstance("project-a", "db1"))
	if err := s.SetTask(t.Context(), inst.ID, coffer.TaskNone); err != nil {
		t.Fatal(err)
	}
	for _, task := range []coffer.Task{coffer.TaskNone, coffer.TaskError, "BOGUS"} {
		if _, err := s.StartTask(t.Context(), "", inst.ID, task, ""); err == nil {
			t.Errorf("StartTask %q: got no error, want one", task)
		}
	}
	if got := mustGet(t, s, inst.ID).Task; got != coffer.TaskNone {
		t.Errorf("got task %s after refused starts, want NONE", got)
	}
}

func TestStartTaskLetsExactlyOneOfManyConcurrentCallersWin(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	inst := mustCreate(t, s, newInstance("project-a", "db1"))
	tasks := []coffer.Task{coffer.TaskResizing, coffer.TaskRebooting, coffer.TaskDeleting}

	const rounds, callers = 5, 16
	for round := range rounds {
		if err := s.SetTask(ctx, inst.ID, coffer.TaskNone); err != nil {
			t.Fatal(err)
		}
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			winners []coffer.Task
			start   = make(chan struct{})
		)
		for i := range callers {
			task := tasks[i%len(tasks)]
			wg.Go(func() {
				<-start
				got, err := s.StartTask(ctx, "project-a", inst.ID, task, "")
				switch {
				case err == nil:
					mu.Lock()
					winners = append(winners, got.Task)
					mu.Unlock()
				case !errors.Is(err, catalog.ErrTaskRunning):
					t.Errorf("round %d, caller %d: got %v, want success or ErrTaskRunning", round, i, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("round %d: got %d winners %v of %d concurrent StartTask calls, want exactly 1", round, len(winners), winners, callers)
		}
		if got := mustGet(t, s, inst.ID).Task; got != winners[0] {
			t.Errorf("round %d: got stored task %s, want the winner's %s", round, got, winners[0])
		}
	}
}

func TestSetTaskClearsTheFaultUnlessItIsError(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	inst := mustCreate(t, s, newInstance("project-a", "db1"))
	if err := s.RecordFault(ctx, inst.ID, coffer.Fault{Message: "volume failed", Details: "quota"}); err != nil {
		t.Fatal(err)
	}

	if err := s.SetTask(ctx, inst.ID, coffer.TaskError); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, inst.ID); got.Fault == nil || got.Fault.Message != "volume failed" {
		t.Errorf("after SetTask ERROR: got fault %+v, want the recorded one kept", got.Fault)
	}

	if err := s.SetTask(ctx, inst.ID, coffer.TaskNone); err != nil {
		t.Fatal(err)
	}
	got := mustGet(t, s, inst.ID)
	if got.Task != coffer.TaskNone || got.Fault != nil {
		t.Errorf("after SetTask NONE: got task %s, fault %+v; want NONE and no fault", got.Task, got.Fault)
	}
	if !got.Updated.After(inst.Updated) {
		t.Errorf("got Updated %s, want later than Created's %s", got.Updated, inst.Updated)
	}

	if err := s.SetTask(ctx, inst.ID, "BOGUS"); err == nil {
		t.Error("SetTask BOGUS: got no error, want the task check to refuse it")
	}
}

func TestUpdateResourcesSetsOnlyTheGivenFields(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	inst := mustCreate(t, s, newInstance("project-a", "db1"))

	steps := []catalog.Resources{
		{SecurityGroupID: "sg-1"},
		{PortID: "port-1", Address: "127.0.0.7"},
		{VolumeID: "vol-1"},
		{ServerID: "server-1", ServerStatus: "BUILD"},
		{ServerStatus: "ACTIVE"},
		{},
	}
	for _, r := range steps {
		if err := s.UpdateResources(ctx, inst.ID, r); err != nil {
			t.Fatalf("update resources %+v: %v", r, err)
		}
	}

	got := mustGet(t, s, inst.ID)
	gotResources := catalog.Resources{
		ServerID: got.ServerID, VolumeID: got.VolumeID, PortID: got.PortID,
		SecurityGroupID: got.SecurityGroupID, Address: got.Address, ServerStatus: got.ServerStatus,
	}
	want := catalog.Resources{
		ServerID: "server-1", VolumeID: "vol-1", PortID: "port-1",
		SecurityGroupID: "sg-1", Address: "127.0.0.7", ServerStatus: "ACTIVE",
	}
	if gotResources != want {
		t.Errorf("got %+v, want %+v", gotResources, want)
	}
	if got.Name != "db1" || got.Task != coffer.TaskBuilding || got.VolumeSize != 2 {
		t.Errorf("got %+v, want the rest untouched", got)
	}
}

func TestSetServiceStatusRecordsTheReport(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	inst := mustCreate(t, s, newInstance("project-a", "db1"))

	at := time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.FixedZone("CET", 3600))
	if err := s.SetServiceStatus(ctx, inst.ID, coffer.ServiceHealthy, at); err != nil {
		t.Fatal(err)
	}
	got := mustGet(t, s, inst.ID)
	if got.ServiceStatus != coffer.ServiceHealthy || !got.ServiceStatusUpdated.Equal(at) || got.ServiceStatusUpdated.Location() != time.UTC {
		t.Errorf("got %s at %s, want HEALTHY at %s in UTC", got.ServiceStatus, got.ServiceStatusUpdated, at.UTC())
	}
	if !got.Updated.Equal(inst.Updated) {
		t.Errorf("got Updated %s, want the health report to leave it at %s", got.Updated, inst.Updated)
	}

	before := time.Now()
	if err := s.SetServiceStatus(ctx, inst.ID, coffer.ServiceShutdown, time.Time{}); err != nil {
		t.Fatal(err)
	}
	got = mustGet(t, s, inst.ID)
	if got.ServiceStatus != coffer.ServiceShutdown || got.ServiceStatusUpdated.Before(before.Add(-time.Minute)) {
		t.Errorf("with no time: got %s at %s, want SHUTDOWN at about %s", got.ServiceStatus, got.ServiceStatusUpdated, before)
	}
}

func TestRecordFaultSetsErrorAndTheFault(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	inst := mustCreate(t, s, newInstance("project-a", "db1"))

	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	f := coffer.Fault{Message: "Build error: guestagent timeout.", Details: "no heartbeat within 30m", Created: at}
	if err := s.RecordFault(ctx, inst.ID, f); err != nil {
		t.Fatal(err)
	}
	got := mustGet(t, s, inst.ID)
	if got.Task != coffer.TaskError || got.Status() != "ERROR" || got.Fault == nil || *got.Fault != f {
		t.Errorf("got task %s, status %s, fault %+v; want ERROR, ERROR, %+v", got.Task, got.Status(), got.Fault, f)
	}

	before := time.Now()
	if err := s.RecordFault(ctx, inst.ID, coffer.Fault{Message: "again"}); err != nil {
		t.Fatal(err)
	}
	got = mustGet(t, s, inst.ID)
	if got.Fault == nil || got.Fault.Message != "again" || got.Fault.Details != "" || got.Fault.Created.Before(before.Add(-time.Minute)) {
		t.Errorf("with no time: got fault %+v, want \"again\" created about %s", got.Fault, before)
	}
}

func TestDeleteInstanceRemovesTheRowAndToleratesAMissingOne(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	gone := mustCreate(t, s, newInstance("project-a", "db1"))
	kept := mustCreate(t, s, newInstance("project-a", "db2"))

	if err := s.DeleteInstance(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetInstance(ctx, "", gone.ID); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("get a deleted instance: got %v, want ErrNotFound", err)
	}
	mustGet(t, s, kept.ID)

	for _, id := range []string{gone.ID, uuid.NewString(), "not-a-uuid"} {
		if err := s.DeleteInstance(ctx, id); err != nil {
			t.Errorf("delete missing instance %q: got %v, want no error", id, err)
		}
	}
}

func TestChangesToAMissingInstanceAreNotFound(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	for _, id := range []string{uuid.NewString(), "not-a-uuid"} {
		for name, change := range map[string]func() error{
			"SetTask":          func() error { return s.SetTask(ctx, id, coffer.TaskNone) },
			"UpdateResources":  func() error { return s.UpdateResources(ctx, id, catalog.Resources{ServerID: "x"}) },
			"SetServiceStatus": func() error { return s.SetServiceStatus(ctx, id, coffer.ServiceHealthy, time.Now()) },
			"RecordFault":      func() error { return s.RecordFault(ctx, id, coffer.Fault{Message: "x"}) },
		} {
			if err := change(); !errors.Is(err, catalog.ErrNotFound) {
				t.Errorf("%s on %q: got %v, want ErrNotFound", name, id, err)
			}
		}
	}
}

// migrationCount is the number of the embedded migrations, the version a migrated catalog
// has (each issue adds its own).
func migrationCount(t *testing.T) int32 {
	t.Helper()
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	return int32(len(files))
}

func TestStartTaskLetsADeleteTakeOverABuild(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	inst := mustCreate(t, s, newInstance("project-a", "db1")) // task BUILDING, as a create records it

	if _, err := s.StartTask(ctx, "project-a", inst.ID, coffer.TaskRebooting, ""); !errors.Is(err, catalog.ErrTaskRunning) {
		t.Errorf("restart while building: got %v, want ErrTaskRunning", err)
	}
	got, err := s.StartTask(ctx, "project-a", inst.ID, coffer.TaskDeleting, "instance/"+inst.ID+"/delete")
	if err != nil {
		t.Fatalf("delete while building: %v", err)
	}
	if got.Task != coffer.TaskDeleting {
		t.Errorf("got task %s, want DELETING", got.Task)
	}
}
