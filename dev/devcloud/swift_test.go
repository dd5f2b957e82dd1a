package devcloud_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/accounts"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/containers"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"
	"github.com/gophercloud/gophercloud/v2/pagination"

	"github.com/coffer-dbaas/coffer/dev/devcloud"
)

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func createContainer(t *testing.T, sc *gophercloud.ServiceClient, name string) {
	t.Helper()
	if _, err := containers.Create(context.Background(), sc, name, nil).Extract(); err != nil {
		t.Fatalf("create container %s: %v", name, err)
	}
}

func putObject(t *testing.T, sc *gophercloud.ServiceClient, container, name, content string) *objects.CreateHeader {
	t.Helper()
	h, err := objects.Create(context.Background(), sc, container, name, objects.CreateOpts{
		Content: strings.NewReader(content), ContentType: "application/octet-stream",
	}).Extract()
	if err != nil {
		t.Fatalf("put %s/%s: %v", container, name, err)
	}
	return h
}

// downloadObject returns an object's content and headers.
func downloadObject(t *testing.T, sc *gophercloud.ServiceClient, container, name string, opts objects.DownloadOptsBuilder) (string, *objects.DownloadHeader) {
	t.Helper()
	res := objects.Download(context.Background(), sc, container, name, opts)
	if res.Err != nil {
		t.Fatalf("download %s/%s: %v", container, name, res.Err)
	}
	h, err := res.Extract()
	if err != nil {
		t.Fatal(err)
	}
	b, err := res.ExtractContent()
	if err != nil {
		t.Fatal(err)
	}
	return string(b), h
}

