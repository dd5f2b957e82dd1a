package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/instances"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/coffer-dbaas/coffer/codec"
	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestauth"
	"github.com/coffer-dbaas/coffer/workflows"
)

// keptIdentity is what a guest agent keeps in its state folder (guestagent's credential.json).
type keptIdentity struct {
	InstanceID string `json:"instance_id"`
	Credential string `json:"credential"`
	Key        []byte `json:"key"`
}

// guestServerDir is the folder of the instance's server in the devcloud: what is on that
// server's disk (the process hypervisor's guest keeps its state there).
func guestServerDir(t *testing.T, who tenant, instanceID string) string {
	t.Helper()
	inst, err := cloud.Catalog.GetInstance(context.Background(), who.projectID, instanceID)
	if err != nil || inst.ServerID == "" {
		t.Fatalf("the catalog's instance %s: %+v, %v; want its server", instanceID, inst, err)
	}
	return filepath.Join(cloud.Cloud.DataDir(), "servers", inst.ServerID)
}

// stolenIdentity reads the credential an instance's agent keeps, as the tenant who owns the
// server (and got past the database to its OS) would.
func stolenIdentity(t *testing.T, who tenant, instanceID string) keptIdentity {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(guestServerDir(t, who, instanceID), "guest-state", "credential.json"))
	if err != nil {
		t.Fatalf("the agent of %s keeps no credential: %v", instanceID, err)
	}
	var id keptIdentity
	if err := json.Unmarshal(b, &id); err != nil || id.InstanceID != instanceID || id.Credential == "" || len(id.Key) != 32 {
		t.Fatalf("credential.json of %s: got %s (%v), want its identity", instanceID, b, err)
	}
	return id
}

