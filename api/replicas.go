package api

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/activities"
	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/workflows"
)

// maxReplicaCount is the most replicas one create may ask for (Trove's replica_count).
const maxReplicaCount = 3

// ReplicationCatalog is the part of the catalog that records replication groups;
// *catalog.Store implements it.
type ReplicationCatalog interface {
	// Replications returns each instance's primary and replicas, by ID.
	Replications(ctx context.Context, ids []string) (map[string]catalog.Replication, error)
	// SetReplicaOf records the primary a replica streams from.
	SetReplicaOf(ctx context.Context, id, primary string) error
}

var _ ReplicationCatalog = (*catalog.Store)(nil)

// ReplicationWorkflows starts the replication workflows; TemporalWorkflows implements it.
type ReplicationWorkflows interface {
	// StartReplication starts PromoteReplica ("promote"), EjectReplicaSource ("eject") or
	// DetachReplica ("detach") on in.InstanceID, and returns once it claimed the tasks of
	// the group's members (in.Tasks); workflows.ErrInstanceBusy when another operation
	// holds one of them.
	StartReplication(ctx context.Context, operation string, in workflows.ReplicationInput) error
}

// replicationTasks are the tasks the replication operations set, by operation name.
var replicationTasks = map[string]coffer.Task{
	"promote": coffer.TaskPromoting,
	"eject":   coffer.TaskEjecting,
	"detach":  coffer.TaskDetaching,
}

var _ ReplicationWorkflows = TemporalWorkflows{}

// ReplicaRef names an instance of a replication group in a view.
type ReplicaRef struct {
	ID    string `json:"id" format:"uuid"`
	Links []Link `json:"links"`
}

// ReplicationLagView is how far a replica is behind its primary, as its guest last reported
// (a Coffer extension of Trove's view).
type ReplicationLagView struct {
	Bytes   int64   `json:"bytes" doc:"WAL the replica has received but not replayed yet."`
	Seconds float64 `json:"seconds" doc:"How old the last replayed transaction was while more was waiting; 0 when caught up."`
	Updated string  `json:"updated" example:"2026-01-02T15:04:05"`
}

func (s *Server) replicaRef(ctx context.Context, projectID, id string) ReplicaRef {
	base := baseURLFrom(ctx)
	return ReplicaRef{ID: id, Links: []Link{
		{Href: base + "/v1.0/" + projectID + "/instances/" + id, Rel: "self"},
		{Href: base + "/instances/" + id, Rel: "bookmark"},
	}}
}

// addReplication fills replica_of, replicas and the lag into views (one catalog query for
// all of them). A catalog that fails leaves the views as they are.
func (s *Server) addReplication(ctx context.Context, projectID string, views []InstanceView) {
	if len(views) == 0 {
		return
	}
	ids := make([]string, len(views))
	for i, v := range views {
		ids[i] = v.ID
	}
	reps, err := s.catalog.Replications(ctx, ids)
	if err != nil {
		s.log.ErrorContext(ctx, "read replication of instances", "error", err)
		return
	}
	for i := range views {
		if r, ok := reps[views[i].ID]; ok {
			s.replicationInto(ctx, projectID, &views[i], r)
		}
	}
}

// replicationInto fills replica_of, replicas and the lag of r into v.
func (s *Server) replicationInto(ctx context.Context, projectID string, v *InstanceView, r catalog.Replication) {
	if r.ReplicaOf != "" {
		ref := s.replicaRef(ctx, projectID, r.ReplicaOf)
		v.ReplicaOf = &ref
	}
	for _, id := range r.Replicas {
		v.Replicas = append(v.Replicas, s.replicaRef(ctx, projectID, id))
	}
	if r.Lag != nil && r.ReplicaOf != "" {
		v.ReplicationLag = &ReplicationLagView{Bytes: r.Lag.Bytes, Seconds: r.Lag.Seconds, Updated: formatTime(r.Lag.At)}
	}
}

// replicationDatastores are the datastores whose guest driver replicates: PostgreSQL's
// streaming replication, MariaDB's GTID replication, Redis's replicaof.
var replicationDatastores = map[string]bool{"postgresql": true, "mariadb": true, "redis": true}

