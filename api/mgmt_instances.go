package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/catalog"
)

// MgmtInstanceView is an instance as admins see it: what a tenant sees, plus the project,
// the cloud resources, the task and the service status.
type MgmtInstanceView struct {
	InstanceView
	TenantID        string `json:"tenant_id"`
	ServerID        string `json:"server_id"`
	VolumeID        string `json:"volume_id"`
	TaskDescription string `json:"task_description" example:"NONE"`
	ServiceStatus   string `json:"service_status" example:"HEALTHY"`
	Deleted         bool   `json:"deleted"`
}

// MgmtListInstancesRequest pages through every project's instances.
type MgmtListInstancesRequest struct {
	ProjectPath
	Limit            int    `query:"limit" minimum:"1" doc:"The most instances to return (default 20, at most 100)."`
	Marker           string `query:"marker" doc:"Return the instances after this one."`
	TenantProjectID  string `query:"project_id" doc:"Only this project's instances."`
	Deleted          bool   `query:"deleted" doc:"Accepted for Trove compatibility: deleted instances are not kept."`
	IncludeClustered bool   `query:"include_clustered" doc:"Accepted for Trove compatibility."`
}

// MgmtInstancePath names any project's instance.
type MgmtInstancePath struct {
	ProjectPath
	ID string `path:"id" doc:"The instance ID."`
}

// MgmtInstanceListResponse is a page of instances of every project.
type MgmtInstanceListResponse struct {
	Body struct {
		Instances      []MgmtInstanceView `json:"instances"`
		Links          []Link             `json:"links,omitempty"`
		InstancesLinks []Link             `json:"instances_links,omitempty"`
	}
}

// MgmtInstanceResponse is one instance.
type MgmtInstanceResponse struct {
	Body struct {
		Instance MgmtInstanceView `json:"instance"`
	}
}

// RootHistoryView is Trove's root history: when root was last enabled, by whom.
type RootHistoryView struct {
	Enabled string `json:"enabled" doc:"When root was last enabled, or Never."`
	ID      string `json:"id" doc:"The instance."`
	User    string `json:"user" doc:"The Keystone user who enabled it, or Nobody."`
}

// RootHistoryResponse is an instance's root history.
type RootHistoryResponse struct {
	Body struct {
		RootHistory RootHistoryView `json:"root_history"`
	}
}

func (s *Server) registerMgmtInstances(g *huma.Group) {
	tags := []string{"Management"}
	huma.Register(g, huma.Operation{
		OperationID: "mgmtListInstances", Method: http.MethodGet, Path: "/mgmt/instances",
		Summary: "List every project's instances (admin)", Tags: tags, Errors: []int{http.StatusBadRequest},
	}, s.mgmtListInstances)
	huma.Register(g, huma.Operation{
		OperationID: "mgmtShowInstance", Method: http.MethodGet, Path: "/mgmt/instances/{id}",
		Summary: "Show any project's instance (admin)", Tags: tags, Errors: []int{http.StatusNotFound},
	}, s.mgmtShowInstance)
	huma.Register(g, huma.Operation{
		OperationID: "mgmtShowRootHistory", Method: http.MethodGet, Path: "/mgmt/instances/{id}/root",
		Summary: "Show an instance's root history (admin)", Tags: tags, Errors: []int{http.StatusNotFound},
	}, s.mgmtRootHistory)
}

func (s *Server) mgmtView(ctx context.Context, inst *coffer.Instance, detail bool) MgmtInstanceView {
	return MgmtInstanceView{InstanceView: s.instanceView(ctx, inst, detail), TenantID: inst.ProjectID, ServerID: inst.ServerID,
		VolumeID: inst.VolumeID, TaskDescription: string(inst.Task), ServiceStatus: string(inst.ServiceStatus)}
}

func (s *Server) mgmtListInstances(ctx context.Context, in *MgmtListInstancesRequest) (*MgmtInstanceListResponse, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	limit := in.Limit
	if limit <= 0 {
		limit = defaultPageSize
	}
	limit = min(limit, maxPageSize)
	if in.Marker != "" && uuid.Validate(in.Marker) != nil {
		return nil, badRequest("Invalid request: query parameter marker: %q is not an instance ID.", in.Marker)
	}
	insts, err := s.catalog.ListInstances(ctx, in.TenantProjectID, limit+1, in.Marker)
	if err != nil {
		return nil, faultFor(ctx, s.log, err, "Marker instance "+in.Marker)
	}
	out := &MgmtInstanceListResponse{}
	out.Body.Instances = []MgmtInstanceView{}
	for i, inst := range insts {
		if i == limit {
			q := url.Values{"limit": {strconv.Itoa(limit)}, "marker": {insts[limit-1].ID}}
			if in.TenantProjectID != "" {
				q.Set("project_id", in.TenantProjectID)
			}
			next := []Link{{Href: baseURLFrom(ctx) + "/v1.0/" + in.ProjectID + "/mgmt/instances?" + q.Encode(), Rel: "next"}}
			out.Body.Links, out.Body.InstancesLinks = next, next
			break
		}
		out.Body.Instances = append(out.Body.Instances, s.mgmtView(ctx, s.settled(ctx, inst), true))
	}
	return out, nil
}

func (s *Server) mgmtShowInstance(ctx context.Context, in *MgmtInstancePath) (*MgmtInstanceResponse, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	inst, err := s.getInstance(ctx, "", in.ID)
	if err != nil {
		return nil, err
	}
	out := &MgmtInstanceResponse{}
	out.Body.Instance = s.mgmtView(ctx, inst, true)
	return out, nil
}

func (s *Server) mgmtRootHistory(ctx context.Context, in *MgmtInstancePath) (*RootHistoryResponse, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	if _, err := s.getInstance(ctx, "", in.ID); err != nil {
		return nil, err
	}
	out := &RootHistoryResponse{}
	h, err := s.catalog.GetRootHistory(ctx, in.ID)
	switch {
	case errors.Is(err, catalog.ErrNotFound):
		out.Body.RootHistory = RootHistoryView{Enabled: "Never", ID: in.ID, User: "Nobody"}
	case err != nil:
		return nil, faultFor(ctx, s.log, err, "Root history of instance "+in.ID)
	default:
		out.Body.RootHistory = RootHistoryView{Enabled: formatTime(h.Enabled), ID: in.ID, User: h.UserID}
	}
	return out, nil
}
