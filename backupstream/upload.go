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

	// The sealing and the storing run on goroutines of their own (sealPipeline), so that
	// this one only reads the source and compresses.
	seal, err := newSealPipeline(segs, dataKey, header[:], chunkSize, report)
	if err != nil {
		return cleanup(err, false)
	}
	enc, err := newEncoder(seal)
	if err != nil {
		seal.abort()
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
		seal.abort()
		return cleanup(pipelineErr(err, ""), false)
	}
	if err := enc.Close(); err != nil {
		seal.abort()
		return cleanup(pipelineErr(err, "compress"), false)
	}
	if err := seal.Close(); err != nil {
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
		StoredSize: seal.n,
		SHA256:     hex.EncodeToString(seal.sum.Sum(nil)),
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
		// No xxhash of the frame: the download ignores it (each chunk is authenticated and
		// the stored bytes' SHA-256 checked), and computing it was 6% of a backup's CPU.
		zstd.WithEncoderCRC(false),
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

// sealPipeline is the sealing and storing of an upload's compressed stream, in the stored
// format of format.go (as sealWriter writes it), on two goroutines of its own: Write, on
// the compressing goroutine, fills chunk-sized plaintext buffers; the sealing goroutine
// seals each one (AES-256-GCM) and sums the sealed bytes (SHA-256); the storing goroutine
// writes the sealed chunks to w (the segmenter: each segment's MD5 and its spool file).
// The stages thus run on as many cores as are free, rather than one after another on one.
// The buffers go round between them, pipelineBuffers of each kind, so memory is bounded
// and no byte is copied but into the plaintext buffer, as before.
//
// One goroutine writes and then calls Close (or abort). The first error of a stage is
// returned by the Write that follows it and by Close; after it, the stages drop what
// comes.
type sealPipeline struct {
	c       *chunkCipher
	chunk   int
	w       io.Writer
	onChunk func()

	buf        []byte // the plaintext chunk being filled
	freePlain  chan []byte
	toSeal     chan sealJob
	freeSealed chan []byte
	toStore    chan []byte
	stored     chan struct{} // closed when the storing goroutine has returned
	closed     bool

	sum hash.Hash // SHA-256 of the stored bytes; read after Close
	n   int64     // stored bytes; read after Close

	mu  sync.Mutex
	err error
}

type sealJob struct {
	plain []byte
	final bool
}

// pipelineBuffers is how many chunk buffers of each kind (plaintext, sealed) an upload has:
// one being filled or worked on by each stage, and one waiting.
const pipelineBuffers = 3

var errUploadAborted = errors.New("upload aborted")

// newSealPipeline writes the stream's header to w and starts the stages.
func newSealPipeline(w io.Writer, key []byte, header []byte, chunk int, onChunk func()) (*sealPipeline, error) {
	c, err := newChunkCipher(key, header)
	if err != nil {
		return nil, err
	}
	p := &sealPipeline{
		c: c, chunk: chunk, w: w, onChunk: onChunk, sum: sha256.New(),
		freePlain: make(chan []byte, pipelineBuffers), toSeal: make(chan sealJob, pipelineBuffers),
		freeSealed: make(chan []byte, pipelineBuffers), toStore: make(chan []byte, pipelineBuffers),
		stored: make(chan struct{}),
	}
	p.sum.Write(header)
	n, err := w.Write(header)
	p.n = int64(n)
	if err != nil {
		return nil, err
	}
	for range pipelineBuffers {
		p.freePlain <- make([]byte, 0, chunk)
		p.freeSealed <- make([]byte, 0, chunk+c.gcm.Overhead())
	}
	go p.seal()
	go p.store()
	return p, nil
}

func (p *sealPipeline) firstErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *sealPipeline) setErr(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
	}
}

func (p *sealPipeline) Write(b []byte) (int, error) {
	if p.closed {
		return 0, errors.New("write to a closed backup stream")
	}
	n := 0
	for len(b) > 0 {
		if p.buf == nil {
			if err := p.firstErr(); err != nil {
				return n, err
			}
			p.buf = <-p.freePlain
		}
		// A full buffer is sealed only when more data follows: the last chunk must be
		// the one sealed as final, even when it is full.
		if len(p.buf) == p.chunk {
			p.toSeal <- sealJob{plain: p.buf}
			p.buf = nil
			continue
		}
		c := copy(p.buf[len(p.buf):p.chunk], b)
		p.buf = p.buf[:len(p.buf)+c]
		b = b[c:]
		n += c
	}
	if err := p.firstErr(); err != nil {
		return n, err
	}
	return n, nil
}

// seal is the sealing goroutine.
func (p *sealPipeline) seal() {
	defer close(p.toStore)
	for job := range p.toSeal {
		if p.firstErr() == nil {
			p.c.next(job.final)
			out := <-p.freeSealed
			out = p.c.gcm.Seal(out[:0], p.c.nonce[:], job.plain, p.c.ad[:])
			p.sum.Write(out)
			p.toStore <- out
		}
		p.freePlain <- job.plain[:0]
	}
}

// store is the storing goroutine.
func (p *sealPipeline) store() {
	defer close(p.stored)
	for out := range p.toStore {
		if p.firstErr() == nil {
			n, err := p.w.Write(out)
			p.n += int64(n)
			if err != nil {
				p.setErr(err)
			} else if p.onChunk != nil {
				p.onChunk()
			}
		}
		p.freeSealed <- out[:0]
	}
}

// Close seals the final chunk, waits for the stages and returns the first error of one.
func (p *sealPipeline) Close() error {
	if p.closed {
		return p.firstErr()
	}
	p.closed = true
	buf := p.buf
	if buf == nil {
		buf = <-p.freePlain
	}
	p.buf = nil
	p.toSeal <- sealJob{plain: buf, final: true}
	close(p.toSeal)
	<-p.stored
	return p.firstErr()
}

// abort stops the stages without sealing a final chunk, and waits for them.
func (p *sealPipeline) abort() {
	p.setErr(errUploadAborted)
	if p.closed {
		return
	}
	p.closed = true
	close(p.toSeal)
	<-p.stored
}