// sameAsPrimary refuses a flavor or volume a replica request names unless it is the
// primary's: python-troveclient's `trove create <name> <flavor> --size N --replica_of X`
// always sends both, and the replica takes its primary's anyway.
func sameAsPrimary(req InstanceCreate, primary *coffer.Instance) error {
	var differ []string
	if req.FlavorRef != "" && req.FlavorRef.ID() != primary.FlavorID {
		differ = append(differ, fmt.Sprintf("flavorRef %s (the primary's is %s)", req.FlavorRef.ID(), primary.FlavorID))
	}
	if req.Volume.Size != 0 && req.Volume.Size != primary.VolumeSize {
		differ = append(differ, fmt.Sprintf("volume size %d (the primary's is %d)", req.Volume.Size, primary.VolumeSize))
	}
	if req.Volume.Type != "" && req.Volume.Type != primary.VolumeType {
		differ = append(differ, fmt.Sprintf("volume type %s (the primary's is %s)", req.Volume.Type, primary.VolumeType))
	}
	if len(differ) > 0 {
		return badRequest("Invalid request: a replica has its primary's flavor and volume; replica_of %s does not take %s.", primary.ID, strings.Join(differ, ", "))
	}
	return nil
}

// createReplicas creates replica_count replicas of the instance replica_of (Trove's
// create with replica_of): each inherits the primary's flavor, volume size and datastore,
// so the request may name a flavor and volume only if they are the primary's (as
// python-troveclient sends them), and no datastore, databases, users or restore point
// (they come from the primary's data). With more than one, the replicas are named
// <name>-1, <name>-2, ...; the answer shows the first.
func (s *Server) createReplicas(ctx context.Context, in *CreateInstanceRequest) (*InstanceResponse, error) {
	req := in.Body.Instance
	count := req.ReplicaCount
	switch {
	case req.ReplicaOf == "":
		return nil, badRequest("Invalid request: instance.replica_count needs instance.replica_of.")
	case count == 0:
		count = 1
	case count < 1 || count > maxReplicaCount:
		return nil, badRequest("Invalid request: instance.replica_count: %d is not between 1 and %d.", count, maxReplicaCount)
	}
	var named []string
	for key, set := range map[string]bool{
		"datastore": req.Datastore != nil, "databases": len(req.Databases) > 0, "users": len(req.Users) > 0,
		"restorePoint": req.RestorePoint != nil, "configuration": req.Configuration != "",
	} {
		if set {
			named = append(named, key)
		}
	}
	if len(named) > 0 {
		return nil, badRequest("Invalid request: a replica takes its flavor, volume, datastore and data from its primary; do not give %s with replica_of.", strings.Join(slices.Sorted(slices.Values(named)), ", "))
	}
	if strings.TrimSpace(req.Name) == "" {
		return nil, badRequest("Invalid request: instance.name: must not be blank.")
	}
	if err := coffer.ValidText(req.Name, coffer.MaxNameLength); err != nil {
		return nil, badRequest("Invalid request: instance.name: %v.", err)
	}
	access, err := checkAccess("instance.access", req.Access)
	if err != nil {
		return nil, err
	}
	rc := s.catalog
	primary, err := s.getInstance(ctx, in.ProjectID, req.ReplicaOf)
	if err != nil {
		return nil, err
	}
	if !replicationDatastores[primary.Datastore] {
		// Trove's DatastoreOperationNotSupported, before anything is made.
		return nil, badRequest("The 'create_replica' operation is not supported for the '%s' datastore.", primary.Datastore)
	}
	if primary.ProjectID != in.ProjectID {
		// A replica lives in its primary's project; an admin's reach does not stretch a
		// replication group across projects.
		return nil, faultFor(ctx, s.log, catalog.ErrNotFound, "Instance "+req.ReplicaOf)
	}
	if err := sameAsPrimary(req, primary); err != nil {
		return nil, err
	}
	reps, err := rc.Replications(ctx, []string{primary.ID})
	if err != nil {
		return nil, faultFor(ctx, s.log, err, "Instance "+primary.ID)
	}
	if r := reps[primary.ID]; r.ReplicaOf != "" {
		return nil, badRequest("Invalid request: instance %s is a replica; replicate from its primary %s instead.", primary.ID, r.ReplicaOf)
	} else if r.Fenced {
		return nil, badRequest("Invalid request: instance %s was ejected from its replication group and cannot be replicated.", primary.ID)
	}
	if primary.Task != coffer.TaskNone || !primary.Ready() {
		return nil, unprocessableEntity("Instance %s is not ready (status %s): a replica needs its primary ACTIVE with no operation running.", primary.ID, primary.Status())
	}
	dv, err := s.catalog.FindDatastoreVersion(ctx, primary.Datastore, primary.Version)
	if err != nil {
		return nil, faultFor(ctx, s.log, err, "Datastore "+primary.Datastore)
	}
	imageID, err := s.cloud.versionImage(ctx, dv.ImageID, dv.ImageTag)
	if err != nil {
		if errors.Is(err, errNoImage) {
			return nil, badRequest("Datastore %s version %s has no image (no active Glance image %s).", dv.Datastore, dv.Name, imageOf(dv))
		}
		return nil, faultFor(ctx, s.log, err, "Image "+imageOf(dv))
	}
	// Replicas count against the project's quotas as any instance does.
	flavor, err := s.cloud.flavor(ctx, primary.FlavorID)
	if err != nil {
		if errors.Is(err, errNoSuchFlavor) {
			return nil, badRequest("Flavor %s of instance %s not found.", primary.FlavorID, primary.ID)
		}
		return nil, faultFor(ctx, s.log, err, "Flavor "+primary.FlavorID)
	}

	var first *coffer.Instance
	for i := 1; i <= count; i++ {
		name := req.Name
		if count > 1 {
			name = fmt.Sprintf("%s-%d", req.Name, i)
		}
		now := s.now().UTC()
		inst := &coffer.Instance{
			ID: uuid.NewString(), ProjectID: in.ProjectID, Name: name, FlavorID: primary.FlavorID,
			VolumeSize: primary.VolumeSize, VolumeType: primary.VolumeType,
			Datastore: primary.Datastore, Version: primary.Version,
			Task: coffer.TaskBuilding, ServiceStatus: coffer.ServiceNew, Created: now, Updated: now,
			Access: access,
		}
		if err := s.startReplicaCreate(ctx, inst, primary, dv, imageID, flavor.RAM); err != nil {
			if first != nil {
				// The replicas made so far are building; the client learns of them by
				// listing.
				s.log.ErrorContext(ctx, "create replica", "primary", primary.ID, "replica", i, "error", err)
				break
			}
			return nil, err
		}
		if first == nil {
			first = inst
		}
	}
	out := &InstanceResponse{}
	out.Body.Instance = s.instanceView(ctx, first, true)
	ref := s.replicaRef(ctx, in.ProjectID, primary.ID)
	out.Body.Instance.ReplicaOf = &ref
	return out, nil
}

