package workflows

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"

	"github.com/coffer-dbaas/coffer/activities"
	"github.com/coffer-dbaas/coffer/guest"
)

func upgradeInput() RebuildInstanceInput {
	return RebuildInstanceInput{
		InstanceID: instanceID, ProjectID: "demo-project", Upgrade: true, ImageID: "image-new",
		Datastore: "postgresql", Version: "15-next", OldVersion: "15",
	}
}

// mockRebuild answers the rebuild's steps; rebuilds records each RebuildServer's input, and
// a rebuild onto failImage leaves the server in ERROR.
func (h *harness) mockRebuild(failImage string) *[]activities.RebuildServerInput {
	var mu sync.Mutex
	var rebuilds []activities.RebuildServerInput
	last := ""
	h.env.OnActivity(a.GetInstanceResources, mock.Anything, mock.Anything).Return(recorded, nil)
	h.env.OnActivity(a.ServerImage, mock.Anything, mock.Anything).Return("image-old", nil)
	h.env.OnActivity(guest.StopEngineActivity, mock.Anything).Return(nil)
	h.env.OnActivity(a.RebuildServer, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.RebuildServerInput) error {
		mu.Lock()
		defer mu.Unlock()
		rebuilds, last = append(rebuilds, in), in.ImageID
		return nil
	})
	h.env.OnActivity(a.WaitServerStatus, mock.Anything, mock.Anything).Return(func(context.Context, activities.WaitServerStatusInput) error {
		mu.Lock()
		defer mu.Unlock()
		if last == failImage {
			return temporal.NewNonRetryableApplicationError("nova put the server in ERROR: image does not boot", activities.ErrorTypeServerFailed, nil)
		}
		return nil
	})
	h.env.OnActivity(guest.StartEngineActivity, mock.Anything).Return(nil)
	h.env.OnActivity(guest.HealthActivity, mock.Anything).Return(healthy(), nil)
	return &rebuilds
}

func TestUpgradeRebuildsOnTheNewImageAndRecordsTheVersion(t *testing.T) {
	h := newHarness(t)
	h.mockCatalog(recorded)
	rebuilds := h.mockRebuild("")
	h.env.ExecuteWorkflow(RebuildInstance, upgradeInput())
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("upgrade failed: %v", err)
	}
	h.checkSearchAttributes(instanceID, "demo-project", "upgrade")
	want := activities.RebuildServerInput{InstanceID: instanceID, ServerID: "server-1", ImageID: "image-new", Datastore: "postgresql", Version: "15-next", VolumeID: "vol-1"}
	if len(*rebuilds) != 1 || (*rebuilds)[0] != want {
		t.Errorf("rebuilds: got %+v, want one %+v", *rebuilds, want)
	}
	if len(h.finished) != 1 || h.finished[0] != (activities.FinishTaskInput{InstanceID: instanceID, Version: "15-next"}) {
		t.Errorf("task ends: got %+v, want one with version 15-next", h.finished)
	}
}

func TestRebuildOntoABrokenImageComesBackOnTheOldOne(t *testing.T) {
	h := newHarness(t)
	h.mockCatalog(recorded)
	rebuilds := h.mockRebuild("image-broken")
	in := upgradeInput()
	in.Upgrade, in.ImageID, in.Version = false, "image-broken", "15"
	h.env.ExecuteWorkflow(RebuildInstance, in)
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("rebuild rolled back should end the workflow well, got %v", err)
	}
	h.checkSearchAttributes(instanceID, "demo-project", "rebuild")
	if len(*rebuilds) != 2 || (*rebuilds)[0].ImageID != "image-broken" || (*rebuilds)[1].ImageID != "image-old" || (*rebuilds)[1].Version != "15" {
		t.Fatalf("rebuilds: got %+v, want the broken image then the old one", *rebuilds)
	}
	if len(h.finished) != 1 || h.finished[0].Version != "" || !strings.Contains(h.finished[0].FaultMessage, "old image") {
		t.Errorf("task ends: got %+v, want one keeping the version, with the failure as its fault", h.finished)
	}
	if len(h.faults) != 0 {
		t.Errorf("faults recorded: got %+v, want none (the instance is back, ACTIVE)", h.faults)
	}
}
