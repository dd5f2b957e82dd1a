package devcloud

import (
	"fmt"
	"net/http"
)

// fail writes an error in the shape the named service really uses:
//
//	identity (Keystone, and every 401 from keystonemiddleware):
//	  {"error": {"code": 401, "title": "Unauthorized", "message": "..."}}
//	compute (Nova), volume (Cinder):
//	  {"itemNotFound": {"code": 404, "message": "..."}}   (badRequest, forbidden, conflictingRequest, ...)
//	network (Neutron):
//	  {"NeutronError": {"type": "PortNotFound", "message": "...", "detail": ""}}
//	image (Glance): text/plain, "404 Not Found\n\n<message>\n\n   "
//	object-store (Swift): text/html, "<html><h1>Not Found</h1><p>...</p></html>"
//	devcloud (the admin API): {"error": {"code": 400, "message": "..."}}
func (c *Cloud) fail(w http.ResponseWriter, service string, status int, format string, args ...any) {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	switch service {
	case "compute", "volume":
		writeJSON(w, status, map[string]any{novaFaultName(status): map[string]any{"code": status, "message": msg}})
	case "network":
		c.failNeutron(w, status, neutronErrorType(status), msg)
	case "image":
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		w.WriteHeader(status)
		fmt.Fprintf(w, "%d %s\n\n%s\n\n   ", status, http.StatusText(status), msg)
	case "object-store":
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		w.WriteHeader(status)
		fmt.Fprintf(w, "<html><h1>%s</h1><p>%s</p></html>", http.StatusText(status), msg)
	default: // identity, devcloud
		writeJSON(w, status, map[string]any{"error": map[string]any{
			"code": status, "title": http.StatusText(status), "message": msg,
		}})
	}
}

// failNeutron writes a Neutron error with a specific type, such as "PortNotFound".
func (c *Cloud) failNeutron(w http.ResponseWriter, status int, typ, msg string) {
	writeJSON(w, status, map[string]any{"NeutronError": map[string]any{
		"type": typ, "message": msg, "detail": "",
	}})
}

// novaFaultName is the top-level key of a Nova or Cinder fault body for a status code.
func novaFaultName(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "badRequest"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "itemNotFound"
	case http.StatusMethodNotAllowed:
		return "HTTPMethodNotAllowed"
	case http.StatusConflict:
		return "conflictingRequest"
	case http.StatusRequestEntityTooLarge:
		return "overLimit"
	case http.StatusNotImplemented:
		return "notImplemented"
	case http.StatusServiceUnavailable:
		return "serviceUnavailable"
	default:
		if status >= 500 {
			return "computeFault"
		}
		return "badRequest"
	}
}

// neutronErrorType is Neutron's generic error type for a status code; handlers that know the
// specific one (PortNotFound, SecurityGroupInUse, ...) call failNeutron.
func neutronErrorType(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "HTTPBadRequest"
	case http.StatusUnauthorized:
		return "HTTPUnauthorized"
	case http.StatusForbidden:
		return "HTTPForbidden"
	case http.StatusNotFound:
		return "HTTPNotFound"
	case http.StatusConflict:
		return "HTTPConflict"
	case http.StatusServiceUnavailable:
		return "HTTPServiceUnavailable"
	default:
		return "HTTPInternalServerError"
	}
}
