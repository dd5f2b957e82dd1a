package activities_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/activities"
	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/config"
	"github.com/coffer-dbaas/coffer/dev/devcloud"
	"github.com/coffer-dbaas/coffer/dev/devcloud/devcloudtest"
	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestauth"
)

// masterKey is a made-up codec key: the tests check that the guest's user_data carries the
// bootstrap secret derived from it, and never it.
var masterKey = []byte("0123456789abcdef0123456789abcdef")

var codecKey = base64.StdEncoding.EncodeToString(masterKey)

// cloud is a devcloud on a loopback port, with the activities pointed at it.
type cloud struct {
	t     *testing.T
	url   string // Keystone's endpoint
	acts  *activities.Activities
	admin *gophercloud.ProviderClient
	env   *testsuite.TestActivityEnvironment
	// network is the range the devcloud hands out addresses from (a free /16 it picked).
	network string
}

// startCloud starts a devcloud whose "servers" run command (a stand-in for the guest
// agent) and builds the activities with NewActivities, as `coffer worker` does.
func startCloud(t *testing.T, command ...string) *cloud {
	t.Helper()
	dc := devcloudtest.Start(t, func(cfg *devcloud.Config) { cfg.Hypervisor.Command = command })
	c := &cloud{t: t, url: dc.IdentityURL(), network: dc.NetworkCIDR()}
	ccfg := config.Defaults()
	ccfg.OpenStack = config.OpenStack{
		AuthURL: c.url, Username: "coffer", Password: "coffer", ProjectName: "service",
		UserDomainName: "Default", ProjectDomainName: "Default", Region: "RegionOne", Network: "private",
	}
	ccfg.Guest.GatewayHostPort = "10.0.0.1:7243"
	ccfg.CodecKey = codecKey
	var err error
	c.acts, err = activities.NewActivities(context.Background(), ccfg, newCatalog(t))
	if err != nil {
		t.Fatalf("NewActivities: %v", err)
	}
	c.acts.PollInterval = 50 * time.Millisecond
	c.admin = devcloudtest.Login(t, dc, "admin")
	var s testsuite.WorkflowTestSuite
	c.env = s.NewTestActivityEnvironment()
	c.env.RegisterActivity(c.acts)
	return c
}

// run executes an activity as a worker would (heartbeats work) and decodes its result.
func (c *cloud) run(result any, fn any, args ...any) error {
	c.t.Helper()
	v, err := c.env.ExecuteActivity(fn, args...)
	if err != nil {
		return err
	}
	if result != nil {
		if err := v.Get(result); err != nil {
			c.t.Fatalf("decode result: %v", err)
		}
	}
	return nil
}

// must runs an activity that has to succeed.
func (c *cloud) must(result any, fn any, args ...any) {
	c.t.Helper()
	if err := c.run(result, fn, args...); err != nil {
		c.t.Fatalf("activity failed: %v", err)
	}
}

// inject makes the next count calls of a cloud operation fail with status.
func (c *cloud) inject(service, op string, status, count int) {
	c.t.Helper()
	_, err := devcloud.InjectFault(context.Background(), c.admin, devcloud.AdminBaseURL(c.url),
		devcloud.Fault{Service: service, Operation: op, Status: status, Count: count})
	if err != nil {
		c.t.Fatal(err)
	}
}

// applicationError checks err is an application error of the type and retryability.
func applicationError(t *testing.T, err error, typ string, retryable bool) {
	t.Helper()
	var app *temporal.ApplicationError
	if !errors.As(err, &app) {
		t.Fatalf("error %v: got %T, want an application error of type %s", err, err, typ)
	}
	if app.Type() != typ || app.NonRetryable() == retryable {
		t.Errorf("error %q: got type %s, retryable %v; want type %s, retryable %v", err, app.Type(), !app.NonRetryable(), typ, retryable)
	}
}

// sleeper is a guest agent that boots and does nothing, until the hypervisor stops it.
var sleeper = []string{"/bin/sh", "-c", "exec sleep 600"}

