package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/danielgtaylor/huma/v2"

	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/guest"
)

// This file is the one place that turns errors into Trove faults: the faults handlers return,
// the domain errors of the catalog and the clouds, and the errors huma makes itself
// (validation, malformed bodies, unknown routes).

// Fault is a Trove fault. It is written as {"<name>": {"code": <code>, "message": "..."}} with
// Content-Type application/json, the shape every OpenStack client parses.
type Fault struct {
	// Name is Trove's fault name: badRequest, unauthorized, forbidden, itemNotFound,
	// unprocessableEntity, instanceFault, serviceUnavailable, ...
	Name    string
	Code    int
	Message string
}

// faultBody is what a fault holds under its name.
type faultBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (f *Fault) Error() string { return fmt.Sprintf("%s (%d): %s", f.Name, f.Code, f.Message) }

// GetStatus makes a Fault a huma.StatusError, so huma writes it with its code.
func (f *Fault) GetStatus() int { return f.Code }

// MarshalJSON writes Trove's shape. Messages keep '<', '>' and '&' as they are.
func (f *Fault) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(map[string]faultBody{f.Name: {Code: f.Code, Message: f.Message}}); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// Schema describes the fault in the OpenAPI document: an object with one property, the
// fault's name.
func (f *Fault) Schema(r huma.Registry) *huma.Schema {
	body := &huma.Schema{
		Type:     huma.TypeObject,
		Required: []string{"code", "message"},
		Properties: map[string]*huma.Schema{
			"code":    {Type: huma.TypeInteger, Description: "The HTTP status code."},
			"message": {Type: huma.TypeString, Description: "What went wrong."},
		},
	}
	fault := &huma.Schema{
		Type: huma.TypeObject,
		Description: "A Trove fault. Its one key names it: badRequest, unauthorized, forbidden, " +
			"itemNotFound, unprocessableEntity, instanceFault, serviceUnavailable, ...",
		MinProperties:        new(1),
		MaxProperties:        new(1),
		AdditionalProperties: body,
		Examples:             []any{map[string]any{"itemNotFound": map[string]any{"code": 404, "message": "Instance 4ab2... could not be found."}}},
	}
	// Every error response refers to one Fault schema rather than repeating it.
	if _, ok := r.Map()["Fault"]; !ok {
		r.Map()["Fault"] = fault
	}
	return &huma.Schema{Ref: "#/components/schemas/Fault"}
}

var _ huma.StatusError = (*Fault)(nil)

