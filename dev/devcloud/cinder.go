package devcloud

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// cinderTime is the timestamp format Cinder writes: no zone, microseconds.
const cinderTime = "2006-01-02T15:04:05.000000"

// cinderMaxLimit is Cinder's osapi_max_limit: the most volumes one page lists.
const cinderMaxLimit = 1000

// defaultVolumeType is the type Cinder gives a volume created without one.
const defaultVolumeType = "__DEFAULT__"

// cinderFault is an error a handler found while holding c.mu; it is written once the lock is
// released, in Cinder's shape.
type cinderFault struct {
	status int
	msg    string
}

func (c *Cloud) writeCinderFault(w http.ResponseWriter, f *cinderFault) {
	c.fail(w, "volume", f.status, "%s", f.msg)
}

// routeVolume registers Cinder v3 under /volume/v3/{project_id}, and finishes the volume work
// (creation, deletion, extension) that the last run left half done.
//
//	GET    /volume/v3/                          version document (no token)
//	POST   /volumes                  volume.create
//	GET    /volumes, /volumes/detail volume.list
//	GET    /volumes/{id}             volume.get
//	PUT    /volumes/{id}             volume.update
//	DELETE /volumes/{id}             volume.delete
//	POST   /volumes/{id}/action      volume.action.<key>: os-extend, os-reset_status (admin)
//	GET    /types, /types/{id}       volume_type.list, volume_type.get
func (c *Cloud) routeVolume() {
	c.routePublic("volume", "version", "GET /volume/v3/{$}", c.volumeVersion)
	const base = "/volume/v3/{project_id}"
	c.route("volume", "volume.create", "POST "+base+"/volumes", c.createVolume)
	c.route("volume", "volume.list", "GET "+base+"/volumes", c.listVolumes)
	c.route("volume", "volume.list", "GET "+base+"/volumes/detail", c.listVolumes)
	c.route("volume", "volume.get", "GET "+base+"/volumes/{id}", c.showVolume)
	c.route("volume", "volume.update", "PUT "+base+"/volumes/{id}", c.updateVolume)
	c.route("volume", "volume.delete", "DELETE "+base+"/volumes/{id}", c.deleteVolume)
	// The action's operation name depends on the body, so this route applies the fault rules
	// itself once it has read the action's key (and only then: a rule counts a call once).
	c.mux.HandleFunc("POST "+base+"/volumes/{id}/action", c.volumeAction)
	c.route("volume", "volume_type.list", "GET "+base+"/types", c.listVolumeTypes)
	c.route("volume", "volume_type.get", "GET "+base+"/types/{id}", c.showVolumeType)
	c.resumeVolumeWork()
}

func (c *Cloud) volumeVersion(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"versions": []any{map[string]any{
		"id": "v3.0", "status": "CURRENT", "version": "3.70", "min_version": "3.0",
		"updated": "2023-08-31T00:00:00Z",
		"links":   []any{map[string]any{"rel": "self", "href": c.baseURL + "/volume/v3/"}},
		"media-types": []any{map[string]any{
			"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3",
		}},
	}}})
}

// volumeDir is the folder that holds a volume's data.
func (c *Cloud) volumeDir(id string) string { return filepath.Join(c.cfg.DataDir, "volumes", id) }

// volumeTypeView is one of the cloud's fixed volume types, found by name or ID.
func volumeTypeView(ref string) (map[string]any, bool) {
	for _, t := range []struct{ name, description, backend string }{
		{defaultVolumeType, "Default Volume Type", ""},
		{"lvmdriver-1", "", "lvmdriver-1"},
	} {
		id := stableID("volume_type", t.name)
		if ref != t.name && ref != id {
			continue
		}
		specs := map[string]string{}
		if t.backend != "" {
			specs["volume_backend_name"] = t.backend
		}
		var description any
		if t.description != "" {
			description = t.description
		}
		return map[string]any{
			"id": id, "name": t.name, "description": description, "is_public": true,
			"os-volume-type-access:is_public": true, "extra_specs": specs, "qos_specs_id": nil,
		}, true
	}
	return nil, false
}

