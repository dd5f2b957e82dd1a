package e2e

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/instances"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"

	"github.com/coffer-dbaas/coffer/dev/stack"
)

// collectedSpan is one span a collector received, with the service that sent it.
type collectedSpan struct {
	service, name, traceID string
}

// spanCollector is an OTLP/gRPC trace collector that keeps what it receives in memory.
type spanCollector struct {
	collectortrace.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []collectedSpan
}

func (c *spanCollector) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		service := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				service = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				c.spans = append(c.spans, collectedSpan{service: service, name: s.GetName(), traceID: hex.EncodeToString(s.GetTraceId())})
			}
		}
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

// startCollector serves an OTLP/gRPC collector on loopback until the test ends and returns
// it with its endpoint URL.
func startCollector(t *testing.T) (*spanCollector, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &spanCollector{}
	srv := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(srv, c)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return c, "http://" + ln.Addr().String()
}

// trace returns the services and names of the spans of the trace that holds a span named
// name from service, once that trace has a span of every one of want ("service name"), or
// what it has after timeout.
func (c *spanCollector) trace(service, name string, want []string, timeout time.Duration) map[string]bool {
	deadline := time.Now().Add(timeout)
	for {
		got := map[string]bool{}
		c.mu.Lock()
		for _, root := range c.spans {
			if root.service != service || root.name != name {
				continue
			}
			for _, s := range c.spans {
				if s.traceID == root.traceID {
					got[s.service+" "+s.name] = true
				}
			}
			break
		}
		c.mu.Unlock()
		all := true
		for _, w := range want {
			all = all && got[w]
		}
		if all || time.Now().After(deadline) {
			return got
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// scrape GETs a /metrics endpoint as Prometheus (or curl) would.
func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v\n%s", url, resp.StatusCode, err, body)
	}
	return string(body)
}

// wantSample fails the test unless the exposition has a sample of metric whose labels
// include every one of labels (`code="200"`) and whose value is not 0.
func wantSample(t *testing.T, where, exposition, metric string, labels ...string) {
	t.Helper()
	for line := range strings.Lines(exposition) {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), "{")
		if !ok || name != metric {
			continue
		}
		labelText, value, _ := strings.Cut(rest, "} ")
		all := true
		for _, l := range labels {
			all = all && strings.Contains(labelText, l)
		}
		if all && value != "0" {
			return
		}
	}
	var seen []string
	for line := range strings.Lines(exposition) {
		if strings.HasPrefix(line, metric) {
			seen = append(seen, strings.TrimSpace(line))
		}
	}
	t.Errorf("%s: no sample %s{%s} other than 0; its samples:\n%s", where, metric, strings.Join(labels, ","), strings.Join(seen, "\n"))
}

