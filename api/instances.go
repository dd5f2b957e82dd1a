package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/workflows"
)

// Paging of instance lists, as Trove's instances_page_size: a page holds defaultPageSize
// instances unless limit asks for fewer, or more up to maxPageSize.
const (
	defaultPageSize = 20
	maxPageSize     = 100
)

// defaultDatastore is the datastore of a create that names none (Trove's default_datastore).
const defaultDatastore = "postgresql"

// troveTime is Trove's timestamp format: UTC with no zone suffix, which gophercloud requires.
const troveTime = "2006-01-02T15:04:05"

// ProjectPath is the project every v1.0 route is scoped to. It must be the project of the
// caller's token.
type ProjectPath struct {
	ProjectID string `path:"project_id" doc:"The project (tenant) ID; it must be the project of the token."`
}

// InstancePath names one instance of the project.
type InstancePath struct {
	ProjectPath
	ID string `path:"id" doc:"The instance ID."`
}

// ListInstancesRequest pages through a project's instances.
type ListInstancesRequest struct {
	ProjectPath
	Limit            int    `query:"limit" minimum:"1" doc:"The most instances to return (default 20, at most 100)."`
	Marker           string `query:"marker" doc:"Return the instances after the one with this ID (the last of the previous page)."`
	IncludeClustered bool   `query:"include_clustered" doc:"Accepted for Trove compatibility; Coffer has no clusters."`
}

// FlavorRef is a Nova flavor, given as its ID, an href ending in its ID, or (as Trove
// allows) an integer ID.
type FlavorRef string

// Schema accepts a string or an integer.
func (FlavorRef) Schema(huma.Registry) *huma.Schema {
	return &huma.Schema{
		Description: "The Nova flavor: its ID, or an href ending in its ID.",
		OneOf:       []*huma.Schema{{Type: huma.TypeString, MinLength: new(1)}, {Type: huma.TypeInteger}},
		Examples:    []any{"ds1G"},
	}
}

// UnmarshalJSON reads a string or a number.
func (f *FlavorRef) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = FlavorRef(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("flavorRef must be a string or an integer")
	}
	*f = FlavorRef(n.String())
	return nil
}

// ID returns the flavor's ID: the last path segment of an href, else the reference itself.
func (f FlavorRef) ID() string {
	ref := strings.TrimSpace(string(f))
	if u, err := url.Parse(ref); err == nil && u.Scheme != "" {
		ref = u.Path
	}
	ref = strings.TrimRight(ref, "/")
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		ref = ref[i+1:]
	}
	return ref
}

// Check refuses a reference whose ID is not an ID (a query, a fragment, a path that would
// address another resource in Nova): it must reach Nova as one path segment.
func (f FlavorRef) Check() error {
	ref := strings.TrimSpace(string(f))
	if u, err := url.Parse(ref); err == nil && u.Scheme != "" && (u.RawQuery != "" || u.Fragment != "") {
		return fmt.Errorf("an href may have no query or fragment")
	}
	return coffer.ValidCloudID(f.ID())
}

// VolumeRequest is the volume of a new instance.
type VolumeRequest struct {
	Size int    `json:"size" minimum:"1" doc:"The volume size in GiB, at most the API's max_volume_size." example:"2"`
	Type string `json:"type,omitempty" maxLength:"255" pattern:"^[A-Za-z0-9][A-Za-z0-9 ._:-]{0,254}$" doc:"The Cinder volume type."`
}

// DatastoreRequest picks the engine of a new instance.
type DatastoreRequest struct {
	Type    string `json:"type,omitempty" doc:"The datastore name or ID (default postgresql)." example:"postgresql"`
	Version string `json:"version,omitempty" doc:"The version name or ID (default: the datastore's default version)." example:"15"`
}

