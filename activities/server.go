package activities

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestauth"
)

// ResolveImageInput is ResolveImage's input.
type ResolveImageInput struct {
	InstanceID string `json:"instance_id"`
	// Tag is the Glance tag of the datastore version's image, "coffer-postgresql-15".
	Tag string `json:"tag"`
}

// ResolveImage finds the active Glance image with the tag (the newest, if several) and
// returns its ID. No such image fails at once (ImageNotFound): the datastore version names
// an image the cloud does not have.
func (a *Activities) ResolveImage(ctx context.Context, in ResolveImageInput) (string, error) {
	what := fmt.Sprintf("find image tagged %q for instance %s", in.Tag, in.InstanceID)
	pages, err := images.List(a.Image, images.ListOpts{
		Tags: []string{in.Tag}, Status: images.ImageStatusActive, SortKey: "created_at", SortDir: "desc",
	}).AllPages(ctx)
	if err != nil {
		return "", cloudError(err, what)
	}
	found, err := images.ExtractImages(pages)
	if err != nil {
		return "", cloudError(err, what)
	}
	if len(found) == 0 {
		return "", temporal.NewNonRetryableApplicationError(what+": glance has no active image with this tag", ErrorTypeImageNotFound, nil)
	}
	return found[0].ID, nil
}

// CreateServerInput is CreateServer's input. It holds no secret: the guest's configuration,
// which carries the server's bootstrap secret, is built inside the activity.
type CreateServerInput struct {
	InstanceID string `json:"instance_id"`
	ProjectID  string `json:"project_id"`
	// Name is the instance's name, which the server takes (as Trove names it), so that
	// operators find a database's server by it; empty falls back to coffer-<instance-id>.
	Name      string `json:"name,omitempty"`
	FlavorID  string `json:"flavor_id"`
	ImageID   string `json:"image_id"`
	PortID    string `json:"port_id"`
	VolumeID  string `json:"volume_id"`
	Datastore string `json:"datastore"`
	Version   string `json:"version"`
}

// CreateServer boots the instance's server, named after the instance as Trove does: the
// image on a local root disk, the data volume attached (not deleted with the server: the
// workflow deletes it itself), the port, the instance ID in its metadata, and the guest
// agent's configuration in user_data (GuestUserData, for the instance's guest identity,
// made here if it has none). It returns the server's ID, finding one an earlier try made by
// the instance ID in its metadata (names are the tenant's and need not be
// unique). It does not wait: WaitServerActive does.
func (a *Activities) CreateServer(ctx context.Context, in CreateServerInput) (string, error) {
	what := "create server for instance " + in.InstanceID
	found, err := a.findServers(ctx, in.InstanceID)
	if err != nil {
		return "", cloudError(err, what)
	}
	if len(found) > 0 {
		return found[0].ID, nil
	}
	generation, err := a.Catalog.EnsureGuestIdentity(ctx, in.InstanceID)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	userData, err := a.GuestUserData(GuestServer{InstanceID: in.InstanceID, Datastore: in.Datastore,
		Version: in.Version, VolumeID: in.VolumeID}, generation)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	s, err := servers.Create(ctx, a.Compute, servers.CreateOpts{
		Name:      serverName(in),
		FlavorRef: in.FlavorID,
		ImageRef:  in.ImageID,
		// Encoded here: gophercloud passes on what already is base64 as it is.
		UserData: []byte(base64.StdEncoding.EncodeToString(userData)),
		Networks: []servers.Network{{Port: in.PortID}},
		Metadata: map[string]string{MetadataInstanceID: in.InstanceID, "coffer_project_id": in.ProjectID},
		BlockDevice: []servers.BlockDevice{
			{
				SourceType: servers.SourceImage, DestinationType: servers.DestinationLocal,
				UUID: in.ImageID, BootIndex: 0, DeleteOnTermination: true,
			},
			{
				SourceType: servers.SourceVolume, DestinationType: servers.DestinationVolume,
				UUID: in.VolumeID, BootIndex: -1, DeleteOnTermination: false,
			},
		},
	}, nil).Extract()
	if err != nil {
		return "", cloudError(err, what)
	}
	return s.ID, nil
}

// GuestServer is what a server's user_data tells its guest agent about the instance.
type GuestServer struct {
	InstanceID string
	Datastore  string
	Version    string
	// VolumeID is the instance's data volume.
	VolumeID string
}

