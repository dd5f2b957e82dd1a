package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/activities"
	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/workflows"
)

// BackupCatalog is what the backup routes read and write in the catalog; *catalog.Store
// implements it.
type BackupCatalog interface {
	GetBackup(ctx context.Context, projectID, id string) (*coffer.Backup, error)
	ListBackups(ctx context.Context, f catalog.BackupFilter) ([]*coffer.Backup, error)
	CreateBackupSchedule(ctx context.Context, sc *coffer.BackupSchedule) error
	ListBackupSchedules(ctx context.Context, projectID, instanceID string) ([]*coffer.BackupSchedule, error)
	DeleteBackupSchedule(ctx context.Context, projectID, instanceID, id string) error
}

var _ BackupCatalog = (*catalog.Store)(nil)

// BackupWorkflows starts the backup workflows and keeps the backup schedules in Temporal.
// TemporalWorkflows implements it.
type BackupWorkflows interface {
	// StartBackup starts BackupInstance, which records the backup (in.Record) as its first
	// step, and returns once it did; workflows.ErrBackupRunning when another backup holds
	// the instance, workflows.ErrInstanceBusy when a task does.
	StartBackup(ctx context.Context, in workflows.BackupInstanceInput) error
	// StartBackupDelete starts DeleteBackup; a running delete of the backup is joined.
	StartBackupDelete(ctx context.Context, in workflows.DeleteBackupInput) error
	// CreateBackupSchedule makes the Temporal Schedule of sc.
	CreateBackupSchedule(ctx context.Context, sc coffer.BackupSchedule) error
	// DeleteBackupSchedule deletes it; one that is gone already is no error.
	DeleteBackupSchedule(ctx context.Context, instanceID, scheduleID string) error
}

var _ BackupWorkflows = TemporalWorkflows{}

// BackupCreate is Trove's backup create body.
type BackupCreate struct {
	Name        string `json:"name" minLength:"1" maxLength:"255" example:"nightly"`
	Instance    string `json:"instance" doc:"The ID of the instance to back up." format:"uuid"`
	Description string `json:"description,omitempty" maxLength:"512"`
	ParentID    string `json:"parent_id,omitempty" doc:"Incremental backups are not supported yet."`
	Incremental int    `json:"incremental,omitempty" doc:"Incremental backups are not supported yet (0 only)."`
	// Keys Coffer does not use (swift_container, storage_driver, restore_from) are refused
	// when they ask for what Coffer does not do.
	SwiftContainer string `json:"swift_container,omitempty" doc:"Not supported: backups go to the service's container."`
	StorageDriver  string `json:"storage_driver,omitempty" doc:"swift (the only one)."`
}

// CreateBackupRequest asks for a backup.
type CreateBackupRequest struct {
	ProjectPath
	Body struct {
		Backup BackupCreate `json:"backup"`
	}
}

// BackupDatastoreView is a backup's engine.
type BackupDatastoreView struct {
	Type      string `json:"type" example:"postgresql"`
	Version   string `json:"version" example:"15"`
	VersionID string `json:"version_id,omitempty"`
}

// BackupView is a backup as Trove shows it, with Coffer's checksum and progress.
type BackupView struct {
	ID            string              `json:"id" format:"uuid"`
	Name          string              `json:"name"`
	Description   string              `json:"description"`
	LocationRef   string              `json:"locationRef" doc:"The manifest of the backup in Swift, <container>/<object>; empty until it started."`
	InstanceID    string              `json:"instance_id" format:"uuid"`
	ProjectID     string              `json:"project_id"`
	Created       string              `json:"created" example:"2026-01-02T15:04:05"`
	Updated       string              `json:"updated" example:"2026-01-02T15:04:05"`
	Size          float64             `json:"size" doc:"What Swift stores, in GiB."`
	Status        string              `json:"status" example:"COMPLETED" doc:"NEW, BUILDING, SAVING, COMPLETED, FAILED or DELETE_FAILED."`
	ParentID      *string             `json:"parent_id"`
	Datastore     BackupDatastoreView `json:"datastore"`
	StorageDriver string              `json:"storage_driver" example:"swift"`
	// Coffer's additions.
	Checksum  string `json:"checksum,omitempty" doc:"The SHA-256 of the stored bytes, hex."`
	SizeBytes int64  `json:"size_bytes" doc:"What Swift stores, in bytes."`
	RawBytes  int64  `json:"raw_bytes" doc:"The engine's backup stream, in bytes (what a restore unpacks)."`
	BytesDone int64  `json:"bytes_done" doc:"How much of the engine's stream a running backup has read."`
	Fault     string `json:"fail_reason,omitempty" doc:"Why a FAILED backup failed."`
}

