package backupstream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"

	"github.com/coffer-dbaas/coffer/dev/devcloud"
)

const testSegmentSize = 1 << 20

// testUploadOptions stores in small segments and retries without waiting long.
func testUploadOptions(t *testing.T, object string) UploadOptions {
	return UploadOptions{
		Container:   "backups",
		Object:      object,
		SegmentSize: testSegmentSize,
		MasterKey:   testKey(1),
		SpoolDir:    t.TempDir(),
		MaxAttempts: 3,
		RetryDelay:  10 * time.Millisecond,
	}
}

// uploadForTest stores src and returns the result and the SHA-256 of what src yielded.
func uploadForTest(t *testing.T, tc *testCloud, src io.Reader, opts UploadOptions) (Result, [32]byte) {
	t.Helper()
	sum := sha256.New()
	res, err := Upload(context.Background(), tc.swift, io.TeeReader(src, sum), opts)
	if err != nil {
		t.Fatalf("upload %s: %v", opts.Object, err)
	}
	return res, [32]byte(sum.Sum(nil))
}

func downloadOptions(res Result, key []byte) DownloadOptions {
	return DownloadOptions{Container: res.Container, Object: res.Object, MasterKey: key, WrappedKey: res.WrappedKey, SHA256: res.SHA256}
}

// downloadForTest reads a backup back and returns the SHA-256 and size of what it wrote.
func downloadForTest(t *testing.T, tc *testCloud, res Result) ([32]byte, int64) {
	t.Helper()
	sum := sha256.New()
	cw := &countingWriter{w: sum}
	if err := Download(context.Background(), tc.swift, cw, downloadOptions(res, testKey(1))); err != nil {
		t.Fatalf("download %s: %v", res.Object, err)
	}
	return [32]byte(sum.Sum(nil)), cw.n
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func TestRoundTripGivesBackTheSameBytes(t *testing.T) {
	tc := startCloud(t)
	for _, tt := range []struct {
		name         string
		size         int64
		compressible bool
	}{
		{"empty", 0, false},
		{"one byte", 1, false},
		{"one segment of random data", testSegmentSize, false},
		{"one segment of compressible data", testSegmentSize, true},
		{"several segments of random data", 3*testSegmentSize + testSegmentSize/2, false},
		{"several segments of compressible data", 16 * testSegmentSize, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts := testUploadOptions(t, strings.ReplaceAll(tt.name, " ", "-"))
			var lastRaw, lastStored atomic.Int64
			opts.Progress = func(raw, stored int64) { lastRaw.Store(raw); lastStored.Store(stored) }
			res, want := uploadForTest(t, tc, newPagesReader(uint64(tt.size), tt.size, tt.compressible), opts)

			if res.RawSize != tt.size {
				t.Errorf("RawSize %d, want %d", res.RawSize, tt.size)
			}
			if wantSegs := int((res.StoredSize + testSegmentSize - 1) / testSegmentSize); res.Segments != wantSegs {
				t.Errorf("%d segments for %d stored bytes, want %d", res.Segments, res.StoredSize, wantSegs)
			}
			segs := tc.objectNames(t, "backups")
			var ours []string
			for _, n := range segs {
				if strings.HasPrefix(n, opts.Object+"/segments/") {
					ours = append(ours, n)
				}
			}
			if len(ours) != res.Segments {
				t.Errorf("container holds %d segments %v, want %d", len(ours), ours, res.Segments)
			}
			if lastRaw.Load() != res.RawSize || lastStored.Load() != res.StoredSize {
				t.Errorf("last progress (%d, %d), want (%d, %d)", lastRaw.Load(), lastStored.Load(), res.RawSize, res.StoredSize)
			}
			if left, _ := os.ReadDir(opts.SpoolDir); len(left) > 0 {
				t.Errorf("spool folder still holds %d files", len(left))
			}
			t.Logf("%d raw bytes stored as %d bytes in %d segments", res.RawSize, res.StoredSize, res.Segments)

			got, n := downloadForTest(t, tc, res)
			if n != tt.size || got != want {
				t.Errorf("downloaded %d bytes with SHA-256 %x, want %d bytes with %x", n, got, tt.size, want)
			}
			if err := Verify(context.Background(), tc.swift, downloadOptions(res, testKey(1))); err != nil {
				t.Errorf("verify: %v", err)
			}
		})
	}
}

