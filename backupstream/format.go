package backupstream

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The stored stream (what Swift holds, and what Result.SHA256 covers) is a header followed by
// sealed chunks:
//
//	header (20 bytes):
//	  [0:8]   magic "COFFERBK"
//	  [8]     format version (1)
//	  [9]     compression (1 = zstd)
//	  [10:12] reserved, zero
//	  [12:16] chunk size: plaintext bytes per chunk, big-endian uint32
//	  [16:20] random nonce prefix
//	chunks: AES-256-GCM(data key, nonce = prefix || big-endian uint64 counter from 0,
//	        plaintext = chunkSize bytes of the zstd stream (the last chunk: 0..chunkSize),
//	        additional data = header || final flag (1 on the last chunk, else 0))
//
// Every chunk but the last holds exactly chunkSize plaintext bytes, so a reader knows a
// chunk is the last one when the stream ends after it. The counter in the nonce catches
// reordered or dropped chunks, the final flag a stream cut at a chunk boundary, and the
// header in the additional data any change to the header.
//
// The data key is random per backup. Result.WrappedKey is its base64 wrapping:
// version (1) || nonce (12) || AES-256-GCM(master key, data key, additional data keyWrapAD).
const (
	formatVersion   = 1
	compressionZstd = 1
	headerSize      = 20
	noncePrefixSize = 4

	// chunkSize is the plaintext size of a sealed chunk: large enough that the 16-byte tag
	// and the per-chunk call are noise, small enough that a few buffers of it are nothing.
	chunkSize = 1 << 20
	// Bounds a reader accepts for the header's chunk size, so a corrupt header cannot make
	// it allocate much.
	minChunkSize = 1 << 10
	maxChunkSize = 16 << 20

	dataKeySize    = 32
	wrapVersion    = 1
	wrappedKeySize = 1 + 12 + dataKeySize + 16
)

var (
	magic     = [8]byte{'C', 'O', 'F', 'F', 'E', 'R', 'B', 'K'}
	keyWrapAD = []byte("coffer backup data key v1")
)

// ErrWrongKey means the master key does not unwrap the backup's data key: it is not the key
// the backup was made with, or WrappedKey is damaged.
var ErrWrongKey = errors.New("backup key does not match")

