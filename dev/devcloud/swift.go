package devcloud

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Swift v1, under /object-store/v1/{account}: the account segment is "AUTH_" + the token's
// project ID (an admin may name any account). Operation names, for fault rules:
//
//	GET    /{account}                          account.get       container listing
//	HEAD   /{account}                          account.head      usage and metadata
//	POST   /{account}                          account.post      metadata
//	PUT    /{account}/{container}              container.put     201, or 202 when it existed
//	GET    /{account}/{container}              container.get     object listing
//	HEAD   /{account}/{container}              container.head
//	POST   /{account}/{container}              container.post    metadata
//	DELETE /{account}/{container}              container.delete  409 unless empty
//	PUT    /{account}/{container}/{object}     object.put        streamed; ?multipart-manifest=put for an SLO
//	GET    /{account}/{container}/{object}     object.get        streamed, ranges; ?multipart-manifest=get
//	HEAD   /{account}/{container}/{object}     object.head
//	POST   /{account}/{container}/{object}     object.post       replaces the metadata
//	DELETE /{account}/{container}/{object}     object.delete     ?multipart-manifest=delete takes the segments too
//
// A container's path with a trailing slash is the container, under the object.* names (see
// orContainer). X-Copy-From, COPY and dynamic large objects are not implemented. Storage is
// objectStore's (swift_store.go); static large objects are in swift_slo.go.

// swiftTime is the timestamp format of Swift's JSON listings.
const swiftTime = "2006-01-02T15:04:05.000000"

// Swift's limits (swift/common/constraints.py defaults).
const (
	maxObjectSize       = 5 << 30
	maxObjectNameLength = 1024
	maxContainerName    = 256
	maxListingLimit     = 10000
	maxMetaNameLength   = 128
	maxMetaValueLength  = 256
	maxMetaCount        = 90
	maxMetaOverallSize  = 4096
)

// swift serves the object-store routes over an objectStore.
type swift struct {
	c     *Cloud
	store *objectStore
}

// swiftRequest is the account, container and object a call names, already checked.
type swiftRequest struct {
	account, container, object string
}

type swiftHandler func(w http.ResponseWriter, r *http.Request, sr swiftRequest)

// routeObjectStore registers Swift v1 under /object-store/v1/AUTH_{project_id}.
func (c *Cloud) routeObjectStore() {
	store, err := newObjectStore(filepath.Join(c.cfg.DataDir, "swift"))
	if err != nil {
		// New made the folder moments ago; still, answer every call rather than panic.
		c.log.Error("devcloud swift unavailable", "error", err)
	}
	s := &swift{c: c, store: store}
	const base = "/object-store/v1/{account}"
	route := func(op, method string, h swiftHandler, paths ...string) {
		for _, p := range paths {
			c.routePublic("object-store", op, method+" "+base+p, s.authorize(s.handle(h)))
		}
	}
	account := []string{"", "/{$}"}
	container := "/{container}"
	// "/{container}/" is the container too; ServeMux cannot route it apart from the objects
	// under HEAD and GET both, so the object routes hand an empty name to the container's.
	object := "/{container}/{object...}"

	route("account.get", http.MethodGet, s.getAccount, account...)
	route("account.head", http.MethodHead, s.headAccount, account...)
	route("account.post", http.MethodPost, s.postAccount, account...)
	route("container.put", http.MethodPut, s.putContainer, container)
	route("container.get", http.MethodGet, s.getContainer, container)
	route("container.head", http.MethodHead, s.headContainer, container)
	route("container.post", http.MethodPost, s.postContainer, container)
	route("container.delete", http.MethodDelete, s.deleteContainer, container)
	route("object.put", http.MethodPut, orContainer(s.putContainer, s.putObject), object)
	route("object.get", http.MethodGet, orContainer(s.getContainer, s.getObject), object)
	route("object.head", http.MethodHead, orContainer(s.headContainer, s.headObject), object)
	route("object.post", http.MethodPost, orContainer(s.postContainer, s.postObject), object)
	route("object.delete", http.MethodDelete, orContainer(s.deleteContainer, s.deleteObject), object)
}