func (c *Cloud) listVolumeTypes(w http.ResponseWriter, r *http.Request, tok *token) {
	if !c.cinderProjectAllowed(w, r, tok) {
		return
	}
	types := []any{}
	for _, name := range []string{defaultVolumeType, "lvmdriver-1"} {
		t, _ := volumeTypeView(name)
		types = append(types, t)
	}
	writeJSON(w, http.StatusOK, map[string]any{"volume_types": types})
}

func (c *Cloud) showVolumeType(w http.ResponseWriter, r *http.Request, tok *token) {
	if !c.cinderProjectAllowed(w, r, tok) {
		return
	}
	t, ok := volumeTypeView(r.PathValue("id"))
	if !ok {
		c.fail(w, "volume", http.StatusNotFound, "Volume type %s could not be found.", r.PathValue("id"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"volume_type": t})
}

// cinderProjectAllowed checks the project ID of the URL against the token: only an admin
// may use another project's endpoint. It answers the call when not.
func (c *Cloud) cinderProjectAllowed(w http.ResponseWriter, r *http.Request, tok *token) bool {
	if p := r.PathValue("project_id"); p != tok.ProjectID && !tok.isAdmin() {
		c.fail(w, "volume", http.StatusForbidden, "Project %s in the URL is not the token's project.", p)
		return false
	}
	return true
}

// volumeLocked finds a volume the token may act on; policy names the action in the 403
// message, as Cinder's policy engine does.
func (c *Cloud) volumeLocked(tok *token, id, policy string) (*volume, *cinderFault) {
	v := c.st.Volumes[id]
	if v == nil {
		return nil, &cinderFault{http.StatusNotFound, fmt.Sprintf("Volume %s could not be found.", id)}
	}
	if !tok.owns(v.ProjectID) {
		return nil, &cinderFault{http.StatusForbidden, fmt.Sprintf("Policy doesn't allow %s to be performed.", policy)}
	}
	return v, nil
}

// volumeView is a volume as Cinder's detailed view shows it.
func (c *Cloud) volumeView(v *volume, tok *token) map[string]any {
	attachments := make([]any, 0, len(v.Attachments))
	for _, a := range v.Attachments {
		attachments = append(attachments, map[string]any{
			"id": v.ID, "attachment_id": a.ID, "volume_id": v.ID, "server_id": a.ServerID,
			"device": a.Device, "attached_at": a.AttachedAt.Format(cinderTime), "host_name": "devcloud",
		})
	}
	metadata := v.Metadata
	if metadata == nil {
		metadata = map[string]string{}
	}
	view := map[string]any{
		"id":                           v.ID,
		"name":                         v.Name,
		"description":                  v.Description,
		"size":                         v.Size,
		"status":                       v.Status,
		"attachments":                  attachments,
		"metadata":                     metadata,
		"volume_type":                  v.VolumeType,
		"bootable":                     strconv.FormatBool(v.Bootable),
		"created_at":                   v.Created.Format(cinderTime),
		"updated_at":                   v.Updated.Format(cinderTime),
		"os-vol-tenant-attr:tenant_id": v.ProjectID,
		"user_id":                      v.UserID,
		"availability_zone":            "nova",
		"multiattach":                  false,
		"encrypted":                    false,
		"replication_status":           "disabled",
		"snapshot_id":                  nil,
		"source_volid":                 nil,
		"consistencygroup_id":          nil,
		"group_id":                     nil,
		"migration_status":             nil,
		"links":                        c.volumeLinks(v),
	}
	if tok.isAdmin() {
		view["os-vol-host-attr:host"] = "devcloud@lvmdriver-1#lvmdriver-1"
		view["os-vol-mig-status-attr:migstat"] = nil
		view["os-vol-mig-status-attr:name_id"] = nil
	}
	return view
}

func (c *Cloud) volumeLinks(v *volume) []any {
	return []any{
		map[string]any{"rel": "self", "href": c.baseURL + "/volume/v3/" + v.ProjectID + "/volumes/" + v.ID},
		map[string]any{"rel": "bookmark", "href": c.baseURL + "/volume/" + v.ProjectID + "/volumes/" + v.ID},
	}
}

func (c *Cloud) createVolume(w http.ResponseWriter, r *http.Request, tok *token) {
	if !c.cinderProjectAllowed(w, r, tok) {
		return
	}
	var req struct {
		Volume *struct {
			Size             *int              `json:"size"`
			Name             string            `json:"name"`
			Description      string            `json:"description"`
			Metadata         map[string]string `json:"metadata"`
			VolumeType       string            `json:"volume_type"`
			AvailabilityZone string            `json:"availability_zone"`
			SnapshotID       string            `json:"snapshot_id"`
			SourceVolID      string            `json:"source_volid"`
			ImageRef         string            `json:"imageRef"`
			BackupID         string            `json:"backup_id"`
		} `json:"volume"`
	}
	if err := readJSON(r, &req); err != nil {
		c.fail(w, "volume", http.StatusBadRequest, "Invalid input received: %v", err)
		return
	}
	in := req.Volume
	switch {
	case in == nil:
		c.fail(w, "volume", http.StatusBadRequest, "Missing required element 'volume' in request body.")
		return
	case in.Size == nil:
		c.fail(w, "volume", http.StatusBadRequest, "Invalid input for field/attribute volume. Value: size. 'size' is a required property")
		return
	case *in.Size < 1:
		c.fail(w, "volume", http.StatusBadRequest, "Invalid input for field/attribute size. Value: %d. %d is less than the minimum of 1", *in.Size, *in.Size)
		return
	case in.AvailabilityZone != "" && in.AvailabilityZone != "nova":
		c.fail(w, "volume", http.StatusBadRequest, "Invalid input received: Availability zone '%s' is invalid.", in.AvailabilityZone)
		return
	case in.SnapshotID != "" || in.SourceVolID != "" || in.ImageRef != "" || in.BackupID != "":
		c.fail(w, "volume", http.StatusBadRequest, "Invalid input received: the devcloud creates empty volumes only, not from a snapshot, volume, image or backup.")
		return
	}
	typeName := defaultVolumeType
	if in.VolumeType != "" {
		t, ok := volumeTypeView(in.VolumeType)
		if !ok {
			c.fail(w, "volume", http.StatusNotFound, "Volume type with name %s could not be found.", in.VolumeType)
			return
		}
		typeName = t["name"].(string)
	}
	metadata := in.Metadata
	if metadata == nil {
		metadata = map[string]string{}
	}
	now := c.now()
	v := &volume{
		ID: newID(), Name: in.Name, Description: in.Description, ProjectID: tok.ProjectID,
		UserID: tok.UserID, Size: *in.Size, Status: "creating", VolumeType: typeName,
		Metadata: metadata, Attachments: []volumeAttachment{}, Created: now, Updated: now,
	}
	c.mu.Lock()
	c.st.Volumes[v.ID] = v
	view := c.volumeView(v, tok)
	c.saveLocked()
	c.mu.Unlock()
	c.async(func(context.Context) { c.provisionVolume(v.ID) })
	writeJSON(w, http.StatusAccepted, map[string]any{"volume": view})
}

// provisionVolume makes a creating volume's folder and marks it available (or error).
func (c *Cloud) provisionVolume(id string) {
	err := os.MkdirAll(c.volumeDir(id), 0o755)
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.st.Volumes[id]
	if v == nil || v.Status != "creating" {
		return
	}
	v.Status = "available"
	if err != nil {
		c.log.Error("create volume folder", "volume", id, "error", err)
		v.Status = "error"
	}
	v.Updated = c.now()
	c.saveLocked()
}

// removeVolume deletes a deleting volume's folder, then its record.
func (c *Cloud) removeVolume(id string) {
	err := os.RemoveAll(c.volumeDir(id))
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.st.Volumes[id]
	if v == nil || v.Status != "deleting" {
		return
	}
	if err != nil {
		c.log.Error("delete volume folder", "volume", id, "error", err)
		v.Status = "error_deleting"
		v.Updated = c.now()
	} else {
		delete(c.st.Volumes, id)
	}
	c.saveLocked()
}

// finishExtend ends an extension (the size is already the new one) and gives the volume back
// the status it had before; after a restart, which forgot it, the attachments tell.
func (c *Cloud) finishExtend(id, status string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.st.Volumes[id]
	if v == nil || v.Status != "extending" {
		return
	}
	switch {
	case status != "":
		v.Status = status
	case len(v.Attachments) > 0:
		v.Status = "in-use"
	default:
		v.Status = "available"
	}
	v.Updated = c.now()
	c.saveLocked()
}

// resumeVolumeWork finishes, after a restart, what a stop interrupted.
func (c *Cloud) resumeVolumeWork() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, v := range c.st.Volumes {
		switch v.Status {
		case "creating":
			c.async(func(context.Context) { c.provisionVolume(id) })
		case "deleting":
			c.async(func(context.Context) { c.removeVolume(id) })
		case "extending":
			c.async(func(context.Context) { c.finishExtend(id, "") })
		}
	}
}