// DatabaseRequest is a database to make on a new instance.
type DatabaseRequest struct {
	Name         string `json:"name" maxLength:"63" doc:"Letters, digits, '_' or '-', starting with a letter or '_'." example:"orders"`
	CharacterSet string `json:"character_set,omitempty" maxLength:"32" pattern:"^[A-Za-z0-9_]{1,32}$" example:"UTF8"`
	Collate      string `json:"collate,omitempty" maxLength:"64" pattern:"^[A-Za-z0-9_.@-]{1,64}$" example:"en_US.UTF-8"`
}

// DatabaseName names a database a user gets access to.
type DatabaseName struct {
	Name string `json:"name"`
}

// UserRequest is a database user to make on a new instance.
type UserRequest struct {
	Name      string         `json:"name" maxLength:"63" doc:"Letters, digits, '_' or '-', starting with a letter or '_'; not root, pg_* or a system role." example:"app"`
	Password  string         `json:"password" minLength:"1" maxLength:"255" doc:"At least the API's min_password_length (default 8) characters, no control characters."`
	Host      string         `json:"host,omitempty" maxLength:"255" pattern:"^[A-Za-z0-9.%:_-]{1,255}$" doc:"Accepted for Trove compatibility: an address, a host name or '%'."`
	Databases []DatabaseName `json:"databases,omitempty" doc:"Databases of this request the user gets all privileges on."`
}

// InstanceCreate is Trove's create body. Keys Coffer does not use (nics, availability_zone,
// locality, modules, region_name, ...) are accepted and ignored.
type InstanceCreate struct {
	Name          string            `json:"name" minLength:"1" maxLength:"255" doc:"No control characters." example:"orders"`
	FlavorRef     FlavorRef         `json:"flavorRef,omitempty" doc:"Required, except for a replica (replica_of), which has its primary's: given with replica_of, it must be the primary's."`
	Volume        VolumeRequest     `json:"volume,omitempty" doc:"Required, except for a replica (replica_of), which has its primary's: given with replica_of, it must be the primary's size (and type)."`
	Datastore     *DatastoreRequest `json:"datastore,omitempty"`
	Databases     []DatabaseRequest `json:"databases,omitempty"`
	Users         []UserRequest     `json:"users,omitempty"`
	ReplicaOf     string            `json:"replica_of,omitempty" doc:"Make a replica of this instance (a primary): it takes the primary's flavor, volume size, datastore and data, so flavorRef, volume, datastore, databases and users may not be given."`
	ReplicaCount  int               `json:"replica_count,omitempty" doc:"How many replicas of replica_of to make, 1 to 3 (default 1)."`
	RestorePoint  *RestorePoint     `json:"restorePoint,omitempty" doc:"Make the instance from a COMPLETED backup of the same datastore."`
	Configuration string            `json:"configuration,omitempty" format:"uuid" doc:"A configuration group of the project, for the instance's datastore version: the engine starts with its values."`
	Access        *AccessRequest    `json:"access,omitempty" doc:"Who may reach the engine: its security group opens the engine's port to allowed_cidrs only."`
}

// CreateInstanceRequest asks for a new instance.
type CreateInstanceRequest struct {
	ProjectPath
	Body struct {
		Instance InstanceCreate `json:"instance"`
	}
}

// FlavorView is an instance's flavor.
type FlavorView struct {
	ID    string `json:"id" example:"ds1G"`
	Links []Link `json:"links"`
}

// DatastoreView is an instance's engine.
type DatastoreView struct {
	Type    string `json:"type" example:"postgresql"`
	Version string `json:"version" example:"15"`
}

// VolumeView is an instance's volume.
type VolumeView struct {
	Size int `json:"size" example:"2"`
	// Used is shown by a show, as the guest last measured it.
	Used *float64 `json:"used,omitempty" example:"0.04" doc:"GiB the data takes, as the guest last measured it (shown by a show)."`
}

// AddressView is an address of an instance.
type AddressView struct {
	Address string `json:"address" example:"10.0.0.12"`
	Type    string `json:"type" example:"private"`
}

