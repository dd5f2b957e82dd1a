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
	obj, err := openObject(ctx, swift, newRetryPolicy(0, 0), opts.Container, opts.Object)
	if err != nil {
		return err
	}
	defer obj.Close()
	sum := sha256.New()
	opened, err := newOpenReader(io.TeeReader(obj, sum), key)
	if err != nil {
		return err
	}
	dec, err := zstd.NewReader(opened,
		// As the encoder: half the cores, the rest are the unpacking's. A synchronous
		// decoder (one core) spends 25% less CPU per byte than two concurrent ones.
		zstd.WithDecoderConcurrency(min(encoderProcs(runtime.GOMAXPROCS(0)), 4)),
		zstd.WithDecoderMaxWindow(64<<20),
		zstd.WithDecoderLowmem(true),
	)
	if err != nil {
		return fmt.Errorf("start zstd: %w", err)
	}
	defer dec.Close()
	out := &destWriter{w: dst}
	_, err = dec.WriteTo(out)
	dec.Close()
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
