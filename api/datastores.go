package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/catalog"
)

// DatastorePath names a datastore by ID or name.
type DatastorePath struct {
	ProjectPath
	Datastore string `path:"datastore" doc:"The datastore's ID or name."`
}

// VersionPath names a version of a datastore by ID or name.
type VersionPath struct {
	DatastorePath
	Version string `path:"version" doc:"The version's ID or name."`
}

// ListVersionFlavorsRequest lists the flavors a version allows.
type ListVersionFlavorsRequest struct {
	VersionPath
	PageQuery
}

// VersionLinkView is a version in a datastore's list.
type VersionLinkView struct {
	ID    string `json:"id" format:"uuid"`
	Name  string `json:"name" example:"15"`
	Links []Link `json:"links"`
}

// DatastoreDetailView is a datastore with its active versions; default_version is the ID
// of its default version.
type DatastoreDetailView struct {
	ID             string            `json:"id" format:"uuid"`
	Name           string            `json:"name" example:"postgresql"`
	DefaultVersion string            `json:"default_version,omitempty"`
	Links          []Link            `json:"links"`
	Versions       []VersionLinkView `json:"versions"`
}

// VersionView is a datastore version as Trove shows it.
type VersionView struct {
	ID        string   `json:"id" format:"uuid"`
	Name      string   `json:"name" example:"15"`
	Datastore string   `json:"datastore" doc:"The datastore's ID."`
	Version   string   `json:"version" example:"15"`
	Active    bool     `json:"active"`
	Packages  string   `json:"packages"`
	Image     string   `json:"image" doc:"Coffer finds images by tag: always empty."`
	ImageTags []string `json:"image_tags"`
	Links     []Link   `json:"links"`
}

// DatastoreResponse is one datastore.
type DatastoreResponse struct {
	Body struct {
		Datastore DatastoreDetailView `json:"datastore"`
	}
}

// DatastoreListResponse lists the datastores.
type DatastoreListResponse struct {
	Body struct {
		Datastores []DatastoreDetailView `json:"datastores"`
	}
}

// VersionResponse is one version.
type VersionResponse struct {
	Body struct {
		Version VersionView `json:"version"`
	}
}

// VersionListResponse lists a datastore's versions.
type VersionListResponse struct {
	Body struct {
		Versions []VersionView `json:"versions"`
	}
}

func (s *Server) registerDatastores(g *huma.Group) {
	tags := []string{"Datastores"}
	huma.Register(g, huma.Operation{
		OperationID: "listDatastores", Method: http.MethodGet, Path: "/datastores",
		Summary: "List datastores", Description: "Lists the datastores that have an active version, with those versions.", Tags: tags,
	}, s.listDatastores)
	huma.Register(g, huma.Operation{
		OperationID: "showDatastore", Method: http.MethodGet, Path: "/datastores/{datastore}",
		Summary: "Show a datastore", Tags: tags, Errors: []int{http.StatusNotFound},
	}, s.showDatastore)
	huma.Register(g, huma.Operation{
		OperationID: "listDatastoreVersions", Method: http.MethodGet, Path: "/datastores/{datastore}/versions",
		Summary: "List a datastore's versions", Tags: tags, Errors: []int{http.StatusNotFound},
	}, s.listDatastoreVersions)
	huma.Register(g, huma.Operation{
		OperationID: "showDatastoreVersion", Method: http.MethodGet, Path: "/datastores/{datastore}/versions/{version}",
		Summary: "Show a datastore version", Tags: tags, Errors: []int{http.StatusNotFound},
	}, s.showVersion)
	huma.Register(g, huma.Operation{
		OperationID: "listDatastoreVersionFlavors", Method: http.MethodGet, Path: "/datastores/{datastore}/versions/{version}/flavors",
		Summary: "List the flavors a version allows", Description: "All of Nova's flavors unless an admin limited the version to some.",
		Tags: tags, Errors: []int{http.StatusNotFound},
	}, s.listVersionFlavors)
	s.registerMgmtDatastoreVersions(g)
}

