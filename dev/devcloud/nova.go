package devcloud

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-dbaas/coffer/configdrive"
)

// novaTime is the timestamp format of Nova's created, updated and fault times.
const novaTime = "2006-01-02T15:04:05Z"

// novaUsageTime is the format of OS-SRV-USG:launched_at: no zone, microseconds.
const novaUsageTime = "2006-01-02T15:04:05.000000"

// novaMaxMinor is the newest microversion (2.novaMaxMinor) the devcloud answers; fields of
// later versions are not implemented.
const novaMaxMinor = 96

// novaMaxLimit is Nova's osapi_max_limit: the most items one page lists.
const novaMaxLimit = 1000

// novaHost is the one compute host every server runs on.
const novaHost = "devcloud"

// defaultAvailabilityZone is the zone of every server, as in a default Nova.
const defaultAvailabilityZone = "nova"

// Task states, as Nova names them; a server with a task state refuses other actions.
const (
	taskScheduling      = "scheduling"
	taskSpawning        = "spawning"
	taskRebooting       = "reboot_started"
	taskRebootingHard   = "reboot_started_hard"
	taskPoweringOff     = "powering-off"
	taskPoweringOn      = "powering-on"
	taskResizing        = "resize_prep"
	taskResizeReverting = "resize_reverting"
	taskRebuilding      = "rebuilding"
	taskDeleting        = "deleting"
)

// routeCompute registers Nova v2.1 under /compute/v2.1:
//
//	GET    /compute/, /compute/v2.1           version documents (no token)
//	GET    /flavors, /flavors/detail          flavor.list
//	GET    /flavors/{id}, .../os-extra_specs  flavor.get
//	POST   /servers                           server.create
//	GET    /servers, /servers/detail          server.list
//	GET    /servers/{id}                      server.get
//	PUT    /servers/{id}                      server.update
//	DELETE /servers/{id}                      server.delete
//	GET    /servers/{id}/ips                  server.ips
//	*      /servers/{id}/metadata[/{key}]     server.metadata
//	POST   /servers/{id}/action               server.action.<key>: reboot, os-stop, os-start,
//	                                          resize, confirmResize, revertResize,
//	                                          os-getConsoleOutput
//	POST   /servers/{id}/os-volume_attachments         volume_attachment.create
//	GET    /servers/{id}/os-volume_attachments         volume_attachment.list
//	GET    /servers/{id}/os-volume_attachments/{vol}   volume_attachment.get
//	DELETE /servers/{id}/os-volume_attachments/{vol}   volume_attachment.delete
//
// Every answer carries the microversion it was made for (see novaVersion).
func (c *Cloud) routeCompute() {
	c.routePublic("compute", "versions", "GET /compute/{$}", c.computeVersions)
	c.routePublic("compute", "version", "GET /compute/v2.1", c.computeVersion)
	c.routePublic("compute", "version", "GET /compute/v2.1/{$}", c.computeVersion)

	const base = "/compute/v2.1"
	c.novaRoute("flavor.list", "GET "+base+"/flavors", c.listFlavors)
	c.novaRoute("flavor.list", "GET "+base+"/flavors/detail", c.listFlavors)
	c.novaRoute("flavor.get", "GET "+base+"/flavors/{id}", c.showFlavor)
	c.novaRoute("flavor.get", "GET "+base+"/flavors/{id}/os-extra_specs", c.showFlavorExtraSpecs)

	c.novaRoute("server.create", "POST "+base+"/servers", c.createServer)
	c.novaRoute("server.list", "GET "+base+"/servers", c.listServers)
	c.novaRoute("server.list", "GET "+base+"/servers/detail", c.listServers)
	c.novaRoute("server.get", "GET "+base+"/servers/{id}", c.showServer)
	c.novaRoute("server.update", "PUT "+base+"/servers/{id}", c.updateServer)
	c.novaRoute("server.delete", "DELETE "+base+"/servers/{id}", c.deleteServer)
	c.novaRoute("server.ips", "GET "+base+"/servers/{id}/ips", c.showServerAddresses)
	// The action's operation name depends on the body, so this route applies the fault rules
	// itself once it has read the action's key (and only then: a rule counts a call once).
	c.mux.HandleFunc("POST "+base+"/servers/{id}/action", c.serverAction)

	c.novaRoute("server.metadata", "GET "+base+"/servers/{id}/metadata", c.serverMetadata)
	c.novaRoute("server.metadata", "POST "+base+"/servers/{id}/metadata", c.serverMetadata)
	c.novaRoute("server.metadata", "PUT "+base+"/servers/{id}/metadata", c.serverMetadata)
	c.novaRoute("server.metadata", "GET "+base+"/servers/{id}/metadata/{key}", c.serverMetadatum)
	c.novaRoute("server.metadata", "PUT "+base+"/servers/{id}/metadata/{key}", c.serverMetadatum)
	c.novaRoute("server.metadata", "DELETE "+base+"/servers/{id}/metadata/{key}", c.serverMetadatum)

	c.novaRoute("volume_attachment.create", "POST "+base+"/servers/{id}/os-volume_attachments", c.attachServerVolume)
	c.novaRoute("volume_attachment.list", "GET "+base+"/servers/{id}/os-volume_attachments", c.listServerVolumes)
	c.novaRoute("volume_attachment.get", "GET "+base+"/servers/{id}/os-volume_attachments/{volume_id}", c.showServerVolume)
	c.novaRoute("volume_attachment.delete", "DELETE "+base+"/servers/{id}/os-volume_attachments/{volume_id}", c.detachServerVolume)
}

// ---- Microversions ----

// novaVersion is the microversion 2.minor a request asked for (2.1 when it named none).
type novaVersion struct{ minor int }

func (v novaVersion) atLeast(minor int) bool { return v.minor >= minor }

func (v novaVersion) String() string { return fmt.Sprintf("2.%d", v.minor) }

// parseNovaVersion reads OpenStack-API-Version ("compute 2.47") or, failing that,
// X-OpenStack-Nova-API-Version ("2.47"), as Nova does. The status is 400 for a malformed
// version and 406 for one outside 2.1 to the maximum.
func parseNovaVersion(r *http.Request) (novaVersion, *novaError) {
	var req string
	for _, part := range strings.Split(r.Header.Get("OpenStack-API-Version"), ",") {
		if f := strings.Fields(part); len(f) == 2 && strings.EqualFold(f[0], "compute") {
			req = f[1]
		}
	}
	if req == "" {
		req = strings.TrimSpace(r.Header.Get("X-OpenStack-Nova-API-Version"))
	}
	switch {
	case req == "":
		return novaVersion{1}, nil
	case strings.EqualFold(req, "latest"):
		return novaVersion{novaMaxMinor}, nil
	}
	major, minorStr, ok := strings.Cut(req, ".")
	minor, err := strconv.Atoi(minorStr)
	if !ok || err != nil || minor < 0 || (major != "2" && strings.Trim(major, "0123456789") != "") {
		return novaVersion{1}, novaErrorf(http.StatusBadRequest, "API Version String %s is of invalid format. Must be of format MajorNum.MinorNum.", req)
	}
	if major != "2" || minor < 1 || minor > novaMaxMinor {
		return novaVersion{1}, novaErrorf(http.StatusNotAcceptable, "Version %s is not supported by the API. Minimum is 2.1 and maximum is 2.%d.", req, novaMaxMinor)
	}
	return novaVersion{minor}, nil
}

// novaHandler is a Nova route's handler: the token is valid, the microversion parsed.
type novaHandler func(w http.ResponseWriter, r *http.Request, tok *token, mv novaVersion)

// novaRoute registers an authenticated Nova route that answers with the microversion headers.
func (c *Cloud) novaRoute(op, pattern string, h novaHandler) {
	c.route("compute", op, pattern, func(w http.ResponseWriter, r *http.Request, tok *token) {
		mv, nerr := parseNovaVersion(r)
		setNovaVersionHeaders(w, mv)
		if nerr != nil {
			c.writeNovaError(w, nerr)
			return
		}
		h(w, r, tok, mv)
	})
}

func setNovaVersionHeaders(w http.ResponseWriter, mv novaVersion) {
	w.Header().Set("OpenStack-API-Version", "compute "+mv.String())
	w.Header().Set("X-OpenStack-Nova-API-Version", mv.String())
	w.Header().Add("Vary", "OpenStack-API-Version, X-OpenStack-Nova-API-Version")
}

func (c *Cloud) computeVersionDoc() map[string]any {
	return map[string]any{
		"id": "v2.1", "status": "CURRENT", "version": fmt.Sprintf("2.%d", novaMaxMinor), "min_version": "2.1",
		"updated":     "2013-07-23T11:33:21Z",
		"links":       []any{map[string]any{"rel": "self", "href": c.baseURL + "/compute/v2.1/"}},
		"media-types": []any{map[string]any{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}},
	}
}

func (c *Cloud) computeVersions(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"versions": []any{c.computeVersionDoc()}})
}

func (c *Cloud) computeVersion(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"version": c.computeVersionDoc()})
}

// ---- Flavors ----

func (c *Cloud) flavorByID(id string) (Flavor, bool) {
	for _, f := range c.cfg.Flavors {
		if f.ID == id {
			return f, true
		}
	}
	return Flavor{}, false
}

func (c *Cloud) novaLinks(kind, id string) []any {
	return []any{
		map[string]any{"rel": "self", "href": c.baseURL + "/compute/v2.1/" + kind + "/" + id},
		map[string]any{"rel": "bookmark", "href": c.baseURL + "/compute/" + kind + "/" + id},
	}
}

func (c *Cloud) flavorView(f Flavor, detail bool, mv novaVersion) map[string]any {
	v := map[string]any{"id": f.ID, "name": f.Name, "links": c.novaLinks("flavors", f.ID)}
	if mv.atLeast(55) {
		v["description"] = nil
	}
	if !detail {
		return v
	}
	v["ram"] = f.RAM
	v["vcpus"] = f.VCPUs
	v["disk"] = f.Disk
	v["swap"] = ""
	v["rxtx_factor"] = 1.0
	v["OS-FLV-EXT-DATA:ephemeral"] = 0
	v["OS-FLV-DISABLED:disabled"] = false
	v["os-flavor-access:is_public"] = true
	if mv.atLeast(61) {
		v["extra_specs"] = map[string]string{}
	}
	return v
}

