package api

import (
	"context"
	"net/http"
	"slices"

	"github.com/danielgtaylor/huma/v2"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/guest"
)

// CreateDatabasesRequest makes databases on an instance.
type CreateDatabasesRequest struct {
	InstancePath
	Body struct {
		Databases []DatabaseRequest `json:"databases" minItems:"1" maxItems:"100"`
	}
}

// ListDatabasesRequest pages through an instance's databases by name.
type ListDatabasesRequest struct {
	InstancePath
	PageQuery
}

// DatabasePath names a database of an instance.
type DatabasePath struct {
	InstancePath
	Name string `path:"name" doc:"The database name."`
}

// DatabaseView is a database as Trove lists it.
type DatabaseView struct {
	Name string `json:"name" example:"orders"`
}

// DatabaseListResponse is a page of databases; the next page's link is in links and in
// databases_links (the key gophercloud reads).
type DatabaseListResponse struct {
	Body struct {
		Databases      []DatabaseView `json:"databases"`
		Links          []Link         `json:"links,omitempty"`
		DatabasesLinks []Link         `json:"databases_links,omitempty"`
	}
}

func (s *Server) registerDatabases(g *huma.Group) {
	tags := []string{"Databases"}
	huma.Register(g, huma.Operation{
		OperationID: "createDatabases", Method: http.MethodPost, Path: "/instances/{id}/databases",
		Summary:     "Create databases",
		Description: "Makes databases on the instance's engine, with a character set and collation where given. The instance must be ACTIVE; names are checked, and one that exists already is refused, before anything is made. Answers 202 once the guest made them, or while it still works on it.",
		Tags:        tags, DefaultStatus: http.StatusAccepted, Errors: errMethods,
	}, s.createDatabases)
	huma.Register(g, huma.Operation{
		OperationID: "listDatabases", Method: http.MethodGet, Path: "/instances/{id}/databases",
		Summary: "List databases", Description: "Lists the instance's databases by name, asking its guest agent (15 s at most). System databases are not shown.",
		Tags: tags, Errors: errMethods,
	}, s.listDatabases)
	huma.Register(g, huma.Operation{
		OperationID: "deleteDatabase", Method: http.MethodDelete, Path: "/instances/{id}/databases/{name}",
		Summary: "Delete a database", Description: "Drops the database, ending its sessions. System databases cannot be dropped.",
		Tags: tags, DefaultStatus: http.StatusAccepted, Errors: errMethods,
	}, s.deleteDatabase)
}

// guestDatabases lists the instance's databases through its guest.
func (s *Server) guestDatabases(ctx context.Context, inst *coffer.Instance) ([]coffer.Database, error) {
	var dbs []coffer.Database
	if err := s.callGuest(ctx, inst, "databases/list", guest.ListDatabasesActivity, nil, &dbs); err != nil {
		return nil, err
	}
	return dbs, nil
}

func hasDatabase(dbs []coffer.Database, name string) bool {
	return slices.ContainsFunc(dbs, func(d coffer.Database) bool { return d.Name == name })
}

func (s *Server) createDatabases(ctx context.Context, in *CreateDatabasesRequest) (*struct{}, error) {
	seen := map[string]bool{}
	var dbs []coffer.Database
	for i, d := range in.Body.Databases {
		if err := checkName(d.Name); err != nil {
			return nil, badRequest("Invalid request: databases[%d].name: %v.", i, err)
		}
		if seen[d.Name] {
			return nil, badRequest("Invalid request: databases[%d].name: database %s is listed twice.", i, d.Name)
		}
		seen[d.Name] = true
		dbs = append(dbs, coffer.Database{Name: d.Name, CharacterSet: d.CharacterSet, Collation: d.Collate})
	}
	inst, err := s.schemaInstance(ctx, in.ProjectID, in.ID, "create_database")
	if err != nil {
		return nil, err
	}
	existing, err := s.guestDatabases(ctx, inst)
	if err != nil {
		return nil, err
	}
	for _, d := range dbs {
		if hasDatabase(existing, d.Name) {
			return nil, badRequest("A database with the name %s already exists on instance %s.", d.Name, inst.ID)
		}
	}
	if err := s.changeGuest(ctx, inst, "databases/create", guest.CreateDatabasesActivity, dbs); err != nil {
		return nil, err
	}
	return accepted()
}

func (s *Server) listDatabases(ctx context.Context, in *ListDatabasesRequest) (*DatabaseListResponse, error) {
	inst, err := s.schemaInstance(ctx, in.ProjectID, in.ID, "list_databases")
	if err != nil {
		return nil, err
	}
	dbs, err := s.guestDatabases(ctx, inst)
	if err != nil {
		return nil, err
	}
	views := make([]DatabaseView, 0, len(dbs))
	for _, d := range dbs {
		views = append(views, DatabaseView{Name: d.Name})
	}
	out := &DatabaseListResponse{}
	out.Body.Databases, out.Body.Links = page(ctx, views, func(v DatabaseView) string { return v.Name }, in.PageQuery,
		"/v1.0/"+in.ProjectID+"/instances/"+in.ID+"/databases")
	out.Body.DatabasesLinks = out.Body.Links
	if out.Body.Databases == nil {
		out.Body.Databases = []DatabaseView{}
	}
	return out, nil
}

func (s *Server) deleteDatabase(ctx context.Context, in *DatabasePath) (*struct{}, error) {
	if err := checkName(in.Name); err != nil {
		return nil, badRequest("Invalid request: database %s cannot be deleted: %v.", quote(in.Name), err)
	}
	inst, err := s.schemaInstance(ctx, in.ProjectID, in.ID, "delete_database")
	if err != nil {
		return nil, err
	}
	dbs, err := s.guestDatabases(ctx, inst)
	if err != nil {
		return nil, err
	}
	if !hasDatabase(dbs, in.Name) {
		return nil, itemNotFound("Database %s could not be found on instance %s.", in.Name, inst.ID)
	}
	if err := s.changeGuest(ctx, inst, "databases/delete", guest.DeleteDatabaseActivity, guest.DatabaseRef{Name: in.Name}); err != nil {
		return nil, err
	}
	return accepted()
}
