package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/coffer-dbaas/coffer"
)

func newTelemetry(t *testing.T, exp *tracetest.InMemoryExporter) *Telemetry {
	t.Helper()
	opts := Options{Service: "coffer-test"}
	if exp != nil {
		opts.SpanExporter = exp
	}
	tel, err := New(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	return tel
}

// metrics returns what /metrics serves.
func metrics(t *testing.T, tel *Telemetry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	tel.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: got %d, want 200\n%s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

func wantLine(t *testing.T, exposition, line string) {
	t.Helper()
	if !strings.Contains(exposition, line) {
		t.Errorf("/metrics has no line %q; it has:\n%s", line, exposition)
	}
}

// TestRequestsAreCountedByRouteAndCodeInASpanThatContinuesTheCallersTrace.
func TestRequestsAreCountedByRouteAndCodeInASpanThatContinuesTheCallersTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tel := newTelemetry(t, exp)
	h, err := tel.InstrumentHTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/missing") {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}), func(*http.Request) string { return "GET /v1.0/{project_id}/instances/{id}" })
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v1.0/p/instances/a", "/v1.0/p/instances/b", "/v1.0/p/instances/missing"} {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	m := metrics(t, tel)
	wantLine(t, m, `coffer_http_requests_total{code="200",method="GET",route="GET /v1.0/{project_id}/instances/{id}"} 2`)
	wantLine(t, m, `coffer_http_requests_total{code="404",method="GET",route="GET /v1.0/{project_id}/instances/{id}"} 1`)
	wantLine(t, m, `coffer_http_request_duration_seconds_count{code="200",method="GET",route="GET /v1.0/{project_id}/instances/{id}"} 2`)

	// (Shutdown would empty the in-memory exporter.)
	if err := tel.sdkTracer.ForceFlush(t.Context()); err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	if len(spans) != 3 {
		t.Fatalf("spans: got %d, want one a request", len(spans))
	}
	for _, s := range spans {
		if s.Name != "GET /v1.0/{project_id}/instances/{id}" || s.SpanContext.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
			t.Errorf("span %q in trace %s: want the route's name in the caller's trace", s.Name, s.SpanContext.TraceID())
		}
	}
}

type instanceList struct {
	insts []*coffer.Instance
	err   error
}

func (l instanceList) ListInstances(context.Context, string, int, string) ([]*coffer.Instance, error) {
	return l.insts, l.err
}

// TestInstancesAreCountedByStatusWithTheirGuestsHealthAge.
func TestInstancesAreCountedByStatusWithTheirGuestsHealthAge(t *testing.T) {
	tel := newTelemetry(t, nil)
	now := time.Now()
	active := func(id string, reported time.Time) *coffer.Instance {
		return &coffer.Instance{ID: id, ProjectID: "p", Task: coffer.TaskNone, ServerStatus: "ACTIVE",
			ServiceStatus: coffer.ServiceHealthy, ServiceStatusUpdated: reported}
	}
	building := &coffer.Instance{ID: "c", ProjectID: "p", Task: coffer.TaskBuilding}
	c := &instanceCollector{list: instanceList{insts: []*coffer.Instance{active("a", now.Add(-5*time.Second)), active("b", now.Add(-5*time.Second)), building}},
		now: func() time.Time { return now }}
	tel.Registry.MustRegister(c)
	m := metrics(t, tel)
	wantLine(t, m, `coffer_instances{status="ACTIVE"} 2`)
	wantLine(t, m, `coffer_instances{status="BUILD"} 1`)
	wantLine(t, m, `coffer_guest_health_age_seconds{instance_id="a",project_id="p"} 5`)
	if strings.Contains(m, `instance_id="c"`) {
		t.Errorf("an instance whose guest never reported has a health age:\n%s", m)
	}
}

// TestACatalogThatFailsLeavesOutTheInstancesButServesTheRest.
func TestACatalogThatFailsLeavesOutTheInstancesButServesTheRest(t *testing.T) {
	tel := newTelemetry(t, nil)
	if err := tel.WatchInstances(instanceList{err: errors.New("catalog down")}); err != nil {
		t.Fatal(err)
	}
	m := metrics(t, tel)
	wantLine(t, m, "go_goroutines")
	if strings.Contains(m, "coffer_instances{") {
		t.Errorf("instances counted although the catalog failed:\n%s", m)
	}
}

// TestJSONLogsCarryTheTraceAndSpanOfTheirContext.
func TestJSONLogsCarryTheTraceAndSpanOfTheirContext(t *testing.T) {
	tel := newTelemetry(t, tracetest.NewInMemoryExporter())
	var buf bytes.Buffer
	log, err := NewLogger(&buf, "json", "info")
	if err != nil {
		t.Fatal(err)
	}
	ctx, span := tel.Tracer.Start(t.Context(), "request")
	log.With("instance_id", "i-1").InfoContext(ctx, "resizing")
	log.Info("no span")
	span.End()

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), buf.String())
	}
	var first, second map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatalf("log line is not JSON: %v\n%s", err, lines[0])
	}
	_ = json.Unmarshal([]byte(lines[1]), &second)
	if first["trace_id"] != span.SpanContext().TraceID().String() || first["span_id"] != span.SpanContext().SpanID().String() || first["instance_id"] != "i-1" {
		t.Errorf("log line in a span: got %v, want its trace_id, span_id and instance_id", first)
	}
	if _, ok := second["trace_id"]; ok {
		t.Errorf("log line outside a span: got %v, want no trace_id", second)
	}
	for _, bad := range [][2]string{{"yaml", "info"}, {"json", "loud"}} {
		if _, err := NewLogger(&buf, bad[0], bad[1]); err == nil {
			t.Errorf("NewLogger(%q, %q): got no error", bad[0], bad[1])
		}
	}
}