// listFlavors answers GET /flavors and /flavors/detail with Nova's filters (minDisk, minRam,
// is_public), sorting (sort_key, sort_dir; flavorid ascending by default) and paging.
func (c *Cloud) listFlavors(w http.ResponseWriter, r *http.Request, _ *token, mv novaVersion) {
	q := r.URL.Query()
	detail := strings.HasSuffix(r.URL.Path, "/detail")
	var minDisk, minRAM int
	for _, p := range []struct {
		name string
		to   *int
	}{{"minDisk", &minDisk}, {"minRam", &minRAM}} {
		if s := q.Get(p.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				c.fail(w, "compute", http.StatusBadRequest, "Invalid input for field/attribute %s. Value: %s. '%s' does not match '^[0-9]+$'", p.name, s, s)
				return
			}
			*p.to = n
		}
	}
	var flavors []Flavor
	for _, f := range c.cfg.Flavors {
		if f.Disk >= minDisk && f.RAM >= minRAM && q.Get("is_public") != "false" {
			flavors = append(flavors, f)
		}
	}
	key := q.Get("sort_key")
	less := map[string]func(a, b Flavor) bool{
		"name":      func(a, b Flavor) bool { return a.Name < b.Name },
		"memory_mb": func(a, b Flavor) bool { return a.RAM < b.RAM },
		"vcpus":     func(a, b Flavor) bool { return a.VCPUs < b.VCPUs },
		"root_gb":   func(a, b Flavor) bool { return a.Disk < b.Disk },
	}[key]
	if less == nil {
		less = func(a, b Flavor) bool { return a.ID < b.ID }
	}
	sort.SliceStable(flavors, func(i, j int) bool {
		if q.Get("sort_dir") == "desc" {
			return less(flavors[j], flavors[i])
		}
		return less(flavors[i], flavors[j])
	})
	page, next, ok := novaPage(c, w, r, flavors, func(f Flavor) string { return f.ID })
	if !ok {
		return
	}
	views := make([]any, 0, len(page))
	for _, f := range page {
		views = append(views, c.flavorView(f, detail, mv))
	}
	body := map[string]any{"flavors": views}
	if next != "" {
		body["flavors_links"] = []any{map[string]any{"rel": "next", "href": next}}
	}
	writeJSON(w, http.StatusOK, body)
}

func (c *Cloud) showFlavor(w http.ResponseWriter, r *http.Request, _ *token, mv novaVersion) {
	f, ok := c.flavorByID(r.PathValue("id"))
	if !ok {
		c.fail(w, "compute", http.StatusNotFound, "Flavor %s could not be found.", r.PathValue("id"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"flavor": c.flavorView(f, true, mv)})
}

func (c *Cloud) showFlavorExtraSpecs(w http.ResponseWriter, r *http.Request, _ *token, _ novaVersion) {
	if _, ok := c.flavorByID(r.PathValue("id")); !ok {
		c.fail(w, "compute", http.StatusNotFound, "Flavor %s could not be found.", r.PathValue("id"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"extra_specs": map[string]string{}})
}

// novaPage cuts one page out of items by the request's marker and limit, as Nova does: there
// is a next link whenever the page is full. On a bad limit or an unknown marker it writes the
// 400 and reports false.
func novaPage[T any](c *Cloud, w http.ResponseWriter, r *http.Request, items []T, id func(T) string) (page []T, next string, ok bool) {
	q := r.URL.Query()
	limit := novaMaxLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			c.fail(w, "compute", http.StatusBadRequest, "Invalid input for query parameters limit. Value: %s. '%s' does not match '^[0-9]*$'", s, s)
			return nil, "", false
		}
		limit = min(n, novaMaxLimit)
	}
	start := 0
	if m := q.Get("marker"); m != "" {
		i := slices.IndexFunc(items, func(it T) bool { return id(it) == m })
		if i < 0 {
			c.fail(w, "compute", http.StatusBadRequest, "marker [%s] not found", m)
			return nil, "", false
		}
		start = i + 1
	}
	page = items[start:]
	if len(page) < limit || limit == 0 {
		if limit == 0 {
			page = page[:0]
		}
		return page, "", true
	}
	page = page[:limit]
	q.Set("marker", id(page[len(page)-1]))
	return page, c.baseURL + r.URL.Path + "?" + q.Encode(), true
}

// ---- Servers: lookup and views ----

// novaError is an error a handler found while holding c.mu; it is written once the lock is
// released, in Nova's shape.
type novaError struct {
	status int
	msg    string
}

func (e *novaError) Error() string { return e.msg }

func novaErrorf(status int, format string, args ...any) *novaError {
	return &novaError{status: status, msg: fmt.Sprintf(format, args...)}
}

func (c *Cloud) writeNovaError(w http.ResponseWriter, err error) {
	var ne *novaError
	if errors.As(err, &ne) {
		c.fail(w, "compute", ne.status, "%s", ne.msg)
		return
	}
	c.fail(w, "compute", http.StatusInternalServerError, "%v", err)
}

// serverLocked returns the server the token may act on: 404 when there is none, 403 when it
// is another project's and the caller no admin. The caller holds c.mu.
func (c *Cloud) serverLocked(tok *token, id, policy string) (*server, *novaError) {
	s := c.st.Servers[id]
	if s == nil {
		return nil, novaErrorf(http.StatusNotFound, "Instance %s could not be found.", id)
	}
	if !tok.owns(s.ProjectID) {
		return nil, novaErrorf(http.StatusForbidden, "Policy doesn't allow os_compute_api:servers:%s to be performed.", policy)
	}
	return s, nil
}

// serverStates are the vm_state and power_state Nova shows beside a status.
func serverStates(s *server) (vmState string, powerState int) {
	const running, shutdown = 1, 4
	switch s.Status {
	case "BUILD":
		return "building", 0
	case "SHUTOFF":
		return "stopped", shutdown
	case "VERIFY_RESIZE", "REVERT_RESIZE":
		return "resized", running
	case "ERROR":
		return "error", 0
	default: // ACTIVE, REBOOT, HARD_REBOOT, RESIZE
		return "active", running
	}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// serverAddressesLocked groups the server's fixed IPs by network name.
func (c *Cloud) serverAddressesLocked(s *server) map[string]any {
	out := map[string]any{}
	for _, id := range s.Ports {
		p := c.st.Ports[id]
		if p == nil {
			continue
		}
		name := p.NetworkID
		if n := c.st.Networks[p.NetworkID]; n != nil {
			name = n.Name
		}
		list, _ := out[name].([]any)
		out[name] = append(list, map[string]any{
			"addr": p.IPAddress, "version": 4,
			"OS-EXT-IPS:type": "fixed", "OS-EXT-IPS-MAC:mac_addr": p.MACAddress,
		})
	}
	return out
}

// serverViewLocked is a server as GET /servers/{id} shows it for the microversion; admins
// see the host attributes too. The caller holds c.mu.
func (c *Cloud) serverViewLocked(s *server, tok *token, mv novaVersion) map[string]any {
	vmState, powerState := serverStates(s)
	hostID := sha256.Sum224([]byte(s.ProjectID + novaHost))
	var image any = ""
	if s.ImageID != "" {
		image = map[string]any{"id": s.ImageID, "links": []any{
			map[string]any{"rel": "bookmark", "href": c.baseURL + "/compute/images/" + s.ImageID},
		}}
	}
	flavor := map[string]any{"id": s.Flavor.ID, "links": []any{
		map[string]any{"rel": "bookmark", "href": c.baseURL + "/compute/flavors/" + s.Flavor.ID},
	}}
	if mv.atLeast(47) {
		flavor = map[string]any{
			"original_name": s.Flavor.Name, "ram": s.Flavor.RAM, "vcpus": s.Flavor.VCPUs,
			"disk": s.Flavor.Disk, "ephemeral": 0, "swap": 0, "extra_specs": map[string]string{},
		}
	}
	volumes := make([]any, 0, len(s.Volumes))
	for _, sv := range s.Volumes {
		v := map[string]any{"id": sv.VolumeID}
		if mv.atLeast(3) {
			v["delete_on_termination"] = sv.DeleteOnTermination
		}
		volumes = append(volumes, v)
	}
	groups := make([]any, 0, len(s.SecurityGroups))
	for _, g := range s.SecurityGroups {
		groups = append(groups, map[string]any{"name": g})
	}
	metadata := s.Metadata
	if metadata == nil {
		metadata = map[string]string{}
	}
	var launched any
	if s.Launched != nil {
		launched = s.Launched.Format(novaUsageTime)
	}
	v := map[string]any{
		"id": s.ID, "name": s.Name, "status": s.Status,
		"tenant_id": s.ProjectID, "user_id": s.UserID,
		"metadata": metadata, "hostId": hex.EncodeToString(hostID[:]),
		"image": image, "flavor": flavor,
		"created": s.Created.Format(novaTime), "updated": s.Updated.Format(novaTime),
		"addresses":  c.serverAddressesLocked(s),
		"accessIPv4": "", "accessIPv6": "",
		"links":                                c.novaLinks("servers", s.ID),
		"OS-DCF:diskConfig":                    "MANUAL",
		"key_name":                             nullable(s.KeyName),
		"config_drive":                         "True",
		"security_groups":                      groups,
		"OS-EXT-AZ:availability_zone":          s.AvailabilityZone,
		"OS-EXT-STS:task_state":                nullable(s.TaskState),
		"OS-EXT-STS:vm_state":                  vmState,
		"OS-EXT-STS:power_state":               powerState,
		"OS-SRV-USG:launched_at":               launched,
		"OS-SRV-USG:terminated_at":             nil,
		"os-extended-volumes:volumes_attached": volumes,
	}
	// Nova shows progress only in these statuses; the devcloud's builds and resizes report none.
	if slices.Contains([]string{"ACTIVE", "BUILD", "RESIZE", "VERIFY_RESIZE"}, s.Status) {
		v["progress"] = 0
	}
	if tok.isAdmin() {
		v["OS-EXT-SRV-ATTR:host"] = novaHost
		v["OS-EXT-SRV-ATTR:hypervisor_hostname"] = novaHost
		v["OS-EXT-SRV-ATTR:instance_name"] = "instance-" + strings.ReplaceAll(s.ID, "-", "")[:8]
		if mv.atLeast(3) {
			v["OS-EXT-SRV-ATTR:reservation_id"] = "r-" + strings.ReplaceAll(s.ID, "-", "")[:8]
			v["OS-EXT-SRV-ATTR:launch_index"] = 0
			v["OS-EXT-SRV-ATTR:hostname"] = serverHostname(s.Name)
			v["OS-EXT-SRV-ATTR:kernel_id"] = ""
			v["OS-EXT-SRV-ATTR:ramdisk_id"] = ""
			v["OS-EXT-SRV-ATTR:root_device_name"] = "/dev/vda"
			v["OS-EXT-SRV-ATTR:user_data"] = nil
			if s.UserData != nil {
				v["OS-EXT-SRV-ATTR:user_data"] = base64.StdEncoding.EncodeToString(s.UserData)
			}
		}
	}
	if mv.atLeast(9) {
		v["locked"] = false
	}
	if mv.atLeast(19) {
		v["description"] = nil
	}
	if mv.atLeast(26) {
		tags := s.Tags
		if tags == nil {
			tags = []string{}
		}
		v["tags"] = tags
	}
	if mv.atLeast(63) {
		v["trusted_image_certificates"] = nil
	}
	if mv.atLeast(71) {
		v["server_groups"] = []string{}
	}
	if mv.atLeast(73) {
		v["locked_reason"] = nil
	}
	if mv.atLeast(96) {
		v["pinned_availability_zone"] = nil
	}
	if s.Fault != nil && (s.Status == "ERROR" || s.Status == "DELETED") {
		v["fault"] = map[string]any{"code": s.Fault.Code, "message": s.Fault.Message, "created": s.Fault.Created.Format(novaTime)}
	}
	return v
}

// serverHostname is Nova's sanitize_hostname: lower case, runs of other characters become
// one hyphen, at most 63 characters.
func serverHostname(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case r == '.' || r == '-' || r == '_' || r == ' ':
			if !dash && b.Len() > 0 {
				b.WriteByte('-')
				dash = true
			}
		}
	}
	h := strings.Trim(b.String(), "-.")
	if len(h) > 63 {
		h = strings.Trim(h[:63], "-.")
	}
	if h == "" {
		h = "server"
	}
	return h
}

