package workflows

import (
	"errors"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/coffer-dbaas/coffer/activities"
	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/guest"
)

// Step names of CreateInstance, as the progress query and fault messages show them.
const (
	StepResolveImage        = "resolve image"
	StepCreateSecurityGroup = "create security group"
	StepCreatePort          = "create port"
	StepCreateVolume        = "create volume"
	StepWaitVolume          = "wait for volume"
	StepCreateServer        = "create server"
	StepWaitServer          = "wait for server"
	StepPrepareGuest        = "prepare guest"
	StepMarkActive          = "mark active"
	StepStartMonitor        = "start monitor"
)

// CreateInstance builds a database instance. Its steps, each recording what it made in the
// catalog as soon as it exists:
//
//  0. claim task (when Record is set, as the API sets it): the instance's record, with
//     task BUILDING, within its project's quotas (claim.go). A project past a quota, or a
//     claim window that passed, ends the workflow at once with nothing made.
//  1. resolve image: the Glance image tagged ImageTag (or coffer-<datastore>-<version>),
//     unless ImageID is set. No such image fails at once.
//  2. create security group coffer-<id>, with an ingress rule for the engine's TCP port.
//  3. create port coffer-<id> on the instance network, in that group; records the address.
//  4. create volume coffer-<id> of VolumeSize GiB.
//  5. wait for volume: until Cinder says available (at most 5 minutes); error fails at once.
//     Cinder's calls of 4 and 5 run alongside 2 and 3 (the steps show their outcome when the
//     port is made); a retry after parking calls Cinder again. When 2 or 3 fails, the
//     cleanup waits for the volume's create to end, so that it deletes what Cinder made.
//  6. create server coffer-<id>: the image, the port, the volume, and the guest agent's
//     configuration in user_data.
//  7. wait for server: until Nova says ACTIVE (Timeouts.ServerActive, default 10 minutes);
//     ERROR fails at once with Nova's fault message.
//     For an instance made from a backup (Restore set), "restore backup" comes first: the
//     guest downloads, verifies and unpacks it before any engine starts (restore.go).
//  8. prepare guest: Prepare on the instance's guest queue, guestagent.<id>, with the
//     databases and users. The guest must pick it up within Timeouts.GuestStart (default 5
//     minutes: an agent that never starts fails the create clearly) and finish within
//     Timeouts.GuestPrepare (default 10 minutes). Meanwhile the server is watched: one
//     that stops (its agent exited, its VM crashed: Nova says SHUTOFF or ERROR) fails the
//     step at once, with Nova's status and the end of the server's console.
//  9. mark active: service HEALTHY, task NONE; the instance shows ACTIVE.
//
// No workflow watches the instance afterwards: its guest reports its health to the guest
// gateway on its own schedule (issue 19), and operating_status is derived from the last
// report when read. (Creates begun before that change still start MonitorInstance at
// step 10, which ends at once.)
//
// Every cloud call is retried with backoff a few times (a 5xx, a timeout); a step whose
// retries are used up by such errors is parked for an operator (see parking: retry, skip or
// abort, and an abort by itself after Timeouts.Park). What retries cannot mend (a 4xx, a
// quota, a server or volume in ERROR) fails the step at once, as does an abort. A failed
// step, or a cancellation, deletes what the create made, in reverse (once a server was
// asked for: revoke the guest's identity, so its agent is cut off, and delete the server;
// then volume, port and security group, each also found by name when its create's answer
// was lost), records a fault on the instance ("<step> failed: <why>", the error chain and
// anything the cleanup could not delete in its details), which sets task ERROR, and fails
// the workflow.
//
// A delete of the instance while the create runs takes the instance over and ends the
// create (DeleteInstance, step "end create"): told so by CreateSupersededSignal and then
// canceled, the create undoes what it made as above but records no fault (the instance is
// the delete's now), and signals CreateEndedSignal to the delete once it has.
func CreateInstance(ctx workflow.Context, in CreateInstanceInput) (err error) {
	superseded := supersededByDelete(ctx)
	defer func() {
		if superseded() {
			tellDeleteCreateEnded(ctx, in.InstanceID)
		}
	}()
	op := operation{name: "create", instanceID: in.InstanceID, projectID: in.ProjectID, record: in.Record, timeouts: in.Timeouts, superseded: superseded}
	return op.run(ctx, func(t *tracker, p *parking, u *undo) error {
		if err := createInstance(ctx, in, t, p, u); err != nil {
			return err
		}
		// Creates that began before guests reported their health to the gateway still
		// start their (retired) monitor, which ends at once: their histories say so.
		if workflow.GetVersion(ctx, HealthOffTemporalChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
			startMonitor(ctx, t, in)
		}
		return nil
	})
}

