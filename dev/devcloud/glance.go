package devcloud

import (
	"crypto/md5"
	"crypto/sha512"
	"encoding/hex"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// glanceTime is the timestamp format Glance writes.
const glanceTime = "2006-01-02T15:04:05Z"

// Glance's api_limit_max and limit_param_default.
const (
	glanceMaxLimit     = 1000
	glanceDefaultLimit = 25
)

// glanceImageSize is the size every seeded image reports: the images have no data, the
// guest agent is started in place of booting them.
const glanceImageSize = 536870912

// routeImage registers Glance v2 under /image/v2: the images of the configuration, read-only.
//
//	GET /image/ (no token)     version: the versions document
//	GET /image/v2/images       image.list
//	GET /image/v2/images/{id}  image.get
func (c *Cloud) routeImage() {
	// gophercloud reads the versions document of the unversioned endpoint in the catalog.
	c.routePublic("image", "version", "GET /image/{$}", c.imageVersions)
	c.routePublic("image", "version", "GET /image/versions", c.imageVersions)
	c.route("image", "image.list", "GET /image/v2/images", c.listImages)
	c.route("image", "image.get", "GET /image/v2/images/{id}", c.showImage)
}

// imageVersions is Glance's versions document: 300 Multiple Choices, as Glance answers it.
func (c *Cloud) imageVersions(w http.ResponseWriter, _ *http.Request) {
	var versions []any
	for i, id := range []string{"v2.9", "v2.8", "v2.7", "v2.6", "v2.5", "v2.4", "v2.3", "v2.2", "v2.1", "v2.0"} {
		status := "SUPPORTED"
		if i == 0 {
			status = "CURRENT"
		}
		versions = append(versions, map[string]any{
			"id": id, "status": status,
			"links": []any{map[string]any{"rel": "self", "href": c.baseURL + "/image/v2/"}},
		})
	}
	writeJSON(w, http.StatusMultipleChoices, map[string]any{"versions": versions})
}

// imageView is a configured image as Glance shows it. Everything in it derives from the
// configuration, so it is the same across restarts and machines.
func (c *Cloud) imageView(img Image) map[string]any {
	id := stableID("image", img.Name)
	md5sum := md5.Sum([]byte(img.Name))
	sha := sha512.Sum512([]byte(img.Name))
	tags := slices.Clone(img.Tags)
	if tags == nil {
		tags = []string{}
	}
	created := glanceSeedTime().Format(glanceTime)
	v := map[string]any{
		"id": id, "name": img.Name, "status": "active", "visibility": "public",
		"container_format": "bare", "disk_format": "qcow2", "tags": tags,
		"min_disk": img.MinDisk, "min_ram": img.MinRAM, "size": glanceImageSize,
		"virtual_size": nil, "checksum": hex.EncodeToString(md5sum[:]),
		"os_hash_algo": "sha512", "os_hash_value": hex.EncodeToString(sha[:]),
		"owner": c.projectIDByName("admin"), "protected": false, "os_hidden": false,
		"created_at": created, "updated_at": created,
		"self": "/v2/images/" + id, "file": "/v2/images/" + id + "/file", "schema": "/v2/schemas/image",
	}
	// Glance shows custom properties as keys of their own, beside the base ones.
	for k, val := range img.Properties {
		if _, base := v[k]; !base {
			v[k] = val
		}
	}
	return v
}

// glanceSeedTime is when the seeded images say they were made.
func glanceSeedTime() time.Time { return time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC) }

func (c *Cloud) showImage(w http.ResponseWriter, r *http.Request, _ *token) {
	id := r.PathValue("id")
	for _, img := range c.cfg.Images {
		if stableID("image", img.Name) == id {
			writeJSON(w, http.StatusOK, c.imageView(img))
			return
		}
	}
	c.fail(w, "image", http.StatusNotFound, "No image found with ID %s", id)
}

// listImages answers GET /v2/images with Glance's filters (name, id, status, visibility,
// owner, container_format, disk_format, tag: repeated, all must match), its sort (sort_key
// and sort_dir, or sort=key:dir; by default newest first, then by ID descending) and
// limit/marker paging with a relative "next" link.
func (c *Cloud) listImages(w http.ResponseWriter, r *http.Request, _ *token) {
	q := r.URL.Query()
	limit, err := queryLimit(q, glanceDefaultLimit, glanceMaxLimit)
	if err != nil {
		c.fail(w, "image", http.StatusBadRequest, "%v", err)
		return
	}
	sortKey, sortDir := q.Get("sort_key"), q.Get("sort_dir")
	if s := q.Get("sort"); s != "" {
		first, _, _ := strings.Cut(s, ",")
		sortKey, sortDir, _ = strings.Cut(first, ":")
	}
	if sortKey == "" {
		sortKey = "created_at"
	}
	if sortDir == "" {
		sortDir = "desc"
	}
	if !slices.Contains([]string{"name", "id", "created_at", "updated_at", "status", "size", "min_disk", "min_ram"}, sortKey) {
		c.fail(w, "image", http.StatusBadRequest, "Invalid sort key: %s. It must be one of the following: name, id, created_at, updated_at, status, size, min_disk, min_ram.", sortKey)
		return
	}
	if sortDir != "asc" && sortDir != "desc" {
		c.fail(w, "image", http.StatusBadRequest, "Invalid sort direction: %s", sortDir)
		return
	}

	var views []map[string]any
	for _, img := range c.cfg.Images {
		v := c.imageView(img)
		if !imageMatches(q, v, img.Tags) {
			continue
		}
		views = append(views, v)
	}
	slices.SortStableFunc(views, func(a, b map[string]any) int {
		n := compareImageField(a[sortKey], b[sortKey])
		if n == 0 {
			n = strings.Compare(a["id"].(string), b["id"].(string))
		}
		if sortDir == "desc" {
			n = -n
		}
		return n
	})
	page, more, found := pageByMarker(views, func(v map[string]any) string { return v["id"].(string) }, q.Get("marker"), limit)
	if !found {
		c.fail(w, "image", http.StatusBadRequest, "Invalid marker. Image %s could not be found.", q.Get("marker"))
		return
	}
	resp := map[string]any{"images": page, "schema": "/v2/schemas/images", "first": "/v2/images"}
	if page == nil {
		resp["images"] = []any{}
	}
	if more {
		next := r.URL.Query()
		next.Set("marker", page[len(page)-1]["id"].(string))
		next.Set("limit", strconv.Itoa(limit))
		resp["next"] = "/v2/images?" + next.Encode()
	}
	writeJSON(w, http.StatusOK, resp)
}

// imageMatches applies the list filters to one image's view.
func imageMatches(q map[string][]string, view map[string]any, tags []string) bool {
	for _, key := range []string{"name", "id", "status", "owner", "container_format", "disk_format"} {
		if vals, ok := q[key]; ok && !slices.Contains(vals, view[key].(string)) {
			return false
		}
	}
	if vals, ok := q["visibility"]; ok && !slices.Contains(vals, "public") && !slices.Contains(vals, "all") {
		return false
	}
	if vals, ok := q["os_hidden"]; ok && slices.Contains(vals, "true") {
		return false
	}
	for _, t := range q["tag"] {
		if !slices.Contains(tags, t) {
			return false
		}
	}
	return true
}

func compareImageField(a, b any) int {
	switch a := a.(type) {
	case string:
		return strings.Compare(a, b.(string))
	case int:
		return a - b.(int)
	}
	return 0
}