// FaultView is the last failure of an instance's task.
type FaultView struct {
	Message string `json:"message"`
	Created string `json:"created" example:"2026-01-02T15:04:05"`
	Details string `json:"details,omitempty" doc:"Shown to admins only."`
}

// InstanceView is an instance as Trove shows it. Lists leave out the detail fields
// (created, updated, service_status_updated, fault); show and detail lists have them.
type InstanceView struct {
	ID                   string        `json:"id" format:"uuid"`
	Name                 string        `json:"name"`
	Status               string        `json:"status" example:"ACTIVE" doc:"BUILD, ACTIVE, REBOOT, RESIZE, SHUTDOWN, ERROR, UNKNOWN, ..."`
	OperatingStatus      string        `json:"operating_status" example:"HEALTHY" doc:"The engine's health; empty while a task runs."`
	Links                []Link        `json:"links"`
	Flavor               FlavorView    `json:"flavor"`
	Datastore            DatastoreView `json:"datastore"`
	Region               string        `json:"region" example:"RegionOne"`
	Volume               VolumeView    `json:"volume"`
	IP                   []string      `json:"ip,omitempty" doc:"Deprecated: the addresses."`
	Addresses            []AddressView `json:"addresses,omitempty"`
	Created              string        `json:"created,omitempty" example:"2026-01-02T15:04:05"`
	Updated              string        `json:"updated,omitempty" example:"2026-01-02T15:04:05"`
	ServiceStatusUpdated string        `json:"service_status_updated,omitempty" example:"2026-01-02T15:04:05"`
	Fault                *FaultView    `json:"fault,omitempty"`
	Access               *AccessView   `json:"access,omitempty"`
	// Replication (replicas.go).
	ReplicaOf      *ReplicaRef         `json:"replica_of,omitempty" doc:"The primary this replica streams from."`
	Replicas       []ReplicaRef        `json:"replicas,omitempty" doc:"The replicas that stream from this primary."`
	ReplicationLag *ReplicationLagView `json:"replication_lag,omitempty" doc:"A replica's lag behind its primary, as last reported."`
	// Configuration is the instance's configuration group (shown by a show).
	Configuration *ConfigurationRef `json:"configuration,omitempty"`
}

// InstanceResponse is one instance.
type InstanceResponse struct {
	Body struct {
		Instance InstanceView `json:"instance"`
	}
}

// InstanceListResponse is a page of instances. The next page's link is in both links
// (Trove's key) and instances_links (the key gophercloud reads).
type InstanceListResponse struct {
	Body InstanceListResponseBody
}

// InstanceListResponseBody is the body of InstanceListResponse; it encodes itself
// (listjson.go).
type InstanceListResponseBody struct {
	Instances      []InstanceView `json:"instances"`
	Links          []Link         `json:"links,omitempty"`
	InstancesLinks []Link         `json:"instances_links,omitempty"`
}

