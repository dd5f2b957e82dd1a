package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/databases"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/instances"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/users"
	"github.com/jackc/pgx/v5"
	enumspb "go.temporal.io/api/enums/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/coffer-dbaas/coffer/dev/devcloud"
	"github.com/coffer-dbaas/coffer/workflows"
)

func randomPassword(t testing.TB) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "pw-" + hex.EncodeToString(b)
}

func postgresOpts(name string) instances.CreateOpts {
	return instances.CreateOpts{
		Name: name, FlavorRef: "ds512M", Size: 1,
		Datastore: &instances.DatastoreOpts{Type: "postgresql", Version: "15"},
	}
}

// rawGet sends GET with a tenant's token and returns the status and body.
func rawGet(t testing.TB, tok, url string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("X-Auth-Token", tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// wantHiddenFrom checks that another project sees nothing of the instance: 404 for the
// instance through its own project, 403 for the owner's project path.
func wantHiddenFrom(t *testing.T, other, owner tenant, id string) {
	t.Helper()
	_, err := instances.Get(context.Background(), other.db, id).Extract()
	if !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		t.Fatalf("another project gets instance %s: got %v, want 404", id, err)
	}
	code, body := rawGet(t, other.provider.Token(), cloud.APIURL+"/v1.0/"+owner.projectID+"/instances/"+id)
	if code != http.StatusForbidden || strings.Contains(body, id) {
		t.Fatalf("another project reads the owner's path: got %d %s, want 403 without data", code, body)
	}
}

func TestInstanceLifecycleThroughTroveAPI(t *testing.T) {
	ctx := context.Background()
	demo, alt := login(t, "demo"), login(t, "alt_demo")
	password := randomPassword(t)

	opts := postgresOpts("orders")
	opts.Databases = databases.BatchCreateOpts{{Name: "shop"}}
	opts.Users = users.BatchCreateOpts{{Name: "clerk", Password: password, Databases: databases.BatchCreateOpts{{Name: "shop"}}}}
	created, err := instances.Create(ctx, demo.db, opts).Extract()
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if created.Status != "BUILD" || created.Name != "orders" || created.Volume.Size != 1 || created.Datastore.Type != "postgresql" {
		t.Fatalf("create answered %+v, want BUILD orders with a 1 GB postgresql volume", created)
	}
	id := created.ID
	wantHiddenFrom(t, alt, demo, id)

	inst := waitStatus(t, demo.db, id, "ACTIVE", 3*time.Minute)
	wantHiddenFrom(t, alt, demo, id)
	code, body := rawGet(t, demo.provider.Token(), cloud.APIURL+"/v1.0/"+demo.projectID+"/instances/"+id)
	if code != http.StatusOK || !strings.Contains(body, `"operating_status":"HEALTHY"`) {
		t.Fatalf("show: got %d %s, want operating_status HEALTHY", code, body)
	}
	if len(inst.IP) == 0 {
		t.Fatalf("instance %+v has no address", inst)
	}

	// The tenant connects to its database as the user it asked for, and keeps data there.
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://clerk:%s@%s:5432/shop?sslmode=disable", password, inst.IP[0]))
	if err != nil {
		t.Fatalf("connect as clerk: %v", err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE orders (id int PRIMARY KEY, item text)"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO orders VALUES (1, 'coffee beans')"); err != nil {
		t.Fatal(err)
	}
	var item string
	if err := conn.QueryRow(ctx, "SELECT item FROM orders WHERE id = 1").Scan(&item); err != nil || item != "coffee beans" {
		t.Fatalf("read back: got %q (err %v), want coffee beans", item, err)
	}
	conn.Close(ctx)

	page, err := instances.List(demo.db).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	listed, err := instances.ExtractInstances(page)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(listed, func(i instances.Instance) bool { return i.ID == id && i.Status == "ACTIVE" }) {
		t.Fatalf("list: got %+v, want %s ACTIVE among them", listed, id)
	}
	page, err = instances.List(alt.db).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if others, _ := instances.ExtractInstances(page); slices.ContainsFunc(others, func(i instances.Instance) bool { return i.ID == id }) {
		t.Fatalf("another project lists %s", id)
	}

	wantNoSecretInHistory(t, workflows.CreateWorkflowID(id), password)

	err = instances.Delete(ctx, alt.db, id).ExtractErr()
	if !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		t.Fatalf("another project deletes %s: got %v, want 404", id, err)
	}
	if err := instances.Delete(ctx, demo.db, id).ExtractErr(); err != nil {
		t.Fatalf("delete: %v", err)
	}
	waitGone(t, demo.db, id, 2*time.Minute)
	wantHiddenFrom(t, alt, demo, id)
	if left := leftovers(t, id); len(left) > 0 {
		t.Fatalf("the cloud still holds %v of deleted instance %s", left, id)
	}
	wantGoneFromCatalog(t, id)
}

// wantNoSecretInHistory reads a workflow's history as an operator would (Web UI, `temporal
// workflow show`: raw events, no codec) and checks the secret is nowhere in it.
func wantNoSecretInHistory(t *testing.T, workflowID, secret string) {
	t.Helper()
	iter := cloud.Client.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	events := 0
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatalf("read history of %s: %v", workflowID, err)
		}
		events++
		b, err := protojson.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), secret) {
			t.Fatalf("history of %s holds the password in plain text in event %d (%s)", workflowID, ev.GetEventId(), ev.GetEventType())
		}
	}
	if events == 0 {
		t.Fatalf("history of %s is empty", workflowID)
	}
}