// BackupResponse is one backup.
type BackupResponse struct {
	Body struct {
		Backup BackupView `json:"backup"`
	}
}

// BackupListResponse is a page of backups.
type BackupListResponse struct {
	Body struct {
		Backups []BackupView `json:"backups"`
		Links   []Link       `json:"links,omitempty"`
	}
}

// ListBackupsRequest pages through backups.
type ListBackupsRequest struct {
	ProjectPath
	InstanceID  string `query:"instance_id" doc:"Only the backups of this instance."`
	Datastore   string `query:"datastore" doc:"Only the backups of this datastore (name)."`
	AllProjects bool   `query:"all_projects" doc:"Admins only: every project's backups."`
	Limit       int    `query:"limit" minimum:"1" doc:"The most backups to return (default 20, at most 100)."`
	Marker      string `query:"marker" doc:"Return the backups after the one with this ID."`
}

// ListInstanceBackupsRequest pages through one instance's backups.
type ListInstanceBackupsRequest struct {
	InstancePath
	Limit  int    `query:"limit" minimum:"1" doc:"The most backups to return (default 20, at most 100)."`
	Marker string `query:"marker" doc:"Return the backups after the one with this ID."`
}

// BackupPath names one backup of the project.
type BackupPath struct {
	ProjectPath
	ID string `path:"id" doc:"The backup ID."`
}

func (s *Server) registerBackups(g *huma.Group) {
	tags := []string{"Backups"}
	huma.Register(g, huma.Operation{
		OperationID:   "createBackup",
		Method:        http.MethodPost,
		Path:          "/backups",
		Summary:       "Back an instance up",
		Description:   "Records a NEW backup and starts its BackupInstance workflow: the guest streams a physical backup, compressed, encrypted and checksummed, straight into Swift. The instance shows BACKUP meanwhile. An instance that is not ACTIVE, runs another operation or another backup answers 422.",
		Tags:          tags,
		DefaultStatus: http.StatusAccepted,
		Errors:        []int{http.StatusBadRequest, http.StatusNotFound, http.StatusUnprocessableEntity, http.StatusNotImplemented},
	}, s.createBackup)
	huma.Register(g, huma.Operation{
		OperationID: "listBackups",
		Method:      http.MethodGet,
		Path:        "/backups",
		Summary:     "List backups",
		Description: "Lists the project's backups, oldest first; admins may ask for every project's with all_projects.",
		Tags:        tags,
		Errors:      []int{http.StatusBadRequest, http.StatusNotFound},
	}, s.listBackups)
	huma.Register(g, huma.Operation{
		OperationID: "showBackup",
		Method:      http.MethodGet,
		Path:        "/backups/{id}",
		Summary:     "Show a backup",
		Tags:        tags,
		Errors:      []int{http.StatusNotFound},
	}, s.showBackup)
	huma.Register(g, huma.Operation{
		OperationID:   "deleteBackup",
		Method:        http.MethodDelete,
		Path:          "/backups/{id}",
		Summary:       "Delete a backup",
		Description:   "Starts the DeleteBackup workflow, which removes every segment and the manifest from Swift, then the record. A running backup answers 422.",
		Tags:          tags,
		DefaultStatus: http.StatusAccepted,
		Errors:        []int{http.StatusNotFound, http.StatusUnprocessableEntity},
	}, s.deleteBackup)
	huma.Register(g, huma.Operation{
		OperationID: "listInstanceBackups",
		Method:      http.MethodGet,
		Path:        "/instances/{id}/backups",
		Summary:     "List an instance's backups",
		Tags:        []string{"Instances", "Backups"},
		Errors:      []int{http.StatusBadRequest, http.StatusNotFound},
	}, s.listInstanceBackups)
	s.registerBackupSchedules(g)
}

