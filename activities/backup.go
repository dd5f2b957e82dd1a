package activities

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"go.temporal.io/sdk/temporal"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/backupstream"
	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/config"
	"github.com/coffer-dbaas/coffer/guest"
)

// The control plane's part of backups: the catalog records, the Swift temporary URLs it
// signs for a guest, and the deletes (with the control plane's own credentials). Backup data itself never passes through here: guests stream it
// to and from Swift directly.

// BackupCatalog is the part of the catalog backups change; *catalog.Store implements it.
type BackupCatalog interface {
	CreateBackupWithinQuota(ctx context.Context, b *coffer.Backup, defaults catalog.QuotaLimits) error
	GetBackup(ctx context.Context, projectID, id string) (*coffer.Backup, error)
	ListBackups(ctx context.Context, f catalog.BackupFilter) ([]*coffer.Backup, error)
	StartBackup(ctx context.Context, id, container, object string) error
	SetBackupProgress(ctx context.Context, id string, bytesDone int64) error
	CompleteBackup(ctx context.Context, id string, r catalog.BackupResult) error
	FailBackup(ctx context.Context, id, reason string) error
	MarkBackupDeleteFailed(ctx context.Context, id, reason string) error
	DeleteBackup(ctx context.Context, id string) error
}

var _ BackupCatalog = (*catalog.Store)(nil)

// BackupSettings are how backups are stored.
type BackupSettings struct {
	// Key wraps each backup's data key; empty disables backups.
	Key []byte
	// TempURLKey signs the guests' Swift temporary URLs (config.Config.TempURLKey).
	TempURLKey  string
	Container   string
	SegmentSize int64
}

// setUpBackups finds Swift in the service catalog and reads the backup settings.
func (a *Deps) setUpBackups(cfg config.Config, provider *gophercloud.ProviderClient, eo gophercloud.EndpointOpts) error {
	a.Backup = BackupSettings{Container: cfg.Backup.Container, SegmentSize: cfg.Backup.SegmentSize}
	if cfg.Backup.Key == "" {
		return nil
	}
	key, err := cfg.BackupKeyBytes()
	if err != nil {
		return fmt.Errorf("config key backup.key: %w", err)
	}
	a.Backup.Key = key
	if a.Backup.TempURLKey, err = cfg.TempURLKey(); err != nil {
		return fmt.Errorf("config key backup.temp_url_key: %w", err)
	}
	if a.ObjectStorage, err = openstack.NewObjectStorageV1(provider, eo); err != nil {
		return fmt.Errorf("find the object-store endpoint: %w", err)
	}
	return nil
}

func (a *Activities) swift() (*gophercloud.ServiceClient, error) {
	if a.ObjectStorage == nil || len(a.Backup.Key) == 0 {
		return nil, temporal.NewNonRetryableApplicationError("backups are not configured: set backup.key", ErrorTypeBackupsDisabled, nil)
	}
	return a.ObjectStorage, nil
}

// BackupObject is the name of a backup's manifest in the backup container.
func BackupObject(backupID string) string { return "backups/" + backupID }

// BackupAccess is what a guest needs to write or read one backup: Swift temporary URLs over
// that backup's objects, the container, the segment size and the backup key. It is a
// secret, and travels only in payloads the codec encrypts.
type BackupAccess struct {
	Swift       guest.SwiftAccess `json:"swift"`
	Container   string            `json:"container"`
	SegmentSize int64             `json:"segment_size"`
	MasterKey   []byte            `json:"master_key"`
}

// String keeps the secrets out of logs.
func (BackupAccess) String() string { return "backup access" }

// BackupAccessInput is GetBackupAccess' input: the backup's manifest object, for a backup
// into the backup container, or a restore from Container; and how long the access lasts.
type BackupAccessInput struct {
	Object string `json:"object"`
	// Container is the container to restore from; a backup goes to the configured one.
	Container string        `json:"container,omitempty"`
	Restore   bool          `json:"restore,omitempty"`
	Lifetime  time.Duration `json:"lifetime"`
}

