// Package backupstream is the format and transport of a Coffer backup: the engine's physical
// backup stream, compressed (zstd, every core), encrypted (AES-256-GCM in chunks, with a
// data key per backup wrapped by the configured backup key) and checksummed (SHA-256 of the
// stored bytes), streamed into Swift as a static large object, and back.
//
// Backup data goes from the guest to Swift directly; the control plane only ever sees the
// Result.
//
// Upload: source -> zstd -> chunked AES-256-GCM -> SHA-256 -> segments spooled to disk one at
// a time (MD5 computed on the way) -> PUT with the MD5 as ETag, retried -> SLO manifest.
// Download: GET of the manifest (the segments in order, resumed with ranged GETs when the
// connection breaks) -> SHA-256 -> decrypt and authenticate each chunk -> zstd -> destination.
// Memory stays bounded on both sides: no segment is ever held in memory, only the zstd
// windows and a few chunk buffers. The stored format is described in format.go.
package backupstream

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/klauspost/compress/zstd"
)

// CONTRACT: the exported names below are what callers (the guest agent's backup and restore
// activities, the backup workflows) code against.

// DefaultSegmentSize is the size of each Swift segment unless UploadOptions says otherwise.
const DefaultSegmentSize = 64 << 20

// ErrChecksum means the stored stream does not match its recorded SHA-256 (or fails
// authentication): the backup is corrupt and must not be restored.
var ErrChecksum = errors.New("backup checksum mismatch")

// UploadOptions say where and how a backup is stored.
type UploadOptions struct {
	Container string // created when missing
	Object    string // the manifest's name; segments are stored under Object + "/segments/"
	// SegmentSize is the size of each segment (DefaultSegmentSize when 0). Past the 250th
	// segment the size doubles every 250 segments, so that a large backup stays within
	// Swift's limit of 1000 segments per manifest (64 MiB segments hold 240 GiB).
	SegmentSize int64
	// MasterKey is the 32-byte key that wraps the backup's data key.
	MasterKey []byte
	// SpoolDir holds one segment at a time on disk so a failed segment PUT can be retried
	// without keeping it in memory ("" means os.TempDir()). While one segment is being
	// stored the next one fills, so it needs room for two segments.
	SpoolDir string
	// Progress, when set, is called as bytes flow: raw bytes read from the source, bytes
	// stored in Swift so far. It is called after each encrypted chunk (about every MiB of
	// compressed data) and after each stored segment, never concurrently, from the upload's
	// goroutines; it must return quickly.
	Progress func(raw, stored int64)
	// MaxAttempts is how many times a Swift call (a segment PUT, the manifest PUT) is tried
	// when it fails with a 5xx, 408, 422, 429 or a broken connection (5 when 0).
	MaxAttempts int
	// RetryDelay is the wait before the first retry, doubled before each next one up to 30s
	// (1s when 0).
	RetryDelay time.Duration
}

// Result describes a stored backup; it is what the catalog records.
type Result struct {
	Container  string
	Object     string
	RawSize    int64  // bytes read from the source
	StoredSize int64  // bytes stored (compressed and encrypted)
	SHA256     string // hex SHA-256 of the stored bytes
	WrappedKey string // base64 data key, wrapped by the master key
	Segments   int
}

