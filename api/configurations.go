package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/workflows"
)

// ConfigurationCatalog is what the configuration routes read and change in the catalog;
// *catalog.Store implements it.
type ConfigurationCatalog interface {
	ListParameters(ctx context.Context, versionID string) ([]catalog.Parameter, error)
	GetParameter(ctx context.Context, versionID, name string) (catalog.Parameter, error)
	SaveParameter(ctx context.Context, p catalog.Parameter, create bool) error
	DeleteParameter(ctx context.Context, versionID, name string) error
	CreateConfiguration(ctx context.Context, c *catalog.Configuration) error
	GetConfiguration(ctx context.Context, projectID, id string) (*catalog.Configuration, error)
	ListConfigurations(ctx context.Context, projectID string, limit int, marker string) ([]*catalog.Configuration, error)
	UpdateConfiguration(ctx context.Context, projectID, id string, ch catalog.ConfigurationChange) (*catalog.Configuration, []catalog.InstanceRef, error)
	DeleteConfiguration(ctx context.Context, projectID, id string) error
	ConfigurationInstances(ctx context.Context, projectID, id string) ([]catalog.InstanceRef, error)
	SetInstanceConfiguration(ctx context.Context, projectID, instanceID, configurationID string) error
}

// ConfigurationWorkflows starts the workflow that applies configuration groups.
type ConfigurationWorkflows interface {
	// StartApplyConfiguration starts ApplyConfiguration for one request (request is
	// unique per request).
	StartApplyConfiguration(ctx context.Context, in workflows.ApplyConfigurationInput, request string) error
}

// ConfigurationDatastore names the datastore version of a new configuration group.
type ConfigurationDatastore struct {
	Type          string `json:"type,omitempty" doc:"The datastore's name or ID (default postgresql)." example:"postgresql"`
	Version       string `json:"version,omitempty" doc:"The version's name or ID (default: the datastore's default version)." example:"15"`
	VersionNumber string `json:"version_number,omitempty" doc:"Accepted for Trove compatibility."`
}

// ConfigurationCreate is Trove's create body.
type ConfigurationCreate struct {
	Name        string                  `json:"name" minLength:"1" maxLength:"255" example:"tuned"`
	Description string                  `json:"description,omitempty" maxLength:"255"`
	Values      map[string]any          `json:"values" doc:"Parameter names and their values: numbers, booleans or strings, as the version's parameters say." example:"{\"work_mem\": 8192}"`
	Datastore   *ConfigurationDatastore `json:"datastore,omitempty"`
}

// ConfigurationChangeBody is Trove's PUT (replace) and PATCH (merge) body.
type ConfigurationChangeBody struct {
	Name        *string        `json:"name,omitempty" maxLength:"255"`
	Description *string        `json:"description,omitempty" maxLength:"255"`
	Values      map[string]any `json:"values,omitempty" doc:"PUT: every value of the group. PATCH: the values to set; the others stay."`
}

// ConfigurationView is a configuration group in a list.
type ConfigurationView struct {
	ID                     string `json:"id" format:"uuid"`
	Name                   string `json:"name"`
	Description            string `json:"description"`
	Created                string `json:"created" example:"2026-01-02T15:04:05"`
	Updated                string `json:"updated" example:"2026-01-02T15:04:05"`
	DatastoreName          string `json:"datastore_name" example:"postgresql"`
	DatastoreVersionID     string `json:"datastore_version_id" format:"uuid"`
	DatastoreVersionName   string `json:"datastore_version_name" example:"15"`
	DatastoreVersionNumber string `json:"datastore_version_number" example:"15"`
}

// ConfigurationDetailView is one configuration group with its values.
type ConfigurationDetailView struct {
	ConfigurationView
	Values        map[string]any `json:"values"`
	InstanceCount int            `json:"instance_count"`
}

// ConfigurationPath names a configuration group of the project.
type ConfigurationPath struct {
	ProjectPath
	ID string `path:"id" doc:"The configuration group's ID."`
}

// ListConfigurationsRequest pages through the project's groups.
type ListConfigurationsRequest struct {
	ProjectPath
	PageQuery
}

