package api

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
)

// Link is a link in a Trove body.
type Link struct {
	Href string `json:"href"`
	Rel  string `json:"rel" example:"self"`
}

// Version is one API version.
type Version struct {
	ID      string `json:"id" example:"v1.0"`
	Status  string `json:"status" example:"CURRENT"`
	Updated string `json:"updated" example:"2012-08-01T00:00:00Z"`
	Links   []Link `json:"links"`
}

// VersionsResponse lists the API versions (Trove's GET /).
type VersionsResponse struct {
	Body struct {
		Versions []Version `json:"versions"`
	}
}

func (s *Server) registerVersions() {
	huma.Register(s.api, huma.Operation{
		OperationID: "listVersions",
		Method:      http.MethodGet,
		Path:        "/",
		Summary:     "List API versions",
		Description: "Lists the API versions; v1.0 is Trove's. Needs no token.",
		Tags:        []string{"Versions"},
	}, s.listVersions)
}

func (s *Server) listVersions(ctx context.Context, _ *struct{}) (*VersionsResponse, error) {
	out := &VersionsResponse{}
	out.Body.Versions = []Version{{
		ID:      "v1.0",
		Status:  "CURRENT",
		Updated: "2012-08-01T00:00:00Z",
		Links:   []Link{{Href: baseURLFrom(ctx) + "/v1.0/", Rel: "self"}},
	}}
	return out, nil
}
