package devcloud_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/accounts"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/containers"
)

// signSHA1 is Swift's documented example: hex HMAC-SHA1 of "METHOD\nEXPIRES\nPATH".
func signSHA1(key, method string, expires int64, path string) string {
	mac := hmac.New(sha1.New, []byte(key))
	fmt.Fprintf(mac, "%s\n%d\n%s", method, expires, path)
	return hex.EncodeToString(mac.Sum(nil))
}

// tempURLCall sends a request with no token to the object-store URL u and returns the status
// and body.
func tempURLCall(t *testing.T, method, u, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestTempURLsWithAccountAndContainerKeys(t *testing.T) {
	tc := startCloud(t)
	ctx := context.Background()
	sc := tc.objectStorage("demo")
	if err := accounts.Update(ctx, sc, accounts.UpdateOpts{TempURLKey: "account-key"}).Err; err != nil {
		t.Fatal(err)
	}
	if err := containers.Create(ctx, sc, "shared", containers.CreateOpts{TempURLKey: "container-key"}).Err; err != nil {
		t.Fatal(err)
	}
	putObject(t, sc, "shared", "reports/2026.txt", "the report")
	putObject(t, sc, "shared", "private.txt", "not for you")
	endpoint, _ := url.Parse(sc.Endpoint)
	account := endpoint.Path[strings.LastIndex(strings.TrimSuffix(endpoint.Path, "/"), "/v1/"):]
	account = strings.TrimSuffix(account, "/")
	objectURL := func(object, sig string, expires int64, extra string) string {
		return sc.ServiceURL("shared", object) + fmt.Sprintf("?temp_url_sig=%s&temp_url_expires=%d%s", sig, expires, extra)
	}
	later := time.Now().Add(time.Hour).Unix()

	for _, key := range []string{"account-key", "container-key"} {
		sig := signSHA1(key, http.MethodGet, later, account+"/shared/reports/2026.txt")
		if code, body := tempURLCall(t, http.MethodGet, objectURL("reports/2026.txt", sig, later, ""), ""); code != http.StatusOK || body != "the report" {
			t.Errorf("GET signed with the %s: got %d %q, want 200 and the object", key, code, body)
		}
		if code, _ := tempURLCall(t, http.MethodHead, objectURL("reports/2026.txt", sig, later, ""), ""); code != http.StatusOK {
			t.Errorf("HEAD with a GET signature of the %s: got %d, want 200", key, code)
		}
	}
	prefixSig := signSHA1("container-key", http.MethodGet, later, "prefix:"+account+"/shared/reports/")
	for _, tt := range []struct {
		name, method, url string
		want              int
	}{
		{"an object under the prefix", http.MethodGet, objectURL("reports/2026.txt", prefixSig, later, "&temp_url_prefix=reports/"), http.StatusOK},
		{"an object outside the prefix", http.MethodGet, objectURL("private.txt", prefixSig, later, "&temp_url_prefix=reports/"), http.StatusUnauthorized},
		{"a wider prefix than signed", http.MethodGet, objectURL("private.txt", prefixSig, later, "&temp_url_prefix="), http.StatusUnauthorized},
		{"the container listing", http.MethodGet, sc.ServiceURL("shared") + fmt.Sprintf("?temp_url_sig=%s&temp_url_expires=%d&temp_url_prefix=reports/", prefixSig, later), http.StatusUnauthorized},
		{"another method", http.MethodDelete, objectURL("reports/2026.txt", prefixSig, later, "&temp_url_prefix=reports/"), http.StatusUnauthorized},
		{"another expiry", http.MethodGet, objectURL("reports/2026.txt", prefixSig, later+1, "&temp_url_prefix=reports/"), http.StatusUnauthorized},
		{"an expired signature", http.MethodGet, objectURL("reports/2026.txt", signSHA1("container-key", http.MethodGet, 1000, "prefix:"+account+"/shared/reports/"), 1000, "&temp_url_prefix=reports/"), http.StatusUnauthorized},
		{"another key", http.MethodGet, objectURL("reports/2026.txt", signSHA1("guessed", http.MethodGet, later, "prefix:"+account+"/shared/reports/"), later, "&temp_url_prefix=reports/"), http.StatusUnauthorized},
		{"no signature and no token", http.MethodGet, sc.ServiceURL("shared", "reports/2026.txt"), http.StatusUnauthorized},
	} {
		if code, _ := tempURLCall(t, tt.method, tt.url, ""); code != tt.want {
			t.Errorf("%s: got %d, want %d", tt.name, code, tt.want)
		}
	}

	// A PUT signature writes under its prefix, and a manifest written with it may name
	// only segments under that prefix.
	putSig := signSHA1("container-key", http.MethodPut, later, "prefix:"+account+"/shared/reports/")
	if code, body := tempURLCall(t, http.MethodPut, objectURL("reports/seg1", putSig, later, "&temp_url_prefix=reports/"), "segment"); code != http.StatusCreated {
		t.Fatalf("PUT under the prefix: got %d %s, want 201", code, body)
	}
	own := `[{"path": "/shared/reports/seg1"}]`
	if code, body := tempURLCall(t, http.MethodPut, objectURL("reports/slo", putSig, later, "&temp_url_prefix=reports/&multipart-manifest=put"), own); code != http.StatusCreated {
		t.Errorf("manifest of own segments: got %d %s, want 201", code, body)
	}
	foreign := `[{"path": "/shared/private.txt"}]`
	if code, _ := tempURLCall(t, http.MethodPut, objectURL("reports/steal", putSig, later, "&temp_url_prefix=reports/&multipart-manifest=put"), foreign); code != http.StatusForbidden {
		t.Errorf("manifest naming an object outside the prefix: got %d, want 403", code)
	}
	if code, _ := tempURLCall(t, http.MethodPut, objectURL("private.txt", putSig, later, "&temp_url_prefix=reports/"), "overwritten"); code != http.StatusUnauthorized {
		t.Errorf("PUT outside the prefix: got %d, want 401", code)
	}
}
