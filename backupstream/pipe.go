package backupstream

import (
	"io"
	"sync"
)

// Pipe is an in-memory pipe with a few buffers in flight, so that its writer (a restore's
// download, decryption and decompression) goes on while its reader (the unpacking of files)
// waits for the disk, where io.Pipe would hold each side until the other is done. Memory is
// bounded: at most buffers buffers of size bytes.
//
// One goroutine writes and one reads, as with io.Pipe; either side may close it with an
// error, which the other side sees.
type Pipe struct {
	size int
	full chan []byte // filled buffers, in order; closed by the writer
	free chan []byte // empty buffers for the writer
	done chan struct{}

	wbuf []byte // the writer's buffer being filled
	rbuf []byte // the reader's buffer being drained
	rcur []byte // what is left of rbuf to read

	once sync.Once // closes done
	mu   sync.Mutex
	werr error // the writer's close (io.EOF for a clean close)
	rerr error // the reader's close
}

// NewPipe returns a pipe of buffers buffers of size bytes each.
func NewPipe(buffers, size int) *Pipe {
	buffers, size = max(buffers, 2), max(size, 4096)
	p := &Pipe{size: size, full: make(chan []byte, buffers), free: make(chan []byte, buffers), done: make(chan struct{})}
	for range buffers {
		p.free <- make([]byte, 0, size)
	}
	return p
}

// FillPipe returns a pipe of buffers buffers of size bytes that fill writes into on a
// goroutine of its own, and a channel that gets fill's error once it returned; the pipe's
// reader sees that error (or io.EOF) once it has read what fill wrote.
func FillPipe(buffers, size int, fill func(w io.Writer) error) (*Pipe, <-chan error) {
	p := NewPipe(buffers, size)
	filled := make(chan error, 1)
	go func() {
		err := fill(p)
		p.CloseWithError(err)
		filled <- err
	}()
	return p, filled
}

// Write copies b into the pipe, blocking while every buffer is full; it fails once the
// reader has closed the pipe.
func (p *Pipe) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		if p.wbuf == nil {
			select {
			case p.wbuf = <-p.free:
			case <-p.done:
				return n, p.readerErr()
			}
		}
		c := copy(p.wbuf[len(p.wbuf):cap(p.wbuf)], b)
		p.wbuf = p.wbuf[:len(p.wbuf)+c]
		n += c
		b = b[c:]
		if len(p.wbuf) == cap(p.wbuf) {
			if err := p.send(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

func (p *Pipe) send() error {
	select {
	case p.full <- p.wbuf:
		p.wbuf = nil
		return nil
	case <-p.done:
		return p.readerErr()
	}
}

func (p *Pipe) readerErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rerr != nil {
		return p.rerr
	}
	return io.ErrClosedPipe
}

// CloseWithError ends the writer's side: the reader reads what was written, then err (io.EOF
// when err is nil). It must be called once, by the writer.
func (p *Pipe) CloseWithError(err error) error {
	if err == nil {
		err = io.EOF
	}
	if len(p.wbuf) > 0 {
		if serr := p.send(); serr != nil {
			err = serr
		}
	}
	p.mu.Lock()
	p.werr = err
	p.mu.Unlock()
	close(p.full)
	return nil
}

// Close is CloseWithError(nil).
func (p *Pipe) Close() error { return p.CloseWithError(nil) }

// Read reads what the writer wrote, in order; after the writer's close it returns the
// writer's error (io.EOF for a clean close).
func (p *Pipe) Read(b []byte) (int, error) {
	if err := p.closedByReader(); err != nil {
		return 0, err
	}
	for len(p.rcur) == 0 {
		if p.rbuf != nil {
			p.free <- p.rbuf[:0]
			p.rbuf = nil
		}
		buf, ok := <-p.full
		if !ok {
			p.mu.Lock()
			defer p.mu.Unlock()
			return 0, p.werr
		}
		p.rbuf, p.rcur = buf, buf
	}
	n := copy(b, p.rcur)
	p.rcur = p.rcur[n:]
	return n, nil
}

func (p *Pipe) closedByReader() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rerr != nil {
		return io.ErrClosedPipe
	}
	return nil
}

// CloseReader ends the reader's side: the writer's next and blocked writes fail with err
// (io.ErrClosedPipe when nil). The reader must not read afterwards.
func (p *Pipe) CloseReader(err error) {
	if err == nil {
		err = io.ErrClosedPipe
	}
	p.mu.Lock()
	if p.rerr == nil {
		p.rerr = err
	}
	p.mu.Unlock()
	p.once.Do(func() { close(p.done) })
}

var _ io.ReadWriter = (*Pipe)(nil)