func newFault(name string, code int, format string, args ...any) *Fault {
	return &Fault{Name: name, Code: code, Message: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *Fault {
	return newFault("badRequest", http.StatusBadRequest, format, args...)
}

func unauthorized(format string, args ...any) *Fault {
	return newFault("unauthorized", http.StatusUnauthorized, format, args...)
}

func forbidden(format string, args ...any) *Fault {
	return newFault("forbidden", http.StatusForbidden, format, args...)
}

func itemNotFound(format string, args ...any) *Fault {
	return newFault("itemNotFound", http.StatusNotFound, format, args...)
}

func unprocessableEntity(format string, args ...any) *Fault {
	return newFault("unprocessableEntity", http.StatusUnprocessableEntity, format, args...)
}

func serviceUnavailable(format string, args ...any) *Fault {
	return newFault("serviceUnavailable", http.StatusServiceUnavailable, format, args...)
}

// internalFault is the answer to an error nobody expected. Its message says nothing of the
// cause: the detail goes to the log only.
func internalFault() *Fault {
	return newFault("instanceFault", http.StatusInternalServerError,
		"The server has either erred or is incapable of performing the requested operation.")
}

// errUnavailable marks a dependency (Keystone, Nova, Glance, Temporal, the catalog) that did
// not answer as it should: the request may succeed later, so the client gets a 503.
var errUnavailable = errors.New("service unavailable")

// unavailable wraps err as a dependency failure of what.
func unavailable(what string, err error) error {
	return fmt.Errorf("%s: %w: %w", what, errUnavailable, err)
}

// faultFor turns an error of a handler into the fault the client gets. what names the
// resource for not-found answers ("Instance 1234"). Anything unexpected is logged with its
// detail and answered with a generic 500.
func faultFor(ctx context.Context, log *slog.Logger, err error, what string) *Fault {
	var (
		f  *Fault
		ge *GuestError
		qe *catalog.QuotaExceededError
	)
	switch {
	case errors.As(err, &f):
		return f
	case errors.Is(err, catalog.ErrNotFound):
		return itemNotFound("%s could not be found.", what)
	case errors.Is(err, catalog.ErrTaskRunning):
		return unprocessableEntity("%s is not ready: another operation is running on it.", what)
	case errors.As(err, &ge):
		return guestFault(ge)
	case errors.As(err, &qe):
		return quotaFault(qe)
	case errors.Is(err, errUnavailable):
		log.WarnContext(ctx, "dependency unavailable", "error", err)
		return serviceUnavailable("A service Coffer depends on is unavailable; try again later.")
	}
	log.ErrorContext(ctx, "internal error", "error", err)
	return internalFault()
}

// guestFault answers a guest call that failed for the client's reason. A guest that does
// not answer is a 504 naming the instance (Trove answers 500 or 504 there): the request may
// work later, once the guest is back.
func guestFault(e *GuestError) *Fault {
	switch e.Kind {
	case guest.ErrNotFound:
		return itemNotFound("%s (instance %s).", upperFirst(e.Message), e.InstanceID)
	case guest.ErrExists, guest.ErrInvalid:
		return badRequest("%s (instance %s).", upperFirst(e.Message), e.InstanceID)
	}
	return newFault("gatewayTimeout", http.StatusGatewayTimeout,
		"The guest agent of instance %s did not answer: %s. The instance may be starting or unwell; try again later.", e.InstanceID, e.Message)
}

// quotaFault is Trove's 413 overLimit for a request past a project's quota.
func quotaFault(e *catalog.QuotaExceededError) *Fault {
	var names, details []string
	for _, q := range e.Over {
		names = append(names, "'"+q.Resource+"'")
		details = append(details, fmt.Sprintf("%s: limit %d, in use %d", q.Resource, q.Limit, q.InUse))
	}
	return newFault("overLimit", http.StatusRequestEntityTooLarge, "Quota exceeded for resources: [%s]. (%s)",
		strings.Join(names, ", "), strings.Join(details, "; "))
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// faultNames names the faults of the statuses huma answers by itself.
var faultNames = map[int]string{
	http.StatusBadRequest:            "badRequest",
	http.StatusUnauthorized:          "unauthorized",
	http.StatusForbidden:             "forbidden",
	http.StatusNotFound:              "itemNotFound",
	http.StatusMethodNotAllowed:      "badMethod",
	http.StatusNotAcceptable:         "notAcceptable",
	http.StatusRequestTimeout:        "requestTimeout",
	http.StatusRequestEntityTooLarge: "requestEntityTooLarge",
	http.StatusUnsupportedMediaType:  "badMediaType",
	http.StatusTooManyRequests:       "overLimit",
	http.StatusNotImplemented:        "notImplemented",
	http.StatusServiceUnavailable:    "serviceUnavailable",
}

// humaFault is what huma's own errors become. Validation failures (huma's 422) are Trove's
// 400 badRequest, with a message that names each field; values are never echoed, since they
// may be passwords.
func humaFault(ctx context.Context, status int, msg string, errs ...error) *Fault {
	if status == http.StatusUnprocessableEntity {
		status = http.StatusBadRequest
	}
	if status >= 500 {
		var causes []string
		for _, err := range errs {
			if err != nil {
				causes = append(causes, err.Error())
			}
		}
		loggerFrom(ctx).ErrorContext(ctx, "internal error", "error", msg, "causes", causes)
		return internalFault()
	}
	var details []string
	for _, err := range errs {
		var d *huma.ErrorDetail
		switch {
		case err == nil:
		case errors.As(err, &d):
			details = append(details, describeLocation(d.Location)+d.Message)
		default:
			details = append(details, err.Error())
		}
	}
	message := msg
	switch {
	case status == http.StatusBadRequest && len(details) > 0:
		message = "Invalid request: " + strings.Join(details, "; ")
	case len(details) > 0:
		message += ": " + strings.Join(details, "; ")
	}
	name, ok := faultNames[status]
	if !ok {
		name = "badRequest"
	}
	return &Fault{Name: name, Code: status, Message: message}
}

// describeLocation turns huma's "body.instance.volume.size" into "instance.volume.size: ".
func describeLocation(loc string) string {
	switch {
	case loc == "" || loc == "body":
		return "request body: "
	case strings.HasPrefix(loc, "body."):
		return strings.TrimPrefix(loc, "body.") + ": "
	case strings.HasPrefix(loc, "query."):
		return "query parameter " + strings.TrimPrefix(loc, "query.") + ": "
	case strings.HasPrefix(loc, "path."):
		return "path parameter " + strings.TrimPrefix(loc, "path.") + ": "
	case strings.HasPrefix(loc, "header."):
		return "header " + strings.TrimPrefix(loc, "header.") + ": "
	}
	return loc + ": "
}

// useTroveFaults makes huma's error constructors build Trove faults. huma only offers
// package-level hooks for this; every Server sets the same functions, once.
var useTroveFaults = sync.OnceFunc(func() {
	huma.NewError = func(status int, msg string, errs ...error) huma.StatusError {
		return humaFault(context.Background(), status, msg, errs...)
	}
	huma.NewErrorWithContext = func(hctx huma.Context, status int, msg string, errs ...error) huma.StatusError {
		ctx := context.Background()
		if hctx != nil {
			ctx = hctx.Context()
		}
		return humaFault(ctx, status, msg, errs...)
	}
})

// writeFault writes f as the response.
func writeFault(w http.ResponseWriter, f *Fault) {
	b, err := f.MarshalJSON()
	if err != nil { // cannot happen: a Fault is strings and ints
		b = []byte(`{"instanceFault":{"code":500,"message":"error"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(b)))
	w.WriteHeader(f.Code)
	_, _ = w.Write(b)
}

// writeHumaFault writes f from a huma middleware.
func writeHumaFault(ctx huma.Context, f *Fault) {
	b, _ := f.MarshalJSON()
	ctx.SetHeader("Content-Type", "application/json")
	ctx.SetStatus(f.Code)
	_, _ = ctx.BodyWriter().Write(b)
}

// unmatched answers requests no route serves with Trove faults instead of the mux's plain
// text: 405 badMethod with the mux's Allow header when another method is served at the
// path, else 404 itemNotFound.
func unmatched(w http.ResponseWriter, r *http.Request, mux http.Handler, pathServed bool) {
	if pathServed {
		rec := &statusRecorder{header: http.Header{}}
		mux.ServeHTTP(rec, r)
		if allow := rec.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		writeFault(w, newFault("badMethod", http.StatusMethodNotAllowed, "The method %s is not allowed for %s.", r.Method, r.URL.Path))
		return
	}
	writeFault(w, itemNotFound("The resource could not be found."))
}

// statusRecorder keeps the status and headers the mux's not-found handler writes.
type statusRecorder struct {
	header http.Header
	status int
}

func (s *statusRecorder) Header() http.Header { return s.header }
func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
}
func (s *statusRecorder) Write(b []byte) (int, error) {
	s.WriteHeader(http.StatusOK)
	return len(b), nil
}
