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

	"github.com/gophercloud/gophercloud/v2"
	"github.com/klauspost/compress/zstd"
)

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

	// The stages run on three goroutines with a few chunk buffers between them: this one
	// reads the source and compresses; the next seals the chunks and sums the stored
	// bytes; the last computes each segment's MD5 and spools it (and the segmenter's
	// uploader PUTs the spooled segments).
	spool := newStageWriter(segs, stageBuffers, chunkSize)
	out := &storedWriter{sum: sha256.New(), w: spool}
	var sealed *stageWriter
	closeStages := func() {
		if sealed != nil {
			_ = sealed.Close()
		}
		_ = spool.Close()
	}
	if _, err := out.Write(header[:]); err != nil {
		closeStages()
		return cleanup(err, false)
	}
	sealer, err := newSealWriter(out, dataKey, header[:], chunkSize, report)
	if err != nil {
		closeStages()
		return cleanup(err, false)
	}
	sealed = newStageWriter(sealer, stageBuffers, chunkSize)
	enc, err := newEncoder(sealed)
	if err != nil {
		closeStages()
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
		closeStages()
		return cleanup(pipelineErr(err, ""), false)
	}
	if err := enc.Close(); err != nil {
		closeStages()
		return cleanup(pipelineErr(err, "compress"), false)
	}
	err = sealed.Close()
	sealed = nil
	if err != nil {
		closeStages()
		return cleanup(pipelineErr(err, "encrypt"), false)
	}
	if err := sealer.Close(); err != nil {
		closeStages()
		return cleanup(pipelineErr(err, "encrypt"), false)
	}
	if err := spool.Close(); err != nil {
		return cleanup(pipelineErr(err, "spool"), false)
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

// storedWriter is where the stored bytes go: the SHA-256, then w (the segments).
type storedWriter struct {
	sum hash.Hash
	w   io.Writer
	n   int64
}

func (s *storedWriter) Write(p []byte) (int, error) {
	s.sum.Write(p)
	n, err := s.w.Write(p)
	s.n += int64(n)
	return n, err
}

// stageBuffers is how many chunk buffers each stage of an upload has in flight.
const stageBuffers = 4

// stageWriter hands what is written to it to its own goroutine, which writes it to w in
// buffers of size bytes: the stage that writes (zstd, say) goes on while the next one (the
// sealing, the MD5 and the spool) works on what came before, so that the upload's stages
// run on as many cores as are free rather than one after another on one. At most buffers
// buffers are in flight, so memory stays bounded.
//
// One goroutine writes. The first error of w is returned by the Write that follows it and by
// Close; after it, what is written is dropped.
type stageWriter struct {
	w    io.Writer
	full chan []byte
	free chan []byte
	buf  []byte
	done chan struct{} // closed when the goroutine has returned

	mu  sync.Mutex
	err error
}

func newStageWriter(w io.Writer, buffers, size int) *stageWriter {
	s := &stageWriter{w: w, full: make(chan []byte, buffers), free: make(chan []byte, buffers), done: make(chan struct{})}
	for range buffers {
		s.free <- make([]byte, 0, size)
	}
	go s.run()
	return s
}

func (s *stageWriter) run() {
	defer close(s.done)
	for buf := range s.full {
		if s.firstErr() == nil {
			if _, err := s.w.Write(buf); err != nil {
				s.mu.Lock()
				s.err = err
				s.mu.Unlock()
			}
		}
		s.free <- buf[:0]
	}
}

func (s *stageWriter) firstErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *stageWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if s.buf == nil {
			if err := s.firstErr(); err != nil {
				return n, err
			}
			s.buf = <-s.free
		}
		c := copy(s.buf[len(s.buf):cap(s.buf)], p)
		s.buf = s.buf[:len(s.buf)+c]
		n += c
		p = p[c:]
		if len(s.buf) == cap(s.buf) {
			s.full <- s.buf
			s.buf = nil
		}
	}
	return n, nil
}

// Close writes what is left, waits for the goroutine and returns the first error of w. It
// must be called once, also after an error (it ends the goroutine).
func (s *stageWriter) Close() error {
	if len(s.buf) > 0 {
		s.full <- s.buf
	}
	s.buf = nil
	close(s.full)
	<-s.done
	return s.firstErr()
}