// createInstance runs the steps; each that makes something first adds its compensation to
// u, so that a create whose answer was lost is still undone (found by name).
func createInstance(ctx workflow.Context, in CreateInstanceInput, t *tracker, p *parking, u *undo) error {
	call := callOptions(ctx)
	id := in.InstanceID
	record := func(r catalog.Resources) error {
		return workflow.ExecuteActivity(call, acts.RecordResources, activities.RecordResourcesInput{InstanceID: id, Resources: r}).Get(ctx, nil)
	}

	imageID := in.ImageID
	if imageID == "" {
		tag := in.ImageTag
		if tag == "" {
			tag = "coffer-" + in.Datastore + "-" + in.Version
		}
		err := p.step(ctx, StepResolveImage, func() error {
			return workflow.ExecuteActivity(call, acts.ResolveImage, activities.ResolveImageInput{InstanceID: id, Tag: tag}).Get(ctx, &imageID)
		})
		if err != nil {
			return err
		}
	}

	// The volume is made while the network is (steps 4 and 5 alongside 2 and 3): nothing
	// of one needs the other, and the server needs both. Its compensation comes first, so
	// that whatever fails it is there; cleanup waits for the volume's calls to end.
	volume := activities.ResourceRef{InstanceID: id}
	var early *earlyVolume
	if workflow.GetVersion(ctx, "create volume alongside the network", workflow.DefaultVersion, 1) == 1 {
		u.add("delete volume", func(ctx workflow.Context) error { return deleteVolume(ctx, volume) })
		early = makeVolumeEarly(ctx, in, &volume)
	}

	group := activities.ResourceRef{InstanceID: id}
	u.add("delete security group", func(ctx workflow.Context) error { return deleteSecurityGroup(ctx, group) })
	err := p.step(ctx, StepCreateSecurityGroup, func() error {
		err := workflow.ExecuteActivity(call, acts.CreateSecurityGroup, activities.CreateSecurityGroupInput{InstanceID: id, Port: in.Port, AllowedCIDRs: in.AllowedCIDRs}).Get(ctx, &group.ID)
		if err != nil {
			return err
		}
		return record(catalog.Resources{SecurityGroupID: group.ID})
	})
	if err != nil {
		early.settle(ctx)
		return err
	}

	port := activities.ResourceRef{InstanceID: id}
	u.add("delete port", func(ctx workflow.Context) error { return deletePort(ctx, port) })
	err = p.step(ctx, StepCreatePort, func() error {
		var p activities.Port
		err := workflow.ExecuteActivity(call, acts.CreatePort, activities.CreatePortInput{InstanceID: id, SecurityGroupID: group.ID}).Get(ctx, &p)
		if err != nil {
			return err
		}
		port.ID = p.ID
		return record(catalog.Resources{PortID: p.ID, Address: p.Address})
	})
	if err != nil {
		early.settle(ctx)
		return err
	}

	if early == nil {
		u.add("delete volume", func(ctx workflow.Context) error { return deleteVolume(ctx, volume) })
	}
	err = p.step(ctx, StepCreateVolume, func() error {
		err := early.created(ctx)
		if err == errNotEarly {
			err = workflow.ExecuteActivity(call, acts.CreateVolume, activities.CreateVolumeInput{InstanceID: id, Size: in.VolumeSize, Type: in.VolumeType}).Get(ctx, &volume.ID)
		}
		if err != nil {
			return err
		}
		return record(catalog.Resources{VolumeID: volume.ID})
	})
	if err != nil {
		early.settle(ctx)
		return err
	}
	err = p.step(ctx, StepWaitVolume, func() error {
		err := early.available(ctx)
		if err == errNotEarly {
			err = workflow.ExecuteActivity(waitOptions(ctx, VolumeAvailableTimeout), acts.WaitVolumeAvailable, volume).Get(ctx, nil)
		}
		if isTimeout(err, enumspb.TIMEOUT_TYPE_SCHEDULE_TO_CLOSE) || isTimeout(err, enumspb.TIMEOUT_TYPE_START_TO_CLOSE) {
			return because(err, "cinder did not make volume %s available within %s", volume.ID, VolumeAvailableTimeout)
		}
		return err
	})
	if err != nil {
		return err
	}

	server := activities.ResourceRef{InstanceID: id}
	u.add("delete server", func(ctx workflow.Context) error { return deleteServer(ctx, server) })
	// Compensations run last-added first: the guest is cut off before its server goes.
	u.add("revoke guest", func(ctx workflow.Context) error {
		return workflow.ExecuteActivity(callOptions(ctx), acts.RevokeGuestIdentity, id).Get(ctx, nil)
	})
	err = p.step(ctx, StepCreateServer, func() error {
		err := workflow.ExecuteActivity(call, acts.CreateServer, activities.CreateServerInput{
			InstanceID: id, ProjectID: in.ProjectID, Name: in.Name, FlavorID: in.FlavorID, ImageID: imageID,
			PortID: port.ID, VolumeID: volume.ID, Datastore: in.Datastore, Version: in.Version,
		}).Get(ctx, &server.ID)
		if err != nil {
			return err
		}
		return record(catalog.Resources{ServerID: server.ID, ServerStatus: "BUILD"})
	})
	if err != nil {
		return err
	}
	serverActive := orDefault(in.Timeouts.ServerActive, DefaultServerActiveTimeout)
	err = p.step(ctx, StepWaitServer, func() error {
		err := workflow.ExecuteActivity(waitOptions(ctx, serverActive), acts.WaitServerActive, server).Get(ctx, nil)
		if isTimeout(err, enumspb.TIMEOUT_TYPE_SCHEDULE_TO_CLOSE) || isTimeout(err, enumspb.TIMEOUT_TYPE_START_TO_CLOSE) {
			return because(err, "nova did not make server %s ACTIVE within %s", server.ID, serverActive)
		}
		if err != nil {
			var app *temporal.ApplicationError
			if errors.As(err, &app) && app.Type() == activities.ErrorTypeServerFailed {
				// Shown as ERROR until the fault is recorded.
				_ = record(catalog.Resources{ServerStatus: "ERROR"})
			}
			return err
		}
		return record(catalog.Resources{ServerStatus: "ACTIVE"})
	})
	if err != nil {
		return err
	}

	// An instance made from a backup gets its data before the engine ever starts.
	if err := restoreBackup(ctx, in, t); err != nil {
		return err
	}

	// A replica copies its primary's data and streams from it instead (replica_create.go).
	if in.ReplicaOf != "" {
		return createReplica(ctx, in, t, p, u)
	}

	guestStart := orDefault(in.Timeouts.GuestStart, DefaultGuestStartTimeout)
	guestPrepare := orDefault(in.Timeouts.GuestPrepare, DefaultGuestPrepareTimeout)
	err = p.step(ctx, StepPrepareGuest, func() error {
		var conf activities.InstanceConfiguration
		if in.ConfigurationID != "" {
			if err := workflow.ExecuteActivity(call, acts.GetInstanceConfiguration, id).Get(ctx, &conf); err != nil {
				return err
			}
		}
		prepare := func(ctx workflow.Context) error {
			return guest.For(id).With(guest.Boot(guestStart, guestPrepare)).Prepare(ctx, guest.PrepareInput{
				Datastore: in.Datastore, Version: in.Version, Databases: in.Databases, Users: in.Users,
				Configuration: conf.Values,
			})
		}
		if workflow.GetVersion(ctx, WatchServerChange, workflow.DefaultVersion, 1) == 1 {
			return whileServerRuns(ctx, server, guestStart+guestPrepare, prepare)
		}
		return prepare(ctx)
	})
	if err != nil {
		return err
	}

	return p.step(ctx, StepMarkActive, func() error {
		return workflow.ExecuteActivity(call, acts.MarkActive, id).Get(ctx, nil)
	})
}