// authorize lets a call in with a valid token, or, when it carries no token, with a valid
// temp URL (swift_tempurl.go) as the account's owner, restricted to the temp URL's scope.
func (s *swift) authorize(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok := s.c.authenticate(r)
		if tok == nil && r.Header.Get("X-Auth-Token") == "" && r.URL.Query().Has("temp_url_sig") {
			if r = s.authorizeTempURL(w, r); r == nil {
				return
			}
			tok = &token{ProjectID: strings.TrimPrefix(r.PathValue("account"), "AUTH_")}
		}
		if tok == nil {
			s.c.fail(w, "identity", http.StatusUnauthorized, "The request you have made requires authentication.")
			return
		}
		h(w, r, tok)
	}
}

// orContainer sends a call on "/{container}/" (an empty object name) to the container's
// handler.
func orContainer(container, object swiftHandler) swiftHandler {
	return func(w http.ResponseWriter, r *http.Request, sr swiftRequest) {
		if sr.object == "" {
			container(w, r, sr)
			return
		}
		object(w, r, sr)
	}
}

// handle checks the names and the caller's right to the account, and sets the headers every
// Swift response carries.
func (s *swift) handle(h swiftHandler) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, tok *token) {
		txID := swiftTransID(s.c.now())
		w.Header().Set("X-Trans-Id", txID)
		w.Header().Set("X-Openstack-Request-Id", txID)
		if s.store == nil {
			s.fail(w, http.StatusServiceUnavailable, "The server is currently unavailable. Please try again at a later time.")
			return
		}
		sr := swiftRequest{account: r.PathValue("account"), container: r.PathValue("container"), object: r.PathValue("object")}
		if sr.account != "AUTH_"+tok.ProjectID && !tok.isAdmin() {
			s.fail(w, http.StatusForbidden, "Access was denied to this resource.")
			return
		}
		switch {
		case !validSwiftName(sr.account):
			s.fail(w, http.StatusBadRequest, "Invalid account name")
			return
		case strings.Contains(r.Pattern, "{container}") && !validSwiftName(sr.container):
			s.fail(w, http.StatusBadRequest, "Invalid container name")
			return
		case len(sr.container) > maxContainerName:
			s.fail(w, http.StatusBadRequest, "Container name length of %d longer than %d", len(sr.container), maxContainerName)
			return
		case len(sr.object) > maxObjectNameLength:
			s.fail(w, http.StatusBadRequest, "Object name length of %d longer than %d", len(sr.object), maxObjectNameLength)
			return
		case strings.ContainsRune(sr.object, 0):
			s.fail(w, http.StatusPreconditionFailed, "Invalid UTF8 or contains NULL")
			return
		}
		h(w, r, sr)
	}
}

// validSwiftName rejects names that cannot be an account or a container: empty, holding a
// slash or a NUL, or a dot segment.
func validSwiftName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}

func (s *swift) fail(w http.ResponseWriter, status int, format string, args ...any) {
	s.c.fail(w, "object-store", status, format, args...)
}

// failStore answers a storage error: a missing thing is 404, anything else 500.
func (s *swift) failStore(w http.ResponseWriter, err error) {
	if errors.Is(err, errNoSuchThing) {
		s.fail(w, http.StatusNotFound, "The resource could not be found.")
		return
	}
	s.c.log.Error("devcloud swift", "error", err)
	s.fail(w, http.StatusInternalServerError, "An error occurred while processing the request.")
}

// swiftTransID is a transaction ID in Swift's shape: "tx", 21 hex digits, "-", the time.
func swiftTransID(now time.Time) string {
	b := make([]byte, 11)
	_, _ = rand.Read(b)
	return fmt.Sprintf("tx%s-%010x", hex.EncodeToString(b)[:21], now.Unix())
}

