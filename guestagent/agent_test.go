package guestagent_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/codec"
	"github.com/coffer-dbaas/coffer/configdrive"
	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestagent"
	"github.com/coffer-dbaas/coffer/guestagent/postgres"
	"github.com/google/uuid"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.temporal.io/server/temporaltest"
)

// agent is the agent as cmd/coffer builds it.
var agent = guestagent.Agent{Drivers: map[string]guestagent.NewDriver{postgres.Datastore: postgres.New}}

// prepareAndCheck is what a create workflow does with the guest: Prepare, then Health, by
// the contract's names on the instance's task queue. Failed activities are retried without
// end, so only a non-retryable failure ends it early.
func prepareAndCheck(ctx workflow.Context, instanceID string, in guest.PrepareInput) (guest.HealthReport, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           guest.TaskQueue(instanceID),
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 100 * time.Millisecond, MaximumInterval: time.Second},
	})
	var report guest.HealthReport
	if err := workflow.ExecuteActivity(ctx, guest.PrepareActivity, in).Get(ctx, nil); err != nil {
		return report, err
	}
	err := workflow.ExecuteActivity(ctx, guest.HealthActivity).Get(ctx, &report)
	return report, err
}

// checkHealth asks the guest for a health report.
func checkHealth(ctx workflow.Context, instanceID string) (guest.HealthReport, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           guest.TaskQueue(instanceID),
		StartToCloseTimeout: time.Minute,
	})
	var report guest.HealthReport
	err := workflow.ExecuteActivity(ctx, guest.HealthActivity).Get(ctx, &report)
	return report, err
}

// newServer describes a new server for an instance: a volume under /tmp (the postgres user
// cannot walk t.TempDir), its own loopback address, and user_data holding cfg.
func newServer(t *testing.T, cfg guest.Config) configdrive.Drive {
	t.Helper()
	volume, err := os.MkdirTemp("", "coffer-vol-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(volume) })
	userData, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return configdrive.Drive{
		UserData: userData,
		Instance: configdrive.Instance{
			FixedIP: fmt.Sprintf("127.78.%d.%d", 1+mathrand.IntN(254), 1+mathrand.IntN(254)),
			Flavor:  configdrive.Flavor{RAMMB: 256, VCPUs: 1},
			Volumes: []configdrive.Volume{{Path: volume, SizeGB: 1}},
		},
	}
}

// boot runs the agent of the server until shutdown (or the test's end) and returns
// shutdown, which stops it as the hypervisor would and checks that the engine stopped too.
func boot(t *testing.T, drive configdrive.Drive) (shutdown func()) {
	t.Helper()
	volume := drive.Instance.Volumes[0].Path
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	go func() { done <- agent.Run(ctx, drive, log) }()
	var stopped bool
	shutdown = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run after cancel: got %v, want nil", err)
			}
		case <-time.After(2 * time.Minute):
			t.Fatalf("Run did not return within 2m of its context's end")
		}
		if out, err := exec.Command("pgrep", "-f", volume).Output(); err == nil {
			t.Errorf("postgres left running on %s after the agent ended: %s", volume, out)
		}
	}
	t.Cleanup(shutdown)
	return shutdown
}