func TestStoredBytesRevealNothingOfTheData(t *testing.T) {
	tc := startCloud(t)
	var plain bytes.Buffer
	for i := range 20000 {
		fmt.Fprintf(&plain, "coffer-secret-row-%06d|alice@example.com|balance=%d\n", i, i*37)
	}
	random, _ := io.ReadAll(newPagesReader(3, 256<<10, false))
	plain.Write(random)
	opts := testUploadOptions(t, "secret")
	uploadForTest(t, tc, bytes.NewReader(plain.Bytes()), opts)

	stored := tc.readDataFiles(t, "backups")
	if len(stored) == 0 {
		t.Fatal("found no stored data files")
	}
	for _, needle := range [][]byte{[]byte("coffer-secret-row"), []byte("alice@example.com"), random[:16], random[100000:100016]} {
		if bytes.Contains(stored, needle) {
			t.Errorf("stored bytes contain the plain %q", needle)
		}
	}
}

func TestDownloadWithAnotherMasterKeyFails(t *testing.T) {
	tc := startCloud(t)
	res, _ := uploadForTest(t, tc, newPagesReader(1, 100000, true), testUploadOptions(t, "db"))
	var out bytes.Buffer
	err := Download(context.Background(), tc.swift, &out, downloadOptions(res, testKey(2)))
	if !errors.Is(err, ErrWrongKey) {
		t.Fatalf("download with another key: got %v, want ErrWrongKey", err)
	}
	if out.Len() > 0 {
		t.Errorf("download with another key wrote %d bytes", out.Len())
	}
}

func TestDownloadOfCorruptedSegmentFailsWithErrChecksum(t *testing.T) {
	tc := startCloud(t)
	res, _ := uploadForTest(t, tc, newPagesReader(2, 3*testSegmentSize, false), testUploadOptions(t, "db"))
	files := tc.dataFiles(t, "backups")
	if len(files) != res.Segments || len(files) < 3 {
		t.Fatalf("found %d data files for %d segments", len(files), res.Segments)
	}
	// Flip one byte in the middle of a segment, behind Swift's back: its record keeps the
	// old MD5, as with bit rot on a disk.
	f, err := os.OpenFile(files[1], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, testSegmentSize/2); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x01
	if _, err := f.WriteAt(b, testSegmentSize/2); err != nil {
		t.Fatal(err)
	}
	f.Close()

	err = Download(context.Background(), tc.swift, io.Discard, downloadOptions(res, testKey(1)))
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("download of a corrupted backup: got %v, want ErrChecksum", err)
	}
	t.Logf("download of a corrupted backup: %v", err)
}

func TestDownloadWithAnotherRecordedChecksumFails(t *testing.T) {
	tc := startCloud(t)
	res, _ := uploadForTest(t, tc, newPagesReader(3, 10000, true), testUploadOptions(t, "db"))
	opts := downloadOptions(res, testKey(1))
	opts.SHA256 = strings.Repeat("ab", 32)
	if err := Download(context.Background(), tc.swift, io.Discard, opts); !errors.Is(err, ErrChecksum) {
		t.Fatalf("download with another SHA-256: got %v, want ErrChecksum", err)
	}
}

func TestUploadRetriesSegmentPutsThatFail(t *testing.T) {
	tc := startCloud(t)
	tc.injectFault(t, devcloud.Fault{Service: "object-store", Operation: "object.put", Status: 500, Count: 2})
	res, want := uploadForTest(t, tc, newPagesReader(4, 2*testSegmentSize, false), testUploadOptions(t, "db"))
	rules, err := devcloud.Faults(context.Background(), tc.provider, devcloud.AdminBaseURL(tc.cloud.IdentityURL()))
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) > 0 {
		t.Errorf("fault rules left after the upload: %+v, want the two failures used up", rules)
	}
	if got, _ := downloadForTest(t, tc, res); got != want {
		t.Errorf("downloaded SHA-256 %x, want %x", got, want)
	}
}

func TestUploadThatKeepsFailingLeavesNothingBehind(t *testing.T) {
	tc := startCloud(t)
	opts := testUploadOptions(t, "db")
	// Swift starts failing every PUT once the first segment is stored, so that there is
	// something to clean up.
	var (
		once      sync.Once
		injectErr error
	)
	opts.Progress = func(_, stored int64) {
		if stored > 0 {
			once.Do(func() {
				_, injectErr = devcloud.InjectFault(context.Background(), tc.provider, devcloud.AdminBaseURL(tc.cloud.IdentityURL()),
					devcloud.Fault{Service: "object-store", Operation: "object.put", Status: 500})
			})
		}
	}
	_, err := Upload(context.Background(), tc.swift, newPagesReader(5, 6*testSegmentSize, false), opts)
	if injectErr != nil {
		t.Fatalf("inject fault: %v", injectErr)
	}
	if err == nil {
		t.Fatal("upload succeeded while Swift failed every PUT")
	}
	t.Logf("upload: %v", err)
	if names := tc.objectNames(t, "backups"); len(names) > 0 {
		t.Errorf("a failed upload left %v", names)
	}
	if left, _ := os.ReadDir(opts.SpoolDir); len(left) > 0 {
		t.Errorf("spool folder still holds %d files", len(left))
	}
}

