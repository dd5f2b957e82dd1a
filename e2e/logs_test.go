package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/db/v1/instances"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"

	"github.com/coffer-dbaas/coffer/activities"
)

// troveCLI runs python-troveclient's `trove` as the devcloud user demo and returns its
// output, failing the test when it fails.
func troveCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := troveTry(args...)
	if err != nil {
		t.Fatalf("trove %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// troveTry runs `trove` as demo and returns its output and how it ended.
func troveTry(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "trove", args...)
	cmd.Env = append(os.Environ(),
		"OS_AUTH_URL="+cloud.Cloud.IdentityURL(), "OS_IDENTITY_API_VERSION=3",
		"OS_USERNAME=demo", "OS_PASSWORD=demo", "OS_PROJECT_NAME=demo",
		"OS_USER_DOMAIN_NAME=Default", "OS_PROJECT_DOMAIN_NAME=Default", "OS_REGION_NAME=RegionOne",
	)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// logObjects lists the objects published of a log, as the control plane's user.
func logObjects(t *testing.T, prefix string) []string {
	t.Helper()
	page, err := objects.List(swiftAsService(t), activities.LogContainer, objects.ListOpts{Prefix: prefix}).AllPages(context.Background())
	if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("list %s/%s: %v", activities.LogContainer, prefix, err)
	}
	names, err := objects.ExtractNames(page)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// field reads a field of `trove log-show`'s table (| published | 1234 |).
func field(out, name string) string {
	for line := range strings.Lines(out) {
		cells := strings.Split(line, "|")
		if len(cells) >= 3 && strings.TrimSpace(cells[1]) == name {
			return strings.TrimSpace(cells[2])
		}
	}
	return ""
}

// TestTroveClientListsPublishesAndShowsTheGeneralLog drives python-troveclient's log-list,
// log-enable, log-publish, log-show and log-discard against the stack: the general log of a
// PostgreSQL instance turns on, its statements reach it, a publish streams it from the guest
// into Swift (the statement is in the object; no password the agent set is), a second
// publish sends only what is new, and a discard deletes the objects.
func TestTroveClientListsPublishesAndShowsTheGeneralLog(t *testing.T) {
	if _, err := exec.LookPath("trove"); err != nil {
		t.Skip("python-troveclient (Debian's python3-troveclient) is not installed")
	}
	demo := login(t, "demo")
	password := randomPassword(t)
	opts := postgresOpts("logged")
	created, err := instances.Create(context.Background(), demo.db, opts).Extract()
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	t.Cleanup(func() { deleteInstance(t, demo, created.ID) })
	inst := waitStatus(t, demo.db, created.ID, "ACTIVE", 3*time.Minute)

	list := troveCLI(t, "log-list", inst.ID)
	if !strings.Contains(list, "general") || !strings.Contains(list, "Disabled") {
		t.Fatalf("trove log-list: want the general log, Disabled:\n%s", list)
	}
	enabled := troveCLI(t, "log-enable", inst.ID, "general")
	if field(enabled, "status") == "Disabled" {
		t.Fatalf("trove log-enable: still Disabled:\n%s", enabled)
	}

	// A statement of the tenant's, which the general log now holds; and a password the
	// agent sets, which it must not.
	troveCLI(t, "root-enable", inst.ID, "--root_password", password)
	conn := connectAs(t, inst, "root", password, "postgres")
	execSQL(t, conn, "SELECT 'coffer-log-marker'")
	conn.Close(context.Background())

	published := troveCLI(t, "log-publish", inst.ID, "general")
	if got := field(published, "status"); got != "Published" {
		t.Errorf("trove log-publish: status %q, want Published:\n%s", got, published)
	}
	prefix := field(published, "prefix")
	if want := activities.LogPrefix(inst.ID, "postgresql", "general"); prefix != want {
		t.Errorf("trove log-publish: prefix %q, want %q", prefix, want)
	}
	names := logObjects(t, prefix)
	if len(names) != 1 {
		t.Fatalf("after a publish: objects %q, want one", names)
	}
	obj := objects.Download(context.Background(), swiftAsService(t), activities.LogContainer, names[0], nil)
	body, err := io.ReadAll(obj.Body)
	obj.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), "coffer-log-marker") {
		t.Errorf("the published log lacks the tenant's statement:\n%s", body)
	}
	if strings.Contains(string(body), password) {
		t.Errorf("the published log holds root's password")
	}
	if h, err := obj.Extract(); err != nil || h.ContentLength != int64(len(body)) {
		t.Errorf("object headers: %+v, %v", h, err)
	}

	shown := troveCLI(t, "log-show", inst.ID, "general")
	if field(shown, "published") != field(published, "published") || field(shown, "container") != activities.LogContainer {
		t.Errorf("trove log-show after the publish:\n%s\nwant what log-publish showed:\n%s", shown, published)
	}

	// Something new, then a second publish: a second object, with only what is new.
	conn = connectAs(t, inst, "root", password, "postgres")
	execSQL(t, conn, "SELECT 'coffer-second-marker'")
	conn.Close(context.Background())
	troveCLI(t, "log-publish", inst.ID, "general")
	names = logObjects(t, prefix)
	if len(names) != 2 {
		t.Fatalf("after a second publish: objects %q, want two", names)
	}

	discarded := troveCLI(t, "log-discard", inst.ID, "general")
	if got := field(discarded, "published"); got != "0" {
		t.Errorf("trove log-discard: published %q, want 0:\n%s", got, discarded)
	}
	if left := logObjects(t, prefix); len(left) != 0 {
		t.Errorf("after a discard: objects %q left, want none", left)
	}
}