// CreateConfigurationRequest makes a group.
type CreateConfigurationRequest struct {
	ProjectPath
	Body struct {
		Configuration ConfigurationCreate `json:"configuration"`
	}
}

// ChangeConfigurationRequest replaces (PUT) or merges (PATCH) a group's values.
type ChangeConfigurationRequest struct {
	ConfigurationPath
	Body struct {
		Configuration ConfigurationChangeBody `json:"configuration"`
	}
}

// ConfigurationResponse is one group.
type ConfigurationResponse struct {
	Body struct {
		Configuration ConfigurationDetailView `json:"configuration"`
	}
}

// ConfigurationListResponse is a page of groups.
type ConfigurationListResponse struct {
	Body struct {
		Configurations []ConfigurationView `json:"configurations"`
		Links          []Link              `json:"links,omitempty"`
	}
}

// InstanceRefView is an instance that has a group.
type InstanceRefView struct {
	ID   string `json:"id" format:"uuid"`
	Name string `json:"name"`
}

// ConfigurationInstancesResponse lists the instances that have a group.
type ConfigurationInstancesResponse struct {
	Body struct {
		Instances []InstanceRefView `json:"instances"`
	}
}

// ParameterView is a parameter of a datastore version, as Trove shows it (plus Coffer's
// unit and allowed values).
type ParameterView struct {
	Name               string   `json:"name" example:"work_mem"`
	Type               string   `json:"type" enum:"integer,float,boolean,string"`
	Min                *float64 `json:"min,omitempty"`
	Max                *float64 `json:"max,omitempty"`
	RestartRequired    bool     `json:"restart_required" doc:"A change takes effect only at the instance's next restart."`
	DatastoreVersionID string   `json:"datastore_version_id" format:"uuid"`
	Unit               string   `json:"unit,omitempty" doc:"Coffer: the unit of a number, as the engine counts it." example:"kB"`
	AllowedValues      []string `json:"allowed_values,omitempty" doc:"Coffer: the values a string may take."`
	Description        string   `json:"description,omitempty"`
}

// ParameterListResponse lists a version's parameters.
type ParameterListResponse struct {
	Body struct {
		Parameters []ParameterView `json:"configuration-parameters"`
	}
}

// ParameterResponse is one parameter (Trove's bare object).
type ParameterResponse struct {
	Body ParameterView
}

// ParameterPath names a parameter of a datastore version.
type ParameterPath struct {
	VersionPath
	Name string `path:"name" example:"work_mem"`
}

// VersionIDPath names a datastore version by ID only.
type VersionIDPath struct {
	ProjectPath
	VersionID string `path:"version_id" format:"uuid"`
}

// VersionParameterPath names a parameter of a version given by ID.
type VersionParameterPath struct {
	VersionIDPath
	Name string `path:"name" example:"work_mem"`
}

// MgmtParameter is a parameter as an admin adds or changes it (Trove's mgmt body).
type MgmtParameter struct {
	Name            string   `json:"name,omitempty" example:"work_mem" doc:"Required to add; the path's name to change."`
	DataType        string   `json:"data_type" enum:"integer,float,boolean,string"`
	MinSize         *float64 `json:"min_size,omitempty"`
	MaxSize         *float64 `json:"max_size,omitempty"`
	RestartRequired bool     `json:"restart_required"`
	AllowedValues   []string `json:"allowed_values,omitempty" doc:"Coffer: the values a string may take."`
	Unit            string   `json:"unit,omitempty" maxLength:"16"`
	Description     string   `json:"description,omitempty" maxLength:"1024"`
}

// MgmtParameterRequest adds a parameter.
type MgmtParameterRequest struct {
	VersionIDPath
	Body struct {
		Parameter MgmtParameter `json:"configuration-parameter"`
	}
}

// MgmtParameterChangeRequest changes a parameter.
type MgmtParameterChangeRequest struct {
	VersionParameterPath
	Body struct {
		Parameter MgmtParameter `json:"configuration-parameter"`
	}
}

// InstanceConfigurationResponse is the settings an instance runs with.
type InstanceConfigurationResponse struct {
	Body struct {
		Instance struct {
			Configuration map[string]string `json:"configuration"`
		} `json:"instance"`
	}
}

