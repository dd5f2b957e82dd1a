package guestagent

import (
	"os"

	"golang.org/x/sys/unix"
)

// writebackEvery is how much a WritebackFile writes before it asks the kernel to start
// writing it to the disk.
const writebackEvery = 8 << 20

// WritebackFile writes a file that must reach the disk before it is used (a restore's
// data, which is fsynced or which the engine fsyncs at its first start), and asks the kernel
// to start writing back every few MiB as they are written (sync_file_range, as Redis does
// for its own snapshots with rdb-save-incremental-fsync), so that the disk works while the
// download goes on and the fsync at the end finds little left to write.
type WritebackFile struct {
	f       *os.File
	fd      int
	written int64
	started int64 // bytes before this offset were handed to writeback
}

// NewWritebackFile wraps f, which is written from its current offset 0 on.
func NewWritebackFile(f *os.File) *WritebackFile {
	return &WritebackFile{f: f, fd: int(f.Fd())}
}

func (w *WritebackFile) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.written += int64(n)
	if w.written-w.started >= writebackEvery {
		// Only a hint: a kernel or file system without it loses nothing but the overlap.
		_ = unix.SyncFileRange(w.fd, w.started, w.written-w.started, unix.SYNC_FILE_RANGE_WRITE)
		w.started = w.written
	}
	return n, err
}
