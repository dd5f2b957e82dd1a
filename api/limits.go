package api

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/danielgtaylor/huma/v2"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/activities"
	"github.com/coffer-dbaas/coffer/catalog"
)

// AbsoluteLimitsView is the first entry of Trove's limits: the project's quotas. Coffer
// has no rate limits, so it is the only entry.
type AbsoluteLimitsView struct {
	Verb         string `json:"verb" example:"ABSOLUTE"`
	MaxInstances int    `json:"max_instances"`
	MaxBackups   int    `json:"max_backups"`
	MaxVolumes   int    `json:"max_volumes" doc:"GiB"`
	MaxRAM       int    `json:"max_ram" doc:"MiB"`
}

// LimitsResponse is Trove's GET /limits.
type LimitsResponse struct {
	Body struct {
		Limits []AbsoluteLimitsView `json:"limits"`
	}
}

// QuotaView is one resource's quota of a project.
type QuotaView struct {
	Resource string `json:"resource" enum:"backups,instances,ram,volumes"`
	Limit    int    `json:"limit" doc:"-1 is no limit."`
	InUse    int    `json:"in_use"`
	Reserved int    `json:"reserved"`
}

// QuotaPath names the project whose quotas an admin reads or sets.
type QuotaPath struct {
	ProjectPath
	Project string `path:"project" doc:"The project whose quotas these are."`
}

// QuotasResponse lists a project's quotas.
type QuotasResponse struct {
	Body struct {
		Quotas []QuotaView `json:"quotas"`
	}
}

// SetQuotasRequest sets limits of a project.
type SetQuotasRequest struct {
	QuotaPath
	Body struct {
		Quotas map[string]int `json:"quotas" doc:"Limits by resource (instances, ram, volumes, backups); -1 is no limit."`
	}
}

// SetQuotasResponse is the project's limits after the change.
type SetQuotasResponse struct {
	Body struct {
		Quotas map[string]int `json:"quotas"`
	}
}

func (s *Server) registerLimits(g *huma.Group) {
	huma.Register(g, huma.Operation{
		OperationID: "listLimits", Method: http.MethodGet, Path: "/limits",
		Summary: "Show the project's limits", Description: "The project's quotas as Trove's ABSOLUTE limits entry.",
		Tags: []string{"Limits"},
	}, s.listLimits)
	tags := []string{"Management"}
	huma.Register(g, huma.Operation{
		OperationID: "mgmtShowQuotas", Method: http.MethodGet, Path: "/mgmt/quotas/{project}",
		Summary: "Show a project's quotas (admin)", Tags: tags,
	}, s.showQuotas)
	huma.Register(g, huma.Operation{
		OperationID: "mgmtUpdateQuotas", Method: http.MethodPut, Path: "/mgmt/quotas/{project}",
		Summary: "Set a project's quotas (admin)", Tags: tags, DefaultStatus: http.StatusOK, Errors: []int{http.StatusBadRequest},
	}, s.setQuotas)
}

// quotaDefaults are the configured limits of a project that has none of its own.
func (s *Server) quotaDefaults() catalog.QuotaLimits { return catalog.DefaultLimits(s.cfg.Quotas) }

func (s *Server) listLimits(ctx context.Context, in *ProjectPath) (*LimitsResponse, error) {
	quotas, err := s.catalog.ProjectQuotas(ctx, in.ProjectID, s.quotaDefaults())
	if err != nil {
		return nil, faultFor(ctx, s.log, err, "Quotas")
	}
	abs := AbsoluteLimitsView{Verb: "ABSOLUTE"}
	for _, q := range quotas {
		switch q.Resource {
		case catalog.ResourceInstances:
			abs.MaxInstances = q.Limit
		case catalog.ResourceBackups:
			abs.MaxBackups = q.Limit
		case catalog.ResourceVolumes:
			abs.MaxVolumes = q.Limit
		case catalog.ResourceRAM:
			abs.MaxRAM = q.Limit
		}
	}
	out := &LimitsResponse{}
	out.Body.Limits = []AbsoluteLimitsView{abs}
	return out, nil
}

func (s *Server) showQuotas(ctx context.Context, in *QuotaPath) (*QuotasResponse, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	quotas, err := s.catalog.ProjectQuotas(ctx, in.Project, s.quotaDefaults())
	if err != nil {
		return nil, faultFor(ctx, s.log, err, "Quotas")
	}
	out := &QuotasResponse{}
	for _, q := range quotas {
		out.Body.Quotas = append(out.Body.Quotas, QuotaView{Resource: q.Resource, Limit: q.Limit, InUse: q.InUse, Reserved: q.Reserved})
	}
	return out, nil
}

func (s *Server) setQuotas(ctx context.Context, in *SetQuotasRequest) (*SetQuotasResponse, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	if len(in.Body.Quotas) == 0 {
		return nil, badRequest("Invalid request: quotas: give at least one of instances, ram, volumes, backups.")
	}
	for r, l := range in.Body.Quotas {
		if !slices.Contains(catalog.QuotaResources, r) {
			return nil, badRequest("Invalid request: quotas: %s is not a resource; use instances, ram, volumes or backups.", quote(r))
		}
		if l < catalog.Unlimited {
			return nil, badRequest("Invalid request: quotas.%s: %d is below -1 (no limit).", r, l)
		}
	}
	if err := s.catalog.SetQuotas(ctx, in.Project, in.Body.Quotas); err != nil {
		return nil, faultFor(ctx, s.log, err, "Quotas")
	}
	s.log.InfoContext(ctx, "quotas set", "project_id", in.Project, "quotas", in.Body.Quotas, "by", principalFrom(ctx).UserID)
	quotas, err := s.catalog.ProjectQuotas(ctx, in.Project, s.quotaDefaults())
	if err != nil {
		return nil, faultFor(ctx, s.log, err, "Quotas")
	}
	out := &SetQuotasResponse{}
	out.Body.Quotas = map[string]int{}
	for _, q := range quotas {
		out.Body.Quotas[q.Resource] = q.Limit
	}
	return out, nil
}

// recordWithinQuota is the record of a new instance that its create workflow makes as its
// first step, when the project's quotas allow it: the flavor's RAM and the volume count
// against them, atomically with the insert. A request past a quota is Trove's 413
// overLimit.
func (s *Server) recordWithinQuota(ctx context.Context, inst *coffer.Instance) (*activities.RecordInstanceInput, error) {
	f, err := s.cloud.flavor(ctx, inst.FlavorID)
	if err != nil {
		if errors.Is(err, errNoSuchFlavor) {
			return nil, badRequest("Flavor %s not found.", inst.FlavorID)
		}
		return nil, err
	}
	defaults := s.quotaDefaults()
	return &activities.RecordInstanceInput{Instance: *inst, RAMMB: f.RAM, Quotas: &defaults}, nil
}