// Upload streams src into Swift, into a container that exists (EnsureContainer): it needs
// only PUT (and DELETE, to clean up) on the object and the segments under it, so a temp URL
// over Object (TempURL.Client) is enough. On any error it deletes every segment it stored,
// so a failed backup leaves nothing behind.
//
// Cancelling ctx stops the upload at the next read of src or Swift call; a read of src that
// blocks (a pipe whose writer is stuck) is not interrupted, so the caller must close src or
// stop its writer too.
func Upload(ctx context.Context, swift *gophercloud.ServiceClient, src io.Reader, opts UploadOptions) (Result, error) {
	if opts.Container == "" || opts.Object == "" {
		return Result{}, errors.New("upload backup: container and object are required")
	}
	if len(opts.MasterKey) != dataKeySize {
		return Result{}, fmt.Errorf("upload backup %s/%s: master key is %d bytes, want %d", opts.Container, opts.Object, len(opts.MasterKey), dataKeySize)
	}
	if opts.SegmentSize < 0 {
		return Result{}, fmt.Errorf("upload backup %s/%s: negative segment size", opts.Container, opts.Object)
	}
	segmentSize := opts.SegmentSize
	if segmentSize == 0 {
		segmentSize = DefaultSegmentSize
	}
	spoolDir := opts.SpoolDir
	if spoolDir == "" {
		spoolDir = os.TempDir()
	}
	retry := newRetryPolicy(opts.MaxAttempts, opts.RetryDelay)
	fail := func(err error) (Result, error) {
		return Result{}, fmt.Errorf("upload backup %s/%s: %w", opts.Container, opts.Object, err)
	}

	dataKey := make([]byte, dataKeySize)
	if _, err := rand.Read(dataKey); err != nil {
		return fail(fmt.Errorf("make data key: %w", err))
	}
	wrapped, err := wrapKey(opts.MasterKey, dataKey)
	if err != nil {
		return fail(err)
	}
	header, err := newHeader(chunkSize)
	if err != nil {
		return fail(err)
	}

	var (
		raw, stored atomic.Int64
		progressMu  sync.Mutex
	)
	report := func() {
		if opts.Progress != nil {
			progressMu.Lock()
			defer progressMu.Unlock()
			opts.Progress(raw.Load(), stored.Load())
		}
	}
	segs := newSegmenter(ctx, swift, opts.Container, opts.Object+"/segments/", spoolDir, segmentSize, retry,
		func(n int64) { stored.Add(n); report() })
	cleanup := func(cause error, manifest bool) (Result, error) {
		names := segs.abort()
		objs := make([][2]string, 0, len(names)+1)
		for _, n := range names {
			objs = append(objs, [2]string{opts.Container, n})
		}
		if manifest {
			objs = append(objs, [2]string{opts.Container, opts.Object})
		}
		// The deletes must run even when ctx is what ended the upload.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		if err := deleteObjects(cctx, swift, retry, objs); err != nil {
			cause = fmt.Errorf("%w (and deleting its segments failed: %v)", cause, err)
		}
		return fail(cause)
	}

	out := &storedWriter{sum: sha256.New(), segs: segs}
	if _, err := out.Write(header[:]); err != nil {
		return cleanup(err, false)
	}
	sealer, err := newSealWriter(out, dataKey, header[:], chunkSize, report)
	if err != nil {
		return cleanup(err, false)
	}
	enc, err := newEncoder(sealer)
	if err != nil {
		return cleanup(fmt.Errorf("start zstd: %w", err), false)
	}
	// A failed segment upload or a cancelled ctx surfaces through zstd and the sealer as a
	// failed write; say what failed first rather than what noticed it.
	pipelineErr := func(err error, what string) error {
		if serr := segs.firstErr(); serr != nil {
			return serr
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if what != "" {
			return fmt.Errorf("%s: %w", what, err)
		}
		return err
	}
	if _, err := io.Copy(enc, &sourceReader{ctx: ctx, r: src, n: &raw}); err != nil {
		_ = enc.Close()
		return cleanup(pipelineErr(err, ""), false)
	}
	if err := enc.Close(); err != nil {
		return cleanup(pipelineErr(err, "compress"), false)
	}
	if err := sealer.Close(); err != nil {
		return cleanup(pipelineErr(err, "encrypt"), false)
	}
	list, err := segs.finish()
	if err != nil {
		return cleanup(err, false)
	}
	if err := putManifest(ctx, swift, retry, opts.Container, opts.Object, list); err != nil {
		// The PUT may have taken effect even though it failed to answer.
		return cleanup(fmt.Errorf("store manifest: %w", err), true)
	}
	return Result{
		Container:  opts.Container,
		Object:     opts.Object,
		RawSize:    raw.Load(),
		StoredSize: out.n,
		SHA256:     hex.EncodeToString(out.sum.Sum(nil)),
		WrappedKey: wrapped,
		Segments:   len(list),
	}, nil
}

