package activities_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/containers"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"
	"github.com/gophercloud/gophercloud/v2/pagination"
	"go.temporal.io/sdk/testsuite"

	"github.com/coffer-dbaas/coffer/activities"
	"github.com/coffer-dbaas/coffer/backupstream"
	"github.com/coffer-dbaas/coffer/config"
	"github.com/coffer-dbaas/coffer/dev/devcloud/devcloudtest"
)

// guestClient is the client a guest makes of its access (as guestagent does): temp URLs
// only, no token.
func guestClient(access activities.BackupAccess) *gophercloud.ServiceClient {
	sigs := map[string]string{}
	for m, s := range map[string]string{http.MethodGet: access.Swift.Get, http.MethodPut: access.Swift.Put, http.MethodDelete: access.Swift.Delete} {
		if s != "" {
			sigs[m] = s
		}
	}
	return backupstream.TempURL{Endpoint: access.Swift.URL, Container: access.Container, Prefix: access.Swift.Prefix,
		Expires: access.Swift.Expires, Signatures: sigs}.Client()
}

func TestBackupAccessReachesOnlyItsOwnBackupAndCarriesNoToken(t *testing.T) {
	dc := devcloudtest.Start(t)
	cfg := config.Defaults()
	cfg.OpenStack = config.OpenStack{
		AuthURL: dc.IdentityURL(), Username: "coffer", Password: "coffer", ProjectName: "service",
		UserDomainName: "Default", ProjectDomainName: "Default", Region: "RegionOne", Network: "private",
	}
	cfg.Guest.GatewayHostPort = "10.0.0.1:7243"
	cfg.CodecKey = codecKey
	cfg.Backup.Key = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	acts, err := activities.NewActivities(context.Background(), cfg, newCatalog(t))
	if err != nil {
		t.Fatal(err)
	}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	access := func(in activities.BackupAccessInput) activities.BackupAccess {
		t.Helper()
		v, err := env.ExecuteActivity(acts.GetBackupAccess, in)
		if err != nil {
			t.Fatalf("GetBackupAccess %+v: %v", in, err)
		}
		var out activities.BackupAccess
		if err := v.Get(&out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	ctx := context.Background()
	backup := func(id string) (activities.BackupAccess, backupstream.Result) {
		t.Helper()
		acc := access(activities.BackupAccessInput{Object: activities.BackupObject(id), Lifetime: time.Hour})
		res, err := backupstream.Upload(ctx, guestClient(acc), strings.NewReader(strings.Repeat("page ", 1<<18)), backupstream.UploadOptions{
			Container: acc.Container, Object: activities.BackupObject(id), SegmentSize: 1 << 20, MasterKey: acc.MasterKey, SpoolDir: t.TempDir(),
		})
		if err != nil {
			t.Fatalf("upload backup %s through its access: %v", id, err)
		}
		return acc, res
	}
	mineID, otherID := uuid.NewString(), uuid.NewString()
	write, mine := backup(mineID)
	_, other := backup(otherID)

	// What the guest receives holds no token and no key of the project.
	b, _ := json.Marshal(write)
	if strings.Contains(strings.ToLower(string(b)), "token") || strings.Contains(string(b), acts.Backup.TempURLKey) {
		t.Errorf("the guest's access carries a token or the temp URL key: %s", b)
	}
	if write.Swift.Get != "" || write.Swift.Put == "" || write.Swift.Delete == "" || write.Swift.Prefix != activities.BackupObject(mineID) {
		t.Errorf("backup access: got %+v, want PUT and DELETE over %s only", write.Swift, activities.BackupObject(mineID))
	}
	if left := time.Until(time.Unix(write.Swift.Expires, 0)); left <= 0 || left > time.Hour+time.Minute {
		t.Errorf("backup access expires in %s, want about an hour", left)
	}

	read := access(activities.BackupAccessInput{Object: mine.Object, Container: mine.Container, Restore: true, Lifetime: time.Hour})
	if read.Swift.Put != "" || read.Swift.Delete != "" || read.Swift.Get == "" {
		t.Errorf("restore access: got %+v, want GET only", read.Swift)
	}
	opts := func(r backupstream.Result) backupstream.DownloadOptions {
		return backupstream.DownloadOptions{Container: r.Container, Object: r.Object, MasterKey: read.MasterKey, WrappedKey: r.WrappedKey, SHA256: r.SHA256}
	}
	if err := backupstream.Download(ctx, guestClient(read), io.Discard, opts(mine)); err != nil {
		t.Fatalf("restore through the restore access: %v", err)
	}
	for name, c := range map[string]*gophercloud.ServiceClient{"backup access": guestClient(write), "restore access": guestClient(read)} {
		err := objects.List(c, mine.Container, nil).EachPage(ctx, func(context.Context, pagination.Page) (bool, error) { return true, nil })
		if err == nil {
			t.Errorf("%s lists the container", name)
		}
		if err := containers.Get(ctx, c, mine.Container, nil).Err; err == nil {
			t.Errorf("%s shows the container", name)
		}
		if err := backupstream.Download(ctx, c, io.Discard, opts(other)); err == nil {
			t.Errorf("%s reads another backup", name)
		}
	}
}