// globalParameters are Trove's routes to a version's parameters by the version's ID
// alone. They cannot live beside /datastores/{datastore}/versions/{version} in one
// ServeMux (the two patterns overlap), so ServeHTTP serves them at versionParameters.
var globalParameters = regexp.MustCompile(`^(/v1\.0/[^/]+)/datastores/versions/([^/]+)/parameters(/[^/]+)?/?$`)

// versionParameters is where the by-ID parameter routes are registered.
const versionParameters = "/datastore-versions/{version_id}/parameters"

// rewriteGlobalParameters maps Trove's by-ID parameter paths onto the routes that serve them.
func rewriteGlobalParameters(r *http.Request) {
	// Every request passes here: the regular expression only for a path that may match.
	if !strings.Contains(r.URL.Path, "/datastores/versions/") {
		return
	}
	m := globalParameters.FindStringSubmatch(r.URL.Path)
	if m == nil {
		return
	}
	r.URL.Path = m[1] + "/datastore-versions/" + m[2] + "/parameters" + m[3]
	r.URL.RawPath = ""
}

func (s *Server) registerConfigurations(g *huma.Group) {
	tags := []string{"Configuration groups"}
	errs := []int{http.StatusBadRequest, http.StatusNotFound}
	huma.Register(g, huma.Operation{OperationID: "listConfigurations", Method: http.MethodGet, Path: "/configurations",
		Summary: "List configuration groups", Tags: tags, Errors: errs}, s.listConfigurations)
	huma.Register(g, huma.Operation{OperationID: "createConfiguration", Method: http.MethodPost, Path: "/configurations",
		Summary: "Create a configuration group", Description: "Checks every value against the version's parameters: " +
			"a bad value (unknown name, wrong type, out of range) is a 400 naming the parameter and the rule.",
		Tags: tags, DefaultStatus: http.StatusOK, Errors: errs}, s.createConfiguration)
	huma.Register(g, huma.Operation{OperationID: "showConfiguration", Method: http.MethodGet, Path: "/configurations/{id}",
		Summary: "Show a configuration group", Tags: tags, Errors: errs}, s.showConfiguration)
	huma.Register(g, huma.Operation{OperationID: "updateConfiguration", Method: http.MethodPatch, Path: "/configurations/{id}",
		Summary: "Set some values of a configuration group", Description: "Merges the values into the group's, then applies " +
			"the group to every instance that has it (ApplyConfiguration).", Tags: tags, DefaultStatus: http.StatusOK, Errors: errs},
		func(ctx context.Context, in *ChangeConfigurationRequest) (*struct{}, error) {
			return s.changeConfiguration(ctx, in, true)
		})
	huma.Register(g, huma.Operation{OperationID: "replaceConfiguration", Method: http.MethodPut, Path: "/configurations/{id}",
		Summary: "Replace a configuration group's values", Description: "Replaces every value (and the name and " +
			"description when given), then applies the group to every instance that has it.",
		Tags: tags, DefaultStatus: http.StatusAccepted, Errors: errs},
		func(ctx context.Context, in *ChangeConfigurationRequest) (*struct{}, error) {
			return s.changeConfiguration(ctx, in, false)
		})
	huma.Register(g, huma.Operation{OperationID: "deleteConfiguration", Method: http.MethodDelete, Path: "/configurations/{id}",
		Summary: "Delete a configuration group", Description: "Refused (400) while instances have the group.",
		Tags: tags, DefaultStatus: http.StatusAccepted, Errors: errs}, s.deleteConfiguration)
	huma.Register(g, huma.Operation{OperationID: "listConfigurationInstances", Method: http.MethodGet, Path: "/configurations/{id}/instances",
		Summary: "List the instances that have a configuration group", Tags: tags, Errors: errs}, s.listConfigurationInstances)

	huma.Register(g, huma.Operation{OperationID: "listDatastoreParameters", Method: http.MethodGet,
		Path: "/datastores/{datastore}/versions/{version}/parameters", Summary: "List a datastore version's configuration parameters",
		Description: "From the engine's own metadata (PostgreSQL's pg_settings): type, bounds, and whether a change needs a restart.",
		Tags:        tags, Errors: errs}, s.listParameters)
	huma.Register(g, huma.Operation{OperationID: "showDatastoreParameter", Method: http.MethodGet,
		Path: "/datastores/{datastore}/versions/{version}/parameters/{name}", Summary: "Show a configuration parameter",
		Tags: tags, Errors: errs}, s.showParameter)
	huma.Register(g, huma.Operation{OperationID: "listVersionParameters", Method: http.MethodGet, Path: versionParameters,
		Summary:     "List a version's configuration parameters, by the version's ID",
		Description: "Also served at Trove's path /datastores/versions/{version_id}/parameters.", Tags: tags, Errors: errs},
		s.listVersionParameters)
	huma.Register(g, huma.Operation{OperationID: "showVersionParameter", Method: http.MethodGet, Path: versionParameters + "/{name}",
		Summary:     "Show a configuration parameter, by the version's ID",
		Description: "Also served at Trove's path /datastores/versions/{version_id}/parameters/{name}.", Tags: tags, Errors: errs},
		s.showVersionParameter)

	mgmt := []string{"Management"}
	huma.Register(g, huma.Operation{OperationID: "mgmtListParameters", Method: http.MethodGet,
		Path: "/mgmt/datastores/versions/{version_id}/parameters", Summary: "List a version's configuration parameters (admin)",
		Tags: mgmt, Errors: errs}, s.mgmtListParameters)
	huma.Register(g, huma.Operation{OperationID: "mgmtCreateParameter", Method: http.MethodPost,
		Path: "/mgmt/datastores/versions/{version_id}/parameters", Summary: "Add a configuration parameter to a version (admin)",
		Tags: mgmt, DefaultStatus: http.StatusOK, Errors: errs}, s.mgmtCreateParameter)
	huma.Register(g, huma.Operation{OperationID: "mgmtUpdateParameter", Method: http.MethodPut,
		Path: "/mgmt/datastores/versions/{version_id}/parameters/{name}", Summary: "Change a configuration parameter (admin)",
		Tags: mgmt, DefaultStatus: http.StatusOK, Errors: errs}, s.mgmtUpdateParameter)
	huma.Register(g, huma.Operation{OperationID: "mgmtDeleteParameter", Method: http.MethodDelete,
		Path: "/mgmt/datastores/versions/{version_id}/parameters/{name}", Summary: "Remove a configuration parameter (admin)",
		Tags: mgmt, DefaultStatus: http.StatusNoContent, Errors: errs}, s.mgmtDeleteParameter)

	huma.Register(g, huma.Operation{OperationID: "showInstanceConfiguration", Method: http.MethodGet, Path: "/instances/{id}/configuration",
		Summary: "Show the settings an instance runs with", Description: "The settings Coffer sets, as the engine shows them: " +
			"those sized from the flavor and the configuration group's values. Asks the instance's guest.",
		Tags: []string{"Instances"}, Errors: []int{http.StatusNotFound, http.StatusGatewayTimeout}}, s.showInstanceConfiguration)
}