// asGuest is a Temporal client that dials the gateway with a guest's credential and key, as
// a hostile tenant would with what it took from its server.
func asGuest(t *testing.T, id keptIdentity) client.Client {
	t.Helper()
	dc, err := codec.DataConverter(id.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(client.Options{
		HostPort: cloud.GatewayHostPort, Namespace: cloud.Config.Temporal.Namespace,
		Credentials:       client.NewAPIKeyStaticCredentials(guestauth.APIKey(id.InstanceID, id.Credential)),
		ConnectionOptions: client.ConnectionOptions{TLSDisabled: true},
		DataConverter:     dc, FailureConverter: codec.FailureConverter(dc),
	})
	if err != nil {
		t.Fatalf("dial the gateway with the guest's credential: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// wantRefused fails the test unless err is the gateway's refusal.
func wantRefused(t *testing.T, what string, err error) {
	t.Helper()
	if code := serviceerror.ToStatus(err).Code(); code != codes.PermissionDenied && code != codes.Unauthenticated {
		t.Errorf("a guest's credential may %s: got %v (%s), want PermissionDenied or Unauthenticated", what, err, code)
	}
}

// guestPayload is the input of the first activity a workflow handed a guest, as Temporal
// keeps it (encrypted with the control plane's key).
func guestPayload(t *testing.T, workflowID string) *commonpb.Payload {
	t.Helper()
	iter := cloud.Client.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		a := ev.GetActivityTaskScheduledEventAttributes()
		if a != nil && strings.HasPrefix(a.GetTaskQueue().GetName(), "guestagent.") && len(a.GetInput().GetPayloads()) > 0 {
			return a.GetInput().GetPayloads()[0]
		}
	}
	t.Fatalf("%s handed no guest an activity with an input", workflowID)
	return nil
}

// TestHostileGuestGetsNothingBeyondItself takes what an attacker who owns one guest has (the
// agent's credential and key from its state folder, the server's user_data, a backup's
// temp URLs as the guest got them) and tries everything else with it: each is refused.
// (Root's escapes from the database are TestEverydayAPIOnOneInstance's, and the guest's own
// operations pass through the gateway in every other test of the suite.)
func TestHostileGuestGetsNothingBeyondItself(t *testing.T) {
	demo, alt := login(t, "demo"), login(t, "alt_demo")
	// Both at once: the second builds while the first does.
	var created []*instances.Instance
	for _, o := range []struct {
		who  tenant
		name string
	}{{demo, "hostile-guest"}, {alt, "its-neighbour"}} {
		inst, err := instances.Create(context.Background(), o.who.db, postgresOpts(o.name)).Extract()
		if err != nil {
			t.Fatalf("create %s: %v", o.name, err)
		}
		t.Cleanup(func() { deleteInstance(t, o.who, inst.ID) })
		created = append(created, inst)
	}
	mine := waitStatus(t, demo.db, created[0].ID, "ACTIVE", 4*time.Minute)
	theirs := waitStatus(t, alt.db, created[1].ID, "ACTIVE", 4*time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	id := stolenIdentity(t, demo, mine.ID)
	hostile := asGuest(t, id)
	ns := cloud.Config.Temporal.Namespace
	ws := hostile.WorkflowService()
	theirCreate := "instance/" + theirs.ID + "/create"

	t.Run("temporal", func(t *testing.T) {
		short := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 30*time.Second) }
		for what, call := range map[string]func(context.Context) error{
			"poll another instance's queue": func(ctx context.Context) error {
				_, err := ws.PollActivityTaskQueue(ctx, &workflowservice.PollActivityTaskQueueRequest{Namespace: ns,
					TaskQueue: &taskqueuepb.TaskQueue{Name: guest.TaskQueue(theirs.ID)}, Identity: "hostile"})
				return err
			},
			"poll the control plane's activities": func(ctx context.Context) error {
				_, err := ws.PollActivityTaskQueue(ctx, &workflowservice.PollActivityTaskQueueRequest{Namespace: ns,
					TaskQueue: &taskqueuepb.TaskQueue{Name: workflows.ControlTaskQueue}, Identity: "hostile"})
				return err
			},
			"poll the control plane's workflows": func(ctx context.Context) error {
				_, err := ws.PollWorkflowTaskQueue(ctx, &workflowservice.PollWorkflowTaskQueueRequest{Namespace: ns,
					TaskQueue: &taskqueuepb.TaskQueue{Name: workflows.ControlTaskQueue}, Identity: "hostile"})
				return err
			},
			"poll its own queue in another namespace": func(ctx context.Context) error {
				_, err := ws.PollActivityTaskQueue(ctx, &workflowservice.PollActivityTaskQueueRequest{Namespace: "temporal-system",
					TaskQueue: &taskqueuepb.TaskQueue{Name: guest.TaskQueue(mine.ID)}, Identity: "hostile"})
				return err
			},
			"answer a task it was not handed": func(ctx context.Context) error {
				_, err := ws.RespondActivityTaskCompleted(ctx, &workflowservice.RespondActivityTaskCompletedRequest{Namespace: ns,
					TaskToken: []byte("forged"), Identity: "hostile"})
				return err
			},
			"answer another workflow's activity by its ID": func(ctx context.Context) error {
				_, err := ws.RespondActivityTaskCompletedById(ctx, &workflowservice.RespondActivityTaskCompletedByIdRequest{Namespace: ns,
					WorkflowId: theirCreate, ActivityId: "1", Identity: "hostile"})
				return err
			},
			"start a workflow": func(ctx context.Context) error {
				_, err := hostile.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "hostile", TaskQueue: workflows.ControlTaskQueue}, "Delete", theirs.ID)
				return err
			},
			"signal a workflow": func(ctx context.Context) error {
				return hostile.SignalWorkflow(ctx, theirCreate, "", "abort", nil)
			},
			"terminate a workflow": func(ctx context.Context) error {
				return hostile.TerminateWorkflow(ctx, theirCreate, "", "hostile")
			},
			"cancel a workflow": func(ctx context.Context) error {
				return hostile.CancelWorkflow(ctx, theirCreate, "")
			},
			"list workflows": func(ctx context.Context) error {
				_, err := hostile.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: ns})
				return err
			},
			"describe a workflow": func(ctx context.Context) error {
				_, err := hostile.DescribeWorkflowExecution(ctx, theirCreate, "")
				return err
			},
			"read a workflow's history": func(ctx context.Context) error {
				_, err := hostile.GetWorkflowHistory(ctx, theirCreate, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT).Next()
				return err
			},
			"query a workflow": func(ctx context.Context) error {
				_, err := hostile.QueryWorkflow(ctx, theirCreate, "", "progress")
				return err
			},
			"describe the control plane's queue": func(ctx context.Context) error {
				_, err := ws.DescribeTaskQueue(ctx, &workflowservice.DescribeTaskQueueRequest{Namespace: ns,
					TaskQueue: &taskqueuepb.TaskQueue{Name: workflows.ControlTaskQueue}})
				return err
			},
			"list namespaces": func(ctx context.Context) error {
				_, err := ws.ListNamespaces(ctx, &workflowservice.ListNamespacesRequest{})
				return err
			},
		} {
			ctx, cancel := short()
			wantRefused(t, what, call(ctx))
			cancel()
		}

		// Its credential with another instance's ID is no one's: the gateway refuses it at
		// the dial already.
		ctx, cancel := short()
		defer cancel()
		other, err := client.DialContext(ctx, client.Options{
			HostPort: cloud.GatewayHostPort, Namespace: ns,
			Credentials:       client.NewAPIKeyStaticCredentials(guestauth.APIKey(theirs.ID, id.Credential)),
			ConnectionOptions: client.ConnectionOptions{TLSDisabled: true},
		})
		if err == nil {
			defer other.Close()
			_, err = other.WorkflowService().PollActivityTaskQueue(ctx, &workflowservice.PollActivityTaskQueueRequest{Namespace: ns,
				TaskQueue: &taskqueuepb.TaskQueue{Name: guest.TaskQueue(theirs.ID)}, Identity: "hostile"})
		}
		wantRefused(t, "pass for another instance", err)
	})

	t.Run("payloads", func(t *testing.T) {
		mineCodec, err := codec.New(id.Key)
		if err != nil {
			t.Fatal(err)
		}
		// As Temporal keeps them (the control plane's key), and as the neighbour's guest
		// receives them (its instance's key): this guest's key opens neither.
		stored := guestPayload(t, theirCreate)
		if _, err := mineCodec.Decode([]*commonpb.Payload{stored}); err == nil {
			t.Error("the guest's key decrypts a payload of another instance's workflow as Temporal stores it")
		}
		master, err := cloud.Config.CodecKeyBytes()
		if err != nil {
			t.Fatal(err)
		}
		theirKey, err := guestauth.InstanceKey(master, theirs.ID)
		if err != nil {
			t.Fatal(err)
		}
		theirCodec, _ := codec.New(theirKey)
		masterCodec, _ := codec.New(master)
		plain, err := masterCodec.Decode([]*commonpb.Payload{stored})
		if err != nil {
			t.Fatal(err)
		}
		forThem, err := theirCodec.Encode(plain)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := mineCodec.Decode(forThem); err == nil {
			t.Error("the guest's key decrypts a payload as the gateway re-keys it for another instance")
		}
		// And its own key is not the control plane's.
		if string(id.Key) == string(master) {
			t.Error("the guest holds the master key")
		}
	})

	t.Run("user_data", func(t *testing.T) {
		raw, err := os.ReadFile(filepath.Join(guestServerDir(t, demo, mine.ID), "config-drive", "openstack", "latest", "user_data"))
		if err != nil {
			t.Fatal(err)
		}
		var cfg guest.Config
		if err := json.Unmarshal(raw, &cfg); err != nil || cfg.Bootstrap == "" {
			t.Fatalf("user_data: %s (%v), want the guest's config with its bootstrap secret", raw, err)
		}
		if strings.Contains(string(raw), cloud.Config.CodecKey) || strings.Contains(string(raw), id.Credential) {
			t.Errorf("user_data holds the master key or the credential: %s", raw)
		}
		conn, err := grpc.NewClient(cloud.GatewayHostPort, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_, err = guestauth.Enroll(ctx, conn, guestauth.EnrollRequest{InstanceID: cfg.InstanceID, Bootstrap: cfg.Bootstrap})
		if code := status.Code(err); code != codes.PermissionDenied {
			t.Errorf("enroll again with the server's user_data: got %v, want PermissionDenied", err)
		}
		// Nor does it enroll the neighbour.
		_, err = guestauth.Enroll(ctx, conn, guestauth.EnrollRequest{InstanceID: theirs.ID, Bootstrap: cfg.Bootstrap})
		if code := status.Code(err); code != codes.PermissionDenied {
			t.Errorf("enroll another instance with this server's bootstrap secret: got %v, want PermissionDenied", err)
		}
	})

	t.Run("swift", func(t *testing.T) {
		swift := swiftAsService(t)
		for _, token := range []string{id.Credential, guestauth.APIKey(id.InstanceID, id.Credential)} {
			for _, u := range []string{swift.Endpoint, swift.Endpoint + cloud.Config.Backup.Container} {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
				req.Header.Set("X-Auth-Token", token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("GET %s with the guest's credential as X-Auth-Token: got %d, want 401", u, resp.StatusCode)
				}
			}
		}
		// The guest's own backup: it passes, and its temp URLs reach that backup's objects
		// alone, as the guest got them.
		b := startBackup(t, demo, mine.ID, "hostile-guest")
		b = waitBackup(t, demo, b.ID, 3*time.Minute, "COMPLETED", "FAILED")
		if b.Status != "COMPLETED" {
			t.Fatalf("the guest's own backup ended %s: %s", b.Status, b.FailReason)
		}
		wantGuestSwiftAccessConfined(t, "backup/"+b.ID, guest.BackupActivity, b.ID)
		waitStatus(t, demo.db, mine.ID, "ACTIVE", time.Minute)
	})

	t.Run("revoked on delete", func(t *testing.T) {
		deleteInstance(t, demo, mine.ID)
		// The gateway trusts a checked credential for gateway.credential_cache_ttl.
		deadline := time.Now().Add(cloud.Config.Gateway.CredentialCacheTTL + time.Minute)
		for {
			pollCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := ws.PollActivityTaskQueue(pollCtx, &workflowservice.PollActivityTaskQueueRequest{Namespace: ns,
				TaskQueue: &taskqueuepb.TaskQueue{Name: guest.TaskQueue(mine.ID)}, Identity: "hostile"})
			cancel()
			if serviceerror.ToStatus(err).Code() == codes.Unauthenticated {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the deleted instance's credential polls its queue: got %v, want Unauthenticated", err)
			}
			time.Sleep(time.Second)
		}
	})
}