// swiftTimestamp is X-Timestamp: seconds with five decimals.
func swiftTimestamp(t time.Time) string {
	return fmt.Sprintf("%010d.%05d", t.Unix(), t.Nanosecond()/10000)
}

// lastModified is the Last-Modified header: Swift rounds the timestamp up to the second.
func lastModified(t time.Time) time.Time {
	if t.Nanosecond() == 0 {
		return t.UTC()
	}
	return t.UTC().Truncate(time.Second).Add(time.Second)
}

// swiftError is an error whose text goes to the client as Swift words it (capitalised, as
// no Go error string is); swiftMessage makes one.
type swiftError string

func (e swiftError) Error() string { return string(e) }

func swiftMessage(format string, args ...any) error {
	if len(args) > 0 {
		format = fmt.Sprintf(format, args...)
	}
	return swiftError(format)
}

// ---- metadata ----

// metaFromHeaders collects the X-<kind>-Meta-* headers: set holds the values to store, and
// remove the keys to drop (sent as X-Remove-<kind>-Meta-* or with an empty value).
func metaFromHeaders(h http.Header, kind string) (set map[string]string, remove []string) {
	prefix := "X-" + kind + "-Meta-"
	removePrefix := "X-Remove-" + kind + "-Meta-"
	set = map[string]string{}
	for k, vs := range h {
		switch {
		case strings.HasPrefix(k, prefix) && len(k) > len(prefix):
			if v := strings.TrimSpace(vs[0]); v != "" {
				set[k[len(prefix):]] = v
			} else {
				remove = append(remove, k[len(prefix):])
			}
		case strings.HasPrefix(k, removePrefix) && len(k) > len(removePrefix):
			remove = append(remove, k[len(removePrefix):])
		}
	}
	return set, remove
}

// checkMeta applies Swift's metadata limits; the error is the 400 message.
func checkMeta(meta map[string]string, kind string) error {
	size := 0
	for k, v := range meta {
		if len(k) > maxMetaNameLength {
			return swiftMessage("Metadata name too long: X-%s-Meta-%s", kind, k)
		}
		if len(v) > maxMetaValueLength {
			return swiftMessage("Metadata value longer than %d: X-%s-Meta-%s", maxMetaValueLength, kind, k)
		}
		size += len(k) + len(v)
	}
	if len(meta) > maxMetaCount {
		return swiftMessage("Too many metadata items; max %d", maxMetaCount)
	}
	if size > maxMetaOverallSize {
		return swiftMessage("Total metadata too large; max %d", maxMetaOverallSize)
	}
	return nil
}

// applyMeta updates stored metadata from a request's headers and checks the result.
func applyMeta(meta map[string]string, h http.Header, kind string) (map[string]string, error) {
	out := make(map[string]string, len(meta))
	for k, v := range meta {
		out[k] = v
	}
	set, remove := metaFromHeaders(h, kind)
	for _, k := range remove {
		delete(out, k)
	}
	for k, v := range set {
		out[k] = v
	}
	return out, checkMeta(out, kind)
}

func writeMeta(w http.ResponseWriter, meta map[string]string, kind string) {
	for k, v := range meta {
		w.Header().Set("X-"+kind+"-Meta-"+k, v)
	}
}

// containerHeaders are the container settings Swift keeps besides user metadata.
var containerHeaders = []string{
	"X-Container-Read", "X-Container-Write", "X-Container-Sync-To", "X-Container-Sync-Key",
	"X-Versions-Location", "X-History-Location",
}

// ---- listings ----

// listing is a listing request's parameters.
type listing struct {
	prefix, delimiter, marker, endMarker string
	limit                                int
	json                                 bool
}

