package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
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
