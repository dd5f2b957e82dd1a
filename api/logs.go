package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/activities"
	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/workflows"
)

// GuestLogView is one of an instance's logs as Trove shows it.
type GuestLogView struct {
	Name      string `json:"name" example:"general"`
	Type      string `json:"type" enum:"USER,SYS" doc:"USER logs the tenant turns on and off; SYS logs are always on."`
	Status    string `json:"status" enum:"Disabled,Enabled,Unavailable,Ready,Published,Partial,Rotated" doc:"Disabled (off), Enabled (on, nothing written yet), Ready (written, nothing published), Published (all of it published), Partial (more written since the last publish), Rotated (the log restarted since)."`
	Published int64  `json:"published" doc:"Bytes published to Swift since the last discard."`
	Pending   int64  `json:"pending" doc:"Bytes written that the next publish sends."`
	Container string `json:"container" doc:"The Swift container the log is published into."`
	Prefix    string `json:"prefix" doc:"The name every published object of the log starts with."`
	Metafile  string `json:"metafile"`
}

// ListGuestLogsResponse lists an instance's logs.
type ListGuestLogsResponse struct {
	Body struct {
		Logs []GuestLogView `json:"logs"`
	}
}

// GuestLogActionRequest shows a log, or turns it on or off, publishes or discards it.
type GuestLogActionRequest struct {
	InstancePath
	Body struct {
		Name    string `json:"name" minLength:"1" maxLength:"64" doc:"The log's name (general)."`
		Enable  int    `json:"enable,omitempty" doc:"1 turns a USER log on."`
		Disable int    `json:"disable,omitempty" doc:"1 turns a USER log off."`
		Publish int    `json:"publish,omitempty" doc:"1 publishes what the log holds beyond the last publish into Swift (turning a USER log on first)."`
		Discard int    `json:"discard,omitempty" doc:"1 deletes what was published."`
	}
}

// GuestLogResponse is one log after the action.
type GuestLogResponse struct {
	Body struct {
		Log GuestLogView `json:"log"`
	}
}

// guestLogWait bounds how long the API waits for a publish or a discard.
const guestLogWait = 2 * time.Minute

func (s *Server) registerLogs(g *huma.Group) {
	tags := []string{"Logs"}
	huma.Register(g, huma.Operation{
		OperationID: "listGuestLogs", Method: http.MethodGet, Path: "/instances/{id}/log",
		Summary: "List the instance's logs", Description: "Trove's guest logs: each log the engine exposes, its status, and where it is published in Swift.",
		Tags: tags, Errors: errMethods,
	}, s.listGuestLogs)
	huma.Register(g, huma.Operation{
		OperationID: "guestLogAction", Method: http.MethodPost, Path: "/instances/{id}/log",
		Summary:     "Show, turn on or off, publish or discard a log",
		Description: "With only `name`, shows the log (`trove log-show`). `enable` or `disable` turns a USER log on or off; `publish` streams what is new into the Swift container `database_logs`, under the log's prefix, from the guest straight to Swift; `discard` deletes what was published.",
		Tags:        tags, DefaultStatus: http.StatusOK, Errors: errMethods,
	}, s.guestLogAction)
}

func (s *Server) listGuestLogs(ctx context.Context, in *InstancePath) (*ListGuestLogsResponse, error) {
	inst, err := s.activeInstance(ctx, in.ProjectID, in.ID)
	if err != nil {
		return nil, err
	}
	var logs []guest.LogInfo
	if err := s.callGuest(ctx, inst, "log/list", guest.ListLogsActivity, nil, &logs); err != nil {
		return nil, err
	}
	out := &ListGuestLogsResponse{}
	out.Body.Logs = make([]GuestLogView, 0, len(logs))
	for _, l := range logs {
		out.Body.Logs = append(out.Body.Logs, guestLogView(inst, l))
	}
	return out, nil
}

func (s *Server) guestLogAction(ctx context.Context, in *GuestLogActionRequest) (*GuestLogResponse, error) {
	b := in.Body
	actions := 0
	for _, v := range []int{b.Enable, b.Disable, b.Publish, b.Discard} {
		if v != 0 {
			actions++
		}
	}
	if actions > 1 && !(b.Publish != 0 && b.Disable != 0 && b.Enable == 0 && b.Discard == 0) {
		return nil, badRequest("Give at most one of enable, disable, publish and discard.")
	}
	inst, err := s.activeInstance(ctx, in.ProjectID, in.ID)
	if err != nil {
		return nil, err
	}
	var info guest.LogInfo
	switch {
	case b.Publish != 0 || b.Discard != 0:
		info, err = s.guest.GuestLog(ctx, workflows.GuestLogInput{
			InstanceID: inst.ID, ProjectID: inst.ProjectID, Datastore: inst.Datastore, Log: b.Name, Discard: b.Discard != 0,
		}, guestLogWait)
		if err == nil && b.Disable != 0 {
			err = s.guest.CallGuest(ctx, guestLogCall(inst, guest.SetLogActivity), guest.SetLogInput{Name: b.Name}, &info)
		}
		if err != nil {
			return nil, faultFor(ctx, s.log.With("instance_id", inst.ID, "project_id", inst.ProjectID), err, "Instance "+inst.ID)
		}
	case b.Enable != 0 || b.Disable != 0:
		err = s.callGuest(ctx, inst, "log/set", guest.SetLogActivity, guest.SetLogInput{Name: b.Name, Enable: b.Enable != 0}, &info)
	default:
		err = s.showGuestLog(ctx, inst, b.Name, &info)
	}
	if err != nil {
		return nil, err
	}
	out := &GuestLogResponse{}
	out.Body.Log = guestLogView(inst, info)
	return out, nil
}

// showGuestLog finds one log in the guest's list; a name it does not list is a 404.
func (s *Server) showGuestLog(ctx context.Context, inst *coffer.Instance, name string, info *guest.LogInfo) error {
	var logs []guest.LogInfo
	if err := s.callGuest(ctx, inst, "log/show", guest.ListLogsActivity, nil, &logs); err != nil {
		return err
	}
	for _, l := range logs {
		if l.Name == name {
			*info = l
			return nil
		}
	}
	return itemNotFound("Log %s does not exist on instance %s.", name, inst.ID)
}

func guestLogCall(inst *coffer.Instance, activity string) GuestCall {
	return GuestCall{InstanceID: inst.ID, ProjectID: inst.ProjectID, Operation: "log/set", Activity: activity}
}

// guestLogView shows l as Trove does, its status derived from its state and what was
// published of it.
func guestLogView(inst *coffer.Instance, l guest.LogInfo) GuestLogView {
	prefix := activities.LogPrefix(inst.ID, inst.Datastore, l.Name)
	v := GuestLogView{Name: l.Name, Type: l.Type, Published: l.Published, Container: activities.LogContainer,
		Prefix: prefix, Metafile: prefix[:len(prefix)-1] + "_metafile"}
	switch {
	case l.Type == guest.LogUser && !l.Enabled:
		v.Status = "Disabled"
	case l.Size < l.Published:
		v.Status, v.Pending = "Rotated", l.Size
	case l.Size == 0 && l.Type == guest.LogSys:
		v.Status = "Unavailable"
	case l.Size == 0:
		v.Status = "Enabled"
	case l.Published == 0:
		v.Status, v.Pending = "Ready", l.Size
	case l.Published == l.Size:
		v.Status = "Published"
	default:
		v.Status, v.Pending = "Partial", l.Size-l.Published
	}
	return v
}