func (c *Cloud) showVolume(w http.ResponseWriter, r *http.Request, tok *token) {
	if !c.cinderProjectAllowed(w, r, tok) {
		return
	}
	c.mu.Lock()
	v, f := c.volumeLocked(tok, r.PathValue("id"), "volume:get")
	var view map[string]any
	if f == nil {
		view = c.volumeView(v, tok)
	}
	c.mu.Unlock()
	if f != nil {
		c.writeCinderFault(w, f)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"volume": view})
}

// listVolumes answers GET /volumes (id, name and links) and /volumes/detail, newest first
// as Cinder sorts by default, with the filters name, status and metadata, and limit/marker
// paging with a "next" link in volumes_links. An admin's all_tenants lists every project's.
func (c *Cloud) listVolumes(w http.ResponseWriter, r *http.Request, tok *token) {
	if !c.cinderProjectAllowed(w, r, tok) {
		return
	}
	q := r.URL.Query()
	detail := strings.HasSuffix(r.URL.Path, "/detail")
	allTenants := tok.isAdmin() && q.Has("all_tenants") && !slices.Contains([]string{"0", "false", "False"}, q.Get("all_tenants"))
	var metadata map[string]string
	if s := q.Get("metadata"); s != "" {
		var err error
		if metadata, err = parseCinderMetadataFilter(s); err != nil {
			c.fail(w, "volume", http.StatusBadRequest, "Invalid input received: metadata filter %q: %v", s, err)
			return
		}
	}
	limit, err := queryLimit(q, cinderMaxLimit, cinderMaxLimit)
	if err != nil {
		c.fail(w, "volume", http.StatusBadRequest, "Invalid input received: %v", err)
		return
	}

	c.mu.Lock()
	var matched []*volume
	for _, v := range c.st.Volumes {
		switch {
		case !allTenants && v.ProjectID != tok.ProjectID,
			allTenants && q.Has("project_id") && v.ProjectID != q.Get("project_id"),
			q.Has("name") && v.Name != q.Get("name"),
			q.Has("status") && v.Status != q.Get("status"),
			!metadataContains(v.Metadata, metadata):
			continue
		}
		matched = append(matched, v)
	}
	slices.SortFunc(matched, func(a, b *volume) int {
		if n := b.Created.Compare(a.Created); n != 0 {
			return n
		}
		return strings.Compare(b.ID, a.ID)
	})
	page, more, found := pageByMarker(matched, func(v *volume) string { return v.ID }, q.Get("marker"), limit)
	views := make([]any, 0, len(page))
	for _, v := range page {
		if detail {
			views = append(views, c.volumeView(v, tok))
		} else {
			views = append(views, map[string]any{"id": v.ID, "name": v.Name, "links": c.volumeLinks(v)})
		}
	}
	c.mu.Unlock()

	if !found {
		c.fail(w, "volume", http.StatusBadRequest, "Marker %s could not be found.", q.Get("marker"))
		return
	}
	resp := map[string]any{"volumes": views}
	if more {
		resp["volumes_links"] = []any{map[string]any{"rel": "next", "href": c.nextPageURL(r, page[len(page)-1].ID)}}
	}
	writeJSON(w, http.StatusOK, resp)
}