func configurationView(c *catalog.Configuration) ConfigurationView {
	return ConfigurationView{ID: c.ID, Name: c.Name, Description: c.Description, Created: formatTime(c.Created),
		Updated: formatTime(c.Updated), DatastoreName: c.Datastore, DatastoreVersionID: c.VersionID,
		DatastoreVersionName: c.Version, DatastoreVersionNumber: c.Version}
}

func configurationDetailView(c *catalog.Configuration) ConfigurationDetailView {
	values := c.Values
	if values == nil {
		values = map[string]any{}
	}
	return ConfigurationDetailView{ConfigurationView: configurationView(c), Values: values, InstanceCount: c.InstanceCount}
}

func (s *Server) listConfigurations(ctx context.Context, in *ListConfigurationsRequest) (*ConfigurationListResponse, error) {
	limit := in.size()
	if in.Marker != "" && uuid.Validate(in.Marker) != nil {
		return nil, badRequest("Invalid request: query parameter marker: %q is not a configuration group ID.", in.Marker)
	}
	cs, err := s.catalog.ListConfigurations(ctx, in.ProjectID, limit+1, in.Marker)
	if err != nil {
		return nil, faultFor(ctx, s.log, err, "Marker configuration "+in.Marker)
	}
	out := &ConfigurationListResponse{}
	out.Body.Configurations = []ConfigurationView{}
	for i, c := range cs {
		if i == limit {
			q := url.Values{"limit": {strconv.Itoa(limit)}, "marker": {cs[limit-1].ID}}
			out.Body.Links = []Link{{Href: baseURLFrom(ctx) + "/v1.0/" + in.ProjectID + "/configurations?" + q.Encode(), Rel: "next"}}
			break
		}
		out.Body.Configurations = append(out.Body.Configurations, configurationView(c))
	}
	return out, nil
}

