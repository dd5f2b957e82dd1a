package activities

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"
	"go.temporal.io/sdk/temporal"

	"github.com/coffer-dbaas/coffer/backupstream"
	"github.com/coffer-dbaas/coffer/guest"
)

// LogContainer is the Swift container guest logs are published into, Trove's
// guest_log_container_name.
const LogContainer = "database_logs"

// LogPrefix is where an instance's log goes in LogContainer, as Trove names it:
// "<instance-id>/<datastore>-<log>/".
func LogPrefix(instanceID, datastore, log string) string {
	return instanceID + "/" + datastore + "-" + log + "/"
}

// LogAccessInput is GetLogAccess' input: the object a publish writes.
type LogAccessInput struct {
	Object   string        `json:"object"`
	Lifetime time.Duration `json:"lifetime"`
}

// GetLogAccess signs a Swift temporary URL that lets a guest PUT the one object Object of
// LogContainer for Lifetime, as GetBackupAccess does for a backup: the guest gets no
// credential. It first makes sure that the container exists and holds the temp URL key.
func (a *Activities) GetLogAccess(ctx context.Context, in LogAccessInput) (guest.SwiftAccess, error) {
	swift, err := a.swift()
	if err != nil {
		return guest.SwiftAccess{}, err
	}
	if in.Object == "" || in.Lifetime <= 0 {
		return guest.SwiftAccess{}, temporal.NewNonRetryableApplicationError("log access needs an object and a lifetime", ErrorTypeBadRequest, nil)
	}
	if err := backupstream.EnsureContainer(ctx, swift, LogContainer, a.Backup.TempURLKey); err != nil {
		return guest.SwiftAccess{}, cloudError(err, "prepare the log container")
	}
	t, err := backupstream.NewTempURL(a.Backup.TempURLKey, swift.Endpoint, LogContainer, in.Object, time.Now().Add(in.Lifetime), http.MethodPut)
	if err != nil {
		return guest.SwiftAccess{}, temporal.NewNonRetryableApplicationError("sign log access: "+err.Error(), ErrorTypeBadRequest, nil)
	}
	return guest.SwiftAccess{URL: guestEndpoint(t.Endpoint, a.Guest.SwiftHostPort), Prefix: t.Prefix, Expires: t.Expires,
		Put: t.Signatures[http.MethodPut]}, nil
}

// DeleteLogObjects deletes every object of LogContainer under prefix (a discarded log),
// with the control plane's credentials: a guest cannot list the container. Objects or a
// container already gone are no error.
func (a *Activities) DeleteLogObjects(ctx context.Context, prefix string) error {
	swift, err := a.swift()
	if err != nil {
		return err
	}
	if prefix == "" {
		return temporal.NewNonRetryableApplicationError("delete log objects: no prefix", ErrorTypeBadRequest, nil)
	}
	pages, err := objects.List(swift, LogContainer, objects.ListOpts{Prefix: prefix}).AllPages(ctx)
	if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		return nil
	}
	if err != nil {
		return cloudError(err, "list log objects "+prefix)
	}
	names, err := objects.ExtractNames(pages)
	if err != nil {
		return cloudError(err, "list log objects "+prefix)
	}
	var errs []error
	for _, name := range names {
		if _, err := objects.Delete(ctx, swift, LogContainer, name, nil).Extract(); err != nil && !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return cloudError(err, "delete log objects "+prefix)
	}
	return nil
}