func TestAgentPreparesTheEngineThroughTemporal(t *testing.T) {
	key := make([]byte, 32)
	rand.Read(key)
	dc, err := codec.DataConverter(key)
	if err != nil {
		t.Fatal(err)
	}
	ts := temporaltest.NewServer(temporaltest.WithT(t), temporaltest.WithBaseClientOptions(client.Options{DataConverter: dc}))
	ts.NewWorker("control-plane", func(r worker.Registry) {
		r.RegisterWorkflow(prepareAndCheck)
		r.RegisterWorkflow(checkHealth)
	})

	instanceID := uuid.NewString()
	server := newServer(t, guest.Config{
		InstanceID:        instanceID,
		Datastore:         "postgresql",
		Version:           "15",
		TemporalHostPort:  ts.GetFrontendHostPort(),
		TemporalNamespace: ts.GetDefaultNamespace(),
		CodecKey:          base64.StdEncoding.EncodeToString(key),
	})
	shutdown := boot(t, server)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := ts.GetDefaultClient()
	const password = "p@ss'word-in-history?"
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "control-plane"}, prepareAndCheck, instanceID,
		guest.PrepareInput{Datastore: "postgresql", Version: "15",
			Databases: []coffer.Database{{Name: "app"}},
			Users:     []coffer.User{{Name: "alice", Password: password, Databases: []string{"app"}}}})
	if err != nil {
		t.Fatal(err)
	}
	var report guest.HealthReport
	if err := run.Get(ctx, &report); err != nil {
		t.Fatalf("prepare and check: %v", err)
	}
	if report.Status != coffer.ServiceHealthy || report.At.IsZero() {
		t.Errorf("Health after Prepare: got %+v, want HEALTHY with a time", report)
	}

	// The codec keeps the password out of Temporal's history.
	iter := c.GetWorkflowHistory(ctx, run.GetID(), run.GetRunID(), false, 0)
	for iter.HasNext() {
		event, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := event.Marshal(); strings.Contains(string(b), password) {
			t.Errorf("event %d (%s) holds the password in plain text", event.GetEventId(), event.GetEventType())
		}
	}

	// An invalid request fails at once, however patient the caller's retry policy.
	run, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "control-plane"}, prepareAndCheck, instanceID,
		guest.PrepareInput{Databases: []coffer.Database{{Name: `x"; DROP DATABASE app; --`}}})
	if err != nil {
		t.Fatal(err)
	}
	err = run.Get(ctx, nil)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != guest.ErrInvalid || !appErr.NonRetryable() {
		t.Errorf("Prepare with a hostile name: got %v, want a non-retryable %s", err, guest.ErrInvalid)
	}

	// The server reboots: its new agent brings the database back before anyone asks.
	shutdown()
	boot(t, server)
	run, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "control-plane"}, checkHealth, instanceID)
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Get(ctx, &report); err != nil || report.Status != coffer.ServiceHealthy {
		t.Errorf("Health after a reboot: got %+v, %v; want HEALTHY", report, err)
	}
}

func TestRunWaitsForTemporalUntilCanceled(t *testing.T) {
	ln := "127.0.0.1:1" // nothing listens there
	volume, err := os.MkdirTemp("", "coffer-vol-*")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(volume)
	userData, _ := json.Marshal(guest.Config{InstanceID: "i-1", Datastore: "postgresql", TemporalHostPort: ln,
		CodecKey: base64.StdEncoding.EncodeToString(make([]byte, 32))})
	drive := configdrive.Drive{UserData: userData, Instance: configdrive.Instance{FixedIP: "127.78.0.1",
		Volumes: []configdrive.Volume{{Path: volume}}}}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := agent.Run(ctx, drive, slog.New(slog.NewTextHandler(t.Output(), nil))); err != nil {
		t.Errorf("Run while Temporal is unreachable, until canceled: got %v, want nil", err)
	}
	if d := time.Since(start); d < time.Second || d > 30*time.Second {
		t.Errorf("Run returned after %v; want it to keep trying until its context ended (1.5s)", d)
	}
}

func TestRunRejectsABadConfiguration(t *testing.T) {
	good := guest.Config{InstanceID: "i-1", Datastore: "postgresql", TemporalHostPort: "127.0.0.1:1",
		CodecKey: base64.StdEncoding.EncodeToString(make([]byte, 32))}
	for _, tc := range []struct {
		name   string
		change func(*guest.Config)
		want   string
	}{
		{"unknown datastore", func(c *guest.Config) { c.Datastore = "oracle" }, `datastore "oracle" is not supported`},
		{"no instance ID", func(c *guest.Config) { c.InstanceID = "" }, "lacks instance_id"},
		{"no codec key", func(c *guest.Config) { c.CodecKey = "" }, "lacks codec_key"},
		{"short codec key", func(c *guest.Config) { c.CodecKey = "c2hvcnQ=" }, "codec key is 5 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.change(&cfg)
			userData, _ := json.Marshal(cfg)
			drive := configdrive.Drive{UserData: userData, Instance: configdrive.Instance{FixedIP: "127.78.0.1",
				Volumes: []configdrive.Volume{{Path: "/nonexistent/volume"}}}}
			err := agent.Run(context.Background(), drive, slog.New(slog.DiscardHandler))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run with %s: got %v, want an error saying %q", tc.name, err, tc.want)
			}
		})
	}
}