func (s *Server) createBackup(ctx context.Context, in *CreateBackupRequest) (*BackupResponse, error) {
	req := in.Body.Backup
	switch {
	case strings.TrimSpace(req.Name) == "":
		return nil, badRequest("Invalid request: backup.name: must not be blank.")
	case req.ParentID != "" || req.Incremental != 0:
		return nil, newFault("notImplemented", http.StatusNotImplemented, "Incremental backups are not supported yet.")
	case req.SwiftContainer != "":
		return nil, badRequest("Invalid request: backup.swift_container: backups go to the service's own container.")
	case req.StorageDriver != "" && req.StorageDriver != "swift":
		return nil, badRequest("Invalid request: backup.storage_driver: only swift is supported.")
	case req.Instance == "":
		return nil, badRequest("Invalid request: backup.instance: must name the instance to back up.")
	}
	if err := coffer.ValidText(req.Name, coffer.MaxNameLength); err != nil {
		return nil, badRequest("Invalid request: backup.name: %v.", err)
	}
	if err := coffer.ValidText(req.Description, coffer.MaxDescriptionLength); err != nil {
		return nil, badRequest("Invalid request: backup.description: %v.", err)
	}
	inst, err := s.getInstance(ctx, in.ProjectID, req.Instance)
	if err != nil {
		return nil, err
	}
	if st := inst.Status(); !inst.Ready() {
		return nil, unprocessableEntity("Instance %s is not ready to back up (status %s): it must be ACTIVE.", inst.ID, st)
	}
	b := &coffer.Backup{
		ID: uuid.NewString(), ProjectID: inst.ProjectID, InstanceID: inst.ID, Name: req.Name, Description: req.Description,
	}
	log := s.log.With("instance_id", inst.ID, "project_id", inst.ProjectID, "backup_id", b.ID, "workflow_id", workflows.BackupWorkflowID(b.ID))
	// The workflow records the backup (within the project's backups quota) as its first
	// step, its claim of the instance, and the start waits for that record
	// (workflows/claim.go).
	quotas := s.quotaDefaults()
	err = s.workflows.StartBackup(ctx, workflows.BackupInstanceInput{
		BackupID: b.ID, InstanceID: inst.ID, ProjectID: inst.ProjectID, InstanceName: inst.Name, Claim: s.timeouts().Claim,
		Record: &activities.CreateBackupRecordInput{
			BackupID: b.ID, InstanceID: inst.ID, ProjectID: inst.ProjectID, Name: b.Name, Description: b.Description,
			Quotas: &quotas,
		},
	})
	if qe, ok := errors.AsType[*catalog.QuotaExceededError](err); ok {
		return nil, quotaFault(qe)
	}
	switch {
	case errors.Is(err, workflows.ErrBackupRunning):
		return nil, unprocessableEntity("Instance %s has a backup running already.", inst.ID)
	case errors.Is(err, workflows.ErrInstanceBusy):
		return nil, unprocessableEntity("Instance %s is not ready to back up: another operation is running on it.", inst.ID)
	case err != nil:
		log.ErrorContext(ctx, "start backup workflow", "error", err)
		return nil, serviceUnavailable("The backup could not be started now: the workflow service is unavailable. Try again later.")
	}
	if rec, err := s.catalog.GetBackup(ctx, inst.ProjectID, b.ID); err == nil {
		b = rec
	} else {
		// The workflow recorded it: show what it recorded, as far as the API knows it.
		log.ErrorContext(ctx, "read the backup recorded", "error", err)
		b.Datastore, b.Version, b.VolumeSize, b.Status = inst.Datastore, inst.Version, inst.VolumeSize, coffer.BackupNew
	}
	log.InfoContext(ctx, "backup started", "name", b.Name)
	out := &BackupResponse{}
	out.Body.Backup = s.backupView(ctx, b)
	return out, nil
}

