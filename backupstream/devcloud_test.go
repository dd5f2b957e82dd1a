package backupstream

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"

	"github.com/coffer-dbaas/coffer/dev/devcloud"
)

// testCloud is a devcloud served on a loopback port for one test (the pattern of
// dev/devcloud/cloud_test.go).
type testCloud struct {
	cfg      devcloud.Config
	cloud    *devcloud.Cloud
	srv      *http.Server
	done     chan struct{}
	provider *gophercloud.ProviderClient // coffer/service: admin and service roles
	swift    *gophercloud.ServiceClient
}

func startCloud(t testing.TB) *testCloud {
	t.Helper()
	cfg := devcloud.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Listen = freeAddr(t)
	cloud, err := devcloud.New(cfg, nil)
	if err != nil {
		t.Fatalf("start devcloud: %v", err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		_ = cloud.Close()
		t.Fatalf("listen %s: %v", cfg.Listen, err)
	}
	tc := &testCloud{cfg: cfg, cloud: cloud, srv: &http.Server{Handler: cloud.Handler()}, done: make(chan struct{})}
	go func() {
		defer close(tc.done)
		if err := tc.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve devcloud: %v", err)
		}
	}()
	t.Cleanup(func() {
		_ = tc.srv.Close()
		<-tc.done
		if err := tc.cloud.Close(); err != nil {
			t.Errorf("close devcloud: %v", err)
		}
	})
	tc.provider, err = openstack.AuthenticatedClient(context.Background(), gophercloud.AuthOptions{
		IdentityEndpoint: cloud.IdentityURL(),
		Username:         "coffer", Password: "coffer", DomainName: "Default", TenantName: "service",
	})
	if err != nil {
		t.Fatalf("authenticate as coffer: %v", err)
	}
	tc.swift, err = openstack.NewObjectStorageV1(tc.provider, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	if err := EnsureContainer(context.Background(), tc.swift, "backups", testTempURLKey); err != nil {
		t.Fatal(err)
	}
	return tc
}

// testTempURLKey is the backups container's temp URL key in tests.
const testTempURLKey = "test-temp-url-key"

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// injectFault adds a devcloud fault rule for the rest of the test.
func (tc *testCloud) injectFault(t *testing.T, f devcloud.Fault) {
	t.Helper()
	ctx := context.Background()
	base := devcloud.AdminBaseURL(tc.cloud.IdentityURL())
	rule, err := devcloud.InjectFault(ctx, tc.provider, base, f)
	if err != nil {
		t.Fatalf("inject fault %+v: %v", f, err)
	}
	t.Cleanup(func() { _ = devcloud.RemoveFault(ctx, tc.provider, base, rule.ID) })
}

// objectNames lists a container (none when it does not exist).
func (tc *testCloud) objectNames(t *testing.T, container string) []string {
	t.Helper()
	pages, err := objects.List(tc.swift, container, objects.ListOpts{}).AllPages(context.Background())
	if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("list container %s: %v", container, err)
	}
	names, err := objects.ExtractNames(pages)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// dataFiles are the content files of every object stored in a container, from the
// devcloud's folder (see dev/devcloud/swift_store.go: <DataDir>/swift/<account>/<container>/
// <sha256(name)>.<ns>.data); a manifest has none.
func (tc *testCloud) dataFiles(t *testing.T, container string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(tc.cfg.DataDir, "swift", "*", container, "*.data"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	return files
}

// readDataFiles concatenates a container's stored content files.
func (tc *testCloud) readDataFiles(t *testing.T, container string) []byte {
	t.Helper()
	var all []byte
	for _, f := range tc.dataFiles(t, container) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

// testKey is a deterministic 32-byte key for tests.
func testKey(seed byte) []byte {
	k := make([]byte, 32)
	for i := range k {
		k[i] = seed + byte(i)
	}
	return k
}

// pagesReader yields size bytes that look like database pages: each 8 KiB page holds a
// random header, random tuple data of low entropy and repeated filler, so that zstd
// compresses it about as much as a real table (2-3x). Random data (compressible false)
// does not compress at all.
type pagesReader struct {
	rng          *rand.PCG
	left         int64
	compressible bool
	page         [8192]byte
	off          int // bytes of page already handed out
}

func newPagesReader(seed uint64, size int64, compressible bool) *pagesReader {
	return &pagesReader{rng: rand.NewPCG(seed, 7), left: size, compressible: compressible, off: 8192}
}

func (r *pagesReader) fill() {
	p := r.page[:]
	for i := 0; i+8 <= len(p); i += 8 {
		binary.LittleEndian.PutUint64(p[i:], r.rng.Uint64())
	}
	if !r.compressible {
		return
	}
	for i := 2048; i < 5120; i++ {
		p[i] &= 0x0f // low-entropy tuple values
	}
	for i := 5120; i < len(p); i++ {
		p[i] = byte(i / 64) // filler
	}
}

func (r *pagesReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n := 0
	for n < len(p) {
		if r.off == len(r.page) {
			r.fill()
			r.off = 0
		}
		c := copy(p[n:], r.page[r.off:])
		r.off += c
		n += c
	}
	r.left -= int64(n)
	return n, nil
}