// ---- Servers: create ----

// serverCreateRequest is the body of POST /servers, in the fields the devcloud honours.
type serverCreateRequest struct {
	Server *struct {
		Name           *string           `json:"name"`
		ImageRef       string            `json:"imageRef"`
		FlavorRef      string            `json:"flavorRef"`
		UserData       *string           `json:"user_data"`
		Metadata       map[string]string `json:"metadata"`
		Tags           []string          `json:"tags"`
		Networks       json.RawMessage   `json:"networks"`
		SecurityGroups []struct {
			Name string `json:"name"`
		} `json:"security_groups"`
		BlockDevices     []blockDeviceMapping `json:"block_device_mapping_v2"`
		AvailabilityZone string               `json:"availability_zone"`
		KeyName          string               `json:"key_name"`
		MinCount         *int                 `json:"min_count"`
		MaxCount         *int                 `json:"max_count"`
	} `json:"server"`
}

type blockDeviceMapping struct {
	SourceType          string `json:"source_type"`
	DestinationType     string `json:"destination_type"`
	UUID                string `json:"uuid"`
	BootIndex           any    `json:"boot_index"` // a number, a numeric string or null
	DeleteOnTermination bool   `json:"delete_on_termination"`
	DeviceName          string `json:"device_name"`
}

// bootIndex is the mapping's boot index, -1 when it is no boot device.
func (b blockDeviceMapping) bootIndex() (int, error) {
	switch v := b.BootIndex.(type) {
	case nil:
		return -1, nil
	case float64:
		return int(v), nil
	case string:
		if v == "" || strings.EqualFold(v, "none") {
			return -1, nil
		}
		return strconv.Atoi(v)
	}
	return 0, fmt.Errorf("boot_index %v is not an integer", b.BootIndex)
}

// buildPlan is what the build of a server allocates, checked at create time.
type buildPlan struct {
	networks []requestedNetwork
	groupIDs []string
	volumes  []requestedVolume
}

type requestedNetwork struct {
	networkID string // a port is made on it, or
	portID    string // the user's port is bound
	fixedIP   string
}

type requestedVolume struct {
	volumeID            string
	device              string
	boot                bool
	deleteOnTermination bool
}

// lastSegment turns an href such as http://.../flavors/ds1G into its ID.
func lastSegment(ref string) string {
	if strings.Contains(ref, "/") {
		return path.Base(strings.TrimRight(ref, "/"))
	}
	return ref
}

// imageByID finds one of the cloud's images (Glance's, seeded from the configuration).
func (c *Cloud) imageByID(id string) (Image, bool) {
	for _, im := range c.cfg.Images {
		if stableID("image", im.Name) == id {
			return im, true
		}
	}
	return Image{}, false
}

// createServer validates a boot request, records the server in BUILD and builds it in the
// background (see buildServer), answering 202 as Nova does before anything is allocated.
func (c *Cloud) createServer(w http.ResponseWriter, r *http.Request, tok *token, mv novaVersion) {
	var req serverCreateRequest
	if err := readJSON(r, &req); err != nil {
		c.fail(w, "compute", http.StatusBadRequest, "%v", err)
		return
	}
	if req.Server == nil {
		c.fail(w, "compute", http.StatusBadRequest, "Invalid input for field/attribute server. Value: None. 'server' is a required property")
		return
	}
	rs := req.Server
	if rs.Name == nil || strings.TrimSpace(*rs.Name) == "" || len(*rs.Name) > 255 {
		c.fail(w, "compute", http.StatusBadRequest, "Invalid input for field/attribute name. Value: None. 'name' is a required property, non-blank and at most 255 characters")
		return
	}
	if (rs.MinCount != nil && *rs.MinCount > 1) || (rs.MaxCount != nil && *rs.MaxCount > 1) {
		c.fail(w, "compute", http.StatusBadRequest, "The devcloud boots one server per request: min_count and max_count must be 1.")
		return
	}
	if rs.Tags != nil && !mv.atLeast(52) {
		c.fail(w, "compute", http.StatusBadRequest, "Invalid input for field/attribute server. Value: %s. Additional properties are not allowed ('tags' was unexpected)", *rs.Name)
		return
	}
	if nerr := validateServerTags(rs.Tags); nerr != nil {
		c.writeNovaError(w, nerr)
		return
	}
	for k, v := range rs.Metadata {
		if k == "" || len(k) > 255 || len(v) > 255 {
			c.fail(w, "compute", http.StatusBadRequest, "Invalid input for field/attribute metadata. Keys must be 1 to 255 characters and values at most 255.")
			return
		}
	}
	var userData []byte
	if rs.UserData != nil {
		if len(*rs.UserData) > 65535 {
			c.fail(w, "compute", http.StatusBadRequest, "User data too large. User data must be no larger than 65535 bytes once base64 encoded. Your data is %d bytes", len(*rs.UserData))
			return
		}
		b, err := base64.StdEncoding.DecodeString(*rs.UserData)
		if err != nil {
			c.fail(w, "compute", http.StatusBadRequest, "Invalid input for field/attribute user_data. Value: %s. 'user_data' is not a 'base64'", *rs.UserData)
			return
		}
		userData = b
	}
	az := rs.AvailabilityZone
	if az == "" {
		az = defaultAvailabilityZone
	}
	if az != defaultAvailabilityZone {
		c.fail(w, "compute", http.StatusBadRequest, "The requested availability zone is not available")
		return
	}
	flavor, ok := c.flavorByID(lastSegment(rs.FlavorRef))
	if !ok {
		c.fail(w, "compute", http.StatusBadRequest, "Flavor %s could not be found.", lastSegment(rs.FlavorRef))
		return
	}
	imageID := lastSegment(rs.ImageRef)
	if imageID != "" {
		if _, ok := c.imageByID(imageID); !ok {
			c.fail(w, "compute", http.StatusBadRequest, "Can not find requested image")
			return
		}
	}
	groups := make([]string, 0, len(rs.SecurityGroups))
	for _, g := range rs.SecurityGroups {
		if !slices.Contains(groups, g.Name) {
			groups = append(groups, g.Name)
		}
	}
	if len(groups) == 0 {
		groups = []string{"default"}
	}

	c.mu.Lock()
	plan, err := c.planBuildLocked(tok, mv, imageID, rs.Networks, groups, rs.BlockDevices)
	if err != nil {
		c.mu.Unlock()
		c.writeNovaError(w, err)
		return
	}
	now := c.now()
	metadata := rs.Metadata
	if metadata == nil {
		metadata = map[string]string{}
	}
	s := &server{
		ID: newID(), Name: *rs.Name, ProjectID: tok.ProjectID, UserID: tok.UserID,
		Flavor: flavor, ImageID: imageID, Status: "BUILD", TaskState: taskScheduling,
		UserData: userData, Metadata: metadata, Tags: slices.Clone(rs.Tags),
		SecurityGroups: groups, KeyName: rs.KeyName, AvailabilityZone: az,
		Ports: []string{}, OwnedPorts: []string{}, Volumes: []serverVolume{},
		Created: now, Updated: now,
	}
	if s.Tags == nil {
		s.Tags = []string{}
	}
	c.st.Servers[s.ID] = s
	c.saveLocked()
	c.mu.Unlock()
	c.log.Info("devcloud server accepted", "server_id", s.ID, "project_id", s.ProjectID, "flavor", flavor.ID)

	id := s.ID
	c.async(func(ctx context.Context) { c.buildServer(ctx, id, plan) })

	groupViews := make([]any, 0, len(groups))
	for _, g := range groups {
		groupViews = append(groupViews, map[string]any{"name": g})
	}
	w.Header().Set("Location", c.baseURL+"/compute/v2.1/servers/"+id)
	writeJSON(w, http.StatusAccepted, map[string]any{"server": map[string]any{
		"id": id, "links": c.novaLinks("servers", id), "adminPass": adminPassword(),
		"OS-DCF:diskConfig": "MANUAL", "security_groups": groupViews,
	}})
}

