package backupstream

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
)

const (
	memoryTestSize = 256 << 20
	// guestMemoryLimit is the bound on the guest's peak memory during a backup.
	guestMemoryLimit = 256 << 20
	// memoryHelperEnv carries the devcloud's identity URL to the helper process.
	memoryHelperEnv = "BACKUPSTREAM_MEMORY_HELPER_IDENTITY"
)

// TestUploadAndDownloadStayInBoundedMemory backs up 256 MiB in 64 MiB segments and restores
// it from a separate process (the test binary itself, as a guest agent would), as if on
// guests of 2 and 16 cores, and checks that process's peak resident size (VmHWM, reset
// between the two) stays under the guest's budget. The devcloud runs in this process, so its
// memory does not count. BACKUPSTREAM_MEMORY_SIZE (bytes) changes the size, to check that the
// peak does not grow with it.
func TestUploadAndDownloadStayInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 1 GiB through a devcloud")
	}
	if _, err := os.Stat("/proc/self/clear_refs"); err != nil {
		t.Skip("needs /proc to read peak memory")
	}
	tc := startCloud(t)
	for _, procs := range []int{2, 16} {
		t.Run(fmt.Sprintf("GOMAXPROCS=%d", procs), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestMemoryHelperProcess$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), memoryHelperEnv+"="+tc.cloud.IdentityURL(),
				fmt.Sprintf("GOMAXPROCS=%d", procs), "TMPDIR="+t.TempDir(), "BACKUPSTREAM_MEMORY_OBJECT="+fmt.Sprint(procs))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("helper process: %v\n%s", err, out)
			}
			var upload, download int64
			for line := range strings.SplitSeq(string(out), "\n") {
				if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "PEAK "); ok {
					if _, err := fmt.Sscanf(rest, "upload=%d download=%d", &upload, &download); err != nil {
						t.Fatalf("parse %q: %v", line, err)
					}
				}
				if strings.Contains(line, "MiB/s") {
					t.Log(strings.TrimSpace(line))
				}
			}
			if upload == 0 || download == 0 {
				t.Fatalf("helper printed no peak memory:\n%s", out)
			}
			t.Logf("peak memory (VmHWM): upload %.1f MiB, download %.1f MiB", float64(upload)/(1<<20), float64(download)/(1<<20))
			if upload >= guestMemoryLimit || download >= guestMemoryLimit {
				t.Errorf("peak memory upload %d, download %d bytes; want both under %d", upload, download, guestMemoryLimit)
			}
		})
	}
}

// TestMemoryHelperProcess is the guest side of TestUploadAndDownloadStayInBoundedMemory; it
// does nothing unless started by it.
func TestMemoryHelperProcess(t *testing.T) {
	identity := os.Getenv(memoryHelperEnv)
	if identity == "" {
		t.Skip("run by TestUploadAndDownloadStayInBoundedMemory")
	}
	ctx := context.Background()
	pc, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
		IdentityEndpoint: identity, Username: "coffer", Password: "coffer", DomainName: "Default", TenantName: "service",
	})
	if err != nil {
		t.Fatal(err)
	}
	swift, err := openstack.NewObjectStorageV1(pc, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	if err := EnsureContainer(ctx, swift, "backups", ""); err != nil {
		t.Fatal(err)
	}
	size := int64(memoryTestSize)
	if v := os.Getenv("BACKUPSTREAM_MEMORY_SIZE"); v != "" {
		if size, err = strconv.ParseInt(v, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	resetPeakMemory(t)
	sum := sha256.New()
	start := time.Now()
	res, err := Upload(ctx, swift, io.TeeReader(newPagesReader(1, size, true), sum), UploadOptions{
		Container: "backups", Object: "big-" + os.Getenv("BACKUPSTREAM_MEMORY_OBJECT"), MasterKey: testKey(1),
	})
	if err != nil {
		t.Fatal(err)
	}
	up := time.Since(start)
	uploadPeak := peakMemory(t)

	// What the upload left (and zstd's pools, which survive one collection) is no part of
	// the download's peak.
	runtime.GC()
	debug.FreeOSMemory()
	resetPeakMemory(t)
	back := sha256.New()
	start = time.Now()
	if err := Download(ctx, swift, back, downloadOptions(res, testKey(1))); err != nil {
		t.Fatal(err)
	}
	down := time.Since(start)
	downloadPeak := peakMemory(t)
	if string(back.Sum(nil)) != string(sum.Sum(nil)) {
		t.Fatal("downloaded bytes differ from the uploaded ones")
	}
	t.Logf("upload %.0f MiB/s, download %.0f MiB/s, %d segments, compression %.2fx",
		float64(size)/up.Seconds()/(1<<20), float64(size)/down.Seconds()/(1<<20), res.Segments, float64(res.RawSize)/float64(res.StoredSize))
	fmt.Printf("PEAK upload=%d download=%d\n", uploadPeak, downloadPeak)
}

// resetPeakMemory resets this process's VmHWM to its current resident size.
func resetPeakMemory(t *testing.T) {
	t.Helper()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Fatalf("reset peak memory: %v", err)
	}
}

// peakMemory reads this process's peak resident size (VmHWM) in bytes.
func peakMemory(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
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
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}
