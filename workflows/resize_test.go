package workflows

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"

	"github.com/coffer-dbaas/coffer/activities"
	"github.com/coffer-dbaas/coffer/guest"
)

func resizeFlavorInput() ResizeFlavorInput {
	return ResizeFlavorInput{InstanceID: instanceID, ProjectID: "demo-project", OldFlavorID: "ds512M", NewFlavorID: "ds1G"}
}

func waitFor(status, flavor string) activities.WaitServerStatusInput {
	return activities.WaitServerStatusInput{Server: ref("server-1"), Status: status, FlavorID: flavor}
}

// mockResize answers every step of a flavor resize with success.
func (h *harness) mockResize() {
	h.env.OnActivity(guest.StopEngineActivity, mock.Anything).Return(nil)
	h.env.OnActivity(a.ResizeServer, mock.Anything, activities.ResizeServerInput{InstanceID: instanceID, ServerID: "server-1", FlavorID: "ds1G"}).Return(nil)
	h.env.OnActivity(a.WaitServerStatus, mock.Anything, waitFor("VERIFY_RESIZE", "ds1G")).Return(nil)
	h.env.OnActivity(guest.StartEngineActivity, mock.Anything).Return(nil)
	h.env.OnActivity(guest.HealthActivity, mock.Anything).Return(healthy(), nil)
	h.env.OnActivity(a.ConfirmResize, mock.Anything, ref("server-1")).Return(nil)
	h.env.OnActivity(a.WaitServerStatus, mock.Anything, waitFor("ACTIVE", "ds1G")).Return(nil)
	h.env.OnActivity(a.RevertResize, mock.Anything, ref("server-1")).Return(nil)
	h.env.OnActivity(a.WaitServerStatus, mock.Anything, waitFor("ACTIVE", "ds512M")).Return(nil)
}

func TestResizeFlavorStopsResizesStartsAndConfirms(t *testing.T) {
	h := newHarness(t)
	h.mockCatalog(recorded)
	h.mockResize()

	h.env.ExecuteWorkflow(ResizeFlavor, resizeFlavorInput())

	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("resize failed: %v", err)
	}
	h.checkCalls([]string{"ClaimTask",
		"GetInstanceResources", "StopEngine", "ResizeServer", "WaitServerStatus",
		"StartEngine", "SetRestartRequired", "Health", "ConfirmResize", "WaitServerStatus", "FinishTask",
	})
	h.checkSearchAttributes(instanceID, "demo-project", "resize")
	if len(h.finished) != 1 || h.finished[0] != (activities.FinishTaskInput{InstanceID: instanceID, FlavorID: "ds1G"}) {
		t.Errorf("task ends: got %+v, want the new flavor ds1G recorded", h.finished)
	}
}

func TestResizeFlavorRevertsToTheOldFlavorWhenNovaFails(t *testing.T) {
	h := newHarness(t)
	h.mockCatalog(recorded)
	novaDown := temporal.NewApplicationError("resize server server-1 of instance "+instanceID+" to flavor ds1G: nova answered 500: injected fault", activities.ErrorTypeCloud)
	h.env.OnActivity(a.ResizeServer, mock.Anything, mock.Anything).Return(novaDown)
	h.mockResize()

	h.env.ExecuteWorkflow(ResizeFlavor, resizeFlavorInput())

	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("resize failed instead of rolling back: %v", err)
	}
	h.checkCalls([]string{"ClaimTask",
		"GetInstanceResources", "StopEngine",
		"ResizeServer", "ResizeServer", "ResizeServer", "ResizeServer", "ResizeServer",
		"RevertResize", "WaitServerStatus", "StartEngine", "SetRestartRequired", "Health", "FinishTask",
	})
	h.env.AssertActivityCalled(t, "WaitServerStatus", mock.Anything, waitFor("ACTIVE", "ds512M"))
	if len(h.faults) != 0 {
		t.Errorf("faults (task ERROR): got %+v, want none: the instance runs on its old flavor", h.faults)
	}
	if len(h.finished) != 1 {
		t.Fatalf("task ends: got %+v, want one", h.finished)
	}
	end := h.finished[0]
	if end.FlavorID != "" || !strings.HasPrefix(end.FaultMessage, "resize server failed: ") || !strings.Contains(end.FaultMessage, "runs on flavor ds512M again") {
		t.Errorf("task end: got %+v, want the old flavor kept and the failure shown", end)
	}
}