func validateServerTags(tags []string) *novaError {
	if len(tags) > 50 {
		return novaErrorf(http.StatusBadRequest, "Invalid input for field/attribute tags. Value: %v. is too long (at most 50 tags)", tags)
	}
	for _, t := range tags {
		if t == "" || len(t) > 60 || strings.ContainsAny(t, ",/") {
			return novaErrorf(http.StatusBadRequest, "Invalid input for field/attribute tags. Value: %q. A tag is 1 to 60 characters without ',' or '/'", t)
		}
	}
	return nil
}

func adminPassword() string {
	const letters = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return string(b)
}

// planBuildLocked checks the networks, ports, security groups and volumes of a boot request
// as Nova's API does, before answering. The caller holds c.mu.
func (c *Cloud) planBuildLocked(tok *token, mv novaVersion, imageID string, rawNetworks json.RawMessage, groups []string, bdms []blockDeviceMapping) (buildPlan, error) {
	var plan buildPlan

	plan.groupIDs = []string{}
	for _, name := range groups {
		g := c.securityGroupByNameLocked(tok.ProjectID, name)
		if byID := c.st.SecurityGroups[name]; g == nil && byID != nil && byID.ProjectID == tok.ProjectID {
			g = byID
		}
		if g == nil {
			return plan, novaErrorf(http.StatusBadRequest, "Security group %s not found for project %s.", name, tok.ProjectID)
		}
		plan.groupIDs = append(plan.groupIDs, g.ID)
	}

	var asString string
	var asList []struct {
		UUID    string `json:"uuid"`
		Port    string `json:"port"`
		FixedIP string `json:"fixed_ip"`
	}
	trimmed := strings.TrimSpace(string(rawNetworks))
	switch {
	case trimmed == "" || trimmed == "null":
		if mv.atLeast(37) {
			return plan, novaErrorf(http.StatusBadRequest, "Invalid input for field/attribute server. 'networks' is a required property")
		}
		asString = "auto"
	case json.Unmarshal(rawNetworks, &asString) == nil:
		if !mv.atLeast(37) || (asString != "auto" && asString != "none") {
			return plan, novaErrorf(http.StatusBadRequest, "Invalid input for field/attribute networks. Value: %s. %s is not of type 'array'", asString, asString)
		}
	case json.Unmarshal(rawNetworks, &asList) == nil:
	default:
		return plan, novaErrorf(http.StatusBadRequest, "Invalid input for field/attribute networks. Value: %s. It is not of type 'array'", trimmed)
	}
	if asString == "auto" {
		var visible []string
		for id, n := range c.st.Networks {
			if n.Shared || n.ProjectID == tok.ProjectID {
				visible = append(visible, id)
			}
		}
		switch len(visible) {
		case 0:
			return plan, novaErrorf(http.StatusBadRequest, "Unable to automatically allocate a network for project %s", tok.ProjectID)
		case 1:
			plan.networks = append(plan.networks, requestedNetwork{networkID: visible[0]})
		default:
			return plan, novaErrorf(http.StatusConflict, "Multiple possible networks found, use a Network ID to be more specific.")
		}
	}
	for _, n := range asList {
		switch {
		case n.Port != "":
			p := c.st.Ports[n.Port]
			if p == nil || !tok.owns(p.ProjectID) {
				return plan, novaErrorf(http.StatusBadRequest, "Port %s could not be found.", n.Port)
			}
			if p.DeviceID != "" || slices.ContainsFunc(plan.networks, func(rn requestedNetwork) bool { return rn.portID == n.Port }) {
				return plan, novaErrorf(http.StatusConflict, "Port %s is still in use.", n.Port)
			}
			plan.networks = append(plan.networks, requestedNetwork{portID: n.Port})
		case n.UUID != "":
			nw := c.st.Networks[n.UUID]
			if nw == nil || !(nw.Shared || tok.owns(nw.ProjectID)) {
				return plan, novaErrorf(http.StatusBadRequest, "Network %s could not be found.", n.UUID)
			}
			if n.FixedIP != "" {
				if err := c.checkFixedIPLocked(nw, n.FixedIP); err != nil {
					return plan, err
				}
			}
			plan.networks = append(plan.networks, requestedNetwork{networkID: n.UUID, fixedIP: n.FixedIP})
		default:
			return plan, novaErrorf(http.StatusBadRequest, "Bad networks format: network uuid is not in proper format ()")
		}
	}

	booted := imageID != ""
	used := map[string]bool{}
	for _, b := range bdms {
		idx, err := b.bootIndex()
		if err != nil {
			return plan, novaErrorf(http.StatusBadRequest, "Block Device Mapping is Invalid: %v", err)
		}
		switch {
		case b.SourceType == "image" && (b.DestinationType == "" || b.DestinationType == "local"):
			if _, ok := c.imageByID(b.UUID); !ok {
				return plan, novaErrorf(http.StatusBadRequest, "Can not find requested image")
			}
			booted = booted || idx == 0
			continue
		case b.SourceType != "volume" || (b.DestinationType != "" && b.DestinationType != "volume"):
			return plan, novaErrorf(http.StatusBadRequest, "Block Device Mapping is Invalid: the devcloud attaches existing volumes only (source_type and destination_type volume), not %s to %s.", b.SourceType, b.DestinationType)
		}
		v := c.st.Volumes[b.UUID]
		if v == nil || !tok.owns(v.ProjectID) {
			return plan, novaErrorf(http.StatusBadRequest, "Block Device Mapping is Invalid: failed to get volume %s.", b.UUID)
		}
		if v.Status != "available" || slices.ContainsFunc(plan.volumes, func(rv requestedVolume) bool { return rv.volumeID == b.UUID }) {
			return plan, novaErrorf(http.StatusBadRequest, "Invalid volume: volume %s status must be available, but is %s", b.UUID, v.Status)
		}
		rv := requestedVolume{volumeID: b.UUID, device: b.DeviceName, boot: idx == 0 && imageID == "", deleteOnTermination: b.DeleteOnTermination}
		if rv.boot {
			if booted {
				return plan, novaErrorf(http.StatusBadRequest, "Block Device Mapping is Invalid: Boot sequence for the instance and image/block device mapping combination is not valid.")
			}
			booted = true
			rv.device = "/dev/vda"
		}
		if rv.device != "" {
			if used[rv.device] {
				return plan, novaErrorf(http.StatusBadRequest, "Block Device Mapping is Invalid: Device name %s is used twice.", rv.device)
			}
			used[rv.device] = true
		}
		plan.volumes = append(plan.volumes, rv)
	}
	if !booted {
		return plan, novaErrorf(http.StatusBadRequest, "Block Device Mapping is Invalid: You specified more local devices than the limit allows or no image to boot from (give imageRef or a volume with boot_index 0).")
	}
	return plan, nil
}

// checkFixedIPLocked checks that a requested fixed IP lies in the network's subnet and is free.
func (c *Cloud) checkFixedIPLocked(nw *network, ip string) error {
	addr, err := netip.ParseAddr(ip)
	if err != nil || len(nw.Subnets) == 0 {
		return novaErrorf(http.StatusBadRequest, "Invalid fixed IP address (%s)", ip)
	}
	sub := c.st.Subnets[nw.Subnets[0]]
	if sub == nil || !netip.MustParsePrefix(sub.CIDR).Contains(addr) || ip == sub.GatewayIP || ip == "127.0.0.1" {
		return novaErrorf(http.StatusBadRequest, "Fixed IP address %s is not valid on network %s", ip, nw.ID)
	}
	for _, p := range c.st.Ports {
		if p.SubnetID == sub.ID && p.IPAddress == ip {
			return novaErrorf(http.StatusBadRequest, "Fixed IP address %s is already in use on network %s.", ip, nw.ID)
		}
	}
	return nil
}

// ---- Servers: the build and the other background work ----

// buildServer allocates what the plan asks for (ports, bound ports, volumes), writes the
// config drive and boots the server's process. Any failure leaves the server in ERROR with a
// fault; what was allocated stays recorded on the server, so that deleting it frees it.
func (c *Cloud) buildServer(ctx context.Context, id string, plan buildPlan) {
	unlock := c.hv.lockServer(id)
	defer unlock()
	c.mu.Lock()
	s := c.st.Servers[id]
	if s == nil || s.TaskState != taskScheduling {
		c.mu.Unlock()
		return
	}
	err := c.allocateLocked(s, plan)
	if err == nil {
		err = c.writeConfigDriveLocked(s)
	}
	if err != nil {
		c.serverFailedLocked(s, fmt.Sprintf("Build of instance %s aborted: %v", id, err))
		c.saveLocked()
		c.mu.Unlock()
		return
	}
	s.TaskState = taskSpawning
	s.Updated = c.now()
	c.saveLocked()
	c.mu.Unlock()

	if ctx.Err() != nil {
		return // the cloud is closing; the next New boots it (resumeServer)
	}
	err = c.hv.boot(id)
	c.mu.Lock()
	defer c.mu.Unlock()
	s = c.st.Servers[id]
	if s == nil || s.TaskState != taskSpawning {
		return
	}
	if err != nil {
		c.serverFailedLocked(s, fmt.Sprintf("Build of instance %s aborted: %v", id, err))
	} else {
		now := c.now()
		s.Status, s.TaskState, s.Updated, s.Launched = "ACTIVE", "", now, &now
	}
	c.saveLocked()
}