// earlyVolume is the volume's create and wait, started with the create's first steps. Each
// answers once: a step that runs again (retried after parking) calls Cinder itself.
type earlyVolume struct {
	createdF, availableF   workflow.Future
	cancel                 workflow.CancelFunc
	usedCreated, usedAvail bool
}

// errNotEarly says that the step must call Cinder itself.
var errNotEarly = errors.New("no early answer")

// makeVolumeEarly starts creating the volume (its ID goes to volume as soon as Cinder gives
// it) and, once made, waiting for it.
func makeVolumeEarly(ctx workflow.Context, in CreateInstanceInput, volume *activities.ResourceRef) *earlyVolume {
	created, setCreated := workflow.NewFuture(ctx)
	available, setAvailable := workflow.NewFuture(ctx)
	ctx, cancel := workflow.WithCancel(ctx)
	workflow.Go(ctx, func(ctx workflow.Context) {
		err := workflow.ExecuteActivity(callOptions(ctx), acts.CreateVolume, activities.CreateVolumeInput{InstanceID: in.InstanceID, Size: in.VolumeSize, Type: in.VolumeType}).Get(ctx, &volume.ID)
		setCreated.Set(nil, err)
		if err != nil {
			setAvailable.Set(nil, err)
			return
		}
		err = workflow.ExecuteActivity(waitOptions(ctx, VolumeAvailableTimeout), acts.WaitVolumeAvailable, *volume).Get(ctx, nil)
		setAvailable.Set(nil, err)
	})
	return &earlyVolume{createdF: created, availableF: available, cancel: cancel}
}

// created is the early create's outcome the first time; errNotEarly after, or with none.
func (e *earlyVolume) created(ctx workflow.Context) error {
	if e == nil || e.usedCreated {
		return errNotEarly
	}
	e.usedCreated = true
	err := e.createdF.Get(ctx, nil)
	if err != nil {
		// The early wait never began: the step after calls Cinder itself.
		e.usedAvail = true
	}
	return err
}