// newEncoder is the zstd encoder of a backup: the fastest level, since a database backup is
// usually limited by how fast it can be written, on half the cores (up to maxEncoderProcs):
// the other half belong to the engine's backup program and server, which produce the stream
// and compete with the encoder for the same cores. On a guest of 2 cores that is one
// encoder in the writing goroutine, which spends the least CPU per byte: concurrent blocks
// cost 15% more CPU on database pages and up to 5x more on data it cannot compress, which
// the fastest level otherwise stores raw almost for free (it entropy-codes only blocks with
// matches, so random values, such as the Redis bench's, are stored 1:1 at 2 GB/s per core).
// Its memory is its jobs in flight, about (procs+2) jobs of an input and an output buffer of
// four windows each, so the window shrinks as cores grow to keep that near encoderBudget.
func newEncoder(w io.Writer) (*zstd.Encoder, error) {
	procs := encoderProcs(runtime.GOMAXPROCS(0))
	return zstd.NewWriter(w,
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(procs),
		zstd.WithConcurrentBlocks(procs > 1),
		zstd.WithWindowSize(encoderWindow(procs)),
	)
}

// encoderProcs is how many blocks the encoder compresses at once on cores cores.
func encoderProcs(cores int) int {
	return min(max(cores/2, 1), maxEncoderProcs)
}

const (
	maxEncoderProcs = 16
	encoderBudget   = 64 << 20
	minWindow       = 256 << 10
	maxWindow       = 4 << 20 // the fastest level's own window
)

func encoderWindow(procs int) int {
	window := maxWindow
	for window > minWindow && (procs+2)*8*window > encoderBudget {
		window /= 2
	}
	return window
}

// sourceReader counts what is read from the source and stops when ctx ends.
type sourceReader struct {
	ctx context.Context
	r   io.Reader
	n   *atomic.Int64
}

func (s *sourceReader) Read(p []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := s.r.Read(p)
	s.n.Add(int64(n))
	if err != nil && !errors.Is(err, io.EOF) {
		err = fmt.Errorf("read backup source: %w", err)
	}
	return n, err
}

// storedWriter is where the stored bytes go: the SHA-256 and the segments.
type storedWriter struct {
	sum  hash.Hash
	segs *segmenter
	n    int64
}

func (s *storedWriter) Write(p []byte) (int, error) {
	s.sum.Write(p)
	n, err := s.segs.Write(p)
	s.n += int64(n)
	return n, err
}

// Delete removes a backup's segments and manifest; a backup that is already gone is no
// error.
//
// It deletes the segments the manifest lists, then the manifest, then whatever is left under
// Object + "/segments/" (the remains of an upload that was killed before it could clean up),
// so it is also how a workflow cleans up after a guest that died mid-backup.
func Delete(ctx context.Context, swift *gophercloud.ServiceClient, container, object string) error {
	if container == "" || object == "" {
		return errors.New("delete backup: container and object are required")
	}
	fail := func(err error) error { return fmt.Errorf("delete backup %s/%s: %w", container, object, err) }
	retry := newRetryPolicy(0, 0)
	segs, found, err := manifestSegments(ctx, swift, retry, container, object)
	if err != nil {
		return fail(fmt.Errorf("read manifest: %w", err))
	}
	if err := deleteObjects(ctx, swift, retry, segs); err != nil {
		return fail(err)
	}
	if found {
		if err := deleteObject(ctx, swift, retry, container, object); err != nil {
			return fail(err)
		}
	}
	left, err := listPrefix(ctx, swift, retry, container, object+"/segments/")
	if err != nil {
		return fail(fmt.Errorf("list segments: %w", err))
	}
	objs := make([][2]string, len(left))
	for i, n := range left {
		objs[i] = [2]string{container, n}
	}
	if err := deleteObjects(ctx, swift, retry, objs); err != nil {
		return fail(err)
	}
	return nil
}