// listObjectNames lists every name (objects or subdirs) of a container through gophercloud's pager.
func listObjectNames(t *testing.T, sc *gophercloud.ServiceClient, container string, opts objects.ListOpts) []string {
	t.Helper()
	pages, err := objects.List(sc, container, opts).AllPages(context.Background())
	if err != nil {
		t.Fatalf("list %s %+v: %v", container, opts, err)
	}
	names, err := objects.ExtractNames(pages)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// swiftErrorBody is the body of the error response behind a gophercloud error.
func swiftErrorBody(t *testing.T, err error) string {
	t.Helper()
	var e gophercloud.ErrUnexpectedResponseCode
	if !errors.As(err, &e) {
		t.Fatalf("got error %v, want an HTTP error", err)
	}
	return string(e.Body)
}

// swiftCall sends a raw call through a service client (its token, its endpoint) and wants one
// status; it returns the response with its body read.
func swiftCall(t *testing.T, sc *gophercloud.ServiceClient, method, url string, body io.Reader, headers map[string]string, want int) (*http.Response, string) {
	t.Helper()
	resp, err := sc.Request(context.Background(), method, url, &gophercloud.RequestOpts{
		RawBody: body, MoreHeaders: headers, OkCodes: []int{want}, KeepResponseBody: true,
	})
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestContainerCreateUpdateGetListDelete(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	sc := tc.objectStorage("demo")

	_, err := containers.Create(ctx, sc, "backups", containers.CreateOpts{
		Metadata: map[string]string{"Purpose": "nightly"}, ContainerRead: ".r:*",
	}).Extract()
	if err != nil {
		t.Fatalf("create container: %v", err)
	}
	// A second PUT is 202 and keeps the container.
	swiftCall(t, sc, http.MethodPut, sc.ServiceURL("backups"), nil, nil, http.StatusAccepted)

	get := containers.Get(ctx, sc, "backups", nil)
	h, err := get.Extract()
	if err != nil {
		t.Fatalf("get container: %v", err)
	}
	if h.ObjectCount != 0 || h.BytesUsed != 0 || h.Timestamp == 0 || h.StoragePolicy != "Policy-0" || !slices.Equal(h.Read, []string{".r:*"}) {
		t.Errorf("got container header %+v, want empty, timestamped, Policy-0, read .r:*", h)
	}
	if meta, _ := get.ExtractMetadata(); meta["Purpose"] != "nightly" {
		t.Errorf("got metadata %v, want Purpose=nightly", meta)
	}

	_, err = containers.Update(ctx, sc, "backups", containers.UpdateOpts{
		Metadata: map[string]string{"Owner": "coffer"}, RemoveMetadata: []string{"Purpose"},
	}).Extract()
	if err != nil {
		t.Fatalf("update container: %v", err)
	}
	if meta, _ := containers.Get(ctx, sc, "backups", nil).ExtractMetadata(); meta["Owner"] != "coffer" || meta["Purpose"] != "" {
		t.Errorf("after update got metadata %v, want Owner=coffer and no Purpose", meta)
	}

	createContainer(t, sc, "logs")
	createContainer(t, sc, "logs-old")
	putObject(t, sc, "logs", "a", "12345")
	pages, err := containers.List(sc, nil).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all, err := containers.ExtractInfo(pages)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || all[0].Name != "backups" || all[1].Name != "logs" || all[1].Count != 1 || all[1].Bytes != 5 {
		t.Errorf("got containers %+v, want backups, logs (1 object, 5 bytes), logs-old", all)
	}
	pages, err = containers.List(sc, containers.ListOpts{Prefix: "logs", Marker: "logs"}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if names, _ := containers.ExtractNames(pages); !slices.Equal(names, []string{"logs-old"}) {
		t.Errorf("list prefix logs after marker logs: got %v, want [logs-old]", names)
	}

	if err := containers.Delete(ctx, sc, "backups").Err; err != nil {
		t.Fatalf("delete container: %v", err)
	}
	wantStatus(t, "get deleted container", containers.Get(ctx, sc, "backups", nil).Err, http.StatusNotFound)
	wantStatus(t, "delete deleted container", containers.Delete(ctx, sc, "backups").Err, http.StatusNotFound)
	wantStatus(t, "update missing container", containers.Update(ctx, sc, "backups", containers.UpdateOpts{}).Err, http.StatusNotFound)
}

func TestContainerDeleteConflictsWhileItHoldsObjects(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	sc := tc.objectStorage("demo")
	createContainer(t, sc, "full")
	putObject(t, sc, "full", "x", "data")

	err := containers.Delete(ctx, sc, "full").Err
	wantStatus(t, "delete non-empty container", err, http.StatusConflict)
	if body := swiftErrorBody(t, err); body != "<html><h1>Conflict</h1><p>There was a conflict when trying to complete your request.</p></html>" {
		t.Errorf("got 409 body %q, want Swift's", body)
	}
	if err := objects.Delete(ctx, sc, "full", "x", nil).Err; err != nil {
		t.Fatal(err)
	}
	if err := containers.Delete(ctx, sc, "full").Err; err != nil {
		t.Fatalf("delete emptied container: %v", err)
	}
}

func TestObjectPutDownloadHeadUpdateDelete(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	sc := tc.objectStorage("demo")
	createContainer(t, sc, "c")
	const name = "dir/sub/file ü?#%.txt"
	const content = "hello, object storage"

	created, err := objects.Create(ctx, sc, "c", name, objects.CreateOpts{
		Content:            strings.NewReader(content),
		ContentType:        "text/plain",
		ContentDisposition: "attachment",
		Metadata:           map[string]string{"Color": "blue", "Size": "s"},
	}).Extract()
	if err != nil {
		t.Fatalf("create object: %v", err)
	}
	if created.ETag != md5Hex(content) || created.LastModified.IsZero() {
		t.Errorf("got create header %+v, want ETag %s and Last-Modified", created, md5Hex(content))
	}

	got, h := downloadObject(t, sc, "c", name, nil)
	if got != content {
		t.Errorf("got content %q, want %q", got, content)
	}
	if h.ContentLength != int64(len(content)) || h.ContentType != "text/plain" || h.ETag != md5Hex(content) ||
		h.ContentDisposition != "attachment" || h.LastModified.IsZero() || h.StaticLargeObject {
		t.Errorf("got download header %+v", h)
	}

	head := objects.Get(ctx, sc, "c", name, nil)
	gh, err := head.Extract()
	if err != nil {
		t.Fatalf("head object: %v", err)
	}
	if gh.ContentLength != int64(len(content)) || gh.ETag != md5Hex(content) {
		t.Errorf("got head header %+v", gh)
	}
	if meta, _ := head.ExtractMetadata(); meta["Color"] != "blue" || meta["Size"] != "s" {
		t.Errorf("got metadata %v, want Color=blue Size=s", meta)
	}

	// A POST replaces the user metadata whole.
	ct := "application/json"
	if _, err := objects.Update(ctx, sc, "c", name, objects.UpdateOpts{
		Metadata: map[string]string{"Color": "red"}, ContentType: &ct,
	}).Extract(); err != nil {
		t.Fatalf("update object: %v", err)
	}
	head = objects.Get(ctx, sc, "c", name, nil)
	if meta, _ := head.ExtractMetadata(); len(meta) != 1 || meta["Color"] != "red" {
		t.Errorf("after POST got metadata %v, want only Color=red", meta)
	}
	if gh, _ := head.Extract(); gh.ContentType != ct {
		t.Errorf("after POST got content type %q, want %q", gh.ContentType, ct)
	}

	// Overwrite, then conditional GETs on the new ETag.
	putObject(t, sc, "c", name, "v2")
	if got, _ := downloadObject(t, sc, "c", name, nil); got != "v2" {
		t.Errorf("after overwrite got %q, want v2", got)
	}
	swiftCall(t, sc, http.MethodGet, sc.ServiceURL("c", url.PathEscape(name)), nil, map[string]string{"If-None-Match": md5Hex("v2")}, http.StatusNotModified)
	wantStatus(t, "If-Match on an old ETag",
		objects.Download(ctx, sc, "c", name, objects.DownloadOpts{IfMatch: md5Hex(content)}).Err, http.StatusPreconditionFailed)

	if err := objects.Delete(ctx, sc, "c", name, nil).Err; err != nil {
		t.Fatalf("delete object: %v", err)
	}
	wantStatus(t, "head deleted object", objects.Get(ctx, sc, "c", name, nil).Err, http.StatusNotFound)
	wantStatus(t, "download deleted object", objects.Download(ctx, sc, "c", name, nil).Err, http.StatusNotFound)
	wantStatus(t, "delete deleted object", objects.Delete(ctx, sc, "c", name, nil).Err, http.StatusNotFound)
	wantStatus(t, "update deleted object", objects.Update(ctx, sc, "c", name, objects.UpdateOpts{}).Err, http.StatusNotFound)
}

func TestObjectPutStreamsChunkedUploads(t *testing.T) {
	tc := startCloud(t)
	sc := tc.objectStorage("demo")
	createContainer(t, sc, "c")
	content := strings.Repeat("0123456789abcdef", 100_000)
	// An io.Reader that is not a Seeker, with NoETag, goes out with chunked transfer encoding.
	h, err := objects.Create(context.Background(), sc, "c", "chunked", objects.CreateOpts{
		Content: io.MultiReader(strings.NewReader(content)), NoETag: true,
	}).Extract()
	if err != nil {
		t.Fatalf("chunked put: %v", err)
	}
	if h.ETag != md5Hex(content) {
		t.Errorf("got ETag %s, want %s", h.ETag, md5Hex(content))
	}
	if got, dh := downloadObject(t, sc, "c", "chunked", nil); got != content || dh.ContentType != "application/octet-stream" {
		t.Errorf("got %d bytes of type %q back, want %d of application/octet-stream", len(got), dh.ContentType, len(content))
	}
}

func TestObjectRangeDownload(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	sc := tc.objectStorage("demo")
	createContainer(t, sc, "c")
	putObject(t, sc, "c", "digits", "0123456789")

	for _, tt := range []struct{ rng, want string }{
		{"bytes=2-5", "2345"},
		{"bytes=7-", "789"},
		{"bytes=-3", "789"},
	} {
		resp, got := swiftCall(t, sc, http.MethodGet, sc.ServiceURL("c", "digits"), nil, map[string]string{"Range": tt.rng}, http.StatusPartialContent)
		if got != tt.want || resp.Header.Get("Content-Range") == "" {
			t.Errorf("Range %s: got %q (Content-Range %q), want %q", tt.rng, got, resp.Header.Get("Content-Range"), tt.want)
		}
		// gophercloud's Download takes the same range.
		res := objects.Download(ctx, sc, "c", "digits", objects.DownloadOpts{Range: tt.rng})
		b, err := res.ExtractContent()
		if err != nil || string(b) != tt.want {
			t.Errorf("Range %s through objects.Download: got %q (%v), want %q", tt.rng, b, err, tt.want)
		}
	}
	wantStatus(t, "unsatisfiable range",
		objects.Download(ctx, sc, "c", "digits", objects.DownloadOpts{Range: "bytes=20-30"}).Err, http.StatusRequestedRangeNotSatisfiable)
}

func TestObjectPutRejectsWrongETagAndMissingContainer(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	sc := tc.objectStorage("demo")
	createContainer(t, sc, "c")

	err := objects.Create(ctx, sc, "c", "x", objects.CreateOpts{
		Content: strings.NewReader("data"), ETag: md5Hex("other data"),
	}).Err
	wantStatus(t, "put with a wrong ETag", err, http.StatusUnprocessableEntity)
	if body := swiftErrorBody(t, err); !strings.Contains(body, "Unprocessable Entity") {
		t.Errorf("got 422 body %q", body)
	}
	wantStatus(t, "head the refused object", objects.Get(ctx, sc, "c", "x", nil).Err, http.StatusNotFound)
	if h, _ := containers.Get(ctx, sc, "c", nil).Extract(); h.ObjectCount != 0 {
		t.Errorf("got %d objects after a refused put, want 0", h.ObjectCount)
	}

	err = objects.Create(ctx, sc, "nope", "x", objects.CreateOpts{Content: strings.NewReader("data")}).Err
	wantStatus(t, "put into a missing container", err, http.StatusNotFound)
	if body := swiftErrorBody(t, err); body != "<html><h1>Not Found</h1><p>The resource could not be found.</p></html>" {
		t.Errorf("got 404 body %q, want Swift's", body)
	}
	_, err = objects.List(sc, "nope", nil).AllPages(ctx)
	wantStatus(t, "list a missing container", err, http.StatusNotFound)

	err = objects.Create(ctx, sc, "c", "past", objects.CreateOpts{Content: strings.NewReader("x"), DeleteAt: 1000}).Err
	wantStatus(t, "put with X-Delete-At in the past", err, http.StatusBadRequest)
}

func TestObjectExpiresAfterXDeleteAfter(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	sc := tc.objectStorage("demo")
	createContainer(t, sc, "c")
	if err := objects.Create(ctx, sc, "c", "short-lived", objects.CreateOpts{
		Content: strings.NewReader("x"), DeleteAfter: 1,
	}).Err; err != nil {
		t.Fatal(err)
	}
	h, err := objects.Get(ctx, sc, "c", "short-lived", nil).Extract()
	if err != nil || h.DeleteAt.IsZero() {
		t.Fatalf("got %+v, %v; want the object with X-Delete-At", h, err)
	}
	time.Sleep(time.Until(h.DeleteAt) + 50*time.Millisecond)
	wantStatus(t, "head an expired object", objects.Get(ctx, sc, "c", "short-lived", nil).Err, http.StatusNotFound)
	if names := listObjectNames(t, sc, "c", objects.ListOpts{}); len(names) != 0 {
		t.Errorf("got listing %v after expiry, want empty", names)
	}
	if err := containers.Delete(ctx, sc, "c").Err; err != nil {
		t.Errorf("delete a container with only expired objects: %v", err)
	}
}

func TestObjectListingPrefixDelimiterMarkerLimit(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	sc := tc.objectStorage("demo")
	createContainer(t, sc, "c")
	for _, name := range []string{"b/2", "a", "b/1", "b/sub/1", "c/1", "d"} {
		putObject(t, sc, "c", name, name+"!")
	}

	for _, tt := range []struct {
		opts objects.ListOpts
		want []string
	}{
		{objects.ListOpts{}, []string{"a", "b/1", "b/2", "b/sub/1", "c/1", "d"}},
		{objects.ListOpts{Prefix: "b/"}, []string{"b/1", "b/2", "b/sub/1"}},
		{objects.ListOpts{Delimiter: "/"}, []string{"a", "b/", "c/", "d"}},
		{objects.ListOpts{Prefix: "b/", Delimiter: "/"}, []string{"b/1", "b/2", "b/sub/"}},
		{objects.ListOpts{Marker: "b/2"}, []string{"b/sub/1", "c/1", "d"}},
		{objects.ListOpts{Marker: "a", EndMarker: "c"}, []string{"b/1", "b/2", "b/sub/1"}},
		// The pager follows the markers page by page, subdirs included.
		{objects.ListOpts{Limit: 1}, []string{"a", "b/1", "b/2", "b/sub/1", "c/1", "d"}},
		{objects.ListOpts{Limit: 2, Delimiter: "/"}, []string{"a", "b/", "c/", "d"}},
	} {
		if got := listObjectNames(t, sc, "c", tt.opts); !slices.Equal(got, tt.want) {
			t.Errorf("list %+v: got %v, want %v", tt.opts, got, tt.want)
		}
	}

	// One page of limit 2 holds two entries.
	var first []string
	err := objects.List(sc, "c", objects.ListOpts{Limit: 2}).EachPage(ctx, func(_ context.Context, p pagination.Page) (bool, error) {
		first, _ = objects.ExtractNames(p)
		return false, nil
	})
	if err != nil || !slices.Equal(first, []string{"a", "b/1"}) {
		t.Errorf("first page of limit 2: got %v (%v), want [a b/1]", first, err)
	}

	pages, err := objects.List(sc, "c", objects.ListOpts{Prefix: "b/1"}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	infos, err := objects.ExtractInfo(pages)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || infos[0].Name != "b/1" || infos[0].Bytes != 4 || infos[0].Hash != md5Hex("b/1!") ||
		infos[0].ContentType != "application/octet-stream" || time.Since(infos[0].LastModified) > time.Minute {
		t.Errorf("got listing info %+v", infos)
	}

	// The plain-text form: names one per line, 204 when empty.
	_, body := swiftCall(t, sc, http.MethodGet, sc.ServiceURL("c")+"?prefix=b/&delimiter=/", nil, map[string]string{"Accept": "text/plain"}, http.StatusOK)
	if body != "b/1\nb/2\nb/sub/\n" {
		t.Errorf("plain listing: got %q", body)
	}
	swiftCall(t, sc, http.MethodGet, sc.ServiceURL("c")+"?prefix=zzz", nil, map[string]string{"Accept": "text/plain"}, http.StatusNoContent)
	_, body = swiftCall(t, sc, http.MethodGet, sc.ServiceURL("c")+"?prefix=zzz&format=json", nil, nil, http.StatusOK)
	if strings.TrimSpace(body) != "[]" {
		t.Errorf("empty JSON listing: got %q, want []", body)
	}
	swiftCall(t, sc, http.MethodGet, sc.ServiceURL("c")+"?limit=10001", nil, nil, http.StatusPreconditionFailed)
}

func TestAccountHeadUpdateAndListing(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	sc := tc.objectStorage("demo")

	// An account nobody wrote to exists, empty; its plain listing is 204.
	h, err := accounts.Get(ctx, sc, nil).Extract()
	if err != nil {
		t.Fatalf("head a fresh account: %v", err)
	}
	if h.ContainerCount != 0 || h.ObjectCount != 0 || h.BytesUsed != 0 {
		t.Errorf("got fresh account %+v, want empty", h)
	}
	swiftCall(t, sc, http.MethodGet, sc.Endpoint, nil, map[string]string{"Accept": "text/plain"}, http.StatusNoContent)

	createContainer(t, sc, "one")
	createContainer(t, sc, "two")
	putObject(t, sc, "one", "a", "abc")
	putObject(t, sc, "two", "b", "defgh")
	if _, err := accounts.Update(ctx, sc, accounts.UpdateOpts{Metadata: map[string]string{"Team": "dbaas"}}).Extract(); err != nil {
		t.Fatalf("update account: %v", err)
	}

	res := accounts.Get(ctx, sc, nil)
	h, err = res.Extract()
	if err != nil {
		t.Fatal(err)
	}
	if h.ContainerCount != 2 || h.ObjectCount != 2 || h.BytesUsed != 8 {
		t.Errorf("got account %+v, want 2 containers, 2 objects, 8 bytes", h)
	}
	if meta, _ := res.ExtractMetadata(); meta["Team"] != "dbaas" {
		t.Errorf("got account metadata %v, want Team=dbaas", meta)
	}
	if _, err := accounts.Update(ctx, sc, accounts.UpdateOpts{RemoveMetadata: []string{"Team"}}).Extract(); err != nil {
		t.Fatal(err)
	}
	if meta, _ := accounts.Get(ctx, sc, nil).ExtractMetadata(); meta["Team"] != "" {
		t.Errorf("got account metadata %v after removing Team", meta)
	}

	_, body := swiftCall(t, sc, http.MethodGet, sc.Endpoint+"?format=json", nil, nil, http.StatusOK)
	var listing []struct {
		Name         string `json:"name"`
		Count        int64  `json:"count"`
		Bytes        int64  `json:"bytes"`
		LastModified string `json:"last_modified"`
	}
	if err := json.Unmarshal([]byte(body), &listing); err != nil {
		t.Fatalf("account listing %q: %v", body, err)
	}
	if len(listing) != 2 || listing[1].Name != "two" || listing[1].Count != 1 || listing[1].Bytes != 5 {
		t.Errorf("got account listing %+v", listing)
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000000", listing[0].LastModified); err != nil {
		t.Errorf("last_modified %q is not in Swift's format: %v", listing[0].LastModified, err)
	}
	_, body = swiftCall(t, sc, http.MethodGet, sc.Endpoint+"?limit=1", nil, map[string]string{"Accept": "text/plain"}, http.StatusOK)
	if body != "one\n" {
		t.Errorf("plain account listing with limit 1: got %q, want one", body)
	}
}

// manifestSegment is a manifest entry as a client writes it.
type manifestSegment struct {
	Path      string  `json:"path"`
	ETag      *string `json:"etag"`
	SizeBytes *int64  `json:"size_bytes"`
}

func putManifest(ctx context.Context, sc *gophercloud.ServiceClient, container, name string, segs []manifestSegment) objects.CreateResult {
	body, _ := json.Marshal(segs)
	return objects.Create(ctx, sc, container, name, objects.CreateOpts{
		Content: bytes.NewReader(body), MultipartManifest: "put", NoETag: true, ContentType: "application/x-tar",
	})
}

func optional[T any](v T) *T { return &v }

func TestLargeObjectPutGetHeadManifestAndDelete(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	sc := tc.objectStorage("demo")
	createContainer(t, sc, "segments")
	createContainer(t, sc, "backups")
	parts := []string{"first segment|", "second|", "third and last"}
	for i, p := range parts {
		putObject(t, sc, "segments", "db/"+string(rune('1'+i)), p)
	}
	whole := strings.Join(parts, "")

	created, err := putManifest(ctx, sc, "backups", "db.tar", []manifestSegment{
		{Path: "/segments/db/1", ETag: optional(md5Hex(parts[0])), SizeBytes: optional(int64(len(parts[0])))},
		{Path: "segments/db/2"}, // no leading slash, etag and size_bytes null
		{Path: "/segments/db/3", ETag: optional(`"` + md5Hex(parts[2]) + `"`)},
	}).Extract()
	if err != nil {
		t.Fatalf("put manifest: %v", err)
	}
	wantETag := `"` + md5Hex(md5Hex(parts[0])+md5Hex(parts[1])+md5Hex(parts[2])) + `"`
	if created.ETag != wantETag {
		t.Errorf("manifest put: got ETag %s, want %s", created.ETag, wantETag)
	}

	got, h := downloadObject(t, sc, "backups", "db.tar", nil)
	if got != whole || !h.StaticLargeObject || h.ContentLength != int64(len(whole)) || h.ETag != wantETag || h.ContentType != "application/x-tar" {
		t.Errorf("GET manifest: got %q with %+v, want %q", got, h, whole)
	}
	gh, err := objects.Get(ctx, sc, "backups", "db.tar", nil).Extract()
	if err != nil || !gh.StaticLargeObject || gh.ContentLength != int64(len(whole)) || gh.ETag != wantETag {
		t.Errorf("HEAD manifest: got %+v (%v)", gh, err)
	}

	// Ranges across segment boundaries.
	for _, rng := range [][2]int{{10, 20}, {0, 0}, {14, 14}, {5, len(whole) - 1}} {
		res := objects.Download(ctx, sc, "backups", "db.tar", objects.DownloadOpts{Range: "bytes=" + strconv.Itoa(rng[0]) + "-" + strconv.Itoa(rng[1])})
		b, err := res.ExtractContent()
		if want := whole[rng[0] : rng[1]+1]; err != nil || string(b) != want {
			t.Errorf("range %v: got %q (%v), want %q", rng, b, err, want)
		}
	}

	// The manifest itself, as Swift stores it.
	res := objects.Download(ctx, sc, "backups", "db.tar", objects.DownloadOpts{MultipartManifest: "get"})
	b, err := res.ExtractContent()
	if err != nil {
		t.Fatal(err)
	}
	var manifest []struct {
		Name         string `json:"name"`
		Hash         string `json:"hash"`
		Bytes        int64  `json:"bytes"`
		ContentType  string `json:"content_type"`
		LastModified string `json:"last_modified"`
	}
	if err := json.Unmarshal(b, &manifest); err != nil {
		t.Fatalf("manifest %s: %v", b, err)
	}
	if len(manifest) != 3 || manifest[1].Name != "/segments/db/2" || manifest[1].Hash != md5Hex(parts[1]) ||
		manifest[1].Bytes != int64(len(parts[1])) || manifest[1].ContentType != "application/octet-stream" || manifest[1].LastModified == "" {
		t.Errorf("got manifest %s", b)
	}

	pages, err := objects.List(sc, "backups", nil).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if infos, _ := objects.ExtractInfo(pages); len(infos) != 1 || infos[0].Bytes != int64(len(whole)) {
		t.Errorf("got listing %+v, want db.tar with %d bytes", infos, len(whole))
	}

	// A changed segment breaks the manifest: 409, as Swift's first-segment check gives.
	putObject(t, sc, "segments", "db/1", "changed")
	wantStatus(t, "GET with a changed segment", objects.Download(ctx, sc, "backups", "db.tar", nil).Err, http.StatusConflict)
	putObject(t, sc, "segments", "db/1", parts[0])

	// multipart-manifest=delete answers 200 with a summary, as Swift does; gophercloud's
	// objects.Delete expects 202 or 204, so a caller must accept the 200.
	resp, body := swiftCall(t, sc, http.MethodDelete, sc.ServiceURL("backups", "db.tar")+"?multipart-manifest=delete", nil, nil, http.StatusOK)
	var summary map[string]any
	if err := json.Unmarshal([]byte(body), &summary); err != nil || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("multipart delete body %q: %v", body, err)
	}
	if summary["Number Deleted"] != 4.0 || summary["Number Not Found"] != 0.0 || summary["Response Status"] != "200 OK" || len(summary["Errors"].([]any)) != 0 {
		t.Errorf("got multipart delete summary %v", summary)
	}
	if h, _ := containers.Get(ctx, sc, "segments", nil).Extract(); h.ObjectCount != 0 {
		t.Errorf("got %d segments left, want 0", h.ObjectCount)
	}
	wantStatus(t, "head the deleted manifest", objects.Get(ctx, sc, "backups", "db.tar", nil).Err, http.StatusNotFound)
}

func TestLargeObjectPlainDeleteKeepsSegmentsAndGophercloudSeesMultipartDeleteAs200(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	sc := tc.objectStorage("demo")
	createContainer(t, sc, "c")
	putObject(t, sc, "c", "seg/1", "aaa")
	putObject(t, sc, "c", "seg/2", "bbb")
	if err := putManifest(ctx, sc, "c", "big", []manifestSegment{{Path: "c/seg/1"}, {Path: "c/seg/2"}}).Err; err != nil {
		t.Fatal(err)
	}
	if err := objects.Delete(ctx, sc, "c", "big", nil).Err; err != nil {
		t.Fatalf("plain delete of the manifest: %v", err)
	}
	if names := listObjectNames(t, sc, "c", objects.ListOpts{}); !slices.Equal(names, []string{"seg/1", "seg/2"}) {
		t.Errorf("after a plain delete got %v, want the segments kept", names)
	}

	if err := putManifest(ctx, sc, "c", "big", []manifestSegment{{Path: "c/seg/1"}, {Path: "c/seg/2"}}).Err; err != nil {
		t.Fatal(err)
	}
	err := objects.Delete(ctx, sc, "c", "big", objects.DeleteOpts{MultipartManifest: "delete"}).Err
	wantStatus(t, "gophercloud multipart delete", err, http.StatusOK)
	if names := listObjectNames(t, sc, "c", objects.ListOpts{}); len(names) != 0 {
		t.Errorf("after a multipart delete got %v, want nothing", names)
	}

	// On a plain object, multipart delete refuses in its body and deletes nothing.
	putObject(t, sc, "c", "plain", "x")
	_, body := swiftCall(t, sc, http.MethodDelete, sc.ServiceURL("c", "plain")+"?multipart-manifest=delete", nil, map[string]string{"Accept": "text/plain"}, http.StatusOK)
	want := "Number Deleted: 0\nNumber Not Found: 0\nResponse Body: \nResponse Status: 400 Bad Request\nErrors:\n/c/plain, Not an SLO manifest\n"
	if body != want {
		t.Errorf("multipart delete of a plain object: got %q, want %q", body, want)
	}
	if err := objects.Get(ctx, sc, "c", "plain", nil).Err; err != nil {
		t.Errorf("the plain object is gone: %v", err)
	}
}

func TestLargeObjectManifestIsCheckedAgainstItsSegments(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	sc := tc.objectStorage("demo")
	createContainer(t, sc, "c")
	putObject(t, sc, "c", "s1", "12345")

	for _, tt := range []struct {
		name string
		segs []manifestSegment
		want string // the Errors entry
	}{
		{"missing segment", []manifestSegment{{Path: "/c/s1"}, {Path: "/c/missing"}}, `[["/c/missing","404 Not Found"]]`},
		{"etag mismatch", []manifestSegment{{Path: "/c/s1", ETag: optional(md5Hex("other"))}}, `[["/c/s1","Etag Mismatch"]]`},
		{"size mismatch", []manifestSegment{{Path: "/c/s1", SizeBytes: optional(int64(4))}}, `[["/c/s1","Size Mismatch"]]`},
	} {
		err := putManifest(ctx, sc, "c", "m", tt.segs).Err
		wantStatus(t, tt.name, err, http.StatusBadRequest)
		var got struct{ Errors json.RawMessage }
		if jerr := json.Unmarshal([]byte(swiftErrorBody(t, err)), &got); jerr != nil || string(got.Errors) != tt.want {
			t.Errorf("%s: got body %q, want Errors %s", tt.name, swiftErrorBody(t, err), tt.want)
		}
	}
	wantStatus(t, "manifest that is not JSON", objects.Create(ctx, sc, "c", "m", objects.CreateOpts{
		Content: strings.NewReader("nope"), MultipartManifest: "put", NoETag: true,
	}).Err, http.StatusBadRequest)
	wantStatus(t, "manifest path without an object", putManifest(ctx, sc, "c", "m", []manifestSegment{{Path: "/c"}}).Err, http.StatusBadRequest)

	// The ETag a client sends with a manifest is checked against the large object's ETag:
	// gophercloud's default (the md5 of the manifest body) is refused, as by Swift.
	body, _ := json.Marshal([]manifestSegment{{Path: "/c/s1"}})
	err := objects.Create(ctx, sc, "c", "m", objects.CreateOpts{Content: bytes.NewReader(body), MultipartManifest: "put"}).Err
	wantStatus(t, "manifest with the body's md5 as ETag", err, http.StatusUnprocessableEntity)
	err = objects.Create(ctx, sc, "c", "m", objects.CreateOpts{
		Content: bytes.NewReader(body), MultipartManifest: "put", ETag: md5Hex(md5Hex("12345")),
	}).Err
	if err != nil {
		t.Errorf("manifest with the large object's ETag: %v", err)
	}
	_, msg := swiftCall(t, sc, http.MethodPut, sc.ServiceURL("c", "m2"), bytes.NewReader(body), map[string]string{"X-Static-Large-Object": "True"}, http.StatusBadRequest)
	if !strings.Contains(msg, "reserved header") {
		t.Errorf("X-Static-Large-Object without multipart-manifest=put: got %q", msg)
	}
}

func TestSwiftRefusesOtherProjectsAccounts(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	demo := tc.objectStorage("demo")
	createContainer(t, demo, "private")
	putObject(t, demo, "private", "secret", "s3cr3t")

	alt := tc.objectStorage("alt_demo")
	alt.Endpoint = demo.Endpoint // alt_demo's token on demo's account
	err := objects.Download(ctx, alt, "private", "secret", nil).Err
	wantStatus(t, "alt_demo downloads demo's object", err, http.StatusForbidden)
	if body := swiftErrorBody(t, err); body != "<html><h1>Forbidden</h1><p>Access was denied to this resource.</p></html>" {
		t.Errorf("got 403 body %q", body)
	}
	_, err = containers.List(alt, nil).AllPages(ctx)
	wantStatus(t, "alt_demo lists demo's account", err, http.StatusForbidden)
	wantStatus(t, "alt_demo creates in demo's account", containers.Create(ctx, alt, "mine", nil).Err, http.StatusForbidden)
	wantStatus(t, "alt_demo heads demo's account", accounts.Get(ctx, alt, nil).Err, http.StatusForbidden)

	// An admin may use any account.
	admin := tc.objectStorage("admin")
	admin.Endpoint = demo.Endpoint
	if got, _ := downloadObject(t, admin, "private", "secret", nil); got != "s3cr3t" {
		t.Errorf("admin read %q, want s3cr3t", got)
	}

	resp := rawRequest(t, http.MethodGet, demo.ServiceURL("private", "secret"), "", "")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET without a token: got %d, want 401", resp.StatusCode)
	}
}

func TestSwiftFaultsMatchOperationNames(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	sc := tc.objectStorage("demo")
	createContainer(t, sc, "c")
	if _, err := devcloud.InjectFault(ctx, tc.provider("admin"), tc.cloud.URL(), devcloud.Fault{
		Service: "object-store", Operation: "object.put", Status: http.StatusServiceUnavailable, Count: 1,
	}); err != nil {
		t.Fatal(err)
	}
	err := objects.Create(ctx, sc, "c", "x", objects.CreateOpts{Content: strings.NewReader("x")}).Err
	wantStatus(t, "put during an object.put fault", err, http.StatusServiceUnavailable)
	putObject(t, sc, "c", "x", "x")
}

func TestSwiftStateSurvivesRestart(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	sc := tc.objectStorage("demo")
	if _, err := containers.Create(ctx, sc, "keep", containers.CreateOpts{Metadata: map[string]string{"K": "v"}}).Extract(); err != nil {
		t.Fatal(err)
	}
	if err := objects.Create(ctx, sc, "keep", "a/b", objects.CreateOpts{
		Content: strings.NewReader("persisted"), Metadata: map[string]string{"M": "1"},
	}).Err; err != nil {
		t.Fatal(err)
	}
	putObject(t, sc, "keep", "seg", "-more")
	if err := putManifest(ctx, sc, "keep", "large", []manifestSegment{{Path: "/keep/a/b"}, {Path: "/keep/seg"}}).Err; err != nil {
		t.Fatal(err)
	}

	tc.restart()
	sc = tc.objectStorage("demo")
	if meta, err := containers.Get(ctx, sc, "keep", nil).ExtractMetadata(); err != nil || meta["K"] != "v" {
		t.Errorf("after restart got container metadata %v (%v)", meta, err)
	}
	got, _ := downloadObject(t, sc, "keep", "a/b", nil)
	if got != "persisted" {
		t.Errorf("after restart got %q, want persisted", got)
	}
	if meta, _ := objects.Get(ctx, sc, "keep", "a/b", nil).ExtractMetadata(); meta["M"] != "1" {
		t.Errorf("after restart got object metadata %v", meta)
	}
	if got, h := downloadObject(t, sc, "keep", "large", nil); got != "persisted-more" || !h.StaticLargeObject {
		t.Errorf("after restart got large object %q (%+v)", got, h)
	}
	if names := listObjectNames(t, sc, "keep", objects.ListOpts{}); !slices.Equal(names, []string{"a/b", "large", "seg"}) {
		t.Errorf("after restart got listing %v", names)
	}
}