func TestResizeFlavorRevertsWhenTheEngineWillNotStartOnTheNewFlavor(t *testing.T) {
	h := newHarness(t)
	h.mockCatalog(recorded)
	h.env.OnActivity(guest.StartEngineActivity, mock.Anything).Return(
		temporal.NewNonRetryableApplicationError("shared_buffers too large", guest.ErrInvalid, nil)).Once()
	h.mockResize()

	h.env.ExecuteWorkflow(ResizeFlavor, resizeFlavorInput())

	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("resize failed instead of rolling back: %v", err)
	}
	h.checkCalls([]string{"ClaimTask",
		"GetInstanceResources", "StopEngine", "ResizeServer", "WaitServerStatus", "StartEngine",
		"RevertResize", "WaitServerStatus", "StartEngine", "SetRestartRequired", "Health", "FinishTask",
	})
	if n := h.count("ConfirmResize"); n != 0 {
		t.Errorf("ConfirmResize ran %d times, want 0", n)
	}
}

// notReplicated answers GetReplicationGroup for an instance in no replication group.
func (h *harness) notReplicated() {
	h.env.OnActivity(a.GetReplicationGroup, mock.Anything, mock.Anything).Return(activities.ReplicationGroup{},
		temporal.NewNonRetryableApplicationError("instance is in no replication group", activities.ErrorTypeNotReplicated, nil))
}

func TestResizeVolumeExtendsAndGrowsTheFilesystem(t *testing.T) {
	h := newHarness(t)
	h.mockCatalog(recorded)
	h.notReplicated()
	extend := activities.ExtendVolumeInput{Volume: ref("vol-1"), Size: 3}
	h.env.OnActivity(a.ExtendVolume, mock.Anything, extend).Return(nil)
	h.env.OnActivity(a.WaitVolumeExtended, mock.Anything, extend).Return(nil)
	h.env.OnActivity(guest.GrowFilesystemActivity, mock.Anything, guest.GrowFilesystemInput{SizeGB: 3}).
		Return(guest.VolumeUsage{SizeGB: 3, UsedGB: 0.04}, nil)

	h.env.ExecuteWorkflow(ResizeVolume, ResizeVolumeInput{InstanceID: instanceID, ProjectID: "demo-project", NewSize: 3})

	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("resize volume failed: %v", err)
	}
	h.checkCalls([]string{"ClaimTask", "GetInstanceResources", "GetReplicationGroup", "ExtendVolume", "WaitVolumeExtended", "GrowFilesystem", "FinishTask"})
	if len(h.finished) != 1 || h.finished[0] != (activities.FinishTaskInput{InstanceID: instanceID, VolumeSize: 3}) {
		t.Errorf("task ends: got %+v, want the new size 3 recorded", h.finished)
	}
}