func parseListing(r *http.Request) (listing, error) {
	q := r.URL.Query()
	l := listing{
		prefix: q.Get("prefix"), delimiter: q.Get("delimiter"),
		marker: q.Get("marker"), endMarker: q.Get("end_marker"),
		limit: maxListingLimit,
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return l, swiftMessage("Value of limit must be a positive integer")
		}
		if n > maxListingLimit {
			return l, swiftMessage("Maximum limit is %d", maxListingLimit)
		}
		l.limit = n
	}
	switch q.Get("format") {
	case "json":
		l.json = true
	case "":
		l.json = strings.Contains(r.Header.Get("Accept"), "application/json")
	}
	return l, nil
}

// listEntry is one line of a listing: an index into the names listed, or a subdir.
type listEntry struct {
	index  int
	subdir string
}

// page picks one page from names sorted ascending, as Swift's listings do: names after the
// marker and before end_marker, starting with prefix, with everything past the next
// delimiter folded into one subdir entry.
func (l listing) page(names []string) []listEntry {
	var out []listEntry
	for i, name := range names {
		if len(out) >= l.limit {
			break
		}
		if l.endMarker != "" && name >= l.endMarker {
			break
		}
		if (l.marker != "" && name <= l.marker) || !strings.HasPrefix(name, l.prefix) {
			continue
		}
		if l.delimiter != "" {
			if j := strings.Index(name[len(l.prefix):], l.delimiter); j >= 0 {
				dir := name[:len(l.prefix)+j+len(l.delimiter)]
				if dir == l.marker || (len(out) > 0 && out[len(out)-1].subdir == dir) {
					continue
				}
				out = append(out, listEntry{index: -1, subdir: dir})
				continue
			}
		}
		out = append(out, listEntry{index: i})
	}
	return out
}

// writeListing answers a listing: JSON items (item(i) for a name, {"subdir"} for a folded
// prefix), or names one per line, and 204 when a plain listing is empty.
func writeListing(w http.ResponseWriter, r *http.Request, l listing, names []string, item func(i int) any) {
	entries := l.page(names)
	if l.json {
		items := make([]any, 0, len(entries))
		for _, e := range entries {
			if e.index < 0 {
				items = append(items, map[string]string{"subdir": e.subdir})
			} else {
				items = append(items, item(e.index))
			}
		}
		body, _ := json.Marshal(items)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(body)
		}
		return
	}
	if len(entries) == 0 {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	var b strings.Builder
	for _, e := range entries {
		if e.index < 0 {
			b.WriteString(e.subdir)
		} else {
			b.WriteString(names[e.index])
		}
		b.WriteByte('\n')
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(b.String()))
}

// ---- account ----

// accountHeaders sets the account's usage and metadata headers; it returns the containers.
func (s *swift) accountHeaders(w http.ResponseWriter, account string) ([]containerSummary, bool) {
	now := s.c.now()
	a, err := s.store.account(account)
	if err != nil {
		s.failStore(w, err)
		return nil, false
	}
	conts, err := s.store.containers(account, now)
	if err != nil {
		s.failStore(w, err)
		return nil, false
	}
	var objects, bytes int64
	for _, c := range conts {
		objects += c.Count
		bytes += c.Bytes
	}
	created := a.Created
	if created.IsZero() {
		created = now
	}
	h := w.Header()
	h.Set("X-Account-Container-Count", strconv.Itoa(len(conts)))
	h.Set("X-Account-Object-Count", strconv.FormatInt(objects, 10))
	h.Set("X-Account-Bytes-Used", strconv.FormatInt(bytes, 10))
	h.Set("X-Timestamp", swiftTimestamp(created))
	h.Set("X-Put-Timestamp", swiftTimestamp(created))
	h.Set("X-Account-Storage-Policy-Policy-0-Container-Count", strconv.Itoa(len(conts)))
	h.Set("X-Account-Storage-Policy-Policy-0-Object-Count", strconv.FormatInt(objects, 10))
	h.Set("X-Account-Storage-Policy-Policy-0-Bytes-Used", strconv.FormatInt(bytes, 10))
	h.Set("Accept-Ranges", "bytes")
	writeMeta(w, a.Meta, "Account")
	return conts, true
}