// startReplicaCreate starts one replica's create, which records it (with its primary)
// within the project's quotas, its flavor having ramMB, as its first step; the start waits
// for that record (workflows/claim.go).
func (s *Server) startReplicaCreate(ctx context.Context, inst, primary *coffer.Instance, dv catalog.DatastoreVersion, imageID string, ramMB int) error {
	quotas := s.quotaDefaults()
	log := s.log.With("instance_id", inst.ID, "project_id", inst.ProjectID, "replica_of", primary.ID, "workflow_id", workflows.CreateWorkflowID(inst.ID))
	input := workflows.CreateInstanceInput{
		InstanceID: inst.ID, ProjectID: inst.ProjectID, Name: inst.Name, FlavorID: inst.FlavorID,
		VolumeSize: inst.VolumeSize, VolumeType: inst.VolumeType, Datastore: dv.Datastore, Version: dv.Name,
		ImageID: imageID, Port: dv.Port, AllowedCIDRs: inst.Access.AllowedCIDRs, ReplicaOf: primary.ID, Timeouts: s.timeouts(),
		Record: &activities.RecordInstanceInput{Instance: *inst, ReplicaOf: primary.ID, RAMMB: ramMB, Quotas: &quotas},
	}
	if err := s.workflows.StartCreate(ctx, input); err != nil {
		if qe, ok := errors.AsType[*catalog.QuotaExceededError](err); ok {
			return quotaFault(qe)
		}
		log.ErrorContext(ctx, "start create workflow", "error", err)
		return serviceUnavailable("The replica could not be created now: the workflow service is unavailable. Try again later.")
	}
	log.InfoContext(ctx, "replica create started", "name", inst.Name)
	return nil
}

// checkDeleteReplicas is Trove's ReplicaSourceDeleteForbidden: a primary with replicas
// cannot be deleted (detach or delete them first, or promote one).
func (s *Server) checkDeleteReplicas(ctx context.Context, inst *coffer.Instance) error {
	reps, err := s.catalog.Replications(ctx, []string{inst.ID})
	if err != nil {
		return faultFor(ctx, s.log, err, "Instance "+inst.ID)
	}
	if r := reps[inst.ID]; len(r.Replicas) > 0 {
		return forbidden("Instance %s has %d replicas: delete or detach them first, or promote one of them.", inst.ID, len(r.Replicas))
	}
	return nil
}