func (s *Server) datastoreView(ctx context.Context, projectID string, d catalog.Datastore) DatastoreDetailView {
	base := baseURLFrom(ctx)
	v := DatastoreDetailView{ID: d.ID, Name: d.Name, Versions: []VersionLinkView{}, Links: []Link{
		{Href: base + "/v1.0/" + projectID + "/datastores/" + d.ID, Rel: "self"},
		{Href: base + "/datastores/" + d.ID, Rel: "bookmark"},
	}}
	for _, ver := range d.Versions {
		if ver.Name == d.DefaultVersion {
			v.DefaultVersion = ver.ID
		}
		v.Versions = append(v.Versions, VersionLinkView{ID: ver.ID, Name: ver.Name, Links: []Link{
			{Href: base + "/v1.0/" + projectID + "/datastores/" + d.ID + "/versions/" + ver.ID, Rel: "self"},
			{Href: base + "/datastores/" + d.ID + "/versions/" + ver.ID, Rel: "bookmark"},
		}})
	}
	return v
}

func versionView(ctx context.Context, projectID, datastoreID string, v catalog.DatastoreVersion, packages string) VersionView {
	base := baseURLFrom(ctx)
	return VersionView{ID: v.ID, Name: v.Name, Datastore: datastoreID, Version: v.Name, Active: v.Active, Packages: packages,
		ImageTags: imageTags(v.ImageTag), Links: []Link{
			{Href: base + "/v1.0/" + projectID + "/datastores/" + datastoreID + "/versions/" + v.ID, Rel: "self"},
			{Href: base + "/datastores/" + datastoreID + "/versions/" + v.ID, Rel: "bookmark"},
		}}
}

// datastore finds a datastore with an active version by ID or name.
func (s *Server) datastore(ctx context.Context, idOrName string) (catalog.Datastore, error) {
	all, err := s.catalog.ListDatastores(ctx)
	if err != nil {
		return catalog.Datastore{}, faultFor(ctx, s.log, err, "Datastores")
	}
	for _, d := range all {
		if d.ID == idOrName || d.Name == idOrName {
			return d, nil
		}
	}
	return catalog.Datastore{}, itemNotFound("Datastore %s could not be found.", idOrName)
}

func (s *Server) listDatastores(ctx context.Context, in *ProjectPath) (*DatastoreListResponse, error) {
	all, err := s.catalog.ListDatastores(ctx)
	if err != nil {
		return nil, faultFor(ctx, s.log, err, "Datastores")
	}
	out := &DatastoreListResponse{}
	out.Body.Datastores = []DatastoreDetailView{}
	for _, d := range all {
		out.Body.Datastores = append(out.Body.Datastores, s.datastoreView(ctx, in.ProjectID, d))
	}
	return out, nil
}

func (s *Server) showDatastore(ctx context.Context, in *DatastorePath) (*DatastoreResponse, error) {
	d, err := s.datastore(ctx, in.Datastore)
	if err != nil {
		return nil, err
	}
	out := &DatastoreResponse{}
	out.Body.Datastore = s.datastoreView(ctx, in.ProjectID, d)
	return out, nil
}

func (s *Server) listDatastoreVersions(ctx context.Context, in *DatastorePath) (*VersionListResponse, error) {
	d, err := s.datastore(ctx, in.Datastore)
	if err != nil {
		return nil, err
	}
	out := &VersionListResponse{}
	out.Body.Versions = []VersionView{}
	for _, v := range d.Versions {
		out.Body.Versions = append(out.Body.Versions, versionView(ctx, in.ProjectID, d.ID, v, ""))
	}
	return out, nil
}

// version finds an active version of a datastore by ID or name.
func (s *Server) version(ctx context.Context, in *VersionPath) (catalog.Datastore, catalog.DatastoreVersion, error) {
	d, err := s.datastore(ctx, in.Datastore)
	if err != nil {
		return d, catalog.DatastoreVersion{}, err
	}
	for _, v := range d.Versions {
		if v.ID == in.Version || v.Name == in.Version {
			return d, v, nil
		}
	}
	return d, catalog.DatastoreVersion{}, itemNotFound("Datastore version %s of %s could not be found.", in.Version, d.Name)
}

