package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/coffer-dbaas/coffer"
)

// TestUpgradeAndRebuildStartTheRebuildWorkflow: PATCH datastore_version (python-troveclient's
// upgrade) starts an upgrade onto the version's image; an admin's mgmt rebuild starts a
// rebuild onto the image; bad versions, images and busy instances are refused.
func TestUpgradeAndRebuildStartTheRebuildWorkflow(t *testing.T) {
	h := newHarness(t)
	demo, admin := h.login("demo"), h.login("admin")
	r := h.do(http.MethodPost, "/v1.0/"+admin.projectID+"/mgmt/datastore-versions", admin.token, map[string]any{"version": map[string]any{
		"datastore_name": "postgresql", "datastore_manager": "postgresql", "name": "15-next",
		"image_tags": []string{"coffer-postgresql-15-next"}, "active": true, "default": false,
	}})
	if r.status >= 300 {
		t.Fatalf("add version 15-next: got %d %s", r.status, r.body)
	}
	id := h.addInstance(demo.projectID, "orders", coffer.TaskNone)
	path := "/v1.0/" + demo.projectID + "/instances/" + id

	wantFault(t, "upgrade to an unknown version", h.do(http.MethodPatch, path, demo.token, `{"instance": {"datastore_version": "99"}}`), 404, "itemNotFound")
	wantFault(t, "upgrade to the version it runs", h.do(http.MethodPatch, path, demo.token, `{"instance": {"datastore_version": "15"}}`), 400, "badRequest")
	if r := h.do(http.MethodPatch, path, demo.token, `{"instance": {"datastore_version": "15-next"}}`); r.status != http.StatusAccepted {
		t.Fatalf("upgrade: got %d %s, want 202", r.status, r.body)
	}
	got := h.workflows.ops().rebuilds
	if len(got) != 1 || !got[0].Upgrade || got[0].Version != "15-next" || got[0].OldVersion != "15" || got[0].ImageID == "" {
		t.Fatalf("upgrade started: got %+v", got)
	}
	if st := h.show(demo, id).Instance.Status; st != "UPGRADE" {
		t.Errorf("status during the upgrade: got %s, want UPGRADE", st)
	}
	h.update(id, func(i *coffer.Instance) { i.Task = coffer.TaskNone })

	action := "/v1.0/" + admin.projectID + "/mgmt/instances/" + id + "/action"
	wantFault(t, "member rebuilds", h.do(http.MethodPost, "/v1.0/"+demo.projectID+"/mgmt/instances/"+id+"/action", demo.token, `{"rebuild": {"image_id": "`+got[0].ImageID+`"}}`), 403, "forbidden")
	wantFault(t, "rebuild onto no image", h.do(http.MethodPost, action, admin.token, `{"rebuild": {"image_id": "0b4c53f1-0000-4b8b-9d4e-3a0a2f7b1c11"}}`), 400, "badRequest")
	wantFault(t, "rebuild onto an image path", h.do(http.MethodPost, action, admin.token, `{"rebuild": {"image_id": "../x"}}`), 400, "badRequest")
	if r := h.do(http.MethodPost, action, admin.token, `{"rebuild": {"image_id": "`+got[0].ImageID+`"}}`); r.status != http.StatusAccepted {
		t.Fatalf("rebuild: got %d %s, want 202", r.status, r.body)
	}
	got = h.workflows.ops().rebuilds
	if len(got) != 2 || got[1].Upgrade || got[1].Version != "15" || got[1].OldVersion != "15" {
		t.Fatalf("rebuild started: got %+v", got[1:])
	}
	if st := h.show(demo, id).Instance.Status; st != "REBUILD" {
		t.Errorf("status during the rebuild: got %s, want REBUILD", st)
	}
	r = h.do(http.MethodPatch, path, demo.token, `{"instance": {"datastore_version": "15-next"}}`)
	wantFault(t, "upgrade during the rebuild", r, 422, "unprocessableEntity")
	if !strings.Contains(string(r.body), id) {
		t.Errorf("busy fault does not name the instance: %s", r.body)
	}
}

// TestAVersionNamesItsImageByID: a version added with image (a Glance ID) instead of
// image_tags boots that image; one whose image Glance does not have makes no instance.
func TestAVersionNamesItsImageByID(t *testing.T) {
	h := newHarness(t)
	demo, admin := h.login("demo"), h.login("admin")
	// The image of the seeded version, found as a create finds it.
	r := h.do(http.MethodPost, "/v1.0/"+demo.projectID+"/instances", demo.token, `{"instance": {"name": "a", "flavorRef": "ds1G", "volume": {"size": 1}}}`)
	if r.status != http.StatusOK {
		t.Fatalf("create: got %d %s", r.status, r.body)
	}
	imageID := h.workflows.creates[0].ImageID
	for name, image := range map[string]string{"15.2": imageID, "15.3": "0b4c53f1-0000-4b8b-9d4e-3a0a2f7b1c11"} {
		r := h.do(http.MethodPost, "/v1.0/"+admin.projectID+"/mgmt/datastore-versions", admin.token, map[string]any{"version": map[string]any{
			"datastore_name": "postgresql", "datastore_manager": "postgresql", "name": name, "image": image, "active": true,
		}})
		if r.status >= 300 {
			t.Fatalf("add version %s by image ID: got %d %s", name, r.status, r.body)
		}
	}
	r = h.do(http.MethodGet, "/v1.0/"+admin.projectID+"/mgmt/datastore-versions", admin.token, nil)
	if !strings.Contains(string(r.body), `"image":"`+imageID+`","image_tags":[]`) {
		t.Errorf("versions do not show the image by ID: %s", r.body)
	}
	r = h.do(http.MethodPost, "/v1.0/"+demo.projectID+"/instances", demo.token, `{"instance": {"name": "b", "flavorRef": "ds1G", "volume": {"size": 1}, "datastore": {"type": "postgresql", "version": "15.2"}}}`)
	if r.status != http.StatusOK {
		t.Fatalf("create on version 15.2: got %d %s", r.status, r.body)
	}
	if got := h.workflows.creates[1]; got.ImageID != imageID || got.Version != "15.2" {
		t.Errorf("create on version 15.2: got image %s version %s, want %s 15.2", got.ImageID, got.Version, imageID)
	}
	r = h.do(http.MethodPost, "/v1.0/"+demo.projectID+"/instances", demo.token, `{"instance": {"name": "c", "flavorRef": "ds1G", "volume": {"size": 1}, "datastore": {"type": "postgresql", "version": "15.3"}}}`)
	wantFault(t, "create on a version whose image Glance lacks", r, 400, "badRequest")
}
