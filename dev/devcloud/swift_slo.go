package devcloud

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Static large objects, as Swift's slo middleware serves them: a manifest PUT with
// ?multipart-manifest=put lists segments (objects of the same account); a GET streams them in
// order; ?multipart-manifest=get returns the manifest; ?multipart-manifest=delete removes the
// segments and the manifest. Nested manifests, "range" and inline "data" segments are not
// supported.

// Swift's slo limits.
const (
	maxManifestSegments = 1000
	maxManifestSize     = 8 << 20
)

// errSegmentChanged is a segment that is gone or no longer what the manifest recorded.
var errSegmentChanged = errors.New("segment changed since the manifest was written")

// manifestItem is one segment as a client writes it.
type manifestItem struct {
	Path      *string `json:"path"`
	ETag      *string `json:"etag"`
	SizeBytes *int64  `json:"size_bytes"`
	Range     *string `json:"range"`
	Data      *string `json:"data"`
}

// splitSegmentPath splits "/container/object" (the leading slash is optional).
func splitSegmentPath(p string) (container, object string, ok bool) {
	container, object, ok = strings.Cut(strings.TrimLeft(p, "/"), "/")
	return container, object, ok && container != "" && object != ""
}

// wantsJSON tells whether the client asked for JSON bodies (gophercloud always does).
func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

// bulkResponseBody is Swift's bulk-operation body (get_response_body in swift's bulk
// middleware): JSON with an "Errors" list, or "Key: value" lines, then "Errors:" and one
// "name, status" line per error.
func bulkResponseBody(asJSON bool, fields map[string]any, problems [][2]string) []byte {
	if problems == nil {
		problems = [][2]string{}
	}
	if asJSON {
		out := map[string]any{"Errors": problems}
		for k, v := range fields {
			out[k] = v
		}
		b, _ := json.Marshal(out)
		return b
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %v\n", k, fields[k])
	}
	b.WriteString("Errors:\n")
	for _, p := range problems {
		fmt.Fprintf(&b, "%s, %s\n", p[0], p[1])
	}
	return b.Bytes()
}

