package configdrive_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/coffer-dbaas/coffer/configdrive"
)

func sampleDrive() configdrive.Drive {
	return configdrive.Drive{
		MetaData: configdrive.MetaData{UUID: "server-1", Name: "db", Meta: map[string]string{"k": "v"},
			Devices: []configdrive.Device{{Type: "disk", Bus: "virtio", Serial: "vol-1"}}},
		NetworkData: configdrive.NetworkData{Networks: []configdrive.Network{{ID: "network0", Type: "ipv4", IPAddress: "10.0.0.7"}}},
		UserData:    []byte(`{"instance_id": "i-1"}`),
	}
}

func TestWriteThenReadGivesTheDriveBack(t *testing.T) {
	dir := t.TempDir()
	want := sampleDrive()
	if err := configdrive.Write(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := configdrive.Read(dir)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Read after Write: got %+v, %v; want %+v", got, err, want)
	}
}

// metadataService serves files by path, and status for any other path.
func metadataService(t *testing.T, files map[string]string, status int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b, ok := files[r.URL.Path]; ok {
			w.Write([]byte(b))
			return
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestFetch(t *testing.T) {
	const md, nd = `{"uuid": "server-1"}`, `{"networks": [{"id": "network0", "type": "ipv4", "ip_address": "10.0.0.7"}]}`
	for _, tc := range []struct {
		name     string
		files    map[string]string
		status   int
		wantErr  string
		wantUser string
	}{
		{"all three", map[string]string{"/openstack/latest/meta_data.json": md, "/openstack/latest/network_data.json": nd,
			"/openstack/latest/user_data": "hello"}, http.StatusNotFound, "", "hello"},
		{"no user_data", map[string]string{"/openstack/latest/meta_data.json": md, "/openstack/latest/network_data.json": nd},
			http.StatusNotFound, "", ""},
		{"no meta_data", map[string]string{"/openstack/latest/network_data.json": nd}, http.StatusNotFound, "meta_data.json: not found", ""},
		{"the service fails", map[string]string{"/openstack/latest/meta_data.json": md}, http.StatusInternalServerError, "500", ""},
		{"not JSON", map[string]string{"/openstack/latest/meta_data.json": "<html>", "/openstack/latest/network_data.json": nd},
			http.StatusNotFound, "meta_data.json", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := configdrive.Fetch(context.Background(), http.DefaultClient, metadataService(t, tc.files, tc.status)+"/")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("Fetch: got %v, want an error saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || d.MetaData.UUID != "server-1" || d.NetworkData.Networks[0].IPAddress != "10.0.0.7" || string(d.UserData) != tc.wantUser {
				t.Errorf("Fetch: got %+v, %v; want server-1 at 10.0.0.7 with user_data %q", d, err, tc.wantUser)
			}
		})
	}
}
