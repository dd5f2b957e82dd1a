package api

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/coffer-dbaas/coffer/guest"
)

// EnableRootRequest enables root; the password is generated when none is given.
type EnableRootRequest struct {
	InstancePath
	Body *struct {
		Password string `json:"password,omitempty" maxLength:"255" doc:"Root's password, at least the API's min_password_length (default 8) characters with no control characters; generated when left out."`
	} `required:"false"`
}

// RootUserView is root with its password, shown once.
type RootUserView struct {
	Name     string `json:"name" example:"root"`
	Password string `json:"password"`
}

// EnableRootResponse returns root's name and password.
type EnableRootResponse struct {
	Body struct {
		User RootUserView `json:"user"`
	}
}

// RootEnabledResponse says whether root can log in.
type RootEnabledResponse struct {
	Body struct {
		RootEnabled bool `json:"rootEnabled"`
	}
}

func (s *Server) registerRoot(g *huma.Group) {
	tags := []string{"Root"}
	huma.Register(g, huma.Operation{
		OperationID: "showRootEnabled", Method: http.MethodGet, Path: "/instances/{id}/root",
		Summary: "Is root enabled", Description: "Asks the instance's guest agent whether root can log in.",
		Tags: tags, Errors: errMethods,
	}, s.rootEnabled)
	huma.Register(g, huma.Operation{
		OperationID: "enableRoot", Method: http.MethodPost, Path: "/instances/{id}/root",
		Summary:     "Enable root",
		Description: "Makes root, the tenant's master user (not the engine's superuser: no server programs, files or untrusted languages), with the password given or a generated one, and returns it: the only time the password is shown. Recorded in the instance's root history.",
		Tags:        tags, DefaultStatus: http.StatusOK, Errors: errMethods,
	}, s.enableRoot)
	huma.Register(g, huma.Operation{
		OperationID: "disableRoot", Method: http.MethodDelete, Path: "/instances/{id}/root",
		Summary: "Disable root", Description: "Takes root's login and password away and ends its sessions.",
		Tags: tags, DefaultStatus: http.StatusNoContent, Errors: errMethods,
	}, s.disableRoot)
}

func (s *Server) rootEnabled(ctx context.Context, in *InstancePath) (*RootEnabledResponse, error) {
	inst, err := s.activeInstance(ctx, in.ProjectID, in.ID)
	if err != nil {
		return nil, err
	}
	out := &RootEnabledResponse{}
	if err := s.callGuest(ctx, inst, "root/show", guest.RootEnabledActivity, nil, &out.Body.RootEnabled); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Server) enableRoot(ctx context.Context, in *EnableRootRequest) (*EnableRootResponse, error) {
	password := ""
	if in.Body != nil {
		password = in.Body.Password
	}
	if password != "" {
		if err := s.checkPassword("password", password); err != nil {
			return nil, err
		}
	} else {
		password = generatePassword()
	}
	inst, err := s.activeInstance(ctx, in.ProjectID, in.ID)
	if err != nil {
		return nil, err
	}
	if err := s.callGuest(ctx, inst, "root/enable", guest.EnableRootActivity, guest.EnableRootInput{Password: password}, nil); err != nil {
		return nil, err
	}
	if err := s.catalog.RecordRootEnabled(ctx, inst.ID, principalFrom(ctx).UserID); err != nil {
		// Root is enabled; only the history lacks it.
		s.log.ErrorContext(ctx, "record root enabled", "instance_id", inst.ID, "error", err)
	}
	s.log.InfoContext(ctx, "root enabled", "instance_id", inst.ID, "project_id", inst.ProjectID, "user_id", principalFrom(ctx).UserID)
	out := &EnableRootResponse{}
	out.Body.User = RootUserView{Name: guest.RootUser, Password: password}
	return out, nil
}

func (s *Server) disableRoot(ctx context.Context, in *InstancePath) (*struct{}, error) {
	inst, err := s.activeInstance(ctx, in.ProjectID, in.ID)
	if err != nil {
		return nil, err
	}
	if err := s.callGuest(ctx, inst, "root/disable", guest.DisableRootActivity, nil, nil); err != nil {
		return nil, err
	}
	if err := s.catalog.RecordRootDisabled(ctx, inst.ID); err != nil {
		s.log.ErrorContext(ctx, "record root disabled", "instance_id", inst.ID, "error", err)
	}
	return nil, nil
}