func (s *Server) registerInstances(g *huma.Group) {
	tags := []string{"Instances"}
	huma.Register(g, huma.Operation{
		OperationID: "listInstances",
		Method:      http.MethodGet,
		Path:        "/instances",
		Summary:     "List instances",
		Description: "Lists the project's instances, oldest first, a page at a time.",
		Tags:        tags,
		Errors:      []int{http.StatusBadRequest, http.StatusNotFound},
	}, func(ctx context.Context, in *ListInstancesRequest) (*InstanceListResponse, error) {
		return s.listInstances(ctx, in, false)
	})
	huma.Register(g, huma.Operation{
		OperationID: "listInstancesDetail",
		Method:      http.MethodGet,
		Path:        "/instances/detail",
		Summary:     "List instances with details",
		Description: "Lists the project's instances with every field a show has.",
		Tags:        tags,
		Errors:      []int{http.StatusBadRequest, http.StatusNotFound},
	}, func(ctx context.Context, in *ListInstancesRequest) (*InstanceListResponse, error) {
		return s.listInstances(ctx, in, true)
	})
	huma.Register(g, huma.Operation{
		OperationID:   "createInstance",
		Method:        http.MethodPost,
		Path:          "/instances",
		Summary:       "Create an instance",
		Description:   "Checks the request, records the instance and starts its CreateInstance workflow; answers at once with status BUILD. Poll the instance until it is ACTIVE (or ERROR, with a fault).",
		Tags:          tags,
		DefaultStatus: http.StatusOK,
		Errors:        []int{http.StatusBadRequest, http.StatusNotImplemented},
	}, s.createInstance)
	huma.Register(g, huma.Operation{
		OperationID: "showInstance",
		Method:      http.MethodGet,
		Path:        "/instances/{id}",
		Summary:     "Show an instance",
		Tags:        tags,
		Errors:      []int{http.StatusNotFound},
	}, s.showInstance)
	huma.Register(g, huma.Operation{
		OperationID:   "deleteInstance",
		Method:        http.MethodDelete,
		Path:          "/instances/{id}",
		Summary:       "Delete an instance",
		Description:   "Starts the instance's DeleteInstance workflow, which removes its server, volume, port and security group. An instance whose task is still running (BUILD, for example) answers 422; one in ERROR can be deleted.",
		Tags:          tags,
		DefaultStatus: http.StatusAccepted,
		Errors:        []int{http.StatusNotFound, http.StatusUnprocessableEntity},
	}, s.deleteInstance)
}

func (s *Server) listInstances(ctx context.Context, in *ListInstancesRequest, detail bool) (*InstanceListResponse, error) {
	limit := in.Limit
	if limit <= 0 {
		limit = defaultPageSize
	}
	limit = min(limit, maxPageSize)
	if in.Marker != "" && uuid.Validate(in.Marker) != nil {
		return nil, badRequest("Invalid request: query parameter marker: %q is not an instance ID.", in.Marker)
	}
	insts, err := s.catalog.ListReplicatedInstances(ctx, in.ProjectID, limit+1, in.Marker)
	if err != nil {
		return nil, faultFor(ctx, s.log, err, "Marker instance "+in.Marker)
	}
	out := &InstanceListResponse{}
	out.Body.Instances = []InstanceView{}
	for i, inst := range insts {
		if i == limit {
			path := "/v1.0/" + in.ProjectID + "/instances"
			if detail {
				path += "/detail"
			}
			q := url.Values{"limit": {strconv.Itoa(limit)}, "marker": {insts[limit-1].ID}}
			next := []Link{{Href: baseURLFrom(ctx) + path + "?" + q.Encode(), Rel: "next"}}
			out.Body.Links, out.Body.InstancesLinks = next, next
			break
		}
		v := s.instanceView(ctx, s.settled(ctx, inst.Instance), detail)
		s.replicationInto(ctx, in.ProjectID, &v, inst.Replication)
		out.Body.Instances = append(out.Body.Instances, v)
	}
	return out, nil
}

func (s *Server) showInstance(ctx context.Context, in *InstancePath) (*InstanceResponse, error) {
	inst, err := s.getInstance(ctx, in.ProjectID, in.ID)
	if err != nil {
		return nil, err
	}
	out := &InstanceResponse{}
	out.Body.Instance = s.instanceView(ctx, inst, true)
	views := []InstanceView{out.Body.Instance}
	s.addReplication(ctx, inst.ProjectID, views)
	out.Body.Instance = views[0]
	if inst.Task == coffer.TaskNone {
		out.Body.Instance.Volume.Used = s.volumeUsed(ctx, inst.ID)
	}
	out.Body.Instance.Configuration = s.configurationRef(ctx, inst)
	return out, nil
}

