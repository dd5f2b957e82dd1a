package devcloud_test

import (
	"bufio"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/containers"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"
)

const (
	largeObjectSegments = 16
	largeSegmentSize    = 64 << 20 // 16 × 64 MiB = 1 GiB
	devcloudMemoryLimit = 100 << 20
)

// TestLargeObjectStreamsThroughTheDevcloudInBoundedMemory is the scenario: a 1 GiB
// object uploaded as a static large object in 64 MiB segments through gophercloud and read
// back streams with equal SHA-256, while the devcloud process's peak memory stays under
// 100 MB. The devcloud runs as its own `devcloud` process so that its peak resident
// size (VmHWM) is its own; the test never holds a segment in memory either.
func TestLargeObjectStreamsThroughTheDevcloudInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 2 GiB through a devcloud process")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc to read the devcloud's peak memory")
	}
	ctx := context.Background()
	dir := t.TempDir()
	bin := buildDevcloudBinary(t, dir)
	addr := freeAddr(t)
	pid := startDevcloudProcess(t, bin, addr, filepath.Join(dir, "data"))

	pc, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
		IdentityEndpoint: "http://" + addr + "/identity/v3/",
		Username:         "demo", Password: "demo", DomainName: "Default", TenantName: "demo",
	})
	if err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	sc, err := openstack.NewObjectStorageV1(pc, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"segments", "backups"} {
		if err := containers.Create(ctx, sc, c, nil).Err; err != nil {
			t.Fatalf("create container %s: %v", c, err)
		}
	}

	start := time.Now()
	whole := sha256.New()
	type segment struct {
		Path      string `json:"path"`
		ETag      string `json:"etag"`
		SizeBytes int64  `json:"size_bytes"`
	}
	var manifest []segment
	for i := range largeObjectSegments {
		name := fmt.Sprintf("big/%08d", i)
		sum := md5.New()
		content := io.TeeReader(&prngReader{rng: rand.NewPCG(42, uint64(i)), left: largeSegmentSize}, io.MultiWriter(whole, sum))
		h, err := objects.Create(ctx, sc, "segments", name, objects.CreateOpts{Content: content, NoETag: true}).Extract()
		if err != nil {
			t.Fatalf("upload segment %d: %v", i, err)
		}
		if want := hex.EncodeToString(sum.Sum(nil)); h.ETag != want {
			t.Fatalf("segment %d: got ETag %s, want %s", i, h.ETag, want)
		}
		manifest = append(manifest, segment{Path: "/segments/" + name, ETag: h.ETag, SizeBytes: largeSegmentSize})
	}
	body, _ := json.Marshal(manifest)
	if err := objects.Create(ctx, sc, "backups", "db.tar", objects.CreateOpts{
		Content: strings.NewReader(string(body)), MultipartManifest: "put", NoETag: true,
	}).Err; err != nil {
		t.Fatalf("put manifest: %v", err)
	}
	uploaded := time.Since(start)

	res := objects.Download(ctx, sc, "backups", "db.tar", nil)
	if res.Err != nil {
		t.Fatalf("download: %v", res.Err)
	}
	back := sha256.New()
	n, err := io.Copy(back, res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatalf("download after %d bytes: %v", n, err)
	}
	if n != largeObjectSegments*largeSegmentSize {
		t.Fatalf("downloaded %d bytes, want %d", n, largeObjectSegments*largeSegmentSize)
	}
	if got, want := hex.EncodeToString(back.Sum(nil)), hex.EncodeToString(whole.Sum(nil)); got != want {
		t.Fatalf("downloaded SHA-256 %s, want the uploaded %s", got, want)
	}

	peak := processPeakMemory(t, pid)
	t.Logf("1 GiB up in %s, down in %s; devcloud peak memory (VmHWM) %.1f MiB",
		uploaded.Round(time.Millisecond), (time.Since(start) - uploaded).Round(time.Millisecond), float64(peak)/(1<<20))
	if peak >= devcloudMemoryLimit {
		t.Errorf("devcloud peak memory %d bytes, want under %d", peak, devcloudMemoryLimit)
	}
}

// prngReader yields left bytes of a deterministic pseudo-random stream.
type prngReader struct {
	rng  *rand.PCG
	left int64
	buf  [8]byte
	used int // bytes of buf already handed out; 8 means none left
}

func (r *prngReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n := 0
	for n < len(p) {
		if r.used == 0 || r.used == len(r.buf) {
			binary.LittleEndian.PutUint64(r.buf[:], r.rng.Uint64())
			r.used = 0
		}
		c := copy(p[n:], r.buf[r.used:])
		r.used += c
		n += c
	}
	r.left -= int64(n)
	return n, nil
}

// buildDevcloudBinary builds the devcloud binary (dev/cmd/devcloud) into dir.
func buildDevcloudBinary(t *testing.T, dir string) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin := filepath.Join(dir, "devcloud")
	cmd := exec.Command("go", "build", "-o", bin, "./dev/cmd/devcloud")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build devcloud: %v\n%s", err, out)
	}
	return bin
}

// startDevcloudProcess runs the devcloud binary until the test ends and waits until it answers;
// it returns the process ID.
func startDevcloudProcess(t *testing.T, bin, addr, dataDir string) int {
	t.Helper()
	cmd := exec.Command(bin, "--listen", addr, "--data-dir", dataDir)
	logs, err := os.Create(filepath.Join(filepath.Dir(dataDir), "devcloud.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start devcloud: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logs.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logs.Name())
			t.Logf("devcloud log:\n%s", b)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get("http://" + addr + "/identity/v3/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return cmd.Process.Pid
			}
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("devcloud exited before answering: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("devcloud did not answer within 30s")
		}
	}
}

// processPeakMemory reads a process's peak resident set size (VmHWM) in bytes.
func processPeakMemory(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("parse VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}
