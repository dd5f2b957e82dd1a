// Package backupstream is the format and transport of a Coffer backup: the engine's physical
// backup stream, compressed (zstd, every core), encrypted (AES-256-GCM in chunks, with a
// data key per backup wrapped by the configured backup key) and checksummed (SHA-256 of the
// stored bytes), streamed into Swift as a static large object, and back.
//
// Backup data goes from the guest to Swift directly; the control plane only ever sees the
// Result.
//
// Upload: source -> zstd | chunked AES-256-GCM -> SHA-256 | MD5 -> each segment PUT as it is
// written (and spooled to disk for a retry, a PUT with the MD5 as ETag) -> SLO manifest; the
// three stages (|) run on goroutines of their own (upload.go).
// Download: GET of the manifest (the segments in order, resumed with ranged GETs when the
// connection breaks) -> SHA-256 -> decrypt and authenticate each chunk | zstd -> destination;
// the fetching, hashing and decrypting run a few chunks ahead on a goroutine of their own
// (download.go).
// Memory stays bounded on both sides: no segment is ever held in memory, only the zstd
// windows and a few chunk buffers. The stored format is described in format.go.
package backupstream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gophercloud/gophercloud/v2"
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