// GuestUserData is the user_data of a server of the instance whose guest identity is at
// generation (catalog.EnsureGuestIdentity for a new server, RenewGuestIdentity for one that
// gets new user_data): the agent's configuration with the generation's single-use bootstrap
// secret, which is derived, so that the same generation always gives the same user_data.
func (a *Activities) GuestUserData(s GuestServer, generation int) ([]byte, error) {
	bootstrap, err := guestauth.Bootstrap(a.Guest.MasterKey, s.InstanceID, generation)
	if err != nil {
		return nil, err
	}
	userData, err := json.Marshal(guest.Config{
		InstanceID:        s.InstanceID,
		Datastore:         s.Datastore,
		Version:           s.Version,
		VolumeID:          s.VolumeID,
		GatewayHostPort:   a.Guest.GatewayHostPort,
		GatewayCA:         a.Guest.GatewayCA,
		TemporalNamespace: a.Guest.Namespace,
		Bootstrap:         bootstrap,
		OTLPEndpoint:      a.Guest.OTLPEndpoint,
	})
	if err != nil {
		return nil, fmt.Errorf("encode guest config of instance %s: %w", s.InstanceID, err)
	}
	return userData, nil
}

// serverName is the name the instance's server gets: the instance's own.
func serverName(in CreateServerInput) string {
	if in.Name == "" {
		return ResourceName(in.InstanceID)
	}
	return in.Name
}

// findServers lists the instance's servers: those of the control plane's project whose
// metadata names the instance. Nova has no metadata filter, so the project's servers are
// read and sorted here.
func (a *Activities) findServers(ctx context.Context, instanceID string) ([]servers.Server, error) {
	pages, err := servers.List(a.Compute, servers.ListOpts{}).AllPages(ctx)
	if err != nil {
		return nil, err
	}
	all, err := servers.ExtractServers(pages)
	if err != nil {
		return nil, err
	}
	var found []servers.Server
	for _, s := range all {
		if s.Metadata[MetadataInstanceID] == instanceID && s.Status != "DELETED" && s.Status != "SOFT_DELETED" {
			found = append(found, s)
		}
	}
	return found, nil
}

// servers resolves a ref to the servers it names: the server with its ID (none if Nova no
// longer has it), or the servers whose metadata names the instance.
func (a *Activities) servers(ctx context.Context, ref ResourceRef) ([]servers.Server, error) {
	if ref.ID == "" {
		return a.findServers(ctx, ref.InstanceID)
	}
	s, err := servers.Get(ctx, a.Compute, pathSegment(ref.ID)).Extract()
	if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if s.Status == "DELETED" || s.Status == "SOFT_DELETED" {
		return nil, nil
	}
	return []servers.Server{*s}, nil
}

// WaitServerActive polls the server until Nova says ACTIVE, heartbeating its status. A
// server in ERROR fails at once (ServerFailed) with Nova's fault message, as does one that
// is gone or powered off.
func (a *Activities) WaitServerActive(ctx context.Context, ref ResourceRef) error {
	what := "wait for server " + ref.ID + " of instance " + ref.InstanceID
	poll := a.newPoller()
	for {
		s, err := servers.Get(ctx, a.Compute, pathSegment(ref.ID)).Extract()
		if err != nil {
			return cloudError(err, what)
		}
		switch s.Status {
		case "ACTIVE":
			return nil
		case "ERROR":
			msg := what + ": nova put the server in ERROR"
			if s.Fault.Message != "" {
				msg += ": " + s.Fault.Message
			}
			return temporal.NewNonRetryableApplicationError(msg, ErrorTypeServerFailed, nil, s.Fault.Details)
		case "SHUTOFF", "DELETED", "SOFT_DELETED":
			return temporal.NewNonRetryableApplicationError(what+": the server is "+s.Status+" instead of booting", ErrorTypeServerFailed, nil)
		}
		activity.RecordHeartbeat(ctx, s.Status)
		if err := poll.wait(ctx); err != nil {
			return err
		}
	}
}

