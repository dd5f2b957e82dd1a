package telemetry

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// InstrumentHTTP wraps an HTTP handler: each request is counted and timed by route, method
// and status code (coffer_http_requests_total, coffer_http_request_duration_seconds), and
// runs in a server span named for its route, which continues the caller's trace when the
// request carries a traceparent header. route names a request's route as a pattern
// ("GET /v1.0/{project_id}/instances/{id}"), never its path, so that IDs make no series.
func (t *Telemetry) InstrumentHTTP(next http.Handler, route func(*http.Request) string) (http.Handler, error) {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "coffer_http_requests_total",
		Help: "HTTP requests the API answered, by route, method and status code.",
	}, []string{"route", "method", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "coffer_http_request_duration_seconds",
		Help:    "How long the API took to answer, by route, method and status code.",
		Buckets: secondsBuckets,
	}, []string{"route", "method", "code"})
	for _, c := range []prometheus.Collector{requests, duration} {
		if err := t.Registry.Register(c); err != nil {
			return nil, fmt.Errorf("telemetry: register HTTP metrics: %w", err)
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rt := route(r)
		ctx := t.propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := t.Tracer.Start(ctx, rt, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.route", rt), attribute.String("http.request.method", r.Method)))
		defer span.End()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(ctx))
		code := sw.code
		if code == 0 {
			code = http.StatusOK
		}
		span.SetAttributes(attribute.Int("http.response.status_code", code))
		if code >= 500 {
			span.SetStatus(codes.Error, http.StatusText(code))
		}
		c := strconv.Itoa(code)
		requests.WithLabelValues(rt, r.Method, c).Inc()
		duration.WithLabelValues(rt, r.Method, c).Observe(time.Since(start).Seconds())
	}), nil
}

// statusWriter remembers the status code a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection's own writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
