package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/api"
	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/config"
)

var update = flag.Bool("update", false, "rewrite api/openapi.yaml from the code")

// TestOpenAPISpecIsCurrent fails when the committed api/openapi.yaml is not what the code
// describes.
func TestOpenAPISpecIsCurrent(t *testing.T) {
	got, err := api.Spec().YAML()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("openapi.yaml", got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatalf("read the committed spec: %v (create it with: go test ./api -run TestOpenAPISpecIsCurrent -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("api/openapi.yaml is stale: the routes or their types changed. Refresh it with:\n" +
			"\tgo test ./api -run TestOpenAPISpecIsCurrent -update\nand commit it.")
	}
}

func TestVersionsNeedNoToken(t *testing.T) {
	h := newHarness(t)
	r := h.do(http.MethodGet, "/", "", nil)
	var got struct {
		Versions []struct {
			ID, Status, Updated string
			Links               []struct{ Href, Rel string }
		}
	}
	if err := json.Unmarshal(r.body, &got); err != nil || r.status != http.StatusOK {
		t.Fatalf("GET /: got HTTP %d %s", r.status, r.body)
	}
	if len(got.Versions) != 1 || got.Versions[0].ID != "v1.0" || got.Versions[0].Status != "CURRENT" ||
		got.Versions[0].Updated != "2012-08-01T00:00:00Z" || len(got.Versions[0].Links) != 1 || got.Versions[0].Links[0].Rel != "self" {
		t.Errorf("GET /: got %s", r.body)
	}
}

func TestUnknownRoutesAnswerTroveFaults(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	r := h.do(http.MethodGet, "/nothing/here", "", nil)
	wantFault(t, "unknown path", r, http.StatusNotFound, "itemNotFound")
	r = h.do(http.MethodPost, "/nothing/here", "", "{}")
	wantFault(t, "POST to an unknown path", r, http.StatusNotFound, "itemNotFound")
	r = h.do(http.MethodPut, "/v1.0/"+demo.projectID+"/instances", demo.token, "{}")
	wantFault(t, "unknown method", r, http.StatusMethodNotAllowed, "badMethod")
}

// TestDocsAreServedOffline checks that /docs and everything it loads come from Coffer.
func TestDocsAreServedOffline(t *testing.T) {
	h := newHarness(t)
	r := h.do(http.MethodGet, "/docs", "", nil)
	if r.status != http.StatusOK || !strings.Contains(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /docs: got HTTP %d %s", r.status, r.header.Get("Content-Type"))
	}
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(string(r.body), -1)
	if len(refs) < 3 {
		t.Fatalf("GET /docs: got %d references in %s, want the stylesheet and scripts", len(refs), r.body)
	}
	for _, ref := range refs {
		if !strings.HasPrefix(ref[1], "/docs/") {
			t.Errorf("GET /docs: the page loads %s, which Coffer does not serve", ref[1])
			continue
		}
		a := h.do(http.MethodGet, ref[1], "", nil) // Go's client asks for gzip and unpacks it
		if a.status != http.StatusOK || len(a.body) < 100 {
			t.Errorf("GET %s: got HTTP %d with %d bytes", ref[1], a.status, len(a.body))
		}
	}
	for _, path := range []string{"/openapi.json", "/openapi.yaml"} {
		if r := h.do(http.MethodGet, path, "", nil); r.status != http.StatusOK || !bytes.Contains(r.body, []byte("/v1.0/{project_id}/instances")) {
			t.Errorf("GET %s: got HTTP %d without the instance routes", path, r.status)
		}
	}
}

// TestInternalErrorsAreGeneric checks that an unexpected failure answers 500 instanceFault
// with a message that tells nothing of the cause, which goes to the log only.
func TestInternalErrorsAreGeneric(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	id := h.addInstance(demo.projectID, "orders", coffer.TaskNone)
	h.breakCatalog()
	for _, path := range []string{"/instances", "/instances/" + id} {
		r := h.do(http.MethodGet, "/v1.0/"+demo.projectID+path, demo.token, nil)
		msg := wantFault(t, "GET "+path, r, http.StatusInternalServerError, "instanceFault")
		if strings.Contains(msg, h.database) || strings.Contains(string(r.body), "connections") {
			t.Errorf("GET %s: got %s, which shows the cause", path, r.body)
		}
	}
	if !strings.Contains(h.log.String(), h.database) {
		t.Errorf("the log does not have the cause:\n%s", h.log.String())
	}
}