func (s *Server) listBackups(ctx context.Context, in *ListBackupsRequest) (*BackupListResponse, error) {
	project := in.ProjectID
	if in.AllProjects {
		if !principalFrom(ctx).IsAdmin() {
			return nil, forbidden("Only admins may list every project's backups (all_projects).")
		}
		project = ""
	}
	q := url.Values{}
	if in.InstanceID != "" {
		q.Set("instance_id", in.InstanceID)
	}
	if in.Datastore != "" {
		q.Set("datastore", in.Datastore)
	}
	if in.AllProjects {
		q.Set("all_projects", "true")
	}
	f := catalog.BackupFilter{ProjectID: project, InstanceID: in.InstanceID, Datastore: in.Datastore}
	return s.pageBackups(ctx, f, in.Limit, in.Marker, "/v1.0/"+in.ProjectID+"/backups", q)
}

func (s *Server) listInstanceBackups(ctx context.Context, in *ListInstanceBackupsRequest) (*BackupListResponse, error) {
	inst, err := s.getInstance(ctx, in.ProjectID, in.ID)
	if err != nil {
		return nil, err
	}
	f := catalog.BackupFilter{ProjectID: inst.ProjectID, InstanceID: inst.ID}
	return s.pageBackups(ctx, f, in.Limit, in.Marker, "/v1.0/"+in.ProjectID+"/instances/"+inst.ID+"/backups", url.Values{})
}

// pageBackups lists one page of backups, with a next link when there are more.
func (s *Server) pageBackups(ctx context.Context, f catalog.BackupFilter, limit int, marker, path string, q url.Values) (*BackupListResponse, error) {
	if limit <= 0 {
		limit = defaultPageSize
	}
	limit = min(limit, maxPageSize)
	if marker != "" && uuid.Validate(marker) != nil {
		return nil, badRequest("Invalid request: query parameter marker: %q is not a backup ID.", marker)
	}
	if f.InstanceID != "" && uuid.Validate(f.InstanceID) != nil {
		return nil, badRequest("Invalid request: query parameter instance_id: %q is not an instance ID.", f.InstanceID)
	}
	f.Limit, f.Marker = limit+1, marker
	backups, err := s.catalog.ListBackups(ctx, f)
	if err != nil {
		return nil, faultFor(ctx, s.log, err, "Marker backup "+marker)
	}
	out := &BackupListResponse{}
	out.Body.Backups = []BackupView{}
	for i, b := range backups {
		if i == limit {
			q.Set("limit", strconv.Itoa(limit))
			q.Set("marker", backups[limit-1].ID)
			out.Body.Links = []Link{{Href: baseURLFrom(ctx) + path + "?" + q.Encode(), Rel: "next"}}
			break
		}
		out.Body.Backups = append(out.Body.Backups, s.backupView(ctx, b))
	}
	return out, nil
}

// getBackup finds a project's backup. An ID that is not a UUID names no backup.
func (s *Server) getBackup(ctx context.Context, projectID, id string) (*coffer.Backup, error) {
	what := "Backup " + id
	if uuid.Validate(id) != nil {
		return nil, faultFor(ctx, s.log, catalog.ErrNotFound, what)
	}
	b, err := s.catalog.GetBackup(ctx, projectID, id)
	if err != nil {
		return nil, faultFor(ctx, s.log, err, what)
	}
	return b, nil
}

func (s *Server) showBackup(ctx context.Context, in *BackupPath) (*BackupResponse, error) {
	b, err := s.getBackup(ctx, in.ProjectID, in.ID)
	if err != nil {
		return nil, err
	}
	out := &BackupResponse{}
	out.Body.Backup = s.backupView(ctx, b)
	return out, nil
}