func TestCancelledUploadLeavesNothingBehind(t *testing.T) {
	tc := startCloud(t)
	opts := testUploadOptions(t, "db")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts.Progress = func(_, stored int64) {
		if stored >= 2*testSegmentSize {
			cancel()
		}
	}
	_, err := Upload(ctx, tc.swift, newPagesReader(6, 8*testSegmentSize, false), opts)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled upload: got %v, want context.Canceled", err)
	}
	if names := tc.objectNames(t, "backups"); len(names) > 0 {
		t.Errorf("a cancelled upload left %v", names)
	}
	if left, _ := os.ReadDir(opts.SpoolDir); len(left) > 0 {
		t.Errorf("spool folder still holds %d files", len(left))
	}
}

func TestDeleteRemovesEverythingAndIsIdempotent(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	res, _ := uploadForTest(t, tc, newPagesReader(7, 3*testSegmentSize, false), testUploadOptions(t, "db"))
	other, _ := uploadForTest(t, tc, newPagesReader(8, 1000, false), testUploadOptions(t, "other"))
	// The remains of an earlier attempt killed before it could clean up.
	if err := objects.Create(ctx, tc.swift, "backups", "db/segments/00000042", objects.CreateOpts{Content: strings.NewReader("orphan")}).Err; err != nil {
		t.Fatal(err)
	}

	if err := Delete(ctx, tc.swift, res.Container, res.Object); err != nil {
		t.Fatalf("delete: %v", err)
	}
	names := tc.objectNames(t, "backups")
	for _, n := range names {
		if n == "db" || strings.HasPrefix(n, "db/") {
			t.Errorf("delete left %s", n)
		}
	}
	if len(names) != 1+other.Segments {
		t.Errorf("after deleting one backup the container holds %v, want the other backup's %d objects", names, 1+other.Segments)
	}
	if err := Delete(ctx, tc.swift, res.Container, res.Object); err != nil {
		t.Errorf("second delete: %v", err)
	}
	if err := Delete(ctx, tc.swift, "no-such-container", "db"); err != nil {
		t.Errorf("delete in a missing container: %v", err)
	}
	if err := Delete(ctx, tc.swift, other.Container, other.Object); err != nil {
		t.Fatalf("delete other: %v", err)
	}
	if names := tc.objectNames(t, "backups"); len(names) > 0 {
		t.Errorf("after deleting both backups the container holds %v", names)
	}
}

func TestSegmenterCutsExactlyFullSegments(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	for _, tt := range []struct {
		size int64
		want int
	}{{0, 0}, {1, 1}, {testSegmentSize, 1}, {testSegmentSize + 1, 2}, {2 * testSegmentSize, 2}} {
		t.Run(fmt.Sprint(tt.size), func(t *testing.T) {
			s := newSegmenter(ctx, tc.swift, "backups", fmt.Sprintf("exact-%d/segments/", tt.size), t.TempDir(), testSegmentSize, newRetryPolicy(1, 0), nil)
			if _, err := io.Copy(s, io.LimitReader(newPagesReader(1, tt.size, false), tt.size)); err != nil {
				t.Fatal(err)
			}
			segs, err := s.finish()
			if err != nil {
				t.Fatal(err)
			}
			var total int64
			for _, sg := range segs {
				total += sg.Size
			}
			if len(segs) != tt.want || total != tt.size {
				t.Errorf("%d bytes gave %d segments of %d bytes in all, want %d segments", tt.size, len(segs), total, tt.want)
			}
		})
	}
}

func TestSegmentsGrowToStayWithinSwiftsLimit(t *testing.T) {
	var total int64
	for i := range maxSegments {
		total += segmentLimit(DefaultSegmentSize, i)
	}
	if total < 200<<30 {
		t.Errorf("%d segments hold %d GiB, want at least 200", maxSegments, total>>30)
	}
	if got := segmentLimit(DefaultSegmentSize, growEvery-1); got != DefaultSegmentSize {
		t.Errorf("segment %d is %d bytes, want %d", growEvery-1, got, DefaultSegmentSize)
	}
	if got := segmentLimit(4<<30, 3*growEvery); got > maxSegmentBytes {
		t.Errorf("segment of %d bytes exceeds Swift's largest object", got)
	}
}