// WatchServerRunning watches a server that booted while its guest agent starts, polling
// Nova and heartbeating its status, until ctx ends (the create got its answer from the
// guest). A server that stops meanwhile (ERROR, SHUTOFF, gone: a guest agent that exits, a
// VM that crashes) fails it at once (ServerFailed) with Nova's fault and the last lines of
// the server's console, so that the create fails now, saying why, instead of waiting for
// the guest-start timeout.
func (a *Activities) WatchServerRunning(ctx context.Context, ref ResourceRef) error {
	what := "server " + ref.ID + " of instance " + ref.InstanceID
	poll := a.newPoller()
	for {
		s, err := servers.Get(ctx, a.Compute, pathSegment(ref.ID)).Extract()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case gophercloud.ResponseCodeIs(err, http.StatusNotFound):
			return temporal.NewNonRetryableApplicationError(what+" is gone while its guest agent was starting", ErrorTypeServerFailed, nil)
		case err != nil:
			return cloudError(err, "watch "+what)
		}
		switch s.Status {
		case "ERROR", "SHUTOFF", "DELETED", "SOFT_DELETED":
			msg := what + " stopped while its guest agent was starting: nova says " + s.Status
			if s.Fault.Message != "" {
				msg += ": " + s.Fault.Message
			}
			tail := a.consoleTail(ctx, ref.ID)
			if last := lastLine(tail); last != "" {
				msg += "; its console ends: " + last
			}
			return temporal.NewNonRetryableApplicationError(msg, ErrorTypeServerFailed, nil, tail)
		}
		activity.RecordHeartbeat(ctx, s.Status)
		if err := poll.wait(ctx); err != nil {
			return err
		}
	}
}

// consoleTailLines is how much of a failed server's console a fault carries.
const consoleTailLines = 10

// consoleTail is the end of a server's console log, for a fault's details (which only
// admins see); empty when Nova has none to give.
func (a *Activities) consoleTail(ctx context.Context, serverID string) string {
	out, err := servers.ShowConsoleOutput(ctx, a.Compute, pathSegment(serverID), servers.ShowConsoleOutputOpts{Length: consoleTailLines}).Extract()
	if err != nil {
		return ""
	}
	return out
}

// lastLine is the last line of text that is not blank, at most 300 bytes of it.
func lastLine(text string) string {
	lines := strings.Split(strings.TrimRight(text, "\n\r\t "), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	if len(last) > 300 {
		last = last[:300] + "..."
	}
	return last
}

// DeleteServer asks Nova to delete the instance's server (by ID, or every server whose
// metadata names the instance). Gone already is done; WaitServerDeleted waits for it to go.
func (a *Activities) DeleteServer(ctx context.Context, ref ResourceRef) error {
	what := "delete server of instance " + ref.InstanceID
	found, err := a.servers(ctx, ref)
	if err != nil {
		return cloudError(err, what)
	}
	for _, s := range found {
		if err := a.deleteServer(ctx, s.ID, what); err != nil {
			return err
		}
	}
	return nil
}

func (a *Activities) deleteServer(ctx context.Context, id, what string) error {
	err := servers.Delete(ctx, a.Compute, pathSegment(id)).ExtractErr()
	switch {
	case err == nil, gophercloud.ResponseCodeIs(err, http.StatusNotFound):
		return nil
	case gophercloud.ResponseCodeIs(err, http.StatusConflict):
		// Another task holds the server (it is still building, say): try again later.
		return inUse(err, what+": server "+id)
	}
	return cloudError(err, what+": server "+id)
}

// WaitServerDeleted polls until Nova no longer has the instance's server (by ID, or any
// server whose metadata names the instance), heartbeating its status. A server whose delete failed
// (back in ERROR with no task) is asked to go again.
func (a *Activities) WaitServerDeleted(ctx context.Context, ref ResourceRef) error {
	what := "wait for the server of instance " + ref.InstanceID + " to go"
	poll := a.newPoller()
	for {
		found, err := a.servers(ctx, ref)
		if err != nil {
			return cloudError(err, what)
		}
		if len(found) == 0 {
			return nil
		}
		for _, s := range found {
			if s.Status == "ERROR" && s.TaskState == "" {
				if err := a.deleteServer(ctx, s.ID, what); err != nil && !temporal.IsApplicationError(err) {
					return err
				}
			}
		}
		activity.RecordHeartbeat(ctx, found[0].Status)
		if err := poll.wait(ctx); err != nil {
			return err
		}
	}
}