// parseCinderMetadataFilter reads the metadata query parameter, which clients send as a
// Python dict literal ({'k':'v'}, as gophercloud does) or as JSON.
func parseCinderMetadataFilter(s string) (map[string]string, error) {
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err == nil {
		return m, nil
	}
	if err := json.Unmarshal([]byte(strings.ReplaceAll(s, "'", `"`)), &m); err != nil {
		return nil, err
	}
	return m, nil
}

// metadataContains tells whether every key of want has the same value in have.
func metadataContains(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func (c *Cloud) updateVolume(w http.ResponseWriter, r *http.Request, tok *token) {
	if !c.cinderProjectAllowed(w, r, tok) {
		return
	}
	var req struct {
		Volume *struct {
			Name        *string           `json:"name"`
			Description *string           `json:"description"`
			Metadata    map[string]string `json:"metadata"`
		} `json:"volume"`
	}
	if err := readJSON(r, &req); err != nil {
		c.fail(w, "volume", http.StatusBadRequest, "Invalid input received: %v", err)
		return
	}
	if req.Volume == nil {
		c.fail(w, "volume", http.StatusBadRequest, "Missing required element 'volume' in request body.")
		return
	}
	c.mu.Lock()
	v, f := c.volumeLocked(tok, r.PathValue("id"), "volume:update")
	var view map[string]any
	if f == nil {
		if in := req.Volume; in.Name != nil {
			v.Name = *in.Name
		}
		if in := req.Volume; in.Description != nil {
			v.Description = *in.Description
		}
		if in := req.Volume; in.Metadata != nil {
			v.Metadata = in.Metadata
		}
		v.Updated = c.now()
		view = c.volumeView(v, tok)
		c.saveLocked()
	}
	c.mu.Unlock()
	if f != nil {
		c.writeCinderFault(w, f)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"volume": view})
}