func TestActivitiesCreateAndDeleteAnInstanceIdempotently(t *testing.T) {
	c := startCloud(t, sleeper...)
	a := c.acts
	id := uuid.NewString()
	ref := func(id2 string) activities.ResourceRef { return activities.ResourceRef{InstanceID: id, ID: id2} }

	var imageID string
	c.must(&imageID, a.ResolveImage, activities.ResolveImageInput{InstanceID: id, Tag: "coffer-postgresql-15"})
	if imageID == "" {
		t.Fatal("ResolveImage returned no ID")
	}

	var group, group2 string
	c.must(&group, a.CreateSecurityGroup, activities.CreateSecurityGroupInput{InstanceID: id, Port: 5432})
	c.must(&group2, a.CreateSecurityGroup, activities.CreateSecurityGroupInput{InstanceID: id, Port: 5432})
	if group == "" || group2 != group {
		t.Fatalf("CreateSecurityGroup twice: got %q then %q, want the same group", group, group2)
	}
	g, err := groups.Get(context.Background(), a.Network, group).Extract()
	if err != nil {
		t.Fatal(err)
	}
	var rules5432 int
	for _, r := range g.Rules {
		if r.Direction == "ingress" && r.Protocol == "tcp" && r.PortRangeMin == 5432 && r.PortRangeMax == 5432 && r.RemoteIPPrefix == "0.0.0.0/0" {
			rules5432++
		}
	}
	if g.Name != "coffer-"+id || rules5432 != 1 {
		t.Errorf("security group: got name %q with %d rules for tcp 5432 from 0.0.0.0/0, want coffer-%s with 1", g.Name, rules5432, id)
	}

	var port, port2 activities.Port
	c.must(&port, a.CreatePort, activities.CreatePortInput{InstanceID: id, SecurityGroupID: group})
	c.must(&port2, a.CreatePort, activities.CreatePortInput{InstanceID: id, SecurityGroupID: group})
	if port.ID == "" || port2 != port {
		t.Fatalf("CreatePort twice: got %+v then %+v, want the same port", port, port2)
	}
	if a, err := netip.ParseAddr(port.Address); err != nil || !netip.MustParsePrefix(c.network).Contains(a) {
		t.Errorf("port address: got %q, want one in the private network %s", port.Address, c.network)
	}

	var volume, volume2 string
	c.must(&volume, a.CreateVolume, activities.CreateVolumeInput{InstanceID: id, Size: 1})
	c.must(&volume2, a.CreateVolume, activities.CreateVolumeInput{InstanceID: id, Size: 1})
	if volume == "" || volume2 != volume {
		t.Fatalf("CreateVolume twice: got %q then %q, want the same volume", volume, volume2)
	}
	c.must(nil, a.WaitVolumeAvailable, ref(volume))
	v, err := volumes.Get(context.Background(), a.BlockStorage, volume).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if v.Name != "coffer-"+id || v.Size != 1 || v.Metadata[activities.MetadataInstanceID] != id {
		t.Errorf("volume: got name %q, size %d, metadata %v", v.Name, v.Size, v.Metadata)
	}

	in := activities.CreateServerInput{
		InstanceID: id, ProjectID: "demo", Name: "orders", FlavorID: "ds512M", ImageID: imageID,
		PortID: port.ID, VolumeID: volume, Datastore: "postgresql", Version: "15",
	}
	var server, server2 string
	c.must(&server, a.CreateServer, in)
	c.must(&server2, a.CreateServer, in)
	if server == "" || server2 != server {
		t.Fatalf("CreateServer twice: got %q then %q, want the same server", server, server2)
	}
	c.must(nil, a.WaitServerActive, ref(server))
	checkServer(t, a.Compute, server, id, volume)
	// Servers are the instance's by metadata, not by name: another instance's delete
	// leaves this one alone.
	c.must(nil, a.DeleteServer, activities.ResourceRef{InstanceID: uuid.NewString()})
	c.must(nil, a.WaitServerActive, ref(server))

	// The deletes, twice each: the second finds nothing to do. Then by name, as a delete of an
	// instance whose catalog lost the IDs does.
	for _, r := range []activities.ResourceRef{ref(server), ref(server), ref("")} {
		c.must(nil, a.DeleteServer, r)
		c.must(nil, a.WaitServerDeleted, r)
	}
	for _, r := range []activities.ResourceRef{ref(volume), ref(volume), ref("")} {
		c.must(nil, a.DeleteVolume, r)
	}
	for _, r := range []activities.ResourceRef{ref(port.ID), ref(port.ID), ref("")} {
		c.must(nil, a.DeletePort, r)
	}
	for _, r := range []activities.ResourceRef{ref(group), ref(group), ref("")} {
		c.must(nil, a.DeleteSecurityGroup, r)
	}
	checkNothingNamed(t, a, "coffer-"+id)
}