// GetBackupAccess signs Swift temporary URLs over one backup's objects (its manifest and
// the segments under it: every name that starts with Object) for Lifetime: GET for a
// restore, PUT and DELETE for a backup (DELETE so that a failed upload removes its own
// segments). It first makes sure that the container exists and holds the temp URL key.
//
// Why temp URLs: the guest must reach Swift without its data passing through the control
// plane, and a guest is not trusted. A temp URL holds no credential: it reaches that one
// backup's objects, with those methods, until it expires; it cannot list the container or
// read another backup. The key that signs them stays here.
func (a *Activities) GetBackupAccess(ctx context.Context, in BackupAccessInput) (BackupAccess, error) {
	swift, err := a.swift()
	if err != nil {
		return BackupAccess{}, err
	}
	if in.Object == "" || in.Lifetime <= 0 {
		return BackupAccess{}, temporal.NewNonRetryableApplicationError("backup access needs an object and a lifetime", ErrorTypeBadRequest, nil)
	}
	container := a.Backup.Container
	methods := []string{http.MethodPut, http.MethodDelete}
	if in.Restore {
		container, methods = in.Container, []string{http.MethodGet}
	}
	// The container holds the current key even when backup.temp_url_key changed since.
	if err := backupstream.EnsureContainer(ctx, swift, container, a.Backup.TempURLKey); err != nil {
		return BackupAccess{}, cloudError(err, "prepare the backup container")
	}
	t, err := backupstream.NewTempURL(a.Backup.TempURLKey, swift.Endpoint, container, in.Object, time.Now().Add(in.Lifetime), methods...)
	if err != nil {
		return BackupAccess{}, temporal.NewNonRetryableApplicationError("sign backup access: "+err.Error(), ErrorTypeBadRequest, nil)
	}
	return BackupAccess{
		// A signature covers the object's path, not the host: the guest may reach Swift by
		// another address (a VM on user-mode networking reaches the host's loopback so).
		Swift: guest.SwiftAccess{URL: guestEndpoint(t.Endpoint, a.Guest.SwiftHostPort), Prefix: t.Prefix, Expires: t.Expires,
			Get: t.Signatures[http.MethodGet], Put: t.Signatures[http.MethodPut], Delete: t.Signatures[http.MethodDelete]},
		Container:   container,
		SegmentSize: a.Backup.SegmentSize,
		MasterKey:   a.Backup.Key,
	}, nil
}