// TestNewRefusesMissingDependencies checks that a server missing a dependency is refused
// when it is built, naming each missing one, rather than answering 501 at run time.
func TestNewRefusesMissingDependencies(t *testing.T) {
	wf := newFakeWorkflows()
	cfg := config.Defaults()
	cfg.API.MaxVolumeSize = maxVolumeSize
	for _, tc := range []struct {
		name string
		opts api.Options
		want []string
	}{
		{"nothing", api.Options{Config: cfg}, []string{"Catalog", "Workflows", "Guest", "OpenStack", "Codec"}},
		{"no guest", api.Options{Config: cfg, Catalog: (*catalog.Store)(nil), Workflows: wf, OpenStack: &gophercloud.ProviderClient{}}, []string{"Guest"}},
		{"no workflows", api.Options{Config: cfg, Catalog: (*catalog.Store)(nil), Guest: wf, OpenStack: &gophercloud.ProviderClient{}}, []string{"Workflows"}},
	} {
		_, err := api.New(tc.opts)
		if err == nil {
			t.Errorf("%s: api.New succeeded, want an error naming %v", tc.name, tc.want)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: got %q, want it to name %s", tc.name, err, w)
			}
		}
	}
}

// TestOpenAPIStatesTheRulesTheAPIEnforces checks that the document's patterns are the
// shared rules' (coffer's *Pattern), so that what clients read is what is enforced.
func TestOpenAPIStatesTheRulesTheAPIEnforces(t *testing.T) {
	doc, err := json.Marshal(api.Spec())
	if err != nil {
		t.Fatal(err)
	}
	for name, pattern := range map[string]string{
		"identifier": coffer.IdentifierPattern, "host": coffer.HostPattern, "character set": coffer.CharsetPattern,
		"collation": coffer.CollationPattern, "cloud ID": coffer.CloudIDPattern, "volume type": coffer.VolumeTypePattern,
	} {
		quoted, _ := json.Marshal(pattern)
		if !bytes.Contains(doc, []byte(`"pattern":`+string(quoted))) {
			t.Errorf("the OpenAPI document states no %s pattern %s", name, pattern)
		}
	}
}

// humaBodyReadTimeout is huma's default read deadline for an operation's request body.
const humaBodyReadTimeout = 5 * time.Second

// A streaming client sends its body chunked, with no Content-Length. A handler that runs
// past huma's body deadline must still keep its request's context and answer, and the
// connection must serve the client's next request: the body's end starts net/http's
// background read of the connection, which no body deadline may end.
func TestChunkedRequestToASlowHandlerKeepsItsConnection(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	id := h.activeInstance(demo.projectID)

	entered, release := make(chan struct{}), make(chan struct{})
	var first sync.Once
	var mu sync.Mutex
	var canceled []error
	h.workflows.guest.hold = func(ctx context.Context) {
		first.Do(func() {
			close(entered)
			select {
			case <-release:
			case <-ctx.Done():
			}
		})
		if err := ctx.Err(); err != nil {
			mu.Lock()
			canceled = append(canceled, err)
			mu.Unlock()
		}
	}

	conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	replies := bufio.NewReader(conn)
	databases := h.url + "/v1.0/" + demo.projectID + "/instances/" + id + "/databases"
	// send writes a request on the connection, its body (if any) chunked.
	send := func(method string, body io.Reader) *http.Request {
		t.Helper()
		req, err := http.NewRequest(method, databases, body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Auth-Token", demo.token)
		req.Header.Set("Content-Type", "application/json")
		if body != nil {
			req.TransferEncoding = []string{"chunked"}
		}
		if err := req.Write(conn); err != nil {
			t.Fatalf("send %s: %v", method, err)
		}
		return req
	}
	read := func(req *http.Request) (int, string) {
		t.Helper()
		resp, err := http.ReadResponse(replies, req)
		if err != nil {
			t.Fatalf("read the answer to %s on the same connection: %v", req.Method, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}

	create := send(http.MethodPost, strings.NewReader(`{"databases": [{"name": "slow"}]}`))
	select {
	case <-entered:
	case <-time.After(time.Minute):
		t.Fatal("the create never reached the guest")
	}
	time.Sleep(humaBodyReadTimeout + time.Second)
	close(release)
	if code, body := read(create); code != http.StatusAccepted {
		t.Fatalf("slow chunked create: got HTTP %d %s, want 202", code, body)
	}

	list := send(http.MethodGet, nil)
	code, body := read(list)
	if code != http.StatusOK || !strings.Contains(body, `"slow"`) {
		t.Fatalf("list on the same connection: got HTTP %d %s, want 200 with database slow", code, body)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(canceled) > 0 {
		t.Errorf("the handlers' contexts were canceled: %v", canceled)
	}
}