// getConfiguration finds a project's group; an ID that is not a UUID names none.
func (s *Server) getConfiguration(ctx context.Context, projectID, id string) (*catalog.Configuration, error) {
	c, err := s.catalog.GetConfiguration(ctx, projectID, id)
	if err != nil {
		return nil, faultFor(ctx, s.log, err, "Configuration group "+id)
	}
	return c, nil
}

func (s *Server) showConfiguration(ctx context.Context, in *ConfigurationPath) (*ConfigurationResponse, error) {
	c, err := s.getConfiguration(ctx, in.ProjectID, in.ID)
	if err != nil {
		return nil, err
	}
	out := &ConfigurationResponse{}
	out.Body.Configuration = configurationDetailView(c)
	return out, nil
}

// checkValues checks each value against the version's parameters: the first bad one (by
// name) is a 400 that names it and the rule it breaks. where names the values in the body.
// Names are matched as the engine matches them, whatever their case; the values come back
// under the parameters' own names.
func (s *Server) checkValues(ctx context.Context, versionID string, values map[string]any, where string) (map[string]any, error) {
	if values == nil {
		return nil, nil
	}
	params, err := s.catalog.ListParameters(ctx, versionID)
	if err != nil {
		return nil, faultFor(ctx, s.log, err, "Datastore version "+versionID)
	}
	byName := map[string]catalog.Parameter{}
	for _, p := range params {
		byName[strings.ToLower(p.Name)] = p
	}
	names := make([]string, 0, len(values))
	for name := range values {
		names = append(names, name)
	}
	slices.Sort(names)
	out := make(map[string]any, len(values))
	for _, name := range names {
		p, ok := byName[strings.ToLower(name)]
		if !ok {
			return nil, badRequest("Invalid request: %s.%s: the datastore version has no configuration parameter %s.", where, name, quote(name))
		}
		if err := p.Check(values[name]); err != nil {
			return nil, badRequest("Invalid request: %s.%s: %s %v.", where, name, name, err)
		}
		if _, twice := out[p.Name]; twice {
			return nil, badRequest("Invalid request: %s.%s: %s is given twice.", where, name, p.Name)
		}
		out[p.Name] = values[name]
	}
	return out, nil
}

func checkConfigurationText(name string, description *string, required bool) error {
	if required || name != "" {
		if strings.TrimSpace(name) == "" {
			return badRequest("Invalid request: configuration.name: must not be blank.")
		}
		if err := coffer.ValidText(name, coffer.MaxNameLength); err != nil {
			return badRequest("Invalid request: configuration.name: %v.", err)
		}
	}
	if description != nil {
		if err := coffer.ValidText(*description, coffer.MaxNameLength); err != nil && *description != "" {
			return badRequest("Invalid request: configuration.description: %v.", err)
		}
	}
	return nil
}

func (s *Server) createConfiguration(ctx context.Context, in *CreateConfigurationRequest) (*ConfigurationResponse, error) {
	req := in.Body.Configuration
	if err := checkConfigurationText(req.Name, &req.Description, true); err != nil {
		return nil, err
	}
	datastore, version := defaultDatastore, ""
	if req.Datastore != nil {
		if req.Datastore.Type != "" {
			datastore = req.Datastore.Type
		}
		version = req.Datastore.Version
	}
	dv, err := s.catalog.FindDatastoreVersion(ctx, datastore, version)
	switch {
	case errors.Is(err, catalog.ErrNotFound) || err == nil && !dv.Active:
		if version == "" {
			return nil, badRequest("Datastore %s not found, or it has no default version.", datastore)
		}
		return nil, badRequest("Datastore %s version %s not found.", datastore, version)
	case err != nil:
		return nil, faultFor(ctx, s.log, err, "Datastore "+datastore)
	}
	values, err := s.checkValues(ctx, dv.ID, req.Values, "configuration.values")
	if err != nil {
		return nil, err
	}
	c := &catalog.Configuration{ID: uuid.NewString(), ProjectID: in.ProjectID, Name: req.Name, Description: req.Description,
		VersionID: dv.ID, Values: values}
	if err := s.catalog.CreateConfiguration(ctx, c); err != nil {
		return nil, faultFor(ctx, s.log, err, "Configuration group")
	}
	s.log.InfoContext(ctx, "configuration group created", "configuration_id", c.ID, "project_id", in.ProjectID)
	out := &ConfigurationResponse{}
	out.Body.Configuration = configurationDetailView(c)
	return out, nil
}