func writeBulkResponse(w http.ResponseWriter, r *http.Request, status int, fields map[string]any, problems [][2]string) {
	asJSON := wantsJSON(r)
	if asJSON {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	w.WriteHeader(status)
	_, _ = w.Write(bulkResponseBody(asJSON, fields, problems))
}

func (s *swift) putManifest(w http.ResponseWriter, r *http.Request, sr swiftRequest) {
	now := s.c.now()
	if r.ContentLength > maxManifestSize {
		s.fail(w, http.StatusRequestEntityTooLarge, "Manifest File > %d bytes", maxManifestSize)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxManifestSize+1))
	if err != nil {
		s.fail(w, 499, "Client Disconnect")
		return
	}
	if len(body) > maxManifestSize {
		s.fail(w, http.StatusRequestEntityTooLarge, "Manifest File > %d bytes", maxManifestSize)
		return
	}
	var items []manifestItem
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&items); err != nil {
		s.fail(w, http.StatusBadRequest, "Manifest must be valid JSON.\n")
		return
	}
	if len(items) == 0 {
		s.fail(w, http.StatusBadRequest, "Manifest must have at least one segment.\n")
		return
	}
	if len(items) > maxManifestSegments {
		s.fail(w, http.StatusRequestEntityTooLarge, "Number of object-backed segments must be <= %d", maxManifestSegments)
		return
	}
	for i, it := range items {
		switch {
		case it.Data != nil || it.Range != nil:
			s.fail(w, http.StatusBadRequest, "Index %d: the devcloud supports only whole-object segments (no \"range\" or \"data\")\n", i)
			return
		case it.Path == nil:
			s.fail(w, http.StatusBadRequest, "Index %d: expected \"path\" or \"data\" key\n", i)
			return
		}
		cont, obj, ok := splitSegmentPath(*it.Path)
		if !ok {
			s.fail(w, http.StatusBadRequest, "Index %d: path does not refer to an object. Path must be of the form /container/object.\n", i)
			return
		}
		if scope, ok := tempURLScopeOf(r); ok && !scope.allows(cont, obj) {
			s.fail(w, http.StatusForbidden, "Index %d: a manifest PUT through a temp URL may name only segments under its prefix\n", i)
			return
		}
		if it.SizeBytes != nil && *it.SizeBytes < 0 {
			s.fail(w, http.StatusBadRequest, "Index %d: invalid size_bytes\n", i)
			return
		}
	}
	o, err := newObjectRecord(r, sr.object, now)
	if err != nil {
		s.fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	if _, err := s.store.container(sr.account, sr.container); err != nil {
		s.failStore(w, err)
		return
	}

	// Check every segment as Swift's HEAD of each does, and record what it found.
	var problems [][2]string
	segs := make([]sloSegment, 0, len(items))
	sloETag := md5.New()
	var total int64
	for i, it := range items {
		p := *it.Path
		cont, obj, _ := splitSegmentPath(p)
		quoted := escapeObjectName(p)
		seg, err := s.store.object(sr.account, cont, obj, now)
		switch {
		case errors.Is(err, errNoSuchThing):
			problems = append(problems, [2]string{quoted, "404 Not Found"})
			continue
		case err != nil:
			s.failStore(w, err)
			return
		case seg.isManifest():
			problems = append(problems, [2]string{quoted, "Nested static large objects are not supported by the devcloud"})
			continue
		case cont == sr.container && obj == sr.object:
			problems = append(problems, [2]string{quoted, "A manifest cannot be its own segment"})
			continue
		}
		if seg.Bytes < 1 && i < len(items)-1 {
			problems = append(problems, [2]string{quoted, "Too small; each segment must be at least 1 byte."})
		}
		if it.SizeBytes != nil && *it.SizeBytes != seg.Bytes {
			problems = append(problems, [2]string{quoted, "Size Mismatch"})
		}
		if it.ETag != nil && normalizeETag(*it.ETag) != seg.Hash {
			problems = append(problems, [2]string{quoted, "Etag Mismatch"})
		}
		segs = append(segs, sloSegment{
			Name: "/" + strings.TrimLeft(p, "/"), Hash: seg.Hash, Bytes: seg.Bytes,
			ContentType: seg.ContentType, LastModified: seg.LastModified,
		})
		sloETag.Write([]byte(seg.Hash))
		total += seg.Bytes
	}
	if len(problems) > 0 {
		writeBulkResponse(w, r, http.StatusBadRequest, map[string]any{}, problems)
		return
	}
	sum := hex.EncodeToString(sloETag.Sum(nil))
	if etag := r.Header.Get("Etag"); etag != "" && normalizeETag(etag) != sum {
		s.fail(w, http.StatusUnprocessableEntity, "Unable to process the contained instructions")
		return
	}
	o.Bytes = total
	o.Hash = sum
	o.Segments = segs
	manifestSum := md5.Sum(manifestJSON(o))
	o.ManifestHash = hex.EncodeToString(manifestSum[:])
	if err := s.store.commitObject(sr.account, sr.container, o, ""); err != nil {
		s.failStore(w, err)
		return
	}
	writeCreated(w, etagHeader(o), now)
}

// manifestJSON is the manifest as Swift stores it and returns for ?multipart-manifest=get.
func manifestJSON(o *objectRecord) []byte {
	items := make([]map[string]any, len(o.Segments))
	for i, seg := range o.Segments {
		items[i] = map[string]any{
			"name": seg.Name, "hash": seg.Hash, "bytes": seg.Bytes,
			"content_type": seg.ContentType, "last_modified": seg.LastModified.UTC().Format(swiftTime),
		}
	}
	b, _ := json.Marshal(items)
	return b
}

// rawManifestJSON is the manifest in the form a client PUTs (?multipart-manifest=get&format=raw).
func rawManifestJSON(o *objectRecord) []byte {
	items := make([]map[string]any, len(o.Segments))
	for i, seg := range o.Segments {
		items[i] = map[string]any{"path": seg.Name, "etag": seg.Hash, "size_bytes": seg.Bytes}
	}
	b, _ := json.Marshal(items)
	return b
}

