package backupstream

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"sync"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"
)

const (
	// maxSegments is Swift's default limit of segments in one static large object
	// (max_manifest_segments).
	maxSegments = 1000
	// growEvery segments, the segment size doubles, so that a backup of any size a guest is
	// likely to hold fits in maxSegments: with 64 MiB segments, 250 of each of 64, 128, 256
	// and 512 MiB hold 240 GiB.
	growEvery = 250
	// maxSegmentBytes is Swift's default largest object (max_file_size).
	maxSegmentBytes = 5 << 30
)

// segmentLimit is the size of segment i.
func segmentLimit(base int64, i int) int64 {
	size := base
	for g := i / growEvery; g > 0 && size*2 <= maxSegmentBytes; g-- {
		size *= 2
	}
	return size
}

// segment is a stored segment as the manifest lists it.
type segment struct {
	Path string `json:"path"` // "/container/object"
	ETag string `json:"etag"`
	Size int64  `json:"size_bytes"`
}

// spooled is a segment on disk, waiting to be stored.
type spooled struct {
	file   *os.File
	name   string
	md5    string
	size   int64
	stream *streamedPut // the PUT sent while it was written, nil when none was
}

// streamedPut is a segment's PUT sent while the segment is being written: its body is the
// spool file, read as it grows (followReader), so that the segment is in Swift moments
// after its last byte rather than a whole segment's PUT later, while a slow Swift still
// never holds up the writer (it only falls behind in the file, as before). Swift answers
// the MD5 of what it stored as ETag: only an ETag equal to the segment's MD5 stores it;
// otherwise (or when the PUT failed) the segment is PUT again from its spool file, with the
// MD5 as ETag, and retried as before.
type streamedPut struct {
	body *followReader
	done chan struct{} // closed when the PUT has returned
	etag string
	err  error
}

// followReader reads a file that is being written, as far as it is written: a read at the
// written end waits for more, until the writer ends it (EOF) or fails it.
type followReader struct {
	f    *os.File
	off  int64 // the reader's
	mu   sync.Mutex
	cond *sync.Cond
	size int64 // written so far
	end  bool  // the writer is done
	err  error // the writer failed the body
}

func newFollowReader(f *os.File) *followReader {
	r := &followReader{f: f}
	r.cond = sync.NewCond(&r.mu)
	return r
}

// grew records n more bytes written.
func (r *followReader) grew(n int) {
	r.mu.Lock()
	r.size += int64(n)
	r.mu.Unlock()
	r.cond.Signal()
}

// close ends the body: with EOF, or with err.
func (r *followReader) close(err error) {
	r.mu.Lock()
	r.end, r.err = true, err
	r.mu.Unlock()
	r.cond.Broadcast()
}

func (r *followReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	for r.off == r.size && !r.end {
		r.cond.Wait()
	}
	size, err := r.size, r.err
	r.mu.Unlock()
	if err != nil {
		return 0, err
	}
	if r.off == size {
		return 0, io.EOF
	}
	if int64(len(p)) > size-r.off {
		p = p[:size-r.off]
	}
	n, err := r.f.ReadAt(p, r.off)
	r.off += int64(n)
	if errors.Is(err, io.EOF) && n > 0 {
		err = nil
	}
	return n, err
}

// segmenter cuts the stored stream into segments: each is spooled to a file in dir while
// its MD5 is computed, then handed to one uploader goroutine, which PUTs it with the MD5 as
// ETag (so Swift checks it) and removes the file. While one segment is being stored, the
// next one fills: at most two spool files exist at a time, and no segment is ever in memory.
type segmenter struct {
	ctx       context.Context
	swift     *gophercloud.ServiceClient
	container string
	prefix    string // object name prefix of the segments
	dir       string
	base      int64
	retry     retryPolicy
	onStored  func(n int64)

	cur     *os.File
	curMD5  hash.Hash
	curSize int64
	curPut  *streamedPut
	next    int // index of the segment being filled

	queue chan spooled
	done  chan struct{} // closed when the uploader has returned
	fail  chan struct{} // closed when an upload failed (err is set)

	mu        sync.Mutex
	stored    []segment
	attempted []string // segment names a PUT was sent for, stored or not
	err       error
	closed    bool
}