// deleteVolume marks a volume deleting and removes its folder and record in the background.
// Like Cinder, it refuses a volume that is attached or busy.
func (c *Cloud) deleteVolume(w http.ResponseWriter, r *http.Request, tok *token) {
	if !c.cinderProjectAllowed(w, r, tok) {
		return
	}
	c.mu.Lock()
	v, f := c.volumeLocked(tok, r.PathValue("id"), "volume:delete")
	if f == nil {
		if !slices.Contains([]string{"available", "error", "error_extending", "error_deleting"}, v.Status) || len(v.Attachments) > 0 {
			f = &cinderFault{http.StatusBadRequest, "Invalid volume: Volume status must be available or error or error_restoring or error_extending or error_managing and must not be migrating, attached, belong to a group, have snapshots, awaiting a transfer, or be disassociated from snapshots after volume transfer."}
		} else {
			v.Status = "deleting"
			v.Updated = c.now()
			c.saveLocked()
		}
	}
	c.mu.Unlock()
	if f != nil {
		c.writeCinderFault(w, f)
		return
	}
	id := v.ID
	c.async(func(context.Context) { c.removeVolume(id) })
	w.WriteHeader(http.StatusAccepted)
}

// volumeStatuses are the statuses os-reset_status accepts.
func volumeStatuses() []string {
	return []string{"creating", "available", "in-use", "attaching", "detaching", "extending",
		"deleting", "error", "error_deleting", "error_extending", "maintenance", "reserved"}
}