// allocateLocked makes and binds the server's ports and attaches its volumes. The caller
// holds c.mu and saves.
func (c *Cloud) allocateLocked(s *server, plan buildPlan) error {
	for _, rn := range plan.networks {
		if rn.portID != "" {
			p := c.st.Ports[rn.portID]
			if p == nil {
				return fmt.Errorf("port %s could not be found", rn.portID)
			}
			if p.DeviceID != "" && p.DeviceID != s.ID {
				return fmt.Errorf("port %s is still in use", rn.portID)
			}
			p.DeviceID, p.DeviceOwner, p.Updated = s.ID, "compute:nova", c.now()
			s.Ports = append(s.Ports, p.ID)
			continue
		}
		p, f := c.newPortLocked(portSpec{
			ProjectID: s.ProjectID, NetworkID: rn.networkID, DeviceID: s.ID, DeviceOwner: "compute:nova",
			IPAddress: rn.fixedIP, SecurityGroups: plan.groupIDs,
		})
		if f != nil {
			return fmt.Errorf("allocate network: %w", f)
		}
		s.Ports = append(s.Ports, p.ID)
		s.OwnedPorts = append(s.OwnedPorts, p.ID)
	}
	for _, rv := range plan.volumes {
		device := rv.device
		if device == "" {
			device = c.nextDeviceLocked(s)
		}
		attachmentID, err := c.attachVolumeLocked(rv.volumeID, s.ID, device)
		if err != nil {
			return err
		}
		s.Volumes = append(s.Volumes, serverVolume{
			VolumeID: rv.volumeID, AttachmentID: attachmentID, Device: device, DeleteOnTermination: rv.deleteOnTermination,
		})
	}
	return nil
}

// nextDeviceLocked is the first free /dev/vdX of a server; /dev/vda is its root disk.
func (c *Cloud) nextDeviceLocked(s *server) string {
	for l := 'b'; l <= 'z'; l++ {
		d := "/dev/vd" + string(l)
		if !slices.ContainsFunc(s.Volumes, func(v serverVolume) bool { return v.Device == d }) {
			return d
		}
	}
	return "/dev/vd" + strconv.Itoa(len(s.Volumes))
}

// serverFailedLocked puts a server in ERROR with a fault, as Nova does when a build or an
// action fails on the compute host. The caller holds c.mu and saves.
func (c *Cloud) serverFailedLocked(s *server, msg string) {
	now := c.now()
	s.Status, s.TaskState, s.Updated = "ERROR", "", now
	s.Fault = &serverFault{Code: http.StatusInternalServerError, Message: msg, Created: now}
	c.log.Error("devcloud server failed", "server_id", s.ID, "project_id", s.ProjectID, "error", msg)
}

// writeConfigDriveLocked lays out the server's config drive as Nova writes one:
// meta_data.json (with each attached volume in devices), network_data.json and user_data.
// It is written again before each boot and on volume attach and detach. The caller holds
// c.mu. What a VM would learn from its hardware (RAM, CPUs, disks) the hypervisor passes in
// the agent's flags (see serverFlags).
func (c *Cloud) writeConfigDriveLocked(s *server) error {
	d := configdrive.Drive{
		MetaData: configdrive.MetaData{
			UUID: s.ID, Name: s.Name, Hostname: serverHostname(s.Name), ProjectID: s.ProjectID,
			AvailabilityZone: s.AvailabilityZone, Meta: s.Metadata, Devices: []configdrive.Device{},
		},
		NetworkData: configdrive.NetworkData{Links: []configdrive.NetworkLink{}, Networks: []configdrive.Network{}},
		UserData:    s.UserData,
	}
	if d.MetaData.Meta == nil {
		d.MetaData.Meta = map[string]string{}
	}
	for i, pid := range s.Ports {
		p := c.st.Ports[pid]
		if p == nil {
			continue
		}
		netmask := ""
		if sub := c.st.Subnets[p.SubnetID]; sub != nil {
			prefix := netip.MustParsePrefix(sub.CIDR)
			mask := ^uint32(0) << (32 - prefix.Bits())
			netmask = netip.AddrFrom4([4]byte{byte(mask >> 24), byte(mask >> 16), byte(mask >> 8), byte(mask)}).String()
		}
		link := "tap" + p.ID[:11]
		d.NetworkData.Links = append(d.NetworkData.Links, configdrive.NetworkLink{ID: link, Type: "ovs", MAC: p.MACAddress, MTU: 1500})
		nw := configdrive.Network{
			ID: fmt.Sprintf("network%d", i), Type: "ipv4", Link: link, IPAddress: p.IPAddress, Netmask: netmask, NetworkID: p.NetworkID,
		}
		if c.guard != nil {
			// The guard listens on the fixed IP and relays what the security groups admit.
			nw.IPAddress = c.guard.innerAddress(p.IPAddress)
		}
		if c.hv.qemu != nil {
			// A VM's NIC is on qemu's user-mode network, whose DHCP gives it 10.0.2.15; the
			// fixed IP lives on the host, which forwards it (see qemu). Nova writes
			// ipv4_dhcp for a subnet with DHCP, so the guest takes its NIC's address.
			nw.Type, nw.IPAddress, nw.Netmask = "ipv4_dhcp", "", ""
		}
		d.NetworkData.Networks = append(d.NetworkData.Networks, nw)
	}
	for i, sv := range s.Volumes {
		d.MetaData.Devices = append(d.MetaData.Devices, configdrive.Device{
			Type: "disk", Bus: "virtio", Serial: sv.VolumeID, Address: fmt.Sprintf("0000:00:%02x.0", 5+i),
		})
	}
	if err := configdrive.Write(c.configDriveDir(s.ID), d); err != nil {
		return fmt.Errorf("write config drive: %w", err)
	}
	return nil
}

