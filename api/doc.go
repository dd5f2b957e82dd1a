// Package api is Coffer's REST API: Trove's v1.0 routes (/v1.0/{project_id}/instances, ...)
// with Trove's JSON bodies, status codes and fault shapes, so that python-troveclient,
// gophercloud's openstack/db/v1 and Terraform work unchanged. It is a huma v2 API on an
// http.ServeMux; the same operations are described by the OpenAPI 3.1 document served at
// /openapi.json and /openapi.yaml (committed as api/openapi.yaml) and browsable at /docs,
// which works offline.
//
// Callers are authenticated by Keystone (auth.go). Reads come from the catalog; every change
// that takes time is recorded in the catalog and handed to a Temporal workflow (temporal.go),
// and the request answers at once. errors.go is the one place that turns errors into Trove
// faults.
package api
