package devcloud

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// objectStore keeps Swift's accounts, containers and objects in files under <DataDir>/swift:
//
//	<account>/.account.json                          account metadata (absent until a POST)
//	<account>/<container>/.container.json            container record
//	<account>/<container>/<sha256(name)>.json        object record (the sidecar)
//	<account>/<container>/<sha256(name)>.<ns>.data   object content, named by its write time
//	.tmp/                                            uploads in progress, emptied at start
//
// Account and container folders are their path-escaped names, never starting with a dot, so
// that no name collides with the store's own files. Objects are named by a hash because their
// names are long and hold slashes; listings read the sidecars, which is fine at dev scale.
//
// Content never passes through memory whole: uploads stream into .tmp while hashing, and
// become visible only when the sidecar is renamed into place (the commit point). Each write
// gets a new data file name, so a crash leaves at worst an orphaned file, never a record that
// points at half an object. Readers open the data file after reading the record; a file
// replaced meanwhile stays readable through the descriptor they hold.
type objectStore struct {
	root string
	tmp  string
	mu   sync.RWMutex // guards record files and the renames that commit or delete objects
}

const (
	accountRecordFile   = ".account.json"
	containerRecordFile = ".container.json"
)

// errNoSuchThing is a missing account record, container or object.
var errNoSuchThing = errors.New("not found")

func newObjectStore(root string) (*objectStore, error) {
	s := &objectStore{root: root, tmp: filepath.Join(root, ".tmp")}
	if err := os.RemoveAll(s.tmp); err != nil {
		return nil, fmt.Errorf("clear swift uploads: %w", err)
	}
	if err := os.MkdirAll(s.tmp, 0o755); err != nil {
		return nil, fmt.Errorf("create swift folder: %w", err)
	}
	return s, nil
}

// accountRecord is an account's metadata. Accounts exist implicitly.
type accountRecord struct {
	Name    string            `json:"name"`
	Created time.Time         `json:"created"`
	Meta    map[string]string `json:"meta"` // X-Account-Meta-<key>
}

// containerRecord is a container and its metadata.
type containerRecord struct {
	Name    string            `json:"name"`
	Created time.Time         `json:"created"`
	Meta    map[string]string `json:"meta"`    // X-Container-Meta-<key>
	Headers map[string]string `json:"headers"` // X-Container-Read and the like, as sent
}

// objectRecord is an object's sidecar.
type objectRecord struct {
	Name         string            `json:"name"`
	Data         string            `json:"data,omitempty"` // file name in the container folder; empty for a manifest
	Bytes        int64             `json:"bytes"`
	Hash         string            `json:"hash"` // md5 hex of the content; for a manifest, of its segments' etags
	ContentType  string            `json:"content_type"`
	LastModified time.Time         `json:"last_modified"`
	DeleteAt     *time.Time        `json:"delete_at,omitempty"`
	Meta         map[string]string `json:"meta"`              // X-Object-Meta-<key>
	Headers      map[string]string `json:"headers,omitempty"` // Content-Disposition and the like
	// Segments makes the object a static large object: its content is theirs, in order.
	Segments []sloSegment `json:"segments,omitempty"`
	// ManifestHash is the md5 of the manifest as Swift stores it (the listing's "hash" of a
	// static large object).
	ManifestHash string `json:"manifest_hash,omitempty"`
}

// sloSegment is one segment of a static large object, as Swift records it at PUT time.
type sloSegment struct {
	Name         string    `json:"name"` // "/container/object"
	Hash         string    `json:"hash"`
	Bytes        int64     `json:"bytes"`
	ContentType  string    `json:"content_type"`
	LastModified time.Time `json:"last_modified"`
}

func (o *objectRecord) isManifest() bool { return len(o.Segments) > 0 }

func (o *objectRecord) expired(now time.Time) bool {
	return o.DeleteAt != nil && !now.Before(*o.DeleteAt)
}