// volumeAction answers POST /volumes/{id}/action. The body has one key, the action, which
// names the operation that fault rules match ("volume.action.os-extend").
func (c *Cloud) volumeAction(w http.ResponseWriter, r *http.Request) {
	tok := c.authenticate(r)
	if tok == nil {
		if !c.injectFault(w, r, "volume", "volume.action") {
			c.fail(w, "identity", http.StatusUnauthorized, "The request you have made requires authentication.")
		}
		return
	}
	var body map[string]json.RawMessage
	if err := readJSON(r, &body); err != nil || len(body) != 1 {
		if !c.injectFault(w, r, "volume", "volume.action") {
			c.fail(w, "volume", http.StatusBadRequest, "Invalid input received: the body must hold exactly one action.")
		}
		return
	}
	var key string
	var args json.RawMessage
	for k, v := range body {
		key, args = k, v
	}
	if c.injectFault(w, r, "volume", "volume.action."+key) || !c.cinderProjectAllowed(w, r, tok) {
		return
	}
	switch key {
	case "os-extend":
		c.extendVolume(w, r, tok, args)
	case "os-reset_status":
		c.resetVolumeStatus(w, r, tok, args)
	default:
		c.fail(w, "volume", http.StatusBadRequest, "There is no such action: %s", key)
	}
}

// extendVolume grows a volume (available, or in-use as microversion 3.42 allows): the status
// is extending until the background work is done.
func (c *Cloud) extendVolume(w http.ResponseWriter, r *http.Request, tok *token, args json.RawMessage) {
	var in struct {
		NewSize *int `json:"new_size"`
	}
	if err := json.Unmarshal(args, &in); err != nil || in.NewSize == nil {
		c.fail(w, "volume", http.StatusBadRequest, "Invalid input for field/attribute os-extend. 'new_size' is a required integer property")
		return
	}
	c.mu.Lock()
	v, f := c.volumeLocked(tok, r.PathValue("id"), "volume:extend")
	var before string
	switch {
	case f != nil:
	case v.Status != "available" && v.Status != "in-use":
		f = &cinderFault{http.StatusBadRequest, fmt.Sprintf("Invalid volume: Volume %s status must be 'available' or 'in-use' to extend, currently %s.", v.ID, v.Status)}
	case *in.NewSize <= v.Size:
		f = &cinderFault{http.StatusBadRequest, fmt.Sprintf("Invalid input received: New size for extend must be greater than current size. (current: %d, extended: %d).", v.Size, *in.NewSize)}
	default:
		// The size changes now rather than at the end, so that a restart during the
		// extension only has to set the status back.
		before = v.Status
		v.Size = *in.NewSize
		v.Status = "extending"
		v.Updated = c.now()
		c.saveLocked()
	}
	c.mu.Unlock()
	if f != nil {
		c.writeCinderFault(w, f)
		return
	}
	id, size := v.ID, v.Size
	c.async(func(ctx context.Context) {
		if c.hv.qemu != nil {
			// The disk grows live in the VMs it is attached to, as Nova's extend does.
			if err := c.hv.qemu.extendVolume(ctx, id, size); err != nil {
				c.log.Error("devcloud extend volume disk", "volume_id", id, "error", err)
			}
		}
		c.finishExtend(id, before)
	})
	w.WriteHeader(http.StatusAccepted)
}