// getManifest answers GET or HEAD ?multipart-manifest=get of a static large object.
func (s *swift) getManifest(w http.ResponseWriter, r *http.Request, o *objectRecord) {
	body := manifestJSON(o)
	if r.URL.Query().Get("format") == "raw" {
		body = rawManifestJSON(o)
	}
	sum := md5.Sum(body)
	h := w.Header()
	for k, v := range o.Headers {
		h.Set(k, v)
	}
	writeMeta(w, o.Meta, "Object")
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Etag", hex.EncodeToString(sum[:]))
	h.Set("X-Static-Large-Object", "True")
	h.Set("Last-Modified", lastModified(o.LastModified).Format(http.TimeFormat))
	h.Set("X-Timestamp", swiftTimestamp(o.LastModified))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// deleteManifest answers DELETE ?multipart-manifest=delete: it deletes every segment, then
// the manifest. Like Swift's, the answer is always 200, with the outcome in the body's
// "Response Status"; gophercloud's objects.Delete therefore reports it as an unexpected 200.
func (s *swift) deleteManifest(w http.ResponseWriter, r *http.Request, sr swiftRequest) {
	now := s.c.now()
	deleted, notFound := 0, 0
	var problems [][2]string
	status := "200 OK"
	count := func(err error) {
		switch {
		case err == nil:
			deleted++
		case errors.Is(err, errNoSuchThing):
			notFound++
		default:
			status = "502 Bad Gateway"
			s.c.log.Error("devcloud swift multipart delete", "error", err)
		}
	}
	o, err := s.store.object(sr.account, sr.container, sr.object, now)
	switch {
	case err != nil:
		count(err)
	case !o.isManifest():
		problems = append(problems, [2]string{objectURLPath(sr.container, sr.object), "Not an SLO manifest"})
	default:
		for _, seg := range o.Segments {
			cont, obj, _ := splitSegmentPath(seg.Name)
			_, err := s.store.deleteObject(sr.account, cont, obj, now)
			count(err)
		}
		_, err := s.store.deleteObject(sr.account, sr.container, sr.object, now)
		count(err)
	}
	if len(problems) > 0 {
		status = "400 Bad Request"
	}
	writeBulkResponse(w, r, http.StatusOK, map[string]any{
		"Number Deleted": deleted, "Number Not Found": notFound,
		"Response Status": status, "Response Body": "",
	}, problems)
}

// openSegments opens the content of a static large object for reading: the segments as
// one io.ReadSeeker, for http.ServeContent. It checks first that each segment is still the
// one the manifest recorded (errSegmentChanged); files are opened one at a time as the read
// reaches them.
func (s *swift) openSegments(account string, o *objectRecord) (*segmentReader, error) {
	now := s.c.now()
	sr := &segmentReader{cur: -1}
	for _, seg := range o.Segments {
		cont, obj, _ := splitSegmentPath(seg.Name)
		rec, err := s.store.object(account, cont, obj, now)
		if errors.Is(err, errNoSuchThing) {
			return nil, errSegmentChanged
		}
		if err != nil {
			return nil, err
		}
		if rec.isManifest() || rec.Hash != seg.Hash || rec.Bytes != seg.Bytes {
			return nil, errSegmentChanged
		}
		sr.parts = append(sr.parts, segmentPart{path: s.store.dataPath(account, cont, rec), start: sr.size, size: rec.Bytes})
		sr.size += rec.Bytes
	}
	return sr, nil
}

// segmentReader reads a static large object's segments in order as one seekable stream,
// holding at most one segment file open and none of its content.
type segmentReader struct {
	parts []segmentPart
	size  int64
	off   int64
	cur   int // index of the open part, -1 for none
	f     *os.File
}

type segmentPart struct {
	path        string
	start, size int64
}

var _ io.ReadSeekCloser = (*segmentReader)(nil)

func (r *segmentReader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	i := sort.Search(len(r.parts), func(i int) bool { return r.parts[i].start+r.parts[i].size > r.off })
	part := r.parts[i]
	if i != r.cur {
		if r.f != nil {
			_ = r.f.Close()
			r.f = nil
		}
		f, err := os.Open(part.path)
		if err != nil {
			return 0, fmt.Errorf("open segment: %w", err)
		}
		r.f, r.cur = f, i
	}
	within := r.off - part.start
	if left := part.size - within; int64(len(p)) > left {
		p = p[:left]
	}
	n, err := r.f.ReadAt(p, within)
	r.off += int64(n)
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF // the segment is shorter than recorded
	}
	return n, err
}

func (r *segmentReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.size
	default:
		return 0, errors.New("segment reader: invalid whence")
	}
	if offset < 0 {
		return 0, errors.New("segment reader: negative position")
	}
	r.off = offset
	return offset, nil
}

func (r *segmentReader) Close() error {
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f, r.cur = nil, -1
	return err
}
