package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/instances"

	"github.com/coffer-dbaas/coffer/workflows"
)

// Where TestWebUIShowsADecodedWorkflowInput keeps what the browser saw: the decoded input,
// and the run's summary and details.
var (
	screenshotFile        = filepath.Join("..", ".data", "e2e", "webui-decoded-input.png")
	summaryScreenshotFile = filepath.Join("..", ".data", "e2e", "webui-summary.png")
)

// webDriver is a session of a headless Chromium through chromedriver's W3C WebDriver
// protocol (Debian's chromium and chromium-driver packages).
type webDriver struct {
	t       *testing.T
	base    string
	session string
}

// startChromium starts chromedriver and a headless Chromium session, both stopped when the
// test ends; it skips the test when the packages are missing.
func startChromium(t *testing.T) *webDriver {
	t.Helper()
	driver, err := exec.LookPath("chromedriver")
	if err != nil {
		t.Skip("needs Debian's chromium and chromium-driver: `go tool task test:webui` installs them and runs this test")
	}
	browser, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("needs Debian's chromium: `go tool task test:webui` installs it and runs this test")
	}
	port := freePort()
	cmd := exec.Command(driver, "--port="+strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromedriver: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	w := &webDriver{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(w.base + "/status")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("chromedriver does not answer: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var created struct {
		SessionID string `json:"sessionId"`
	}
	w.call(http.MethodPost, "/session", map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"goog:chromeOptions": map[string]any{
			"binary": browser,
			"args": []string{"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
				"--window-size=1600,1200", "--user-data-dir=" + t.TempDir(),
				// The stack's codec front has a certificate of its own (dev/stack/codec.go).
				"--ignore-certificate-errors"},
		},
	}}}, &created)
	w.session = "/session/" + created.SessionID
	t.Cleanup(func() { w.call(http.MethodDelete, w.session, nil, nil) })
	return w
}

// call sends one WebDriver command and decodes its value into out (when not nil).
func (w *webDriver) call(method, path string, body, out any) {
	w.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			w.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, w.base+path, r)
	if err != nil {
		w.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatalf("webdriver %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		w.t.Fatalf("webdriver %s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if out == nil {
		return
	}
	var v struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		w.t.Fatalf("webdriver %s %s: %v", method, path, err)
	}
	if err := json.Unmarshal(v.Value, out); err != nil {
		w.t.Fatalf("webdriver %s %s: value %s: %v", method, path, v.Value, err)
	}
}

func (w *webDriver) open(u string) {
	w.call(http.MethodPost, w.session+"/url", map[string]any{"url": u}, nil)
}

func (w *webDriver) run(script string, args ...any) string {
	if args == nil {
		args = []any{}
	}
	var out string
	w.call(http.MethodPost, w.session+"/execute/sync", map[string]any{"script": script, "args": args}, &out)
	return out
}

// tryDecode calls the codec server from the page as the Web UI does, and says what came of
// it: the status and the CORS header, or the browser's error.
func (w *webDriver) tryDecode(endpoint string) string {
	var out string
	w.call(http.MethodPost, w.session+"/execute/async", map[string]any{"script": `
		const done = arguments[arguments.length - 1];
		fetch(arguments[0] + "/decode", {method: "POST", body: '{"payloads":[]}', credentials: "include",
			headers: {"Content-Type": "application/json", "X-Namespace": "default"}})
			.then(r => done(r.status + " allow-origin=" + r.headers.get("access-control-allow-origin")))
			.catch(e => done("error: " + e));`, "args": []any{endpoint}}, &out)
	return out
}

func (w *webDriver) screenshot(file string) {
	var b64 string
	w.call(http.MethodGet, w.session+"/screenshot", nil, &b64)
	png, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(file, png, 0o644); err != nil {
		w.t.Fatal(err)
	}
	abs, _ := filepath.Abs(file)
	w.t.Logf("screenshot of the Web UI kept in %s", abs)
}

func TestWebUIShowsADecodedWorkflowInput(t *testing.T) {
	w := startChromium(t)
	ctx := context.Background()
	demo, admin := login(t, "demo"), login(t, "admin")
	inst, err := instances.Create(ctx, demo.db, postgresOpts("webui-decoded")).Extract()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteQuietly(demo, inst.ID) })
	id := workflows.CreateWorkflowID(inst.ID)
	desc, err := cloud.Client.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	run := desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()

	// The operator signs the browser in to the codec server with their admin token, then
	// opens the create's workflow in the Web UI.
	w.open(cloud.CodecURL + "/login")
	w.run(`document.getElementById("token").value = arguments[0]; document.forms[0].submit(); return "";`, admin.provider.Token())
	signedIn := ""
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(signedIn, "Signed in as admin"); {
		if time.Now().After(deadline) {
			t.Fatalf("codec sign-in page: got %q, want it signed in", signedIn)
		}
		time.Sleep(200 * time.Millisecond)
		signedIn = w.run(`const m = document.getElementById("message"); return m ? m.innerText : "";`)
	}
	ui := cloud.UISecureURL
	w.open(fmt.Sprintf("%s/namespaces/%s/workflows/%s/%s/history", ui, url.PathEscape(cloud.Config.Temporal.Namespace), url.PathEscape(id), run))

	// The input shows in clear text: the instance's name and flavor, as CreateInstanceInput's
	// JSON has them.
	text := w.waitText(t, id, screenshotFile, `"flavor_id"`, `"name": "webui-decoded"`)
	w.screenshot(screenshotFile)
	if strings.Contains(text, "binary/coffer-aes256gcm") {
		t.Errorf("the page still shows encrypted payloads:\n%s", text)
	}
	// The run's summary, in its User Metadata tab, names the instance.
	w.run(`for (const e of document.querySelectorAll("a, button")) { if (e.innerText.trim() === "User Metadata") { e.click(); break; } } return "";`)
	w.waitText(t, id, summaryScreenshotFile, "create of webui-decoded (postgresql 15, flavor ds512M, 1 GiB)")
	w.screenshot(summaryScreenshotFile)
}

// waitText waits until the page of workflow id shows every one of want, and returns its
// text (the frames' too: the UI shows markdown in them); it fails the test after 90 s,
// keeping the screenshot in file.
func (w *webDriver) waitText(t *testing.T, id, file string, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		text := w.run(`let t = document.body.innerText;
			for (const f of document.querySelectorAll("iframe")) {
				try { t += "\n" + f.contentDocument.body.innerText; } catch (e) { t += "\n" + (f.srcdoc || ""); }
			}
			return t;`)
		missing := ""
		for _, s := range want {
			if !strings.Contains(text, s) {
				missing = s
				break
			}
		}
		if missing == "" {
			return text
		}
		if time.Now().After(deadline) {
			w.screenshot(file)
			t.Fatalf("the Web UI's page of %s does not show %q after 90 s (a decode from the page with the cookie: %s); it shows:\n%s",
				id, missing, w.tryDecode(cloud.CodecURL), text)
		}
		time.Sleep(time.Second)
	}
}
