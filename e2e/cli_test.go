package e2e

import (
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/instances"

	"github.com/coffer-dbaas/coffer/workflows"
)

// temporalCLI finds the Temporal CLI: $COFFER_TEMPORAL_CLI, bin/temporal of the repository
// (`go tool task tools:temporal` builds it) or temporal on the PATH; it skips the test when
// there is none.
func temporalCLI(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("COFFER_TEMPORAL_CLI"), filepath.Join("..", "bin", "temporal")} {
		if p == "" {
			continue
		}
		if abs, err := filepath.Abs(p); err == nil {
			if _, err := os.Stat(abs); err == nil {
				return abs
			}
		}
	}
	if p, err := exec.LookPath("temporal"); err == nil {
		return p
	}
	t.Skip("needs the Temporal CLI: `go tool task test:operators` builds bin/temporal and runs this test")
	return ""
}

// runCLI runs the Temporal CLI against the stack's Temporal, with the codec server and the
// authorization given (none when empty), and returns its output and whether it succeeded.
func runCLI(t *testing.T, cli, authorization string, args ...string) (string, bool) {
	t.Helper()
	args = append(args, "--address", cloud.Temporal.FrontendHostPort(), "--namespace", cloud.Config.Temporal.Namespace,
		"--codec-endpoint", cloud.APIURL+"/codec")
	if authorization != "" {
		args = append(args, "--codec-auth", authorization)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput()
	return readable(string(out)), err == nil
}

// payloadData matches a payload's data in the CLI's JSON output, which shows a decoded
// payload as protobuf's JSON does: its bytes (JSON, once decoded) in base64.
var payloadData = regexp.MustCompile(`"data":\s*"([A-Za-z0-9+/=]+)"`)

// readable is the CLI's output with the data of each payload in it appended as text.
func readable(out string) string {
	var b strings.Builder
	b.WriteString(out)
	for _, m := range payloadData.FindAllStringSubmatch(out, -1) {
		if data, err := base64.StdEncoding.DecodeString(m[1]); err == nil && utf8.Valid(data) {
			b.WriteString("\n" + string(data))
		}
	}
	return b.String()
}

func TestTemporalCLIReadsThroughTheCodecServerForAdminsOnly(t *testing.T) {
	cli := temporalCLI(t)
	ctx := context.Background()
	demo, admin := login(t, "demo"), login(t, "admin")
	clear := failVolumes(t, admin)
	inst, err := instances.Create(ctx, demo.db, postgresOpts("cli-codec")).Extract()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteQuietly(demo, inst.ID) })
	id := workflows.CreateWorkflowID(inst.ID)
	adminAuth := "Bearer " + admin.provider.Token()
	waitStep(t, id, workflows.StepCreateVolume, time.Minute)

	// An answer sent while the step is still in its retries is refused, and the CLI says so.
	out, ok := runCLI(t, cli, adminAuth, "workflow", "update", "execute", "--workflow-id", id, "--name", workflows.RetrySignal)
	if ok || !strings.Contains(out, "rejected: the step is not parked") {
		t.Errorf("temporal workflow update execute --name retry during the step's retries: ok %v, output:\n%s\nwant it rejected: the step is not parked", ok, out)
	}

	// An admin reads the input and the progress query in clear text.
	out, ok = runCLI(t, cli, adminAuth, "workflow", "show", "--workflow-id", id, "--output", "json")
	if !ok || !strings.Contains(out, `"flavor_id":"ds512M"`) || !strings.Contains(out, `"name":"cli-codec"`) {
		t.Errorf("temporal workflow show as admin: ok %v, output:\n%s\nwant the create's input decoded", ok, out)
	}
	out, ok = runCLI(t, cli, adminAuth, "workflow", "query", "--workflow-id", id, "--type", workflows.ProgressQuery)
	if !ok || !strings.Contains(out, `"operation"`) || !strings.Contains(out, "create") {
		t.Errorf("temporal workflow query --type progress as admin: ok %v, output:\n%s\nwant the progress decoded", ok, out)
	}
	out, ok = runCLI(t, cli, adminAuth, "workflow", "describe", "--workflow-id", id, "--output", "json")
	if !ok || !strings.Contains(out, "create of cli-codec") {
		t.Errorf("temporal workflow describe as admin: ok %v, output:\n%s\nwant the summary naming the instance", ok, out)
	}

	// A tenant's token, or none, decodes nothing: the codec server refuses, and the CLI
	// retries until its command times out, printing nothing decoded.
	for who, auth := range map[string]string{"a tenant": "Bearer " + demo.provider.Token(), "nobody": ""} {
		out, _ := runCLI(t, cli, auth, "workflow", "show", "--workflow-id", id, "--output", "json", "--command-timeout", "5s")
		if strings.Contains(out, `"flavor_id"`) || strings.Contains(out, "cli-codec") {
			t.Errorf("temporal workflow show with %s's authorization decoded the input:\n%s", who, out)
		}
	}

	// Once the step is parked, the same update is accepted and the create goes on.
	waitParked(t, admin, inst.ID, workflows.StepCreateVolume)
	clear()
	out, ok = runCLI(t, cli, adminAuth, "workflow", "update", "execute", "--workflow-id", id, "--name", workflows.RetrySignal)
	if !ok {
		t.Fatalf("temporal workflow update execute --name retry while parked failed:\n%s", out)
	}
	waitStatus(t, demo.db, inst.ID, "ACTIVE", 3*time.Minute)
}