// available is the early wait's outcome the first time; errNotEarly after, or with none.
func (e *earlyVolume) available(ctx workflow.Context) error {
	if e == nil || e.usedAvail {
		return errNotEarly
	}
	e.usedAvail = true
	return e.availableF.Get(ctx, nil)
}

// settle, after a step failed, waits for the early create to end, so that the cleanup finds
// the volume if Cinder made it, then stops the early wait.
func (e *earlyVolume) settle(ctx workflow.Context) {
	if e == nil {
		return
	}
	_ = e.createdF.Get(ctx, nil)
	e.cancel()
	_ = e.availableF.Get(ctx, nil)
}

// startMonitor starts the instance's MonitorInstance, which outlives the create (parent
// close policy abandon). One that runs already (a replayed or repeated create) is left to
// run; a failure to start is logged only: the instance is ACTIVE all the same.
func startMonitor(ctx workflow.Context, t *tracker, in CreateInstanceInput) {
	_ = t.step(StepStartMonitor, func() error {
		cctx := workflow.WithChildOptions(ctx, childOptions(MonitorWorkflowID(in.InstanceID), againJoined,
			instanceLabels(in.InstanceID, in.Name, in.ProjectID, "monitor", "(health probes)")))
		f := workflow.ExecuteChildWorkflow(cctx, MonitorInstance, MonitorInstanceInput{
			InstanceID: in.InstanceID, ProjectID: in.ProjectID, Interval: in.Timeouts.HealthInterval,
		})
		err := f.GetChildWorkflowExecution().Get(ctx, nil)
		if err != nil {
			workflow.GetLogger(ctx).Warn("start the health monitor", "instance_id", in.InstanceID, "error", err)
		}
		return err
	})
}

// supersededByDelete reports, whenever asked, whether a delete has told the create that it
// took the instance over (CreateSupersededSignal).
func supersededByDelete(ctx workflow.Context) func() bool {
	ch := workflow.GetSignalChannel(ctx, CreateSupersededSignal)
	superseded := false
	return func() bool {
		var deleteID string
		for !superseded && ch.ReceiveAsync(&deleteID) {
			superseded = true
		}
		return superseded
	}
}

// tellDeleteCreateEnded signals the delete that superseded the create that the create has
// ended, having undone what it made. The create may be canceled: the signal goes anyway.
func tellDeleteCreateEnded(ctx workflow.Context, instanceID string) {
	if workflow.GetVersion(ctx, DeleteEndsCreateChange, workflow.DefaultVersion, 1) != 1 {
		return
	}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	err := workflow.SignalExternalWorkflow(dctx, DeleteWorkflowID(instanceID), "", CreateEndedSignal, nil).Get(dctx, nil)
	if err != nil {
		// The delete no longer waits (it gave up after CreateEndTimeout, or failed).
		workflow.GetLogger(ctx).Warn("tell the delete that the create ended", "instance_id", instanceID, "error", err)
	}
}

// WatchServerChange is the workflow.GetVersion change ID of a create that watches its
// server while the guest starts.
const WatchServerChange = "watch the server while the guest starts"

// whileServerRuns runs fn while WatchServerRunning watches the server (for at most limit):
// a server that stops ends fn (canceled) and fails with why; otherwise fn's outcome is the
// answer. A watch that fails for another reason (the cloud did not answer) only ends the
// watch.
func whileServerRuns(ctx workflow.Context, server activities.ResourceRef, limit time.Duration, fn func(workflow.Context) error) error {
	wctx, stopWatch := workflow.WithCancel(ctx)
	defer stopWatch()
	watch := workflow.ExecuteActivity(waitOptions(wctx, limit), acts.WatchServerRunning, server)
	fctx, stopFn := workflow.WithCancel(ctx)
	defer stopFn()
	done, setDone := workflow.NewFuture(ctx)
	workflow.Go(fctx, func(ctx workflow.Context) { setDone.Set(nil, fn(ctx)) })

	var stopped error
	watching := true
	for {
		sel := workflow.NewSelector(ctx)
		sel.AddFuture(done, func(workflow.Future) {})
		if watching {
			sel.AddFuture(watch, func(f workflow.Future) {
				watching = false
				var app *temporal.ApplicationError
				if err := f.Get(ctx, nil); errors.As(err, &app) && app.Type() == activities.ErrorTypeServerFailed {
					stopped = err
				}
			})
		}
		sel.Select(ctx)
		if stopped != nil {
			stopFn()
			_ = done.Get(ctx, nil)
			return stopped
		}
		if done.IsReady() {
			stopWatch()
			return done.Get(ctx, nil)
		}
	}
}
