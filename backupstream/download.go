package backupstream

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/klauspost/compress/zstd"
)

// DownloadOptions name a stored backup and what is needed to read it.
type DownloadOptions struct {
	Container  string
	Object     string
	MasterKey  []byte
	WrappedKey string
	SHA256     string
}

// Download streams a stored backup, decrypted and decompressed, into dst. It returns an
// error wrapping ErrChecksum when the stored bytes do not match; the caller must then
// discard whatever it wrote. A MasterKey that does not open WrappedKey gives an error
// wrapping ErrWrongKey before anything is written.
func Download(ctx context.Context, swift *gophercloud.ServiceClient, dst io.Writer, opts DownloadOptions) error {
	if err := download(ctx, swift, dst, opts); err != nil {
		return fmt.Errorf("download backup %s/%s: %w", opts.Container, opts.Object, err)
	}
	return nil
}

func download(ctx context.Context, swift *gophercloud.ServiceClient, dst io.Writer, opts DownloadOptions) error {
	if opts.Container == "" || opts.Object == "" {
		return errors.New("container and object are required")
	}
	want, err := hex.DecodeString(opts.SHA256)
	if err != nil || len(want) != sha256.Size {
		return errors.New("the backup's SHA-256 is missing or malformed")
	}
	key, err := unwrapKey(opts.MasterKey, opts.WrappedKey)
	if err != nil {
		return err
	}
	// Cancelled once the decoder is done, so that a read ahead the decoder no longer needs
	// (it stopped on an error) does not hold up the return.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	obj, err := openObject(ctx, swift, newRetryPolicy(0, 0), opts.Container, opts.Object)
	if err != nil {
		return err
	}
	defer obj.Close()
	sum := sha256.New()
	o, err := newOpenReader(io.TeeReader(obj, sum), key)
	if err != nil {
		return err
	}
	opened := newAheadReader(o)
	defer opened.close()
	dec, err := zstd.NewReader(opened,
		// As the encoder: half the cores, the rest are the unpacking's. A synchronous
		// decoder (one core) spends 25% less CPU per byte than two concurrent ones.
		zstd.WithDecoderConcurrency(min(encoderProcs(runtime.GOMAXPROCS(0)), 4)),
		zstd.WithDecoderMaxWindow(64<<20),
		zstd.WithDecoderLowmem(true),
		// Each chunk was authenticated (AES-GCM) and the stored bytes are checked against
		// their SHA-256: the frame's own xxhash of what it decodes adds nothing but a pass
		// over every byte.
		zstd.IgnoreChecksum(true),
	)
	if err != nil {
		return fmt.Errorf("start zstd: %w", err)
	}
	defer dec.Close()
	out := &destWriter{w: dst}
	_, err = dec.WriteTo(out)
	dec.Close()
	cancel()
	opened.close() // the SHA-256 is read only once nothing writes to it
	final, readErr := opened.outcome()
	switch {
	case readErr != nil: // the stored stream failed first; zstd only saw its end
		return readErr
	case out.err != nil:
		return fmt.Errorf("write restored data: %w", out.err)
	case err != nil:
		if errors.Is(err, ErrChecksum) {
			return err
		}
		return fmt.Errorf("decompress: %w", err)
	}
	if !final {
		return fmt.Errorf("compressed stream ended before the backup stream: %w", ErrChecksum)
	}
	if got := sum.Sum(nil); !strings.EqualFold(hex.EncodeToString(got), opts.SHA256) {
		return fmt.Errorf("stored bytes have SHA-256 %x, the backup recorded %s: %w", got, opts.SHA256, ErrChecksum)
	}
	return nil
}

// destWriter remembers the destination's error, to tell it from the decoder's own.
type destWriter struct {
	w   io.Writer
	err error
}

func (d *destWriter) Write(p []byte) (int, error) {
	n, err := d.w.Write(p)
	if err != nil {
		d.err = err
	}
	return n, err
}

// Verify reads a stored backup through and checks it as Download does (SHA-256, every
// chunk's authentication, the compressed stream), writing nothing: pgBackRest's verify, to
// find a bad backup before a restore needs it.
func Verify(ctx context.Context, swift *gophercloud.ServiceClient, opts DownloadOptions) error {
	return Download(ctx, swift, io.Discard, opts)
}

// openAhead is how many opened chunks the download holds ready for the decoder: the
// network, the SHA-256 and the decryption run ahead in their own goroutine while the
// decoder and the destination work on the chunk before (a few MiB at most).
const openAhead = 4

// openedChunk is one chunk handed from the opening goroutine to the decoder: its plaintext
// (in buf), or the error that ended the stream.
type openedChunk struct {
	buf   []byte
	plain []byte
	final bool
	err   error
}

// aheadReader runs an openReader in its own goroutine, openAhead chunks ahead of its
// reader, so that fetching, hashing and decrypting the next chunks overlaps with
// decompressing and writing this one. Its outcome is what its reader received: the final
// chunk, or the error that ended the stream.
type aheadReader struct {
	full chan openedChunk
	free chan []byte
	stop chan struct{}
	done chan struct{}

	cur   openedChunk
	rest  []byte
	final bool
	err   error
}

func newAheadReader(o *openReader) *aheadReader {
	a := &aheadReader{
		full: make(chan openedChunk, openAhead),
		free: make(chan []byte, openAhead+1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	for range openAhead + 1 {
		a.free <- make([]byte, len(o.in))
	}
	o.in = nil // each chunk is opened in one of the free buffers instead
	go a.run(o)
	return a
}

func (a *aheadReader) run(o *openReader) {
	defer close(a.done)
	defer close(a.full)
	for {
		var buf []byte
		select {
		case buf = <-a.free:
		case <-a.stop:
			return
		}
		plain, err := o.openInto(buf)
		c := openedChunk{buf: buf, plain: plain, final: err == nil && o.final, err: err}
		select {
		case a.full <- c:
		case <-a.stop:
			return
		}
		if err != nil || c.final {
			return
		}
	}
}

func (a *aheadReader) Read(p []byte) (int, error) {
	for len(a.rest) == 0 {
		if a.err != nil {
			return 0, a.err
		}
		if a.final {
			return 0, io.EOF
		}
		if a.cur.buf != nil {
			a.free <- a.cur.buf
			a.cur = openedChunk{}
		}
		c, ok := <-a.full
		if !ok { // not reached: the goroutine ends after an error or the final chunk
			a.err = errors.New("backup stream reader stopped")
			continue
		}
		a.cur, a.rest, a.final, a.err = c, c.plain, c.final, c.err
	}
	n := copy(p, a.rest)
	a.rest = a.rest[n:]
	return n, nil
}

// close stops the goroutine and waits for it, so that nothing reads the object after it.
func (a *aheadReader) close() {
	select {
	case <-a.stop:
	default:
		close(a.stop)
	}
	<-a.done
}

// outcome tells whether the reader received the final chunk, or why reading stopped.
func (a *aheadReader) outcome() (final bool, err error) { return a.final, a.err }
