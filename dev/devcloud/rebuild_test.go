package devcloud_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/coffer-dbaas/coffer/dev/devcloud"
)

// rebuildWithUserData is a rebuild with user_data, which gophercloud's RebuildOpts lacks.
type rebuildWithUserData struct {
	servers.RebuildOpts
	UserData string
}

func (o rebuildWithUserData) ToServerRebuildMap() (map[string]any, error) {
	m, err := o.RebuildOpts.ToServerRebuildMap()
	if err == nil && o.UserData != "" {
		m["rebuild"].(map[string]any)["user_data"] = base64.StdEncoding.EncodeToString([]byte(o.UserData))
	}
	return m, err
}

// TestServerRebuildBootsTheNewImageWithNewUserData: a rebuild boots the server again on the
// new image, with new user_data (from microversion 2.57) and a fresh root disk, its ID kept;
// a rebuild onto an image whose boots fail ends in ERROR, and a rebuild from ERROR onto a
// good image brings it back.
func TestServerRebuildBootsTheNewImageWithNewUserData(t *testing.T) {
	tc := startNovaCloud(t)
	tc.cfg.Images = append(tc.cfg.Images, devcloud.Image{Name: "broken", Tags: []string{"broken"}, Properties: map[string]string{"devcloud_boot": devcloud.ImageBootFail}})
	tc.restart()
	ctx := context.Background()
	nova := tc.compute("demo")
	s := bootServer(t, tc, nova, servers.CreateOpts{Name: "rebuilt", UserData: []byte("first")})
	pid := guestPID(t, tc, s.ID)
	state := filepath.Join(tc.cfg.DataDir, "servers", s.ID, "guest-state")
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}

	mysql := imageID(t, tc, "coffer-mysql-8.0")
	opts := rebuildWithUserData{RebuildOpts: servers.RebuildOpts{ImageRef: mysql}, UserData: "second"}
	err := servers.Rebuild(ctx, nova, s.ID, opts).Err
	wantStatus(t, "rebuild with user_data before 2.57", err, http.StatusBadRequest)

	nova257 := *nova
	nova257.Microversion = "2.57"
	if err := servers.Rebuild(ctx, &nova257, s.ID, opts).Err; err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	got := waitServer(t, nova, s.ID, "ACTIVE")
	if id, _ := got.Image["id"].(string); id != mysql {
		t.Errorf("image after the rebuild: got %v, want %s", got.Image, mysql)
	}
	wantRestarted(t, tc, s.ID, pid)
	if d := readDrive(t, tc, s.ID); string(d.UserData) != "second" {
		t.Errorf("user_data on the config drive after the rebuild: got %q, want second", d.UserData)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("the guest's state survived the rebuild (%v), want a fresh root disk", err)
	}

	if err := servers.Rebuild(ctx, nova, s.ID, servers.RebuildOpts{ImageRef: imageID(t, tc, "broken")}).Err; err != nil {
		t.Fatalf("rebuild onto the broken image: %v", err)
	}
	waitServer(t, nova, s.ID, "ERROR")
	if err := servers.Rebuild(ctx, nova, s.ID, servers.RebuildOpts{ImageRef: mysql}).Err; err != nil {
		t.Fatalf("rebuild from ERROR: %v", err)
	}
	waitServer(t, nova, s.ID, "ACTIVE")
}