// dirName maps an account or container name to a folder name: path-escaped, a leading dot
// escaped too, and hashed when too long for a file name.
func dirName(name string) string {
	d := url.PathEscape(name)
	if strings.HasPrefix(d, ".") {
		d = "%2E" + d[1:]
	}
	if len(d) > 200 {
		sum := sha256.Sum256([]byte(name))
		d = "%%" + hex.EncodeToString(sum[:])
	}
	return d
}

func objectKey(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:])
}

func (s *objectStore) accountDir(account string) string {
	return filepath.Join(s.root, dirName(account))
}

func (s *objectStore) containerDir(account, container string) string {
	return filepath.Join(s.accountDir(account), dirName(container))
}

func (s *objectStore) recordPath(account, container, object string) string {
	return filepath.Join(s.containerDir(account, container), objectKey(object)+".json")
}

// dataPath is where an object's content lives.
func (s *objectStore) dataPath(account, container string, o *objectRecord) string {
	return filepath.Join(s.containerDir(account, container), o.Data)
}

// newDataName names the data file of a new write of an object.
func newDataName(object string, now time.Time) string {
	return objectKey(object) + "." + strconv.FormatInt(now.UnixNano(), 10) + ".data"
}

// writeRecord writes v as JSON to path through a temporary file and a rename.
func (s *objectStore) writeRecord(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(s.tmp, "record-*")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// readRecord reads a JSON record; a missing file is errNoSuchThing.
func readRecord(path string, v any) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return errNoSuchThing
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	return nil
}

// account returns an account's record; an account nobody wrote to has an empty one.
func (s *objectStore) account(account string) (*accountRecord, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a := &accountRecord{Name: account}
	err := readRecord(filepath.Join(s.accountDir(account), accountRecordFile), a)
	if err != nil && !errors.Is(err, errNoSuchThing) {
		return nil, err
	}
	return a, nil
}

// updateAccount applies change to the account's record and saves it.
func (s *objectStore) updateAccount(account string, now time.Time, change func(*accountRecord)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	dir := s.accountDir(account)
	a := &accountRecord{Name: account}
	err := readRecord(filepath.Join(dir, accountRecordFile), a)
	if errors.Is(err, errNoSuchThing) {
		a.Created = now
	} else if err != nil {
		return err
	}
	change(a)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return s.writeRecord(filepath.Join(dir, accountRecordFile), a)
}

// container returns a container's record, or errNoSuchThing.
func (s *objectStore) container(account, container string) (*containerRecord, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.containerLocked(account, container)
}

func (s *objectStore) containerLocked(account, container string) (*containerRecord, error) {
	c := &containerRecord{}
	if err := readRecord(filepath.Join(s.containerDir(account, container), containerRecordFile), c); err != nil {
		return nil, err
	}
	return c, nil
}

// putContainer creates a container, or applies change to an existing one; it reports
// whether it created it.
func (s *objectStore) putContainer(account, container string, now time.Time, change func(*containerRecord)) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.containerLocked(account, container)
	created := errors.Is(err, errNoSuchThing)
	switch {
	case created:
		c = &containerRecord{Name: container, Created: now, Meta: map[string]string{}, Headers: map[string]string{}}
	case err != nil:
		return false, err
	}
	change(c)
	dir := s.containerDir(account, container)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	return created, s.writeRecord(filepath.Join(dir, containerRecordFile), c)
}

// updateContainer applies change to an existing container.
func (s *objectStore) updateContainer(account, container string, change func(*containerRecord)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.containerLocked(account, container)
	if err != nil {
		return err
	}
	change(c)
	return s.writeRecord(filepath.Join(s.containerDir(account, container), containerRecordFile), c)
}

// errContainerNotEmpty refuses to delete a container that holds objects.
var errContainerNotEmpty = errors.New("container not empty")

// deleteContainer removes an empty container (expired objects do not count).
func (s *objectStore) deleteContainer(account, container string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.containerLocked(account, container); err != nil {
		return err
	}
	objs, err := s.objectsLocked(account, container, now)
	if err != nil {
		return err
	}
	if len(objs) > 0 {
		return errContainerNotEmpty
	}
	return os.RemoveAll(s.containerDir(account, container))
}