// CreateBackupRecordInput is CreateBackupRecord's input.
type CreateBackupRecordInput struct {
	BackupID    string `json:"backup_id"`
	InstanceID  string `json:"instance_id"`
	ProjectID   string `json:"project_id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	ScheduleID  string `json:"schedule_id,omitempty"`
	// Quotas are the quota defaults of a project that has none of its own, as the API
	// knows them; nil uses the worker's (a scheduled backup).
	Quotas *catalog.QuotaLimits `json:"quotas,omitempty"`
	// NotAfter is when the claim's window ends, as in ClaimTaskInput (a backup's record is
	// its claim of the instance).
	NotAfter time.Time `json:"not_after,omitempty"`
}

// CreateBackupRecord records a NEW backup of an instance, the claim of a backup: while it
// runs, the instance takes no task and no other backup. It counts against the project's
// backups quota (in.Quotas, or the worker's defaults), as every backup does. An instance a
// task holds is a non-retryable ErrorTypeInstanceBusy, one another backup holds
// ErrorTypeBackupRunning, a project at its backups quota ErrorTypeProjectQuotaExceeded (the
// quotas exceeded in its details); a record that exists already (a retry: backup IDs are
// new for each backup) is no error.
func (a *Activities) CreateBackupRecord(ctx context.Context, in CreateBackupRecordInput) error {
	what := "record backup of instance " + in.InstanceID
	if err := claimWindow(in.NotAfter, what); err != nil {
		return err
	}
	b := &coffer.Backup{ID: in.BackupID, InstanceID: in.InstanceID, ProjectID: in.ProjectID, Name: in.Name,
		Description: in.Description, ScheduleID: in.ScheduleID}
	quotas := a.Quotas
	if in.Quotas != nil {
		quotas = *in.Quotas
	}
	err := a.Catalog.CreateBackupWithinQuota(ctx, b, quotas)
	if errors.Is(err, catalog.ErrTaskRunning) || errors.Is(err, catalog.ErrBackupRunning) {
		// The running backup may be this one, recorded by an attempt whose answer was lost.
		if _, gerr := a.Catalog.GetBackup(ctx, "", in.BackupID); gerr == nil {
			return nil
		}
	}
	var over *catalog.QuotaExceededError
	switch {
	case errors.Is(err, catalog.ErrExists):
		return nil
	case errors.As(err, &over):
		return temporal.NewNonRetryableApplicationError(what+": "+over.Error(), ErrorTypeProjectQuotaExceeded, nil, over.Over)
	case errors.Is(err, catalog.ErrBackupRunning):
		return temporal.NewNonRetryableApplicationError("instance "+in.InstanceID+" is busy: "+err.Error(), ErrorTypeBackupRunning, err)
	case errors.Is(err, catalog.ErrTaskRunning):
		return temporal.NewNonRetryableApplicationError("instance "+in.InstanceID+" is busy: "+err.Error(), ErrorTypeInstanceBusy, err)
	}
	return catalogError(err, what)
}

// GetBackup returns a backup's record.
func (a *Activities) GetBackup(ctx context.Context, backupID string) (*coffer.Backup, error) {
	b, err := a.Catalog.GetBackup(ctx, "", backupID)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, temporal.NewNonRetryableApplicationError("the catalog has no backup "+backupID, ErrorTypeNotInCatalog, err)
	}
	return b, catalogError(err, "get backup "+backupID)
}

// StartBackupInput is StartBackupRecord's input.
type StartBackupInput struct {
	BackupID  string `json:"backup_id"`
	Container string `json:"container"`
	Object    string `json:"object"`
}

// StartBackupRecord marks a backup BUILDING with where it goes.
func (a *Activities) StartBackupRecord(ctx context.Context, in StartBackupInput) error {
	return backupError(a.Catalog.StartBackup(ctx, in.BackupID, in.Container, in.Object), "start backup "+in.BackupID)
}

// BackupProgressInput is RecordBackupProgress' input.
type BackupProgressInput struct {
	BackupID  string `json:"backup_id"`
	BytesDone int64  `json:"bytes_done"`
}

// RecordBackupProgress records how far a running backup got.
func (a *Activities) RecordBackupProgress(ctx context.Context, in BackupProgressInput) error {
	return backupError(a.Catalog.SetBackupProgress(ctx, in.BackupID, in.BytesDone), "record progress of backup "+in.BackupID)
}

// CompleteBackupInput is CompleteBackupRecord's input.
type CompleteBackupInput struct {
	BackupID string             `json:"backup_id"`
	Result   guest.BackupResult `json:"result"`
}

// CompleteBackupRecord marks a backup COMPLETED with what the guest stored.
func (a *Activities) CompleteBackupRecord(ctx context.Context, in CompleteBackupInput) error {
	r := in.Result
	err := a.Catalog.CompleteBackup(ctx, in.BackupID, catalog.BackupResult{
		Container: r.Container, Object: r.Object, RawSize: r.RawSize, Size: r.StoredSize,
		Checksum: r.SHA256, WrappedKey: r.WrappedKey, Segments: r.Segments,
	})
	return backupError(err, "complete backup "+in.BackupID)
}

// FailBackupInput is FailBackupRecord's input.
type FailBackupInput struct {
	BackupID string `json:"backup_id"`
	Reason   string `json:"reason"`
	// Deleting marks a failed delete (DELETE_FAILED) rather than a failed backup.
	Deleting bool `json:"deleting,omitempty"`
}

// FailBackupRecord marks a backup FAILED (or DELETE_FAILED) with the reason.
func (a *Activities) FailBackupRecord(ctx context.Context, in FailBackupInput) error {
	if in.Deleting {
		return backupError(a.Catalog.MarkBackupDeleteFailed(ctx, in.BackupID, in.Reason), "mark delete of backup "+in.BackupID+" failed")
	}
	return backupError(a.Catalog.FailBackup(ctx, in.BackupID, in.Reason), "fail backup "+in.BackupID)
}

// DeleteBackupRecord removes a backup's record; a missing one is no error.
func (a *Activities) DeleteBackupRecord(ctx context.Context, backupID string) error {
	return backupError(a.Catalog.DeleteBackup(ctx, backupID), "delete record of backup "+backupID)
}

// DeleteBackupObjectsInput is DeleteBackupObjects' input.
type DeleteBackupObjectsInput struct {
	Container string `json:"container"`
	Object    string `json:"object"`
}

// DeleteBackupObjects deletes a backup's segments and manifest from Swift (what a failed
// guest left, or a backup being deleted); nothing there is no error.
func (a *Activities) DeleteBackupObjects(ctx context.Context, in DeleteBackupObjectsInput) error {
	swift, err := a.swift()
	if err != nil {
		return err
	}
	if in.Container == "" || in.Object == "" {
		return nil
	}
	if err := backupstream.Delete(ctx, swift, in.Container, in.Object); err != nil {
		return cloudError(err, "delete backup objects "+in.Container+"/"+in.Object)
	}
	return nil
}

// PruneInput is BackupsBeyondRetention's input.
type PruneInput struct {
	ScheduleID string `json:"schedule_id"`
	Keep       int    `json:"keep"`
}

// BackupsBeyondRetention lists the schedule's COMPLETED backups beyond the newest Keep,
// oldest first: the ones to delete.
func (a *Activities) BackupsBeyondRetention(ctx context.Context, in PruneInput) ([]string, error) {
	if in.ScheduleID == "" || in.Keep < 1 {
		return nil, temporal.NewNonRetryableApplicationError("prune needs a schedule and keep >= 1", ErrorTypeBadRequest, nil)
	}
	done, err := a.Catalog.ListBackups(ctx, catalog.BackupFilter{ScheduleID: in.ScheduleID, Status: coffer.BackupCompleted})
	if err != nil {
		return nil, catalogError(err, "list backups of schedule "+in.ScheduleID)
	}
	var ids []string
	for i := 0; i < len(done)-in.Keep; i++ {
		ids = append(ids, done[i].ID)
	}
	return ids, nil
}

// backupError: a missing backup cannot be mended by retries.
func backupError(err error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, catalog.ErrNotFound) {
		return temporal.NewNonRetryableApplicationError(what+": the catalog has no such backup", ErrorTypeNotInCatalog, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// guestEndpoint is endpoint with its host:port replaced by hostPort, where guests reach the
// service; an empty hostPort (or an endpoint that is no URL) leaves it as it is.
func guestEndpoint(endpoint, hostPort string) string {
	u, err := url.Parse(endpoint)
	if hostPort == "" || err != nil || u.Host == "" {
		return endpoint
	}
	u.Host = hostPort
	return u.String()
}