// TestOperatorsSeeMetricsAndATraceOfACreate runs a stack whose API and worker are `coffer`
// processes configured with metrics listeners and an OTLP collector (which guests are told
// too), creates an instance through the Trove API, and then reads what an operator would:
// both /metrics endpoints show the request, the operation, the instance by status, its
// guest's health age and the Temporal SDK's own metrics; and one trace holds the API's
// request, the workflow it started, the worker's activities and the guest's Prepare.
// (Spans from the API and the worker are exported by the `coffer` processes themselves, and
// the guest's by the agent, told the collector in its user_data: the real exporters, into
// a collector that keeps the spans in memory.)
func TestOperatorsSeeMetricsAndATraceOfACreate(t *testing.T) {
	collector, endpoint := startCollector(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	apiMetrics, workerMetrics := freePort(), freePort()
	own, err := stack.Start(ctx, stack.Options{
		DataDir: filepath.Join(dir, "data"), CofferBinary: cofferBinary,
		WorkerProcess: true, APIProcess: true,
		HealthInterval: healthInterval, HeartbeatExpiry: heartbeatExpiry, ParkTimeout: parkTimeout,
		TemporalPort: freePort(), UIPort: -1, CloudPort: freePort(), APIPort: freePort(), CatalogPort: freePort(),
		GuestStartTimeout: 2 * time.Minute,
		OTLPEndpoint:      endpoint, APIMetricsPort: apiMetrics, WorkerMetricsPort: workerMetrics,
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatalf("start a stack with telemetry: %v", err)
	}
	// The package's helpers talk to the shared stack; this test runs alone (not parallel),
	// so it points them at its own for its duration.
	shared := cloud
	cloud = own
	t.Cleanup(func() {
		cloud = shared
		own.Stop()
	})

	demo := login(t, "demo")
	created, err := instances.Create(context.Background(), demo.db, postgresOpts("watched")).Extract()
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	t.Cleanup(func() { deleteInstance(t, demo, created.ID) })
	waitStatus(t, demo.db, created.ID, "ACTIVE", 3*time.Minute)
	// The guest's health reports reach the catalog every interval.
	time.Sleep(2 * healthInterval)

	apiURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", apiMetrics)
	api := scrape(t, apiURL)
	wantSample(t, apiURL, api, "coffer_http_requests_total",
		`route="POST /v1.0/{project_id}/instances"`, `method="POST"`, `code="200"`)
	wantSample(t, apiURL, api, "coffer_http_request_duration_seconds_count", `route="GET /v1.0/{project_id}/instances/{id}"`, `code="200"`)
	wantSample(t, apiURL, api, "coffer_instances", `status="ACTIVE"`)
	wantSample(t, apiURL, api, "coffer_guest_health_age_seconds", `instance_id="`+created.ID+`"`)
	wantSample(t, apiURL, api, "temporal_request_total", `namespace="default"`)
	if regexp.MustCompile(`route="[^"]*` + created.ID).MatchString(api) {
		t.Errorf("%s: a route label holds the instance's ID; routes must be patterns", apiURL)
	}

	workerURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", workerMetrics)
	worker := scrape(t, workerURL)
	wantSample(t, workerURL, worker, "coffer_operations_total", `operation="create"`, `outcome="completed"`)
	wantSample(t, workerURL, worker, "coffer_operation_duration_seconds_count", `operation="create"`, `outcome="completed"`)
	wantSample(t, workerURL, worker, "temporal_workflow_completed_total", `workflow_type="CreateInstance"`)
	wantSample(t, workerURL, worker, "temporal_activity_execution_latency_seconds_count", `activity_type="CreateServer"`)

	wantDashboardMetricsServed(t, api+worker)

	want := []string{
		"coffer-api POST /v1.0/{project_id}/instances",
		// The API starts an operation with its claim, an update-with-start.
		"coffer-api UpdateWithStartWorkflow:claim",
		"coffer-worker RunWorkflow:CreateInstance",
		"coffer-worker RunActivity:CreateServer",
		"coffer-guestagent RunActivity:Prepare",
	}
	got := collector.trace("coffer-api", "POST /v1.0/{project_id}/instances", want, time.Minute)
	for _, w := range want {
		if !got[w] {
			t.Errorf("the create's trace has no span %q; it has %d spans: %v", w, len(got), got)
		}
	}
}

// unseenAfterACreate are the metrics a successful create does not show: those that appear
// once something failed, and the activities' schedule-to-start latency, which the SDK
// records only for activities it polled (the worker runs its own eagerly).
var unseenAfterACreate = map[string]bool{
	"temporal_workflow_failed_total": true, "temporal_workflow_canceled_total": true,
	"temporal_activity_execution_failed_total": true, "temporal_request_failure_total": true,
	"temporal_activity_schedule_to_start_latency_seconds_bucket": true,
}

// wantDashboardMetricsServed checks that every metric the Grafana dashboard in the
// repository reads is one the API or the worker serves (in exposition), so that a renamed
// metric cannot leave a panel empty.
func wantDashboardMetricsServed(t *testing.T, exposition string) {
	t.Helper()
	raw, err := os.ReadFile("../telemetry/grafana/coffer.json")
	if err != nil {
		t.Fatal(err)
	}
	var dashboard struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dashboard); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	name := regexp.MustCompile(`\b(?:coffer|temporal)_[a-z_]+\b`)
	n := 0
	for _, p := range dashboard.Panels {
		for _, target := range p.Targets {
			for _, m := range name.FindAllString(target.Expr, -1) {
				n++
				if unseenAfterACreate[m] {
					continue
				}
				if !regexp.MustCompile(`(?m)^` + m + `[{ ]`).MatchString(exposition) {
					t.Errorf("dashboard panel %q reads %s, which neither /metrics serves", p.Title, m)
				}
			}
		}
	}
	if n < 10 {
		t.Errorf("the dashboard reads %d metrics, want its panels' queries", n)
	}
}