// checkServer checks what Nova made of CreateServer's request.
func checkServer(t *testing.T, compute *gophercloud.ServiceClient, serverID, instanceID, volumeID string) {
	t.Helper()
	admin := *compute
	admin.Microversion = "2.3" // shows user_data
	s, err := servers.Get(context.Background(), &admin, serverID).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "orders" || s.Status != "ACTIVE" || s.Metadata[activities.MetadataInstanceID] != instanceID {
		t.Errorf("server: got name %q, status %s, metadata %v", s.Name, s.Status, s.Metadata)
	}
	if len(s.AttachedVolumes) != 1 || s.AttachedVolumes[0].ID != volumeID {
		t.Errorf("server volumes: got %+v, want volume %s", s.AttachedVolumes, volumeID)
	}
	if s.Userdata == nil {
		t.Fatal("server has no user_data")
	}
	raw, err := base64.StdEncoding.DecodeString(*s.Userdata)
	if err != nil {
		t.Fatalf("user_data is not base64: %v", err)
	}
	var got guest.Config
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("user_data %q is not the guest's JSON config: %v", raw, err)
	}
	bootstrap, err := guestauth.Bootstrap(masterKey, instanceID, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := guest.Config{
		InstanceID: instanceID, Datastore: "postgresql", Version: "15", VolumeID: volumeID,
		GatewayHostPort: "10.0.0.1:7243", TemporalNamespace: "default", Bootstrap: bootstrap,
	}
	if got != want {
		t.Errorf("guest config in user_data:\n got  %+v\n want %+v", got, want)
	}
	if strings.Contains(string(raw), codecKey) {
		t.Errorf("user_data holds the master key: %s", raw)
	}
}