func TestResizeVolumeOfAPrimaryResizesItsSmallerReplicas(t *testing.T) {
	h := newHarness(t)
	var claims []activities.ClaimTaskInput
	h.env.OnActivity(a.ClaimTask, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ClaimTaskInput) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		claims = append(claims, in)
		return nil
	})
	h.mockCatalog(recorded)
	h.env.OnActivity(a.GetReplicationGroup, mock.Anything, instanceID).Return(activities.ReplicationGroup{
		Primary: activities.GroupMember{ID: instanceID, VolumeSize: 2},
		Replicas: []activities.GroupMember{
			{ID: "replica-small", VolumeSize: 2},
			{ID: "replica-grown", VolumeSize: 3},
		},
	}, nil)
	// The replica's own ResizeVolume claims its task, and sees that it has no replicas.
	h.env.OnActivity(a.GetReplicationGroup, mock.Anything, "replica-small").Return(activities.ReplicationGroup{
		Primary: activities.GroupMember{ID: instanceID}, Replicas: []activities.GroupMember{{ID: "replica-small"}},
	}, nil)
	h.env.OnActivity(a.ExtendVolume, mock.Anything, mock.Anything).Return(nil)
	h.env.OnActivity(a.WaitVolumeExtended, mock.Anything, mock.Anything).Return(nil)
	h.env.OnActivity(guest.GrowFilesystemActivity, mock.Anything, mock.Anything).
		Return(guest.VolumeUsage{SizeGB: 3}, nil)

	h.env.ExecuteWorkflow(ResizeVolume, ResizeVolumeInput{InstanceID: instanceID, ProjectID: "demo-project", NewSize: 3})

	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("resize volume failed: %v", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var got []string
	for _, c := range claims {
		got = append(got, c.InstanceID+" "+string(c.Task))
	}
	slices.Sort(got)
	want := []string{instanceID + " RESIZING", "replica-small RESIZING"}
	if !slices.Equal(got, want) {
		t.Errorf("tasks claimed: got %v, want %v", got, want)
	}
	var grown []string
	for _, f := range h.finished {
		grown = append(grown, fmt.Sprintf("%s:%d", f.InstanceID, f.VolumeSize))
	}
	slices.Sort(grown)
	if wantGrown := []string{instanceID + ":3", "replica-small:3"}; !slices.Equal(grown, wantGrown) {
		t.Errorf("tasks ended with the new size: got %v, want %v", grown, wantGrown)
	}
}

func TestResizeVolumeOfABusyInstanceEndsWithoutTouchingIt(t *testing.T) {
	h := newHarness(t)
	h.env.OnActivity(a.ClaimTask, mock.Anything, mock.Anything).Return(
		temporal.NewNonRetryableApplicationError("instance is busy", activities.ErrorTypeInstanceBusy, nil))
	h.mockCatalog(recorded)

	h.env.ExecuteWorkflow(ResizeVolume, ResizeVolumeInput{InstanceID: instanceID, ProjectID: "demo-project", NewSize: 3})

	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("resize of a busy instance failed: %v", err)
	}
	h.checkCalls([]string{"ClaimTask"})
	if len(h.faults) != 0 || len(h.finished) != 0 {
		t.Errorf("a busy instance was changed: faults %+v, task ends %+v", h.faults, h.finished)
	}
}

func TestResizeVolumeFailsWhenCinderPutsTheVolumeInError(t *testing.T) {
	h := newHarness(t)
	h.mockCatalog(recorded)
	h.notReplicated()
	h.env.OnActivity(a.ExtendVolume, mock.Anything, mock.Anything).Return(nil)
	h.env.OnActivity(a.WaitVolumeExtended, mock.Anything, mock.Anything).Return(
		temporal.NewNonRetryableApplicationError("cinder put the volume in status error_extending", activities.ErrorTypeVolumeFailed, nil))

	h.env.ExecuteWorkflow(ResizeVolume, ResizeVolumeInput{InstanceID: instanceID, ProjectID: "demo-project", NewSize: 3})

	if h.env.GetWorkflowError() == nil {
		t.Fatal("resize volume succeeded, want it to fail")
	}
	if f := h.onlyFault(); f.Message != "extend volume failed: cinder put the volume in status error_extending" {
		t.Errorf("fault message: got %q", f.Message)
	}
	if len(h.notes) != 0 {
		t.Errorf("a permanent failure was parked: notes %+v", h.notes)
	}
}