// resetVolumeStatus is the admin's os-reset_status; attach_status "detached" also drops the
// volume's attachment records.
func (c *Cloud) resetVolumeStatus(w http.ResponseWriter, r *http.Request, tok *token, args json.RawMessage) {
	if !tok.isAdmin() {
		c.fail(w, "volume", http.StatusForbidden, "Policy doesn't allow volume_extension:volume_admin_actions:reset_status to be performed.")
		return
	}
	var in struct {
		Status       string `json:"status"`
		AttachStatus string `json:"attach_status"`
	}
	if err := json.Unmarshal(args, &in); err != nil || (in.Status == "" && in.AttachStatus == "") {
		c.fail(w, "volume", http.StatusBadRequest, "Must specify 'status', 'attach_status' or 'migration_status' for update.")
		return
	}
	if in.Status != "" && !slices.Contains(volumeStatuses(), in.Status) {
		c.fail(w, "volume", http.StatusBadRequest, "Invalid input received: Must specify a valid status, not %q.", in.Status)
		return
	}
	if in.AttachStatus != "" && in.AttachStatus != "attached" && in.AttachStatus != "detached" {
		c.fail(w, "volume", http.StatusBadRequest, "Invalid input received: Must specify a valid attach status, not %q.", in.AttachStatus)
		return
	}
	c.mu.Lock()
	v, f := c.volumeLocked(tok, r.PathValue("id"), "volume_extension:volume_admin_actions:reset_status")
	if f == nil {
		if in.Status != "" {
			v.Status = in.Status
		}
		if in.AttachStatus == "detached" {
			v.Attachments = []volumeAttachment{}
		}
		v.Updated = c.now()
		c.saveLocked()
	}
	c.mu.Unlock()
	if f != nil {
		c.writeCinderFault(w, f)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// attachVolumeLocked records a volume as attached to a server (status in-use) and returns the
// attachment's ID. The caller holds c.mu and saves.
func (c *Cloud) attachVolumeLocked(volumeID, serverID, device string) (string, error) {
	v := c.st.Volumes[volumeID]
	if v == nil {
		return "", fmt.Errorf("volume %s could not be found", volumeID)
	}
	if v.Status != "available" {
		return "", fmt.Errorf("volume %s status must be available to attach, but is %s", volumeID, v.Status)
	}
	now := c.now()
	a := volumeAttachment{ID: newID(), ServerID: serverID, Device: device, AttachedAt: now}
	v.Attachments = append(v.Attachments, a)
	v.Status = "in-use"
	v.Updated = now
	return a.ID, nil
}

// detachVolumeLocked removes a server's attachment of a volume (status available again). The
// caller holds c.mu and saves.
func (c *Cloud) detachVolumeLocked(volumeID, serverID string) {
	v := c.st.Volumes[volumeID]
	if v == nil {
		return
	}
	kept := v.Attachments[:0]
	for _, a := range v.Attachments {
		if a.ServerID != serverID {
			kept = append(kept, a)
		}
	}
	v.Attachments = kept
	if len(kept) == 0 && v.Status == "in-use" {
		v.Status = "available"
	}
	v.Updated = c.now()
}

// pageByMarker returns the items after the one whose ID is marker (from the first when marker
// is empty), at most limit of them (all when limit is 0), and whether more follow. found is
// false when marker names no item, which the services answer with an error.
func pageByMarker[T any](items []T, id func(T) string, marker string, limit int) (page []T, more, found bool) {
	start := 0
	if marker != "" {
		i := slices.IndexFunc(items, func(it T) bool { return id(it) == marker })
		if i < 0 {
			return nil, false, false
		}
		start = i + 1
	}
	page = items[start:]
	if limit > 0 && len(page) > limit {
		return page[:limit], true, true
	}
	return page, false, true
}

// queryLimit reads the limit query parameter: def when absent, at most max.
func queryLimit(q url.Values, def, max int) (int, error) {
	if !q.Has("limit") {
		return def, nil
	}
	n, err := strconv.Atoi(q.Get("limit"))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("limit must be a non-negative integer, not %q", q.Get("limit"))
	}
	if max > 0 && (n == 0 || n > max) {
		n = max
	}
	return n, nil
}

// nextPageURL is the request's own URL on the cloud's base with the marker set to lastID; the
// other query parameters (limit, filters) are kept.
func (c *Cloud) nextPageURL(r *http.Request, lastID string) string {
	q := r.URL.Query()
	q.Set("marker", lastID)
	return c.baseURL + r.URL.Path + "?" + q.Encode()
}
