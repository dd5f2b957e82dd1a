package backupstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/containers"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"
	"github.com/gophercloud/gophercloud/v2/pagination"
)

const (
	defaultMaxAttempts = 5
	defaultRetryDelay  = time.Second
	maxRetryDelay      = 30 * time.Second
	// deleteWorkers is how many DELETEs run at once.
	deleteWorkers = 4
	// cleanupTimeout bounds the deletes of a failed upload, which run even when the upload's
	// context is cancelled.
	cleanupTimeout = 5 * time.Minute
)

// retryPolicy tries a call up to attempts times, waiting delay, then twice as long each time.
type retryPolicy struct {
	attempts int
	delay    time.Duration
}

func newRetryPolicy(attempts int, delay time.Duration) retryPolicy {
	if attempts <= 0 {
		attempts = defaultMaxAttempts
	}
	if delay <= 0 {
		delay = defaultRetryDelay
	}
	return retryPolicy{attempts: attempts, delay: delay}
}

func (p retryPolicy) do(ctx context.Context, call func() error) error {
	delay := p.delay
	for attempt := 1; ; attempt++ {
		err := call()
		if err == nil {
			return nil
		}
		if attempt >= p.attempts || !retryable(ctx, err) {
			if attempt > 1 {
				return fmt.Errorf("after %d attempts: %w", attempt, err)
			}
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (while retrying after: %v)", ctx.Err(), err)
		case <-t.C:
		}
		delay = min(delay*2, maxRetryDelay)
	}
}

// normalizeETag strips the quotes Swift puts around some ETags.
func normalizeETag(s string) string {
	return strings.Trim(strings.TrimSpace(s), `"`)
}

// EnsureContainer creates the backup container when it is missing and sets its temp URL
// key (TempURLKeyHeader) when tempURLKey is not empty. It needs the project's credentials:
// the control plane calls it, never a guest.
func EnsureContainer(ctx context.Context, swift *gophercloud.ServiceClient, container, tempURLKey string) error {
	retry := newRetryPolicy(0, 0)
	var meta map[string]string
	if tempURLKey != "" {
		meta = map[string]string{"Temp-URL-Key": tempURLKey}
	}
	err := retry.do(ctx, func() error {
		res := containers.Get(ctx, swift, container, nil)
		if gophercloud.ResponseCodeIs(res.Err, http.StatusNotFound) {
			return containers.Create(ctx, swift, container, containers.CreateOpts{Metadata: meta}).Err
		}
		if res.Err != nil {
			return res.Err
		}
		if tempURLKey == "" || res.Header.Get(TempURLKeyHeader) == tempURLKey {
			return nil
		}
		return containers.Update(ctx, swift, container, containers.UpdateOpts{Metadata: meta}).Err
	})
	if err != nil {
		return fmt.Errorf("ensure container %s: %w", container, err)
	}
	return nil
}

// putManifest stores the static large object's manifest.
func putManifest(ctx context.Context, swift *gophercloud.ServiceClient, retry retryPolicy, container, object string, segs []segment) error {
	body, err := json.Marshal(segs)
	if err != nil {
		return err
	}
	return retry.do(ctx, func() error {
		return objects.Create(ctx, swift, container, object, objects.CreateOpts{
			Content:           bytes.NewReader(body),
			ContentType:       "application/octet-stream", // the large object's type, not the manifest's
			MultipartManifest: "put",
			NoETag:            true, // an ETag here would have to be the large object's
		}).Err
	})
}

// deleteObject deletes one object; one that is already gone is no error.
func deleteObject(ctx context.Context, swift *gophercloud.ServiceClient, retry retryPolicy, container, object string) error {
	err := retry.do(ctx, func() error {
		return objects.Delete(ctx, swift, container, object, nil).Err
	})
	if err != nil && !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		return fmt.Errorf("delete %s/%s: %w", container, object, err)
	}
	return nil
}

