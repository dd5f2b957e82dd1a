package devcloud

import (
	"fmt"
	"path/filepath"
)

// routeVolume registers Cinder v3 under /volume/v3/{project_id}.
func (c *Cloud) routeVolume() {}

// volumeDir is the folder that holds a volume's data.
func (c *Cloud) volumeDir(id string) string { return filepath.Join(c.cfg.DataDir, "volumes", id) }

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