// runServerTask finishes an accepted action in the background: it stops the server's process
// (when stop), boots it again with a fresh config drive (when boot) and records the final
// status. It does nothing once another request (a delete) has replaced the task.
func (c *Cloud) runServerTask(id, task string, stop, boot bool, final string) {
	c.async(func(ctx context.Context) {
		unlock := c.hv.lockServer(id)
		defer unlock()
		if !c.serverHasTask(id, task) {
			return
		}
		if stop {
			c.hv.stop(id)
		}
		if boot {
			if ctx.Err() != nil {
				return // the cloud is closing; the next New finishes the task (resumeServer)
			}
			if err := c.bootServer(id); err != nil {
				c.mu.Lock()
				if s := c.st.Servers[id]; s != nil && s.TaskState == task {
					c.serverFailedLocked(s, err.Error())
					c.saveLocked()
				}
				c.mu.Unlock()
				return
			}
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if s := c.st.Servers[id]; s != nil && s.TaskState == task {
			s.Status, s.TaskState, s.Updated = final, "", c.now()
			c.saveLocked()
		}
	})
}

func (c *Cloud) serverHasTask(id, task string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.st.Servers[id]
	return s != nil && s.TaskState == task
}

// bootServer writes the server's config drive again (its flavor or volumes may have changed)
// and starts its process.
func (c *Cloud) bootServer(id string) error {
	c.mu.Lock()
	s := c.st.Servers[id]
	if s == nil {
		c.mu.Unlock()
		return fmt.Errorf("server %s is gone", id)
	}
	err := c.writeConfigDriveLocked(s)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return c.hv.boot(id)
}

// serverPoweredOff records that a server's process exited without being asked to: like
// Nova's power-state sync, an ACTIVE server with no task becomes SHUTOFF.
func (c *Cloud) serverPoweredOff(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.st.Servers[id]
	if s == nil || s.Status != "ACTIVE" || s.TaskState != "" {
		return
	}
	s.Status, s.Updated = "SHUTOFF", c.now()
	c.saveLocked()
	c.log.Warn("devcloud server process exited on its own; server is SHUTOFF", "server_id", id, "project_id", s.ProjectID)
}

// resumeServer, at New, boots a server that was running when the cloud stopped and finishes
// what a stop interrupted: a build that had written its config drive, a reboot, a start, a
// resize or revert (booting with the new flavor), a stop (no boot) or a delete.
func (c *Cloud) resumeServer(ctx context.Context, id string) {
	c.mu.Lock()
	s := c.st.Servers[id]
	if s == nil {
		c.mu.Unlock()
		return
	}
	status, task := s.Status, s.TaskState
	c.mu.Unlock()

	var final string
	switch {
	case task == taskDeleting:
		c.destroyServer(id)
		return
	case task == taskPoweringOff:
		final = "SHUTOFF"
	case task == taskPoweringOn, status == "ACTIVE", status == "REBOOT", status == "HARD_REBOOT", status == "REVERT_RESIZE":
		final = "ACTIVE"
	case status == "RESIZE", status == "VERIFY_RESIZE":
		final = "VERIFY_RESIZE"
	case status == "BUILD":
		if _, err := os.Stat(c.configDriveDir(id)); err != nil {
			c.mu.Lock()
			if s := c.st.Servers[id]; s != nil && s.Status == "BUILD" {
				c.serverFailedLocked(s, fmt.Sprintf("Build of instance %s aborted: the cloud stopped during the build", id))
				c.saveLocked()
			}
			c.mu.Unlock()
			return
		}
		final = "ACTIVE"
	default: // SHUTOFF, ERROR: nothing runs
		return
	}
	unlock := c.hv.lockServer(id)
	defer unlock()
	if final != "SHUTOFF" && ctx.Err() == nil {
		if err := c.bootServer(id); err != nil {
			c.mu.Lock()
			if s := c.st.Servers[id]; s != nil {
				c.serverFailedLocked(s, err.Error())
				c.saveLocked()
			}
			c.mu.Unlock()
			return
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.st.Servers[id]; s != nil && s.TaskState != taskDeleting {
		now := c.now()
		s.Status, s.TaskState, s.Updated = final, "", now
		if s.Launched == nil {
			s.Launched = &now
		}
		c.saveLocked()
	}
}

// destroyServer stops a deleted server's process, removes its folder, deletes the ports Nova
// made, unbinds the others, detaches its volumes (deleting those marked
// delete_on_termination) and finally the record.
func (c *Cloud) destroyServer(id string) {
	unlock := c.hv.lockServer(id)
	defer unlock()
	if !c.serverHasTask(id, taskDeleting) {
		return
	}
	c.hv.stop(id)
	if err := os.RemoveAll(c.serverDir(id)); err != nil {
		c.log.Error("remove server folder", "server_id", id, "error", err)
	}
	c.mu.Lock()
	s := c.st.Servers[id]
	if s == nil {
		c.mu.Unlock()
		return
	}
	for _, pid := range s.Ports {
		p := c.st.Ports[pid]
		switch {
		case p == nil:
		case slices.Contains(s.OwnedPorts, pid):
			delete(c.st.Ports, pid)
		case p.DeviceID == id:
			p.DeviceID, p.DeviceOwner, p.Updated = "", "", c.now()
		}
	}
	var doomed []string
	for _, sv := range s.Volumes {
		c.detachVolumeLocked(sv.VolumeID, id)
		if v := c.st.Volumes[sv.VolumeID]; v != nil && sv.DeleteOnTermination && len(v.Attachments) == 0 {
			v.Status, v.Updated = "deleting", c.now()
			doomed = append(doomed, sv.VolumeID)
		}
	}
	delete(c.st.Servers, id)
	c.saveLocked()
	c.mu.Unlock()
	for _, vid := range doomed {
		c.removeVolume(vid)
	}
	c.hv.forget(id)
	c.log.Info("devcloud server deleted", "server_id", id, "project_id", s.ProjectID)
}

// ---- Servers: list, show, update, delete ----

// listServers answers GET /servers and /servers/detail, newest first, with Nova's filters:
// name (a regular expression), status, image, flavor, ip (a regular expression),
// changes-since, tags, tags-any, not-tags, not-tags-any, and all_tenants with tenant_id or
// project_id for admins.
func (c *Cloud) listServers(w http.ResponseWriter, r *http.Request, tok *token, mv novaVersion) {
	q := r.URL.Query()
	detail := strings.HasSuffix(r.URL.Path, "/detail")
	allTenants := q.Has("all_tenants") && !slices.Contains([]string{"0", "false", "f", "off", "no", "n"}, strings.ToLower(q.Get("all_tenants")))
	if allTenants && !tok.isAdmin() {
		c.fail(w, "compute", http.StatusForbidden, "Policy doesn't allow os_compute_api:servers:index:get_all_tenants to be performed.")
		return
	}
	var nameRE, ipRE *regexp.Regexp
	for _, f := range []struct {
		param string
		re    **regexp.Regexp
	}{{"name", &nameRE}, {"ip", &ipRE}} {
		if s := q.Get(f.param); s != "" {
			re, err := regexp.Compile(s)
			if err != nil {
				c.fail(w, "compute", http.StatusBadRequest, "Invalid input for query parameters %s. Value: %s. It is not a valid regular expression", f.param, s)
				return
			}
			*f.re = re
		}
	}
	var changesSince time.Time
	if s := q.Get("changes-since"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			c.fail(w, "compute", http.StatusBadRequest, "Invalid input for query parameters changes-since. Value: %s. '%s' is not a 'date-time'", s, s)
			return
		}
		changesSince = t
	}
	var statuses []string
	for _, s := range q["status"] {
		statuses = append(statuses, strings.ToUpper(s))
	}
	split := func(p string) []string {
		if s := q.Get(p); s != "" {
			return strings.Split(s, ",")
		}
		return nil
	}
	tags, tagsAny, notTags, notTagsAny := split("tags"), split("tags-any"), split("not-tags"), split("not-tags-any")
	project := q.Get("project_id")
	if project == "" {
		project = q.Get("tenant_id")
	}

	c.mu.Lock()
	var list []*server
	for _, s := range c.st.Servers {
		switch {
		case !allTenants && s.ProjectID != tok.ProjectID:
		case allTenants && project != "" && s.ProjectID != project:
		case nameRE != nil && !nameRE.MatchString(s.Name):
		case len(statuses) > 0 && !slices.Contains(statuses, s.Status):
		case q.Get("image") != "" && lastSegment(q.Get("image")) != s.ImageID:
		case q.Get("flavor") != "" && lastSegment(q.Get("flavor")) != s.Flavor.ID:
		case ipRE != nil && !c.serverIPMatchesLocked(s, ipRE):
		case !changesSince.IsZero() && s.Updated.Before(changesSince):
		case tags != nil && !containsAll(s.Tags, tags):
		case tagsAny != nil && !containsAny(s.Tags, tagsAny):
		case notTags != nil && containsAll(s.Tags, notTags):
		case notTagsAny != nil && containsAny(s.Tags, notTagsAny):
		default:
			list = append(list, s)
		}
	}
	sort.Slice(list, func(i, j int) bool {
		if !list[i].Created.Equal(list[j].Created) {
			return list[i].Created.After(list[j].Created)
		}
		return list[i].ID > list[j].ID
	})
	page, next, ok := novaPage(c, w, r, list, func(s *server) string { return s.ID })
	if !ok {
		c.mu.Unlock()
		return
	}
	views := make([]any, 0, len(page))
	for _, s := range page {
		if detail {
			views = append(views, c.serverViewLocked(s, tok, mv))
		} else {
			views = append(views, map[string]any{"id": s.ID, "name": s.Name, "links": c.novaLinks("servers", s.ID)})
		}
	}
	c.mu.Unlock()
	body := map[string]any{"servers": views}
	if next != "" {
		body["servers_links"] = []any{map[string]any{"rel": "next", "href": next}}
	}
	writeJSON(w, http.StatusOK, body)
}

func (c *Cloud) serverIPMatchesLocked(s *server, re *regexp.Regexp) bool {
	for _, pid := range s.Ports {
		if p := c.st.Ports[pid]; p != nil && re.MatchString(p.IPAddress) {
			return true
		}
	}
	return false
}

func containsAll(have, want []string) bool {
	for _, t := range want {
		if !slices.Contains(have, t) {
			return false
		}
	}
	return true
}

func containsAny(have, want []string) bool {
	return slices.ContainsFunc(want, func(t string) bool { return slices.Contains(have, t) })
}

func (c *Cloud) showServer(w http.ResponseWriter, r *http.Request, tok *token, mv novaVersion) {
	c.mu.Lock()
	s, nerr := c.serverLocked(tok, r.PathValue("id"), "show")
	var view map[string]any
	if nerr == nil {
		view = c.serverViewLocked(s, tok, mv)
	}
	c.mu.Unlock()
	if nerr != nil {
		c.writeNovaError(w, nerr)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"server": view})
}

func (c *Cloud) showServerAddresses(w http.ResponseWriter, r *http.Request, tok *token, _ novaVersion) {
	c.mu.Lock()
	s, nerr := c.serverLocked(tok, r.PathValue("id"), "ips:index")
	var addrs map[string]any
	if nerr == nil {
		addrs = c.serverAddressesLocked(s)
	}
	c.mu.Unlock()
	if nerr != nil {
		c.writeNovaError(w, nerr)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"addresses": addrs})
}

// updateServer answers PUT /servers/{id}: the name can change (the config drive keeps the
// name the server booted with, as on a real cloud).
func (c *Cloud) updateServer(w http.ResponseWriter, r *http.Request, tok *token, mv novaVersion) {
	var req struct {
		Server *struct {
			Name *string `json:"name"`
		} `json:"server"`
	}
	if err := readJSON(r, &req); err != nil || req.Server == nil {
		c.fail(w, "compute", http.StatusBadRequest, "Invalid input for field/attribute server. 'server' is a required property")
		return
	}
	c.mu.Lock()
	s, nerr := c.serverLocked(tok, r.PathValue("id"), "update")
	var view map[string]any
	if nerr == nil && req.Server.Name != nil {
		if n := *req.Server.Name; strings.TrimSpace(n) == "" || len(n) > 255 {
			nerr = novaErrorf(http.StatusBadRequest, "Invalid input for field/attribute name. Value: %s. It must be non-blank and at most 255 characters", n)
		} else {
			s.Name, s.Updated = n, c.now()
			c.saveLocked()
		}
	}
	if nerr == nil {
		view = c.serverViewLocked(s, tok, mv)
	}
	c.mu.Unlock()
	if nerr != nil {
		c.writeNovaError(w, nerr)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"server": view})
}

// deleteServer answers 204 at once and deletes the server in the background (see
// destroyServer); until that is done the server shows task_state "deleting".
func (c *Cloud) deleteServer(w http.ResponseWriter, r *http.Request, tok *token, _ novaVersion) {
	c.mu.Lock()
	s, nerr := c.serverLocked(tok, r.PathValue("id"), "delete")
	already := false
	if nerr == nil {
		already = s.TaskState == taskDeleting
		s.TaskState, s.Updated = taskDeleting, c.now()
		c.saveLocked()
	}
	c.mu.Unlock()
	if nerr != nil {
		c.writeNovaError(w, nerr)
		return
	}
	if !already {
		id := s.ID
		c.async(func(context.Context) { c.destroyServer(id) })
	}
	w.WriteHeader(http.StatusNoContent)
}

// ---- Server actions ----

