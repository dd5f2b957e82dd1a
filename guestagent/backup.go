package guestagent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/sys/unix"

	"github.com/coffer-dbaas/coffer/backupstream"
	"github.com/coffer-dbaas/coffer/guest"
)

// Intervals of a backup's or restore's reports: heartbeats say the guest is alive (the
// workflow's heartbeat timeout must be several of them), signals carry the progress the
// workflow shows.
const (
	backupHeartbeatInterval = 5 * time.Second
	backupSignalInterval    = 10 * time.Second
)

// swiftClient is an object-storage client that reaches only what the temp URLs the control
// plane signed allow: the objects of one backup in container. It holds no token.
func swiftClient(access guest.SwiftAccess, container string) *gophercloud.ServiceClient {
	signatures := map[string]string{}
	for method, sig := range map[string]string{http.MethodGet: access.Get, http.MethodPut: access.Put, http.MethodDelete: access.Delete} {
		if sig != "" {
			signatures[method] = sig
		}
	}
	return backupstream.TempURL{Endpoint: access.URL, Container: container, Prefix: access.Prefix,
		Expires: access.Expires, Signatures: signatures}.Client()
}

// Backup streams the driver's backup into Swift; see guest.BackupActivity.
func (a *activities) Backup(ctx context.Context, in guest.BackupInput) (guest.BackupResult, error) {
	log := a.logger(ctx).With("backup_id", in.BackupID)
	// A later attempt writes the same segment names over what an earlier one (a guest that
	// died halfway) left; the control plane, which alone may list the container, deletes
	// the rest with the backup or when the backup fails.
	swift := swiftClient(in.Swift, in.Container)
	log.Info("backup starting", "container", in.Container, "object", in.Object, "attempt", activity.GetInfo(ctx).Attempt)
	defer startBackupProfile(in.BackupID)()
	started := time.Now()

	var raw, stored atomic.Int64
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopReports := a.reportProgress(ctx, func() guest.BackupProgress {
		return guest.BackupProgress{Raw: raw.Load(), Stored: stored.Load()}
	})
	defer stopReports()

	// An OS pipe: the engine's backup program writes into it itself.
	pr, pw, err := StreamPipe()
	if err != nil {
		return guest.BackupResult{}, a.fail(ctx, guest.BackupActivity, fmt.Errorf("backup %s: %w", in.BackupID, err))
	}
	defer pr.Close()
	engineDone := make(chan error, 1)
	go func() {
		err := a.driver.Backup(ctx, pw)
		// The reader sees the end once the engine's program and this side are closed; the
		// engine's exit status is engineDone's.
		pw.Close()
		engineDone <- err
	}()
	src := &engineReader{r: pr, done: engineDone}
	result, err := backupstream.Upload(ctx, swift, src, backupstream.UploadOptions{
		Container:   in.Container,
		Object:      in.Object,
		SegmentSize: in.SegmentSize,
		MasterKey:   in.MasterKey,
		Progress: func(r, s int64) {
			raw.Store(r)
			stored.Store(s)
		},
	})
	if err != nil {
		// Stop the engine's stream, then wait for it so no process outlives the activity.
		cancel()
		pr.Close()
		engineErr := src.wait()
		if engineErr != nil && !errors.Is(engineErr, context.Canceled) && !errors.Is(engineErr, io.ErrClosedPipe) && !errors.Is(engineErr, syscall.EPIPE) && !errors.Is(engineErr, os.ErrClosed) {
			err = fmt.Errorf("%w (the engine's backup: %v)", err, engineErr)
		}
		return guest.BackupResult{}, a.fail(ctx, guest.BackupActivity, fmt.Errorf("backup %s: %w", in.BackupID, err))
	}
	if err := src.wait(); err != nil {
		// Not reached: the engine's failure ends the stream with it, which fails Upload.
		return guest.BackupResult{}, a.fail(ctx, guest.BackupActivity, fmt.Errorf("backup %s: %w", in.BackupID, err))
	}
	took := time.Since(started)
	log.Info("backup stored", "raw_bytes", result.RawSize, "stored_bytes", result.StoredSize, "segments", result.Segments,
		"took", took.Round(time.Millisecond), "mib_per_s", int(float64(result.RawSize)/(1<<20)/took.Seconds()))
	return guest.BackupResult(result), nil
}