func (s *Server) deleteBackup(ctx context.Context, in *BackupPath) (*struct{}, error) {
	b, err := s.getBackup(ctx, in.ProjectID, in.ID)
	if err != nil {
		return nil, err
	}
	if b.Status.Running() {
		return nil, unprocessableEntity("Backup %s is still running (status %s): wait for it to end.", b.ID, b.Status)
	}
	log := s.log.With("backup_id", b.ID, "project_id", in.ProjectID, "workflow_id", workflows.DeleteBackupWorkflowID(b.ID))
	if err := s.workflows.StartBackupDelete(ctx, workflows.DeleteBackupInput{BackupID: b.ID, ProjectID: in.ProjectID}); err != nil {
		log.ErrorContext(ctx, "start backup delete workflow", "error", err)
		return nil, serviceUnavailable("The backup could not be deleted now: the workflow service is unavailable. Try again later.")
	}
	log.InfoContext(ctx, "backup delete started")
	return nil, nil
}

// backupView shows a backup as Trove does (trove/backup/views.py), with Coffer's checksum,
// sizes in bytes and progress.
func (s *Server) backupView(ctx context.Context, b *coffer.Backup) BackupView {
	v := BackupView{
		ID: b.ID, Name: b.Name, Description: b.Description, InstanceID: b.InstanceID, ProjectID: b.ProjectID,
		Created: formatTime(b.Created), Updated: formatTime(b.Updated),
		Size:   float64(b.Size) / (1 << 30),
		Status: string(b.Status),
		Datastore: BackupDatastoreView{
			Type: b.Datastore, Version: b.Version,
		},
		StorageDriver: "swift",
		Checksum:      b.Checksum,
		SizeBytes:     b.Size,
		RawBytes:      b.RawSize,
		BytesDone:     b.BytesDone,
		Fault:         b.FailReason,
	}
	if b.Object != "" {
		v.LocationRef = b.Container + "/" + b.Object
	}
	if dv, err := s.catalog.FindDatastoreVersion(ctx, b.Datastore, b.Version); err == nil {
		v.Datastore.VersionID = dv.ID
	}
	return v
}

// RestorePoint names the backup a new instance is made from.
type RestorePoint struct {
	BackupRef string `json:"backupRef" doc:"The ID of a COMPLETED backup of the same datastore."`
}

// restore is a create's backup, checked.
type restore struct {
	backup             *coffer.Backup
	datastore, version string
}

// restoreSource checks a create's restorePoint as Trove does: the backup must be the
// project's (404), COMPLETED (422), and fit in the new volume (400). The instance gets the
// backup's datastore and version unless the request names them (then they must match).
func (s *Server) restoreSource(ctx context.Context, projectID string, req *InstanceCreate) (*restore, error) {
	if req.RestorePoint == nil {
		return nil, nil
	}
	ref := strings.TrimSpace(req.RestorePoint.BackupRef)
	if ref == "" {
		return nil, badRequest("Invalid request: instance.restorePoint.backupRef: must name a backup.")
	}
	b, err := s.getBackup(ctx, projectID, ref)
	if err != nil {
		return nil, err
	}
	if b.Status != coffer.BackupCompleted {
		return nil, unprocessableEntity("Backup %s is not COMPLETED (status %s): only completed backups can be restored.", b.ID, b.Status)
	}
	if need := b.RawSize; need > int64(req.Volume.Size)<<30 {
		return nil, badRequest("Backup %s is too large for the volume: it holds %.2f GiB, the volume is %d GiB.", b.ID, float64(need)/(1<<30), req.Volume.Size)
	}
	r := &restore{backup: b, datastore: b.Datastore, version: b.Version}
	return r, nil
}

// matches checks that the instance's datastore version is the backup's.
func (r *restore) matches(dv catalog.DatastoreVersion) error {
	if r == nil {
		return nil
	}
	if dv.Datastore != r.backup.Datastore || dv.Name != r.backup.Version {
		return badRequest("Backup %s is of datastore %s %s; it cannot be restored into %s %s.",
			r.backup.ID, r.backup.Datastore, r.backup.Version, dv.Datastore, dv.Name)
	}
	return nil
}

// workflowSource is what CreateInstance needs of the backup.
func (r *restore) workflowSource() *workflows.RestoreSource {
	if r == nil {
		return nil
	}
	b := r.backup
	return &workflows.RestoreSource{BackupID: b.ID, Container: b.Container, Object: b.Object, WrappedKey: b.WrappedKey, SHA256: b.Checksum}
}