// serverAction answers POST /servers/{id}/action. The body's one key names the action and
// the operation fault rules match ("server.action.reboot").
func (c *Cloud) serverAction(w http.ResponseWriter, r *http.Request) {
	var body map[string]json.RawMessage
	bodyErr := readJSON(r, &body)
	op := "server.action"
	var key string
	var args json.RawMessage
	if bodyErr == nil && len(body) == 1 {
		for key, args = range body {
		}
		op += "." + key
	}
	if c.injectFault(w, r, "compute", op) {
		return
	}
	tok := c.authenticate(r)
	if tok == nil {
		c.fail(w, "identity", http.StatusUnauthorized, "The request you have made requires authentication.")
		return
	}
	mv, nerr := parseNovaVersion(r)
	setNovaVersionHeaders(w, mv)
	switch {
	case nerr != nil:
		c.writeNovaError(w, nerr)
		return
	case bodyErr != nil:
		c.fail(w, "compute", http.StatusBadRequest, "%v", bodyErr)
		return
	case len(body) != 1:
		c.fail(w, "compute", http.StatusBadRequest, "Malformed request body: one action is expected, got %d", len(body))
		return
	}
	id := r.PathValue("id")
	var err error
	switch key {
	case "reboot":
		err = c.rebootServer(tok, id, args)
	case "os-stop":
		err = c.acceptServerTask(tok, id, "stop", []string{"ACTIVE", "ERROR"}, "", taskPoweringOff, nil, true, false, "SHUTOFF")
	case "os-start":
		err = c.acceptServerTask(tok, id, "start", []string{"SHUTOFF"}, "", taskPoweringOn, nil, false, true, "ACTIVE")
	case "resize":
		err = c.resizeServer(tok, id, args)
	case "rebuild":
		// Nova answers a rebuild with the server, as it is now (REBUILD).
		if err = c.rebuildServer(tok, id, mv, args); err == nil {
			c.mu.Lock()
			var view map[string]any
			if s, nerr := c.serverLocked(tok, id, "show"); nerr == nil {
				view = c.serverViewLocked(s, tok, mv)
			}
			c.mu.Unlock()
			writeJSON(w, http.StatusAccepted, map[string]any{"server": view})
			return
		}
	case "confirmResize":
		err = c.confirmResize(tok, id)
	case "revertResize":
		err = c.revertResize(tok, id)
	case "os-getConsoleOutput":
		c.consoleOutput(w, tok, id, args)
		return
	default:
		err = novaErrorf(http.StatusBadRequest, "There is no such action: %s", key)
	}
	if err != nil {
		c.writeNovaError(w, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// acceptServerTask checks that the server may take an action (no task running, a status in
// allowed), applies the action's own change (when set) and records the action's status (when
// set) and task, all under one lock. The work goes on in the background (runServerTask).
func (c *Cloud) acceptServerTask(tok *token, id, action string, allowed []string, status, task string, change func(s *server) error, stop, boot bool, final string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, nerr := c.serverLocked(tok, id, action)
	if nerr != nil {
		return nerr
	}
	if err := checkServerState(s, action, allowed); err != nil {
		return err
	}
	if change != nil {
		if err := change(s); err != nil {
			return err
		}
	}
	if status != "" {
		s.Status = status
	}
	s.TaskState, s.Updated = task, c.now()
	s.Fault = nil
	c.saveLocked()
	c.runServerTask(id, task, stop, boot, final)
	return nil
}

// checkServerState is Nova's check_instance_state: 409 while a task runs or in another state.
func checkServerState(s *server, action string, allowed []string) error {
	if s.TaskState != "" {
		return novaErrorf(http.StatusConflict, "Cannot '%s' instance %s while it is in task_state %s", action, s.ID, s.TaskState)
	}
	if !slices.Contains(allowed, s.Status) {
		vmState, _ := serverStates(s)
		return novaErrorf(http.StatusConflict, "Cannot '%s' instance %s while it is in vm_state %s", action, s.ID, vmState)
	}
	return nil
}

// rebootServer: SOFT or HARD, from ACTIVE or SHUTOFF (HARD also from ERROR); the process is
// stopped and booted again.
func (c *Cloud) rebootServer(tok *token, id string, args json.RawMessage) error {
	var a struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(args, &a); err != nil {
		return novaErrorf(http.StatusBadRequest, "Invalid input for field/attribute reboot. Value: %s. It is not of type 'object'", args)
	}
	switch strings.ToUpper(a.Type) {
	case "SOFT":
		return c.acceptServerTask(tok, id, "reboot", []string{"ACTIVE", "SHUTOFF"}, "REBOOT", taskRebooting, nil, true, true, "ACTIVE")
	case "HARD":
		return c.acceptServerTask(tok, id, "reboot", []string{"ACTIVE", "SHUTOFF", "ERROR"}, "HARD_REBOOT", taskRebootingHard, nil, true, true, "ACTIVE")
	}
	return novaErrorf(http.StatusBadRequest, "Invalid input for field/attribute type. Value: %s. '%s' is not one of ['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft']", a.Type, a.Type)
}

// resizeServer changes an ACTIVE server's flavor: RESIZE while its process restarts with the
// new flavor in its config drive, then VERIFY_RESIZE with the old flavor kept for a revert.
func (c *Cloud) resizeServer(tok *token, id string, args json.RawMessage) error {
	var a struct {
		FlavorRef string `json:"flavorRef"`
	}
	if err := json.Unmarshal(args, &a); err != nil || a.FlavorRef == "" {
		return novaErrorf(http.StatusBadRequest, "Invalid input for field/attribute resize. 'flavorRef' is a required property")
	}
	flavor, ok := c.flavorByID(lastSegment(a.FlavorRef))
	if !ok {
		return novaErrorf(http.StatusBadRequest, "Unable to locate requested flavor.")
	}
	return c.acceptServerTask(tok, id, "resize", []string{"ACTIVE"}, "RESIZE", taskResizing, func(s *server) error {
		if s.Flavor.ID == flavor.ID {
			return novaErrorf(http.StatusBadRequest, "When resizing, instances must change flavor!")
		}
		old := s.Flavor
		s.OldFlavor, s.Flavor = &old, flavor
		return nil
	}, true, true, "VERIFY_RESIZE")
}

// rebuildServer is Nova's rebuild: the server boots again from imageRef on a fresh root
// disk, keeping its ID, ports and attached volumes; REBUILD while the process restarts, then
// ACTIVE. user_data (from microversion 2.57) replaces the server's, and its config drive is
// written anew at the boot. From ACTIVE, SHUTOFF or ERROR, as Nova allows.
func (c *Cloud) rebuildServer(tok *token, id string, mv novaVersion, args json.RawMessage) error {
	var a struct {
		ImageRef string  `json:"imageRef"`
		Name     *string `json:"name"`
		UserData *string `json:"user_data"`
	}
	if err := json.Unmarshal(args, &a); err != nil || a.ImageRef == "" {
		return novaErrorf(http.StatusBadRequest, "Invalid input for field/attribute rebuild. 'imageRef' is a required property")
	}
	if a.UserData != nil && !mv.atLeast(57) {
		return novaErrorf(http.StatusBadRequest, "Invalid input for field/attribute rebuild. Additional properties are not allowed ('user_data' was unexpected)")
	}
	imageID := lastSegment(a.ImageRef)
	if _, ok := c.imageByID(imageID); !ok {
		return novaErrorf(http.StatusBadRequest, "Image %s could not be found.", imageID)
	}
	var userData []byte
	if a.UserData != nil {
		b, err := base64.StdEncoding.DecodeString(*a.UserData)
		if err != nil {
			return novaErrorf(http.StatusBadRequest, "Invalid input for field/attribute user_data. Value: %s. 'user_data' is not a 'base64'", *a.UserData)
		}
		userData = b
	}
	return c.acceptServerTask(tok, id, "rebuild", []string{"ACTIVE", "SHUTOFF", "ERROR"}, "REBUILD", taskRebuilding, func(s *server) error {
		if s.ImageID == "" {
			return novaErrorf(http.StatusBadRequest, "Instance %s is volume-backed; rebuild it from its volume.", s.ID)
		}
		s.ImageID = imageID
		// A fresh root disk: what the guest kept on the old one (its credential) is gone. A
		// VM's disk is made again from the new image at the boot (a running VM keeps the
		// old file open until it stops).
		for _, path := range []string{c.guestStateDir(s.ID), c.rootDiskPath(s.ID)} {
			if err := os.RemoveAll(path); err != nil {
				return novaErrorf(http.StatusInternalServerError, "wipe the root disk of server %s: %v", s.ID, err)
			}
		}
		if a.Name != nil {
			s.Name = *a.Name
		}
		if a.UserData != nil {
			s.UserData = userData
		}
		return nil
	}, true, true, "ACTIVE")
}

// confirmResize keeps the new flavor: VERIFY_RESIZE becomes ACTIVE at once.
func (c *Cloud) confirmResize(tok *token, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, nerr := c.serverLocked(tok, id, "confirm_resize")
	if nerr != nil {
		return nerr
	}
	if err := checkServerState(s, "confirmResize", []string{"VERIFY_RESIZE"}); err != nil {
		return err
	}
	s.Status, s.OldFlavor, s.Updated = "ACTIVE", nil, c.now()
	c.saveLocked()
	return nil
}

// revertResize goes back to the old flavor: REVERT_RESIZE while the process restarts, then
// ACTIVE.
func (c *Cloud) revertResize(tok *token, id string) error {
	return c.acceptServerTask(tok, id, "revertResize", []string{"VERIFY_RESIZE"}, "REVERT_RESIZE", taskResizeReverting, func(s *server) error {
		if s.OldFlavor == nil {
			return novaErrorf(http.StatusBadRequest, "Instance has not been resized.")
		}
		s.Flavor, s.OldFlavor = *s.OldFlavor, nil
		return nil
	}, true, true, "ACTIVE")
}

// consoleOutput answers os-getConsoleOutput with the last length lines of the console log
// (all of it when length is null or -1).
func (c *Cloud) consoleOutput(w http.ResponseWriter, tok *token, id string, args json.RawMessage) {
	var a struct {
		Length any `json:"length"`
	}
	if len(args) > 0 && string(args) != "null" {
		if err := json.Unmarshal(args, &a); err != nil {
			c.fail(w, "compute", http.StatusBadRequest, "Invalid input for field/attribute os-getConsoleOutput. It is not of type 'object'")
			return
		}
	}
	length := -1
	switch v := a.Length.(type) {
	case nil:
	case float64:
		length = int(v)
	case string:
		n, err := strconv.Atoi(v)
		if err != nil {
			c.fail(w, "compute", http.StatusBadRequest, "Invalid input for field/attribute length. Value: %s. '%s' does not match '^-?[0-9]+$'", v, v)
			return
		}
		length = n
	default:
		c.fail(w, "compute", http.StatusBadRequest, "Invalid input for field/attribute length. It is not an integer")
		return
	}
	if length < -1 {
		c.fail(w, "compute", http.StatusBadRequest, "Invalid input for field/attribute length. Value: %d. %d is less than the minimum of -1", length, length)
		return
	}
	c.mu.Lock()
	_, nerr := c.serverLocked(tok, id, "os-console-output")
	c.mu.Unlock()
	if nerr != nil {
		c.writeNovaError(w, nerr)
		return
	}
	b, err := os.ReadFile(c.consolePath(id))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		c.fail(w, "compute", http.StatusConflict, "Guest does not have a console available: %v", err)
		return
	}
	out := string(b)
	if length >= 0 {
		lines := strings.SplitAfter(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) > length {
			lines = lines[len(lines)-length:]
		}
		out = strings.Join(lines, "")
		if length > 0 && strings.HasSuffix(string(b), "\n") {
			out += "\n"
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"output": out})
}

// ---- Server metadata ----

// serverMetadata answers GET (the metadata), POST (merge keys in) and PUT (replace all) on
// /servers/{id}/metadata.
func (c *Cloud) serverMetadata(w http.ResponseWriter, r *http.Request, tok *token, _ novaVersion) {
	var req struct {
		Metadata map[string]string `json:"metadata"`
	}
	if r.Method != http.MethodGet {
		if err := readJSON(r, &req); err != nil || req.Metadata == nil {
			c.fail(w, "compute", http.StatusBadRequest, "Invalid input for field/attribute metadata. 'metadata' is a required object of strings")
			return
		}
		for k, v := range req.Metadata {
			if k == "" || len(k) > 255 || len(v) > 255 {
				c.fail(w, "compute", http.StatusBadRequest, "Invalid input for field/attribute metadata. Keys must be 1 to 255 characters and values at most 255.")
				return
			}
		}
	}
	c.mu.Lock()
	s, nerr := c.serverLocked(tok, r.PathValue("id"), "server-metadata")
	out := map[string]string{}
	if nerr == nil {
		switch r.Method {
		case http.MethodPut:
			s.Metadata = req.Metadata
		case http.MethodPost:
			if s.Metadata == nil {
				s.Metadata = map[string]string{}
			}
			for k, v := range req.Metadata {
				s.Metadata[k] = v
			}
		}
		if r.Method != http.MethodGet {
			s.Updated = c.now()
			c.saveLocked()
		}
		for k, v := range s.Metadata {
			out[k] = v
		}
	}
	c.mu.Unlock()
	if nerr != nil {
		c.writeNovaError(w, nerr)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"metadata": out})
}

// serverMetadatum answers GET, PUT and DELETE on /servers/{id}/metadata/{key}.
func (c *Cloud) serverMetadatum(w http.ResponseWriter, r *http.Request, tok *token, _ novaVersion) {
	key := r.PathValue("key")
	var req struct {
		Meta map[string]string `json:"meta"`
	}
	if r.Method == http.MethodPut {
		if err := readJSON(r, &req); err != nil || len(req.Meta) != 1 {
			c.fail(w, "compute", http.StatusBadRequest, "Malformed request body: 'meta' must hold exactly one key")
			return
		}
		if _, ok := req.Meta[key]; !ok {
			c.fail(w, "compute", http.StatusBadRequest, "Request body and URI mismatch")
			return
		}
	}
	c.mu.Lock()
	s, nerr := c.serverLocked(tok, r.PathValue("id"), "server-metadata")
	var value string
	if nerr == nil {
		var found bool
		value, found = s.Metadata[key]
		switch {
		case r.Method == http.MethodPut:
			if s.Metadata == nil {
				s.Metadata = map[string]string{}
			}
			value = req.Meta[key]
			s.Metadata[key], s.Updated = value, c.now()
			c.saveLocked()
		case !found:
			nerr = novaErrorf(http.StatusNotFound, "Metadata item was not found")
		case r.Method == http.MethodDelete:
			delete(s.Metadata, key)
			s.Updated = c.now()
			c.saveLocked()
		}
	}
	c.mu.Unlock()
	switch {
	case nerr != nil:
		c.writeNovaError(w, nerr)
	case r.Method == http.MethodDelete:
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSON(w, http.StatusOK, map[string]any{"meta": map[string]string{key: value}})
	}
}

// ---- Volume attachments ----

func volumeAttachmentView(serverID string, sv serverVolume, mv novaVersion) map[string]any {
	v := map[string]any{"serverId": serverID, "volumeId": sv.VolumeID, "device": sv.Device}
	if mv.atLeast(89) {
		v["attachment_id"] = sv.AttachmentID
		v["bdm_uuid"] = stableID("bdm", serverID+"/"+sv.VolumeID)
	} else {
		v["id"] = sv.VolumeID
	}
	if mv.atLeast(70) {
		v["tag"] = nil
	}
	if mv.atLeast(79) {
		v["delete_on_termination"] = sv.DeleteOnTermination
	}
	return v
}

func (c *Cloud) listServerVolumes(w http.ResponseWriter, r *http.Request, tok *token, mv novaVersion) {
	c.mu.Lock()
	s, nerr := c.serverLocked(tok, r.PathValue("id"), "os-volumes-attachments:index")
	views := []any{}
	if nerr == nil {
		for _, sv := range s.Volumes {
			views = append(views, volumeAttachmentView(s.ID, sv, mv))
		}
	}
	c.mu.Unlock()
	if nerr != nil {
		c.writeNovaError(w, nerr)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"volumeAttachments": views})
}