// changeConfiguration replaces (PUT) or merges (PATCH) a group's values after checking
// them, then applies the group to the instances that have it.
func (s *Server) changeConfiguration(ctx context.Context, in *ChangeConfigurationRequest, merge bool) (*struct{}, error) {
	req := in.Body.Configuration
	if !merge && req.Values == nil {
		return nil, badRequest("Invalid request: configuration.values: give every value of the group (PUT replaces them).")
	}
	if merge && len(req.Values) == 0 {
		return nil, badRequest("Invalid request: configuration.values: give the values to set.")
	}
	name := ""
	if req.Name != nil {
		name = *req.Name
		if name == "" {
			return nil, badRequest("Invalid request: configuration.name: must not be blank.")
		}
	}
	if err := checkConfigurationText(name, req.Description, false); err != nil {
		return nil, err
	}
	cur, err := s.getConfiguration(ctx, in.ProjectID, in.ID)
	if err != nil {
		return nil, err
	}
	values, err := s.checkValues(ctx, cur.VersionID, req.Values, "configuration.values")
	if err != nil {
		return nil, err
	}
	ch := catalog.ConfigurationChange{Values: values, Merge: merge, Description: req.Description}
	if req.Name != nil {
		ch.Name = req.Name
	}
	_, instances, err := s.catalog.UpdateConfiguration(ctx, in.ProjectID, cur.ID, ch)
	if err != nil {
		return nil, faultFor(ctx, s.log, err, "Configuration group "+in.ID)
	}
	ids := make([]string, len(instances))
	for i, r := range instances {
		ids[i] = r.ID
	}
	if len(ids) > 0 {
		err := s.applyConfiguration(ctx, workflows.ApplyConfigurationInput{ConfigurationID: cur.ID, ProjectID: in.ProjectID, InstanceIDs: ids})
		if err != nil {
			return nil, err
		}
	}
	s.log.InfoContext(ctx, "configuration group changed", "configuration_id", cur.ID, "project_id", in.ProjectID, "instances", len(ids))
	return nil, nil
}

// applyConfiguration starts ApplyConfiguration; the catalog holds the change already, so a
// start that fails is a 503 the client retries (the values apply the next time).
func (s *Server) applyConfiguration(ctx context.Context, in workflows.ApplyConfigurationInput) error {
	in.Timeouts = s.timeouts()
	// The instances' replicas follow their primaries' hot-standby settings.
	reps, err := s.catalog.Replications(ctx, in.InstanceIDs)
	if err != nil {
		return faultFor(ctx, s.log, err, "Instances")
	}
	for _, id := range in.InstanceIDs {
		for _, r := range reps[id].Replicas {
			if !slices.Contains(in.InstanceIDs, r) && !slices.Contains(in.Replicas, r) {
				in.Replicas = append(in.Replicas, r)
			}
		}
	}
	request := uuid.NewString()
	if err := s.workflows.StartApplyConfiguration(ctx, in, request); err != nil {
		s.log.ErrorContext(ctx, "start apply configuration workflow", "workflow_id", workflows.ConfigurationWorkflowID(in, request), "error", err)
		return serviceUnavailable("The configuration was recorded but could not be applied now: the workflow service is unavailable. Try again later.")
	}
	return nil
}