// deleteObjects deletes objects (given as container and name) a few at a time and returns
// the first error after trying them all.
func deleteObjects(ctx context.Context, swift *gophercloud.ServiceClient, retry retryPolicy, names [][2]string) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		work  = make(chan [2]string)
	)
	for range min(deleteWorkers, len(names)) {
		wg.Go(func() {
			for n := range work {
				if err := deleteObject(ctx, swift, retry, n[0], n[1]); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for _, n := range names {
		work <- n
	}
	close(work)
	wg.Wait()
	return first
}

// manifestSegments reads the segments a static large object's manifest lists, as
// "container" and "object" pairs. found is false when the object does not exist.
func manifestSegments(ctx context.Context, swift *gophercloud.ServiceClient, retry retryPolicy, container, object string) (segs [][2]string, found bool, err error) {
	err = retry.do(ctx, func() error {
		segs, found = nil, false
		res := objects.Download(ctx, swift, container, object, objects.DownloadOpts{MultipartManifest: "get"})
		if res.Err != nil {
			if gophercloud.ResponseCodeIs(res.Err, http.StatusNotFound) {
				return nil
			}
			return res.Err
		}
		defer res.Body.Close()
		found = true
		// A plain object answers with its content: never read that.
		if v, _ := strconv.ParseBool(res.Header.Get("X-Static-Large-Object")); !v {
			return nil
		}
		var items []struct {
			Name string `json:"name"`
		}
		if err := json.NewDecoder(res.Body).Decode(&items); err != nil {
			return fmt.Errorf("decode manifest: %w", err)
		}
		for _, it := range items {
			c, o, ok := strings.Cut(strings.TrimPrefix(it.Name, "/"), "/")
			if ok {
				segs = append(segs, [2]string{c, o})
			}
		}
		return nil
	})
	return segs, found, err
}

// listPrefix lists a container's objects whose names start with prefix; a missing container
// holds none.
func listPrefix(ctx context.Context, swift *gophercloud.ServiceClient, retry retryPolicy, container, prefix string) ([]string, error) {
	var names []string
	err := retry.do(ctx, func() error {
		names = nil
		return objects.List(swift, container, objects.ListOpts{Prefix: prefix}).EachPage(ctx, func(_ context.Context, page pagination.Page) (bool, error) {
			n, err := objects.ExtractNames(page)
			names = append(names, n...)
			return true, err
		})
	})
	if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		return nil, nil
	}
	return names, err
}

// objectReader reads an object from Swift and, when the connection breaks, resumes where it
// stopped with a ranged GET of the same version (If-Match), so a long download survives a
// dropped connection without starting over.
type objectReader struct {
	ctx       context.Context
	swift     *gophercloud.ServiceClient
	retry     retryPolicy
	container string
	object    string

	body    io.ReadCloser
	etag    string
	size    int64 // Content-Length of the first answer, -1 when unknown
	off     int64
	resumes int
}

func openObject(ctx context.Context, swift *gophercloud.ServiceClient, retry retryPolicy, container, object string) (*objectReader, error) {
	r := &objectReader{ctx: ctx, swift: swift, retry: retry, container: container, object: object, size: -1}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

// open GETs the object from r.off on.
func (r *objectReader) open() error {
	return r.retry.do(r.ctx, func() error {
		opts := objects.DownloadOpts{}
		if r.off > 0 {
			opts.Range = fmt.Sprintf("bytes=%d-", r.off)
			opts.IfMatch = r.etag
		}
		res := objects.Download(r.ctx, r.swift, r.container, r.object, opts)
		if res.Err != nil {
			if gophercloud.ResponseCodeIs(res.Err, http.StatusNotFound) || gophercloud.ResponseCodeIs(res.Err, http.StatusPreconditionFailed) {
				return permanent(res.Err)
			}
			return res.Err
		}
		if r.off > 0 && !strings.HasPrefix(res.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-", r.off)) {
			res.Body.Close()
			return permanent(fmt.Errorf("swift ignored the range of a resumed download (Content-Range %q)", res.Header.Get("Content-Range")))
		}
		if r.off == 0 {
			r.etag = res.Header.Get("Etag")
			if n, err := strconv.ParseInt(res.Header.Get("Content-Length"), 10, 64); err == nil {
				r.size = n
			}
		}
		r.body = res.Body
		return nil
	})
}

func (r *objectReader) Read(p []byte) (int, error) {
	for {
		if r.body == nil {
			if err := r.open(); err != nil {
				return 0, fmt.Errorf("resume download at byte %d: %w", r.off, err)
			}
		}
		n, err := r.body.Read(p)
		r.off += int64(n)
		if err == nil || errors.Is(err, io.EOF) {
			if errors.Is(err, io.EOF) && r.size >= 0 && r.off < r.size {
				err = io.ErrUnexpectedEOF // fall through to resume
			} else {
				return n, err
			}
		}
		// The connection broke: resume from here, a few times at most.
		_ = r.body.Close()
		r.body = nil
		if r.ctx.Err() != nil {
			return n, r.ctx.Err()
		}
		r.resumes++
		if r.resumes > r.retry.attempts || r.etag == "" {
			return n, fmt.Errorf("download broke at byte %d: %w", r.off, err)
		}
		if n > 0 {
			return n, nil
		}
	}
}

func (r *objectReader) Close() error {
	if r.body == nil {
		return nil
	}
	err := r.body.Close()
	r.body = nil
	return err
}