func (c *Cloud) showServerVolume(w http.ResponseWriter, r *http.Request, tok *token, mv novaVersion) {
	volumeID := r.PathValue("volume_id")
	c.mu.Lock()
	s, nerr := c.serverLocked(tok, r.PathValue("id"), "os-volumes-attachments:show")
	var view map[string]any
	if nerr == nil {
		if i := slices.IndexFunc(s.Volumes, func(sv serverVolume) bool { return sv.VolumeID == volumeID }); i >= 0 {
			view = volumeAttachmentView(s.ID, s.Volumes[i], mv)
		} else {
			nerr = novaErrorf(http.StatusNotFound, "Volume %s is not attached to instance %s.", volumeID, s.ID)
		}
	}
	c.mu.Unlock()
	if nerr != nil {
		c.writeNovaError(w, nerr)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"volumeAttachment": view})
}

// attachServerVolume hot-plugs a volume: Cinder records the attachment and the server's
// config drive lists the volume at once.
func (c *Cloud) attachServerVolume(w http.ResponseWriter, r *http.Request, tok *token, mv novaVersion) {
	var req struct {
		VolumeAttachment *struct {
			VolumeID            string `json:"volumeId"`
			Device              string `json:"device"`
			DeleteOnTermination bool   `json:"delete_on_termination"`
		} `json:"volumeAttachment"`
	}
	if err := readJSON(r, &req); err != nil || req.VolumeAttachment == nil || req.VolumeAttachment.VolumeID == "" {
		c.fail(w, "compute", http.StatusBadRequest, "Invalid input for field/attribute volumeAttachment. 'volumeId' is a required property")
		return
	}
	ra := req.VolumeAttachment
	if ra.DeleteOnTermination && !mv.atLeast(79) {
		c.fail(w, "compute", http.StatusBadRequest, "Invalid input for field/attribute volumeAttachment. Additional properties are not allowed ('delete_on_termination' was unexpected)")
		return
	}
	c.mu.Lock()
	view, err := c.attachServerVolumeLocked(tok, r.PathValue("id"), ra.VolumeID, ra.Device, ra.DeleteOnTermination, mv)
	c.mu.Unlock()
	if err != nil {
		c.writeNovaError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"volumeAttachment": view})
}

func (c *Cloud) attachServerVolumeLocked(tok *token, serverID, volumeID, device string, deleteOnTermination bool, mv novaVersion) (map[string]any, error) {
	s, nerr := c.serverLocked(tok, serverID, "os-volumes-attachments:create")
	if nerr != nil {
		return nil, nerr
	}
	if err := checkServerState(s, "attach_volume", []string{"ACTIVE", "SHUTOFF", "VERIFY_RESIZE"}); err != nil {
		return nil, err
	}
	v := c.st.Volumes[volumeID]
	if v == nil || !tok.owns(v.ProjectID) {
		return nil, novaErrorf(http.StatusNotFound, "Volume %s could not be found.", volumeID)
	}
	if slices.ContainsFunc(s.Volumes, func(sv serverVolume) bool { return sv.VolumeID == volumeID }) {
		return nil, novaErrorf(http.StatusConflict, "Volume %s is already attached to instance %s.", volumeID, s.ID)
	}
	if v.Status != "available" {
		return nil, novaErrorf(http.StatusBadRequest, "Invalid volume: volume %s status must be available, but is %s", volumeID, v.Status)
	}
	if device == "" || slices.ContainsFunc(s.Volumes, func(sv serverVolume) bool { return sv.Device == device }) || device == "/dev/vda" {
		device = c.nextDeviceLocked(s)
	}
	attachmentID, err := c.attachVolumeLocked(volumeID, s.ID, device)
	if err != nil {
		return nil, novaErrorf(http.StatusBadRequest, "Invalid volume: %v", err)
	}
	sv := serverVolume{VolumeID: volumeID, AttachmentID: attachmentID, Device: device, DeleteOnTermination: deleteOnTermination}
	s.Volumes = append(s.Volumes, sv)
	s.Updated = c.now()
	if err := c.writeConfigDriveLocked(s); err != nil {
		c.log.Error("update config drive after attach", "server_id", s.ID, "error", err)
	}
	c.saveLocked()
	return volumeAttachmentView(s.ID, sv, mv), nil
}

// detachServerVolume unplugs a volume; a server's root volume stays.
func (c *Cloud) detachServerVolume(w http.ResponseWriter, r *http.Request, tok *token, _ novaVersion) {
	volumeID := r.PathValue("volume_id")
	c.mu.Lock()
	err := c.detachServerVolumeLocked(tok, r.PathValue("id"), volumeID)
	c.mu.Unlock()
	if err != nil {
		c.writeNovaError(w, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (c *Cloud) detachServerVolumeLocked(tok *token, serverID, volumeID string) error {
	s, nerr := c.serverLocked(tok, serverID, "os-volumes-attachments:delete")
	if nerr != nil {
		return nerr
	}
	if err := checkServerState(s, "detach_volume", []string{"ACTIVE", "SHUTOFF", "VERIFY_RESIZE"}); err != nil {
		return err
	}
	i := slices.IndexFunc(s.Volumes, func(sv serverVolume) bool { return sv.VolumeID == volumeID })
	if i < 0 {
		return novaErrorf(http.StatusNotFound, "Volume %s is not attached to instance %s.", volumeID, s.ID)
	}
	if s.ImageID == "" && s.Volumes[i].Device == "/dev/vda" {
		return novaErrorf(http.StatusBadRequest, "Cannot detach a root device volume")
	}
	c.detachVolumeLocked(volumeID, s.ID)
	s.Volumes = slices.Delete(s.Volumes, i, i+1)
	s.Updated = c.now()
	if err := c.writeConfigDriveLocked(s); err != nil {
		c.log.Error("update config drive after detach", "server_id", s.ID, "error", err)
	}
	c.saveLocked()
	return nil
}