// engineReader reads the engine's backup from the pipe and, at its end, waits for the
// engine's program: the stream ends with its failure, if it failed, rather than with EOF, so
// that Upload never stores a cut backup.
type engineReader struct {
	r      io.Reader
	done   <-chan error
	waited bool
	err    error
}

func (e *engineReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if errors.Is(err, io.EOF) {
		if werr := e.wait(); werr != nil {
			return n, fmt.Errorf("the engine's backup: %w", werr)
		}
	}
	return n, err
}

// wait is the engine's outcome, once it ended.
func (e *engineReader) wait() error {
	if !e.waited {
		e.err, e.waited = <-e.done, true
	}
	return e.err
}

// streamPipeSize is the capacity asked of a backup's or restore's pipe: fewer, larger reads
// and writes than the 64 KiB default (Linux caps it at /proc/sys/fs/pipe-max-size, 1 MiB by
// default).
const streamPipeSize = 1 << 20

// StreamPipe is an OS pipe for a backup stream between the agent and an engine's program,
// which reads or writes it itself: no goroutine copies 32 KiB at a time in between, as an
// io.Pipe given to exec.Cmd needs. Its buffer is enlarged where the system allows it; a
// refusal only costs speed.
func StreamPipe() (r, w *os.File, err error) {
	r, w, err = os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	if raw, err := w.SyscallConn(); err == nil {
		_ = raw.Control(func(fd uintptr) {
			_, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, streamPipeSize)
		})
	}
	return r, w, nil
}

// reportProgress heartbeats progress every few seconds (so that a guest that dies is seen
// by its heartbeat timeout, even while Swift is slow) and signals it to the activity's
// workflow, until the returned stop is called.
func (a *activities) reportProgress(ctx context.Context, progress func() guest.BackupProgress) (stop func()) {
	info := activity.GetInfo(ctx)
	var lastSignal time.Time
	var last guest.BackupProgress
	return heartbeat(ctx, backupHeartbeatInterval, func() {
		p := progress()
		activity.RecordHeartbeat(ctx, p)
		if p != last && time.Since(lastSignal) >= backupSignalInterval {
			c := activity.GetClient(ctx)
			err := c.SignalWorkflow(ctx, info.WorkflowExecution.ID, info.WorkflowExecution.RunID, guest.BackupProgressSignal, p)
			if err != nil {
				a.logger(ctx).Warn("could not signal the backup's progress", "error", err)
			}
			lastSignal, last = time.Now(), p
		}
	})
}

// Restore downloads, verifies and unpacks a backup through the driver; see guest.RestoreActivity.
func (a *activities) Restore(ctx context.Context, in guest.RestoreInput) error {
	log := a.logger(ctx).With("backup_id", in.BackupID)
	log.Info("restore starting", "container", in.Container, "object", in.Object)
	var written atomic.Int64
	stopReports := a.reportHeartbeats(ctx, func() guest.BackupProgress { return guest.BackupProgress{Raw: written.Load()} })
	defer stopReports()
	swift := swiftClient(in.Swift, in.Container)
	err := a.driver.Restore(ctx, func(w io.Writer) error {
		return backupstream.Download(ctx, swift, &countingWriter{w: w, n: &written}, backupstream.DownloadOptions{
			Container: in.Container, Object: in.Object, MasterKey: in.MasterKey, WrappedKey: in.WrappedKey, SHA256: in.SHA256,
		})
	})
	if errors.Is(err, backupstream.ErrChecksum) {
		log.Error("backup is corrupt", "error", err)
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("restore backup %s: the backup is corrupt: %v", in.BackupID, err), guest.ErrChecksum, nil)
	}
	if err != nil {
		return a.fail(ctx, guest.RestoreActivity, fmt.Errorf("restore backup %s: %w", in.BackupID, err))
	}
	log.Info("restore unpacked", "bytes", written.Load())
	return nil
}

// reportHeartbeats heartbeats progress every few seconds until stop is called.
func (a *activities) reportHeartbeats(ctx context.Context, progress func() guest.BackupProgress) (stop func()) {
	return heartbeat(ctx, backupHeartbeatInterval, func() { activity.RecordHeartbeat(ctx, progress()) })
}

// countingWriter counts what passes through it.
type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}
