package api

import (
	"context"
	"net/http"
	"slices"
	"strconv"

	"github.com/danielgtaylor/huma/v2"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
)

// FlavorDetailView is a Nova flavor as Trove shows it: id is the integer ID, or null when
// Nova's ID is not an integer; str_id is always Nova's ID.
type FlavorDetailView struct {
	ID        *int   `json:"id" doc:"Nova's ID when it is an integer, else null."`
	StrID     string `json:"str_id" example:"ds1G"`
	Name      string `json:"name" example:"ds1G"`
	RAM       int    `json:"ram" doc:"MiB" example:"1024"`
	VCPUs     int    `json:"vcpus" example:"1"`
	Disk      int    `json:"disk" doc:"GiB"`
	Ephemeral int    `json:"ephemeral" doc:"GiB"`
	Links     []Link `json:"links"`
}

// FlavorPath names a flavor.
type FlavorPath struct {
	ProjectPath
	FlavorID string `path:"flavor_id" maxLength:"255" pattern:"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$" doc:"Nova's flavor ID: letters, digits, '.', '_' or '-'."`
}

// ListFlavorsRequest pages through the flavors.
type ListFlavorsRequest struct {
	ProjectPath
	PageQuery
	DatastoreType      string `query:"datastore_type" doc:"Only the flavors this datastore's default version allows."`
	DatastoreVersionID string `query:"datastore_version_id" doc:"Only the flavors this version allows."`
}

// FlavorResponse is one flavor.
type FlavorResponse struct {
	Body struct {
		Flavor FlavorDetailView `json:"flavor"`
	}
}

// FlavorListResponse is a page of flavors; the next page's link is in links and in
// flavors_links (the key gophercloud reads).
type FlavorListResponse struct {
	Body struct {
		Flavors      []FlavorDetailView `json:"flavors"`
		Links        []Link             `json:"links,omitempty"`
		FlavorsLinks []Link             `json:"flavors_links,omitempty"`
	}
}

func (s *Server) registerFlavors(g *huma.Group) {
	tags := []string{"Flavors"}
	huma.Register(g, huma.Operation{
		OperationID: "listFlavors", Method: http.MethodGet, Path: "/flavors",
		Summary: "List flavors", Description: "Lists Nova's flavors, by ID, optionally those a datastore version allows.",
		Tags: tags, Errors: []int{http.StatusBadRequest},
	}, s.listFlavors)
	huma.Register(g, huma.Operation{
		OperationID: "showFlavor", Method: http.MethodGet, Path: "/flavors/{flavor_id}",
		Summary: "Show a flavor", Tags: tags, Errors: []int{http.StatusNotFound},
	}, s.showFlavor)
}

func (s *Server) flavorView(ctx context.Context, projectID string, f flavors.Flavor) FlavorDetailView {
	v := FlavorDetailView{StrID: f.ID, Name: f.Name, RAM: f.RAM, VCPUs: f.VCPUs, Disk: f.Disk, Ephemeral: f.Ephemeral,
		Links: []Link{
			{Href: baseURLFrom(ctx) + "/v1.0/" + projectID + "/flavors/" + f.ID, Rel: "self"},
			{Href: baseURLFrom(ctx) + "/flavors/" + f.ID, Rel: "bookmark"},
		}}
	if n, err := strconv.Atoi(f.ID); err == nil {
		v.ID = &n
	}
	return v
}

// flavors lists Nova's flavors by ID.
func (c *cloud) flavors(ctx context.Context) ([]flavors.Flavor, error) {
	pages, err := flavors.ListDetail(c.compute, flavors.ListOpts{AccessType: flavors.AllAccess}).AllPages(ctx)
	if err != nil {
		return nil, unavailable("list flavors in Nova", err)
	}
	fs, err := flavors.ExtractFlavors(pages)
	if err != nil {
		return nil, unavailable("read flavors from Nova", err)
	}
	slices.SortFunc(fs, func(a, b flavors.Flavor) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return fs, nil
}

// flavor finds one flavor; errNoSuchFlavor when Nova has none.
func (c *cloud) flavor(ctx context.Context, id string) (*flavors.Flavor, error) {
	f, err := flavors.Get(ctx, c.compute, pathSegment(id)).Extract()
	if err != nil {
		if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			return nil, errNoSuchFlavor
		}
		return nil, unavailable("look flavor "+id+" up in Nova", err)
	}
	return f, nil
}

func (s *Server) listFlavors(ctx context.Context, in *ListFlavorsRequest) (*FlavorListResponse, error) {
	fs, err := s.cloud.flavors(ctx)
	if err != nil {
		return nil, faultFor(ctx, s.log, err, "Flavors")
	}
	if in.DatastoreType != "" || in.DatastoreVersionID != "" {
		versionID := in.DatastoreVersionID
		if in.DatastoreType != "" {
			v, err := s.catalog.FindDatastoreVersion(ctx, in.DatastoreType, in.DatastoreVersionID)
			if err != nil {
				return nil, faultFor(ctx, s.log, err, "Datastore "+in.DatastoreType+" version "+in.DatastoreVersionID)
			}
			versionID = v.ID
		}
		if fs, err = s.allowedFlavors(ctx, versionID, fs); err != nil {
			return nil, err
		}
	}
	views := make([]FlavorDetailView, 0, len(fs))
	for _, f := range fs {
		views = append(views, s.flavorView(ctx, in.ProjectID, f))
	}
	out := &FlavorListResponse{}
	out.Body.Flavors, out.Body.Links = page(ctx, views, func(v FlavorDetailView) string { return v.StrID }, in.PageQuery, "/v1.0/"+in.ProjectID+"/flavors")
	out.Body.FlavorsLinks = out.Body.Links
	if out.Body.Flavors == nil {
		out.Body.Flavors = []FlavorDetailView{}
	}
	return out, nil
}

func (s *Server) showFlavor(ctx context.Context, in *FlavorPath) (*FlavorResponse, error) {
	f, err := s.cloud.flavor(ctx, in.FlavorID)
	if err != nil {
		if err == errNoSuchFlavor {
			return nil, itemNotFound("Flavor %s could not be found.", in.FlavorID)
		}
		return nil, faultFor(ctx, s.log, err, "Flavor "+in.FlavorID)
	}
	out := &FlavorResponse{}
	out.Body.Flavor = s.flavorView(ctx, in.ProjectID, *f)
	return out, nil
}

// allowedFlavors keeps the flavors a version allows (all when it names none).
func (s *Server) allowedFlavors(ctx context.Context, versionID string, fs []flavors.Flavor) ([]flavors.Flavor, error) {
	d, err := s.catalog.GetVersionDetail(ctx, versionID)
	if err != nil {
		return nil, faultFor(ctx, s.log, err, "Datastore version "+versionID)
	}
	if len(d.Flavors) == 0 {
		return fs, nil
	}
	return slices.DeleteFunc(fs, func(f flavors.Flavor) bool { return !slices.Contains(d.Flavors, f.ID) }), nil
}