func newSegmenter(ctx context.Context, swift *gophercloud.ServiceClient, container, prefix, dir string, base int64, retry retryPolicy, onStored func(int64)) *segmenter {
	s := &segmenter{
		ctx: ctx, swift: swift, container: container, prefix: prefix, dir: dir, base: base,
		retry: retry, onStored: onStored, curMD5: md5.New(),
		queue: make(chan spooled), done: make(chan struct{}), fail: make(chan struct{}),
	}
	go s.upload()
	return s
}

func (s *segmenter) segmentName(i int) string {
	return fmt.Sprintf("%s%08d", s.prefix, i)
}

func (s *segmenter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if s.cur == nil {
			if s.next >= maxSegments {
				return n, fmt.Errorf("backup needs more than %d segments: raise the segment size", maxSegments)
			}
			f, err := os.CreateTemp(s.dir, "coffer-backup-segment-*")
			if err != nil {
				return n, fmt.Errorf("spool segment: %w", err)
			}
			s.cur, s.curSize = f, 0
			s.curMD5.Reset()
			s.curPut = s.startPut(s.segmentName(s.next), f)
		}
		room := segmentLimit(s.base, s.next) - s.curSize
		part := p
		if int64(len(part)) > room {
			part = part[:room]
		}
		w, err := s.cur.Write(part)
		s.curMD5.Write(part[:w])
		if w > 0 {
			s.curPut.body.grew(w)
		}
		s.curSize += int64(w)
		n += w
		p = p[w:]
		if err != nil {
			return n, fmt.Errorf("spool segment: %w", err)
		}
		if s.curSize == segmentLimit(s.base, s.next) {
			if err := s.handOff(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// startPut starts the streamed PUT of segment name.
func (s *segmenter) startPut(name string, f *os.File) *streamedPut {
	p := &streamedPut{body: newFollowReader(f), done: make(chan struct{})}
	s.mu.Lock()
	s.attempted = append(s.attempted, name)
	s.mu.Unlock()
	go func() {
		defer close(p.done)
		h, err := objects.Create(s.ctx, s.swift, s.container, name, objects.CreateOpts{
			// No ETag: the MD5 is known only at the end; Swift answers its own, which
			// store compares.
			Content:     p.body,
			NoETag:      true,
			ContentType: "application/octet-stream",
		}).Extract()
		if err == nil {
			p.etag = normalizeETag(h.ETag)
		}
		p.err = err
	}()
	return p
}

// endPut ends the current segment's streamed PUT's body: with EOF, or with err, which
// fails the PUT.
func (s *segmenter) endPut(err error) *streamedPut {
	put := s.curPut
	s.curPut = nil
	if put == nil {
		return nil
	}
	put.body.close(err)
	return put
}

// discard removes a spooled segment that will not be stored, once its streamed PUT is over
// (so that the caller's deletes come after it).
func discard(sp spooled) {
	if sp.stream != nil {
		<-sp.stream.done
	}
	removeSpool(sp.file)
}

// handOff queues the filled spool file for upload.
func (s *segmenter) handOff() error {
	sp := spooled{file: s.cur, name: s.segmentName(s.next), md5: hex.EncodeToString(s.curMD5.Sum(nil)), size: s.curSize}
	sp.stream = s.endPut(nil)
	s.cur = nil
	s.next++
	if _, err := sp.file.Seek(0, io.SeekStart); err != nil {
		discard(sp)
		return fmt.Errorf("rewind spooled segment: %w", err)
	}
	select {
	case s.queue <- sp:
		return nil
	case <-s.fail:
		discard(sp)
		return s.firstErr()
	case <-s.ctx.Done():
		discard(sp)
		return s.ctx.Err()
	}
}

func (s *segmenter) firstErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// upload stores queued segments in order until the queue is closed.
func (s *segmenter) upload() {
	defer close(s.done)
	failed := false
	for sp := range s.queue {
		if failed {
			discard(sp)
			continue
		}
		err := s.store(sp)
		discard(sp)
		if err != nil {
			s.mu.Lock()
			s.err = fmt.Errorf("store segment %s: %w", sp.name, err)
			s.mu.Unlock()
			close(s.fail)
			failed = true
			continue
		}
		s.mu.Lock()
		s.stored = append(s.stored, segment{Path: "/" + s.container + "/" + sp.name, ETag: sp.md5, Size: sp.size})
		s.mu.Unlock()
		if s.onStored != nil {
			s.onStored(sp.size)
		}
	}
}

// store makes sure a segment is stored: by its streamed PUT, when Swift stored what was
// written (its ETag is the segment's MD5), or else by a PUT of its spool file.
func (s *segmenter) store(sp spooled) error {
	if st := sp.stream; st != nil {
		<-st.done
		if st.err == nil && st.etag == sp.md5 {
			return nil
		}
		if err := s.ctx.Err(); err != nil {
			return err
		}
	}
	return s.put(sp)
}

// put stores one spooled segment, retrying what may succeed on another try.
func (s *segmenter) put(sp spooled) error {
	return s.retry.do(s.ctx, func() error {
		if _, err := sp.file.Seek(0, io.SeekStart); err != nil {
			return permanent(err)
		}
		h, err := objects.Create(s.ctx, s.swift, s.container, sp.name, objects.CreateOpts{
			// With ETag set gophercloud sends the body as is and rewinds it after a re-auth;
			// hiding Close keeps net/http from closing the file a retry needs.
			Content:     struct{ io.ReadSeeker }{sp.file},
			ETag:        sp.md5,
			ContentType: "application/octet-stream",
		}).Extract()
		if err != nil {
			return err
		}
		if got := normalizeETag(h.ETag); got != "" && got != sp.md5 {
			return fmt.Errorf("swift answered ETag %s for a segment with MD5 %s", got, sp.md5)
		}
		return nil
	})
}

// finish stores the last, partly filled segment and waits for every upload; it returns the
// stored segments in order.
func (s *segmenter) finish() ([]segment, error) {
	if s.cur != nil { // holds at least one byte: an exactly full segment was handed off
		if err := s.handOff(); err != nil {
			s.abort()
			return nil, err
		}
	}
	s.closeQueue()
	<-s.done
	if err := s.firstErr(); err != nil {
		return nil, err
	}
	return s.stored, nil
}

func (s *segmenter) closeQueue() {
	if !s.closed {
		s.closed = true
		close(s.queue)
	}
}

// abort stops uploading, removes the spool file and returns the name of every segment a PUT
// was sent for, stored or not, so that the caller can delete them.
func (s *segmenter) abort() []string {
	if s.cur != nil {
		if put := s.endPut(errUploadAborted); put != nil {
			<-put.done
		}
		removeSpool(s.cur)
		s.cur = nil
	}
	s.closeQueue()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempted
}

func removeSpool(f *os.File) {
	_ = f.Close()
	_ = os.Remove(f.Name())
}

// errPermanent marks an error no retry can fix.
type errPermanent struct{ err error }

func (e errPermanent) Error() string { return e.err.Error() }
func (e errPermanent) Unwrap() error { return e.err }

func permanent(err error) error { return errPermanent{err} }

// retryable tells whether a failed Swift call may succeed when tried again: server errors,
// throttling, a segment damaged in transit (422) and broken connections.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if errors.As(err, new(errPermanent)) {
		return false
	}
	var code gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &code) {
		c := code.Actual
		return c >= 500 || c == 408 || c == 422 || c == 429 || c == 499
	}
	// Not an HTTP answer: the connection failed or broke; another try may get through.
	return true
}
