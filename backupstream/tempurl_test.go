package backupstream

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/containers"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"
	"github.com/gophercloud/gophercloud/v2/pagination"
)

func TestAccountPathIsWhatSwiftSigns(t *testing.T) {
	for _, tt := range []struct{ endpoint, want string }{
		{"https://swift.example.com/v1/AUTH_p", "/v1/AUTH_p"},
		{"https://swift.example.com/v1/AUTH_p/", "/v1/AUTH_p"},
		{"http://127.0.0.1:5000/object-store/v1/AUTH_p", "/v1/AUTH_p"},
	} {
		if got, err := accountPath(tt.endpoint); err != nil || got != tt.want {
			t.Errorf("accountPath(%q) = %q, %v; want %q", tt.endpoint, got, err, tt.want)
		}
	}
	for _, bad := range []string{"https://swift.example.com/", "https://swift.example.com/v1/", "https://swift.example.com/v1/AUTH_p/c"} {
		if got, err := accountPath(bad); err == nil {
			t.Errorf("accountPath(%q) = %q, want an error", bad, got)
		}
	}
}

// A temp URL over one backup's prefix stores and reads that backup, and nothing else: no
// listing, no other backup, no method it was not signed for, nothing once it expired.
func TestTempURLReachesOnlyItsOwnBackup(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	other, _ := uploadForTest(t, tc, newPagesReader(1, 3*testSegmentSize, true), testUploadOptions(t, "backups/other"))

	expires := time.Now().Add(time.Hour)
	write, err := NewTempURL(testTempURLKey, tc.swift.Endpoint, "backups", "backups/mine", expires, http.MethodPut, http.MethodDelete)
	if err != nil {
		t.Fatal(err)
	}
	opts := testUploadOptions(t, "backups/mine")
	res, err := Upload(ctx, write.Client(), newPagesReader(2, 3*testSegmentSize, true), opts)
	if err != nil {
		t.Fatalf("upload through a temp URL for PUT: %v", err)
	}
	read, err := NewTempURL(testTempURLKey, tc.swift.Endpoint, "backups", "backups/mine", expires, http.MethodGet)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(ctx, read.Client(), downloadOptions(res, testKey(1))); err != nil {
		t.Fatalf("download through a temp URL for GET: %v", err)
	}

	refused := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: allowed, want it refused", what)
		}
	}
	r := read.Client()
	refused("list the container", objects.List(r, "backups", nil).EachPage(ctx, func(context.Context, pagination.Page) (bool, error) { return true, nil }))
	refused("show the container", containers.Get(ctx, r, "backups", nil).Err)
	refused("read another backup's manifest", objects.Download(ctx, r, "backups", other.Object, nil).Err)
	refused("read another backup's segment", objects.Download(ctx, r, "backups", other.Object+"/segments/00000000", nil).Err)
	refused("read another backup", Verify(ctx, r, downloadOptions(other, testKey(1))))
	refused("delete with a temp URL for GET", objects.Delete(ctx, r, "backups", res.Object, nil).Err)
	refused("write with a temp URL for GET", objects.Create(ctx, r, "backups", res.Object+"/x", objects.CreateOpts{Content: strings.NewReader("x")}).Err)

	// A manifest written through the temp URL cannot name another backup's segments.
	manifest, _ := json.Marshal([]map[string]any{{"path": "/backups/" + other.Object + "/segments/00000000"}})
	refused("a manifest that names another backup's segment", objects.Create(ctx, write.Client(), "backups", "backups/mine-2", objects.CreateOpts{
		Content: bytes.NewReader(manifest), MultipartManifest: "put", NoETag: true}).Err)

	// A signature of another key, or one that expired, reaches nothing.
	forged, _ := NewTempURL("not-the-key", tc.swift.Endpoint, "backups", "backups/mine", expires, http.MethodGet)
	refused("read with a forged signature", objects.Download(ctx, forged.Client(), "backups", res.Object, objects.DownloadOpts{MultipartManifest: "get"}).Err)
	expired, _ := NewTempURL(testTempURLKey, tc.swift.Endpoint, "backups", "backups/mine", time.Now().Add(-time.Second), http.MethodGet)
	refused("read with an expired temp URL", objects.Download(ctx, expired.Client(), "backups", res.Object, objects.DownloadOpts{MultipartManifest: "get"}).Err)

	// Swift itself refuses a method the signature is not for (the client would not send it).
	for _, method := range []string{http.MethodDelete, http.MethodPut, http.MethodPost} {
		req, _ := http.NewRequestWithContext(ctx, method, tc.swift.Endpoint+"backups/"+res.Object+
			"?temp_url_sig="+read.Signatures[http.MethodGet]+"&temp_url_prefix=backups/mine&temp_url_expires="+strconv.FormatInt(read.Expires, 10), strings.NewReader("x"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s with a signature for GET: got %d, want 401", method, resp.StatusCode)
		}
	}

	// And the refusals are Swift's 401 (or the manifest's 403), not a client-side error.
	err = objects.List(r, "backups", nil).EachPage(ctx, func(context.Context, pagination.Page) (bool, error) { return true, nil })
	if !gophercloud.ResponseCodeIs(err, http.StatusUnauthorized) {
		t.Errorf("list through a temp URL: got %v, want 401", err)
	}
	if s := write.String(); strings.Contains(s, write.Signatures[http.MethodPut]) {
		t.Errorf("String shows a signature: %s", s)
	}
}