// getInstance finds an instance through a project's path: one of the project's own or, for
// an admin, any project's, as Trove's find_by skips the tenant check for an admin context
// (so that an admin's clean-up reaches every instance). Callers act on the instance's own
// project (inst.ProjectID), never the path's. Lists stay the path project's. An ID that is
// not a UUID names no instance.
func (s *Server) getInstance(ctx context.Context, projectID, id string) (*coffer.Instance, error) {
	what := "Instance " + id
	if uuid.Validate(id) != nil {
		return nil, faultFor(ctx, s.log, catalog.ErrNotFound, what)
	}
	if principalFrom(ctx).IsAdmin() {
		projectID = ""
	}
	inst, err := s.catalog.GetInstance(ctx, projectID, id)
	if err != nil {
		return nil, faultFor(ctx, s.log, err, what)
	}
	if s.endOrphanedTask(ctx, inst) {
		if inst, err = s.catalog.GetInstance(ctx, projectID, id); err != nil {
			return nil, faultFor(ctx, s.log, err, what)
		}
	}
	return inst, nil
}

// settled is a listed instance after endOrphanedTask: read again when its task was ended,
// as it was listed otherwise.
func (s *Server) settled(ctx context.Context, inst *coffer.Instance) *coffer.Instance {
	if !s.endOrphanedTask(ctx, inst) {
		return inst
	}
	if again, err := s.catalog.GetInstance(ctx, "", inst.ID); err == nil {
		return again
	}
	return inst
}

// endOrphanedTask notices that the workflow holding the instance's task has ended without
// ending it (an operator terminated it in Temporal, or it timed out) and ends the task with
// a fault that says so: a create's or a delete's leaves the instance in ERROR (half made or
// half gone), any other's gives the task back (NONE), so that the instance can be used and
// steered again without a reset_status. It reports whether it changed the instance; when
// Temporal does not answer it changes nothing (the next request asks again).
func (s *Server) endOrphanedTask(ctx context.Context, inst *coffer.Instance) bool {
	if inst.TaskWorkflowID == "" || inst.Task == coffer.TaskNone || inst.Task == coffer.TaskError {
		return false
	}
	log := s.log.With("instance_id", inst.ID, "project_id", inst.ProjectID, "workflow_id", inst.TaskWorkflowID)
	end, err := s.workflows.Ended(ctx, inst.TaskWorkflowID)
	if err != nil {
		log.WarnContext(ctx, "ask whether the task's workflow runs", "error", err)
		return false
	}
	if end == nil {
		return false
	}
	to := coffer.TaskNone
	undone := "what it had done was not undone: check the instance"
	if inst.Task == coffer.TaskBuilding || inst.Task == coffer.TaskDeleting {
		to = coffer.TaskError
		undone = "what it had made was not cleaned up: delete the instance"
	}
	f := coffer.Fault{
		Message: fmt.Sprintf("The operation holding task %s (workflow %s) was %s in Temporal; %s.", inst.Task, inst.TaskWorkflowID, end.Status, undone),
		Details: end.Reason,
		Created: end.At,
	}
	ended, err := s.catalog.EndOrphanedTask(ctx, inst.ID, inst.TaskWorkflowID, to, f)
	if err != nil {
		log.WarnContext(ctx, "end the task of an ended workflow", "error", err)
		return false
	}
	if ended {
		log.WarnContext(ctx, "ended the task of a workflow that ended without ending it", "task", inst.Task, "workflow_status", end.Status, "reason", end.Reason)
	}
	return ended
}