func (s *Server) deleteConfiguration(ctx context.Context, in *ConfigurationPath) (*struct{}, error) {
	err := s.catalog.DeleteConfiguration(ctx, in.ProjectID, in.ID)
	if errors.Is(err, catalog.ErrInUse) {
		return nil, badRequest("Configuration group %s is attached to instances: detach it from them first.", in.ID)
	}
	if err != nil {
		return nil, faultFor(ctx, s.log, err, "Configuration group "+in.ID)
	}
	return nil, nil
}

func (s *Server) listConfigurationInstances(ctx context.Context, in *ConfigurationPath) (*ConfigurationInstancesResponse, error) {
	refs, err := s.catalog.ConfigurationInstances(ctx, in.ProjectID, in.ID)
	if err != nil {
		return nil, faultFor(ctx, s.log, err, "Configuration group "+in.ID)
	}
	out := &ConfigurationInstancesResponse{}
	out.Body.Instances = []InstanceRefView{}
	for _, r := range refs {
		out.Body.Instances = append(out.Body.Instances, InstanceRefView(r))
	}
	return out, nil
}

func parameterView(p catalog.Parameter) ParameterView {
	return ParameterView{Name: p.Name, Type: p.DataType, Min: p.Min, Max: p.Max, RestartRequired: p.RestartRequired,
		DatastoreVersionID: p.VersionID, Unit: p.Unit, AllowedValues: p.Allowed, Description: p.Description}
}

func (s *Server) parameterList(ctx context.Context, versionID string) (*ParameterListResponse, error) {
	ps, err := s.catalog.ListParameters(ctx, versionID)
	if err != nil {
		return nil, faultFor(ctx, s.log, err, "Datastore version "+versionID)
	}
	out := &ParameterListResponse{}
	out.Body.Parameters = make([]ParameterView, 0, len(ps))
	for _, p := range ps {
		out.Body.Parameters = append(out.Body.Parameters, parameterView(p))
	}
	return out, nil
}

func (s *Server) parameter(ctx context.Context, versionID, name string) (*ParameterResponse, error) {
	p, err := s.catalog.GetParameter(ctx, versionID, name)
	if err != nil {
		return nil, faultFor(ctx, s.log, err, "Configuration parameter "+name)
	}
	return &ParameterResponse{Body: parameterView(p)}, nil
}

func (s *Server) listParameters(ctx context.Context, in *VersionPath) (*ParameterListResponse, error) {
	_, v, err := s.version(ctx, in)
	if err != nil {
		return nil, err
	}
	return s.parameterList(ctx, v.ID)
}

func (s *Server) showParameter(ctx context.Context, in *ParameterPath) (*ParameterResponse, error) {
	_, v, err := s.version(ctx, &in.VersionPath)
	if err != nil {
		return nil, err
	}
	return s.parameter(ctx, v.ID, in.Name)
}

// activeVersion finds an active version by ID, as the by-ID routes name it.
func (s *Server) activeVersion(ctx context.Context, id string) (string, error) {
	v, err := s.catalog.GetVersionDetail(ctx, id)
	if err == nil && !v.Active {
		err = catalog.ErrNotFound
	}
	if err != nil {
		return "", faultFor(ctx, s.log, err, "Datastore version "+id)
	}
	return v.ID, nil
}

func (s *Server) listVersionParameters(ctx context.Context, in *VersionIDPath) (*ParameterListResponse, error) {
	id, err := s.activeVersion(ctx, in.VersionID)
	if err != nil {
		return nil, err
	}
	return s.parameterList(ctx, id)
}

func (s *Server) showVersionParameter(ctx context.Context, in *VersionParameterPath) (*ParameterResponse, error) {
	id, err := s.activeVersion(ctx, in.VersionID)
	if err != nil {
		return nil, err
	}
	return s.parameter(ctx, id, in.Name)
}

func (s *Server) mgmtListParameters(ctx context.Context, in *VersionIDPath) (*ParameterListResponse, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	if _, err := s.catalog.GetVersionDetail(ctx, in.VersionID); err != nil {
		return nil, faultFor(ctx, s.log, err, "Datastore version "+in.VersionID)
	}
	return s.parameterList(ctx, in.VersionID)
}