// checkNothingNamed checks the cloud lists no server, volume, port or group with the name.
func checkNothingNamed(t *testing.T, a *activities.Activities, name string) {
	t.Helper()
	ctx := context.Background()
	sp, err := servers.List(a.Compute, servers.ListOpts{}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all, _ := servers.ExtractServers(sp)
	var ss []servers.Server
	for _, s := range all {
		if s.Metadata[activities.MetadataInstanceID] == strings.TrimPrefix(name, "coffer-") {
			ss = append(ss, s)
		}
	}
	vp, err := volumes.List(a.BlockStorage, volumes.ListOpts{Name: name}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	vs, _ := volumes.ExtractVolumes(vp)
	pp, err := ports.List(a.Network, ports.ListOpts{Name: name}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ps, _ := ports.ExtractPorts(pp)
	gp, err := groups.List(a.Network, groups.ListOpts{Name: name}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gs, _ := groups.ExtractGroups(gp)
	if len(ss)+len(vs)+len(ps)+len(gs) != 0 {
		t.Errorf("left behind after the deletes: %d servers, %d volumes, %d ports, %d groups named %s", len(ss), len(vs), len(ps), len(gs), name)
	}
}

func TestActivitiesFailServerThatCannotBoot(t *testing.T) {
	c := startCloud(t, "/bin/sh", "-c", "echo no engine here; exit 3")
	a := c.acts
	id := uuid.NewString()
	var imageID, group, volume, server string
	var port activities.Port
	c.must(&imageID, a.ResolveImage, activities.ResolveImageInput{InstanceID: id, Tag: "coffer-postgresql-15"})
	c.must(&group, a.CreateSecurityGroup, activities.CreateSecurityGroupInput{InstanceID: id, Port: 5432})
	c.must(&port, a.CreatePort, activities.CreatePortInput{InstanceID: id, SecurityGroupID: group})
	c.must(&volume, a.CreateVolume, activities.CreateVolumeInput{InstanceID: id, Size: 1})
	c.must(nil, a.WaitVolumeAvailable, activities.ResourceRef{InstanceID: id, ID: volume})
	c.must(&server, a.CreateServer, activities.CreateServerInput{
		InstanceID: id, FlavorID: "ds512M", ImageID: imageID, PortID: port.ID, VolumeID: volume, Datastore: "postgresql", Version: "15",
	})

	err := c.run(nil, a.WaitServerActive, activities.ResourceRef{InstanceID: id, ID: server})
	applicationError(t, err, activities.ErrorTypeServerFailed, false)

	// A security group still used by a port cannot go yet: retried, not failed.
	err = c.run(nil, a.DeleteSecurityGroup, activities.ResourceRef{InstanceID: id, ID: group})
	applicationError(t, err, activities.ErrorTypeInUse, true)

	// The compensation of a create: every piece goes, the failed server first.
	c.must(nil, a.DeleteServer, activities.ResourceRef{InstanceID: id, ID: server})
	c.must(nil, a.WaitServerDeleted, activities.ResourceRef{InstanceID: id, ID: server})
	c.must(nil, a.DeleteVolume, activities.ResourceRef{InstanceID: id})
	c.must(nil, a.DeletePort, activities.ResourceRef{InstanceID: id})
	c.must(nil, a.DeleteSecurityGroup, activities.ResourceRef{InstanceID: id})
	checkNothingNamed(t, a, "coffer-"+id)
}

func TestActivitiesMapCloudErrors(t *testing.T) {
	c := startCloud(t, sleeper...)
	a := c.acts
	id := uuid.NewString()

	err := c.run(nil, a.ResolveImage, activities.ResolveImageInput{InstanceID: id, Tag: "coffer-nosuch-1"})
	applicationError(t, err, activities.ErrorTypeImageNotFound, false)

	c.inject("volume", "volume.create", http.StatusInternalServerError, 1)
	err = c.run(nil, a.CreateVolume, activities.CreateVolumeInput{InstanceID: id, Size: 1})
	applicationError(t, err, activities.ErrorTypeCloud, true)
	if err != nil && !strings.Contains(err.Error(), "create volume for instance "+id) {
		t.Errorf("error %q does not say what failed for which instance", err)
	}

	c.inject("volume", "volume.create", http.StatusRequestEntityTooLarge, 1)
	err = c.run(nil, a.CreateVolume, activities.CreateVolumeInput{InstanceID: id, Size: 1})
	applicationError(t, err, activities.ErrorTypeQuotaExceeded, false)

	err = c.run(nil, a.CreateVolume, activities.CreateVolumeInput{InstanceID: id, Size: -1})
	applicationError(t, err, activities.ErrorTypeBadRequest, false)

	err = c.run(nil, a.WaitVolumeAvailable, activities.ResourceRef{InstanceID: id, ID: uuid.NewString()})
	applicationError(t, err, activities.ErrorTypeCloudNotFound, false)

	// The fault spent, the same call succeeds: retries mend what was transient.
	var volume string
	c.must(&volume, a.CreateVolume, activities.CreateVolumeInput{InstanceID: id, Size: 1})
	c.must(nil, a.DeleteVolume, activities.ResourceRef{InstanceID: id, ID: volume})
}

func TestCatalogActivitiesRecordWhatTheWorkflowsSay(t *testing.T) {
	store, acts, env := catalogActivities(t, nil)
	ctx := context.Background()
	recorded := &coffer.Instance{ProjectID: "p1", Name: "orders", FlavorID: "ds1G", VolumeSize: 1, Datastore: "postgresql", Version: "15"}
	if err := store.CreateInstance(ctx, recorded); err != nil {
		t.Fatal(err)
	}
	i1 := recorded.ID
	get := func() *coffer.Instance {
		t.Helper()
		inst, err := store.GetInstance(ctx, "", i1)
		if err != nil {
			t.Fatalf("get instance: %v", err)
		}
		return inst
	}

	run := func(fn any, args ...any) {
		t.Helper()
		if _, err := env.ExecuteActivity(fn, args...); err != nil {
			t.Fatalf("activity failed: %v", err)
		}
	}
	run(acts.RecordResources, activities.RecordResourcesInput{InstanceID: i1, Resources: catalog.Resources{VolumeID: "vol-1"}})
	run(acts.RecordResources, activities.RecordResourcesInput{InstanceID: i1, Resources: catalog.Resources{ServerID: "srv-1", ServerStatus: "ACTIVE"}})
	run(acts.MarkActive, i1)
	if inst := get(); inst.VolumeID != "vol-1" || inst.ServerID != "srv-1" || inst.Status() != "ACTIVE" || inst.ServiceStatus != coffer.ServiceHealthy {
		t.Errorf("after MarkActive: got volume %q, server %q, status %s, service %s", inst.VolumeID, inst.ServerID, inst.Status(), inst.ServiceStatus)
	}

	v, err := env.ExecuteActivity(acts.GetInstanceResources, activities.GetInstanceInput{InstanceID: i1, ProjectID: "p1"})
	if err != nil {
		t.Fatal(err)
	}
	var r catalog.Resources
	if err := v.Get(&r); err != nil || r.ServerID != "srv-1" || r.VolumeID != "vol-1" {
		t.Errorf("GetInstanceResources: got %+v (%v)", r, err)
	}
	gone, err := env.ExecuteActivity(acts.GetInstanceResources, activities.GetInstanceInput{InstanceID: uuid.NewString()})
	if err != nil {
		t.Fatalf("GetInstanceResources of a missing instance: %v, want empty resources", err)
	}
	var empty catalog.Resources
	if err := gone.Get(&empty); err != nil || empty != (catalog.Resources{}) {
		t.Errorf("GetInstanceResources of a missing instance: got %+v (%v), want empty resources", empty, err)
	}

	run(acts.RecordFault, activities.RecordFaultInput{InstanceID: i1, Message: "create volume failed: quota", Details: "chain"})
	if inst := get(); inst.Status() != "ERROR" || inst.Fault == nil || inst.Fault.Message != "create volume failed: quota" {
		t.Errorf("after RecordFault: got status %s, fault %+v", inst.Status(), inst.Fault)
	}
	run(acts.DeleteInstanceRecord, i1)
	run(acts.DeleteInstanceRecord, i1)
	if insts, err := store.ListInstances(ctx, "", 0, ""); err != nil || len(insts) != 0 {
		t.Errorf("instances after DeleteInstanceRecord: got %d (%v), want 0", len(insts), err)
	}

	_, err = env.ExecuteActivity(acts.MarkActive, uuid.NewString())
	applicationError(t, err, activities.ErrorTypeNotInCatalog, false)
}

// TestNewRefusesMissingDependencies checks that activities missing a dependency are
// refused when they are built, naming each missing one, rather than failing when an
// activity first needs it.
func TestNewRefusesMissingDependencies(t *testing.T) {
	_, err := activities.New(activities.Deps{Compute: &gophercloud.ServiceClient{}, Backup: activities.BackupSettings{Key: []byte("k")}})
	if err == nil {
		t.Fatal("New with only Compute succeeded, want an error")
	}
	for _, want := range []string{"BlockStorage", "Network", "Image", "Catalog", "NetworkID", "ObjectStorage", "Guest.MasterKey", "Guest.GatewayHostPort"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("got %q, want it to name %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "Compute") {
		t.Errorf("got %q, which names Compute, given", err)
	}
}

// TestScheduledBackupsRespectTheBackupsQuota checks that a scheduled backup's record
// counts against the project's backups quota as a user's does, and past it fails without
// retries and records nothing.
func TestScheduledBackupsRespectTheBackupsQuota(t *testing.T) {
	store, acts, env := catalogActivities(t, catalog.QuotaLimits{catalog.ResourceBackups: 1})
	ctx := context.Background()
	inst := &coffer.Instance{ProjectID: "p1", Name: "orders", FlavorID: "ds1G", VolumeSize: 1, Datastore: "postgresql", Version: "15"}
	if err := store.CreateInstance(ctx, inst); err != nil {
		t.Fatal(err)
	}
	if err := store.SetTask(ctx, inst.ID, coffer.TaskNone); err != nil {
		t.Fatal(err)
	}
	record := func(name string) error {
		_, err := env.ExecuteActivity(acts.CreateBackupRecord, activities.CreateBackupRecordInput{
			BackupID: uuid.NewString(), InstanceID: inst.ID, ProjectID: "p1", Name: name, ScheduleID: "s1"})
		return err
	}
	if err := record("first"); err != nil {
		t.Fatalf("first scheduled backup: %v", err)
	}
	bs, err := store.ListBackups(ctx, catalog.BackupFilter{ProjectID: "p1"})
	if err != nil || len(bs) != 1 {
		t.Fatalf("backups: got %d (%v), want 1", len(bs), err)
	}
	if err := store.FailBackup(ctx, bs[0].ID, "test"); err != nil {
		t.Fatal(err)
	}
	applicationError(t, record("second"), activities.ErrorTypeProjectQuotaExceeded, false)
	if bs, _ := store.ListBackups(ctx, catalog.BackupFilter{ProjectID: "p1"}); len(bs) != 1 {
		t.Errorf("backups after the refused one: got %d, want 1", len(bs))
	}
}

// TestClaimOfAResizeRespectsTheQuotas checks that a resize's claim holds the instance only
// within its project's quotas, refuses past them without retries, and that a retry of a
// claim that went through still counts as claimed.
func TestClaimOfAResizeRespectsTheQuotas(t *testing.T) {
	store, acts, env := catalogActivities(t, nil)
	ctx := context.Background()
	inst := &coffer.Instance{ProjectID: "p1", Name: "orders", FlavorID: "ds1G", VolumeSize: 2, Datastore: "postgresql", Version: "15"}
	if err := store.CreateInstance(ctx, inst); err != nil {
		t.Fatal(err)
	}
	if err := store.SetTask(ctx, inst.ID, coffer.TaskNone); err != nil {
		t.Fatal(err)
	}
	quotas := catalog.QuotaLimits{catalog.ResourceVolumes: 5}
	claim := func(size int) error {
		_, err := env.ExecuteActivity(acts.ClaimTask, activities.ClaimTaskInput{InstanceID: inst.ID, Task: coffer.TaskResizing,
			WorkflowID: "instance/" + inst.ID + "/resize", Resize: &activities.ResizeQuota{VolumeSize: size, Quotas: quotas}})
		return err
	}
	applicationError(t, claim(6), activities.ErrorTypeProjectQuotaExceeded, false)
	if got, _ := store.GetInstance(ctx, "", inst.ID); got.Task != coffer.TaskNone {
		t.Fatalf("after the refused claim: task %s, want NONE", got.Task)
	}
	if err := claim(5); err != nil {
		t.Fatalf("claim within the quota: %v", err)
	}
	if err := claim(5); err != nil {
		t.Fatalf("the same claim again (a retry): %v", err)
	}
	if got, _ := store.GetInstance(ctx, "", inst.ID); got.Task != coffer.TaskResizing {
		t.Errorf("after the claim: task %s, want RESIZING", got.Task)
	}
}

// TestClaimsAreTheirWorkflowsOwn checks the claims of a replication group and of a backup:
// a claim retried by the workflow that made it is claimed, another workflow's is busy.
func TestClaimsAreTheirWorkflowsOwn(t *testing.T) {
	store, acts, env := catalogActivities(t, nil)
	ctx := context.Background()
	var group []string
	for _, name := range []string{"primary", "r1", "r2"} {
		inst := &coffer.Instance{ProjectID: "p1", Name: name, FlavorID: "ds1G", VolumeSize: 1, Datastore: "postgresql", Version: "15"}
		if err := store.CreateInstance(ctx, inst); err != nil {
			t.Fatal(err)
		}
		if err := store.SetTask(ctx, inst.ID, coffer.TaskNone); err != nil {
			t.Fatal(err)
		}
		group = append(group, inst.ID)
	}
	tasks := map[string]coffer.Task{}
	for _, id := range group {
		tasks[id] = coffer.TaskPromoting
	}
	promote := func(replica string) activities.ClaimTasksInput {
		return activities.ClaimTasksInput{Tasks: tasks, InstanceID: replica, WorkflowID: "instance/" + replica + "/promote"}
	}
	for range 2 { // the second is the first one's retry
		if _, err := env.ExecuteActivity(acts.ClaimTasks, promote(group[1])); err != nil {
			t.Fatalf("claim of the promote of r1: %v", err)
		}
	}
	_, err := env.ExecuteActivity(acts.ClaimTasks, promote(group[2]))
	applicationError(t, err, activities.ErrorTypeInstanceBusy, false)
	_, err = env.ExecuteActivity(acts.ClaimTask, activities.ClaimTaskInput{InstanceID: group[0], Task: coffer.TaskPromoting, WorkflowID: "instance/" + group[0] + "/delete"})
	applicationError(t, err, activities.ErrorTypeInstanceBusy, false)
	_, err = env.ExecuteActivity(acts.ClaimTasks, activities.ClaimTasksInput{Tasks: tasks, InstanceID: group[1], WorkflowID: "late", NotAfter: time.Now().Add(-time.Second)})
	applicationError(t, err, activities.ErrorTypeClaimTooLate, false)

	// A backup's record is its claim: retried, it is the backup's own; another backup is
	// refused as such, and a task refuses it as busy.
	if err := store.SetTask(ctx, group[0], coffer.TaskNone); err != nil {
		t.Fatal(err)
	}
	backup := func(id string) activities.CreateBackupRecordInput {
		return activities.CreateBackupRecordInput{BackupID: id, InstanceID: group[0], ProjectID: "p1", Name: "b"}
	}
	first := uuid.NewString()
	for range 2 {
		if _, err := env.ExecuteActivity(acts.CreateBackupRecord, backup(first)); err != nil {
			t.Fatalf("record of the backup: %v", err)
		}
	}
	_, err = env.ExecuteActivity(acts.CreateBackupRecord, backup(uuid.NewString()))
	applicationError(t, err, activities.ErrorTypeBackupRunning, false)
	_, err = env.ExecuteActivity(acts.CreateBackupRecord, activities.CreateBackupRecordInput{BackupID: uuid.NewString(), InstanceID: group[1], ProjectID: "p1", Name: "b"})
	applicationError(t, err, activities.ErrorTypeInstanceBusy, false)
}

// catalogActivities is the activities on a fresh catalog, with no cloud behind them (the
// catalog activities need none; New wants the clients all the same), and an environment
// to run them in.
func catalogActivities(t *testing.T, quotas catalog.QuotaLimits) (*catalog.Store, *activities.Activities, *testsuite.TestActivityEnvironment) {
	t.Helper()
	store := newCatalog(t)
	acts, err := activities.New(activities.Deps{
		Compute: &gophercloud.ServiceClient{}, BlockStorage: &gophercloud.ServiceClient{},
		Network: &gophercloud.ServiceClient{}, Image: &gophercloud.ServiceClient{},
		Catalog: store, NetworkID: "private", Quotas: quotas,
		Guest: activities.Guest{GatewayHostPort: "10.0.0.1:7243", Namespace: "default", MasterKey: masterKey},
	})
	if err != nil {
		t.Fatal(err)
	}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	return store, acts, env
}

func TestGuestUserDataIsTheSameForAGenerationAndNewForTheNext(t *testing.T) {
	a := &activities.Activities{Deps: activities.Deps{Guest: activities.Guest{
		GatewayHostPort: "10.0.0.1:7243", Namespace: "default", MasterKey: masterKey}}}
	s := activities.GuestServer{InstanceID: uuid.NewString(), Datastore: "postgresql", Version: "15", VolumeID: uuid.NewString()}
	first, err := a.GuestUserData(s, 0)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := a.GuestUserData(s, 0)
	next, _ := a.GuestUserData(s, 1)
	if string(again) != string(first) {
		t.Errorf("user_data of generation 0 twice:\n %s\n %s\nwant the same (a retried create)", first, again)
	}
	var c0, c1 guest.Config
	if err := json.Unmarshal(first, &c0); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(next, &c1); err != nil {
		t.Fatal(err)
	}
	if c0.Bootstrap == "" || c0.Bootstrap == c1.Bootstrap {
		t.Errorf("bootstrap secrets of generations 0 and 1: %q and %q, want two different ones", c0.Bootstrap, c1.Bootstrap)
	}
	other, _ := a.GuestUserData(activities.GuestServer{InstanceID: uuid.NewString()}, 0)
	var co guest.Config
	json.Unmarshal(other, &co)
	if co.Bootstrap == c0.Bootstrap {
		t.Error("two instances got the same bootstrap secret")
	}
}

// A replica's configuration follows its primary's group in the settings a hot standby
// needs at least as high, and only there, and only upwards.
func TestReplicaConfigurationHasAtLeastThePrimarysHotStandbySettings(t *testing.T) {
	store, acts, env := catalogActivities(t, nil)
	ctx := context.Background()
	version, err := store.FindDatastoreVersion(ctx, "postgresql", "15")
	if err != nil {
		t.Fatal(err)
	}
	instance := func(name string, values map[string]any) string {
		t.Helper()
		inst := &coffer.Instance{ProjectID: "p1", Name: name, FlavorID: "ds1G", VolumeSize: 1, Datastore: "postgresql", Version: "15"}
		if err := store.CreateInstance(ctx, inst); err != nil {
			t.Fatal(err)
		}
		if err := store.SetTask(ctx, inst.ID, coffer.TaskNone); err != nil {
			t.Fatal(err)
		}
		c := &catalog.Configuration{ID: uuid.NewString(), ProjectID: "p1", Name: name, VersionID: version.ID, Values: values}
		if err := store.CreateConfiguration(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := store.SetInstanceConfiguration(ctx, "p1", inst.ID, c.ID); err != nil {
			t.Fatal(err)
		}
		return inst.ID
	}
	primary := instance("primary", map[string]any{"max_connections": 200.0, "max_locks_per_transaction": 128.0, "work_mem": 8192.0})
	replica := instance("replica", map[string]any{"max_connections": 50.0, "max_prepared_transactions": 10.0, "max_locks_per_transaction": 256.0})
	if err := store.SetReplicaOf(ctx, replica, primary); err != nil {
		t.Fatal(err)
	}
	configuration := func(id string) map[string]string {
		t.Helper()
		v, err := env.ExecuteActivity(acts.GetInstanceConfiguration, id)
		if err != nil {
			t.Fatalf("GetInstanceConfiguration %s: %v", id, err)
		}
		var c activities.InstanceConfiguration
		if err := v.Get(&c); err != nil {
			t.Fatal(err)
		}
		return c.Values
	}
	if got, want := configuration(replica), map[string]string{"max_connections": "200", "max_prepared_transactions": "10", "max_locks_per_transaction": "256"}; !maps.Equal(got, want) {
		t.Errorf("replica: got %v, want %v", got, want)
	}
	if got, want := configuration(primary), map[string]string{"max_connections": "200", "max_locks_per_transaction": "128", "work_mem": "8192"}; !maps.Equal(got, want) {
		t.Errorf("primary: got %v, want %v", got, want)
	}
}
