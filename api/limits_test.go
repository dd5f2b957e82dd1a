package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/coffer-dbaas/coffer/catalog"
)

func TestQuotaIsEnforcedOnConcurrentCreates(t *testing.T) {
	h := newHarness(t)
	demo, admin := h.login("demo"), h.login("admin")
	r := h.do(http.MethodPut, "/v1.0/"+admin.projectID+"/mgmt/quotas/"+demo.projectID, admin.token, map[string]any{"quotas": map[string]any{"instances": 2}})
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"instances":2`) {
		t.Fatalf("set quotas: got %d %s", r.status, r.body)
	}
	if r := h.do(http.MethodPut, "/v1.0/"+demo.projectID+"/mgmt/quotas/"+demo.projectID, demo.token, map[string]any{"quotas": map[string]any{"instances": 100}}); r.status != http.StatusForbidden {
		t.Fatalf("a member sets quotas: got %d %s, want 403", r.status, r.body)
	}
	var wg sync.WaitGroup
	codes := make(chan response, 6)
	for i := range 6 {
		wg.Go(func() {
			codes <- h.do(http.MethodPost, "/v1.0/"+demo.projectID+"/instances", demo.token, map[string]any{"instance": map[string]any{
				"name": fmt.Sprintf("q%d", i), "flavorRef": "ds512M", "volume": map[string]any{"size": 1}}})
		})
	}
	wg.Wait()
	close(codes)
	ok := 0
	for r := range codes {
		switch r.status {
		case http.StatusOK:
			ok++
		default:
			msg := wantFault(t, "create past the quota", r, http.StatusRequestEntityTooLarge, "overLimit")
			if !strings.HasPrefix(msg, "Quota exceeded for resources: ['instances']") {
				t.Errorf("got message %q", msg)
			}
		}
	}
	if ok != 2 {
		t.Fatalf("got %d creates through, want 2", ok)
	}
	r = h.do(http.MethodGet, "/v1.0/"+admin.projectID+"/mgmt/quotas/"+demo.projectID, admin.token, nil)
	if !strings.Contains(string(r.body), `{"resource":"instances","limit":2,"in_use":2,"reserved":0}`) {
		t.Fatalf("quotas: got %s", r.body)
	}
	r = h.do(http.MethodGet, "/v1.0/"+demo.projectID+"/limits", demo.token, nil)
	if !strings.Contains(string(r.body), `"verb":"ABSOLUTE","max_instances":2,"max_backups":50,"max_volumes":1000`) {
		t.Fatalf("limits: got %s", r.body)
	}
}

// setQuotas sets a project's own quotas as an admin.
func (h *harness) setQuotas(projectID string, quotas map[string]any) {
	h.t.Helper()
	admin := h.login("admin")
	r := h.do(http.MethodPut, "/v1.0/"+admin.projectID+"/mgmt/quotas/"+projectID, admin.token, map[string]any{"quotas": quotas})
	if r.status != http.StatusOK {
		h.t.Fatalf("set quotas: got %d %s", r.status, r.body)
	}
}

func wantOverLimit(t *testing.T, what string, r response, resource string) {
	t.Helper()
	msg := wantFault(t, what, r, http.StatusRequestEntityTooLarge, "overLimit")
	if !strings.HasPrefix(msg, "Quota exceeded for resources: ['"+resource+"']") {
		t.Errorf("%s: got message %q, want it to name %s", what, msg, resource)
	}
}

func TestBackupsQuotaIsEnforcedOnPostBackups(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	h.setQuotas(demo.projectID, map[string]any{"backups": 1})
	id := h.activeInstance(demo.projectID)
	base := "/v1.0/" + demo.projectID
	if r := h.do(http.MethodPost, base+"/backups", demo.token, map[string]any{"backup": map[string]any{"name": "one", "instance": id}}); r.status != http.StatusAccepted {
		t.Fatalf("first backup: got %d %s", r.status, r.body)
	}
	// The first backup ends, so that only the quota stands in the second's way.
	bs, err := h.catalog.ListBackups(context.Background(), catalog.BackupFilter{ProjectID: demo.projectID})
	if err != nil || len(bs) != 1 {
		t.Fatalf("backups: got %d (%v), want 1", len(bs), err)
	}
	if err := h.catalog.FailBackup(context.Background(), bs[0].ID, "test"); err != nil {
		t.Fatal(err)
	}
	r := h.do(http.MethodPost, base+"/backups", demo.token, map[string]any{"backup": map[string]any{"name": "two", "instance": id}})
	wantOverLimit(t, "second backup", r, "backups")
	if bs, _ := h.catalog.ListBackups(context.Background(), catalog.BackupFilter{ProjectID: demo.projectID}); len(bs) != 1 {
		t.Errorf("backups after the refused one: got %d, want 1", len(bs))
	}
	if n := len(h.workflows.backups); n != 1 {
		t.Errorf("backup workflows started: got %d, want 1", n)
	}
}

func TestResizesRespectTheVolumeAndRAMQuotas(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	h.setQuotas(demo.projectID, map[string]any{"volumes": 3, "ram": 1024})
	id := h.activeInstance(demo.projectID) // ds1G, 2 GiB
	action := "/v1.0/" + demo.projectID + "/instances/" + id + "/action"
	before := h.instances()

	r := h.do(http.MethodPost, action, demo.token, map[string]any{"resize": map[string]any{"volume": map[string]any{"size": 4}}})
	wantOverLimit(t, "volume resize past the quota", r, "volumes")
	r = h.do(http.MethodPost, action, demo.token, map[string]any{"resize": map[string]any{"flavorRef": "ds2G"}})
	wantOverLimit(t, "flavor resize past the quota", r, "ram")
	if after := h.instances(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("refused resizes changed the instance:\n got %v\nwant %v", after, before)
	}
	if ops := h.workflows.ops(); len(ops.resizeVolumes)+len(ops.resizeFlavors) != 0 {
		t.Errorf("refused resizes started workflows: %v %v", ops.resizeVolumes, ops.resizeFlavors)
	}

	// Within the quota, the volume resize starts.
	r = h.do(http.MethodPost, action, demo.token, map[string]any{"resize": map[string]any{"volume": map[string]any{"size": 3}}})
	if r.status != http.StatusAccepted {
		t.Fatalf("volume resize within the quota: got %d %s", r.status, r.body)
	}
}

func TestReplicasCountAgainstTheQuotas(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	primary := h.addInstance(demo.projectID, "orders", "NONE")
	h.setQuotas(demo.projectID, map[string]any{"instances": 2})
	before := h.instances()
	r := h.do(http.MethodPost, "/v1.0/"+demo.projectID+"/instances", demo.token, map[string]any{"instance": map[string]any{
		"name": "orders-replica", "replica_of": primary, "replica_count": 2,
	}})
	// The first replica fits and is made; the second does not, and the answer shows the
	// first, as a partial replica create always does.
	if r.status != http.StatusOK {
		t.Fatalf("two replicas with room for one: got %d %s, want 200", r.status, r.body)
	}
	if got := len(h.instances()); got != len(before)+1 {
		t.Fatalf("instances after the create: got %d, want %d", got, len(before)+1)
	}
	r = h.do(http.MethodPost, "/v1.0/"+demo.projectID+"/instances", demo.token, map[string]any{"instance": map[string]any{
		"name": "orders-replica", "replica_of": primary,
	}})
	wantOverLimit(t, "replica past the quota", r, "instances")
	if got := len(h.instances()); got != len(before)+1 {
		t.Errorf("instances after the refused replica: got %d, want %d", got, len(before)+1)
	}
}