var parameterName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]{0,127}$`)

// mgmtParameter checks an admin's parameter and makes it one of the version's.
func mgmtParameter(versionID, name string, m MgmtParameter) (catalog.Parameter, error) {
	p := catalog.Parameter{VersionID: versionID, Name: name, DataType: m.DataType, Min: m.MinSize, Max: m.MaxSize,
		Allowed: m.AllowedValues, Unit: m.Unit, RestartRequired: m.RestartRequired, Description: m.Description}
	switch {
	case !parameterName.MatchString(name):
		return p, badRequest("Invalid request: configuration-parameter.name: %s is not a parameter name.", quote(name))
	case !slices.Contains([]string{"integer", "float", "boolean", "string"}, m.DataType):
		return p, badRequest("Invalid request: configuration-parameter.data_type: %s is not one of integer, float, boolean, string.", quote(m.DataType))
	case m.MinSize != nil && m.MaxSize != nil && *m.MinSize > *m.MaxSize:
		return p, badRequest("Invalid request: configuration-parameter: min_size is above max_size.")
	case (m.MinSize != nil || m.MaxSize != nil) && m.DataType != "integer" && m.DataType != "float":
		return p, badRequest("Invalid request: configuration-parameter: only integer and float parameters have min_size and max_size.")
	case len(m.AllowedValues) > 0 && m.DataType != "string":
		return p, badRequest("Invalid request: configuration-parameter.allowed_values: only string parameters have allowed values.")
	}
	if err := coffer.ValidText(m.Description, 1024); err != nil && m.Description != "" {
		return p, badRequest("Invalid request: configuration-parameter.description: %v.", err)
	}
	return p, nil
}

func (s *Server) mgmtCreateParameter(ctx context.Context, in *MgmtParameterRequest) (*ParameterResponse, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	p, err := mgmtParameter(in.VersionID, in.Body.Parameter.Name, in.Body.Parameter)
	if err != nil {
		return nil, err
	}
	return s.saveParameter(ctx, p, true)
}

func (s *Server) mgmtUpdateParameter(ctx context.Context, in *MgmtParameterChangeRequest) (*ParameterResponse, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	if n := in.Body.Parameter.Name; n != "" && n != in.Name {
		return nil, badRequest("Invalid request: configuration-parameter.name: a parameter cannot be renamed.")
	}
	p, err := mgmtParameter(in.VersionID, in.Name, in.Body.Parameter)
	if err != nil {
		return nil, err
	}
	return s.saveParameter(ctx, p, false)
}

func (s *Server) saveParameter(ctx context.Context, p catalog.Parameter, create bool) (*ParameterResponse, error) {
	err := s.catalog.SaveParameter(ctx, p, create)
	if errors.Is(err, catalog.ErrExists) {
		return nil, badRequest("The datastore version already has a configuration parameter %s.", p.Name)
	}
	if err != nil {
		return nil, faultFor(ctx, s.log, err, fmt.Sprintf("Configuration parameter %s of datastore version %s", p.Name, p.VersionID))
	}
	return s.parameter(ctx, p.VersionID, p.Name)
}

func (s *Server) mgmtDeleteParameter(ctx context.Context, in *VersionParameterPath) (*struct{}, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	if err := s.catalog.DeleteParameter(ctx, in.VersionID, in.Name); err != nil {
		return nil, faultFor(ctx, s.log, err, fmt.Sprintf("Configuration parameter %s of datastore version %s", in.Name, in.VersionID))
	}
	return nil, nil
}

func (s *Server) showInstanceConfiguration(ctx context.Context, in *InstancePath) (*InstanceConfigurationResponse, error) {
	inst, err := s.getInstance(ctx, in.ProjectID, in.ID)
	if err != nil {
		return nil, err
	}
	var settings map[string]string
	call := GuestCall{InstanceID: inst.ID, ProjectID: inst.ProjectID, Operation: "configuration/show", Activity: guest.ConfigurationActivity}
	if err := s.guest.CallGuest(ctx, call, nil, &settings); err != nil {
		return nil, faultFor(ctx, s.log, err, "Instance "+in.ID)
	}
	out := &InstanceConfigurationResponse{}
	out.Body.Instance.Configuration = settings
	if settings == nil {
		out.Body.Instance.Configuration = map[string]string{}
	}
	return out, nil
}