func (s *Server) showVersion(ctx context.Context, in *VersionPath) (*VersionResponse, error) {
	d, v, err := s.version(ctx, in)
	if err != nil {
		return nil, err
	}
	out := &VersionResponse{}
	out.Body.Version = versionView(ctx, in.ProjectID, d.ID, v, "")
	return out, nil
}

func (s *Server) listVersionFlavors(ctx context.Context, in *ListVersionFlavorsRequest) (*FlavorListResponse, error) {
	_, v, err := s.version(ctx, &in.VersionPath)
	if err != nil {
		return nil, err
	}
	fs, err := s.cloud.flavors(ctx)
	if err != nil {
		return nil, faultFor(ctx, s.log, err, "Flavors")
	}
	if fs, err = s.allowedFlavors(ctx, v.ID, fs); err != nil {
		return nil, err
	}
	views := make([]FlavorDetailView, 0, len(fs))
	for _, f := range fs {
		views = append(views, s.flavorView(ctx, in.ProjectID, f))
	}
	out := &FlavorListResponse{}
	out.Body.Flavors, out.Body.Links = page(ctx, views, func(v FlavorDetailView) string { return v.StrID }, in.PageQuery,
		"/v1.0/"+in.ProjectID+"/datastores/"+in.Datastore+"/versions/"+in.Version+"/flavors")
	out.Body.FlavorsLinks = out.Body.Links
	if out.Body.Flavors == nil {
		out.Body.Flavors = []FlavorDetailView{}
	}
	return out, nil
}

// MgmtVersion is a datastore version as admins add and change it (Trove's mgmt body, plus
// Coffer's flavors).
type MgmtVersion struct {
	DatastoreName    string   `json:"datastore_name,omitempty" example:"postgresql"`
	DatastoreManager string   `json:"datastore_manager,omitempty" example:"postgresql" doc:"The guest's driver: postgresql, mysql, mariadb or redis."`
	Name             string   `json:"name,omitempty" example:"16"`
	Image            string   `json:"image,omitempty" doc:"The Glance ID of the version's image; without it, the newest active image with the tag (image_tags)."`
	ImageTags        []string `json:"image_tags,omitempty" doc:"The Glance tag of the version's image (one)." example:"[\"coffer-postgresql-16\"]"`
	Active           *bool    `json:"active,omitempty"`
	Default          *bool    `json:"default,omitempty"`
	Packages         *string  `json:"packages,omitempty"`
	Version          string   `json:"version,omitempty" doc:"Accepted for Trove compatibility."`
	Flavors          []string `json:"flavors,omitempty" doc:"Coffer: the flavor IDs the version allows; none means all."`
}

// MgmtVersionView is a version as admins see it.
type MgmtVersionView struct {
	ID               string   `json:"id" format:"uuid"`
	Name             string   `json:"name"`
	DatastoreID      string   `json:"datastore_id" format:"uuid"`
	DatastoreName    string   `json:"datastore_name"`
	DatastoreManager string   `json:"datastore_manager"`
	Image            string   `json:"image"`
	ImageTags        []string `json:"image_tags"`
	Packages         string   `json:"packages"`
	Active           bool     `json:"active"`
	Default          bool     `json:"default"`
	Flavors          []string `json:"flavors"`
}

// MgmtVersionPath names a version by ID.
type MgmtVersionPath struct {
	ProjectPath
	VersionID string `path:"version_id" format:"uuid"`
}

// CreateMgmtVersionRequest adds a version.
type CreateMgmtVersionRequest struct {
	ProjectPath
	Body struct {
		Version MgmtVersion `json:"version"`
	}
}

// UpdateMgmtVersionRequest changes a version; keys left out stay as they are.
type UpdateMgmtVersionRequest struct {
	MgmtVersionPath
	Body MgmtVersion
}

