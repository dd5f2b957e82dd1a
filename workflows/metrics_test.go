package workflows

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/telemetry"
)

// TestOperationsAreCountedByTypeAndOutcome runs a create that completes and one whose
// volume fails through the worker's telemetry, and reads what Prometheus would.
func TestOperationsAreCountedByTypeAndOutcome(t *testing.T) {
	for _, c := range []struct {
		name    string
		failing bool
		want    string
	}{
		{"completes", false, `coffer_operations_total{operation="create",outcome="completed"} 1`},
		{"volume fails", true, `coffer_operations_total{operation="create",outcome="failed"} 1`},
	} {
		t.Run(c.name, func(t *testing.T) {
			tel, err := telemetry.New(t.Context(), telemetry.Options{Service: "coffer-worker"})
			if err != nil {
				t.Fatal(err)
			}
			var opts client.Options
			if err := tel.ClientOptions(&opts); err != nil {
				t.Fatal(err)
			}
			h := newHarness(t, func(s *testsuite.WorkflowTestSuite) { s.SetMetricsHandler(opts.MetricsHandler) })
			h.mockCatalog(catalog.Resources{})
			if c.failing {
				h.env.OnActivity(a.CreateVolume, mock.Anything, mock.Anything).Return("", temporal.NewNonRetryableApplicationError("cinder is full", "QuotaExceeded", nil))
				h.mockDeletes()
			}
			h.mockCreate()
			h.env.ExecuteWorkflow(CreateInstance, createInput())
			if err := h.env.GetWorkflowError(); (err != nil) != c.failing {
				t.Fatalf("create: got error %v, want failing %v", err, c.failing)
			}

			rec := httptest.NewRecorder()
			tel.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
			got := rec.Body.String()
			for _, want := range []string{c.want, `coffer_operation_duration_seconds_count{operation="create",outcome=`} {
				if !strings.Contains(got, want) {
					t.Errorf("/metrics has no %q; its coffer lines:\n%s", want, cofferLines(got))
				}
			}
		})
	}
}

func cofferLines(exposition string) string {
	var out []string
	for line := range strings.Lines(exposition) {
		if strings.HasPrefix(line, "coffer_") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "")
}