// tokenPrefix is how a Keystone token starts (Fernet's prefix; the devcloud's are the same).
const tokenPrefix = "gAAAAA"

// guestInputsCarryNoControlPlaneSecret walks every workflow the suite ran, decodes with the
// control plane's key the input of each activity handed to a guest, and returns an error
// naming each that holds a Keystone token (any of the shape, or one the devcloud has issued
// and still knows) or the control plane's password. It returns how many inputs it read.
func guestInputsCarryNoControlPlaneSecret(ctx context.Context) (int, error) {
	key, err := cloud.Config.CodecKeyBytes()
	if err != nil {
		return 0, err
	}
	dc, err := codec.DataConverter(key)
	if err != nil {
		return 0, err
	}
	issued, err := devcloudTokens()
	if err != nil {
		return 0, err
	}
	password := cloud.Config.OpenStack.Password
	var problems []error
	var read int
	var next []byte
	for {
		page, err := cloud.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: cloud.Config.Temporal.Namespace, PageSize: 1000, NextPageToken: next})
		if err != nil {
			return read, err
		}
		for _, ex := range page.GetExecutions() {
			we := ex.GetExecution()
			iter := cloud.Client.GetWorkflowHistory(ctx, we.GetWorkflowId(), we.GetRunId(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
			for iter.HasNext() {
				ev, err := iter.Next()
				if err != nil {
					return read, err
				}
				a := ev.GetActivityTaskScheduledEventAttributes()
				if a == nil || !strings.HasPrefix(a.GetTaskQueue().GetName(), "guestagent.") || len(a.GetInput().GetPayloads()) == 0 {
					continue
				}
				var in json.RawMessage
				if err := dc.FromPayloads(a.GetInput(), &in); err != nil {
					return read, err
				}
				read++
				where := we.GetWorkflowId() + " " + a.GetActivityType().GetName()
				text := string(in)
				if strings.Contains(text, tokenPrefix) {
					problems = append(problems, errors.New(where+": holds something shaped as a Keystone token"))
				}
				for tok := range issued {
					if strings.Contains(text, tok) {
						problems = append(problems, errors.New(where+": holds a token the devcloud's Keystone issued"))
					}
				}
				if holdsString(in, password) {
					problems = append(problems, errors.New(where+": holds the control plane's OpenStack password"))
				}
			}
		}
		next = page.GetNextPageToken()
		if len(next) == 0 {
			break
		}
	}
	return read, errors.Join(problems...)
}

// devcloudTokens are the tokens the devcloud's Keystone has issued and not yet forgotten
// (its state file keeps them until they expire).
func devcloudTokens() (map[string]bool, error) {
	b, err := os.ReadFile(filepath.Join(cloud.Cloud.DataDir(), "state.json"))
	if err != nil {
		return nil, err
	}
	var st struct {
		Tokens map[string]json.RawMessage `json:"tokens"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for id := range st.Tokens {
		out[id] = true
		// Also as a client would carry it base64-encoded.
		out[base64.StdEncoding.EncodeToString([]byte(id))] = true
	}
	return out, nil
}

// holdsString says whether a JSON document has s as a string value anywhere.
func holdsString(doc json.RawMessage, s string) bool {
	var v any
	if json.Unmarshal(doc, &v) != nil {
		return false
	}
	var walk func(any) bool
	walk = func(v any) bool {
		switch v := v.(type) {
		case string:
			return v == s
		case []any:
			for _, e := range v {
				if walk(e) {
					return true
				}
			}
		case map[string]any:
			for _, e := range v {
				if walk(e) {
					return true
				}
			}
		}
		return false
	}
	return walk(v)
}