func newGCM(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("key is %d bytes, want 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// wrapKey seals a data key with the master key.
func wrapKey(master, dataKey []byte) (string, error) {
	gcm, err := newGCM(master)
	if err != nil {
		return "", fmt.Errorf("master key: %w", err)
	}
	out := make([]byte, 1+gcm.NonceSize(), wrappedKeySize)
	out[0] = wrapVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return "", fmt.Errorf("key wrap nonce: %w", err)
	}
	out = gcm.Seal(out, out[1:], dataKey, keyWrapAD)
	return base64.StdEncoding.EncodeToString(out), nil
}

// unwrapKey opens a wrapped data key; a wrong master key or damaged wrapping gives
// ErrWrongKey.
func unwrapKey(master []byte, wrapped string) ([]byte, error) {
	gcm, err := newGCM(master)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	raw, err := base64.StdEncoding.DecodeString(wrapped)
	if err != nil || len(raw) != wrappedKeySize || raw[0] != wrapVersion {
		return nil, fmt.Errorf("wrapped key is malformed: %w", ErrWrongKey)
	}
	nonce := raw[1 : 1+gcm.NonceSize()]
	key, err := gcm.Open(nil, nonce, raw[1+gcm.NonceSize():], keyWrapAD)
	if err != nil {
		return nil, fmt.Errorf("unwrap data key: %w", ErrWrongKey)
	}
	return key, nil
}

// newHeader makes the header of a new stream with a random nonce prefix.
func newHeader(chunk int) ([headerSize]byte, error) {
	var h [headerSize]byte
	copy(h[:8], magic[:])
	h[8] = formatVersion
	h[9] = compressionZstd
	binary.BigEndian.PutUint32(h[12:16], uint32(chunk))
	if _, err := rand.Read(h[16:20]); err != nil {
		return h, fmt.Errorf("nonce prefix: %w", err)
	}
	return h, nil
}

// parseHeader checks a stream's header and returns its chunk size.
func parseHeader(h []byte) (int, error) {
	if len(h) < headerSize || [8]byte(h[:8]) != magic {
		return 0, fmt.Errorf("not a coffer backup stream: %w", ErrChecksum)
	}
	if h[8] != formatVersion {
		return 0, fmt.Errorf("backup stream format version %d is not supported (want %d)", h[8], formatVersion)
	}
	if h[9] != compressionZstd || h[10] != 0 || h[11] != 0 {
		return 0, fmt.Errorf("backup stream header has unknown flags: %w", ErrChecksum)
	}
	n := int(binary.BigEndian.Uint32(h[12:16]))
	if n < minChunkSize || n > maxChunkSize {
		return 0, fmt.Errorf("backup stream chunk size %d out of range: %w", n, ErrChecksum)
	}
	return n, nil
}

// chunkCipher holds what sealing and opening have in common: the AEAD, the nonce and the
// additional data (header || final flag).
type chunkCipher struct {
	gcm     cipher.AEAD
	nonce   [12]byte
	ad      [headerSize + 1]byte
	counter uint64
}

func newChunkCipher(key []byte, header []byte) (*chunkCipher, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	c := &chunkCipher{gcm: gcm}
	copy(c.nonce[:noncePrefixSize], header[16:20])
	copy(c.ad[:headerSize], header)
	return c, nil
}

// next prepares the nonce and additional data of the next chunk.
func (c *chunkCipher) next(final bool) {
	binary.BigEndian.PutUint64(c.nonce[noncePrefixSize:], c.counter)
	c.counter++
	c.ad[headerSize] = 0
	if final {
		c.ad[headerSize] = 1
	}
}

// sealWriter encrypts what is written to it in chunks and writes the sealed chunks to w.
// Close seals the final chunk; it does not close w.
type sealWriter struct {
	w       io.Writer
	c       *chunkCipher
	chunk   int
	buf     []byte // plaintext of the chunk being filled
	out     []byte // sealed chunk
	onChunk func()
	err     error
	closed  bool
}

func newSealWriter(w io.Writer, key []byte, header []byte, chunk int, onChunk func()) (*sealWriter, error) {
	c, err := newChunkCipher(key, header)
	if err != nil {
		return nil, err
	}
	return &sealWriter{
		w: w, c: c, chunk: chunk, onChunk: onChunk,
		buf: make([]byte, 0, chunk),
		out: make([]byte, 0, chunk+c.gcm.Overhead()),
	}, nil
}

func (s *sealWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.closed {
		return 0, errors.New("write to a closed backup stream")
	}
	n := 0
	for len(p) > 0 {
		// A full buffer is sealed only when more data follows: the last chunk must be the
		// one sealed as final, even when it is full.
		if len(s.buf) == s.chunk {
			if err := s.seal(false); err != nil {
				return n, err
			}
		}
		c := copy(s.buf[len(s.buf):s.chunk], p)
		s.buf = s.buf[:len(s.buf)+c]
		p = p[c:]
		n += c
	}
	return n, nil
}

func (s *sealWriter) seal(final bool) error {
	s.c.next(final)
	s.out = s.c.gcm.Seal(s.out[:0], s.c.nonce[:], s.buf, s.c.ad[:])
	s.buf = s.buf[:0]
	if _, err := s.w.Write(s.out); err != nil {
		s.err = err
		return err
	}
	if s.onChunk != nil {
		s.onChunk()
	}
	return nil
}

// Close seals the final chunk.
func (s *sealWriter) Close() error {
	if s.err != nil || s.closed {
		return s.err
	}
	s.closed = true
	return s.seal(true)
}

// openReader reads a stored stream (header and sealed chunks) and yields the plaintext,
// failing with an error wrapping ErrChecksum when a chunk does not authenticate or the stream
// is cut short or runs on past its final chunk.
type openReader struct {
	r     io.Reader
	c     *chunkCipher
	in    []byte // a sealed chunk and the byte after it (so the end is seen), opened in place
	ahead int    // the byte read past the last chunk, or -1
	plain []byte // opened plaintext not yet returned (in in)
	final bool   // the final chunk has been opened
	err   error
}

func newOpenReader(r io.Reader, key []byte) (*openReader, error) {
	var h [headerSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("backup stream shorter than its header: %w", ErrChecksum)
		}
		return nil, fmt.Errorf("read backup stream header: %w", err)
	}
	chunk, err := parseHeader(h[:])
	if err != nil {
		return nil, err
	}
	c, err := newChunkCipher(key, h[:])
	if err != nil {
		return nil, err
	}
	return &openReader{r: r, c: c, ahead: -1, in: make([]byte, chunk+c.gcm.Overhead()+1)}, nil
}

func (o *openReader) Read(p []byte) (int, error) {
	for len(o.plain) == 0 {
		if o.err != nil {
			return 0, o.err
		}
		if o.final {
			return 0, io.EOF
		}
		o.err = o.next()
	}
	n := copy(p, o.plain)
	o.plain = o.plain[n:]
	return n, nil
}

// next reads and opens the next chunk.
func (o *openReader) next() error {
	plain, err := o.openInto(o.in)
	o.plain = plain
	return err
}

// openInto reads the next chunk into buf (of len(o.in): a sealed chunk and one byte more)
// and opens it in place, returning its plaintext, which lives in buf.
func (o *openReader) openInto(buf []byte) ([]byte, error) {
	sealed := len(buf) - 1
	have := 0
	if o.ahead >= 0 {
		buf[0] = byte(o.ahead)
		have = 1
	}
	n, err := io.ReadFull(o.r, buf[have:])
	n += have
	switch {
	case err == nil: // a full chunk and one byte more: this chunk is not the last
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		o.final = true
	default:
		return nil, fmt.Errorf("read backup stream: %w", err)
	}
	body := buf[:n]
	if !o.final {
		body = buf[:sealed]
		o.ahead = int(buf[sealed])
	}
	if len(body) < o.c.gcm.Overhead() {
		return nil, fmt.Errorf("backup stream cut short: %w", ErrChecksum)
	}
	chunkNo := o.c.counter
	o.c.next(o.final)
	plain, err := o.c.gcm.Open(body[:0], o.c.nonce[:], body, o.c.ad[:])
	if err != nil {
		return nil, fmt.Errorf("backup stream chunk %d fails authentication: %w", chunkNo, ErrChecksum)
	}
	return plain, nil
}
