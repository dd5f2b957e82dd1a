package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	otelprometheus "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
	sdklog "go.temporal.io/sdk/log"
)

// Options configure a process's telemetry.
type Options struct {
	// Service names the process in traces (service.name): "coffer-api", "coffer-worker",
	// "coffer-guestagent".
	Service string
	// OTLPEndpoint is the OTLP/gRPC collector spans go to, as a URL (http://host:4317 sends
	// in plain text, https:// over TLS) or host:port (TLS). Empty exports no span.
	OTLPEndpoint string
	// SpanExporter, when set, receives the spans instead (tests give an in-memory one).
	SpanExporter sdktrace.SpanExporter
}

// Telemetry is one process's metrics registry and tracer provider.
type Telemetry struct {
	// Registry holds every metric the process serves at /metrics.
	Registry *prometheus.Registry
	// Tracer starts the process's own spans (the API's request spans).
	Tracer trace.Tracer

	tracerProvider trace.TracerProvider
	sdkTracer      *sdktrace.TracerProvider // nil when no span is exported
	meterProvider  *sdkmetric.MeterProvider
	propagator     propagation.TextMapPropagator
}

// secondsBuckets are the histogram buckets of every duration, from a fast API request to
// an hour-long operation.
var secondsBuckets = []float64{0.005, 0.025, 0.1, 0.25, 1, 2.5, 10, 30, 60, 300, 900, 3600}

// New makes a process's telemetry: a Prometheus registry with the Go runtime's and the
// process's collectors, an OpenTelemetry meter provider that feeds the Temporal SDK's
// metrics into that registry, and a tracer provider that exports to opts' exporter or
// collector (or nowhere).
func New(ctx context.Context, opts Options) (*Telemetry, error) {
	if opts.Service == "" {
		return nil, errors.New("telemetry: Options.Service is required")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exp, err := otelprometheus.New(otelprometheus.WithRegisterer(reg), otelprometheus.WithoutScopeInfo(),
		otelprometheus.WithoutTargetInfo())
	if err != nil {
		return nil, fmt.Errorf("telemetry: prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp), sdkmetric.WithView(sdkmetric.NewView(
		sdkmetric.Instrument{Kind: sdkmetric.InstrumentKindHistogram, Unit: "s"},
		sdkmetric.Stream{Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: secondsBuckets}},
	)))
	t := &Telemetry{Registry: reg, meterProvider: mp, tracerProvider: noop.NewTracerProvider(),
		propagator: temporalotel.DefaultTextMapPropagator}

	exporter := opts.SpanExporter
	if exporter == nil && opts.OTLPEndpoint != "" {
		if exporter, err = otlpExporter(ctx, opts.OTLPEndpoint); err != nil {
			return nil, err
		}
	}
	if exporter != nil {
		res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attribute.String("service.name", opts.Service)))
		if err != nil {
			return nil, fmt.Errorf("telemetry: resource: %w", err)
		}
		t.sdkTracer = sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter, sdktrace.WithBatchTimeout(time.Second)),
			sdktrace.WithResource(res))
		t.tracerProvider = t.sdkTracer
	}
	t.Tracer = t.tracerProvider.Tracer("github.com/coffer-dbaas/coffer")
	return t, nil
}

// otlpExporter exports spans over OTLP/gRPC to endpoint.
func otlpExporter(ctx context.Context, endpoint string) (sdktrace.SpanExporter, error) {
	var opts []otlptracegrpc.Option
	if u, err := url.Parse(endpoint); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		opts = append(opts, otlptracegrpc.WithEndpointURL(endpoint))
	} else {
		opts = append(opts, otlptracegrpc.WithEndpoint(endpoint))
	}
	exp, err := otlptracegrpc.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("telemetry: OTLP exporter for %s: %w", endpoint, err)
	}
	return exp, nil
}

// ClientOptions adds the Temporal SDK's metrics handler and tracing interceptor to opts.
// Workers made from the client get the interceptor too, so a workflow's and an activity's
// spans continue the trace of whoever started them, through the task's headers.
func (t *Telemetry) ClientOptions(opts *client.Options) error {
	tr, err := t.Interceptor()
	if err != nil {
		return err
	}
	opts.Interceptors = append(opts.Interceptors, tr)
	opts.MetricsHandler = temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{
		Meter:                t.meterProvider.Meter("temporal-sdk-go"),
		UseMonotonicCounters: true,
		// A metric the exporter refuses is no reason to stop a workflow.
		OnError: func(error) {},
	})
	return nil
}

// Interceptor is the tracing interceptor alone, for a client that reports no metrics (the
// guest agent's). Queries make no spans: the Web UI and the API ask the progress query
// often, and it changes nothing.
func (t *Telemetry) Interceptor() (interceptor.Interceptor, error) {
	tr, err := temporalotel.NewTracer(temporalotel.TracerOptions{
		Tracer: t.tracerProvider.Tracer("temporal-sdk-go"), DisableQueryTracing: true,
	})
	if err != nil {
		return nil, fmt.Errorf("telemetry: tracing interceptor: %w", err)
	}
	return interceptor.NewTracingInterceptor(loggingTracer{tr}), nil
}

// loggingTracer is the SDK's OpenTelemetry tracer whose workflow and activity loggers
// carry trace_id and span_id, the keys the process's own logs use (NewLogger), rather than
// the SDK's TraceID and SpanID.
type loggingTracer struct{ interceptor.Tracer }

func (t loggingTracer) GetLogger(logger sdklog.Logger, ref interceptor.TracerSpanRef) sdklog.Logger {
	span, ok := ref.(interface{ SpanContext() trace.SpanContext })
	if !ok || !span.SpanContext().IsValid() {
		return logger
	}
	return sdklog.With(logger, "trace_id", span.SpanContext().TraceID().String(), "span_id", span.SpanContext().SpanID().String())
}

// Handler serves the registry in Prometheus' text format.
func (t *Telemetry) Handler() http.Handler {
	// A collector that fails (the catalog is down) leaves its metrics out, not the rest.
	return promhttp.HandlerFor(t.Registry, promhttp.HandlerOpts{Registry: t.Registry, ErrorHandling: promhttp.ContinueOnError})
}

// ServeMetrics listens on addr at once (a wrong or taken address fails here) and serves
// /metrics there in the background until stop: the operators' listener, apart from the
// tenants' API.
func (t *Telemetry) ServeMetrics(addr string, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", t.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", "addr", addr, "error", err)
		}
	}()
	log.Info("metrics listening", "url", "http://"+ln.Addr().String()+"/metrics")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}, nil
}

// Shutdown exports the spans still buffered and stops the providers.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	if t.sdkTracer != nil {
		errs = append(errs, t.sdkTracer.Shutdown(ctx))
	}
	errs = append(errs, t.meterProvider.Shutdown(ctx))
	return errors.Join(errs...)
}
