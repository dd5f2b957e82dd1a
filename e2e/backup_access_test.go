package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/coffer-dbaas/coffer/codec"
	"github.com/coffer-dbaas/coffer/guest"
)

// guestActivityInputs decodes, with the codec, the input of every activity a workflow
// handed a guest (scheduled on a guestagent.<id> queue), by activity type: what a guest
// received, as it received it.
func guestActivityInputs(t *testing.T, workflowID string) map[string][]json.RawMessage {
	t.Helper()
	key, err := cloud.Config.CodecKeyBytes()
	if err != nil {
		t.Fatal(err)
	}
	dc, err := codec.DataConverter(key)
	if err != nil {
		t.Fatal(err)
	}
	inputs := map[string][]json.RawMessage{}
	iter := cloud.Client.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatalf("read history of %s: %v", workflowID, err)
		}
		a := ev.GetActivityTaskScheduledEventAttributes()
		if a == nil || !strings.HasPrefix(a.GetTaskQueue().GetName(), "guestagent.") {
			continue
		}
		var in json.RawMessage
		if len(a.GetInput().GetPayloads()) > 0 {
			if err := dc.FromPayloads(a.GetInput(), &in); err != nil {
				t.Fatalf("decode the input of %s in %s: %v", a.GetActivityType().GetName(), workflowID, err)
			}
		}
		inputs[a.GetActivityType().GetName()] = append(inputs[a.GetActivityType().GetName()], in)
	}
	return inputs
}

// wantGuestSwiftAccessConfined checks what the guest of a backup (activity "Backup", in the
// backup's workflow) or of a restore (activity "Restore", in the create's) received: no
// token, and a Swift access that cannot list the container nor read another backup, even
// one that exists.
func wantGuestSwiftAccessConfined(t *testing.T, workflowID, activity, backupID string) {
	t.Helper()
	inputs := guestActivityInputs(t, workflowID)
	for typ, ins := range inputs {
		for _, in := range ins {
			if strings.Contains(strings.ToLower(string(in)), "token") {
				t.Errorf("guest activity %s of %s carries a token: %s", typ, workflowID, in)
			}
		}
	}
	if len(inputs[activity]) == 0 {
		t.Fatalf("no %s activity for a guest in %s (got %d types)", activity, workflowID, len(inputs))
	}
	var in struct {
		Swift     guest.SwiftAccess `json:"swift"`
		Container string            `json:"container"`
	}
	if err := json.Unmarshal(inputs[activity][0], &in); err != nil {
		t.Fatal(err)
	}
	if in.Swift.Prefix != "backups/"+backupID {
		t.Errorf("%s's access covers %q, want backups/%s", activity, in.Swift.Prefix, backupID)
	}

	// Another backup's object, which the control plane put there.
	ctx := context.Background()
	other := "backups/" + uuid.NewString()
	if err := objects.Create(ctx, swiftAsService(t), in.Container, other, objects.CreateOpts{Content: strings.NewReader("another tenant's backup")}).Err; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = objects.Delete(context.Background(), swiftAsService(t), in.Container, other, nil).Err })
	base := strings.TrimSuffix(in.Swift.URL, "/") + "/" + in.Container
	for method, sig := range map[string]string{http.MethodGet: in.Swift.Get, http.MethodPut: in.Swift.Put, http.MethodDelete: in.Swift.Delete} {
		if sig == "" {
			continue
		}
		query := "?temp_url_sig=" + sig + "&temp_url_expires=" + strconv.FormatInt(in.Swift.Expires, 10) + "&temp_url_prefix=" + in.Swift.Prefix
		for what, u := range map[string]string{
			"list the container":         base + query,
			"list it with the prefix":    base + "/" + query + "&prefix=backups/",
			"reach another backup":       base + "/" + other + query,
			"reach another backup (raw)": base + "/" + other + "?temp_url_sig=" + sig + "&temp_url_expires=" + strconv.FormatInt(in.Swift.Expires, 10),
		} {
			m := method
			if strings.HasPrefix(what, "list") {
				m = http.MethodGet
			}
			req, _ := http.NewRequestWithContext(ctx, m, u, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s's %s signature may %s: got %d, want 401", activity, method, what, resp.StatusCode)
			}
		}
	}
}