// createInstance checks everything the request names before anything is made (the flavor
// in Nova, the datastore version in the catalog and its image in Glance, the databases and
// users), then records the instance and starts its workflow. When the workflow cannot be
// started the record is removed again, so nothing half-made remains, and the client gets a
// 503 to retry.
func (s *Server) createInstance(ctx context.Context, in *CreateInstanceRequest) (*InstanceResponse, error) {
	req := in.Body.Instance
	if req.ReplicaOf != "" || req.ReplicaCount != 0 {
		return s.createReplicas(ctx, in)
	}
	if err := s.checkCreate(&req); err != nil {
		return nil, err
	}
	access, err := checkAccess("instance.access", req.Access)
	if err != nil {
		return nil, err
	}
	flavorID := req.FlavorRef.ID()
	if err := s.cloud.flavorExists(ctx, flavorID); err != nil {
		if errors.Is(err, errNoSuchFlavor) {
			return nil, badRequest("Flavor %s not found.", flavorID)
		}
		return nil, faultFor(ctx, s.log, err, "Flavor "+flavorID)
	}
	datastore, version := defaultDatastore, ""
	restore, err := s.restoreSource(ctx, in.ProjectID, &req)
	if err != nil {
		return nil, err
	}
	if restore != nil {
		datastore, version = restore.datastore, restore.version
	}
	if req.Datastore != nil {
		if req.Datastore.Type != "" {
			datastore = req.Datastore.Type
		}
		version = req.Datastore.Version
	}
	dv, err := s.catalog.FindDatastoreVersion(ctx, datastore, version)
	switch {
	case errors.Is(err, catalog.ErrNotFound) || err == nil && !dv.Active:
		if version == "" {
			return nil, badRequest("Datastore %s not found, or it has no default version.", datastore)
		}
		return nil, badRequest("Datastore %s version %s not found.", datastore, version)
	case err != nil:
		return nil, faultFor(ctx, s.log, err, "Datastore "+datastore)
	}
	if err := restore.matches(dv); err != nil {
		return nil, err
	}
	configurationID, err := s.createConfigurationFor(ctx, in.ProjectID, req.Configuration, dv)
	if err != nil {
		return nil, err
	}
	imageID, err := s.cloud.versionImage(ctx, dv.ImageID, dv.ImageTag)
	if err != nil {
		if errors.Is(err, errNoImage) {
			return nil, badRequest("Datastore %s version %s has no image (no active Glance image %s).", dv.Datastore, dv.Name, imageOf(dv))
		}
		return nil, faultFor(ctx, s.log, err, "Image "+imageOf(dv))
	}

	now := s.now().UTC()
	inst := &coffer.Instance{
		ID:              uuid.NewString(),
		ProjectID:       in.ProjectID,
		Name:            req.Name,
		FlavorID:        flavorID,
		VolumeSize:      req.Volume.Size,
		VolumeType:      req.Volume.Type,
		Datastore:       dv.Datastore,
		Version:         dv.Name,
		Task:            coffer.TaskBuilding,
		ServiceStatus:   coffer.ServiceNew,
		ConfigurationID: configurationID,
		Access:          access,
		Created:         now,
		Updated:         now,
	}
	log := s.log.With("instance_id", inst.ID, "project_id", inst.ProjectID, "workflow_id", workflows.CreateWorkflowID(inst.ID))
	record, err := s.recordWithinQuota(ctx, inst)
	if err != nil {
		return nil, faultFor(ctx, log, fmt.Errorf("record instance %s: %w", inst.ID, err), "Instance "+inst.ID)
	}
	input := workflows.CreateInstanceInput{
		InstanceID:      inst.ID,
		ProjectID:       inst.ProjectID,
		Name:            inst.Name,
		FlavorID:        flavorID,
		VolumeSize:      inst.VolumeSize,
		VolumeType:      inst.VolumeType,
		Datastore:       dv.Datastore,
		Version:         dv.Name,
		ImageID:         imageID,
		Port:            dv.Port,
		AllowedCIDRs:    access.AllowedCIDRs,
		Timeouts:        s.timeouts(),
		Restore:         restore.workflowSource(),
		Record:          record,
		ConfigurationID: inst.ConfigurationID,
	}
	for _, d := range req.Databases {
		input.Databases = append(input.Databases, coffer.Database{Name: d.Name, CharacterSet: d.CharacterSet, Collation: d.Collate})
	}
	for _, u := range req.Users {
		user := coffer.User{Name: u.Name, Password: u.Password, Host: u.Host}
		for _, d := range u.Databases {
			user.Databases = append(user.Databases, d.Name)
		}
		input.Users = append(input.Users, user)
	}
	// The workflow records the instance as its first step and the start waits for it
	// (workflows/claim.go): nothing to forget when it cannot start.
	err = s.workflows.StartCreate(ctx, input)
	var qe *catalog.QuotaExceededError
	switch {
	case errors.As(err, &qe):
		return nil, faultFor(ctx, log, fmt.Errorf("record instance %s: %w", inst.ID, err), "Instance "+inst.ID)
	case err != nil:
		log.ErrorContext(ctx, "start create workflow", "error", err)
		return nil, serviceUnavailable("The instance could not be created now: the workflow service is unavailable. Try again later.")
	}
	log.InfoContext(ctx, "instance create started", "name", inst.Name, "flavor", flavorID, "datastore", dv.Datastore, "version", dv.Name)
	out := &InstanceResponse{}
	out.Body.Instance = s.instanceView(ctx, inst, true)
	return out, nil
}