// MgmtVersionResponse is one version.
type MgmtVersionResponse struct {
	Body struct {
		Version MgmtVersionView `json:"version"`
	}
}

// MgmtVersionListResponse lists every version.
type MgmtVersionListResponse struct {
	Body struct {
		Versions []MgmtVersionView `json:"versions"`
	}
}

func (s *Server) registerMgmtDatastoreVersions(g *huma.Group) {
	tags := []string{"Management"}
	errs := []int{http.StatusBadRequest, http.StatusNotFound}
	huma.Register(g, huma.Operation{OperationID: "mgmtListDatastoreVersions", Method: http.MethodGet, Path: "/mgmt/datastore-versions",
		Summary: "List every datastore version (admin)", Tags: tags, Errors: errs}, s.mgmtListVersions)
	huma.Register(g, huma.Operation{OperationID: "mgmtCreateDatastoreVersion", Method: http.MethodPost, Path: "/mgmt/datastore-versions",
		Summary: "Add a datastore version (admin)", Description: "Adds a version, making its datastore when it has none.",
		Tags: tags, DefaultStatus: http.StatusAccepted, Errors: errs}, s.mgmtCreateVersion)
	huma.Register(g, huma.Operation{OperationID: "mgmtShowDatastoreVersion", Method: http.MethodGet, Path: "/mgmt/datastore-versions/{version_id}",
		Summary: "Show a datastore version (admin)", Tags: tags, Errors: errs}, s.mgmtShowVersion)
	huma.Register(g, huma.Operation{OperationID: "mgmtUpdateDatastoreVersion", Method: http.MethodPatch, Path: "/mgmt/datastore-versions/{version_id}",
		Summary: "Change a datastore version (admin)", Tags: tags, DefaultStatus: http.StatusAccepted, Errors: errs}, s.mgmtUpdateVersion)
	huma.Register(g, huma.Operation{OperationID: "mgmtDeleteDatastoreVersion", Method: http.MethodDelete, Path: "/mgmt/datastore-versions/{version_id}",
		Summary: "Remove a datastore version (admin)", Description: "Instances of the version keep running.",
		Tags: tags, DefaultStatus: http.StatusAccepted, Errors: errs}, s.mgmtDeleteVersion)
}

func mgmtVersionView(v catalog.VersionDetail) MgmtVersionView {
	flavors := v.Flavors
	if flavors == nil {
		flavors = []string{}
	}
	return MgmtVersionView{ID: v.ID, Name: v.Name, DatastoreID: v.DatastoreID, DatastoreName: v.Datastore,
		DatastoreManager: v.Manager, Image: v.ImageID, ImageTags: imageTags(v.ImageTag), Packages: v.Packages, Active: v.Active,
		Default: v.Default, Flavors: flavors}
}

// managerPorts are the engines' ports, by manager.
var managerPorts = map[string]int{"postgresql": 5432, "mysql": 3306, "mariadb": 3306, "redis": 6379}

func (s *Server) mgmtListVersions(ctx context.Context, in *ProjectPath) (*MgmtVersionListResponse, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	vs, err := s.catalog.ListVersionDetails(ctx)
	if err != nil {
		return nil, faultFor(ctx, s.log, err, "Datastore versions")
	}
	out := &MgmtVersionListResponse{}
	out.Body.Versions = []MgmtVersionView{}
	for _, v := range vs {
		out.Body.Versions = append(out.Body.Versions, mgmtVersionView(v))
	}
	return out, nil
}

func (s *Server) mgmtShowVersion(ctx context.Context, in *MgmtVersionPath) (*MgmtVersionResponse, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	v, err := s.catalog.GetVersionDetail(ctx, in.VersionID)
	if err != nil {
		return nil, faultFor(ctx, s.log, err, "Datastore version "+in.VersionID)
	}
	out := &MgmtVersionResponse{}
	out.Body.Version = mgmtVersionView(v)
	return out, nil
}