// replicationAction is promote_to_replica_source (on a replica: a planned switchover) or
// eject_replica_source (on a primary whose guest is gone: a failover). Every member of the
// group gets the task, so that nothing else runs on any of them meanwhile.
func (s *Server) replicationAction(ctx context.Context, projectID, id, operation string) error {
	rc, rw := s.catalog, s.workflows
	inst, err := s.getInstance(ctx, projectID, id)
	if err != nil {
		return err
	}
	reps, err := rc.Replications(ctx, []string{inst.ID})
	if err != nil {
		return faultFor(ctx, s.log, err, "Instance "+inst.ID)
	}
	r := reps[inst.ID]
	primaryID := inst.ID
	switch operation {
	case "promote":
		if r.ReplicaOf == "" {
			return badRequest("Invalid request: instance %s is not a replica; promote_to_replica_source is for replicas.", inst.ID)
		}
		primaryID = r.ReplicaOf
		if inst.Task != coffer.TaskNone || !inst.Ready() {
			return unprocessableEntity("Instance %s is not ready (status %s): promote needs it ACTIVE with no operation running.", inst.ID, inst.Status())
		}
	case "eject":
		if r.ReplicaOf != "" || len(r.Replicas) == 0 {
			return badRequest("Invalid request: instance %s is not the primary of a replication group; eject_replica_source is for primaries with replicas.", inst.ID)
		}
	}
	group, err := rc.Replications(ctx, []string{primaryID})
	if err != nil {
		return faultFor(ctx, s.log, err, "Instance "+primaryID)
	}
	task := replicationTasks[operation]
	tasks := map[string]coffer.Task{primaryID: task}
	for _, rid := range group[primaryID].Replicas {
		tasks[rid] = task
	}
	return s.startReplication(ctx, rw, inst.ProjectID, inst.ID, operation, tasks)
}

// startReplication starts the workflow, which claims the tasks on the group's members as
// its first step (workflows/claim.go): 422 when a member is busy, 503 when the outcome is
// unknown (the workflow then gives up by itself, and the client may retry).
func (s *Server) startReplication(ctx context.Context, rw ReplicationWorkflows, projectID, id, operation string, tasks map[string]coffer.Task) error {
	log := s.log.With("instance_id", id, "project_id", projectID, "workflow_id", workflows.ReplicationWorkflowID(operation, id))
	in := workflows.ReplicationInput{InstanceID: id, ProjectID: projectID, Tasks: tasks, Timeouts: s.timeouts()}
	if err := rw.StartReplication(ctx, operation, in); err != nil {
		if errors.Is(err, workflows.ErrInstanceBusy) {
			return unprocessableEntity("Instance %s is not ready: an operation is running on it or on a member of its replication group.", id)
		}
		log.ErrorContext(ctx, "start workflow", "error", err)
		return serviceUnavailable("The %s could not be started now: the workflow service is unavailable. Try again later.", operation)
	}
	log.InfoContext(ctx, "replication operation started", "operation", operation)
	return nil
}

// detachReplica starts DetachReplica on a replica.
func (s *Server) detachReplica(ctx context.Context, inst *coffer.Instance) error {
	rc, rw := s.catalog, s.workflows
	reps, err := rc.Replications(ctx, []string{inst.ID})
	if err != nil {
		return faultFor(ctx, s.log, err, "Instance "+inst.ID)
	}
	if reps[inst.ID].ReplicaOf == "" {
		return badRequest("Invalid request: instance %s is not a replica.", inst.ID)
	}
	if inst.Task != coffer.TaskNone || !inst.Ready() {
		return unprocessableEntity("Instance %s is not ready (status %s): detach needs it ACTIVE with no operation running.", inst.ID, inst.Status())
	}
	return s.startReplication(ctx, rw, inst.ProjectID, inst.ID, "detach", map[string]coffer.Task{inst.ID: coffer.TaskDetaching})
}

// primaryOf is the primary of a replica, or "" (also when the catalog fails).
func (s *Server) primaryOf(ctx context.Context, id string) string {
	reps, err := s.catalog.Replications(ctx, []string{id})
	if err != nil {
		return ""
	}
	return reps[id].ReplicaOf
}