// checkCreate checks the request on its own, before anything is looked up.
func (s *Server) checkCreate(req *InstanceCreate) error {
	switch {
	case strings.TrimSpace(req.Name) == "":
		return badRequest("Invalid request: instance.name: must not be blank.")
	case req.FlavorRef.ID() == "":
		return badRequest("Invalid request: instance.flavorRef: must name a flavor.")
	case req.Volume.Size < 1 || req.Volume.Size > s.cfg.API.MaxVolumeSize:
		return badRequest("Invalid request: instance.volume.size: %d is not between 1 and %d (GiB).", req.Volume.Size, s.cfg.API.MaxVolumeSize)
	}
	if err := coffer.ValidText(req.Name, coffer.MaxNameLength); err != nil {
		return badRequest("Invalid request: instance.name: %v.", err)
	}
	if err := req.FlavorRef.Check(); err != nil {
		return badRequest("Invalid request: instance.flavorRef: %v.", err)
	}
	if err := coffer.ValidVolumeType(req.Volume.Type); err != nil {
		return badRequest("Invalid request: instance.volume.type: %v.", err)
	}
	databases := map[string]bool{}
	for i, d := range req.Databases {
		if err := checkName(d.Name); err != nil {
			return badRequest("Invalid request: instance.databases[%d].name: %v.", i, err)
		}
		if err := coffer.ValidCharacterSet(d.CharacterSet); err != nil {
			return badRequest("Invalid request: instance.databases[%d].character_set: %v.", i, err)
		}
		if err := coffer.ValidCollation(d.Collate); err != nil {
			return badRequest("Invalid request: instance.databases[%d].collate: %v.", i, err)
		}
		if databases[d.Name] {
			return badRequest("Invalid request: instance.databases[%d].name: database %s is listed twice.", i, d.Name)
		}
		databases[d.Name] = true
	}
	users := map[string]bool{}
	for i, u := range req.Users {
		if err := checkUserName(u.Name); err != nil {
			return badRequest("Invalid request: instance.users[%d].name: %v.", i, err)
		}
		if err := checkHost(u.Host); err != nil {
			return badRequest("Invalid request: instance.users[%d].host: %v.", i, err)
		}
		if users[u.Name] {
			return badRequest("Invalid request: instance.users[%d].name: user %s is listed twice.", i, u.Name)
		}
		users[u.Name] = true
		if u.Password == "" {
			return badRequest("Invalid request: instance.users[%d].password: user %s needs a password.", i, u.Name)
		}
		if err := s.checkPassword(fmt.Sprintf("instance.users[%d].password", i), u.Password); err != nil {
			return err
		}
		for j, d := range u.Databases {
			if !databases[d.Name] {
				return badRequest("Invalid request: instance.users[%d].databases[%d].name: database %q is not among the instance's databases.", i, j, d.Name)
			}
		}
	}
	return nil
}

// checkName checks a database name with the rules the guest checks too.
func checkName(name string) error { return coffer.ValidDatabaseName(name) }