func (s *swift) headAccount(w http.ResponseWriter, _ *http.Request, sr swiftRequest) {
	if _, ok := s.accountHeaders(w, sr.account); !ok {
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
}

func (s *swift) getAccount(w http.ResponseWriter, r *http.Request, sr swiftRequest) {
	l, err := parseListing(r)
	if err != nil {
		s.fail(w, http.StatusPreconditionFailed, "%v", err)
		return
	}
	conts, ok := s.accountHeaders(w, sr.account)
	if !ok {
		return
	}
	names := make([]string, len(conts))
	for i, c := range conts {
		names[i] = c.Name
	}
	writeListing(w, r, l, names, func(i int) any {
		c := conts[i]
		return map[string]any{
			"name": c.Name, "count": c.Count, "bytes": c.Bytes,
			"last_modified": c.Created.UTC().Format(swiftTime),
		}
	})
}

func (s *swift) postAccount(w http.ResponseWriter, r *http.Request, sr swiftRequest) {
	var metaErr error
	err := s.store.updateAccount(sr.account, s.c.now(), func(a *accountRecord) {
		meta, err := applyMeta(a.Meta, r.Header, "Account")
		if err != nil {
			metaErr = err
			return
		}
		a.Meta = meta
	})
	if metaErr != nil {
		s.fail(w, http.StatusBadRequest, "%v", metaErr)
		return
	}
	if err != nil {
		s.failStore(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=UTF-8")
	w.WriteHeader(http.StatusNoContent)
}

// ---- containers ----

// applyContainerHeaders updates a container's metadata and settings from a PUT or POST.
func applyContainerHeaders(c *containerRecord, h http.Header) error {
	meta, err := applyMeta(c.Meta, h, "Container")
	if err != nil {
		return err
	}
	c.Meta = meta
	if c.Headers == nil {
		c.Headers = map[string]string{}
	}
	for _, name := range containerHeaders {
		if v, ok := h[name]; ok {
			if v[0] == "" {
				delete(c.Headers, name)
			} else {
				c.Headers[name] = v[0]
			}
		}
		if _, ok := h["X-Remove-"+strings.TrimPrefix(name, "X-")]; ok {
			delete(c.Headers, name)
		}
	}
	return nil
}

func (s *swift) putContainer(w http.ResponseWriter, r *http.Request, sr swiftRequest) {
	var headerErr error
	created, err := s.store.putContainer(sr.account, sr.container, s.c.now(), func(c *containerRecord) {
		headerErr = applyContainerHeaders(c, r.Header)
	})
	if headerErr != nil {
		s.fail(w, http.StatusBadRequest, "%v", headerErr)
		return
	}
	if err != nil {
		s.failStore(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=UTF-8")
	w.Header().Set("Content-Length", "0")
	if created {
		w.WriteHeader(http.StatusCreated)
	} else {
		w.WriteHeader(http.StatusAccepted)
	}
}

func (s *swift) postContainer(w http.ResponseWriter, r *http.Request, sr swiftRequest) {
	var headerErr error
	err := s.store.updateContainer(sr.account, sr.container, func(c *containerRecord) {
		headerErr = applyContainerHeaders(c, r.Header)
	})
	if headerErr != nil {
		s.fail(w, http.StatusBadRequest, "%v", headerErr)
		return
	}
	if err != nil {
		s.failStore(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=UTF-8")
	w.WriteHeader(http.StatusNoContent)
}

func (s *swift) deleteContainer(w http.ResponseWriter, _ *http.Request, sr swiftRequest) {
	err := s.store.deleteContainer(sr.account, sr.container, s.c.now())
	if errors.Is(err, errContainerNotEmpty) {
		s.fail(w, http.StatusConflict, "There was a conflict when trying to complete your request.")
		return
	}
	if err != nil {
		s.failStore(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=UTF-8")
	w.WriteHeader(http.StatusNoContent)
}

// containerHeaders sets a container's usage, settings and metadata headers; it returns its
// objects.
func (s *swift) containerHeaders(w http.ResponseWriter, sr swiftRequest) ([]*objectRecord, bool) {
	c, err := s.store.container(sr.account, sr.container)
	if err != nil {
		s.failStore(w, err)
		return nil, false
	}
	objs, err := s.store.objects(sr.account, sr.container, s.c.now())
	if err != nil {
		s.failStore(w, err)
		return nil, false
	}
	var bytes int64
	for _, o := range objs {
		bytes += o.Bytes
	}
	h := w.Header()
	h.Set("X-Container-Object-Count", strconv.Itoa(len(objs)))
	h.Set("X-Container-Bytes-Used", strconv.FormatInt(bytes, 10))
	h.Set("X-Timestamp", swiftTimestamp(c.Created))
	h.Set("X-Put-Timestamp", swiftTimestamp(c.Created))
	h.Set("Last-Modified", lastModified(c.Created).Format(http.TimeFormat))
	h.Set("X-Storage-Policy", "Policy-0")
	h.Set("Accept-Ranges", "bytes")
	for k, v := range c.Headers {
		h.Set(k, v)
	}
	writeMeta(w, c.Meta, "Container")
	return objs, true
}

func (s *swift) headContainer(w http.ResponseWriter, _ *http.Request, sr swiftRequest) {
	if _, ok := s.containerHeaders(w, sr); !ok {
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
}

func (s *swift) getContainer(w http.ResponseWriter, r *http.Request, sr swiftRequest) {
	l, err := parseListing(r)
	if err != nil {
		s.fail(w, http.StatusPreconditionFailed, "%v", err)
		return
	}
	objs, ok := s.containerHeaders(w, sr)
	if !ok {
		return
	}
	names := make([]string, len(objs))
	for i, o := range objs {
		names[i] = o.Name
	}
	writeListing(w, r, l, names, func(i int) any { return objectListingItem(objs[i]) })
}

// objectListingItem is an object's entry in a JSON container listing. A static large
// object shows its manifest's hash and, as "slo_etag", the ETag it is served with.
func objectListingItem(o *objectRecord) map[string]any {
	item := map[string]any{
		"name": o.Name, "hash": o.Hash, "bytes": o.Bytes, "content_type": o.ContentType,
		"last_modified": o.LastModified.UTC().Format(swiftTime),
	}
	if o.isManifest() {
		item["hash"] = o.ManifestHash
		item["slo_etag"] = `"` + o.Hash + `"`
	}
	return item
}

// ---- shared by objects ----

// normalizeETag strips the quotes and weak marker an ETag header may carry.
func normalizeETag(etag string) string {
	etag = strings.TrimSpace(etag)
	etag = strings.TrimPrefix(etag, "W/")
	return strings.ToLower(strings.Trim(etag, `"`))
}

// deleteAt reads X-Delete-At (Unix seconds) or X-Delete-After (seconds from now); nil when
// neither is sent.
func deleteAt(h http.Header, now time.Time) (*time.Time, error) {
	if v := h.Get("X-Delete-After"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return nil, swiftMessage("Non-integer X-Delete-After")
		}
		// Swift keeps whole seconds, truncated.
		t := now.Add(time.Duration(n) * time.Second).Truncate(time.Second)
		return &t, nil
	}
	if v := h.Get("X-Delete-At"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) {
			return nil, swiftMessage("Non-integer X-Delete-At")
		}
		t := time.Unix(int64(f), 0).UTC()
		if !t.After(now) {
			return nil, swiftMessage("X-Delete-At in past")
		}
		return &t, nil
	}
	return nil, nil
}

// objectURLPath is "/container/object", as Swift names segments and bulk-delete errors.
func objectURLPath(container, object string) string {
	return "/" + url.PathEscape(container) + "/" + escapeObjectName(object)
}

// escapeObjectName quotes an object name but keeps its slashes, as Python's quote does.
func escapeObjectName(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}