func TestTenInstancesCreatedAtOnceAllBecomeActiveAndDeleteCleanly(t *testing.T) {
	ctx := context.Background()
	demo := login(t, "demo")
	const n = 10
	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			inst, err := instances.Create(ctx, demo.db, postgresOpts(fmt.Sprintf("fleet-%d", i))).Extract()
			if err != nil {
				errs <- fmt.Errorf("create fleet-%d: %w", i, err)
				return
			}
			ids[i] = inst.ID
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, id := range ids {
		waitStatus(t, demo.db, id, "ACTIVE", 5*time.Minute)
	}
	for _, id := range ids {
		if err := instances.Delete(ctx, demo.db, id).ExtractErr(); err != nil {
			t.Fatalf("delete %s: %v", id, err)
		}
	}
	for _, id := range ids {
		waitGone(t, demo.db, id, 3*time.Minute)
		if left := leftovers(t, id); len(left) > 0 {
			t.Errorf("the cloud still holds %v of deleted instance %s", left, id)
		}
		wantGoneFromCatalog(t, id)
	}
}

func TestCreateThatFailsInTheCloudEndsInErrorAndLeavesNothingBehind(t *testing.T) {
	for _, tt := range []struct {
		name, service, operation, step string
	}{
		{"volume", "volume", "volume.create", "volume"},
		{"server", "compute", "server.create", "server"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			demo, admin := login(t, "demo"), login(t, "admin")
			base := cloud.Cloud.URL()
			fault, err := devcloud.InjectFault(ctx, admin.provider, base, devcloud.Fault{
				Service: tt.service, Operation: tt.operation, Status: http.StatusInternalServerError, Message: "the cloud is on fire",
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = devcloud.RemoveFault(ctx, admin.provider, base, fault.ID) })

			inst, err := instances.Create(ctx, demo.db, postgresOpts("doomed-"+tt.name)).Extract()
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			failed := waitStatus(t, demo.db, inst.ID, "ERROR", 3*time.Minute)
			if failed.Fault == nil || !strings.Contains(failed.Fault.Message, tt.step) {
				t.Fatalf("got fault %+v, want one that names the %s step", failed.Fault, tt.step)
			}
			if err := devcloud.RemoveFault(ctx, admin.provider, base, fault.ID); err != nil {
				t.Fatal(err)
			}
			if left := leftovers(t, inst.ID); len(left) > 0 {
				t.Fatalf("the failed create left %v in the cloud", left)
			}
			// An instance in ERROR can be deleted, and then it is gone.
			if err := instances.Delete(ctx, demo.db, inst.ID).ExtractErr(); err != nil {
				t.Fatalf("delete the failed instance: %v", err)
			}
			waitGone(t, demo.db, inst.ID, 2*time.Minute)
			wantGoneFromCatalog(t, inst.ID)
		})
	}
}