// deleteInstance starts the instance's DeleteInstance workflow, which claims its task
// (DELETING) first: 422 when another task holds it, 503 when the claim's outcome is unknown
// (startTask).
func (s *Server) deleteInstance(ctx context.Context, in *InstancePath) (*struct{}, error) {
	prev, err := s.getInstance(ctx, in.ProjectID, in.ID)
	if err != nil {
		return nil, err
	}
	// As Trove's, an instance shown BUILD is not ready to delete. One whose create still runs
	// but shows ERROR (its server failed) may be: the delete takes over and ends the create.
	if prev.Status() == "BUILD" {
		return nil, unprocessableEntity("Instance %s is not ready. (Status is BUILD).", prev.ID)
	}
	if err := s.checkDeleteReplicas(ctx, prev); err != nil {
		return nil, err
	}
	log := s.log.With("instance_id", prev.ID, "project_id", prev.ProjectID, "workflow_id", workflows.DeleteWorkflowID(prev.ID))
	err = s.workflows.StartDelete(ctx, workflows.DeleteInstanceInput{InstanceID: prev.ID, ProjectID: prev.ProjectID, InstanceName: prev.Name, Timeouts: s.timeouts(), ReplicaOf: s.primaryOf(ctx, prev.ID)})
	switch {
	case errors.Is(err, workflows.ErrInstanceBusy):
		return nil, unprocessableEntity("Instance %s is not ready (status %s): wait for its operation to end.", prev.ID, prev.Status())
	case err != nil:
		log.ErrorContext(ctx, "start delete workflow", "error", err)
		return nil, serviceUnavailable("The instance could not be deleted now: the workflow service is unavailable. Try again later.")
	}
	log.InfoContext(ctx, "instance delete started")
	return nil, nil
}

// instanceView shows an instance as Trove does (trove/instance/views.py). Fault details are
// for admins only, as in Trove: they may hold internals of the cloud.
func (s *Server) instanceView(ctx context.Context, inst *coffer.Instance, detail bool) InstanceView {
	base := baseURLFrom(ctx)
	v := InstanceView{
		ID:              inst.ID,
		Name:            inst.Name,
		Status:          inst.Status(),
		OperatingStatus: inst.OperatingStatus(s.now(), s.heartbeatExpiry()),
		Links: []Link{
			{Href: base + "/v1.0/" + inst.ProjectID + "/instances/" + inst.ID, Rel: "self"},
			{Href: base + "/instances/" + inst.ID, Rel: "bookmark"},
		},
		Flavor: FlavorView{ID: inst.FlavorID, Links: []Link{
			{Href: base + "/v1.0/" + inst.ProjectID + "/flavors/" + inst.FlavorID, Rel: "self"},
			{Href: base + "/flavors/" + inst.FlavorID, Rel: "bookmark"},
		}},
		Datastore: DatastoreView{Type: inst.Datastore, Version: inst.Version},
		Region:    s.cfg.API.Region,
		Volume:    VolumeView{Size: inst.VolumeSize},
		Access:    accessView(inst.Access),
	}
	if inst.Address != "" {
		v.IP = []string{inst.Address}
		v.Addresses = []AddressView{{Address: inst.Address, Type: "private"}}
	}
	if !detail {
		return v
	}
	v.Created = formatTime(inst.Created)
	v.Updated = formatTime(inst.Updated)
	statusUpdated := inst.ServiceStatusUpdated
	if statusUpdated.IsZero() {
		statusUpdated = inst.Created
	}
	v.ServiceStatusUpdated = formatTime(statusUpdated)
	if f := inst.Fault; f != nil {
		v.Fault = &FaultView{Message: f.Message, Created: formatTime(f.Created)}
		if principalFrom(ctx).IsAdmin() {
			v.Fault.Details = f.Details
		}
	}
	return v
}

// formatTime writes t as Trove does.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(troveTime)
}
