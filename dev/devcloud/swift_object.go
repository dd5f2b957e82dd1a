package devcloud

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
)

// objectHeaderNames are the content headers Swift stores with an object and serves back.
var objectHeaderNames = []string{
	"Content-Disposition", "Content-Encoding", "Content-Language", "Cache-Control", "Expires", "X-Robots-Tag",
}

// errObjectTooLarge is an upload over Swift's 5 GiB object limit.
var errObjectTooLarge = errors.New("object too large")

// receive streams an upload into a temporary file while hashing it, so that no object is
// ever held in memory. The caller commits the file or removes it.
func (s *objectStore) receive(body io.Reader) (tmpPath, md5Hex string, size int64, err error) {
	f, err := os.CreateTemp(s.tmp, "object-*")
	if err != nil {
		return "", "", 0, err
	}
	h := md5.New()
	buf := make([]byte, 256<<10)
	size, err = io.CopyBuffer(io.MultiWriter(f, h), io.LimitReader(body, maxObjectSize+1), buf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && size > maxObjectSize {
		err = errObjectTooLarge
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return "", "", 0, err
	}
	return f.Name(), hex.EncodeToString(h.Sum(nil)), size, nil
}

// objectContentType is the Content-Type a PUT stores: the client's, or one guessed from the
// name's extension as Swift does when there is none (or X-Detect-Content-Type is true).
func objectContentType(h http.Header, name string) string {
	ct := h.Get("Content-Type")
	if ct != "" && !strings.EqualFold(h.Get("X-Detect-Content-Type"), "true") {
		return ct
	}
	if guess := mime.TypeByExtension(path.Ext(name)); guess != "" {
		guess, _, _ = strings.Cut(guess, ";")
		return guess
	}
	return "application/octet-stream"
}

// contentHeaders picks the stored content headers out of a request.
func contentHeaders(h http.Header) map[string]string {
	out := map[string]string{}
	for _, name := range objectHeaderNames {
		if v := h.Get(name); v != "" {
			out[name] = v
		}
	}
	return out
}

// newObjectRecord reads what a PUT says about the object besides its content; the error is
// the 400 message.
func newObjectRecord(r *http.Request, name string, now time.Time) (*objectRecord, error) {
	meta, err := applyMeta(nil, r.Header, "Object")
	if err != nil {
		return nil, err
	}
	at, err := deleteAt(r.Header, now)
	if err != nil {
		return nil, err
	}
	return &objectRecord{
		Name: name, ContentType: objectContentType(r.Header, name), LastModified: now,
		DeleteAt: at, Meta: meta, Headers: contentHeaders(r.Header),
	}, nil
}

func (s *swift) putObject(w http.ResponseWriter, r *http.Request, sr swiftRequest) {
	if r.URL.Query().Get("multipart-manifest") == "put" {
		s.putManifest(w, r, sr)
		return
	}
	if r.Header.Get("X-Static-Large-Object") != "" {
		s.fail(w, http.StatusBadRequest, "X-Static-Large-Object is a reserved header. To create a static large object add query param multipart-manifest=put.")
		return
	}
	if r.Header.Get("X-Copy-From") != "" || r.Header.Get("X-Object-Manifest") != "" {
		s.fail(w, http.StatusNotImplemented, "The devcloud does not implement X-Copy-From or dynamic large objects.")
		return
	}
	now := s.c.now()
	if _, err := s.store.container(sr.account, sr.container); err != nil {
		s.failStore(w, err)
		return
	}
	if r.ContentLength > maxObjectSize {
		s.fail(w, http.StatusRequestEntityTooLarge, "Your request is too large.")
		return
	}
	o, err := newObjectRecord(r, sr.object, now)
	if err != nil {
		s.fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	tmp, sum, size, err := s.store.receive(r.Body)
	switch {
	case errors.Is(err, errObjectTooLarge):
		s.fail(w, http.StatusRequestEntityTooLarge, "Your request is too large.")
		return
	case err != nil:
		s.c.log.Info("devcloud swift upload aborted", "object", sr.object, "error", err)
		s.fail(w, 499, "Client Disconnect")
		return
	}
	if r.ContentLength >= 0 && size != r.ContentLength {
		_ = os.Remove(tmp)
		s.fail(w, 499, "Client Disconnect")
		return
	}
	if etag := r.Header.Get("Etag"); etag != "" && normalizeETag(etag) != sum {
		_ = os.Remove(tmp)
		s.fail(w, http.StatusUnprocessableEntity, "Unable to process the contained instructions")
		return
	}
	o.Data = newDataName(sr.object, now)
	o.Bytes = size
	o.Hash = sum
	if err := s.store.commitObject(sr.account, sr.container, o, tmp); err != nil {
		_ = os.Remove(tmp)
		s.failStore(w, err)
		return
	}
	writeCreated(w, sum, now)
}

// writeCreated answers a successful object PUT.
func writeCreated(w http.ResponseWriter, etag string, now time.Time) {
	h := w.Header()
	h.Set("Etag", etag)
	h.Set("Last-Modified", lastModified(now).Format(http.TimeFormat))
	h.Set("Content-Type", "text/html; charset=UTF-8")
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

// etagHeader is the ETag an object is served with: its md5, or for a static large object
// the quoted md5 of its segments' etags.
func etagHeader(o *objectRecord) string {
	if o.isManifest() {
		return `"` + o.Hash + `"`
	}
	return o.Hash
}

// writeObjectHeaders sets the headers of a GET or HEAD of an object.
func writeObjectHeaders(w http.ResponseWriter, o *objectRecord) {
	h := w.Header()
	h.Set("Content-Type", o.ContentType)
	h.Set("Etag", etagHeader(o))
	h.Set("Last-Modified", lastModified(o.LastModified).Format(http.TimeFormat))
	h.Set("X-Timestamp", swiftTimestamp(o.LastModified))
	h.Set("Accept-Ranges", "bytes")
	if o.DeleteAt != nil {
		h.Set("X-Delete-At", strconv.FormatInt(o.DeleteAt.Unix(), 10))
	}
	if o.isManifest() {
		h.Set("X-Static-Large-Object", "True")
	}
	for k, v := range o.Headers {
		h.Set(k, v)
	}
	writeMeta(w, o.Meta, "Object")
}

// etagListMatches tells whether an If-Match or If-None-Match list names the ETag.
func etagListMatches(list, etag string) bool {
	for _, e := range strings.Split(list, ",") {
		if e = strings.TrimSpace(e); e == "*" || normalizeETag(e) == etag {
			return true
		}
	}
	return false
}

// checkETagConditions answers If-Match (412) and If-None-Match (304) against Swift's
// unquoted ETags, which http.ServeContent would not match; it reports whether to go on.
func checkETagConditions(w http.ResponseWriter, r *http.Request, o *objectRecord) bool {
	if im := r.Header.Get("If-Match"); im != "" && !etagListMatches(im, o.Hash) {
		w.WriteHeader(http.StatusPreconditionFailed)
		return false
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagListMatches(inm, o.Hash) {
		w.WriteHeader(http.StatusNotModified)
		return false
	}
	return true
}

func (s *swift) headObject(w http.ResponseWriter, r *http.Request, sr swiftRequest) {
	o, err := s.store.object(sr.account, sr.container, sr.object, s.c.now())
	if err != nil {
		s.failStore(w, err)
		return
	}
	if o.isManifest() && r.URL.Query().Get("multipart-manifest") == "get" {
		s.getManifest(w, r, o)
		return
	}
	writeObjectHeaders(w, o)
	if !checkETagConditions(w, r, o) {
		return
	}
	w.Header().Set("Content-Length", strconv.FormatInt(o.Bytes, 10))
	w.WriteHeader(http.StatusOK)
}

func (s *swift) getObject(w http.ResponseWriter, r *http.Request, sr swiftRequest) {
	o, err := s.store.object(sr.account, sr.container, sr.object, s.c.now())
	if err != nil {
		s.failStore(w, err)
		return
	}
	if o.isManifest() && r.URL.Query().Get("multipart-manifest") == "get" {
		s.getManifest(w, r, o)
		return
	}
	var content io.ReadSeekCloser
	if o.isManifest() {
		content, err = s.openSegments(sr.account, o)
		if errors.Is(err, errSegmentChanged) {
			s.fail(w, http.StatusConflict, "There was a conflict when trying to complete your request.")
			return
		}
	} else {
		content, err = os.Open(s.store.dataPath(sr.account, sr.container, o))
		if errors.Is(err, os.ErrNotExist) {
			err = errNoSuchThing // deleted or replaced since its record was read
		}
	}
	if err != nil {
		s.failStore(w, err)
		return
	}
	defer content.Close()
	writeObjectHeaders(w, o)
	if !checkETagConditions(w, r, o) {
		return
	}
	// The ETag conditions are answered; ServeContent does ranges and the date conditions.
	r2 := r.Clone(r.Context())
	r2.Header.Del("If-Match")
	r2.Header.Del("If-None-Match")
	http.ServeContent(w, r2, "", lastModified(o.LastModified), content)
}

func (s *swift) postObject(w http.ResponseWriter, r *http.Request, sr swiftRequest) {
	now := s.c.now()
	set, _ := metaFromHeaders(r.Header, "Object")
	if err := checkMeta(set, "Object"); err != nil {
		s.fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	at, err := deleteAt(r.Header, now)
	if err != nil {
		s.fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	_, err = s.store.updateObject(sr.account, sr.container, sr.object, now, func(o *objectRecord) {
		// A POST replaces the user metadata and content headers whole, as Swift's does.
		o.Meta = set
		o.Headers = contentHeaders(r.Header)
		if ct := r.Header.Get("Content-Type"); ct != "" {
			o.ContentType = ct
		}
		if at != nil {
			o.DeleteAt = at
		}
		if r.Header.Get("X-Remove-Delete-At") != "" {
			o.DeleteAt = nil
		}
	})
	if err != nil {
		s.failStore(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=UTF-8")
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprint(w, "<html><h1>Accepted</h1><p>The request is accepted for processing.</p></html>")
}

func (s *swift) deleteObject(w http.ResponseWriter, r *http.Request, sr swiftRequest) {
	if r.URL.Query().Get("multipart-manifest") == "delete" {
		s.deleteManifest(w, r, sr)
		return
	}
	if _, err := s.store.deleteObject(sr.account, sr.container, sr.object, s.c.now()); err != nil {
		s.failStore(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=UTF-8")
	w.WriteHeader(http.StatusNoContent)
}