// imageTags is a version's tag as a list: none when it has none (its image is by ID).
func imageTags(tag string) []string {
	if tag == "" {
		return []string{}
	}
	return []string{tag}
}

func checkImage(v MgmtVersion) error {
	if v.Image != "" {
		if err := coffer.ValidCloudID(v.Image); err != nil {
			return badRequest("Invalid request: version.image: %v.", err)
		}
	}
	if len(v.ImageTags) > 1 {
		return badRequest("Invalid request: version.image_tags: give one tag.")
	}
	return nil
}

func (s *Server) mgmtCreateVersion(ctx context.Context, in *CreateMgmtVersionRequest) (*struct{}, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	v := in.Body.Version
	manager := v.DatastoreManager
	if manager == "" {
		manager = v.DatastoreName
	}
	port, ok := managerPorts[manager]
	switch {
	case v.DatastoreName == "" || v.Name == "":
		return nil, badRequest("Invalid request: version: datastore_name and name are required.")
	case !ok:
		return nil, badRequest("Invalid request: version.datastore_manager: %s is not one of postgresql, mysql, mariadb, redis.", quote(manager))
	case len(v.ImageTags) == 0 && v.Image == "":
		return nil, badRequest("Invalid request: version: give the Glance ID of the version's image (image) or its tag (image_tags).")
	}
	if err := checkImage(v); err != nil {
		return nil, err
	}
	nv := catalog.NewVersion{Datastore: v.DatastoreName, Name: v.Name, Manager: manager, ImageID: v.Image, Port: port,
		Active: v.Active == nil || *v.Active, Default: v.Default != nil && *v.Default, Flavors: v.Flavors}
	if len(v.ImageTags) == 1 {
		nv.ImageTag = v.ImageTags[0]
	}
	if v.Packages != nil {
		nv.Packages = *v.Packages
	}
	if _, err := s.catalog.CreateVersion(ctx, nv); err != nil {
		if errors.Is(err, catalog.ErrExists) {
			return nil, badRequest("Datastore %s already has a version %s.", v.DatastoreName, v.Name)
		}
		return nil, faultFor(ctx, s.log, err, "Datastore version")
	}
	return accepted()
}

func (s *Server) mgmtUpdateVersion(ctx context.Context, in *UpdateMgmtVersionRequest) (*struct{}, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	v := in.Body
	if err := checkImage(v); err != nil {
		return nil, err
	}
	c := catalog.VersionChange{Active: v.Active, Default: v.Default, Packages: v.Packages}
	if v.Name != "" {
		c.Name = &v.Name
	}
	if v.DatastoreManager != "" {
		if _, ok := managerPorts[v.DatastoreManager]; !ok {
			return nil, badRequest("Invalid request: datastore_manager: %s is not one of postgresql, mysql, mariadb, redis.", quote(v.DatastoreManager))
		}
		c.Manager = &v.DatastoreManager
	}
	if len(v.ImageTags) == 1 {
		c.ImageTag = &v.ImageTags[0]
	}
	if v.Image != "" {
		c.ImageID = &v.Image
	}
	if v.Flavors != nil {
		c.Flavors = &v.Flavors
	}
	if _, err := s.catalog.UpdateVersion(ctx, in.VersionID, c); err != nil {
		if errors.Is(err, catalog.ErrExists) {
			return nil, badRequest("The datastore already has a version %s.", v.Name)
		}
		return nil, faultFor(ctx, s.log, err, "Datastore version "+in.VersionID)
	}
	return accepted()
}

func (s *Server) mgmtDeleteVersion(ctx context.Context, in *MgmtVersionPath) (*struct{}, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	err := s.catalog.DeleteVersion(ctx, in.VersionID)
	if errors.Is(err, catalog.ErrInUse) {
		return nil, badRequest("Datastore version %s has configuration groups: delete them first, or make the version inactive.", in.VersionID)
	}
	if err != nil {
		return nil, faultFor(ctx, s.log, err, "Datastore version "+in.VersionID)
	}
	return accepted()
}