// containerSummary is a container with its usage.
type containerSummary struct {
	containerRecord
	Count int64
	Bytes int64
}

// containers lists an account's containers by name, with their usage.
func (s *objectStore) containers(account string, now time.Time) ([]containerSummary, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	entries, err := os.ReadDir(s.accountDir(account))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []containerSummary
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		var c containerRecord
		if err := readRecord(filepath.Join(s.accountDir(account), e.Name(), containerRecordFile), &c); err != nil {
			continue // a folder being created or removed
		}
		objs, err := s.objectsLocked(account, c.Name, now)
		if err != nil {
			return nil, err
		}
		sum := containerSummary{containerRecord: c}
		for _, o := range objs {
			sum.Count++
			sum.Bytes += o.Bytes
		}
		out = append(out, sum)
	}
	slices.SortFunc(out, func(a, b containerSummary) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// objects lists a container's live objects by name; errNoSuchThing when it does not exist.
func (s *objectStore) objects(account, container string, now time.Time) ([]*objectRecord, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, err := s.containerLocked(account, container); err != nil {
		return nil, err
	}
	return s.objectsLocked(account, container, now)
}

func (s *objectStore) objectsLocked(account, container string, now time.Time) ([]*objectRecord, error) {
	dir := s.containerDir(account, container)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*objectRecord
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".json") {
			continue
		}
		o := &objectRecord{}
		if err := readRecord(filepath.Join(dir, name), o); err != nil {
			if errors.Is(err, errNoSuchThing) {
				continue
			}
			return nil, err
		}
		if !o.expired(now) {
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b *objectRecord) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// object returns a live object's record, or errNoSuchThing.
func (s *objectStore) object(account, container, object string, now time.Time) (*objectRecord, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.objectLocked(account, container, object, now)
}

func (s *objectStore) objectLocked(account, container, object string, now time.Time) (*objectRecord, error) {
	o := &objectRecord{}
	if err := readRecord(s.recordPath(account, container, object), o); err != nil {
		return nil, err
	}
	if o.Name != object || o.expired(now) {
		return nil, errNoSuchThing
	}
	return o, nil
}

// commitObject makes an object visible: it moves its uploaded content (tmpData, empty for a
// manifest) into the container and writes its record, then drops the content it replaced.
// errNoSuchThing means the container is gone.
func (s *objectStore) commitObject(account, container string, o *objectRecord, tmpData string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.containerLocked(account, container); err != nil {
		return err
	}
	old := &objectRecord{}
	if err := readRecord(s.recordPath(account, container, o.Name), old); err != nil {
		old = nil
	}
	if tmpData != "" {
		if err := os.Rename(tmpData, s.dataPath(account, container, o)); err != nil {
			return err
		}
	}
	if err := s.writeRecord(s.recordPath(account, container, o.Name), o); err != nil {
		if tmpData != "" {
			_ = os.Remove(s.dataPath(account, container, o))
		}
		return err
	}
	if old != nil && old.Data != "" && old.Data != o.Data {
		_ = os.Remove(s.dataPath(account, container, old))
	}
	return nil
}

// updateObject applies change to a live object's record.
func (s *objectStore) updateObject(account, container, object string, now time.Time, change func(*objectRecord)) (*objectRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.objectLocked(account, container, object, now)
	if err != nil {
		return nil, err
	}
	change(o)
	return o, s.writeRecord(s.recordPath(account, container, object), o)
}

// deleteObject removes an object (its record, then its content) and returns what it was;
// errNoSuchThing when there was no live object.
func (s *objectStore) deleteObject(account, container, object string, now time.Time) (*objectRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := &objectRecord{}
	if err := readRecord(s.recordPath(account, container, object), o); err != nil {
		return nil, err
	}
	if o.Name != object {
		return nil, errNoSuchThing
	}
	if err := os.Remove(s.recordPath(account, container, object)); err != nil {
		return nil, err
	}
	if o.Data != "" {
		_ = os.Remove(s.dataPath(account, container, o))
	}
	if o.expired(now) {
		return nil, errNoSuchThing
	}
	return o, nil
}
